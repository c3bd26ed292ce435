"""disentkit.sweep: the protocol as resumable sweeps of hashed jobs (local pool or Ray), and its tables.

Python API (imported lazily — ``import disentkit.sweep`` stays cheap)::

    from disentkit.sweep import load_plan, expand, run_sweep, load_results
    report = run_sweep(expand(load_plan("plans/cpu-small.yaml")), "runs/sweeps/cpu-small")
    frame = load_results("runs/sweeps/cpu-small")      # one pandas DataFrame
"""

from __future__ import annotations

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "plan": "Plan Job load_plan plan_from_dict expand",
        "jobs": "register_job list_job_kinds",
        "scheduler": "run_sweep job_states SweepReport",
        "results": "load_results transfer_tables correlation_table correlation_heatmap",
    },
)
