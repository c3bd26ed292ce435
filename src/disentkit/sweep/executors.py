"""Executors: where jobs run. Both hand back ``concurrent.futures.Future`` objects.

``local``: a process pool (spawn context) sized to the machine. ``ray``: one Ray task per job (or
model pack) with the job kind's ``num_cpus``/``num_gpus``; workers write into the results folder (shared
storage), or — ``ship=True`` — run in scratch space and return the files to the driver.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from disentkit.errors import DisentkitError
from disentkit.sweep.plan import Resources
from disentkit.sweep.runner import execute_job

EXECUTORS = ("local", "ray")


def _exit_with_parent(parent: int) -> None:
    """Exit as soon as the sweep process is gone (re-parented), busy or idle.

    An idle worker blocked on the task queue would otherwise wait forever: every worker holds
    both ends of the queue's pipe, so it never sees end-of-file when the sweep dies.
    """
    while os.getppid() == parent:
        time.sleep(0.25)
    os._exit(70)


def _init_worker(threads: int) -> None:
    """Pool worker start-up: bounded threads per job; Ctrl-C is the sweep's business, not the job's."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ["DISENTKIT_JOB_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="disentkit-parent"
    ).start()


class LocalExecutor:
    """A ``ProcessPoolExecutor`` (spawn) of ``workers`` processes (default: one per CPU)."""

    name = "local"
    restart_on_death = True  # a dead worker breaks the whole pool
    ship = False

    def __init__(self, workers: int | None = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.threads = max(1, (os.cpu_count() or 1) // self.workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads,),
            )
        return self._pool

    def submit(self, task: dict, resources: Resources) -> Future:
        return self._ensure().submit(execute_job, task)

    def is_worker_death(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Ctrl-C: stop running jobs now (their stale markers re-queue them on resume)."""
        if self._pool is not None:
            # The pool offers no public way to stop busy workers; terminate them directly.
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def import_ray():
    """Import Ray or explain how to install the optional extra."""
    try:
        import ray
    except ImportError:
        raise DisentkitError(
            "the ray executor needs Ray: pip install 'disentkit[ray]' (or use --executor local)"
        ) from None
    return ray


class RayExecutor:
    """One Ray task per job. Connects to ``address`` ("auto" or host:port) or starts a local cluster.

    A Ray session already initialised by the caller is reused (and left running).
    """

    name = "ray"
    restart_on_death = False

    def __init__(self, address: str | None = None, workers: int | None = None, ship: bool = False):
        self.ray = import_ray()
        self.ship = ship
        self._started = False
        self._futures: dict = {}
        if not self.ray.is_initialized():
            self._init(address, workers)
        self._remote = self.ray.remote(execute_job)

    def _init(self, address: str | None, workers: int | None) -> None:
        kwargs = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
        if address in (None, "", "local"):
            kwargs.update(address="local", num_cpus=workers or os.cpu_count())
            # Ray runs workers at nice 15 by default; on a shared machine the sweep's jobs would
            # then starve behind everything else. Jobs are the point of a cluster we start.
            os.environ.setdefault("RAY_worker_niceness", "0")
        else:
            kwargs["address"] = address
        try:
            self.ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise DisentkitError(
                f"cannot start or reach the Ray cluster at {address or 'local'}: {exc}"
            ) from None
        self._started = True

    def submit(self, task: dict, resources: Resources) -> Future:
        options = {"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus, "max_retries": 0}
        ref = self._remote.options(**options).remote(task)
        future = ref.future()
        self._futures[future] = ref
        future.add_done_callback(lambda done: self._futures.pop(done, None))
        return future

    def is_worker_death(self, exc: BaseException) -> bool:
        errors = self.ray.exceptions
        deaths = tuple(
            getattr(errors, name)
            for name in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError")
            if hasattr(errors, name)
        )
        return isinstance(exc, deaths)

    def restart(self) -> None:
        """Nothing to do: Ray replaces dead workers itself."""

    def shutdown(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

    def abort(self) -> None:
        """Ctrl-C: cancel the sweep's tasks (force-killing their workers), then shut down."""
        for future in list(self._futures):
            ref = self._futures.pop(future)
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 — already finished or gone
                pass
        self.shutdown()


def make_executor(name: str, workers: int | None = None, ray_address: str | None = None, ship: bool = False):
    """Build the executor ``name`` (``local`` or ``ray``)."""
    if name == "local":
        if ship:
            raise DisentkitError("--ship-results is for the ray executor (local jobs write in place)")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, workers, ship=ship)
    raise DisentkitError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
