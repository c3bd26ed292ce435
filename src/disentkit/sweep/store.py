"""The results folder: one folder per job, markers that say its state, and the sweep lock.

Layout of ``RESULTS/jobs/<kind>-<key>/``::

    config.json       kind, config, dependency keys, key (written first)
    environment.json  versions and machine (disentkit.config.environment_info)
    log.txt           stdout/stderr of every attempt, tracebacks of failures
    results.json      what the job function returned (+ timing)
    running           {pid, host, started}; its mtime is the heartbeat (lease)
    failed.json       {error, type, attempt} of the last failed attempt
    done              {finished, duration}; written atomically, LAST — the only proof of success

A ``running`` marker whose process is gone (same host, dead PID) or whose heartbeat is older
than the lease (other hosts, e.g. Ray workers) is stale: the job was killed and is re-queued.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from disentkit.config import atomic_write_text
from disentkit.errors import DisentkitError

LEASE_SECONDS = 30.0
STATES = ("done", "running", "failed", "blocked", "pending")


def hostname() -> str:
    return socket.gethostname()


def job_dir(results: Path, dirname: str) -> Path:
    return Path(results) / "jobs" / dirname


def read_json(path: Path) -> dict | None:
    """A JSON file, or None when it is missing or half-written by a killed writer."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie — dead, not yet reaped — does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS): trust kill(0)
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


@dataclass
class Marker:
    """What a job folder says about the job."""

    state: str  # done | running | stale | failed | pending
    detail: str = ""


def inspect(folder: Path, lease: float = LEASE_SECONDS) -> Marker:
    """State of one job folder on disk (``blocked`` is decided by the scheduler from dependencies)."""
    if (folder / "done").exists():
        return Marker("done")
    running = folder / "running"
    if running.exists():
        return _inspect_running(running, lease)
    failed = read_json(folder / "failed.json")
    if failed is not None:
        return Marker("failed", str(failed.get("error", "")))
    return Marker("pending")


def _inspect_running(marker: Path, lease: float) -> Marker:
    info = read_json(marker) or {}
    try:
        age = time.time() - marker.stat().st_mtime
    except OSError:  # removed between the two calls: the job just ended
        return Marker("pending")
    pid, host = info.get("pid"), info.get("host")
    if host == hostname() and isinstance(pid, int):
        if not pid_alive(pid):
            return Marker("stale", f"PID {pid} on {host} is gone")
        if age > lease:
            return Marker("stale", f"PID {pid} alive but heartbeat {age:.0f}s old (PID reused?)")
        return Marker("running", f"PID {pid}")
    if age > lease:
        return Marker("stale", f"heartbeat from {host} is {age:.0f}s old (lease {lease:.0f}s)")
    return Marker("running", f"PID {pid} on {host}")


def check_writable(results: Path) -> None:
    """Create the results folder and write a probe file: fail early with a clear message."""
    results = Path(results)
    try:
        results.mkdir(parents=True, exist_ok=True)
        probe = results / f".probe-{os.getpid()}"
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except OSError as exc:
        raise storage_error(results, exc) from None


def storage_error(where: Path, exc: OSError) -> DisentkitError:
    """A DisentkitError for a failed write: disk full, read-only or permission denied."""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return DisentkitError(
            f"no space left on the device of {where}: free space or use another --results folder"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DisentkitError(
            f"results folder {where} is not writable ({exc.strerror}): fix its permissions or use another --results folder"
        )
    return DisentkitError(f"cannot write to results folder {where}: {exc}")


class SweepLock:
    """An exclusive ``flock`` on ``RESULTS/.sweep.lock``; the file names the holder PID and host.

    The kernel drops the lock when the holder dies (even by SIGKILL), so a killed sweep never
    leaves the folder locked.
    """

    def __init__(self, results: Path):
        self.path = Path(results) / ".sweep.lock"
        self._fd: int | None = None

    def acquire(self) -> SweepLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise DisentkitError(
                f"results folder {self.path.parent} is in use by another sweep ({holder}); "
                "wait for it to finish or use another --results folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()} on {hostname()}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> str | None:
        """Who holds the lock now (None when free) — for ``sweep status``."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown process"
        finally:
            os.close(fd)
        return None

    def __enter__(self) -> SweepLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def write_marker(path: Path, payload: dict) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True))
