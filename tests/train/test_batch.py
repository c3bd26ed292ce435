"""Model batches: each model trained in a batch is its solo run (same data, same weights up to float
rounding), writes a solo run folder, resumes, and stops alone when its loss goes NaN."""

import dataclasses
import json

import pytest
import torch

import disentkit.train.loop as loop
from disentkit.errors import DisentkitError
from disentkit.train import train
from disentkit.train.batch import ModelBatch, check_batchable, train_batch
from disentkit.train.checkpoint import load_checkpoint
from disentkit.train.data import BatchStream

# Batched convolutions sum in another order than a solo run's (a grouped kernel, other blocking),
# so weights agree to float32 rounding grown over the steps, not bitwise. Measured on conv64 after
# 50 steps (the test's configs): max |Δ| 1.2e-6, per-tensor relative difference ≤ 6e-7; another
# seed differs by ~1 relative. These bounds leave ~10× room over the measured rounding.
RTOL, ATOL = 1e-4, 1e-5


def weights(run, name="latest"):
    return load_checkpoint(run / "checkpoints" / f"{name}.safetensors")


def assert_close_states(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=RTOL, atol=ATOL, msg=key)


@pytest.fixture
def base(tiny_config):
    return dataclasses.replace(
        tiny_config,
        method="gvae-labels",
        steps=50,
        lr=5e-4,
        checkpoint_every=25,
        log_every=10,
        latent_dim=4,
        cpu_shards=1,
    )


def three(base):
    return [
        dataclasses.replace(base, seed=0, beta=1.0, warmup_steps=20, beta_start=0.1),  # β moves each step
        dataclasses.replace(base, seed=1, beta=2.0),
        dataclasses.replace(base, seed=2, beta=0.5, clip=None),
    ]


def test_three_models_in_a_batch_are_their_solo_runs(tmp_path, squares, base):
    configs = three(base)
    outs = [tmp_path / f"batch{i}" for i in range(3)]
    members = train_batch(configs, outs, dataset=squares, progress=False)
    assert [m.status for m in members] == ["finished"] * 3
    for config, out in zip(configs, outs, strict=True):
        solo = train(config, tmp_path / f"solo{config.seed}", dataset=squares, progress=False)
        a, b = weights(out), weights(solo)
        assert a.step == b.step == 50 and a.meta["identity"] == b.meta["identity"]
        assert_close_states(a.model_state, b.model_state)
        assert_close_states(a.optimizer_state["state"], b.optimizer_state["state"])
        assert a.optimizer_state["param_groups"] == b.optimizer_state["param_groups"]
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in solo.iterdir())
        assert (out / "config.yaml").read_text() == (solo / "config.yaml").read_text()
        batch_rows = (out / "metrics.csv").read_text().splitlines()
        solo_rows = (solo / "metrics.csv").read_text().splitlines()
        assert batch_rows[0] == solo_rows[0] and len(batch_rows) == len(solo_rows)
    # Different seeds did train different models (the tolerance is not vacuous).
    first, second = weights(outs[0]).model_state, weights(outs[1]).model_state
    assert any(not torch.allclose(first[k], second[k], rtol=RTOL, atol=ATOL) for k in first)


def test_batchnorm_keeps_each_models_statistics(tmp_path, squares, base):
    # One step, whose forward pass sets the running statistics from the initial weights and the
    # model's own batch. The weights are then init + one Adam step of at most ~lr per element, whose
    # sign follows rounding noise where a gradient is ~0 (conv64-bn's conv biases before a
    # BatchNorm have an exact gradient of 0): they agree within 2·lr, not to float tolerance.
    configs = [dataclasses.replace(c, arch="conv64-bn", steps=1, log_every=1) for c in three(base)]
    outs = [tmp_path / f"batch{i}" for i in range(3)]
    train_batch(configs, outs, dataset=squares, progress=False)
    means = []
    for config, out in zip(configs, outs, strict=True):
        solo = train(config, tmp_path / f"solo{config.seed}", dataset=squares, progress=False)
        a, b = weights(out).model_state, weights(solo).model_state
        statistics = [k for k in a if "running" in k]
        assert len(statistics) == 6
        assert_close_states({k: a[k] for k in statistics}, {k: b[k] for k in statistics})
        for key in set(a) - set(statistics):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=2 * config.lr, msg=key)
        means.append(a["encoder.features.1.running_mean"])
    assert not torch.allclose(means[0], means[1], rtol=RTOL, atol=ATOL)


def test_a_batch_steps_each_model_on_its_solo_data_stream(squares, base):
    configs = three(base)
    streams = [BatchStream(squares, True, c.batch, c.seed, c.k, c.allow_equal, "cpu") for c in configs]
    for step in (0, 7):
        batches = [s.get(step) for s in streams]
        for config, got in zip(configs, batches, strict=True):
            solo = BatchStream(squares, True, config.batch, config.seed, config.k, config.allow_equal, "cpu")
            want = solo.make(step)
            assert all(torch.equal(got[k], want[k]) for k in want)
        assert not torch.equal(batches[0]["x1"], batches[1]["x1"])
    assert ModelBatch  # the stacked step consumes exactly these per-model batches (train/batch.py)


