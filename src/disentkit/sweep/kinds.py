"""The protocol's job kinds — ``train``, ``evaluate``, ``transfer`` — over the library's Python APIs.

Each returns a plain dict that :func:`disentkit.sweep.results.load_results` reads back:
``{"kind", "source", "target", "dataset", "method", "beta", "seed", "evaluations": {phase:
flat metrics}}`` where a phase is ``source`` (evaluate), or ``before`` / ``after`` (transfer), and
flat metrics map names such as ``omes``, ``dci_disentanglement`` or ``gbt_acc.shape`` to numbers
(see :func:`flatten_metrics`). The raw metric dicts are kept beside them (``metrics_raw.json``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from disentkit.config import atomic_write_text, from_dict, to_dict
from disentkit.errors import DisentkitError
from disentkit.sweep.jobs import register_job

META_KEYS = ("source", "method", "beta", "seed")


def _run_dir(config: dict, role: str = "model") -> Path:
    inputs = config.get("_inputs", {})
    if role not in inputs:
        raise DisentkitError(f"this job needs a finished {role!r} dependency")
    return Path(inputs[role]) / "run"


def _set_threads(config: dict) -> None:
    """One process per job: let torch use the CPUs the executor granted, no more."""
    import os

    import torch

    threads = int(os.environ.get("DISENTKIT_JOB_THREADS", "0")) or None
    if threads:
        torch.set_num_threads(threads)


@register_job("train")
def train_job(config: dict, job_dir: Path) -> dict:
    """Train one model with :func:`disentkit.train.train`; the run folder is ``job_dir/run``."""
    from disentkit.train import TrainConfig, apply_preset, train

    _set_threads(config)
    options = {k: v for k, v in config.items() if not k.startswith("_")}
    train_config = from_dict(TrainConfig, options)
    train_config = apply_preset(train_config, options.get("preset"), explicit=set(options)).validate()
    run = train(train_config, job_dir / "run", progress=False)
    summary = {k: options.get(k) for k in ("data", "method", "beta", "seed", "steps")}
    return {"kind": "train", **summary, "run": str(Path(run).resolve())}


def _evaluate(encode, dataset, config: dict, seed: int) -> dict:
    from disentkit.metrics import evaluate_model

    options = dict(config.get("evaluation", {}) or {})
    return evaluate_model(encode, dataset, metrics=list(config["metrics"]), seed=seed, **options)


@register_job("evaluate")
def evaluate_job(config: dict, job_dir: Path) -> dict:
    """Evaluate the dependency's model on ``config['dataset']`` (its source) with the plan's metrics."""
    import disentkit
    from disentkit.data.registry import get_dataset

    _set_threads(config)
    model = disentkit.load_run(_run_dir(config))
    dataset = get_dataset(config["dataset"])
    options = {
        k: v
        for k, v in config.items()
        if k not in (*META_KEYS, "dataset", "metrics") and not k.startswith("_")
    }
    raw = _evaluate(
        model.encode, dataset, {"metrics": config["metrics"], "evaluation": options}, int(config["seed"])
    )
    atomic_write_text(job_dir / "metrics_raw.json", json.dumps(to_dict(raw), indent=2, default=str))
    return {
        "kind": "evaluate",
        **{k: config.get(k) for k in META_KEYS},
        "dataset": config["dataset"],
        "target": None,
        "factor_names": list(dataset.factor_names),
        "evaluations": {"source": flatten_metrics(raw)},
    }


@register_job("transfer")
def transfer_job(config: dict, job_dir: Path) -> dict:
    """Fine-tune the dependency's model on ``config['target']``; evaluate before and after."""
    from disentkit.transfer import transfer

    _set_threads(config)
    extra = {
        k: v
        for k, v in config.items()
        if k not in (*META_KEYS, "target", "steps", "metrics", "evaluation") and not k.startswith("_")
    }
    report = transfer(
        _run_dir(config),
        config["target"],
        job_dir / "run",
        steps=int(config["steps"]),
        metrics=list(config["metrics"]),
        evaluation=dict(config.get("evaluation") or {}),
        seed=int(config["seed"]),
        progress=False,
        **extra,
    )
    raw = to_dict(report)
    atomic_write_text(job_dir / "metrics_raw.json", json.dumps(raw, indent=2, default=str))
    return {
        "kind": "transfer",
        **{k: config.get(k) for k in META_KEYS},
        "dataset": config["target"],
        "target": config["target"],
        "evaluations": {phase: flatten_metrics(raw[phase]) for phase in ("before", "after")},
    }


# ------------------------------------------------------------------------------ metric flattening

# Aliases from the metric helpers' names to the column names the tables use.
_ALIASES = {
    "dci.disentanglement": "dci_disentanglement",
    "dci.completeness": "dci_completeness",
    "dci.informativeness": "dci_informativeness",
    "mig.score": "mig",
    "mig.mig": "mig",
    "omes.omes": "omes",
    "omes.score": "omes",
    "omes.os": "os",
    "omes.mes": "mes",
    "betavae.score": "betavae",
    "betavae.accuracy": "betavae",
    "betavae.eval_accuracy": "betavae",
    "factorvae.score": "factorvae",
    "factorvae.accuracy": "factorvae",
    "factorvae.eval_accuracy": "factorvae",
    "sap.score": "sap",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def flatten_metrics(raw: Any, prefix: str = "") -> dict[str, float]:
    """Nested metric dicts → ``{"a.b.c": number}``, with the table's aliases added.

    Lists are skipped (matrices such as OMES' S stay in ``metrics_raw.json``); a ``per_factor``
    mapping keeps its factor names as the last part of the key.
    """
    flat: dict[str, float] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if _is_number(value):
                flat[name] = float(value)
            elif isinstance(value, dict):
                flat.update(flatten_metrics(value, name))
    for alias_from, alias_to in _ALIASES.items():
        if alias_from in flat and alias_to not in flat:
            flat[alias_to] = flat[alias_from]
    return flat
