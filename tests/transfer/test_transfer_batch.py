"""Transfers of several sources to one target: their fine-tunes train as one model batch, each
transfer's results those of its solo transfer; a bad source is reported and the others go on."""

import dataclasses
import shutil

import pytest
import torch

import disentkit.train.batch as batch
import disentkit.transfer.core as core
from disentkit.train.checkpoint import load_checkpoint
from disentkit.transfer.core import TransferConfig, run_transfer, run_transfers

FAST = {"steps": 4, "batch": 8, "eval_size": 900, "omes_pairs": 20, "classifiers": ("hgb",), "device": "cpu"}
# As tests/train/test_batch.py: a batched convolution sums in another order than a solo one.
RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def two_sources(tiny_source, tmp_path_factory):
    """A folder of two runs: the session's tiny source and one of another seed, β and length."""
    from disentkit.config import load_config
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import train

    folder = tmp_path_factory.mktemp("sources")
    shutil.copytree(tiny_source, folder / "beta1-seed0")
    config = dataclasses.replace(
        load_config(TrainConfig, tiny_source / "config.yaml"), seed=1, beta=2.0, steps=15
    )
    train(config, folder / "beta2-seed1", progress=False)
    return folder


def latest(run):
    return load_checkpoint(run / "finetune" / "checkpoints" / "latest.safetensors")


def test_fine_tunes_of_two_sources_train_as_one_batch_and_equal_their_solo_transfers(
    two_sources, tmp_path, monkeypatch
):
    monkeypatch.setattr(batch, "CPU_BATCH_MAX_IMAGES", 10**6)  # the batch path, as on a GPU
    batches = []
    real = batch.train_batch
    monkeypatch.setattr(
        batch, "train_batch", lambda configs, *a, **k: batches.append(len(configs)) or real(configs, *a, **k)
    )
    opened = []
    real_load = core.load_target
    monkeypatch.setattr(core, "load_target", lambda *a: opened.append(a) or real_load(*a))
    sources = sorted(two_sources.iterdir())
    # Another seed: another evaluation sample and held-out data, still one batch of fine-tunes.
    configs = [
        TransferConfig(source=str(s), target="realphoto", seed=i, **FAST) for i, s in enumerate(sources)
    ]
    results = run_transfers(configs, [tmp_path / "batch" / s.name for s in sources], progress=False)
    assert batches == [2] and len(opened) == 1  # one batch of fine-tunes, the target opened once
    assert [r["status"] for r in results] == ["complete", "complete"]
    starts = {
        int(load_checkpoint(s / "checkpoints" / "best.safetensors").optimizer_state["state"][0]["step"])
        for s in sources
    }
    assert len(starts) == 2  # the fine-tunes start from Adam states of different steps
    for config, source, result in zip(configs, sources, results, strict=True):
        solo = run_transfer(config, tmp_path / "solo" / source.name, progress=False)
        assert result["before"] == solo["before"]
        a, b = latest(tmp_path / "batch" / source.name), latest(tmp_path / "solo" / source.name)
        assert a.step == b.step == FAST["steps"]
        for key in a.model_state:
            torch.testing.assert_close(a.model_state[key], b.model_state[key], rtol=RTOL, atol=ATOL, msg=key)
        assert result["finetune"]["config"]["beta"] == solo["finetune"]["config"]["beta"]
    assert results[0]["finetune"]["config"]["beta"] != results[1]["finetune"]["config"]["beta"]


def test_a_folder_of_runs_transfers_each_and_reports_a_bad_one(two_sources, tmp_path, capsys, cli):
    folder = tmp_path / "runs"
    shutil.copytree(two_sources, folder)
    (folder / "broken").mkdir()
    (folder / "broken" / "config.yaml").write_text((folder / "beta1-seed0" / "config.yaml").read_text())
    out = tmp_path / "out"
    args = ["transfer", "--source", folder, "--target", "realphoto", "--out", out, "--steps", 2]
    args += ["--eval-size", 900, "--omes-pairs", 20, "--classifiers", "hgb", "--device", "cpu"]
    assert cli(args) == 1
    captured = capsys.readouterr()
    assert "broken:" in captured.err and "refused" in captured.out
    assert "one after another" in " ".join((captured.out + captured.err).split())  # the CPU says so
    for name in ("beta1-seed0", "beta2-seed1"):
        assert (out / name / "transfer.json").exists() and name in captured.out
    assert not (out / "broken").exists()
    # Run again: the finished transfers are reused, nothing is trained twice.
    before = (out / "beta1-seed0" / "transfer.json").read_bytes()
    assert cli(args) == 1
    assert (out / "beta1-seed0" / "transfer.json").read_bytes() == before
