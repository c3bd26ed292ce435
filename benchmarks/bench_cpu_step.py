"""The CPU training step and ways to make it faster: the library's steps against torch.compile.

conv64 Ada-GVAE, 64 pairs (128 images) per step, as bench_train's bare step, on the CPU: the
library's eager step (one 2-thread step of the whole batch), its sharded step (what ``disentkit
train`` picks on 2 cores at 64 pairs), and the eager step with the loss compiled by
``torch.compile`` (inductor; its compile time reported apart). All timed in the same process in
interleaved rounds. Environment: BENCH_CPU_STEP_ROUNDS (3), BENCH_CPU_STEP_STEPS (8 per round).
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from benchmarks.timing import markdown_table

PAIRS = 64


def _setup():
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import _make_optimizer, build_model
    from disentkit.train.step import EagerStep, ShardedStep

    device = torch.device("cpu")
    config = TrainConfig(method="ada-gvae", batch=PAIRS, lr=1e-4, clip=1.0, device="cpu", cpu_shards=1)
    objective = config.objective()
    gen = torch.Generator().manual_seed(0)
    batch = {
        "x1": (torch.rand(PAIRS, 1, 64, 64, generator=gen) > 0.9).float(),
        "x2": (torch.rand(PAIRS, 1, 64, 64, generator=gen) > 0.9).float(),
        "changed": torch.zeros(PAIRS, 5, dtype=torch.bool),
    }

    def fresh():
        model = build_model(config, 1, device)
        return model, _make_optimizer(model, config, device)

    eager = EagerStep(*fresh(), objective, config, device)
    threads = torch.get_num_threads()
    sharded = ShardedStep(*fresh(), objective, config, device, 2)
    torch.set_num_threads(threads)
    compiled = _compiled_step(*fresh(), objective, config)
    return batch, eager, sharded, compiled


def _compiled_step(model, optimizer, objective, config):
    """The eager step's forward + backward + clip + Adam with the loss under torch.compile."""
    from disentkit.models.vae import vae_loss

    def loss(batch, noise):
        return vae_loss(model, objective, batch, 1.0, config.recon, None, noise).loss

    compiled = torch.compile(loss)
    generator = torch.Generator().manual_seed(0)

    def step(batch, beta, s):
        noise = torch.randn(2 * PAIRS, config.latent_dim, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        compiled(batch, noise).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()

    return step


def _timed(fn, batch, steps: int, threads: int) -> float:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for s in range(steps):
        fn(batch, 1.0, s)
    elapsed = time.perf_counter() - start
    torch.set_num_threads(saved)
    return elapsed


def run() -> str:
    rounds = int(os.environ.get("BENCH_CPU_STEP_ROUNDS", 3))
    steps = int(os.environ.get("BENCH_CPU_STEP_STEPS", 8))
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    batch, eager, sharded, compiled = _setup()
    start = time.perf_counter()
    _timed(compiled, batch, 1, threads)
    compile_seconds = time.perf_counter() - start
    ways = {
        "eager step (2 threads)": (eager, threads),
        "sharded step (2 shards × 1 thread; train's default here)": (sharded, 1),
        "eager step, loss under torch.compile (2 threads)": (compiled, threads),
    }
    for fn, n in ways.values():
        _timed(fn, batch, 2, n)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, (fn, n) in ways.items():
            rates[name].append(2 * PAIRS * steps / _timed(fn, batch, steps, n))
    sharded.close()
    torch.set_num_threads(threads)
    base = statistics.median(rates["eager step (2 threads)"])
    rows = [
        [name, statistics.median(r), min(r), max(r), statistics.median(r) / base] for name, r in rates.items()
    ]
    table = markdown_table(["step", "images/s (median)", "min", "max", "÷ eager"], rows)
    return (
        f"conv64 Ada-GVAE, {PAIRS} pairs ({2 * PAIRS} images) per step, clip 1.0, CPU, {rounds} interleaved rounds "
        f"of {steps} steps after 2 warm-up steps; torch.compile's first call took {compile_seconds:.0f} s; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n\n{table}\n"
    )
