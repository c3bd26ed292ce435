"""The main job end to end and the paper's finding (slow: about 20 minutes on 2 CPU cores).

One quickstart run (``make demo``) feeds both tests: it must finish and be reused on a re-run, and
fine-tuning its source on Noisy-dSprites must raise the mean GBT accuracy on a held-out evaluation
sample (never the fine-tuning images).
"""

import pytest

from disentkit.transfer.core import TransferConfig, run_transfer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    from disentkit.transfer.quickstart import run_quickstart

    out = tmp_path_factory.mktemp("slow") / "qs"
    report = run_quickstart(out, device="cpu")
    return out, report


def test_quickstart_end_to_end_and_reuse(quickstart):
    from disentkit.transfer.quickstart import run_quickstart

    out, report = quickstart
    assert report.exists() and (out / "realphoto" / "transfer.json").exists()
    stamp = report.stat().st_mtime_ns
    source_ckpt = out / "source" / "checkpoints" / "best.safetensors"
    ckpt_stamp = source_ckpt.stat().st_mtime_ns
    results = {t: (out / t / "transfer.json").stat().st_mtime_ns for t in ("noisy-dsprites", "realphoto")}
    run_quickstart(out, device="cpu")  # every stage reused: nothing retrained
    assert source_ckpt.stat().st_mtime_ns == ckpt_stamp
    assert {t: (out / t / "transfer.json").stat().st_mtime_ns for t in results} == results
    assert report.stat().st_mtime_ns >= stamp


def test_finetuning_raises_gbt_accuracy_on_noisy_dsprites(quickstart, tmp_path):
    out, _ = quickstart
    config = TransferConfig(
        source=str(out / "source"),
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
