"""Transfer a trained representation to a target, before and after unsupervised fine-tuning.

Protocol (the transfer paper; ../shared/spec/protocol.md "Transfer"):

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

    transfer.json    config, environment, adaptation, before, after, table, status
    samples.npz      a few adapted evaluation images (for the report's reconstructions/traversals)
    finetune/        the fine-tuned run (a normal run folder: config.yaml, checkpoints/, metrics.csv)
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np

from disentkit.config import (
    atomic_write_bytes,
    atomic_write_text,
    environment_info,
    load_config,
    refuse_foreign_folder,
    to_dict,
)
from disentkit.errors import DisentkitError
from disentkit.models.vae import ACTIVE_KL
from disentkit.train.guard import ADVICE, PosteriorCollapsed, is_collapse, read_collapse
from disentkit.transfer.adapt import HeldOut, TargetAdapter
from disentkit.transfer.config import MIN_EVAL, TransferConfig
from disentkit.transfer.evaluate import evaluate
from disentkit.transfer.findings import transfer_findings

RESULTS = "transfer.json"
SAMPLES = "samples.npz"
FINETUNE = "finetune"
DONE = ".done"
#: what a transfer folder holds; a non-empty --out with anything else is not ours to write into
OWN_ENTRIES = {RESULTS, SAMPLES, FINETUNE}
#: statuses of a transfer that ran to its end (a collapse is an end: re-running gives the same)
FINISHED = ("complete", "collapsed")


# ------------------------------------------------------------------------------------- inputs
def load_source(path: str | Path, device: str = "auto"):
    """The source run, with clear errors for a missing or incomplete folder."""
    from disentkit import load_run

    run = Path(path)
    if not run.is_dir():
        raise DisentkitError(f"source run {run} does not exist; train one with `disentkit train --out {run}`")
    return load_run(run, device=None if device == "auto" else device)


def load_target(name: str, options: dict | None = None):
    """A registered dataset, or an image folder (unlabelled) when ``name`` is a directory."""
    from disentkit.data import get_dataset

    path = Path(name)
    if path.is_dir():
        try:
            from disentkit.data.folders import ImageFolder
        except ImportError:  # pragma: no cover - the folders module ships with the data package
            raise DisentkitError("image-folder targets need disentkit.data.folders") from None
        opts = {"size": 64, "channels": 3} | dict(options or {})
        return ImageFolder(path, **opts)
    if ("/" in name or name.startswith(".")) and not path.exists():
        raise DisentkitError(f"target folder {name} does not exist")
    return get_dataset(name, **dict(options or {}))


def _eval_sample(adapter: TargetAdapter, config: TransferConfig):
    """The evaluation images (adapted), factors, and the unlabelled fine-tuning data held apart from
    them (None for labelled targets: :class:`HeldOut` excludes their factor combinations)."""
    rng = np.random.default_rng([config.seed, 1])
    n = config.eval_size
    if adapter.labelled:
        size = int(np.prod(adapter.factor_sizes, dtype=np.int64))
        held = n + 2 * config.omes_pairs * len(adapter.factor_sizes)
        if size < 2 * MIN_EVAL or held >= HeldOut.MAX_HELD * size:
            raise DisentkitError(
                f"target {adapter.name} has {size} factor combinations; the evaluation sample ({n}) and the "
                f"OMES pairs ({held - n} images) would leave too little to fine-tune on: use a smaller "
                "--eval-size and --omes-pairs"
            )
        factors = adapter.sample_factors(n, rng)
        return adapter.render(factors, rng), factors, None
    available = len(adapter.target) if hasattr(adapter.target, "__len__") else None
    if available is not None and available < n + MIN_EVAL:
        raise DisentkitError(
            f"target {adapter.name} has {available} images; the evaluation sample needs {n} plus images "
            f"left to fine-tune on: lower --eval-size (at least {MIN_EVAL}) or add images"
        )
    try:
        if hasattr(adapter.target, "files") and hasattr(adapter.target, "load"):
            # An image folder: hold out n files for evaluation, fine-tune on the others.
            order = rng.permutation(available)
            held, rest = order[:n], order[n:]
            images = adapter.adapt(adapter.target.load(held))
            folder = type(adapter.target)(
                adapter.target.path,
                adapter.target.size,
                adapter.target.channels,
                files=[adapter.target.files[i] for i in rest],
            )
            return images, None, TargetAdapter(folder, adapter.channels, adapter.size)
        return adapter.sample_images(n, rng), None, adapter
    except DisentkitError:
        raise
    except (OSError, ValueError) as exc:
        raise DisentkitError(f"cannot read the target images of {adapter.name}: {exc}") from None


# ------------------------------------------------------------------------------------- results
def _write_results(out: Path, payload: dict) -> None:
    atomic_write_text(out / RESULTS, json.dumps(to_dict(payload), indent=2, allow_nan=False, default=str))


def read_results(out: str | Path) -> dict:
    """``transfer.json`` of a transfer folder."""
    path = Path(out) / RESULTS
    if not path.exists():
        raise DisentkitError(f"{out} holds no transfer results ({RESULTS}); run `disentkit transfer` first")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DisentkitError(f"cannot read {path}: {exc}") from None


def _finetune_config(source_config, config: TransferConfig, channels: int, labelled: bool):
    """The source's training settings, switched to the transfer paper's fine-tuning ones."""
    from disentkit.train.config import METHOD_OPTIONS, TrainConfig

    method = "beta-vae"
    if config.weak:
        if not labelled:
            raise DisentkitError("--weak needs a target with factors (weak pairs); this target has none")
        method = source_config.method if source_config.objective().pairs else "ada-gvae"
    # At least four checkpoints: a collapse guard needs one from before the collapse to fall back on.
    every = max(1, min(source_config.checkpoint_every, math.ceil(config.steps / 4)))
    base: TrainConfig = source_config
    return dataclasses.replace(
        base,
        data=f"{config.target} (transfer)",
        method=method,
        steps=config.steps,
        lr=config.lr,
        beta=source_config.beta if config.beta is None else config.beta,
        batch=config.batch,
        seed=config.seed,
        warmup_steps=0,
        # The transfer paper's fine-tuning objective: a source's extra terms (cpu-quick prunes
        # latents with sparsity) would keep pruned latents from taking up the target's factors.
        agreement=0.0,
        sparsity=0.0,
        # Fine-tuning is β-VAE or a pair method: a FactorVAE/DIP/AnnealedVAE source's weights go.
        **dict.fromkeys(METHOD_OPTIONS),
        # Keep the source's clipping: the Adam moments we load were accumulated under it. Clipping
        # gradients the source never clipped makes every update ~g/sqrt(v_source), thousands of
        # times too small, and the fine-tune barely moves the encoder (measured: -0.2 GBT).
        clip=source_config.clip,
        channels=channels,
        checkpoint_every=every,
        log_every=max(1, min(source_config.log_every, every)),
        device=config.device,
        preset=None,
    ).validate()


def _finetune(out: Path, source, adapter, config: TransferConfig, data, progress: bool, active: int) -> Path:
    """Run (or reuse, or resume, or extend) the fine-tuning; returns its run folder.

    ``active``: the source's active latents on the target, the collapse guard's reference.
    """
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import resumable, train_or_resume

    run = out / FINETUNE
    ft_config = _finetune_config(source.config, config, source.model.channels, adapter.labelled)
    if resumable(run):
        saved = load_config(TrainConfig, run / "config.yaml")
        if saved.steps < ft_config.steps:  # the user asked for more steps: train on from the last one
            _say(
                progress, f"extending the fine-tune from {saved.steps} to {ft_config.steps} steps (resuming)"
            )
            (run / DONE).unlink(missing_ok=True)
    if (run / DONE).exists():
        return run
    train_or_resume(
        ft_config,
        run,
        dataset=data,
        init_from=source.path,
        progress=progress,
        active_reference=active,
        changes={"steps": ft_config.steps},
    )
    atomic_write_text(run / DONE, "")
    return run


def _say(enabled: bool, message: str, style: str = "bold") -> None:
    """One line on the console (stderr), as the spinner's."""
    if enabled:
        from rich.console import Console

        Console(stderr=True).print(f"[{style}]{message}[/]")


