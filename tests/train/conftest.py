"""A tiny procedural 64×64 dataset (a square on a grid) so training tests never wait for dSprites."""

import numpy as np
import pytest

from disentkit.data.base import GroundTruthDataset


class Squares(GroundTruthDataset):
    """A white square: factor 0 = size (2 values), 1 = x (6), 2 = y (6)."""

    name = "squares"
    factor_names = ("size", "x", "y")
    factor_sizes = (2, 6, 6)
    observation_shape = (64, 64, 1)

    def render(self, factors, rng=None):
        f = self.validate_factors(factors)
        img = np.zeros((len(f), 64, 64, 1), np.uint8)
        for i, (size, x, y) in enumerate(f):
            side = 8 + 6 * size
            img[i, 6 + 8 * y : 6 + 8 * y + side, 6 + 8 * x : 6 + 8 * x + side] = 255
        return img


class ImageSource:
    """An unlabelled image source: only observation_shape and sample_images."""

    observation_shape = (64, 64, 1)
    name = "unlabelled"

    def sample_images(self, n, rng):
        return Squares().sample_images(n, rng)


@pytest.fixture
def squares():
    return Squares()


@pytest.fixture
def image_source():
    return ImageSource()


@pytest.fixture
def tiny_config():
    from disentkit.train.config import TrainConfig

    return TrainConfig(
        data="squares",
        method="ada-gvae",
        steps=6,
        batch=4,
        lr=1e-3,
        checkpoint_every=3,
        log_every=2,
        device="cpu",
    )
