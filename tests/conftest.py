import os

import numpy as np
import pytest

# Keep tests light on the 2-core machines: one intra-op thread per test process unless told otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
