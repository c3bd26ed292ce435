"""Training loop: run folder, checkpoints, resume equivalence, NaN stop, corrupt checkpoints, load_run."""

import dataclasses

import numpy as np
import pytest
import torch
import yaml

import disentkit
import disentkit.train.loop as loop
import disentkit.train.step as step_module
from disentkit.config import save_config
from disentkit.device import pick_device
from disentkit.errors import DisentkitError
from disentkit.train import TrainConfig, TrainingDiverged, apply_preset, load_run, train
from disentkit.train.checkpoint import load_checkpoint, restore


def weights(run):
    return load_checkpoint(run / "checkpoints" / "latest.safetensors").model_state


def fail_after(monkeypatch, calls, exc):
    """Make the loss raise ``exc`` (or return NaN) from call number ``calls`` on."""
    real, count = step_module.vae_loss, {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        out = real(*args, **kwargs)
        if count["n"] > calls:
            if exc == "nan":
                out.loss = out.loss * float("nan")
                out.terms["loss"] = out.loss.detach()
            else:
                raise exc
        return out

    monkeypatch.setattr(step_module, "vae_loss", wrapped)


def test_run_folder_and_load_run(tmp_path, squares, tiny_config):
    run = train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    for name in ("config.yaml", "environment.yaml", "metrics.csv"):
        assert (run / name).exists()
    assert (run / "checkpoints" / "best.safetensors").exists()
    assert any((run / "tensorboard").iterdir())
    environment = yaml.safe_load((run / "environment.yaml").read_text())
    assert environment["torch_threads"] == torch.get_num_threads()  # CPU numbers depend on it
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "kl_dim/9" in header and "lr" in header and "shared_dims" in header
    # "auto" is resolved by pick_device, the one place that resolves devices, and is the default.
    assert (
        disentkit.load_run(run, device="auto").device == pick_device("auto") == disentkit.load_run(run).device
    )
    model = disentkit.load_run(run, device="cpu")
    # Saved with the shard count fixed (tiny batches are not split).
    assert model.config == dataclasses.replace(tiny_config, cpu_shards=1) and model.step in (3, 6)
    images = squares.sample_images(5, np.random.default_rng(0))
    mu, logvar = model.encode(images)
    assert mu.shape == logvar.shape == (5, 10) and mu.dtype == np.float32
    mu_float, _ = model.encode(images.astype(np.float32) / 255.0)
    np.testing.assert_allclose(mu, mu_float, atol=1e-5)
    assert model.decode(mu).shape == (5, 64, 64, 1)
    with pytest.raises(DisentkitError, match="already holds a run"):
        train(tiny_config, run, dataset=squares, progress=False)


def test_checkpoint_round_trip_restores_weights_and_adam(tmp_path, squares, tiny_config):
    run = train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    ckpt = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert ckpt.step == 6 and ckpt.optimizer_state["state"]
    model = load_run(run, device="cpu", checkpoint="latest").model
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt.model_state[key])
    opt = torch.optim.Adam(model.parameters())
    opt.load_state_dict(ckpt.optimizer_state)
    assert float(opt.state_dict()["state"][0]["step"]) == 6


def test_restore_keeps_the_live_optimizers_implementation_flags(tmp_path, squares, tiny_config):
    """A CUDA-graph run's checkpoint (fused, capturable Adam) restores into a plain CPU Adam."""
    run = train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    ckpt = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    for group in ckpt.optimizer_state["param_groups"]:
        group.update(fused=True, capturable=True)  # as a CUDA-graph run saves them
    model = load_run(run, device="cpu", checkpoint="latest").model
    plain = torch.optim.Adam(model.parameters(), lr=0.5)
    restore(ckpt, model, plain)
    group = plain.param_groups[0]
    assert (group["fused"], group["capturable"]) == (None, False)  # the live optimizer's
    # everything else is the checkpoint's: its rate (not 0.5) and its step count
    assert group["lr"] == tiny_config.lr and float(plain.state_dict()["state"][0]["step"]) == 6