def check_out_dir(config: TransferConfig, out: Path, fresh: bool = False) -> dict | None:
    """The finished results in ``out`` when they are exactly ``config``'s; None to (re)run.

    Refuses, with one line, a folder that is not a transfer, or — unless ``fresh`` (the transfer
    there is to be replaced) — a transfer of another config (more steps resume the fine-tune).
    """
    refuse_foreign_folder(out, "a transfer", lambda folder: {p.name for p in folder.iterdir()} <= OWN_ENTRIES)
    if fresh or not (out / RESULTS).exists():
        return None  # empty, to be replaced, or a transfer killed before its first results
    previous = read_results(out)
    wanted = to_dict(config)
    differ = _differences(previous.get("config", {}), wanted)
    if not differ:
        return previous if previous.get("status") in FINISHED else None
    if differ == {"steps"} and wanted["steps"] > previous["config"]["steps"]:
        return None  # the fine-tune is resumed and extended
    changes = ", ".join(f"{k} {previous['config'].get(k)!r} → {wanted.get(k)!r}" for k in sorted(differ))
    raise DisentkitError(
        f"{out} holds a transfer with another config ({changes}); use --fresh to replace it or choose "
        "another --out"
    )


def finished_transfer(config: TransferConfig, out_dir: str | Path) -> dict | None:
    """The results in ``out_dir`` if they are a finished transfer of exactly ``config``, else None."""
    path = Path(out_dir)
    if not (path / RESULTS).exists():
        return None
    previous = read_results(path)
    same = not _differences(previous.get("config", {}), to_dict(config.validate()))
    return previous if same and previous.get("status") in FINISHED else None


