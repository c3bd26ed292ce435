"""Transfer before/after on tiny runs: results, held-out evaluation, adaptation, reuse, bad input."""

import json

import numpy as np
import pytest

from disentkit.errors import DisentkitError
from disentkit.tables import cell
from disentkit.train.checkpoint import load_checkpoint
from disentkit.transfer.adapt import HeldOut, TargetAdapter, adapt_images
from disentkit.transfer.core import TransferConfig, read_results, run_transfer

FAST = {"steps": 3, "batch": 8, "eval_size": 900, "omes_pairs": 20, "classifiers": ("hgb",), "device": "cpu"}


@pytest.fixture(scope="module")
def realphoto_transfer(tiny_source, tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "realphoto"
    config = TransferConfig(source=str(tiny_source), target="realphoto", **FAST)
    return out, run_transfer(config, out, progress=False)


def test_cell_format():
    assert cell(0.513, 0.68) == "51.3 (+16.7)"
    assert cell(0.5, 0.4) == "50.0 (-10.0)"
    assert cell(0.5, None) == "50.0"
    assert cell(None, 0.3) == "–"


def test_results_before_after_and_table(realphoto_transfer):
    out, result = realphoto_transfer
    assert result["status"] == "complete"
    assert read_results(out)["status"] == "complete"
    for stage in ("before", "after"):
        assert result[stage]["schema"] == "disentkit.evaluation/1"
        scores = result[stage]["metrics"]
        assert len(scores["downstream_hgb"]["test_accuracy_full"]) == 5
        assert 0.0 <= scores["omes"]["omes"] <= 1.0 and "S" in scores["omes"]
        assert "disentanglement" in scores["dci"] and "mig" in scores["mig"]
        assert len(result[stage]["posterior"]["kl_per_dim"]) == 10
    # the fine-tuned model is a different model: its codes (hence scores) moved
    assert result["before"]["posterior"]["kl_per_dim"] != result["after"]["posterior"]["kl_per_dim"]
    rows = result["table"]
    assert [r["factor"] for r in rows] == ["object", "rotation", "scale", "pos_x", "pos_y", "All"]
    assert "(" in rows[0]["HGB full"] and "DCI" in rows[-1] and "MIG" in rows[-1]
    assert result["environment"]["torch"] and result["config"]["steps"] == 3
    assert (out / "finetune" / "checkpoints" / "best.safetensors").exists()


def test_adaptation_is_recorded(realphoto_transfer):
    _, result = realphoto_transfer
    assert result["adaptation"]["channels"].startswith("RGB→grey")
    assert result["adaptation"]["model_shape"] == [64, 64, 1]
    assert result["finetune"]["config"]["method"] == "beta-vae"
    assert result["finetune"]["config"]["beta"] == result["source"]["config"]["beta"]


def test_rerun_reuses_finished_transfer(realphoto_transfer, tiny_source):
    out, result = realphoto_transfer
    stamp = (out / "transfer.json").stat().st_mtime_ns
    again = run_transfer(
        TransferConfig(source=str(tiny_source), target="realphoto", **FAST), out, progress=False
    )
    assert again["after"] == json.loads(json.dumps(result["after"]))
    # where it runs is not what it is: another device reuses the finished transfer too
    elsewhere = TransferConfig(source=str(tiny_source), target="realphoto", **(FAST | {"device": "auto"}))
    assert run_transfer(elsewhere, out, progress=False)["after"] == again["after"]
    assert (out / "transfer.json").stat().st_mtime_ns == stamp


def test_held_out_never_samples_evaluation_factors(rng):
    from disentkit.data import get_dataset

    adapter = TargetAdapter(get_dataset("realphoto"), channels=1)
    held = adapter.sample_factors(3000, rng)
    data = HeldOut(adapter, held)
    drawn = data.sample_factors(5000, rng)
    sizes = adapter.factor_sizes
    assert not np.isin(np.ravel_multi_index(drawn.T, sizes), np.ravel_multi_index(held.T, sizes)).any()
    pairs = data.sample_pairs(50, 1, rng)
    assert pairs.x1.shape == (50, 64, 64, 1)
    assert not np.isin(
        np.ravel_multi_index(pairs.factors2.T, sizes), np.ravel_multi_index(held.T, sizes)
    ).any()


def test_adapt_images_resolution_and_channels():
    rgb = np.zeros((2, 128, 128, 3), np.uint8)
    rgb[:, :64, :, 0] = 255  # top half red
    grey = adapt_images(rgb, 64, 1)
    assert grey.shape == (2, 64, 64, 1)
    assert grey[0, 0, 0, 0] == 76 and grey[0, -1, 0, 0] == 0  # luma of pure red = 0.299
    assert adapt_images(grey, 64, 3).shape == (2, 64, 64, 3)


def test_failed_finetune_keeps_before(tiny_source, tmp_path, monkeypatch):
    import disentkit.transfer.core as core

    def boom(*args, **kwargs):
        raise DisentkitError("disk full")

    monkeypatch.setattr(core, "finetune", boom)
    out = tmp_path / "t"
    with pytest.raises(DisentkitError, match="disk full"):
        run_transfer(
            TransferConfig(source=str(tiny_source), target="noisy-dsprites", **FAST), out, progress=False
        )
    saved = read_results(out)
    assert saved["status"] == "failed" and "disk full" in saved["error"]
    assert saved["before"]["metrics"]["downstream_hgb"]["mean_test_accuracy_full"] > 0


def test_missing_and_incomplete_source(tmp_path, tiny_source):
    with pytest.raises(DisentkitError, match="does not exist"):
        run_transfer(TransferConfig(source=str(tmp_path / "nope"), target="dsprites", **FAST), tmp_path / "o")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text((tiny_source / "config.yaml").read_text())
    with pytest.raises(DisentkitError, match="checkpoint"):
        run_transfer(TransferConfig(source=str(broken), target="dsprites", **FAST), tmp_path / "o")


def test_bad_target_and_sizes(tmp_path, tiny_source):
    with pytest.raises(DisentkitError, match="unknown dataset"):
        run_transfer(TransferConfig(source=str(tiny_source), target="no-such-data", **FAST), tmp_path / "o")
    with pytest.raises(DisentkitError, match="eval_size"):
        TransferConfig(source="x", target="dsprites", eval_size=10).validate()
    big = FAST | {"eval_size": 30000}
    with pytest.raises(DisentkitError, match="too little"):
        run_transfer(TransferConfig(source=str(tiny_source), target="realphoto", **big), tmp_path / "o")


def test_weak_needs_labels():
    from disentkit.train.config import TrainConfig
    from disentkit.transfer.finetune import finetune_config as _finetune_config

    source = TrainConfig(method="ada-gvae", beta=2.0, agreement=1.0, sparsity=8.0)
    weak = _finetune_config(source, TransferConfig(source="s", target="t", weak=True), 1, labelled=True)
    assert weak.method == "ada-gvae" and weak.beta == 2.0 and weak.warmup_steps == 0
    plain = _finetune_config(source, TransferConfig(source="s", target="t"), 1, labelled=True)
    assert plain.method == "beta-vae" and weak.sparsity == plain.sparsity == 0.0 == plain.agreement
    with pytest.raises(DisentkitError, match="weak"):
        _finetune_config(source, TransferConfig(source="s", target="t", weak=True), 1, labelled=False)


def test_unlabelled_image_folder_target(tiny_source, tmp_path, rng):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(420):
        image = np.zeros((64, 64, 3), np.uint8)
        x = int(rng.integers(0, 48))
        image[20:40, x : x + 16] = rng.integers(80, 255, 3)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
    out = tmp_path / "t"
    config = TransferConfig(source=str(tiny_source), target=str(folder), **(FAST | {"eval_size": 200}))
    result = run_transfer(config, out, progress=False)
    assert result["status"] == "complete" and not result["target"]["labelled"]
    assert (
        not any(name.startswith("downstream") for name in result["after"]["metrics"])
        and "gaussian_total_correlation" in result["after"]["metrics"]["unsupervised"]
    )
    assert result["before"]["posterior"]["reconstruction"] > 0
    assert len(result["after"]["posterior"]["kl_per_dim"]) == 10
    assert result["table"][0]["factor"] == "(no labels)"
    with pytest.raises(DisentkitError, match="has 420 images"):
        run_transfer(TransferConfig(source=str(tiny_source), target=str(folder), **FAST), tmp_path / "u")
    with pytest.raises(DisentkitError, match="weak"):
        run_transfer(
            TransferConfig(
                source=str(tiny_source), target=str(folder), weak=True, **(FAST | {"eval_size": 200})
            ),
            tmp_path / "w",
            progress=False,
        )


@pytest.mark.parametrize("source_clip", [None, 1.0])
def test_finetune_keeps_the_source_clipping(source_clip):
    """The loaded Adam moments were accumulated under the source's clipping; a different one would
    rescale every update (unclipped source + clip 1.0 left the encoder almost unchanged)."""
    from disentkit.train.config import TrainConfig
    from disentkit.transfer.finetune import finetune_config as _finetune_config

    source = TrainConfig(method="ada-gvae", clip=source_clip)
    tuned = _finetune_config(source, TransferConfig(source="s", target="t"), 1, labelled=True)
    assert tuned.clip == source_clip and tuned.method == "beta-vae"


@pytest.mark.parametrize(
    ("source_bf16", "asked", "tuned_bf16"), [(True, None, True), (True, False, False), (False, True, True)]
)
def test_finetune_precision_is_the_sources_unless_asked(source_bf16, asked, tuned_bf16):
    from disentkit.train.config import TrainConfig
    from disentkit.transfer.finetune import finetune_config as _finetune_config

    source = TrainConfig(method="ada-gvae", bf16=source_bf16)
    tuned = _finetune_config(source, TransferConfig(source="s", target="t", bf16=asked), 1, labelled=True)
    assert tuned.bf16 is tuned_bf16


def test_a_collapsing_finetune_is_stopped_reported_and_keeps_before(tiny_source, tmp_path):
    # β 3000 makes every latent's KL unaffordable: a real collapse during fine-tuning.
    out = tmp_path / "t"
    config = TransferConfig(
        source=str(tiny_source), target="noisy-dsprites", **(FAST | {"steps": 40, "beta": 3000.0})
    )
    result = run_transfer(config, out, progress=False)
    assert result["status"] == "collapsed" == read_results(out)["status"]
    assert result["collapse"]["step"] < 40 and "posterior collapse" in result["warnings"][0]
    active = {
        phase: result[phase]["posterior"]["active_dims"] for phase in ("before", "after") if phase in result
    }
    assert active["before"] > 0
    assert "after" not in active or active["after"] >= active["before"] / 2
    tuned = (
        load_checkpoint(out / "finetune" / "checkpoints" / "latest.safetensors")
        if (out / "finetune" / "checkpoints" / "latest.safetensors").exists()
        else None
    )
    assert tuned is None or tuned.step < result["collapse"]["step"]
    verdicts = {f["claim"]: f for f in result["findings"]}
    assert "after" in result or verdicts["b"]["holds"] is False
    # a finished (collapsed) transfer is reused, not redone
    assert run_transfer(config, out, progress=False)["collapse"] == result["collapse"]


def test_another_config_in_the_same_folder_is_refused_and_more_steps_extend(tiny_source, tmp_path):
    out = tmp_path / "t"
    base = TransferConfig(source=str(tiny_source), target="noisy-dsprites", **FAST)
    first = run_transfer(base, out, progress=False)
    saved = (out / "transfer.json").read_bytes()
    other = TransferConfig(source=str(tiny_source), target="color-dsprites", **FAST)
    with pytest.raises(
        DisentkitError, match=r"another config \(target 'noisy-dsprites' → 'color-dsprites'\).*--fresh"
    ):
        run_transfer(other, out, progress=False)
    assert (out / "transfer.json").read_bytes() == saved  # nothing touched
    longer = TransferConfig(source=str(tiny_source), target="noisy-dsprites", **(FAST | {"steps": 5}))
    extended = run_transfer(longer, out, progress=False)
    assert load_checkpoint(out / "finetune" / "checkpoints" / "latest.safetensors").step == 5
    assert extended["config"]["steps"] == 5 and extended["status"] == "complete"
    assert extended["before"] == first["before"]
    replaced = run_transfer(other, out, progress=False, fresh=True)
    assert replaced["target"]["name"] == "color-dsprites" and replaced["config"]["steps"] == 3
    assert load_checkpoint(out / "finetune" / "checkpoints" / "latest.safetensors").step == 3


def test_dead_source_foreign_folder_and_unreadable_target_are_one_line(tiny_source, tmp_path):
    from PIL import Image

    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import train

    kept = tmp_path / "kept"
    run_transfer(
        TransferConfig(source=str(tiny_source), target="noisy-dsprites", **FAST), kept, progress=False
    )
    saved = (kept / "transfer.json").read_bytes()
    # six steps leave every latent at the prior: nothing to transfer
    dead = train(
        TrainConfig(data="dsprites", steps=6, batch=8, log_every=2, checkpoint_every=3, device="cpu"),
        tmp_path / "dead",
        progress=False,
    )
    small = tmp_path / "small"  # images the model cannot read (32 px)
    small.mkdir()
    for i in range(20):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(small / f"{i}.png")
    cases = [
        (dead, "noisy-dsprites", {}, "no active latent"),
        (small, "noisy-dsprites", {}, "not a run folder"),
    ]
    cases.append((tiny_source, str(small), {"size": 32}, "32×32; the model reads 64×64"))
    for i, (source, target, target_options, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        config = TransferConfig(
            source=str(source), target=target, target_options=target_options, **(FAST | {"eval_size": 200})
        )
        with pytest.raises(DisentkitError, match=message):
            run_transfer(config, out, progress=False)
        assert not out.exists()  # refused before anything was written
    # --fresh replaces a transfer only once the new one can be made: a dead source leaves it whole
    with pytest.raises(DisentkitError, match="no active latent"):
        dead_config = TransferConfig(source=str(dead), target="noisy-dsprites", **FAST)
        run_transfer(dead_config, kept, progress=False, fresh=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(DisentkitError, match="not empty"):
        run_transfer(
            TransferConfig(source=str(tiny_source), target="noisy-dsprites", **FAST), mine, progress=False
        )
    assert (kept / "transfer.json").read_bytes() == saved and (mine / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("method", ["factor-vae", "annealed-vae", "dip-vae-ii"])
def test_study_method_sources_fine_tune_without_their_weights(method):
    from disentkit.train.config import TrainConfig
    from disentkit.transfer.finetune import finetune_config as _finetune_config

    source = TrainConfig(method=method, gamma=30.0 if method != "dip-vae-ii" else None, capacity_max=None)
    if method == "dip-vae-ii":
        source.lambda_od = 5.0
    plain = _finetune_config(source.validate(), TransferConfig(source="s", target="t"), 1, labelled=True)
    weak = _finetune_config(source, TransferConfig(source="s", target="t", weak=True), 1, labelled=True)
    assert (plain.method, weak.method) == ("beta-vae", "ada-gvae")  # single-image sources get pairs
    assert plain.gamma is plain.lambda_od is weak.gamma is weak.lambda_od is None
