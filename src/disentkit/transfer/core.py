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
from disentkit.transfer.finetune import finetune
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

__all__ = ["TransferConfig", "run_transfer"]


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
    from disentkit import load_run

    config = config.validate()
    out = Path(out_dir)
    cfg = to_dict(config)
    previous = check_out_dir(config, out, fresh)
    if previous is not None:
        return previous
    source = load_source(config.source, config.device)
    target = load_target(config.target, config.target_options)
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
    try:
        run = finetune(out, source, adapter, config, data, progress, before.active_dims)
    except PosteriorCollapsed as exc:
        run = out / FINETUNE
        payload["collapse"] = dataclasses.asdict(exc.collapse)
        payload["warnings"].append(str(exc))
        say(progress, f"warning: {exc}", "bold red")
    except BaseException as exc:  # keep "before"; say what failed, then let the error through
        payload |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        write_results(out, payload)
        raise
    tuned = (
        load_run(run, device=config.device) if (run / "checkpoints" / "best.safetensors").exists() else None
    )
    if tuned is not None:
        payload["finetune"] = {"path": str(run), "config": to_dict(tuned.config), "step": tuned.step}
        with spinner(
            progress, f"evaluating the fine-tuned model on {adapter.name} (after) (GBT/MLP fits, OMES pairs)…"
        ):
            after = evaluate(
                tuned, images, factors, names, pairs_from=adapter if adapter.labelled else None, **scoring
            )
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
    write_results(out, payload)
    return read_results(out)


def _source_factors(data: str) -> list[str] | None:
    """The factor names of the source's dataset, when it is a registered one."""
    from disentkit.data import get_dataset

    try:
        return list(get_dataset(data).factor_names)
    except (DisentkitError, AttributeError, OSError):
        return None