def _differences(saved: dict, wanted: dict) -> set[str]:
    """Config fields that differ, the device aside: where a transfer runs is not what it is."""
    keys = (saved.keys() | wanted.keys()) - {"device"}
    return {k for k in keys if saved.get(k) != wanted.get(k)}


def _check_source_alive(source, adapter, before: dict) -> None:
    """A source the collapse guard stopped, or with no active latent on the target, has nothing to
    transfer."""
    collapse = read_collapse(source.path)
    if collapse is not None:
        raise DisentkitError(
            f"source {source.path} stopped at a posterior collapse (step {collapse.step}): retrain it; {ADVICE}"
        )
    if before["active_dims"] == 0:
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
    images, factors, unlabelled_data = _eval_sample(adapter, config)
    names = list(adapter.factor_names) if adapter.labelled else None
    n_train, n_test = config.split
    scoring = {
        "seed": config.seed,
        "classifiers": tuple(config.classifiers),
        "n_train": n_train,
        "n_test": n_test,
    }
    scoring["n_pairs"] = config.omes_pairs
    recorder = _Recorder(adapter) if adapter.labelled else None
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
    with _status(progress, f"evaluating the source model on {adapter.name} (before)"):
        payload["before"] = evaluate(source, images, factors, names, pairs_from=recorder, **scoring)
    _check_source_alive(source, adapter, payload["before"])  # before anything is written
    if fresh:  # only what a transfer wrote: anything else in the folder stays
        shutil.rmtree(out / FINETUNE, ignore_errors=True)
        for name in (RESULTS, SAMPLES):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    _save_samples(out, images, factors)
    _write_results(out, payload)
    data = (
        HeldOut(adapter, np.concatenate([factors, *recorder.factors]))
        if adapter.labelled
        else unlabelled_data
    )
    try:
        run = _finetune(out, source, adapter, config, data, progress, payload["before"]["active_dims"])
    except PosteriorCollapsed as exc:
        run = out / FINETUNE
        payload["collapse"] = dataclasses.asdict(exc.collapse)
        payload["warnings"].append(str(exc))
        _say(progress, f"warning: {exc}", "bold red")
    except BaseException as exc:  # keep "before"; say what failed, then let the error through
        payload |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        _write_results(out, payload)
        raise
    device = None if config.device == "auto" else config.device
    tuned = load_run(run, device=device) if (run / "checkpoints" / "best.safetensors").exists() else None
    if tuned is not None:
        payload["finetune"] = {"path": str(run), "config": to_dict(tuned.config), "step": tuned.step}
        with _status(progress, f"evaluating the fine-tuned model on {adapter.name} (after)"):
            after = evaluate(
                tuned, images, factors, names, pairs_from=adapter if adapter.labelled else None, **scoring
            )
        if is_collapse(after["active_dims"], payload["before"]["active_dims"]):
            # A dead representation is kept for the record, never shown as an ordinary "after".
            payload["after_collapsed"] = after
            message = (
                f"the fine-tuned model has {after['active_dims']} active latent(s) on {adapter.name} against "
                f"the source's {payload['before']['active_dims']}: its posterior collapsed ({ADVICE})"
            )
            payload["warnings"].append(message)
            _say(progress, f"warning: {message}", "bold red")
        else:
            payload["after"] = after
            if "collapse" in payload:
                payload["after_checkpoint"] = {"step": tuned.step, "before_collapse": True}
    payload["status"] = "collapsed" if "collapse" in payload or "after_collapsed" in payload else "complete"
    payload["table"] = summary_rows(payload)
    payload["findings"] = [f.to_dict() for f in transfer_findings(payload)]
    _write_results(out, payload)
    return payload


