"""Training throughput: the whole loop (data, sampling, logging, checkpoints) vs the bare model step.

The bare step is forward + backward + clip + Adam on one fixed batch of 64 pairs (conv64, Ada-GVAE);
the loop is :func:`disentkit.train.train` on dSprites with the same model and batch. Both are timed
in the same process, on CPU in interleaved rounds (the shared machine's speed drifts by ±20 % within
minutes, more than the gap being measured); the first steps of each are warm-up and not counted.
Environment: BENCH_TRAIN_ROUNDS (default 4), BENCH_TRAIN_BLOCK (steps per interval, default 8).
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import torch

from benchmarks.timing import markdown_table

BATCH = 64  # pairs


def fixed_batch(device: torch.device, channels_last: bool = False) -> dict[str, torch.Tensor]:
    """One batch of ``BATCH`` random binary image pairs (10 % of pixels on), reused at every step."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x1, x2 = ((torch.rand(BATCH, 1, 64, 64, device=device) > 0.9).float() for _ in range(2))
    return {
        "x1": x1.contiguous(memory_format=fmt),
        "x2": x2.contiguous(memory_format=fmt),
        "changed": torch.zeros(BATCH, 5, dtype=torch.bool, device=device),
    }


def bare_intervals(
    device: torch.device,
    blocks: int,
    block_steps: int,
    channels_last: bool = False,
    bf16: bool = False,
    warm: int | None = None,
    shards: int = 1,
) -> list[float]:
    """Steps/s of the bare model step on a fixed tensor, one value per block of ``block_steps``.

    ``shards > 1`` (CPU): the library's sharded step (the batch split over single-threaded workers).
    """
    from disentkit.models.objectives import get_objective
    from disentkit.models.vae import VAE, vae_loss
    from disentkit.train import TrainConfig
    from disentkit.train.step import ShardedStep

    torch.manual_seed(0)
    model = VAE("conv64", 1, 10).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), 5e-4, fused=device.type == "cuda")
    objective = get_objective("ada-gvae")
    gen = torch.Generator(device=device).manual_seed(0)
    batch = fixed_batch(device, channels_last)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")

    def step():
        with autocast:
            out = vae_loss(model, objective, batch, 1.0, "bernoulli", gen)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    sharded = None
    if shards > 1:  # the same step (clip 1.0, Adam) through the library's sharded runner
        config = TrainConfig(method="ada-gvae", lr=5e-4, clip=1.0, device="cpu")
        sharded = ShardedStep(model, opt, objective, config, device, shards)

        def step():
            sharded(batch, 1.0, 0)

    # The first steps of a fresh model are several times slower on CPU (measured: ~3 s → ~0.7 s
    # per step over the first ten on the shared 2-core machine), so warm up as long as the loop's
    # first, uncounted log interval.
    for _ in range(block_steps if warm is None else warm):
        step()
    rates = []
    for _ in range(blocks):
        _sync(device)
        start = time.perf_counter()
        for _ in range(block_steps):
            step()
        _sync(device)
        rates.append(block_steps / (time.perf_counter() - start))
    if sharded is not None:
        sharded.close()
    return rates


def loop_intervals(
    device: torch.device, steps: int, log_every: int, bf16: bool = False, graphs: bool = False
) -> list[float]:
    """Steps/s of each log interval of the whole training loop on dSprites (the first, warm-up, dropped)."""
    import pandas as pd

    from disentkit.train import TrainConfig, train

    config = TrainConfig(
        data="dsprites",
        method="ada-gvae",
        steps=steps,
        batch=BATCH,
        lr=5e-4,
        log_every=log_every,
        checkpoint_every=500,  # the default interval: checkpoints are part of the loop's cost
        device=str(device),
        bf16=bf16,
        cuda_graphs=graphs,
    )
    with tempfile.TemporaryDirectory() as tmp:
        train(config, os.path.join(tmp, "run"), progress=False)
        rows = pd.read_csv(os.path.join(tmp, "run", "metrics.csv"))
    return [float(r) for r in rows["steps_per_s"].to_numpy()[1:]]