def test_a_batch_killed_between_checkpoint_writes_resumes_to_the_uninterrupted_batch(
    tmp_path, squares, base, monkeypatch
):
    configs = [dataclasses.replace(c, steps=12, checkpoint_every=4, log_every=2) for c in three(base)]
    straight = [tmp_path / f"straight{i}" for i in range(3)]
    train_batch(configs, straight, dataset=squares, progress=False)
    outs = [tmp_path / f"run{i}" for i in range(3)]
    real = loop._checkpoint

    def killed_after_run1_step8(ckpt_dir, model, optimizer, step, *args):
        best = real(ckpt_dir, model, optimizer, step, *args)
        if ckpt_dir.parent.name == "run1" and step == 8:
            raise KeyboardInterrupt  # a kill after this write: run2 is left a checkpoint behind
        return best

    monkeypatch.setattr(loop, "_checkpoint", killed_after_run1_step8)
    with pytest.raises(KeyboardInterrupt):
        train_batch(configs, outs, dataset=squares, progress=False)
    monkeypatch.undo()
    assert [weights(out).step for out in outs] == [8, 8, 4]
    members = train_batch([None] * 3, outs, dataset=squares, resume=True, progress=False)
    assert [m.status for m in members] == ["finished"] * 3
    for a, b in zip(outs, straight, strict=True):
        assert weights(a).step == 12
        assert_close_states(weights(a).model_state, weights(b).model_state)
        assert_close_states(weights(a).optimizer_state["state"], weights(b).optimizer_state["state"])
        rows = (a / "metrics.csv").read_text().splitlines()
        assert [r.split(",")[0] for r in rows[1:]] == ["2", "4", "6", "8", "10", "12"]


def test_a_batch_extends_with_more_steps(tmp_path, squares, base):
    configs = [dataclasses.replace(c, steps=4, checkpoint_every=4, log_every=2) for c in three(base)]
    outs = [tmp_path / f"run{i}" for i in range(3)]
    train_batch(configs, outs, dataset=squares, progress=False)
    train_batch([None] * 3, outs, dataset=squares, resume=True, changes={"steps": 6}, progress=False)
    assert [weights(out).step for out in outs] == [6, 6, 6]


def test_a_diverging_model_stops_alone_and_says_so(tmp_path, squares, base):
    configs = [dataclasses.replace(c, steps=12, checkpoint_every=4, log_every=2) for c in three(base)]
    outs = [tmp_path / f"run{i}" for i in range(3)]
    original = ModelBatch.step
    calls = []

    def poisoned(self, batches, betas, seeds):
        original(self, batches, betas, seeds)
        calls.append(1)
        if len(calls) == 6:  # after step 6, model 1's weights become NaN
            with torch.no_grad():
                for p in self.params.values():
                    p[1].fill_(float("nan"))

    ModelBatch.step = poisoned
    try:
        members = train_batch(configs, outs, dataset=squares, progress=False)
    finally:
        ModelBatch.step = original
    assert [m.status for m in members] == ["finished", "diverged", "finished"]
    record = json.loads((outs[1] / "diverged.json").read_text())
    assert record["step"] == 8 and "NaN" in record["message"]
    assert weights(outs[1]).step == 4  # its last good checkpoint is kept
    assert all(weights(out).step == 12 for out in (outs[0], outs[2]))
    last = load_checkpoint(outs[0] / "checkpoints" / "latest.safetensors").model_state
    assert all(torch.isfinite(v).all() for v in last.values())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"method": "factor-vae"}, "cannot train in a model batch"),
        ({"cpu_shards": 2}, "cpu_shards"),
        ({"head_decay": 0.1}, "head_decay"),
    ],
)
def test_unbatchable_configs_are_refused_in_one_line(base, change, match):
    configs = [dataclasses.replace(c, **change) for c in three(base)]
    with pytest.raises(DisentkitError, match=match):
        check_batchable(configs)


def test_cuda_graphs_leave_a_cpu_batch_eager(tmp_path, squares, base):
    # cuda_graphs asks for a captured step on CUDA only; on the CPU the batch steps as without it.
    configs = three(dataclasses.replace(base, steps=10, checkpoint_every=5))
    graphed = [dataclasses.replace(c, cuda_graphs=True) for c in configs]
    check_batchable(graphed)
    plain = train_batch(configs, [tmp_path / f"plain{i}" for i in range(3)], dataset=squares, progress=False)
    asked = train_batch(graphed, [tmp_path / f"graphs{i}" for i in range(3)], dataset=squares, progress=False)
    for a, b in zip(plain, asked, strict=True):
        assert a.status == b.status == "finished"
        first, second = weights(a.out).model_state, weights(b.out).model_state
        assert all(torch.equal(first[k], second[k]) for k in first)


