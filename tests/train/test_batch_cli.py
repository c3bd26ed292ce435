"""`disentkit train --seeds/--betas` and `disentkit ensemble train` through model batches: one run
folder per model, resumable; on the CPU, where a batch is slower, one model after another."""

import json

import numpy as np
import pytest

import disentkit.train.batch as batch_module
from disentkit.train.checkpoint import load_checkpoint
from disentkit.train.runs import load_run

QUICK = [
    "--method",
    "beta-vae",
    "--batch",
    "2",
    "--device",
    "cpu",
    "--log-every",
    "1",
    "--checkpoint-every",
    "2",
]


def step_of(run):
    return load_checkpoint(run / "checkpoints" / "latest.safetensors").step


@pytest.fixture
def batch_on_cpu(monkeypatch):
    monkeypatch.setattr(batch_module, "CPU_BATCH_MAX_IMAGES", 10**6)  # the GPU path, here on the CPU


def test_seeds_and_betas_train_one_batch_and_resume(tmp_path, cli, capsys, batch_on_cpu):
    out = tmp_path / "grid"
    assert cli(["train", *QUICK, "--steps", "2", "--seeds", "0-1", "--betas", "1,2", "--out", str(out)]) == 0
    names = ["beta1-seed0", "beta1-seed1", "beta2-seed0", "beta2-seed1"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert all(step_of(out / n) == 2 for n in names)
    assert "one after another" not in capsys.readouterr().out
    model = load_run(out / "beta2-seed1", device="cpu")  # as evaluate, transfer and fragments load it
    assert model.config.beta == 2.0 and model.config.seed == 1
    mu, _ = model.encode(np.zeros((3, 64, 64, 1), np.uint8))
    assert mu.shape == (3, model.config.latent_dim)
    args = ["train", "--resume", "--seeds", "0-1", "--betas", "1,2", "--steps", "4", "--out", str(out)]
    assert cli(args) == 0
    assert all(step_of(out / n) == 4 for n in names)


def test_on_the_cpu_larger_steps_train_one_after_another_and_say_so(tmp_path, cli, capsys):
    quick = list(QUICK)
    quick[QUICK.index("--batch") + 1] = "16"  # 16 images per step: more than a batch pays for here
    out = tmp_path / "grid"
    assert cli(["train", *quick, "--steps", "2", "--seeds", "0,3", "--out", str(out)]) == 0
    assert "slower than solo runs on the CPU at 16 images per model step" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["beta1-seed0", "beta1-seed3"]
    # 2 images per step: a batch is faster on the CPU too, and is used.
    assert cli(["train", *QUICK, "--steps", "2", "--seeds", "0,3", "--out", str(tmp_path / "small")]) == 0
    assert "one after another" not in capsys.readouterr().out


def test_seeds_refuse_bad_ranges_and_companion_methods(tmp_path, cli, one_line_error, capsys, batch_on_cpu):
    assert cli(["train", *QUICK, "--seeds", "0-x", "--out", str(tmp_path / "a")]) == 2
    assert "--seeds" in one_line_error()
    assert cli(["train", *QUICK, "--seed", "1", "--seeds", "0-1", "--out", str(tmp_path / "b")]) == 2
    assert "--seeds alone" in one_line_error()
    # A method that cannot batch trains its models one after another, saying why.
    args = ["train", *QUICK, "--method", "factor-vae", "--steps", "1", "--seeds", "0-1"]
    assert cli([*args, "--out", str(tmp_path / "c")]) == 0
    assert "factor-vae cannot train in a model batch" in capsys.readouterr().out


def test_ensemble_train_batches_by_default_and_solo_on_request(tmp_path, cli, batch_on_cpu):
    args = ["ensemble", "train", "--data", "dsprites", "--method", "beta-vae", "--members", "2"]
    args += ["--steps", "2", "--batch", "2", "--checkpoint-every", "2", "--device", "cpu"]
    assert cli([*args, "--out", str(tmp_path / "batched")]) == 0
    assert cli([*args, "--solo", "--out", str(tmp_path / "solo")]) == 0
    for kind in ("batched", "solo"):
        index = json.loads((tmp_path / kind / "ensemble.json").read_text())
        assert index["members"] == ["member00", "member01"]
        assert all(step_of(tmp_path / kind / m) == 2 for m in index["members"])
        assert (tmp_path / kind / "member01" / "done.json").exists()
    assert cli([*args, "--out", str(tmp_path / "batched")]) == 0  # finished: nothing left to train