@pytest.mark.parametrize(("shards", "head_decay"), [(1, 0.0), (2, 0.0), (1, 0.5)])
def test_resume_is_bit_identical_to_an_uninterrupted_run(
    tmp_path, squares, tiny_config, monkeypatch, shards, head_decay
):
    config = dataclasses.replace(tiny_config, cpu_shards=shards, head_decay=head_decay)
    straight = train(config, tmp_path / "straight", dataset=squares, progress=False)
    # One loss call per shard and step: killed during step 5, after the step-3 checkpoint.
    fail_after(monkeypatch, 4 * shards, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "killed", dataset=squares, progress=False)
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "latest.safetensors").step == 3
    monkeypatch.undo()
    resumed = train(None, tmp_path / "killed", dataset=squares, resume=True, progress=False)
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = (resumed / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4", "6"]


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, squares, tiny_config, monkeypatch):
    fail_after(monkeypatch, 3, "nan")
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert ckpt.step == 3 and all(
        torch.isfinite(v).all() for v in ckpt.model_state.values() if v.is_floating_point()
    )


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path, squares, tiny_config):
    run = train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    latest = run / "checkpoints" / "latest.safetensors"
    other = dataclasses.replace(tiny_config, latent_dim=4)
    with pytest.raises(DisentkitError, match="another model"):
        train(other, tmp_path / "ft", dataset=squares, init_from=run, progress=False)
    payload = latest.read_bytes()
    latest.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DisentkitError, match="corrupt"):
        load_run(run, device="cpu", checkpoint="latest")
    latest.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DisentkitError, match="not a disentkit checkpoint"):
        train(None, run, dataset=squares, resume=True, progress=False)


def test_unlabelled_source_beta_vae_and_init_from(tmp_path, squares, image_source, tiny_config):
    source = train(tiny_config, tmp_path / "src", dataset=squares, progress=False)
    ft = dataclasses.replace(tiny_config, method="beta-vae", lr=1e-4, steps=3)
    run = train(ft, tmp_path / "ft", dataset=image_source, init_from=source, progress=False)
    ckpt = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    # Adam's step count continues from the source's: its optimiser state was loaded.
    assert float(ckpt.optimizer_state["state"][0]["step"]) == 6 + 3
    assert ckpt.optimizer_state["param_groups"][0]["lr"] == pytest.approx(1e-4)
    with pytest.raises(DisentkitError, match="weak pairs"):
        train(tiny_config, tmp_path / "pairs", dataset=image_source, progress=False)


@pytest.mark.parametrize("method", ["beta-tcvae", "ada-ml-vae", "gvae-labels"])
def test_every_method_trains(tmp_path, squares, tiny_config, method):
    config = dataclasses.replace(tiny_config, method=method, steps=2, checkpoint_every=2, arch="conv64-bn")
    run = train(config, tmp_path / method, dataset=squares, progress=False)
    assert load_checkpoint(run / "checkpoints" / "best.safetensors").step == 2


def test_config_validation_and_presets():
    with pytest.raises(DisentkitError, match="ada-gvae"):
        TrainConfig(method="adagvae").validate()
    with pytest.raises(DisentkitError, match="conv64"):
        TrainConfig(arch="mlp").validate()
    with pytest.raises(DisentkitError, match="cpu-quick"):
        apply_preset(TrainConfig(), "fast")
    paper = apply_preset(TrainConfig(beta=2.0), "paper", explicit={"beta"})
    assert (paper.steps, paper.lr, paper.warmup_steps, paper.clip, paper.beta) == (
        400_000,
        1e-4,
        50_000,
        1.0,
        2.0,
    )
    assert loop.beta_at(paper, 0) == pytest.approx(2.0 / 50_000) and loop.beta_at(paper, 60_000) == 2.0


def test_beta_anneals_down_from_beta_start():
    config = TrainConfig(beta=2.0, beta_start=8.0, warmup_steps=100).validate()
    betas = [loop.beta_at(config, s) for s in (0, 49, 99, 500)]
    assert betas[0] == pytest.approx(8.0 - 6.0 / 100) and betas[1] == pytest.approx(5.0)
    assert betas[2] == betas[3] == 2.0
    assert loop.beta_at(dataclasses.replace(config, warmup_steps=0), 0) == 2.0
    with pytest.raises(DisentkitError, match="beta_start"):
        TrainConfig(beta_start=-1.0).validate()


