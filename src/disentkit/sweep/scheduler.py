"""Driver side: resume from the results folder, run ready jobs, record outcomes, report.

A job runs when every dependency is ``done``. Finished jobs are never submitted again; a failed
job blocks its dependents and the others go on; a job whose worker died (SIGKILL, OOM) is
re-queued up to ``max_retries`` times; a ``running`` marker left by a killed sweep is detected
as stale and the job re-queued. With ``pack`` > 1, ready jobs that one pack function can run
together (:data:`~disentkit.sweep.kinds.PACKABLE`) are submitted as one task of up to ``pack`` jobs.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from disentkit.config import atomic_write_text, environment_info, refuse_foreign_folder
from disentkit.errors import DisentkitError
from disentkit.sweep.jobs import job_module
from disentkit.sweep.plan import Job, check_pack
from disentkit.sweep.runner import write_shipped
from disentkit.sweep.store import (
    LEASE_SECONDS,
    SweepLock,
    check_writable,
    hostname,
    inspect,
    job_dir,
    storage_error,
    write_marker,
)


@dataclass
class SweepReport:
    """Outcome of one ``run_sweep`` call."""

    results: Path
    states: dict[str, str]  # key → done | failed | blocked | pending
    errors: dict[str, str] = field(default_factory=dict)
    executed: int = 0  # job executions started by this call (retries included)
    requeued_stale: int = 0
    elapsed_s: float = 0.0

    def counts(self) -> dict[str, int]:
        out = {state: 0 for state in ("done", "failed", "blocked", "pending")}
        for state in self.states.values():
            out[state] = out.get(state, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        return all(state == "done" for state in self.states.values())


def job_states(jobs: list[Job], results: Path, lease: float = LEASE_SECONDS) -> dict[str, tuple[str, str]]:
    """Per job key: (state, detail) from the folder markers; dependents of failures are ``blocked``."""
    states: dict[str, tuple[str, str]] = {}
    for job in jobs:  # dependency order: a job's deps are decided before it
        marker = inspect(job_dir(results, job.dirname), lease)
        state = "pending" if marker.state == "stale" else marker.state
        if state == "pending":
            bad = [k for k in job.deps.values() if states.get(k, ("pending",))[0] in ("failed", "blocked")]
            if bad:
                state, marker.detail = "blocked", f"dependency {bad[0]} failed"
        states[job.key] = (state, marker.detail)
    return states


def is_results_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a sweep's results (its lock, index or job folders; tables may sit beside)."""
    return any((folder / name).exists() for name in (".sweep.lock", "sweep.json", "jobs"))


def check_results_folder(results: Path) -> None:
    """A results folder the sweep may write to: new, empty or a sweep's, and writable."""
    refuse_foreign_folder(results, "a sweep's results (sweep.json, jobs/)", is_results_folder, "--results")
    check_writable(results)


def write_index(results: Path, jobs: list[Job]) -> None:
    """``RESULTS/sweep.json``: every job of the plan (key, kind, label, folder, dependencies)."""
    index = [
        {"key": j.key, "kind": j.kind, "label": j.label, "dir": f"jobs/{j.dirname}", "deps": j.deps}
        for j in jobs
    ]
    try:
        atomic_write_text(results / "sweep.json", json.dumps(index, indent=1, ensure_ascii=False))
    except OSError as exc:
        raise storage_error(results, exc) from None


