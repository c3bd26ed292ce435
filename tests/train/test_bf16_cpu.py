"""bf16 autocast on the CPU: it reaches the network in every CPU step runner (one step, the shards'
worker threads, a model batch), weights and Adam moments stay float32, and the loss stays within
bfloat16 rounding of float32's."""

import dataclasses

import pytest
import torch

from disentkit.models.objectives import get_objective
from disentkit.train import TrainConfig, train
from disentkit.train.batch import train_batch
from disentkit.train.data import BatchStream
from disentkit.train.loop import build_model
from disentkit.train.step import EagerStep, ShardedStep, cpu_shard_count

CPU = torch.device("cpu")
# bfloat16 keeps 8 significant bits (relative rounding 2⁻⁹ ≈ 2e-3 per value); a loss summed over
# 4,096 pixels differed from float32's by 1.3e-5 relative in one step here. 1e-2 bounds rounding,
# not a different computation (another seed's batch moves the loss by far more).
BF16_REL = 1e-2


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def one_step(runner_cls, config, batch, **kwargs):
    torch.manual_seed(0)
    model = build_model(config, 1, CPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    runner = runner_cls(model, optimizer, get_objective(config.method), config, CPU, **kwargs)
    try:
        runner(batch, config.beta, seed=7)
        return model.state_dict(), optimizer.state_dict()["state"], runner.pop_log()
    finally:
        runner.close()


@pytest.mark.parametrize(("runner", "kwargs"), [(EagerStep, {}), (ShardedStep, {"shards": 2})])
def test_bf16_reaches_the_network_of_every_cpu_step(runner, kwargs, squares, restore_threads):
    config = TrainConfig(data="squares", method="ada-gvae", batch=8, lr=1e-3, device="cpu")
    batch = BatchStream(squares, True, 8, 0, 1, False, "cpu").make(0)
    _, _, log32 = one_step(runner, config, batch, **kwargs)
    state, adam, log16 = one_step(runner, dataclasses.replace(config, bf16=True), batch, **kwargs)
    # Autocast is per thread: without it in the shard workers this loss would be float32's exactly.
    assert log16["loss"] != log32["loss"]
    assert log16["loss"] == pytest.approx(log32["loss"], rel=BF16_REL)
    assert all(v.dtype == torch.float32 for v in state.values())
    assert all(m["exp_avg"].dtype == torch.float32 for m in adam.values())


def test_a_bf16_model_batch_on_the_cpu_tracks_its_bf16_solo_runs(tmp_path, squares, tiny_config):
    base = dataclasses.replace(
        tiny_config, method="gvae-labels", steps=10, log_every=5, cpu_shards=1, bf16=True
    )
    configs = [dataclasses.replace(base, seed=s, beta=b) for s, b in ((0, 1.0), (1, 2.0))]
    outs = [tmp_path / f"batch{i}" for i in range(2)]
    members = train_batch(configs, outs, dataset=squares, progress=False)
    assert [m.status for m in members] == ["finished", "finished"]
    for config, out in zip(configs, outs, strict=True):
        solo = train(config, tmp_path / f"solo{config.seed}", dataset=squares, progress=False)
        fp32 = train(
            dataclasses.replace(config, bf16=False),
            tmp_path / f"fp32-{config.seed}",
            dataset=squares,
            progress=False,
        )
        rows = [(run / "metrics.csv").read_text().splitlines() for run in (out, solo, fp32)]
        header = rows[0][0].split(",")
        loss = header.index("loss")
        batch_loss, solo_loss, fp32_loss = ([float(r.split(",")[loss]) for r in rs[1:]] for rs in rows)
        assert batch_loss == pytest.approx(solo_loss, rel=BF16_REL)
        assert batch_loss != fp32_loss  # the batch ran its network in bf16 too
        assert batch_loss == pytest.approx(fp32_loss, rel=BF16_REL)


def test_bf16_shards_only_batches_of_64_images_per_shard(restore_threads):
    torch.set_num_threads(2)
    bf16 = TrainConfig(method="ada-gvae", batch=64, bf16=True)
    assert cpu_shard_count(bf16, CPU) == 2  # 64 pairs: 64 images per shard
    assert cpu_shard_count(dataclasses.replace(bf16, method="beta-vae", batch=128), CPU) == 2
    # Where float32 shards (8 pairs each) the bf16 step stays one 2-thread step: it was faster there.
    assert cpu_shard_count(dataclasses.replace(bf16, batch=16, bf16=False), CPU) == 2
    for smaller in ({"batch": 16}, {"batch": 32}, {"method": "beta-vae", "batch": 64}):
        assert cpu_shard_count(dataclasses.replace(bf16, **smaller), CPU) == 1, smaller


def test_bf16_on_a_cpu_without_native_bfloat16_says_it_is_slower(tmp_path, squares, tiny_config, monkeypatch):
    import disentkit.console
    import disentkit.device

    lines = []
    monkeypatch.setattr(
        disentkit.console, "say", lambda enabled, message, style="bold": lines.append(message)
    )
    monkeypatch.setattr(disentkit.device, "cpu_has_native_bf16", lambda: False)
    train(
        dataclasses.replace(tiny_config, steps=2, bf16=True),
        tmp_path / "slow",
        dataset=squares,
        progress=False,
    )
    assert lines == [
        "bf16: this CPU has no AVX512-BF16 or AMX, so bf16 runs slower than float32 here; drop --bf16"
    ]
    lines.clear()
    train(dataclasses.replace(tiny_config, steps=2), tmp_path / "fp32", dataset=squares, progress=False)
    assert lines == []
