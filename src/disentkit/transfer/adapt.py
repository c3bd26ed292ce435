"""Explicit adaptation of a target to the source model's input: resolution and channels.

The source model is never changed; the target's images are converted to what it reads, and the
conversion is recorded with every result (:meth:`TargetAdapter.describe`):

* resolution: larger targets (e.g. 128 px) are resized to the model's 64 px by area averaging
  (the transfer paper resizes its 128-px datasets to 64);
* channels: colour → grey by ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) for a grey model;
  grey → colour by repeating the channel for a colour model.

The adapter also holds an evaluation sample out of fine-tuning (:class:`HeldOut`), so the "after"
numbers are never measured on the images the model was fine-tuned on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from disentkit.data.protocols import ImageSource, require_source
from disentkit.data.views import SourceView
from disentkit.errors import DisentkitError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
MODEL_SIZE = 64


def adapt_images(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 ``(n, H, W, C)`` → uint8 ``(n, size, size, channels)`` (area resize, luma or repeat)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[3] not in (1, 3):
        raise DisentkitError(f"target images must be (n, H, W, 1 or 3), got shape {arr.shape}")
    out = arr.astype(np.float32)
    if arr.shape[3] == 3 and channels == 1:
        out = (out @ LUMA)[..., None]
    elif arr.shape[3] == 1 and channels == 3:
        out = np.repeat(out, 3, axis=3)
    if arr.shape[1:3] != (size, size):
        tensor = torch.from_numpy(np.ascontiguousarray(out)).permute(0, 3, 1, 2)
        tensor = F.interpolate(tensor, size=(size, size), mode="area")
        out = tensor.permute(0, 2, 3, 1).numpy()
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class TargetAdapter(SourceView):
    """A target (labelled dataset or unlabelled image source) as the source model sees it.

    Parameters
    ----------
    target : ImageSource
        A ``GroundTruthDataset`` or any :class:`~disentkit.data.ImageSource`.
    channels : int
        The source model's input channels.
    size : int
        The source model's input resolution.
    """

    def __init__(self, target, channels: int, size: int = MODEL_SIZE):
        shape = tuple(require_source(target, ImageSource, "transfer target").observation_shape)
        if len(shape) != 3 or shape[2] not in (1, 3):
            raise DisentkitError(f"target {target.name!r} has no usable observation_shape: {shape}")
        if shape[0] != shape[1] or shape[0] < size:
            raise DisentkitError(
                f"target images are {shape[0]}×{shape[1]}; the model reads {size}×{size}: square images of "
                f"at least {size} px are needed (smaller ones would have to be upsampled; resize them first)"
            )
        super().__init__(target, observation_shape=(int(size), int(size), int(channels)))
        self.channels, self.size = int(channels), int(size)
        self.source_shape = shape

    @property
    def target(self):
        """The target as given."""
        return self.base

    def describe(self) -> dict:
        """How the target was adapted (recorded in every result file)."""
        h, _, c = self.source_shape
        resolution = "unchanged" if h == self.size else f"{h}→{self.size} px (area averaging)"
        if c == self.channels:
            channels = "unchanged"
        elif c == 3:
            channels = "RGB→grey (ITU-R BT.601 luma)"
        else:
            channels = "grey→RGB (channel repeated)"
        return {"target_shape": list(self.source_shape), "model_shape": list(self.observation_shape)} | {
            "resolution": resolution,
            "channels": channels,
        }

    def adapt(self, images: np.ndarray) -> np.ndarray:
        return adapt_images(images, self.size, self.channels)


class HeldOut(SourceView):
    """Fine-tuning data that never contains the evaluation sample's factor combinations.

    Parameters
    ----------
    adapter : TargetAdapter
        A labelled target.
    eval_factors : array ``(n, K)``
        The evaluation sample's factor vectors; every fine-tuning image (and pair member) is drawn
        from the rest of the grid by rejection.
    """

    #: the largest share of the grid the evaluation may hold out
    MAX_HELD = 0.9

    def __init__(self, adapter: TargetAdapter, eval_factors: np.ndarray):
        super().__init__(adapter)
        if not self.labelled:
            raise DisentkitError(f"{self.name}: only a labelled target's factor combinations can be held out")
        self._sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        self._held = np.unique(np.ravel_multi_index(tuple(np.asarray(eval_factors).T), self._sizes))
        if len(self._held) >= self.MAX_HELD * np.prod(self._sizes, dtype=np.float64):
            raise DisentkitError(
                f"{self.name}: the evaluation sample covers {len(self._held)} of the "
                f"{int(np.prod(self._sizes))} factor combinations; too little is left to fine-tune on "
                "(use a smaller --eval-size and --omes-pairs)"
            )

    def _is_held(self, factors: np.ndarray) -> np.ndarray:
        index = np.ravel_multi_index(tuple(factors.T), self._sizes)
        return np.isin(index, self._held)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        factors = self.base.sample_factors(n, rng)
        held = self._is_held(factors)
        while held.any():  # rejection: the held-out share is small, so this ends in a few rounds
            factors[held] = self.base.sample_factors(int(held.sum()), rng)
            held = self._is_held(factors)
        return factors

    def sample_images(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.render(self.sample_factors(n, rng), rng)

    def sample_pairs(self, n, k, rng, allow_equal=False, device=None):
        """Weak pairs whose two members are both outside the evaluation sample."""
        grid = self.base.target
        f1, f2, changed = grid.sample_factor_pairs(n, k, rng, allow_equal)
        bad = self._is_held(f1) | self._is_held(f2)
        while bad.any():
            g1, g2, gc = grid.sample_factor_pairs(int(bad.sum()), k, rng, allow_equal)
            f1[bad], f2[bad], changed[bad] = g1, g2, gc
            bad = self._is_held(f1) | self._is_held(f2)
        from disentkit.data.base import PairBatch

        both = self.render(np.concatenate([f1, f2]), rng)
        return PairBatch(both[:n], both[n:], f1, f2, changed)
