"""A source seen through a change of its images or of its sampling (the transfer's adapted target,
its held-out fine-tuning data)."""

from __future__ import annotations

import numpy as np

from disentkit.data.protocols import GroundTruthSource, ImageSource, require_source


class SourceView:
    """Another source's images, as :meth:`adapt` changes them; its name and factor grid.

    ``factor_names`` and ``factor_sizes`` are set only when ``base`` is a :class:`GroundTruthSource`
    with at least one factor (``labelled``), so ``isinstance(view, GroundTruthSource)`` answers as
    for ``base``. Subclasses override :meth:`adapt` and may override the sampling.

    Parameters
    ----------
    base : ImageSource
        The wrapped source.
    observation_shape : tuple, optional
        The shape :meth:`adapt` returns (default: the base's).
    where : str
        What the view is for, named in the error when ``base`` is no image source.
    """

    def __init__(self, base, observation_shape: tuple[int, int, int] | None = None, where: str = "source"):
        self.base = require_source(base, ImageSource, where)
        self.name = base.name
        self.observation_shape = tuple(observation_shape or base.observation_shape)
        self.labelled = isinstance(base, GroundTruthSource) and len(base.factor_sizes) > 0
        if self.labelled:
            self.factor_names = tuple(base.factor_names)
            self.factor_sizes = tuple(base.factor_sizes)

    def adapt(self, images: np.ndarray) -> np.ndarray:
        """The view of the base's uint8 ``(n, H, W, C)`` images (unchanged here)."""
        return images

    def sample_images(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.adapt(self.base.sample_images(n, rng))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.base.sample_factors(n, rng)

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.adapt(self.base.render(factors, rng))

    def sample_pairs(self, n, k, rng, allow_equal=False, device=None):
        """The base's weak pairs, adapted; rendered on the host (a view has no device path)."""
        pairs = self.base.sample_pairs(n, k, rng, allow_equal)
        pairs.x1, pairs.x2 = self.adapt(pairs.x1), self.adapt(pairs.x2)
        return pairs