def throughput(rates: list[float]) -> float:
    """Steps/s over equal-length intervals: total steps over total time (the harmonic mean)."""
    return float(len(rates) / np.sum(1.0 / np.asarray(rates)))


def bare_rate(device: torch.device, steps: int, **options) -> float:
    """Steps/s of the bare step over ``steps`` steps after the warm-up."""
    return throughput(bare_intervals(device, 1, steps, **options))


def loop_rate(device: torch.device, steps: int, log_every: int, **options) -> float:
    """Steps/s of the whole loop after its first log interval."""
    return throughput(loop_intervals(device, steps, log_every, **options))


def cpu_rounds(rounds: int, block: int, blocks: int, shards: int) -> dict[str, list[float]]:
    """Loop and bare steps interleaved in ``rounds``, so the shared machine's drift hits all alike.

    Each round: the loop for ``blocks + 1`` log intervals of ``block`` steps (the first uncounted),
    then ``blocks`` blocks of each bare step: default layout, channels-last, channels-last in
    ``shards`` shards (the loop's step). Returns each kind's interval rates and per-round ratios.
    """
    cpu = torch.device("cpu")
    out: dict[str, list[float]] = {"loop": [], "bare": [], "bare_cl": [], "bare_shards": [], "ratios": []}
    for _ in range(rounds):
        loop = loop_intervals(cpu, block * (blocks + 1), log_every=block)
        bare_shards = bare_intervals(cpu, blocks, block, channels_last=True, shards=shards)
        out["bare"] += bare_intervals(cpu, blocks, block)
        out["bare_cl"] += bare_intervals(cpu, blocks, block, channels_last=True)
        out["loop"] += loop
        out["bare_shards"] += bare_shards
        out["ratios"].append(throughput(loop) / throughput(bare_shards))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run() -> str:
    rows = []
    rounds = int(os.environ.get("BENCH_TRAIN_ROUNDS", "4"))
    block = int(os.environ.get("BENCH_TRAIN_BLOCK", "8"))
    from disentkit.train import TrainConfig
    from disentkit.train.step import cpu_shard_count

    shards = cpu_shard_count(TrainConfig(batch=BATCH), torch.device("cpu"))  # what the loop picks
    cpu = cpu_rounds(rounds, block, blocks=5, shards=shards)
    loop, bare, bare_cl, bare_shards = (
        throughput(cpu[k]) for k in ("loop", "bare", "bare_cl", "bare_shards")
    )
    low, high = min(cpu["ratios"]), max(cpu["ratios"])
    img = 2 * BATCH
    rows.append(
        ["cpu", "bare step (fixed tensor), default layout", bare, bare * img, f"{bare / bare_shards:.2f}"]
    )
    rows.append(["cpu", "bare step, channels-last", bare_cl, bare_cl * img, f"{bare_cl / bare_shards:.2f}"])
    rows.append(
        [
            "cpu",
            f"bare step, channels-last, {shards} shard(s) (the loop's step)",
            bare_shards,
            bare_shards * img,
            "1.00",
        ]
    )
    rows.append(
        [
            "cpu",
            "whole loop (dSprites, logging, ckpt)",
            loop,
            loop * img,
            f"{loop / bare_shards:.2f} (rounds {low:.2f}–{high:.2f})",
        ]
    )
    table = markdown_table(["device", "what", "steps/s", "images/s", "ratio to bare"], rows)
    note = (
        f"conv64, Ada-GVAE, batch {BATCH} pairs ({img} images per step), {torch.get_num_threads()} torch "
        f"threads on CPU, where the loop stores the model channels-last and splits each batch into {shards} "
        "shard(s) computed side by side, one thread each (ratios against the bare step in that form; the "
        "other bare rows show what channels-last and the shards gain). CPU rows: "
        f"{rounds} interleaved rounds of the loop ({block}-step log intervals, the first of each run "
        f"uncounted) and of the three bare steps ({block}-step blocks after a {block}-step warm-up); steps/s "
        "is total steps over total time, the loop's ratio also per round. "
        "Target: whole loop ≥ 0.95 × bare step. "
        "GPU throughput is the train_gpu section."
    )
    return f"{note}\n\n{table}\n"
