"""Faults for real: SIGKILL the sweep mid-run and resume; SIGKILL a job's process; a second sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from disentkit.errors import DisentkitError
from disentkit.sweep.plan import expand, load_plan
from disentkit.sweep.scheduler import run_sweep
from disentkit.sweep.store import job_dir, pid_alive

from .conftest import side_lines, toy_plan


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _events(side, event: str) -> Counter:
    return Counter(line[1] for line in side_lines(side) if line[0] == event)


def _driver(how: str, plan, results) -> list[str]:
    """The sweep process: the real CLI, or a bare Python driver (no CLI imports: seconds faster)."""
    if how == "cli":
        return [
            sys.executable,
            "-m",
            "disentkit.cli",
            "sweep",
            "run",
            str(plan),
            "--results",
            str(results),
            "--workers",
            "2",
            "--no-progress",
        ]
    code = (
        "import json, sys; from disentkit.sweep.plan import expand, load_plan; "
        "from disentkit.sweep.scheduler import run_sweep; "
        f"r = run_sweep(expand(load_plan({str(plan)!r})), {str(results)!r}, workers=2, progress=False); "
        "print(json.dumps(r.counts()))"
    )
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("how", ["python", pytest.param("cli", marks=pytest.mark.slow)])
def test_sigkill_sweep_then_resume_loses_nothing_and_reruns_nothing_finished(tmp_path, how):
    side = tmp_path / "side.txt"
    jobs = [
        {"name": f"j{i}", "kind": "toy", "config": {"value": i, "duration": 0.4, "side_file": str(side)}}
        for i in range(10)
    ]
    plan = toy_plan(tmp_path / "plan.yaml", jobs)
    results = tmp_path / "r"
    sweep = subprocess.Popen(_driver(how, plan, results), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(lambda: sum(_events(side, "end").values()) >= 2, 120, "two finished jobs")
    children = _children(sweep.pid)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    workers = {int(line[2]) for line in side_lines(side)}
    _wait_for(lambda: not any(pid_alive(p) for p in workers), 15, "orphaned workers to exit")
    # Every process the sweep had started (busy or idle workers, the resource tracker) goes too.
    _wait_for(lambda: not any(pid_alive(p) for p in children), 15, "idle workers to exit")

    expanded = expand(load_plan(plan))
    folders = {job.key: job_dir(results, job.dirname) for job in expanded}
    finished = {k for k, f in folders.items() if (f / "done").exists()}
    assert 2 <= len(finished) < len(expanded), "the kill must land mid-run"

    report = run_sweep(expanded, results, workers=2, progress=False)
    assert report.ok and report.executed >= len(expanded) - len(finished)  # retries count too
    starts = _events(side, "start")
    for key, folder in folders.items():
        assert (folder / "done").exists() and (folder / "results.json").exists()
        if key in finished:
            assert starts[folder.name] == 1, f"finished job {folder.name} ran again"
    # Exactly one result per job, and no stray folders.
    assert sorted(p.name for p in (results / "jobs").iterdir()) == sorted(f.name for f in folders.values())
    totals = sorted(json.loads((f / "results.json").read_text())["total"] for f in folders.values())
    assert totals == [float(i) for i in range(10)]


def test_sigkilled_job_process_is_requeued_and_second_sweep_refused(tmp_path):
    side = tmp_path / "side.txt"
    jobs = [{"name": "long", "kind": "toy", "config": {"value": 1, "duration": 2.0, "side_file": str(side)}}]
    jobs += [
        {"name": f"s{i}", "kind": "toy", "config": {"value": i + 2, "side_file": str(side)}} for i in range(3)
    ]
    plan = toy_plan(tmp_path / "plan.yaml", jobs)
    results = tmp_path / "r"
    sweep = subprocess.Popen(
        _driver("python", plan, results), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    long_dir = job_dir(results, expand(load_plan(plan))[0].dirname).name
    first = _wait_for(
        lambda: [int(x[2]) for x in side_lines(side) if x[:2] == ["start", long_dir]], 120, "long job"
    )

    with pytest.raises(DisentkitError, match=rf"in use by another sweep \(PID {sweep.pid} on "):
        run_sweep(expand(load_plan(plan)), results, workers=1, progress=False)

    os.kill(first[0], signal.SIGKILL)
    out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"done": 4, "failed": 0, "blocked": 0, "pending": 0}
    assert _events(side, "start")[long_dir] == 2 and _events(side, "end")[long_dir] == 1
    log = (results / "jobs" / long_dir / "log.txt").read_text()
    assert "attempt 1" in log and "attempt 2" in log


@pytest.mark.slow
def test_ctrl_c_stops_running_jobs_now_and_resume_requeues_them(tmp_path):
    side = tmp_path / "side.txt"
    jobs = [{"name": "long", "kind": "toy", "config": {"value": 1, "duration": 60, "side_file": str(side)}}]
    plan = toy_plan(tmp_path / "plan.yaml", jobs)
    results = tmp_path / "r"
    sweep = subprocess.Popen(_driver("python", plan, results), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker = _wait_for(
        lambda: [int(x[2]) for x in side_lines(side) if x[0] == "start"], 120, "the job to start"
    )[0]
    sweep.send_signal(signal.SIGINT)
    sweep.wait(timeout=30)  # not the job's 60 s
    _wait_for(lambda: not pid_alive(worker), 10, "the job process to stop")
    expanded = expand(load_plan(plan))
    # Resuming with a short duration would be another job (another key): check the state instead.
    from disentkit.sweep.scheduler import job_states

    assert job_states(expanded, results)[expanded[0].key][0] == "pending"  # stale marker: re-queued