def _source_factors(data: str) -> list[str] | None:
    """The factor names of the source's dataset, when it is a registered one."""
    from disentkit.data import get_dataset

    try:
        return list(get_dataset(data).factor_names)
    except (DisentkitError, AttributeError, OSError):
        return None


def _status(enabled: bool, message: str):
    """A Rich spinner for the long evaluation steps (silent when disabled)."""
    from contextlib import nullcontext

    if not enabled:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(f"[bold]{message}[/] (GBT/MLP fits, OMES pairs)…")


class _Recorder:
    """The adapter, remembering every factor vector OMES renders (to hold them out of fine-tuning)."""

    def __init__(self, adapter: TargetAdapter):
        self.adapter, self.factors = adapter, []
        self.name, self.factor_names, self.factor_sizes = (
            adapter.name,
            adapter.factor_names,
            adapter.factor_sizes,
        )

    def sample_factors(self, n, rng):
        return self.adapter.sample_factors(n, rng)

    def render(self, factors, rng=None):
        self.factors.append(np.asarray(factors))
        return self.adapter.render(factors, rng)


def _save_samples(out: Path, images: np.ndarray, factors: np.ndarray | None, n: int = 16) -> None:
    import io

    buffer = io.BytesIO()
    arrays = {"images": images[:n]}
    if factors is not None:
        arrays["factors"] = factors[:n]
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out / SAMPLES, buffer.getvalue())


# ------------------------------------------------------------------------------------- table
def cell(before: float | None, after: float | None) -> str:
    """The paper's cell: ``before×100 (+gain×100)``; before alone when there is no after."""
    if before is None or not math.isfinite(before):
        return "–"
    if after is None or not math.isfinite(after):
        return f"{100 * before:.1f}"
    return f"{100 * before:.1f} ({100 * (after - before):+.1f})"


def _get(result: dict | None, *keys):
    value = result
    for key in keys:
        if value is None:
            return None
        value = value[key] if isinstance(key, int) else value.get(key)
    return value


def _accuracy(result: dict | None, kind: str, key: str, factor: int | None):
    """A downstream accuracy: the mean (``factor=None``) or one factor's; None when absent."""
    value = _get(result, "downstream", kind, key)
    return value if factor is None or value is None else value[factor]


def summary_rows(payload: dict) -> list[dict]:
    """Rows of the before/after table: one per target factor, then "All"; the score row last.

    Unlabelled targets get one row of label-free scores.
    """
    before, after = payload.get("before"), payload.get("after")
    names = payload["target"]["factor_names"]
    if not names:
        return [
            {
                "factor": "(no labels)",
                "reconstruction": cell_raw(_get(before, "reconstruction"), _get(after, "reconstruction")),
                "KL": cell_raw(_get(before, "kl"), _get(after, "kl")),
                "active dims": f"{_get(before, 'active_dims')} → {_get(after, 'active_dims')}",
            }
        ]
    kinds = list(payload["config"]["classifiers"])
    rows = []
    for f, name in enumerate([*names, "All"]):
        row = {"factor": name}
        factor = None if name == "All" else f
        for kind in kinds:
            full, pruned = ("test_accuracy_full", "test_accuracy_pruned")
            if factor is None:
                full, pruned = ("mean_test_accuracy_full", "mean_test_accuracy_pruned")
            for label, key in ((f"{kind.upper()} full", full), (f"{kind.upper()} pruned", pruned)):
                row[label] = cell(_accuracy(before, kind, key, factor), _accuracy(after, kind, key, factor))
        for score in ("omes", "os", "mes"):
            key = score if name == "All" else f"{score}_per_factor"
            b = _get(before, "omes", key) if name == "All" else _get(before, "omes", key, f)
            a = _get(after, "omes", key) if name == "All" else _get(after, "omes", key, f)
            row[score.upper()] = cell(b, a)
        rows.append(row)
    rows[-1]["DCI"] = cell(_get(before, "dci", "disentanglement"), _get(after, "dci", "disentanglement"))
    rows[-1]["MIG"] = cell(_get(before, "mig", "mig"), _get(after, "mig", "mig"))
    return rows


def cell_raw(before: float | None, after: float | None) -> str:
    """A cell for unbounded scores (reconstruction, KL): ``before (+change)`` without ×100."""
    if before is None:
        return "–"
    if after is None:
        return f"{before:.2f}"
    return f"{before:.2f} ({after - before:+.2f})"
