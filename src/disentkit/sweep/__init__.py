"""disentkit.sweep: the protocol as resumable sweeps of hashed jobs (local pool or Ray), and its tables.

Python API (imported lazily — ``import disentkit.sweep`` stays cheap)::

    from disentkit.sweep import load_plan, expand, run_sweep, load_results
    report = run_sweep(expand(load_plan("plans/cpu-small.yaml")), "runs/sweeps/cpu-small")
    frame = load_results("runs/sweeps/cpu-small")      # one pandas DataFrame
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Plan": "disentkit.sweep.plan",
    "Job": "disentkit.sweep.plan",
    "load_plan": "disentkit.sweep.plan",
    "plan_from_dict": "disentkit.sweep.plan",
    "expand": "disentkit.sweep.plan",
    "register_job": "disentkit.sweep.jobs",
    "list_job_kinds": "disentkit.sweep.jobs",
    "run_sweep": "disentkit.sweep.scheduler",
    "job_states": "disentkit.sweep.scheduler",
    "SweepReport": "disentkit.sweep.scheduler",
    "load_results": "disentkit.sweep.results",
    "transfer_tables": "disentkit.sweep.results",
    "correlation_table": "disentkit.sweep.results",
    "correlation_heatmap": "disentkit.sweep.results",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'disentkit.sweep' has no attribute {name!r}")
