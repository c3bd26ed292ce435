"""Model batches: aggregate model-steps/s of N models stepped as one batch against N solo steps.

The step is forward + backward + clip + Adam of conv64 Ada-GVAE models on fixed batches of random
binary pairs (one per model), as bench_train's bare step; the batch is :class:`ModelBatch`
(vmap over the stacked models), the solo runs the library's steps one model after another: the
eager step with one multi-threaded batch and the sharded step (what ``disentkit train`` picks on 2
cores). All are timed in the same process in interleaved rounds (the shared machine drifts). bf16
autocast on the CPU is measured for the eager solo step and the batch. Environment:
BENCH_BATCH_MODELS (4), BENCH_BATCH_PAIRS (16), BENCH_BATCH_ROUNDS (3), BENCH_BATCH_STEPS (5 per
model and round), BENCH_BATCH_BF16 (1: also measure bf16).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from types import SimpleNamespace

import torch

from benchmarks.timing import markdown_table


def _setup(models: int, pairs: int, device: torch.device):
    from disentkit.train.batch import ModelBatch
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import _make_optimizer, build_model
    from disentkit.train.step import EagerStep, ShardedStep

    config = TrainConfig(method="ada-gvae", batch=pairs, lr=5e-4, clip=1.0, device=str(device), cpu_shards=1)
    objective = config.objective()
    gen = torch.Generator().manual_seed(0)
    batches = [
        {
            "x1": (torch.rand(pairs, 1, 64, 64, generator=gen) > 0.9).float().to(device),
            "x2": (torch.rand(pairs, 1, 64, 64, generator=gen) > 0.9).float().to(device),
            "changed": torch.zeros(pairs, 5, dtype=torch.bool, device=device),
        }
        for _ in range(models)
    ]

    def runs():
        out = []
        for seed in range(models):
            seeded = TrainConfig(**{**config.__dict__, "seed": seed})
            model = build_model(seeded, 1, device)
            out.append(
                SimpleNamespace(
                    model=model,
                    optimizer=_make_optimizer(model, seeded, device),
                    objective=objective,
                    config=seeded,
                    device=device,
                )
            )
        return out

    solo = [EagerStep(r.model, r.optimizer, objective, r.config, device) for r in runs()]
    threads = torch.get_num_threads()
    sharded = []
    if device.type == "cpu":
        sharded = [ShardedStep(r.model, r.optimizer, objective, r.config, device, 2) for r in runs()]
        torch.set_num_threads(threads)  # the sharded step's one thread per worker is set around its runs
    batch = ModelBatch([SimpleNamespace(run=r) for r in runs()])
    return batches, solo, sharded, batch


def _timed(fn, steps: int, bf16: bool, threads: int, device: torch.device) -> float:
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    _sync(device)
    start = time.perf_counter()
    with autocast:
        for s in range(steps):
            fn(s)
    _sync(device)
    elapsed = time.perf_counter() - start
    torch.set_num_threads(saved)
    return elapsed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    models: int, pairs: int, rounds: int, steps: int, bf16: bool, device: torch.device = torch.device("cpu")
) -> dict[str, list[float]]:
    """Model-steps/s per round of each way of stepping ``models`` models on ``device`` (the sharded
    step on the CPU only)."""
    batches, solo, sharded, batch = _setup(models, pairs, device)
    betas, seeds = [1.0] * models, list(range(models))

    def solo_steps(runners):
        def fn(s):
            for runner, b in zip(runners, batches, strict=True):
                runner(b, 1.0, s)

        return fn

    threads = torch.get_num_threads()
    ways = {"solo, eager (1 step of the whole batch)": (solo_steps(solo), False, threads)}
    if sharded:
        ways["solo, 2 CPU shards (train's default here)"] = (solo_steps(sharded), False, 1)
    ways["batch (vmap)"] = (lambda s: batch.step(batches, betas, seeds), False, threads)
    if bf16:
        ways["solo, eager, bf16 autocast"] = (solo_steps(solo), True, threads)
        ways["batch (vmap), bf16 autocast"] = (lambda s: batch.step(batches, betas, seeds), True, threads)
    for fn, use_bf16, n in ways.values():  # warm-up: the first steps of a fresh model are slow on CPU
        _timed(fn, 2, use_bf16, n, device)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, (fn, use_bf16, n) in ways.items():
            rates[name].append(models * steps / _timed(fn, steps, use_bf16, n, device))
    for runner in sharded:
        runner.close()
    return rates


def run() -> str:
    models = int(os.environ.get("BENCH_BATCH_MODELS", 4))
    pairs = int(os.environ.get("BENCH_BATCH_PAIRS", 16))
    rounds = int(os.environ.get("BENCH_BATCH_ROUNDS", 3))
    steps = int(os.environ.get("BENCH_BATCH_STEPS", 5))
    bf16 = os.environ.get("BENCH_BATCH_BF16", "1") == "1"
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    rates = measure(models, pairs, rounds, steps, bf16)
    load_after = os.getloadavg()[0]
    torch.set_num_threads(threads)  # closing the sharded steps leaves one of their saved counts
    base = statistics.median(rates["solo, eager (1 step of the whole batch)"])
    rows = [
        [name, statistics.median(r), min(r), max(r), statistics.median(r) / base] for name, r in rates.items()
    ]
    table = markdown_table(["step", "model-steps/s (median)", "min", "max", "÷ solo eager"], rows)
    best_solo = max(statistics.median(rates[n]) for n in rates if n.startswith("solo") and "bf16" not in n)
    ratio = statistics.median(rates["batch (vmap)"]) / best_solo
    return (
        f"{models} conv64 Ada-GVAE models, {pairs} pairs each, CPU, float32 unless said; "
        f"{rounds} interleaved rounds of {steps} steps per model; torch threads {threads} (1 per shard worker); "
        f"load average {load_before:.1f} before, {load_after:.1f} after.\n\n{table}\n\n"
        f"Batch ÷ the faster solo step: **{ratio:.2f}×**.\n"
    )
