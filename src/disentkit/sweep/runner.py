"""Worker side: run one job in its folder (or a pack of jobs, each in its own folder), with markers,
heartbeat, log capture and error capture.

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
    """Touch the jobs' ``running`` markers every lease/3 s while they run.

    (A process-pool worker whose sweep was SIGKILLed exits by itself: see
    ``executors._exit_with_parent``.)
    """

    def __init__(self, markers: list[Path], lease: float):
        self.markers, self.period = markers, max(lease / 3.0, 0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="disentkit-heartbeat")

    def _beat(self) -> None:
        next_touch = time.monotonic() + self.period
        while not self._stop.wait(0.25):
            if time.monotonic() >= next_touch:
                for marker in self.markers:
                    with contextlib.suppress(OSError):
                        os.utime(marker)
                next_touch = time.monotonic() + self.period

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _tee(pipe: int, targets: list[int]) -> None:
    """Copy everything written into ``pipe`` to each of the ``targets`` until its writers close it."""
    # OSError: a log closed after the job gave up waiting for a child process that holds the pipe
    with os.fdopen(pipe, "rb", buffering=0) as source, contextlib.suppress(OSError):
        while chunk := source.read(65536):
            for target in targets:
                os.write(target, chunk)


@contextlib.contextmanager
def _capture_output(log_paths: list[Path]):
    """Send fds 1 and 2 (Python and C-level output) to the jobs' logs for their duration: one job's
    log directly, a pack's through a pipe copied into every job's log."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with _plain_log(log_paths) as logs:
        tee = None
        if len(logs) == 1:
            sink = logs[0].fileno()
        else:
            pipe, sink = os.pipe()
            tee = threading.Thread(target=_tee, args=(pipe, [log.fileno() for log in logs]), daemon=True)
            tee.start()
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        try:
            yield logs
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if tee is not None:
                os.close(sink)  # the last writer: the tee reads the rest, then ends
                tee.join(timeout=10)  # a child process still holding the pipe must not hang the job


@contextlib.contextmanager
def _plain_log(log_paths: list[Path]):
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(open(path, "a", buffering=1)) for path in log_paths]


def execute_job(task: dict) -> dict:
    """Run one job described by ``task`` and return ``{"key", "status", "error", "duration"}``.

    ``task`` keys: ``key``, ``kind``, ``module``, ``config``, ``deps``, ``job_dir``, ``inputs``
    (role → folder), ``attempt``, ``lease``, ``capture`` (redirect fds 1/2
    to the log; off when the job runs inside the driver), and ``ship`` (driver-storage mode:
    run in a scratch folder and return the files instead of writing them in place).

    A pack task, ``{"pack": [task, ...]}`` (jobs of one kind of
    :data:`~disentkit.sweep.kinds.PACKABLE`), calls the kind's pack function once for all its jobs;
    each job keeps its own folder, markers and outcome, as if it had run alone, and the result is
    ``{"pack": [outcome per job]}``.
    """
    if "pack" in task:
        return {"pack": _execute(task["pack"])}
    return _execute([task])[0]


def _execute(tasks: list[dict]) -> list[dict]:
    if tasks[0].get("ship"):
        return _execute_shipped(tasks)
    folders = [Path(task["job_dir"]) for task in tasks]
    markers = [folder / "running" for folder in folders]
    for folder, marker, task in zip(folders, markers, tasks, strict=True):
        folder.mkdir(parents=True, exist_ok=True)
        write_marker(
            marker, {"pid": os.getpid(), "host": hostname(), "started": _now(), "attempt": task["attempt"]}
        )
    try:
        return _execute_in(folders, tasks, markers)
    finally:
        for marker in markers:
            with contextlib.suppress(OSError):
                marker.unlink()


