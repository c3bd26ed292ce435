"""Training throughput on a CUDA GPU: the whole loop against the step's own floor.

conv64, Ada-GVAE, batch 64 pairs (128 images per step), clip 1.0, as the CPU ``train`` section. Rows:

* the naive baseline: the bare eager step on a fixed batch (forward + backward + clip + Adam, one
  kernel launch at a time from Python);
* the floor: the library's ``GraphStep`` captured once and its CUDA graph replayed on a fixed batch
  (no data, no Python between steps), with its device time per step from CUDA events — no loop
  that replays this graph once per step can run faster;
* the whole loop (:func:`disentkit.train.train` on dSprites rendered on the GPU, logging,
  checkpoints every 500 steps), eager and with ``cuda_graphs``, fp32 and bf16.

Without CUDA there is nothing to measure: the section already in RESULTS.md is kept.
"""

from __future__ import annotations

import os

import torch

from benchmarks.bench_train import BATCH, bare_rate, fixed_batch, loop_rate
from benchmarks.timing import markdown_table

FLOOR_STEPS = 1000


def graph_step(
    device: torch.device,
    bf16: bool = False,
    clip: float | None = 1.0,
    channels_last: bool = False,
    compile_mode: str | None = None,
):
    """The library's step for conv64 Ada-GVAE: a ``GraphStep`` on CUDA (an ``EagerStep`` elsewhere,
    for smoke runs of the probe), with the model optionally channels-last or torch.compile'd."""
    from disentkit.models.objectives import get_objective
    from disentkit.models.vae import VAE
    from disentkit.train import TrainConfig
    from disentkit.train.step import EagerStep, GraphStep

    torch.manual_seed(0)
    model = VAE("conv64", 1, 10).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_mode:
        model.encoder = torch.compile(model.encoder, mode=compile_mode)
        model.decoder = torch.compile(model.decoder, mode=compile_mode)
    cuda = device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), 5e-4, fused=cuda, capturable=cuda)
    config = TrainConfig(method="ada-gvae", lr=5e-4, clip=clip, bf16=bf16)
    runner = GraphStep if cuda else EagerStep
    return runner(model, optimizer, get_objective("ada-gvae"), config, device)


def graph_floor(device: torch.device, bf16: bool = False) -> tuple[float, float]:
    """(replays per second, device ms per replay) of the captured step on a fixed batch."""
    from disentkit.train.step import GraphStep

    step = graph_step(device, bf16=bf16)
    batch = fixed_batch(device)
    for s in range(GraphStep.WARMUP + 3):  # eager warm-up, capture, two replays
        step(batch, 1.0, s)
    ms = replay_ms(step.graph, FLOOR_STEPS)
    return 1000.0 / ms, ms


def replay_ms(graph: torch.cuda.CUDAGraph, replays: int) -> float:
    """Device milliseconds per replay of ``graph`` over ``replays`` back-to-back replays (CUDA events)."""
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(replays):
        graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / replays


def run() -> str | None:
    if not torch.cuda.is_available():
        print("no CUDA device: train_gpu not measured (the section in RESULTS.md is kept)")
        return None
    gpu = torch.device("cuda")
    steps = int(os.environ.get("BENCH_TRAIN_GPU_STEPS", "3000"))
    img = 2 * BATCH
    floor, floor_ms = graph_floor(gpu)
    floor_bf16, floor_bf16_ms = graph_floor(gpu, bf16=True)
    bare = bare_rate(gpu, 300)
    loops = {
        "whole loop, eager": loop_rate(gpu, steps // 2, log_every=steps // 20),
        "whole loop, CUDA graph": loop_rate(gpu, steps, log_every=steps // 10, graphs=True),
        "whole loop, CUDA graph + bf16": loop_rate(gpu, steps, log_every=steps // 10, graphs=True, bf16=True),
    }
    rows = [
        ["bare eager step, fixed batch (naive baseline)", bare, bare * img, "–", f"{bare / floor:.2f}"],
        ["graph replay, fixed batch (floor)", floor, floor * img, f"{floor_ms:.3f}", "1.00"],
        ["graph replay + bf16, fixed batch", floor_bf16, floor_bf16 * img, f"{floor_bf16_ms:.3f}", "–"],
    ]
    for name, value in loops.items():
        ref = floor_bf16 if "bf16" in name else floor
        rows.append([name, value, value * img, "–", f"{value / ref:.2f}"])
    graph_loop = loops["whole loop, CUDA graph"]
    table = markdown_table(["what", "steps/s", "images/s", "device ms/step", "ratio to floor"], rows)
    note = (
        f"conv64, Ada-GVAE, batch {BATCH} pairs ({img} images per step), clip 1.0, dSprites rendered on "
        f"the GPU. Floor: the captured step replayed {FLOOR_STEPS} times on a fixed batch, timed with "
        "CUDA events (bf16 rows are compared with the bf16 floor). Loop rows: steps/s over the log "
        "intervals after the first. Goal (issue 4): ≥ 1,000 steps/s on an H100-class GPU. "
        f"Whole loop with the graph against the naive eager step: **{graph_loop / bare:.1f}×**."
    )
    return f"{note}\n\n{table}\n"
