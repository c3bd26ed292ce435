"""Tiny procedural dataset and encoders for the metric tests (no dependency on the dataset layer)."""

from __future__ import annotations

import numpy as np
import pytest

from disentkit.data.base import GroundTruthDataset


class ToyDataset(GroundTruthDataset):
    """Observation = one pixel per factor, brightness 16·class (+ a little nuisance noise)."""

    name = "toy"

    def __init__(self, factor_sizes=(3, 4, 5), noise: int = 2):
        self.factor_sizes = tuple(factor_sizes)
        self.factor_names = tuple(f"f{i}" for i in range(len(factor_sizes)))
        self.observation_shape = (1, len(factor_sizes), 1)
        self.noise = noise

    def render(self, factors, rng=None):
        factors = self.validate_factors(factors)
        rng = rng if rng is not None else np.random.default_rng(0)
        pixels = 16 * factors + rng.integers(0, self.noise + 1, size=factors.shape)
        return pixels.astype(np.uint8)[:, None, :, None]


def identity_encoder(images: np.ndarray) -> np.ndarray:
    """Pixel brightness / 16 → factor class (plus the nuisance), one dimension per factor."""
    return images.reshape(len(images), -1).astype(np.float64) / 16.0


@pytest.fixture
def toy():
    return ToyDataset()


@pytest.fixture
def grid_sample():
    """Every combination of a (6, 5, 7) grid twice over with a little noise: z (N × 4), y (N × 3)."""
    rng = np.random.default_rng(1)
    y = np.stack(np.meshgrid(*[np.arange(s) for s in (6, 5, 7)], indexing="ij"), -1).reshape(-1, 3)
    y = np.concatenate([y, y])
    z = np.c_[y + 0.01 * rng.normal(size=y.shape), 0.001 * rng.normal(size=len(y))]
    return z, y
