import os

import numpy as np
import pytest

# Keep tests light on the 2-core machines: one intra-op thread per test process unless told otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory):
    """Ada-GVAE on dSprites, 12 steps of 8 pairs (its latents just awake: a source with none active is
    refused): a real run folder with checkpoints and a CSV log."""
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import train

    out = tmp_path_factory.mktemp("source") / "run"
    config = TrainConfig(
        data="dsprites", steps=12, batch=8, checkpoint_every=3, log_every=2, lr=1e-3, device="cpu"
    )
    return train(config, out, progress=False)