class _Scheduler:
    def __init__(self, jobs, results, executor, retry_failed, max_retries, lease, console, progress, pack=1):
        self.jobs = {job.key: job for job in jobs}
        self.order = list(self.jobs)
        self.results, self.executor = results, executor
        self.retry_failed, self.max_retries, self.lease = retry_failed, max_retries, lease
        self.console, self.progress = console, progress
        self.state: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.attempts: dict[str, int] = {}
        self.inflight: dict[Future, list[str]] = {}  # a task → its job (or a pack's jobs)
        self.pack = pack
        self._pack_keys: dict[str, tuple | None] = {}
        # Jobs caught in a process pool that broke while several jobs ran, or in a pack whose worker
        # died: any of them may have killed it, so they re-run alone (unpacked; on a pool, with nothing
        # else in flight), where a death can be attributed (and counted) to the right job.
        self.solo: set[str] = set()
        self.deaths: dict[str, int] = {}  # worker deaths attributed to each job (counted against retries)
        self._shared_break = False
        self.waiting: set[str] = set()
        self.executed = self.requeued_stale = 0
        # JSON round trip: torch.__version__ is a TorchVersion, and unpickling it would make every
        # worker import torch (seconds) just to receive the environment.
        self._environment = json.loads(json.dumps(environment_info(), default=str))
        self.dependents: dict[str, list[str]] = {k: [] for k in self.jobs}
        for job in jobs:
            for dep in job.deps.values():
                if dep not in self.jobs:
                    raise DisentkitError(f"job {job.label} depends on {dep}, which is not in the plan")
                self.dependents[dep].append(job.key)

    # ------------------------------------------------------------------ initial state (resume)
    def resume(self) -> None:
        for key in self.order:
            folder = job_dir(self.results, self.jobs[key].dirname)
            marker = inspect(folder, self.lease)
            if marker.state == "done":
                self.state[key] = "done"
            elif marker.state == "failed" and not self.retry_failed:
                self.state[key], self.errors[key] = "failed", marker.detail
            elif marker.state == "running":  # a leftover worker of a killed sweep: watch it
                self.state[key] = "waiting"
                self.waiting.add(key)
            else:
                if marker.state == "stale":
                    self._requeue_stale(key, folder, marker.detail)
                self.state[key] = "pending"
        for key in self.order:
            if self.state[key] == "failed":
                self._block_dependents(key)

    def _requeue_stale(self, key: str, folder: Path, detail: str) -> None:
        self.requeued_stale += 1
        self.console.print(f"[yellow]re-queue[/] {self.jobs[key].label}: killed mid-run ({detail})")
        with contextlib.suppress(OSError):
            (folder / "running").unlink()

    def _block_dependents(self, key: str) -> None:
        for dep in self.dependents[key]:
            if self.state.get(dep) in ("pending", "waiting"):
                self.state[dep] = "blocked"
                self.errors[dep] = f"dependency {self.jobs[key].label} failed"
                self._block_dependents(dep)

    # --------------------------------------------------------------------------- main loop
    def run(self, bar) -> None:
        while True:
            self._poll_waiting()
            self._submit_ready()
            if not self.inflight and not self.waiting:
                break
            if not self.inflight:  # only leftover workers of a killed sweep to watch
                time.sleep(0.5)
            self._shared_break = self.executor.restart_on_death and self._jobs_in_flight() > 1
            finished, _ = wait(list(self.inflight), timeout=0.5, return_when=FIRST_COMPLETED)
            deaths = [f for f in finished if self._handle(f)]
            if deaths and self.executor.restart_on_death:
                self._drain_broken_pool()
            bar(self.state)

    def _jobs_in_flight(self) -> int:
        return sum(len(keys) for keys in self.inflight.values())

    def _ready(self, key: str) -> bool:
        job = self.jobs[key]
        return self.state[key] == "pending" and all(self.state[d] == "done" for d in job.deps.values())

    def task_for(self, job: Job) -> dict:
        """The task dict that an executor runs for ``job`` (see ``runner.execute_job``)."""
        folder = job_dir(self.results, job.dirname)
        inputs = {role: str(job_dir(self.results, self.jobs[k].dirname)) for role, k in job.deps.items()}
        task = {
            "key": job.key,
            "kind": job.kind,
            "module": job_module(job.kind),
            "config": job.config,
            "deps": job.deps,
            "job_dir": str(folder),
            "inputs": inputs,
            "attempt": self.attempts.get(job.key, 0) + 1,
            "lease": self.lease,
            "ship": self.executor.ship,
            "environment": self._environment,
            "environment_of": [hostname(), sys.executable],
        }
        if self.executor.ship:
            from disentkit.sweep.runner import pack_folder

            task["input_files"] = {role: pack_folder(Path(path)) for role, path in inputs.items()}
        return task

    def _submit_ready(self) -> None:
        ready = [key for key in self.order if self._ready(key)]
        if self.executor.restart_on_death:  # a death breaks the whole pool: a suspect runs alone
            if any(key in self.solo for keys in self.inflight.values() for key in keys):
                return
            suspects = [key for key in ready if key in self.solo]
            if suspects:  # let the pool drain, then run one suspect by itself
                if not self.inflight:
                    self._submit([suspects[0]])
                return
        for keys in self._packs(ready):
            self._submit(keys)

    def _packs(self, ready: list[str]) -> list[list[str]]:
        """``ready`` in tasks: up to ``pack`` jobs of one pack key together, every other job alone."""
        tasks: list[list[str]] = []
        open_packs: dict[tuple, list[str]] = {}
        for key in ready:
            pack_key = self._pack_key(key)
            if pack_key is None:
                tasks.append([key])
                continue
            group = open_packs.get(pack_key)
            if group is None or len(group) == self.pack:
                group = open_packs[pack_key] = []
                tasks.append(group)
            group.append(key)
        return tasks

    def _pack_key(self, key: str) -> tuple | None:
        """Jobs of equal (not None) keys can run as one pack; None: the job runs alone."""
        if self.pack == 1 or key in self.solo:
            return None
        if key not in self._pack_keys:
            from disentkit.sweep.kinds import PACKABLE

            job = self.jobs[key]
            packing = PACKABLE.get(job.kind)
            config_key = packing.key(job.config) if packing else None
            self._pack_keys[key] = None if config_key is None else (job.kind, config_key)
        return self._pack_keys[key]

    def _submit(self, keys: list[str]) -> None:
        jobs = [self.jobs[key] for key in keys]
        tasks = [self.task_for(job) for job in jobs]
        # A pack is one task with one job's resources (on Ray: one GPU for the pack's models).
        future = self.executor.submit(tasks[0] if len(tasks) == 1 else {"pack": tasks}, jobs[0].resources)
        for key in keys:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            self.state[key] = "submitted"
        self.inflight[future] = keys
        self.executed += len(keys)

    def _poll_waiting(self) -> None:
        for key in sorted(self.waiting):
            folder = job_dir(self.results, self.jobs[key].dirname)
            marker = inspect(folder, self.lease)
            if marker.state == "running":
                continue
            self.waiting.discard(key)
            if marker.state == "done":
                self.state[key] = "done"
                continue
            if marker.state == "stale":
                self._requeue_stale(key, folder, marker.detail)
            self.state[key] = "pending"

    def _handle(self, future: Future) -> bool:
        """Record a finished future; True when its worker died (its jobs are re-queued or failed)."""
        keys = self.inflight.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:  # the executor, not the job, failed
            if self.executor.is_worker_death(exc):
                self._worker_died(keys, exc)
                return True
            for key in keys:
                self._fail(key, f"{type(exc).__name__}: {exc}", record=True)
            return False
        for key, job_outcome in zip(keys, outcome.get("pack", [outcome]), strict=True):
            if job_outcome.get("files") is not None:
                self._write_shipped(key, job_outcome.pop("files"))
            if job_outcome["status"] == "done":
                self.state[key] = "done"
            else:
                self._fail(key, job_outcome["error"], record=False)
        return False

    def _write_shipped(self, key: str, files: dict) -> None:
        folder = job_dir(self.results, self.jobs[key].dirname)
        try:
            write_shipped(folder, files)
        except OSError as exc:
            raise storage_error(self.results, exc) from None

    def _worker_died(self, keys: list[str], exc: BaseException) -> None:
        # A pack's death is shared by its jobs, as a broken pool's: none is blamed, each re-runs unpacked.
        for key in keys:
            self._job_died(key, exc, shared=self._shared_break or len(keys) > 1)

    def _job_died(self, key: str, exc: BaseException, shared: bool) -> None:
        folder = job_dir(self.results, self.jobs[key].dirname)
        if inspect(folder, self.lease).state == "done":  # it finished before the pool broke
            self.state[key] = "done"
        elif shared:  # not necessarily its fault: not counted, re-run alone
            self.solo.add(key)
            with contextlib.suppress(OSError):
                (folder / "running").unlink()
            self.state[key] = "pending"
        elif self._count_death(key) <= self.max_retries:
            self.console.print(f"[yellow]re-queue[/] {self.jobs[key].label}: worker process died ({exc})")
            with contextlib.suppress(OSError):
                (folder / "running").unlink()
            self.state[key] = "pending"
        else:
            self._fail(
                key, f"worker process died {self.deaths[key]} times (killed or out of memory)", record=True
            )

    def _count_death(self, key: str) -> int:
        self.deaths[key] = self.deaths.get(key, 0) + 1
        return self.deaths[key]

    def _fail(self, key: str, error: str, record: bool) -> None:
        self.state[key], self.errors[key] = "failed", error
        if record:  # the worker could not write it itself
            folder = job_dir(self.results, self.jobs[key].dirname)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                write_marker(folder / "failed.json", {"error": error, "type": "executor"})
                with open(folder / "log.txt", "a") as log:
                    log.write(f"=== failed in the executor: {error}\n")
                (folder / "running").unlink(missing_ok=True)
            except OSError as exc:
                raise storage_error(self.results, exc) from None
        self._block_dependents(key)

    def _drain_broken_pool(self) -> None:
        """A dead worker broke the process pool: every other in-flight job failed with it."""
        pending = list(self.inflight)
        wait(pending, timeout=60)
        for future in pending:
            if future.done():
                self._handle(future)
            else:  # should not happen; never lose track of a job
                for key in self.inflight.pop(future):
                    self.state[key] = "pending"
        self.executor.restart()

    def report(self, started: float) -> SweepReport:
        states = {}
        for key in self.order:
            state = self.state[key]
            states[key] = state if state in ("done", "failed", "blocked") else "pending"
        return SweepReport(
            results=self.results,
            states=states,
            errors=dict(self.errors),
            executed=self.executed,
            requeued_stale=self.requeued_stale,
            elapsed_s=time.perf_counter() - started,
        )


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, console: Console):
    """``update(states)`` callback driving a Rich progress bar (a no-op when disabled)."""
    if not enabled:
        yield lambda states: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("", total=total)

        def update(states: dict[str, str]) -> None:
            values = list(states.values())
            count = {s: values.count(s) for s in ("done", "failed", "blocked", "submitted")}
            text = f"failed {count['failed']} · blocked {count['blocked']} · in flight {count['submitted']}"
            progress.update(
                task, completed=count["done"] + count["failed"] + count["blocked"], description=text
            )

        yield update


