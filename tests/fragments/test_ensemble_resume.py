"""`ensemble train` continues a killed ensemble: finished members kept, the partial one resumed,
the missing ones trained; other settings or a folder that is not an ensemble are refused."""

import json

import pytest
import torch

import disentkit.train.loop as loop
from disentkit.errors import DisentkitError
from disentkit.fragments.ensemble import train_ensemble
from disentkit.train.checkpoint import load_checkpoint

SETTINGS = {"data": "dsprites", "method": "beta-vae", "beta": 1.0, "steps": 4}
SMALL = {"device": "cpu", "batch": 4, "checkpoint_every": 2}


def weights(member):
    return load_checkpoint(member / "checkpoints" / "latest.safetensors").model_state


def test_a_killed_ensemble_is_continued_and_equals_an_uninterrupted_one(tmp_path, monkeypatch, cli, snapshot):
    # Members one after another (a batch's resume is tests/train/test_batch.py's): at 4 images per
    # step the CPU would batch them.
    monkeypatch.setattr("disentkit.train.batch.CPU_BATCH_MAX_IMAGES", 0)
    straight = tmp_path / "straight"
    train_ensemble(**SETTINGS, members=3, out=straight, **SMALL)
    real = loop._checkpoint

    def killed_after_member01_step2(ckpt_dir, model, optimizer, step, *args):
        best = real(ckpt_dir, model, optimizer, step, *args)
        if ckpt_dir.parent.name == "member01" and step == 2:
            raise KeyboardInterrupt  # as a kill right after this checkpoint
        return best

    monkeypatch.setattr(loop, "_checkpoint", killed_after_member01_step2)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train_ensemble(**SETTINGS, members=3, out=out, **SMALL)
    monkeypatch.setattr(loop, "_checkpoint", real)
    assert json.loads((out / "ensemble.json").read_text())["members"] == ["member00"]
    assert not (out / "member02").exists()
    kept = snapshot(out / "member00")

    args = ["ensemble", "train", "--data", "dsprites", "--method", "beta-vae", "--members", "3"]
    args += ["--steps", "4", "--batch", "4", "--checkpoint-every", "2", "--device", "cpu"]
    assert cli([*args, "--out", str(out)]) == 0
    assert snapshot(out / "member00") == kept  # the finished member was not trained again
    for name in ("member00", "member01", "member02"):
        a, b = weights(straight / name), weights(out / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert json.loads((out / "ensemble.json").read_text())["members"] == ["member00", "member01", "member02"]


def test_ensemble_train_bf16_trains_its_members_under_bf16(tmp_path, cli):
    import yaml

    args = ["ensemble", "train", "--data", "dsprites", "--members", "2", "--steps", "2", "--batch", "4"]
    assert cli([*args, "--device", "cpu", "--bf16", "--out", str(tmp_path / "ens")]) == 0
    for name in ("member00", "member01"):
        assert yaml.safe_load((tmp_path / "ens" / name / "config.yaml").read_text())["bf16"] is True
    assert json.loads((tmp_path / "ens" / "ensemble.json").read_text())["bf16"] is True


def test_an_ensemble_folder_refuses_other_settings_and_users_folders(tmp_path, snapshot):
    out = tmp_path / "ens"
    train_ensemble(**SETTINGS, members=1, out=out, **SMALL)
    before = snapshot(out)
    with pytest.raises(DisentkitError, match="beta"):
        train_ensemble(**{**SETTINGS, "beta": 2.0}, members=2, out=out, **SMALL)
    with pytest.raises(DisentkitError, match="bf16 False, not True"):
        train_ensemble(**SETTINGS, members=2, out=out, bf16=True, **SMALL)
    assert snapshot(out) == before
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    with pytest.raises(DisentkitError, match="does not hold an ensemble"):
        train_ensemble(**SETTINGS, members=1, out=user, **SMALL)
    assert [p.name for p in user.iterdir()] == ["notes.txt"]
