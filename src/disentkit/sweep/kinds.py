"""The protocol's job kinds — ``train``, ``evaluate``, ``transfer`` — over the library's Python APIs.

Each returns a plain dict that :func:`disentkit.sweep.results.load_results` reads back:
``{"kind", "source", "target", "dataset", "method", "beta", "seed", "evaluations": {phase:
columns}}`` where a phase is ``source`` (evaluate), or ``before`` / ``after`` (transfer), and the
columns are :meth:`Evaluation.columns <disentkit.metrics.evaluation.Evaluation.columns>` (``omes``,
``dci_disentanglement``, ``acc.gbt.full.shape`` …). The evaluate job keeps its whole Evaluation beside
them (``metrics_raw.json``); a transfer job's are in its ``transfer/transfer.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from disentkit.config import atomic_write_text, from_dict
from disentkit.errors import DisentkitError

META_KEYS = ("source", "method", "beta", "seed")


def _run_dir(config: dict, role: str = "model") -> Path:
    inputs = config.get("_inputs", {})
    if role not in inputs:
        raise DisentkitError(f"this job needs a finished {role!r} dependency")
    return Path(inputs[role]) / "run"


def _set_threads() -> None:
    """One process per job: let torch use the CPUs the executor granted, no more."""
    import os

    import torch

    threads = int(os.environ.get("DISENTKIT_JOB_THREADS", "0")) or None
    if threads:
        torch.set_num_threads(threads)


def _train_config(config: dict):
    """The job's TrainConfig: its options over the preset they name, validated."""
    from disentkit.train import TrainConfig, apply_preset

    options = {k: v for k, v in config.items() if not k.startswith("_")}
    train_config = from_dict(TrainConfig, options)
    return apply_preset(train_config, options.get("preset"), explicit=set(options)).validate()


def _train_results(config: dict, run: Path) -> dict:
    """What a train job returns (its ``results.json``)."""
    summary = {k: config.get(k) for k in ("data", "method", "beta", "seed", "steps")}
    return {"kind": "train", **summary, "run": str(Path(run).resolve())}


def _say_if_resuming(run: Path) -> None:
    from disentkit.train.loop import resumable

    if resumable(run):  # a re-queued job whose process was killed
        print(f"resuming the killed attempt's run from {run}/checkpoints", flush=True)


def train_job(config: dict, job_dir: Path) -> dict:
    """Train one model with :func:`disentkit.train.train`; the run folder is ``job_dir/run``."""
    from disentkit.train.loop import train_or_resume

    _set_threads()
    _say_if_resuming(job_dir / "run")
    run = train_or_resume(_train_config(config), job_dir / "run", progress=False)
    return _train_results(config, run)


def train_pack_key(config: dict) -> str | None:
    """Train jobs of equal keys can train as one model batch: their configs (preset applied) are equal
    apart from :data:`~disentkit.train.batch.PER_MODEL_FIELDS`. None: the job cannot be in a batch
    (its method, ``cpu_shards`` > 1, ``head_decay``, an invalid config), so it runs alone."""
    from disentkit.train.batch import PER_MODEL_FIELDS, check_batchable

    try:
        train_config = _train_config(config)
        check_batchable([train_config])
    except (DisentkitError, TypeError, ValueError):
        return None
    shared = {k: v for k, v in dataclasses.asdict(train_config).items() if k not in PER_MODEL_FIELDS}
    return json.dumps(shared, sort_keys=True, default=str)


def train_pack(configs: list[dict], job_dirs: list[Path]) -> list[dict | Exception]:
    """Train the jobs' models with :func:`disentkit.train.batch.train_models` (a model batch where it
    pays, else one after another; killed runs resume from their checkpoints). Per job: what
    :func:`train_job` returns, or the error it would raise (a diverged or collapsed model's)."""
    from disentkit.train.batch import train_models

    _set_threads()
    runs = [Path(folder) / "run" for folder in job_dirs]
    for run in runs:
        _say_if_resuming(run)
    outcomes = {}
    error: Exception | None = None
    try:
        train_models(
            [_train_config(config) for config in configs],
            runs,
            resume="auto",
            progress=False,
            say=lambda line: print(line, flush=True),
            on_outcome=lambda outcome: outcomes.__setitem__(Path(outcome.out).resolve(), outcome),
        )
    except Exception as exc:  # noqa: BLE001 — the models it had not finished fail with it
        error = exc
    return [
        _pack_result(config, outcomes.get(run.resolve()), error)
        for config, run in zip(configs, runs, strict=True)
    ]


def _pack_result(config: dict, outcome, error: Exception | None) -> dict | Exception:
    """One job of a train pack: its results, or the error its solo job would have raised."""
    from disentkit.train.guard import PosteriorCollapsed, read_collapse
    from disentkit.train.loop import TrainingDiverged

    if outcome is None:  # train_models failed before this model's end
        return error
    if outcome.status == "finished":
        return _train_results(config, outcome.out)
    collapse = read_collapse(outcome.out) if outcome.status == "collapsed" else None
    return PosteriorCollapsed(collapse, outcome.out) if collapse else TrainingDiverged(outcome.message)


