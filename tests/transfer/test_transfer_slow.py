"""The paper's finding, end to end: fine-tuning on Noisy-dSprites raises the mean GBT accuracy on a
held-out evaluation sample (never the fine-tuning images), and the quickstart runs and is reused."""

import pytest

from disentkit.train.config import TrainConfig, apply_preset
from disentkit.train.loop import train
from disentkit.transfer.core import TransferConfig, run_transfer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_source(tmp_path_factory):
    out = tmp_path_factory.mktemp("slow") / "source"
    return train(apply_preset(TrainConfig(data="dsprites", device="cpu"), "cpu-quick"), out, progress=False)


def test_finetuning_raises_gbt_accuracy_on_noisy_dsprites(quick_source, tmp_path):
    config = TransferConfig(
        source=str(quick_source),
        target="noisy-dsprites",
        steps=800,
        lr=5e-4,
        eval_size=3000,
        omes_pairs=500,
        classifiers=("gbt",),
        device="cpu",
    )
    result = run_transfer(config, tmp_path / "noisy", progress=False)
    assert result["evaluation"]["held_out"]
    before = result["before"]["downstream"]["gbt"]["mean_test_accuracy_full"]
    after = result["after"]["downstream"]["gbt"]["mean_test_accuracy_full"]
    assert after > before, (before, after)


def test_quickstart_end_to_end_and_reuse(tmp_path):
    from disentkit.transfer.quickstart import run_quickstart

    report = run_quickstart(tmp_path / "qs", device="cpu")
    assert report.exists() and (tmp_path / "qs" / "realphoto" / "transfer.json").exists()
    stamp = report.stat().st_mtime_ns
    source_ckpt = tmp_path / "qs" / "source" / "checkpoints" / "best.safetensors"
    ckpt_stamp = source_ckpt.stat().st_mtime_ns
    run_quickstart(tmp_path / "qs", device="cpu")  # every stage reused: nothing retrained
    assert source_ckpt.stat().st_mtime_ns == ckpt_stamp
    assert report.stat().st_mtime_ns >= stamp
