"""A tiny trained source run for the report tests (seconds, not minutes)."""

import pytest

from disentkit.train.config import TrainConfig
from disentkit.train.loop import train


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory):
    """Ada-GVAE on dSprites, 6 steps of 8 pairs: a real run folder with checkpoints and a CSV log."""
    config = TrainConfig(
        data="dsprites", steps=6, batch=8, checkpoint_every=3, log_every=2, lr=5e-4, device="cpu"
    )
    return train(config, tmp_path_factory.mktemp("source") / "run", progress=False)
