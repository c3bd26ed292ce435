"""Running toy sweeps in-process: results, failures, resume, locks, stale markers, storage errors."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from disentkit.errors import DisentkitError
from disentkit.sweep.plan import expand, load_plan, plan_from_dict
from disentkit.sweep.scheduler import job_states, run_sweep
from disentkit.sweep.store import SweepLock, hostname, inspect, job_dir, write_marker

from .conftest import side_lines


def _run(plan_path, results, **kwargs):
    jobs = expand(load_plan(plan_path))
    return jobs, run_sweep(jobs, results, workers=2, progress=False, **kwargs)


def test_toy_sweep_records_results_failures_and_blocks_dependents(toy_chain, tmp_path):
    plan, side = toy_chain
    jobs, report = _run(plan, tmp_path / "r")
    by_label = {job.label: job for job in jobs}
    states = {job.label: report.states[job.key] for job in jobs}
    assert states == {"a": "done", "b": "done", "c": "failed", "d": "blocked", "e": "done"}
    folder = {name: job_dir(tmp_path / "r", job.dirname) for name, job in by_label.items()}
    assert json.loads((folder["b"] / "results.json").read_text())["total"] == 3.0  # 2 + a's total
    for name in ("a", "b", "e"):
        assert {"config.json", "environment.json", "log.txt", "results.json", "done"} <= {
            p.name for p in folder[name].iterdir()
        }
        assert "numpy" in json.loads((folder[name] / "environment.json").read_text())
    assert "toy job" in (folder["a"] / "log.txt").read_text()  # job output captured in its log
    assert "RuntimeError: toy job asked to fail" in (folder["c"] / "log.txt").read_text()
    assert "Traceback" in (folder["c"] / "log.txt").read_text()
    assert json.loads((folder["c"] / "failed.json").read_text())["type"] == "RuntimeError"
    assert not folder["d"].exists()  # never started
    assert report.executed == 4 and not report.ok

    # Resume: finished jobs never run again; the failed one is retried (and fails again).
    starts_before = len([x for x in side_lines(side) if x[0] == "start"])
    _, again = _run(plan, tmp_path / "r")
    starts = [x for x in side_lines(side) if x[0] == "start"]
    assert again.executed == 1 and len(starts) == starts_before + 1
    assert starts[-1][1] == folder["c"].name
    _, kept = _run(plan, tmp_path / "r", retry_failed=False)
    assert kept.executed == 0 and kept.counts() == {"done": 3, "failed": 1, "blocked": 1, "pending": 0}


def test_second_sweep_on_a_locked_folder_is_refused(toy_chain, tmp_path):
    plan, _ = toy_chain
    results = tmp_path / "r"
    results.mkdir()
    code = f"import fcntl,os,time; fd=os.open({str(results / '.sweep.lock')!r}, os.O_RDWR|os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'PID %d on x' % os.getpid()); print('locked', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DisentkitError, match=rf"in use by another sweep \(PID {holder.pid} on x\)"):
            _run(plan, results)
        assert SweepLock(results).holder() == f"PID {holder.pid} on x"
    finally:
        holder.kill()
        holder.wait()
    assert SweepLock(results).holder() is None  # the kernel released the dead holder's lock
    _, report = _run(plan, results)
    assert report.counts()["done"] == 3


def test_stale_running_marker_is_requeued(tmp_path):
    plan = plan_from_dict({"jobs": [{"name": "a", "kind": "toy", "config": {"value": 7}}]})
    (job,) = expand(plan)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = job_dir(tmp_path, job.dirname)
    write_marker(folder / "running", {"pid": dead.pid, "host": hostname()})
    assert inspect(folder).state == "stale"
    assert job_states([job], tmp_path)[job.key][0] == "pending"
    report = run_sweep([job], tmp_path, workers=1, progress=False)
    assert report.requeued_stale == 1 and report.ok
    # A marker from another host is judged by its heartbeat (lease) instead of its PID.
    write_marker(folder / "running", {"pid": 1, "host": "elsewhere"})
    (folder / "done").unlink()
    assert inspect(folder, lease=30).state == "running"
    assert inspect(folder, lease=0.0).state == "stale"


def test_worker_death_is_retried_then_recorded(tmp_path):
    plan = plan_from_dict(
        {
            "jobs": [
                {"name": "crash", "kind": "toy", "config": {"exit_code": 3}},
                {"name": "after", "kind": "toy", "config": {"value": 1}, "after": ["crash"]},
                {"name": "fine", "kind": "toy", "config": {"value": 2}},
            ]
        }
    )
    jobs = expand(plan)
    report = run_sweep(jobs, tmp_path, workers=2, progress=False, max_retries=1)
    crash, after, fine = (report.states[j.key] for j in jobs)
    assert (crash, after, fine) == ("failed", "blocked", "done")
    assert "worker process died 2 times" in report.errors[jobs[0].key]


def test_unwritable_results_folder_is_a_clear_error(toy_chain, tmp_path):
    plan, _ = toy_chain
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DisentkitError, match="cannot write to results folder"):
        _run(plan, blocker / "results")


@pytest.mark.parametrize(
    ("code", "pattern"),
    [(errno.ENOSPC, "no space left"), (errno.EACCES, "not writable"), (errno.EROFS, "not writable")],
)
def test_disk_full_and_read_only_are_clear_errors(toy_chain, tmp_path, monkeypatch, code, pattern):
    plan, _ = toy_chain

    def refuse(self, data):
        raise OSError(code, "simulated")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(DisentkitError, match=pattern):
        _run(plan, tmp_path / "r")


def test_cli_run_and_status(toy_chain, tmp_path, capsys):
    from disentkit.cli import main

    def cli(args):
        try:
            return main(args)
        except SystemExit as exc:
            return int(exc.code or 0)

    plan, _ = toy_chain
    results = str(tmp_path / "r")
    assert cli(["sweep", "run", str(plan), "--results", results, "--workers", "1", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "done 3, failed 1, blocked 1, pending 0" in out and "toy job asked to fail" in out
    assert cli(["sweep", "status", str(plan), "--results", results]) == 0
    out = capsys.readouterr().out
    assert "done 3  running 0  failed 1  blocked 1  pending 0" in out and "no sweep running" in out
    assert cli(["sweep", "run", str(tmp_path / "nope.yaml")]) == 2
    assert "plan file not found" in capsys.readouterr().err
    assert cli(["sweep", "run", str(plan), "--executor", "dask", "--results", results]) == 2
    assert "valid executors: local, ray" in capsys.readouterr().err


def test_leftover_live_worker_is_waited_for_then_requeued(tmp_path):
    """A marker whose process is still alive (an orphan of a killed sweep) is watched, not raced."""
    (job,) = expand(plan_from_dict({"jobs": [{"name": "a", "kind": "toy", "config": {"value": 1}}]}))
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    folder = job_dir(tmp_path, job.dirname)
    write_marker(folder / "running", {"pid": orphan.pid, "host": hostname()})
    assert job_states([job], tmp_path)[job.key][0] == "running"
    try:
        report = run_sweep([job], tmp_path, workers=1, progress=False)
    finally:
        orphan.wait()
    assert report.ok and report.requeued_stale == 1 and report.executed == 1


def test_a_results_folder_of_other_files_is_refused_before_writing(toy_chain, tmp_path):
    plan, _ = toy_chain
    results = tmp_path / "r"
    results.mkdir()
    (results / "data.csv").write_text("keep")
    with pytest.raises(DisentkitError, match="does not hold a sweep's results"):
        _run(plan, results)
    assert [p.name for p in results.iterdir()] == ["data.csv"]