def test_lr_decay_schedule_and_log(tmp_path, squares, tiny_config):
    from disentkit.train.loop import lr_at

    config = dataclasses.replace(tiny_config, lr=1e-3, lr_decay=0.5)
    rates = [lr_at(config, s) for s in range(config.steps)]
    flat = config.steps - config.steps // 2 + 1
    assert rates[:flat] == [1e-3] * flat  # constant, then a linear fall towards 0
    assert all(a > b > 0 for a, b in zip(rates[flat - 1 :], rates[flat:], strict=False))
    assert lr_at(dataclasses.replace(config, lr_decay=0.0), config.steps - 1) == 1e-3
    run = train(config, tmp_path / "run", dataset=squares, progress=False)
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    logged = [float(r.split(",")[header.split(",").index("lr")]) for r in rows]
    assert logged[0] == 1e-3 and logged[-1] < logged[0]
    with pytest.raises(DisentkitError, match="lr_decay"):
        dataclasses.replace(config, lr_decay=1.5).validate()
    with pytest.raises(DisentkitError, match="cuda_graphs"):
        dataclasses.replace(config, cuda_graphs=True).validate()


def test_head_decay_shrinks_only_the_posterior_head_weights(tiny_config):
    cpu = torch.device("cpu")
    config = dataclasses.replace(tiny_config, lr=1e-3, head_decay=2.0)
    models = [loop.build_model(config, 1, cpu) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    start = {k: v.clone() for k, v in models[0].state_dict().items()}
    images = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    for model, cfg in zip(models, [dataclasses.replace(config, head_decay=0.0), config], strict=True):
        optimizer = loop._make_optimizer(model, cfg, cpu)
        mu, logvar = model.encode(images)
        (mu.square().sum() + logvar.exp().sum() + model.decoder(mu).sum()).backward()
        optimizer.step()
    plain, decayed = (m.state_dict() for m in models)
    head = {"encoder.mu.weight", "encoder.logvar.weight"}
    for key in plain:
        if key in head:  # AdamW: w ← w − lr·decay·w₀ − (the Adam step), the same Adam step as plain
            torch.testing.assert_close(decayed[key], plain[key] - 1e-3 * 2.0 * start[key])
        else:
            assert torch.equal(decayed[key], plain[key]), key
    with pytest.raises(DisentkitError, match="head_decay"):
        dataclasses.replace(config, head_decay=-1.0).validate()


def test_cpu_models_run_channels_last_with_the_same_numbers(tiny_config):
    model = loop.build_model(tiny_config, 1, torch.device("cpu"))
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = loop.build_model(tiny_config, 1, torch.device("cpu")).to(memory_format=torch.contiguous_format)
    x = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for a, b in zip(model.encode(x), plain.encode(x), strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(model.decode(a), plain.decode(a), atol=1e-3, rtol=1e-4)


def test_train_or_resume_clears_a_checkpointless_folder_and_continues_a_run(tmp_path, squares, tiny_config):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "junk.txt").write_text("left by a run killed before its first checkpoint")
    assert not loop.resumable(folder)
    loop.train_or_resume(tiny_config, folder, dataset=squares, progress=False)
    assert not (folder / "junk.txt").exists() and loop.resumable(folder)
    before = weights(folder)
    longer = dataclasses.replace(tiny_config, steps=tiny_config.steps + 2)
    save_config(longer, folder / "config.yaml")  # a resumed run reads its own folder's config
    loop.train_or_resume(longer, folder, dataset=squares, progress=False, init_from=tmp_path / "ignored")
    assert load_checkpoint(folder / "checkpoints" / "latest.safetensors").step == 8
    assert any(not torch.equal(before[k], weights(folder)[k]) for k in before)


def test_batch_stream_is_the_same_with_or_without_a_background_renderer(squares):
    from disentkit.train.data import BatchStream

    def batches(prefetch, steps=(0, 1, 2, 5, 4)):
        stream = BatchStream(
            squares, True, 8, seed=3, k=1, allow_equal=False, device="cpu", prefetch=prefetch
        )
        try:
            return [stream.get(s) for s in steps], stream
        finally:
            stream.close()

    ahead, threaded = batches(prefetch=2)
    inline, caller = batches(prefetch=None)
    assert threaded.prefetch == 2 and caller.prefetch == 0  # on CPU the default renders in the caller
    for a, b in zip(ahead, inline, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(ahead[0]["x1"], ahead[1]["x1"])  # steps get different batches
