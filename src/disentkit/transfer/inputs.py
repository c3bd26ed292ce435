"""What a transfer reads: the source run, the target, and the evaluation sample held out of
fine-tuning."""

from __future__ import annotations

from collections.abc import Sized
from pathlib import Path

import numpy as np

from disentkit.data.views import SourceView
from disentkit.errors import DisentkitError
from disentkit.transfer.adapt import HeldOut, TargetAdapter
from disentkit.transfer.config import MIN_EVAL, TransferConfig


def load_source(path: str | Path, device: str = "auto"):
    """The source run, with clear errors for a missing or incomplete folder."""
    from disentkit import load_run

    run = Path(path)
    if not run.is_dir():
        raise DisentkitError(f"source run {run} does not exist; train one with `disentkit train --out {run}`")
    return load_run(run, device=device)


def load_target(name: str, options: dict | None = None):
    """A registered dataset, or an image folder (unlabelled) when ``name`` is a directory."""
    from disentkit.data import get_dataset
    from disentkit.data.folders import ImageFolder

    path = Path(name)
    if path.is_dir():
        opts = {"size": 64, "channels": 3} | dict(options or {})
        return ImageFolder(path, **opts)
    if ("/" in name or name.startswith(".")) and not path.exists():
        raise DisentkitError(f"target folder {name} does not exist")
    return get_dataset(name, **dict(options or {}))


def eval_sample(adapter: TargetAdapter, config: TransferConfig):
    """The evaluation images (adapted), factors, and the unlabelled fine-tuning data held apart from
    them (None for labelled targets: :class:`HeldOut` excludes their factor combinations)."""
    from disentkit.data.folders import ImageFolder

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
    target = adapter.target
    available = len(target) if isinstance(target, Sized) else None
    if available is not None and available < n + MIN_EVAL:
        raise DisentkitError(
            f"target {adapter.name} has {available} images; the evaluation sample needs {n} plus images "
            f"left to fine-tune on: lower --eval-size (at least {MIN_EVAL}) or add images"
        )
    try:
        if isinstance(target, ImageFolder):  # hold out n files for evaluation, fine-tune on the others
            order = rng.permutation(available)
            images = adapter.adapt(target.load(order[:n]))
            rest = [target.files[i] for i in order[n:]]
            folder = type(target)(target.path, target.size, target.channels, files=rest)
            return images, None, TargetAdapter(folder, adapter.channels, adapter.size)
        return adapter.sample_images(n, rng), None, adapter
    except DisentkitError:
        raise
    except (OSError, ValueError) as exc:
        raise DisentkitError(f"cannot read the target images of {adapter.name}: {exc}") from None


class PairRecorder(SourceView):
    """The adapter, remembering every factor vector OMES renders (to hold them out of fine-tuning)."""

    def __init__(self, adapter: TargetAdapter):
        super().__init__(adapter, where="transfer target")
        self.factors: list[np.ndarray] = []

    def render(self, factors, rng=None):
        self.factors.append(np.asarray(factors))
        return super().render(factors, rng)
