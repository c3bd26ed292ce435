"""Worker side: run one job in its folder, with markers, heartbeat, log capture and error capture.

:func:`execute_job` is what every executor ships to its workers (a process-pool worker or a Ray
task). It never raises for a job's own failure: it records the error (traceback in ``log.txt``,
``failed.json``) and returns ``{"status": "failed"}`` so that the sweep goes on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from disentkit.config import atomic_write_text
from disentkit.sweep.store import LEASE_SECONDS, hostname, write_marker

_ENV_CACHE: dict | None = None


def _environment(task: dict) -> dict:
    """environment_info() once per worker process (it imports torch: seconds, not per job).

    The driver sends its own with the host and interpreter it describes; a worker running that
    interpreter on that host (a local pool, a Ray worker on the driver's node) uses it as is,
    any other worker measures its own.
    """
    global _ENV_CACHE
    given = task.get("environment")
    if given is not None and task.get("environment_of", [hostname(), sys.executable]) == [
        hostname(),
        sys.executable,
    ]:
        return given
    if _ENV_CACHE is None:
        from disentkit.config import environment_info

        _ENV_CACHE = environment_info()
    return _ENV_CACHE


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _Heartbeat:
    """Touch the ``running`` marker every lease/3 s while the job runs.

    (A process-pool worker whose sweep was SIGKILLed exits by itself: see
    ``executors._exit_with_parent``.)
    """

    def __init__(self, marker: Path, lease: float):
        self.marker, self.period = marker, max(lease / 3.0, 0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="disentkit-heartbeat")

    def _beat(self) -> None:
        next_touch = time.monotonic() + self.period
        while not self._stop.wait(0.25):
            if time.monotonic() >= next_touch:
                with contextlib.suppress(OSError):
                    os.utime(self.marker)
                next_touch = time.monotonic() + self.period

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _capture_output(log_path: Path):
    """Send fds 1 and 2 (Python and C-level output) to the job's log for the job's duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield log
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def execute_job(task: dict) -> dict:
    """Run one job described by ``task`` and return ``{"key", "status", "error", "duration"}``.

    ``task`` keys: ``key``, ``kind``, ``module``, ``config``, ``deps``, ``job_dir``, ``inputs``
    (role → folder), ``attempt``, ``lease``, ``capture`` (redirect fds 1/2
    to the log; off when the job runs inside the driver), and ``ship`` (driver-storage mode:
    run in a scratch folder and return the files instead of writing them in place).
    """
    if task.get("ship"):
        return _execute_shipped(task)
    folder = Path(task["job_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "running"
    write_marker(
        marker, {"pid": os.getpid(), "host": hostname(), "started": _now(), "attempt": task["attempt"]}
    )
    try:
        return _execute_in(folder, task, marker)
    finally:
        with contextlib.suppress(OSError):
            marker.unlink()


def _execute_in(folder: Path, task: dict, marker: Path) -> dict:
    from disentkit.sweep.jobs import get_job_fn

    record = {"kind": task["kind"], "key": task["key"], "config": task["config"], "deps": task["deps"]}
    atomic_write_text(folder / "config.json", json.dumps(record, indent=2, sort_keys=True))
    atomic_write_text(
        folder / "environment.json",
        json.dumps(_environment(task), indent=2, sort_keys=True),
    )
    start = time.perf_counter()
    capture = (
        _capture_output(folder / "log.txt") if task.get("capture", True) else _plain_log(folder / "log.txt")
    )
    with (
        _Heartbeat(marker, task.get("lease", LEASE_SECONDS)),
        capture as log,
    ):
        log.write(
            f"=== {task['kind']} {task['key']} attempt {task['attempt']} on {hostname()} pid {os.getpid()} at {_now()}\n"
        )
        log.flush()
        try:
            fn = get_job_fn(task["kind"], task.get("module"))
            results = fn({**task["config"], "_inputs": task["inputs"]}, folder)
        except (Exception, SystemExit) as exc:  # any job failure is recorded; the sweep goes on
            log.write(traceback.format_exc())
            duration = time.perf_counter() - start
            error = f"{type(exc).__name__}: {exc}"
            write_marker(
                folder / "failed.json",
                {"error": error, "type": type(exc).__name__, "attempt": task["attempt"], "finished": _now()},
            )
            return {"key": task["key"], "status": "failed", "error": error, "duration": duration}
        duration = time.perf_counter() - start
        log.write(f"=== done in {duration:.3f}s\n")
    payload = {
        **(results or {}),
        "_job": {"kind": task["kind"], "key": task["key"], "duration_s": duration, "finished": _now()},
    }
    atomic_write_text(folder / "results.json", json.dumps(payload, indent=2, sort_keys=True, default=str))
    with contextlib.suppress(FileNotFoundError):
        (folder / "failed.json").unlink()
    # The done marker is the commit point: written atomically, after everything else.
    write_marker(folder / "done", {"finished": _now(), "duration_s": duration, "host": hostname()})
    return {"key": task["key"], "status": "done", "error": None, "duration": duration}


@contextlib.contextmanager
def _plain_log(log_path: Path):
    with open(log_path, "a", buffering=1) as log:
        yield log


def _execute_shipped(task: dict) -> dict:
    """Driver-storage mode (no shared file system): run in scratch space, return every file."""
    with tempfile.TemporaryDirectory(prefix="disentkit-job-") as scratch:
        scratch = Path(scratch)
        inputs = {}
        for role, files in task.get("input_files", {}).items():
            inputs[role] = str(_unpack(scratch / "inputs" / role, files))
        folder = scratch / "job"
        local = {**task, "ship": False, "job_dir": str(folder), "inputs": inputs}
        outcome = execute_job(local)
        outcome["files"] = pack_folder(folder)
        return outcome


def pack_folder(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` as ``{relative path: bytes}`` (markers excluded)."""
    files = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.name != "running":
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def _unpack(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, payload in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    return folder


def write_shipped(folder: Path, files: dict[str, bytes]) -> None:
    """Driver side of driver-storage mode: write a job's returned files, ``done`` last."""
    from disentkit.config import atomic_write_bytes

    for rel in sorted(files, key=lambda name: name == "done"):
        atomic_write_bytes(Path(folder) / rel, files[rel])