def run_sweep(
    jobs: list[Job],
    results: str | Path,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    retry_failed: bool = True,
    max_retries: int = 2,
    lease: float = LEASE_SECONDS,
    progress: bool = True,
    ship: bool = False,
    console: Console | None = None,
    pack: int = 1,
) -> SweepReport:
    """Run (or resume) ``jobs`` into ``results``; returns the final state of every job.

    Parameters
    ----------
    jobs : list of Job
        From :func:`disentkit.sweep.plan.expand`, dependencies first.
    results : path
        Results folder; locked for the duration (a second sweep on it is refused).
    executor : {"local", "ray"}
        Process pool on this machine, or one Ray task per job.
    workers : int, optional
        Pool size (local) or CPUs of a new local Ray cluster; default: all CPUs.
    ray_address : str, optional
        ``auto`` or ``host:port`` of a running Ray cluster; default: start a local one.
    retry_failed : bool
        Run jobs that failed in an earlier sweep again (default) or keep them failed.
    max_retries : int
        Re-queues of a job whose worker process died during this sweep.
    lease : float
        Seconds without a heartbeat after which a ``running`` marker of another host is stale.
    ship : bool
        Ray without shared storage: workers return the job's files, the driver writes them.
    pack : int
        Up to this many ready jobs that can train as one model batch run as one task (a model pack,
        :data:`~disentkit.sweep.kinds.PACKABLE`); each keeps its own folder. 1: one task per job.
    """
    from disentkit.sweep.executors import make_executor

    check_pack(pack)
    console = console or Console(stderr=True)
    results = Path(results).expanduser().resolve()
    check_results_folder(results)
    started = time.perf_counter()
    with SweepLock(results):
        write_index(results, jobs)
        scheduler = _Scheduler(jobs, results, None, retry_failed, max_retries, lease, console, progress, pack)
        scheduler.resume()
        pool = make_executor(executor, workers, ray_address, ship)
        scheduler.executor = pool
        try:
            with _progress_bar(progress, len(jobs), console) as bar:
                bar(scheduler.state)
                scheduler.run(bar)
        except BaseException:  # Ctrl-C, a storage error: stop the jobs now rather than wait for them
            pool.abort()
            raise
        pool.shutdown()
        return scheduler.report(started)