class Packing(NamedTuple):
    """How jobs of one kind run as a pack: ``key(config)`` (equal keys pack together; None: never
    packed) and ``run(configs, job_dirs)`` (per job: its results dict, or the error it failed with)."""

    key: Callable[[dict], str | None]
    run: Callable[[list[dict], list[Path]], list[dict | Exception]]


def evaluate_job(config: dict, job_dir: Path) -> dict:
    """Evaluate the dependency's model on its source with :func:`disentkit.metrics.evaluate_model`.

    ``config`` beyond the metadata: ``n`` (sample size) and any ``SuiteOptions`` field.
    """
    import numpy as np

    import disentkit
    from disentkit.data.registry import get_dataset
    from disentkit.metrics import evaluate_model

    _set_threads()
    model = disentkit.load_run(_run_dir(config))
    dataset = get_dataset(config["dataset"])
    options = {
        k: v
        for k, v in config.items()
        if k not in (*META_KEYS, "dataset", "metrics") and not k.startswith("_")
    }
    options.setdefault("n_jobs", 1)  # the sweep runs jobs in parallel; no process pools inside jobs
    rng = np.random.default_rng(int(config["seed"]))
    evaluation = evaluate_model(
        model.representation, dataset, rng=rng, metrics=list(config["metrics"]), **options
    )
    atomic_write_text(job_dir / "metrics_raw.json", json.dumps(evaluation.to_dict(), indent=2, default=str))
    return {
        "kind": "evaluate",
        **{k: config.get(k) for k in META_KEYS},
        "dataset": config["dataset"],
        "target": None,
        "factor_names": list(evaluation.factor_names or []),
        "evaluations": {"source": evaluation.columns()},
    }


def _classifiers(metrics: list[str]) -> tuple[str, ...]:
    """Downstream classifiers the transfer should fit, from the plan's metric names."""
    chosen = tuple(m.removeprefix("downstream_") for m in metrics if m.startswith("downstream_"))
    return chosen or ("gbt",)  # DCI's importances come from the GBT fits


def _transfer_config(config: dict):
    """The job's TransferConfig: the dependency's run, the target, the plan's transfer options."""
    from disentkit.transfer.core import TransferConfig

    skip = (*META_KEYS, "target", "steps", "metrics")
    extra = {k: v for k, v in config.items() if k not in skip and not k.startswith("_")}
    options = {
        "source": str(_run_dir(config)),
        "target": config["target"],
        "steps": int(config["steps"]),
        "seed": int(config["seed"]),
        "classifiers": _classifiers(list(config["metrics"])),
        **extra,
    }
    return from_dict(TransferConfig, options)


def _transfer_results(config: dict, payload: dict) -> dict:
    from disentkit.metrics.evaluation import read_evaluation

    return {
        "kind": "transfer",
        **{k: config.get(k) for k in META_KEYS},
        "dataset": config["target"],
        "target": config["target"],
        "factor_names": (payload.get("target") or {}).get("factor_names"),
        "evaluations": {
            phase: read_evaluation(payload[phase]).columns() if payload.get(phase) else {}
            for phase in ("before", "after")
        },
        "status": payload.get("status"),
        "findings": payload.get("findings", []),
    }


def transfer_job(config: dict, job_dir: Path) -> dict:
    """Fine-tune the dependency's model on ``config['target']`` (run_transfer); before and after.

    ``config`` beyond the metadata: any ``TransferConfig`` field (``eval_size``, ``omes_pairs``,
    ``lr``, ``weak``, ``target_options`` …); β is the source model's, as in the paper.
    """
    from disentkit.transfer.core import run_transfer

    _set_threads()
    payload = run_transfer(_transfer_config(config), job_dir / "transfer", progress=False)
    return _transfer_results(config, payload)


def transfer_pack_key(config: dict) -> str:
    """Transfer jobs of equal keys fine-tune as one model batch: the same target and settings, any
    source model (its seed, β and method aside)."""
    shared = {k: v for k, v in config.items() if k not in META_KEYS and not k.startswith("_")}
    return json.dumps(shared, sort_keys=True, default=str)


def transfer_pack(configs: list[dict], job_dirs: list[Path]) -> list[dict | Exception]:
    """The jobs' transfers with :func:`disentkit.transfer.core.run_transfers` (N sources → one target,
    their fine-tunes as one model batch where it pays). Per job: what :func:`transfer_job` returns,
    or the error it would raise."""
    from disentkit.transfer.core import run_transfers

    _set_threads()
    try:
        transfers = [_transfer_config(config) for config in configs]
        payloads = run_transfers(transfers, [Path(d) / "transfer" for d in job_dirs], progress=False)
    except Exception as exc:  # noqa: BLE001 — every job of the pack fails with it
        return [exc] * len(configs)
    return [
        DisentkitError(payload["error"])
        if payload["status"] in ("refused", "failed")
        else _transfer_results(config, payload)
        for config, payload in zip(configs, payloads, strict=True)
    ]


#: job kinds whose jobs can run as model packs (``pack`` in a plan, ``--pack``)
PACKABLE: dict[str, Packing] = {
    "train": Packing(train_pack_key, train_pack),
    "transfer": Packing(transfer_pack_key, transfer_pack),
}
