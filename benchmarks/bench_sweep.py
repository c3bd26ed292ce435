"""Overhead of the sweep machinery per job: scheduling + bookkeeping, locally and through Ray.

A plan of 200 no-op jobs (``sleep`` with 0 s) runs (1) as direct calls of the job function in a
loop — the naive baseline, (2) through :func:`execute_job` in-process (bookkeeping only: markers,
config, environment, results, ``done``, each written atomically with fsync), (3) as a sweep on
the local process pool, (4) as a sweep on a local Ray cluster, and (5) a resume of the finished
sweep (every job skipped). The overhead is compared with a real (tiny) training job.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.timing import markdown_table

N_JOBS = 200


def _jobs(n: int):
    from disentkit.sweep.plan import expand, plan_from_dict

    return expand(
        plan_from_dict(
            {"jobs": [{"name": f"j{i}", "kind": "sleep", "config": {"seconds": 0, "i": i}} for i in range(n)]}
        )
    )


def _direct(jobs, root: Path) -> float:
    from disentkit.sweep.jobs import get_job_fn

    start = time.perf_counter()
    for job in jobs:
        folder = root / job.dirname
        folder.mkdir(parents=True)
        get_job_fn(job.kind)(dict(job.config), folder)
    return time.perf_counter() - start


def _bookkeeping(jobs, root: Path) -> float:
    from types import SimpleNamespace

    from disentkit.sweep.runner import execute_job
    from disentkit.sweep.scheduler import _Scheduler
    from disentkit.sweep.store import LEASE_SECONDS

    # The scheduler builds each task (so they cannot drift from a sweep's); its executor is only
    # asked whether to ship files. capture=False: keep this process's stdout/stderr.
    executor = SimpleNamespace(ship=False)
    scheduler = _Scheduler(jobs, root, executor, True, 0, LEASE_SECONDS, None, False)
    start = time.perf_counter()
    for job in jobs:
        execute_job(scheduler.task_for(job) | {"capture": False})
    return time.perf_counter() - start


def _sweep(jobs, root: Path, **kwargs) -> float:
    from disentkit.sweep.scheduler import run_sweep

    start = time.perf_counter()
    report = run_sweep(jobs, root, progress=False, **kwargs)
    assert report.ok, report.counts()
    return time.perf_counter() - start


def _ray(jobs, root: Path) -> tuple[float, float] | None:
    try:
        import ray
    except ImportError:
        return None
    os.environ.setdefault("RAY_worker_niceness", "0")  # as the sweep's own local clusters
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - start
    try:
        return startup, _sweep(jobs, root, executor="ray")
    finally:
        ray.shutdown()


def _real_job(root: Path) -> float:
    """One real train job: dSprites, 20 steps of 16 pairs (far shorter than any protocol job)."""
    from disentkit.sweep.jobs import get_job_fn

    config = {"data": "dsprites", "method": "ada-gvae", "beta": 1.0, "seed": 0, "steps": 20, "batch": 16}
    config |= {"checkpoint_every": 10, "log_every": 10}
    start = time.perf_counter()
    get_job_fn("train")(config, root)
    return time.perf_counter() - start


def run() -> str:
    jobs = _jobs(N_JOBS)
    rows, ms = [], lambda seconds: 1000 * seconds / N_JOBS  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        direct = _direct(jobs, tmp / "direct")
        rows.append(["direct calls in a loop (baseline)", f"{direct:.3f}", f"{ms(direct):.3f}", "–"])
        book = _bookkeeping(jobs, tmp / "book")
        rows.append(
            [
                "bookkeeping only (execute_job in-process)",
                f"{book:.2f}",
                f"{ms(book):.2f}",
                f"{ms(book - direct):.2f}",
            ]
        )
        workers = min(2, os.cpu_count() or 1)
        local = _sweep(jobs, tmp / "local", workers=workers)
        rows.append(
            [
                f"sweep, local pool ({workers} workers, spawn incl.)",
                f"{local:.2f}",
                f"{ms(local):.2f}",
                f"{ms(local - direct):.2f}",
            ]
        )
        resume = _sweep(jobs, tmp / "local", workers=workers)
        rows.append(["resume of the finished sweep (all skipped)", f"{resume:.2f}", f"{ms(resume):.2f}", "–"])
        ray_times = _ray(jobs, tmp / "ray")
        if ray_times:
            rows.append(
                [
                    "sweep, local Ray cluster (2 CPUs)",
                    f"{ray_times[1]:.2f}",
                    f"{ms(ray_times[1]):.2f}",
                    f"{ms(ray_times[1] - direct):.2f}",
                ]
            )
        real = _real_job(tmp / "real")
    table = markdown_table(
        ["path", f"total s ({N_JOBS} no-op jobs)", "ms per job", "overhead ms per job"], rows
    )
    worst = max(ms(local - direct), ms(ray_times[1] - direct) if ray_times else 0.0)
    lines = [
        f"Per-job overhead of the sweep machinery on {N_JOBS} no-op jobs vs calling the job function directly.",
        "",
        table,
        "",
    ]
    if ray_times:
        lines.append(
            f"Ray cluster start (`ray.init(num_cpus=2)`, once per sweep, not in the table): {ray_times[0]:.1f} s."
        )
    from disentkit.sweep import load_plan

    plans = Path(__file__).resolve().parent.parent / "plans"
    small, paper = (load_plan(plans / f"{name}.yaml").steps for name in ("cpu-small", "paper"))
    lines += [
        f"A real job for scale: one `train` job of only 20 steps (batch 16) took {real:.1f} s; the cpu-small "
        f"models train {small:,} steps and the paper's {paper:,}. Worst per-job overhead here: {worst:.0f} ms = "
        f"{100 * worst / 1000 / real:.2f} % of even that 20-step job.",
        "",
        "The machine is shared with other work (2 cores, noisy): treat the figures as upper bounds. The "
        "bookkeeping cost is dominated by the fsync of each atomically written file (config, environment, "
        "markers, results, done).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
