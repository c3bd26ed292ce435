"""Job kinds: ``fn(config: dict, job_dir: Path) -> dict`` looked up by name.

The sweep machinery knows nothing about training or metrics: it runs a kind's function in a
worker with the job's config and folder, and stores the dict it returns as ``results.json``.
``config["_inputs"]`` maps each dependency's role to its finished job folder.

Built-in kinds (:data:`BUILTIN_JOBS`, imported on first use): ``train``, ``evaluate``, ``transfer``
(the protocol; see :mod:`disentkit.sweep.kinds`), and ``toy`` / ``sleep`` (cheap jobs for tests and
benchmarks). A kind registered from your own module with :func:`register_job` works with every
executor: the worker imports the module that defined the function before looking the kind up.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from disentkit._lazy import LazyTable
from disentkit.errors import DisentkitError

JobFn = Callable[[dict, Path], dict]

#: kind → "module:function" of the built-in kinds; a module is imported when its kind is first run
BUILTIN_JOBS = {
    "train": "disentkit.sweep.kinds:train_job",
    "evaluate": "disentkit.sweep.kinds:evaluate_job",
    "transfer": "disentkit.sweep.kinds:transfer_job",
    "toy": "disentkit.sweep.jobs:toy_job",
    "sleep": "disentkit.sweep.jobs:sleep_job",
}
_JOBS = LazyTable("job kind", BUILTIN_JOBS)


def register_job(kind: str) -> Callable[[JobFn], JobFn]:
    """Decorator: ``@register_job("mykind")`` on ``fn(config, job_dir) -> dict``."""
    return _JOBS.register(kind)


def list_job_kinds() -> list[str]:
    return _JOBS.names()


def job_module(kind: str) -> str:
    """Module that defines a kind's function (imported by workers before the lookup)."""
    return _JOBS.module_of(kind)


def get_job_fn(kind: str, module: str | None = None) -> JobFn:
    """The function of ``kind``; ``module`` is imported first so that it can register the kind."""
    if module and kind not in _JOBS:
        importlib.import_module(module)
    return _JOBS.get(kind)


def dependency_results(config: dict, role: str) -> dict:
    """The ``results.json`` of the dependency ``role`` of a running job."""
    inputs = config.get("_inputs", {})
    if role not in inputs:
        raise DisentkitError(f"job has no dependency {role!r}; it has: {', '.join(inputs) or 'none'}")
    return json.loads((Path(inputs[role]) / "results.json").read_text())


# ------------------------------------------------------------------------------- cheap job kinds


def _record(side_file: str | None, line: str) -> None:
    """Append one line to a side file (O_APPEND: concurrent writers do not interleave lines)."""
    if side_file:
        with open(side_file, "a") as handle:
            handle.write(line + "\n")


def toy_job(config: dict, job_dir: Path) -> dict:
    """A cheap, deterministic job for tests and benchmarks.

    Config keys (all optional): ``value`` (number), ``duration`` (seconds to sleep), ``fail``
    (raise a RuntimeError), ``side_file`` (append ``start``/``end`` lines with the job folder
    and PID — lets tests count executions), ``exit_code`` (kill the worker with ``os._exit``).
    Returns ``value``, its square and ``total`` = value + the totals of its dependencies.
    """
    side = config.get("side_file")
    _record(side, f"start {job_dir.name} {os.getpid()}")
    print(f"toy job {job_dir.name}: value={config.get('value', 0)}", flush=True)
    time.sleep(float(config.get("duration", 0.0)))
    if "exit_code" in config:
        os._exit(int(config["exit_code"]))
    if config.get("fail"):
        raise RuntimeError(f"toy job asked to fail (value={config.get('value')})")
    value = float(config.get("value", 0.0))
    total = value + sum(dependency_results(config, role)["total"] for role in config.get("_inputs", {}))
    _record(side, f"end {job_dir.name} {os.getpid()}")
    return {"value": value, "square": value * value, "total": total}


def sleep_job(config: dict, job_dir: Path) -> dict:
    """Sleep ``seconds`` (default 0): a no-op job that measures the machinery around it."""
    seconds = float(config.get("seconds", 0.0))
    if seconds:
        time.sleep(seconds)
    return {"slept": seconds}
