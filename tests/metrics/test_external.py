"""`disentkit evaluate --encoder pkg.module:factory` and `--torchscript`: any model, clear errors."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

from disentkit.cli import main
from disentkit.errors import DisentkitError
from disentkit.metrics.external import checked

from .conftest import ToyDataset

MODULE = """
import numpy as np

def good():
    return lambda images: images.reshape(len(images), -1).astype(np.float32) / 16.0

def pair():  # (mean, log-variance) as torch tensors, as many VAEs return
    import torch
    def encode(images):
        mu = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 16.0)
        return mu, torch.zeros_like(mu)
    return encode

def flat():
    return lambda images: np.zeros(len(images))

def text():
    return lambda images: np.array([["a", "b"]] * len(images))

def nan():
    return lambda images: np.full((len(images), 2), np.nan)

def needs_64():
    def encode(images):
        if images.shape[1:3] != (64, 64):
            raise ValueError(f"expected 64x64 images, got {images.shape[1:3]}")
        return np.zeros((len(images), 2))
    return encode

def returns_number():
    return 3

not_callable = 7
"""


@pytest.fixture
def toy_data(monkeypatch, tmp_path):
    (tmp_path / "my_encoders.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = ToyDataset((3, 4, 5))
    monkeypatch.setattr("disentkit.data.registry.get_dataset", lambda name, **kw: toy)
    return tmp_path


def _evaluate(args, tmp_path, metrics="omes,mig,irs,jemmig"):
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    argv = ["evaluate", *args, "--data", "toy", "--n", "400", "--pairs", "200", "--metrics", metrics]
    try:
        code = main([*argv, "--json", str(out)])
    except SystemExit as exc:  # typer's standalone mode exits 0 on success
        code = exc.code
    return code, (json.loads(out.read_text()) if out.exists() else None)


@pytest.mark.parametrize("factory", ["good", "pair"])
def test_encoder_factory_runs_every_kind_of_metric(toy_data, factory):
    code, data = _evaluate(["--encoder", f"my_encoders:{factory}"], toy_data)
    assert code == 0
    assert data["metrics"]["omes"]["settings"]["mode"] == "intervention"
    assert data["metrics"]["omes"]["association"] == [0, 1, 2]
    assert (
        data["summary"]["irs"] > 0.5
        and data["context"]["inputs"]["encoder"] == f"--encoder my_encoders:{factory}"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        ("my_encoders", "expected 'pkg.module:factory'"),
        ("my_encoders:missing", "has no attribute 'missing'"),
        ("my_encoders:not_callable", "not callable"),
        ("my_encoders:returns_number", "must return encode(images)"),
        ("my_encoders:flat", "returned shape (400,) for 400 images"),
        ("my_encoders:text", "expected real numbers"),
        ("my_encoders:nan", "NaN or inf for 400 of 400 images"),
        ("my_encoders:needs_64", "does it take this image size?"),
    ],
)
def test_encoder_errors_are_one_line(toy_data, capsys, spec, message):
    code, _ = _evaluate(["--encoder", spec], toy_data, metrics="mig")
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


class Flatten(torch.nn.Module):
    def forward(self, x):
        return x.flatten(1) * 255.0 / 16.0


class Needs64(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64 * 64, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_torchscript_model(toy_data, capsys):
    good, bad = toy_data / "good.pt", toy_data / "bad.pt"
    torch.jit.script(Flatten()).save(str(good))
    torch.jit.script(Needs64()).save(str(bad))
    code, data = _evaluate(["--torchscript", str(good)], toy_data)
    assert code == 0 and data["metrics"]["omes"]["association"] == [0, 1, 2]
    assert _evaluate(["--torchscript", str(bad)], toy_data, metrics="mig")[0] == 2
    assert "does it take this image size?" in capsys.readouterr().err
    (toy_data / "junk.pt").write_bytes(b"not a model")
    assert _evaluate(["--torchscript", str(toy_data / "junk.pt")], toy_data, metrics="mig")[0] == 2
    assert "cannot load" in capsys.readouterr().err
    assert _evaluate(["--torchscript", str(good), "--encoder", "my_encoders:good"], toy_data)[0] == 2
    assert "give one of" in capsys.readouterr().err


def test_checked_wrapper_converts_and_checks():
    run = checked(lambda images: torch.ones(len(images), 3, dtype=torch.float16), "m")
    out = run(np.zeros((4, 2, 2, 1), np.uint8))
    assert out.dtype == np.float64 and out.shape == (4, 3)
    with pytest.raises(DisentkitError, match="returned shape \\(5, 3\\) for 4 images"):
        checked(lambda images: np.zeros((5, 3)), "m")(np.zeros((4, 2, 2, 1), np.uint8))
