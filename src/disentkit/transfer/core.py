"""Transfer a trained representation to a target, before and after unsupervised fine-tuning.

Protocol (the transfer paper, Dapueto et al. 2024; docs/transfer.md):

1. **before**: encode a held-out evaluation sample of the target with the source model unchanged;
   evaluate. Written to ``transfer.json`` at once (atomically), so a failed fine-tune keeps it.
2. **after**: start from the source run's encoder, decoder *and* Adam state; fine-tune on the target
   with the unsupervised β-VAE loss (same β, no warm-up, the source's gradient clipping — 1.0 in
   the paper — so that the loaded Adam moments keep their scale; ``weak=True`` trains on weak
   pairs with the source's weakly supervised method instead); evaluate again on the *same*
   evaluation sample, which fine-tuning never sees (its factor combinations are excluded).
3. the table: per target factor GBT (and MLP) accuracy, full and pruned, OMES / OS / MES, DCI, MIG,
   each cell ``before×100 (+gain×100)``.

Output folder::

    transfer.json    config, environment, adaptation, before, after, table, status (transfer/results.py)
    samples.npz      a few adapted evaluation images (for the report's reconstructions/traversals)
    finetune/        the fine-tuned run (a normal run folder: config.yaml, checkpoints/, metrics.csv)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from disentkit.config import environment_info, to_dict
from disentkit.console import say, spinner
from disentkit.errors import DisentkitError
from disentkit.metrics.evaluation import Evaluation
from disentkit.models.vae import ACTIVE_KL
from disentkit.train.guard import ADVICE, PosteriorCollapsed, is_collapse, read_collapse
from disentkit.transfer.adapt import HeldOut, TargetAdapter
from disentkit.transfer.config import TransferConfig
from disentkit.transfer.evaluate import evaluate
from disentkit.transfer.findings import transfer_findings
from disentkit.transfer.finetune import FinetuneTask, finetune, finetune_together
from disentkit.transfer.inputs import PairRecorder, eval_sample, load_source, load_target
from disentkit.transfer.results import (
    FINETUNE,
    RESULTS,
    SAMPLES,
    check_out_dir,
    read_results,
    save_samples,
    summary_rows,
    write_results,
)

__all__ = ["TransferConfig", "run_transfer", "run_transfers"]


def _check_source_alive(source, adapter, before: Evaluation) -> None:
    """A source the collapse guard stopped, or with no active latent on the target, has nothing to
    transfer."""
    collapse = read_collapse(source.path)
    if collapse is not None:
        raise DisentkitError(
            f"source {source.path} stopped at a posterior collapse (step {collapse.step}): retrain it; {ADVICE}"
        )
    if before.active_dims == 0:
        raise DisentkitError(
            f"source {source.path} has no active latent on {adapter.name} (every latent's KL to the prior "
            f"is below {ACTIVE_KL} nats): there is nothing to transfer — it collapsed or barely trained; retrain it"
        )


@dataclasses.dataclass
class _Transfer:
    """One transfer between its "before" (evaluated and written) and its fine-tune."""

    config: TransferConfig
    out: Path
    source: object
    adapter: TargetAdapter
    images: np.ndarray
    factors: np.ndarray | None
    names: list[str] | None
    scoring: dict
    payload: dict
    data: object
    before: Evaluation

    def task(self) -> FinetuneTask:
        return FinetuneTask(self.out, self.source, self.adapter, self.config, self.before.active_dims)

    def collapsed(self, collapse, message: str, progress: bool) -> None:
        self.payload["collapse"] = dataclasses.asdict(collapse)
        self.payload["warnings"].append(message)
        say(progress, f"warning: {message}", "bold red")

    def failed(self, error: str) -> None:
        """Keep "before"; say what failed."""
        self.payload |= {"status": "failed", "error": error}
        write_results(self.out, self.payload)


def run_transfer(
    config: TransferConfig, out_dir: str | Path, progress: bool = True, fresh: bool = False
) -> dict:
    """Before → fine-tune → after; returns the results (also in ``out_dir/transfer.json``).

    A finished transfer with the same config is reused as it is; a killed one picks up where it
    stopped (before results and fine-tuning checkpoints are kept); more ``steps`` than a finished
    one extend its fine-tune. Another config in the same folder is refused unless ``fresh``, which
    replaces the folder's transfer. A fine-tune whose posterior collapses stops at the collapse:
    ``status`` "collapsed", ``warnings`` say what happened, ``after`` (when a checkpoint from before
    the collapse exists) is that checkpoint's, marked in ``after_checkpoint``.
    """
    started = _start(config, Path(out_dir), progress, fresh)
    if isinstance(started, dict):
        return started
    try:
        finetune(started.task(), started.data, progress)
    except PosteriorCollapsed as exc:
        started.collapsed(exc.collapse, str(exc), progress)
    except BaseException as exc:
        started.failed(f"{type(exc).__name__}: {exc}")
        raise
    return _finish(started, progress)


def run_transfers(
    configs: list[TransferConfig], out_dirs: list[str | Path], progress: bool = True, fresh: bool = False
) -> list[dict]:
    """Several transfers, as :func:`run_transfer` each, whose fine-tunes to a shared target train as
    one model batch (N sources → one target; docs/batches.md).

    Transfers whose configs differ only in ``source`` and ``seed`` form one batch of fine-tunes
    (where a batch is faster: on the CPU, at the usual batch sizes, one after another), each on its
    own held-out data. A transfer refused before it starts (a collapsed source, say) or whose
    fine-tune diverges is reported in its result (``status`` "refused" or "failed", ``error``); the
    others go on.
    """
    results: list[dict | None] = [None] * len(configs)
    started: list[tuple[int, _Transfer]] = []
    targets: dict[str, object] = {}  # each target opened once, as a batch's models share their data
    for i, (config, out) in enumerate(zip(configs, out_dirs, strict=True)):
        try:
            begun = _start(config, Path(out), progress, fresh, targets)
        except DisentkitError as exc:
            results[i] = {"status": "refused", "error": str(exc), "out": str(out)}
            continue
        if isinstance(begun, dict):
            results[i] = begun
        else:
            started.append((i, begun))
    for group in _shared_finetunes([t for _, t in started]):
        outcomes = finetune_together(
            [t.task() for t in group], [t.data for t in group], progress, lambda line: say(progress, line)
        )
        for transfer, outcome in zip(group, outcomes, strict=True):
            if outcome.status == "collapsed":
                transfer.collapsed(read_collapse(outcome.out), outcome.message, progress)
            elif outcome.status != "finished":
                transfer.failed(f"fine-tune {outcome.status}: {outcome.message}")
    for i, transfer in started:
        failed = transfer.payload.get("status") == "failed"
        results[i] = read_results(transfer.out) if failed else _finish(transfer, progress)
    return results


def _shared_finetunes(transfers: list[_Transfer]) -> list[list[_Transfer]]:
    """Groups of transfers whose fine-tunes can train together: one config but the source and the
    seed (each fine-tune keeps its own data stream), one source channel count."""
    groups: dict[str, list[_Transfer]] = {}
    for transfer in transfers:
        settings = to_dict(dataclasses.replace(transfer.config, source="", seed=0))
        key = json.dumps([settings, transfer.source.model.channels], sort_keys=True, default=str)
        groups.setdefault(key, []).append(transfer)
    return list(groups.values())


def _start(
    config: TransferConfig, out: Path, progress: bool, fresh: bool, targets: dict | None = None
) -> dict | _Transfer:
    """Load, evaluate "before" and write it; a finished transfer's results instead, when reused.
    ``targets``: the targets already opened, by name and options (filled here)."""
    config = config.validate()
    cfg = to_dict(config)
    previous = check_out_dir(config, out, fresh)
    if previous is not None:
        return previous
    source = load_source(config.source, config.device)
    targets = {} if targets is None else targets
    which = json.dumps([config.target, config.target_options], sort_keys=True, default=str)
    if which not in targets:
        targets[which] = load_target(config.target, config.target_options)
    target = targets[which]
    adapter = TargetAdapter(target, channels=source.model.channels)
    if config.weak and not adapter.labelled:
        raise DisentkitError(f"--weak needs a target with factors (weak pairs); {adapter.name} has none")
    images, factors, unlabelled_data = eval_sample(adapter, config)
    names = list(adapter.factor_names) if adapter.labelled else None
    n_train, n_test = config.split
    scoring = {
        "seed": config.seed,
        "classifiers": tuple(config.classifiers),
        "n_train": n_train,
        "n_test": n_test,
    }
    scoring["n_pairs"] = config.omes_pairs
    recorder = PairRecorder(adapter) if adapter.labelled else None
    payload = {
        "config": cfg,
        "environment": environment_info(),
        "source": {
            "path": str(source.path),
            "config": to_dict(source.config),
            "step": source.step,
            "factor_names": _source_factors(source.config.data),
        },
        "target": {"name": adapter.name, "labelled": adapter.labelled, "factor_names": names},
        "adaptation": adapter.describe(),
        "evaluation": {"size": config.eval_size, "train": n_train, "test": n_test, "held_out": True},
        "status": "before",
        "warnings": [],
    }
    with spinner(
        progress, f"evaluating the source model on {adapter.name} (before) (GBT/MLP fits, OMES pairs)…"
    ):
        before = evaluate(source, images, factors, names, pairs_from=recorder, **scoring)
    payload["before"] = before.to_dict()
    _check_source_alive(source, adapter, before)  # before anything is written
    if fresh:  # only what a transfer wrote: anything else in the folder stays
        shutil.rmtree(out / FINETUNE, ignore_errors=True)
        for name in (RESULTS, SAMPLES):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    save_samples(out, images, factors)
    write_results(out, payload)
    data = (
        HeldOut(adapter, np.concatenate([factors, *recorder.factors]))
        if adapter.labelled
        else unlabelled_data
    )
    return _Transfer(config, out, source, adapter, images, factors, names, scoring, payload, data, before)


def _finish(transfer: _Transfer, progress: bool) -> dict:
    """Evaluate the fine-tuned model "after" on the same sample; write and return the results."""
    from disentkit import load_run

    config, adapter, payload = transfer.config, transfer.adapter, transfer.payload
    run = transfer.out / FINETUNE
    tuned = (
        load_run(run, device=config.device) if (run / "checkpoints" / "best.safetensors").exists() else None
    )
    if tuned is not None:
        payload["finetune"] = {"path": str(run), "config": to_dict(tuned.config), "step": tuned.step}
        with spinner(
            progress, f"evaluating the fine-tuned model on {adapter.name} (after) (GBT/MLP fits, OMES pairs)…"
        ):
            after = evaluate(
                tuned,
                transfer.images,
                transfer.factors,
                transfer.names,
                pairs_from=adapter if adapter.labelled else None,
                **transfer.scoring,
            )
        before = transfer.before
        if is_collapse(after.active_dims, before.active_dims):
            # A dead representation is kept for the record, never shown as an ordinary "after".
            payload["after_collapsed"] = after.to_dict()
            message = (
                f"the fine-tuned model has {after.active_dims} active latent(s) on {adapter.name} against "
                f"the source's {before.active_dims}: its posterior collapsed ({ADVICE})"
            )
            payload["warnings"].append(message)
            say(progress, f"warning: {message}", "bold red")
        else:
            payload["after"] = after.to_dict()
            if "collapse" in payload:
                payload["after_checkpoint"] = {"step": tuned.step, "before_collapse": True}
    payload["status"] = "collapsed" if "collapse" in payload or "after_collapsed" in payload else "complete"
    payload["table"] = summary_rows(payload)
    payload["findings"] = [f.to_dict() for f in transfer_findings(payload)]
    write_results(transfer.out, payload)
    return read_results(transfer.out)


def _source_factors(data: str) -> list[str] | None:
    """The factor names of the source's dataset, when it is a registered one."""
    from disentkit.data import get_dataset

    try:
        return list(get_dataset(data).factor_names)
    except (DisentkitError, AttributeError, OSError):
        return None