def _execute_in(folders: list[Path], tasks: list[dict], markers: list[Path]) -> list[dict]:
    for folder, task in zip(folders, tasks, strict=True):
        record = {"kind": task["kind"], "key": task["key"], "config": task["config"], "deps": task["deps"]}
        atomic_write_text(folder / "config.json", json.dumps(record, indent=2, sort_keys=True))
        atomic_write_text(
            folder / "environment.json",
            json.dumps(_environment(task), indent=2, sort_keys=True),
        )
    keys = [task["key"] for task in tasks]
    packed = f" (pack of {len(keys)}: {', '.join(keys)})" if len(keys) > 1 else ""
    start = time.perf_counter()
    log_paths = [folder / "log.txt" for folder in folders]
    capture = _capture_output(log_paths) if tasks[0].get("capture", True) else _plain_log(log_paths)
    with (
        _Heartbeat(markers, tasks[0].get("lease", LEASE_SECONDS)),
        capture as logs,
    ):
        for log, task in zip(logs, tasks, strict=True):
            log.write(
                f"=== {task['kind']} {task['key']} attempt {task['attempt']} on {hostname()} pid {os.getpid()} at {_now()}{packed}\n"
            )
            log.flush()
        try:
            results = _call(folders, tasks)
        except (Exception, SystemExit) as exc:  # any job failure is recorded; the sweep goes on
            results = [exc] * len(tasks)
        duration = time.perf_counter() - start
        for log, result in zip(logs, results, strict=True):
            if isinstance(result, BaseException):
                log.write("".join(traceback.format_exception(result)))
            else:
                log.write(f"=== done in {duration:.3f}s\n")
    return [
        _record_outcome(folder, task, result, duration, keys)
        for folder, task, result in zip(folders, tasks, results, strict=True)
    ]


def _call(folders: list[Path], tasks: list[dict]) -> list:
    """The kind's function on one job, or its pack function on several: per job, results or error."""
    from disentkit.sweep.jobs import get_job_fn

    kind = tasks[0]["kind"]
    fn = get_job_fn(kind, tasks[0].get("module"))  # imports the kind's module first
    configs = [{**task["config"], "_inputs": task["inputs"]} for task in tasks]
    if len(tasks) == 1:
        return [fn(configs[0], folders[0])]
    from disentkit.sweep.kinds import PACKABLE

    results = PACKABLE[kind].run(configs, folders)
    if len(results) != len(tasks):
        raise RuntimeError(f"the pack function of {kind} gave {len(results)} results for {len(tasks)} jobs")
    return results


def _record_outcome(folder: Path, task: dict, result, duration: float, pack: list[str]) -> dict:
    """A job's failed.json, or its results.json and then ``done``; the outcome the scheduler reads."""
    if isinstance(result, BaseException):
        error = f"{type(result).__name__}: {result}"
        write_marker(
            folder / "failed.json",
            {"error": error, "type": type(result).__name__, "attempt": task["attempt"], "finished": _now()},
        )
        return {"key": task["key"], "status": "failed", "error": error, "duration": duration}
    job = {"kind": task["kind"], "key": task["key"], "duration_s": duration, "finished": _now()}
    if len(pack) > 1:
        job["pack"] = pack  # the jobs that ran as one task with it
    payload = {**(result or {}), "_job": job}
    atomic_write_text(folder / "results.json", json.dumps(payload, indent=2, sort_keys=True, default=str))
    with contextlib.suppress(FileNotFoundError):
        (folder / "failed.json").unlink()
    # The done marker is the commit point: written atomically, after everything else.
    write_marker(folder / "done", {"finished": _now(), "duration_s": duration, "host": hostname()})
    return {"key": task["key"], "status": "done", "error": None, "duration": duration}


def _execute_shipped(tasks: list[dict]) -> list[dict]:
    """Driver-storage mode (no shared file system): run in scratch space, return every file."""
    with tempfile.TemporaryDirectory(prefix="disentkit-job-") as scratch:
        local = []
        for index, task in enumerate(tasks):
            space = Path(scratch) / str(index)
            inputs = {
                role: str(_unpack(space / "inputs" / role, files))
                for role, files in task.get("input_files", {}).items()
            }
            local.append({**task, "ship": False, "job_dir": str(space / "job"), "inputs": inputs})
        outcomes = _execute(local)
        for outcome, task in zip(outcomes, local, strict=True):
            outcome["files"] = pack_folder(Path(task["job_dir"]))
        return outcomes


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
