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


def _run_cli(args):
    """Exit code of ``disentkit ARGS`` run in this process (typer exits through SystemExit)."""
    from disentkit.cli import main

    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def _snapshot(folder):
    """Every file under ``folder`` and its bytes: equal snapshots mean nothing was touched."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def cli():
    return _run_cli


@pytest.fixture
def snapshot():
    return _snapshot


@pytest.fixture
def one_line_error(capsys):
    """The CLI's error message, checked to be a single line without a traceback."""

    def read() -> str:
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
        return err

    return read
