"""The CUDA training path never waits on the device between steps (CUDA only).

A host sync in the data stream or the step (a blocking upload, a device tensor copied back) makes
the host wait for every kernel queued before it, so the loop can no longer run ahead of the GPU:
on an H200 the graph loop ran at 373 steps/s against the graph's own 681 while it did.
``torch.cuda.set_sync_debug_mode("error")`` turns any such sync into an exception.
"""

import numpy as np
import pytest
import torch

from disentkit.data import get_dataset
from disentkit.train.data import BatchStream

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def without_host_sync(fn):
    """``fn()`` with every host-device sync an error."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        return fn()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("name", ["dsprites", "color-dsprites", "noisy-dsprites", "shapes3d"])
def test_batches_render_on_the_gpu_without_a_host_sync(name):
    ds = get_dataset(name)
    stream = BatchStream(ds, True, 16, 0, 1, False, torch.device("cuda"), prefetch=0)
    stream.make(0)  # first call uploads the dataset's banks (allowed to sync)
    batch = without_host_sync(lambda: stream.make(1))
    assert batch["x1"].device.type == "cuda"
    if not ds.name.startswith("noisy"):  # the two paths draw noise from different generators
        host = BatchStream(ds, True, 16, 0, 1, False, torch.device("cpu"), prefetch=0).make(1)
        for key in ("x1", "x2", "changed"):
            torch.testing.assert_close(batch[key].cpu(), host[key], rtol=0, atol=0)


def test_graph_step_replays_without_a_host_sync():
    from disentkit.models.objectives import get_objective
    from disentkit.models.vae import VAE
    from disentkit.train import TrainConfig
    from disentkit.train.step import GraphStep

    device = torch.device("cuda")
    model = VAE("conv64", 1, 10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), 5e-4, fused=True, capturable=True)
    config = TrainConfig(method="ada-gvae", clip=1.0, cuda_graphs=True)
    step = GraphStep(model, optimizer, get_objective("ada-gvae"), config, device)
    stream = BatchStream(get_dataset("dsprites"), True, 16, 0, 1, False, device, prefetch=0)
    captured = GraphStep.WARMUP + 1  # eager warm-up steps, then the capture
    for s in range(captured):
        step(stream.make(s), 1.0, s)
    without_host_sync(lambda: [step(stream.make(s), 1.0, s) for s in range(captured, captured + 3)])
    assert np.isfinite(step.pop_log()["loss"])


def _graph_batch(models: int, pairs: int = 16):
    """A ModelBatch of ``models`` conv64 Ada-GVAE models on CUDA with cuda_graphs, and their streams."""
    from types import SimpleNamespace

    from disentkit.train import TrainConfig
    from disentkit.train.batch import ModelBatch
    from disentkit.train.loop import _make_optimizer, build_model

    device = torch.device("cuda")
    runs = []
    for seed in range(models):
        config = TrainConfig(
            method="ada-gvae", clip=1.0, cuda_graphs=True, seed=seed, batch=pairs, device="cuda"
        )
        model = build_model(config, 1, device)
        optimizer = _make_optimizer(model, config, device)
        runs.append(
            SimpleNamespace(
                model=model, optimizer=optimizer, objective=config.objective(), config=config, device=device
            )
        )
    batch = ModelBatch([SimpleNamespace(run=r) for r in runs])
    streams = [
        BatchStream(get_dataset("dsprites"), True, pairs, s, 1, False, device, prefetch=0)
        for s in range(models)
    ]
    return batch, streams


def test_a_graph_batch_replays_without_a_host_sync():
    from disentkit.train.step import GraphStep

    batch, streams = _graph_batch(3)

    def step(s):
        batch.step([stream.make(s) for stream in streams], [1.0, 2.0, 4.0], [s, s + 1, s + 2])

    for s in range(GraphStep.WARMUP + 1):  # eager warm-up steps, then the capture
        step(s)
    assert batch.graph is not None
    without_host_sync(lambda: [step(s) for s in range(GraphStep.WARMUP + 1, GraphStep.WARMUP + 4)])
    assert all(np.isfinite(row["loss"]) for row in batch.pop_log())


# cuDNN's backward kernels may sum in another order from one launch to the next (atomics), so a
# replayed step and an eager one agree to float32 rounding grown over the steps, not bitwise.
GPU_RTOL, GPU_ATOL = 1e-3, 1e-4


def test_a_graph_batch_trains_each_model_as_its_eager_batch_and_its_solo_graph_run(
    tmp_path, squares, tiny_config
):
    import dataclasses

    from disentkit.train import train
    from disentkit.train.batch import train_batch
    from disentkit.train.checkpoint import load_checkpoint

    base = dataclasses.replace(
        tiny_config, steps=20, batch=8, lr=5e-4, checkpoint_every=10, log_every=5, latent_dim=4, clip=1.0,
        device="cuda",
    )  # fmt: skip
    eager = [dataclasses.replace(base, seed=s, beta=b) for s, b in ((0, 1.0), (1, 2.0), (2, 4.0))]
    graphs = [dataclasses.replace(c, cuda_graphs=True) for c in eager]
    runs = {}
    for name, configs in (("eager", eager), ("graphs", graphs)):
        outs = [tmp_path / f"{name}{i}" for i in range(3)]
        assert [o.status for o in train_batch(configs, outs, dataset=squares, progress=False)] == [
            "finished"
        ] * 3
        runs[name] = outs
    runs["solo"] = [train(c, tmp_path / f"solo{c.seed}", dataset=squares, progress=False) for c in graphs]
    for i in range(3):
        want = load_checkpoint(runs["graphs"][i] / "checkpoints" / "latest.safetensors").model_state
        for other in ("eager", "solo"):
            got = load_checkpoint(runs[other][i] / "checkpoints" / "latest.safetensors").model_state
            for key in want:
                torch.testing.assert_close(
                    got[key], want[key], rtol=GPU_RTOL, atol=GPU_ATOL, msg=f"{other} {key}"
                )
