"""CPU shards: same loss and update as one step (up to rounding), refused where the batch is coupled
(β-TCVAE, BatchNorm). Resuming a sharded run: tests/train/test_training.py."""

import dataclasses

import pytest
import torch
import yaml

from disentkit.errors import DisentkitError
from disentkit.models.objectives import get_objective
from disentkit.train import TrainConfig, train
from disentkit.train.data import BatchStream
from disentkit.train.loop import build_model
from disentkit.train.step import EagerStep, ShardedStep, cpu_shard_count, shard_bounds

CPU = torch.device("cpu")


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_shard_bounds_cover_the_batch_evenly():
    for n, shards in [(64, 2), (7, 3), (5, 5), (10, 4)]:
        bounds = shard_bounds(n, shards)
        sizes = [stop - start for start, stop in bounds]
        assert len(bounds) == shards and bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def one_step(runner_cls, config, batch, **kwargs):
    model = build_model(config, 1, CPU)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    runner = runner_cls(model, optimizer, get_objective(config.method), config, CPU, **kwargs)
    try:
        runner(batch, config.beta, seed=7)
        return model.state_dict(), runner.pop_log()
    finally:
        runner.close()


@pytest.mark.parametrize("method", ["ada-gvae", "gvae-labels", "beta-vae"])
def test_sharded_step_matches_the_single_step(method, squares, restore_threads):
    config = TrainConfig(data="squares", method=method, batch=7, lr=1e-3, device="cpu")
    batch = BatchStream(squares, method != "beta-vae", 7, 0, 1, False, "cpu").make(0)
    state, log = one_step(EagerStep, config, batch)
    # Uneven shards (2, 3, 2 rows), so the size weights of the combination matter.
    assert [b - a for a, b in shard_bounds(7, 3)] == [2, 3, 2]
    state_sharded, log_sharded = one_step(ShardedStep, config, batch, shards=3)
    for key, value in state.items():
        torch.testing.assert_close(state_sharded[key], value, rtol=1e-4, atol=1e-5)
    assert log.keys() == log_sharded.keys()
    for key, value in log.items():
        assert log_sharded[key] == pytest.approx(value, rel=1e-4, abs=1e-5)
    # The step moved the weights: the comparison is not between two untouched models.
    fresh = build_model(config, 1, CPU).state_dict()
    assert any(not torch.equal(fresh[k], state[k]) for k in fresh)


def test_shards_restore_the_thread_count_after_a_run(tmp_path, squares, tiny_config, restore_threads):
    torch.set_num_threads(2)
    config = dataclasses.replace(tiny_config, cpu_shards=2)
    run = train(config, tmp_path / "run", dataset=squares, progress=False)
    assert torch.get_num_threads() == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["cpu_shards"] == 2


def test_shard_count_auto_explicit_and_refused(restore_threads):
    torch.set_num_threads(2)
    base = TrainConfig(batch=64)
    assert cpu_shard_count(base, CPU) == 2  # 2 threads, 32 pairs per shard
    assert cpu_shard_count(dataclasses.replace(base, batch=16), CPU) == 2  # cpu-quick's batch: 8 pairs each
    assert cpu_shard_count(dataclasses.replace(base, batch=8), CPU) == 1  # shards would be too small
    assert cpu_shard_count(dataclasses.replace(base, method="beta-tcvae"), CPU) == 1
    assert cpu_shard_count(dataclasses.replace(base, arch="conv64-bn"), CPU) == 1
    assert cpu_shard_count(base, torch.device("cuda")) == 1
    assert cpu_shard_count(dataclasses.replace(base, cpu_shards=3), CPU) == 3
    torch.set_num_threads(1)
    assert cpu_shard_count(base, CPU) == 1
    for coupled in ({"method": "beta-tcvae"}, {"arch": "conv64-bn"}):
        with pytest.raises(DisentkitError, match="couples the batch"):
            cpu_shard_count(dataclasses.replace(base, cpu_shards=2, **coupled), CPU)
    with pytest.raises(DisentkitError, match="cpu_shards"):
        TrainConfig(batch=4, cpu_shards=5).validate()


def test_a_run_saved_before_shards_resumes_unsharded(tmp_path, squares, tiny_config, restore_threads):
    torch.set_num_threads(2)
    config = dataclasses.replace(tiny_config, batch=64, steps=2, checkpoint_every=1)
    run = train(config, tmp_path / "run", dataset=squares, progress=False)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["cpu_shards"] == 2  # chosen at the start and written down
    del saved["cpu_shards"]  # as an older run folder has it
    saved["steps"] = 3
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    from disentkit.train.loop import _prepare_run_dir

    resumed_config, _, _ = _prepare_run_dir(run, None, True, None)
    assert resumed_config.cpu_shards == 1