class ReplayedOnCPU:
    """Stands in for a batch's CUDA graph on the CPU: a replay runs the step on the static inputs."""

    def __init__(self, batch):
        self.batch = batch

    def replay(self):
        self.batch._update(*self.batch.static)


def test_the_graph_path_feeds_every_replay_its_own_steps_inputs(tmp_path, squares, base, monkeypatch):
    # The CUDA graph's bookkeeping, checked on the CPU with a stand-in graph: warm-up steps, the
    # capture, each replay's batches, noise and (scheduled) β written into the static inputs, and a
    # new capture after a model stops. It must train exactly as the eager batch.
    configs = [
        dataclasses.replace(c, steps=12, checkpoint_every=4, log_every=2, warmup_steps=8, beta_start=0.1)
        for c in three(base)
    ]
    original_step = ModelBatch.step

    def poisoned(self, batches, betas, seeds):
        original_step(self, batches, betas, seeds)
        if self.seen == 6 and len(self.members) == 3:  # model 1 → NaN after step 6
            with torch.no_grad():
                for p in self.params.values():
                    p[1].fill_(float("nan"))

    monkeypatch.setattr(ModelBatch, "step", poisoned)
    eager = train_batch(configs, [tmp_path / f"eager{i}" for i in range(3)], dataset=squares, progress=False)

    captures = []

    def capture(self, inputs):
        self.static, self.graph = tuple(inputs), ReplayedOnCPU(self)
        captures.append(self.seen)

    original_init = ModelBatch.__init__

    def graphs_on(self, members):
        original_init(self, members)
        self.graphs = True

    monkeypatch.setattr(ModelBatch, "__init__", graphs_on)
    monkeypatch.setattr(ModelBatch, "_capture", capture)
    monkeypatch.setattr("disentkit.train.batch.on_side_stream", lambda device, fn: fn())
    graphs = train_batch(configs, [tmp_path / f"graph{i}" for i in range(3)], dataset=squares, progress=False)
    assert [o.status for o in graphs] == [o.status for o in eager] == ["finished", "diverged", "finished"]
    assert captures == [3, 3]  # after the warm-up steps; again once model 1 has stopped
    for a, b in zip(eager, graphs, strict=True):
        first, second = weights(a.out).model_state, weights(b.out).model_state
        assert weights(a.out).step == weights(b.out).step
        assert all(torch.equal(first[k], second[k]) for k in first)


def test_an_architecture_without_a_grouped_network_is_refused(base, monkeypatch):
    monkeypatch.setattr("disentkit.train.batch.GROUPED_ARCHS", ("conv64",))
    check_batchable(three(base))
    with pytest.raises(DisentkitError, match="conv64-bn cannot train in a model batch"):
        check_batchable([dataclasses.replace(c, arch="conv64-bn") for c in three(base)])


def test_models_of_a_batch_may_differ_only_in_their_own_scalars(base):
    configs = three(base)
    configs[2] = dataclasses.replace(configs[2], lr=1e-3)
    with pytest.raises(DisentkitError, match="lr is 0.0005 in one and 0.001 in another"):
        check_batchable(configs)


def test_fine_tunes_from_checkpoints_of_different_steps_are_their_solo_fine_tunes(tmp_path, squares, base):
    # A transfer's fine-tunes start from their sources' best checkpoints, whose Adam step counts
    # differ: each model's Adam must keep its own bias correction.
    sources = []
    for config, steps in zip(three(base)[:2], (10, 20), strict=True):
        source = dataclasses.replace(config, steps=steps, checkpoint_every=steps, log_every=5)
        sources.append(train(source, tmp_path / f"source{steps}", dataset=squares, progress=False))
    steps_of = [int(weights(s, "best").optimizer_state["state"][0]["step"]) for s in sources]
    assert steps_of == [10, 20]
    tune = [dataclasses.replace(c, method="beta-vae", steps=10, checkpoint_every=5) for c in three(base)[:2]]
    outs = [tmp_path / f"tuned{i}" for i in range(2)]
    outcomes = train_batch(tune, outs, dataset=squares, progress=False, init_from=sources)
    assert [o.status for o in outcomes] == ["finished"] * 2
    for config, out, source in zip(tune, outs, sources, strict=True):
        solo = train(config, tmp_path / f"solo-{out.name}", dataset=squares, progress=False, init_from=source)
        a, b = weights(out), weights(solo)
        assert_close_states(a.model_state, b.model_state)
        assert_close_states(a.optimizer_state["state"], b.optimizer_state["state"])
    assert [int(weights(o).optimizer_state["state"][0]["step"]) for o in outs] == [20, 30]
