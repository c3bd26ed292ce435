"""The CPU training step and ways to make it faster: float32 against bf16 autocast, eager against
sharded, and torch.compile; optionally disent 0.8's step measured in the same rounds.

conv64 Ada-GVAE, clip 1.0, on the CPU. The first table is at 64 pairs (128 images) per step, as
bench_train's bare step: the library's eager step (one 2-thread step of the whole batch), its
sharded step (2 single-threaded shards), each in float32 and under bf16 autocast (``--bf16``), and
the eager step with the loss compiled by ``torch.compile`` (its compile time reported apart). The
second table takes the four library steps across batch sizes: it is where the automatic shard
count (``disentkit.train.step.cpu_shard_count``) comes from. All timed in one process in
interleaved rounds.

disent's row: set BENCH_DISENT_PYTHON to an interpreter with disent 0.8 installed. Each round then
runs ``benchmarks/disent_step.py`` under it (AdaVae in its gvae mode, conv64, the same batch, Adam
and clipping, 2 threads), between the library's rounds. Such an interpreter, with this torch::

    python -m venv /tmp/disent && /tmp/disent/bin/pip install disent==0.8.0
    /tmp/disent/bin/pip install --no-deps torch==<this torch> && /tmp/disent/bin/pip uninstall -y torchvision

(disent pulls another torch and a torchvision built for it; disent_step.py stands in for torchvision,
which the step does not use.)

Environment: BENCH_CPU_STEP_ROUNDS (3), BENCH_CPU_STEP_STEPS (8 per round), BENCH_CPU_STEP_PAIRS
(the second table's sizes, "8,16,32,64"), BENCH_DISENT_PYTHON (unset: no disent row).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

import torch

from benchmarks.timing import markdown_table

PAIRS = 64
DISENT_SCRIPT = Path(__file__).with_name("disent_step.py")


def _batch(pairs: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "x1": (torch.rand(pairs, 1, 64, 64, generator=gen) > 0.9).float(),
        "x2": (torch.rand(pairs, 1, 64, 64, generator=gen) > 0.9).float(),
        "changed": torch.zeros(pairs, 5, dtype=torch.bool),
    }


def _library_steps(pairs: int) -> dict[str, tuple]:
    """{name: (step, torch threads)}: eager and sharded, float32 and bf16, on fresh models."""
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import _make_optimizer, build_model
    from disentkit.train.step import EagerStep, ShardedStep

    device = torch.device("cpu")
    threads = torch.get_num_threads()
    steps = {}
    for bf16 in (False, True):
        config = TrainConfig(
            method="ada-gvae", batch=pairs, lr=1e-4, clip=1.0, device="cpu", cpu_shards=1, bf16=bf16
        )
        precision = "bf16 autocast" if bf16 else "float32"
        for sharded in (False, True):
            model = build_model(config, 1, device)
            args = (model, _make_optimizer(model, config, device), config.objective(), config, device)
            if sharded:
                steps[f"sharded step (2 shards × 1 thread), {precision}"] = (ShardedStep(*args, 2), 1)
                torch.set_num_threads(threads)  # ShardedStep sets 1 while it lives
            else:
                steps[f"eager step ({threads} threads), {precision}"] = (EagerStep(*args), threads)
    return steps


def _compiled_step(threads: int):
    """The float32 eager step's forward + backward + clip + Adam with the loss under torch.compile."""
    from disentkit.models.vae import vae_loss
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import _make_optimizer, build_model

    device = torch.device("cpu")
    config = TrainConfig(method="ada-gvae", batch=PAIRS, lr=1e-4, clip=1.0, device="cpu", cpu_shards=1)
    model = build_model(config, 1, device)
    optimizer = _make_optimizer(model, config, device)
    objective = config.objective()

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

    return step, threads


def _timed(fn, batch, steps: int, threads: int) -> float:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for s in range(steps):
        fn(batch, 1.0, s)
    elapsed = time.perf_counter() - start
    torch.set_num_threads(saved)
    return elapsed


def _disent_rate(python: str, steps: int) -> float:
    """Images/s of one disent round, run under ``python`` (warm-up excluded, import not timed)."""
    done = subprocess.run(
        [python, str(DISENT_SCRIPT), str(PAIRS), str(steps)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _rounds(ways: dict[str, tuple], batch, pairs: int, rounds: int, steps: int, extra=None):
    for fn, n in ways.values():
        _timed(fn, batch, 2, n)  # warm-up: the first steps of a fresh model are slow on CPU
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, (fn, n) in ways.items():
            rates[name].append(2 * pairs * steps / _timed(fn, batch, steps, n))
        if extra is not None:
            name, measure = extra
            rates.setdefault(name, []).append(measure())
    return rates


def _close(ways: dict[str, tuple]) -> None:
    threads = torch.get_num_threads()
    for fn, _ in ways.values():
        getattr(fn, "close", lambda: None)()
    torch.set_num_threads(threads)


def run() -> str:
    rounds = int(os.environ.get("BENCH_CPU_STEP_ROUNDS", 3))
    steps = int(os.environ.get("BENCH_CPU_STEP_STEPS", 8))
    sizes = [int(p) for p in os.environ.get("BENCH_CPU_STEP_PAIRS", "8,16,32,64").split(",")]
    disent_python = os.environ.get("BENCH_DISENT_PYTHON")
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]

    ways = _library_steps(PAIRS)
    compiled = _compiled_step(threads)
    batch = _batch(PAIRS)
    start = time.perf_counter()
    _timed(compiled[0], batch, 1, threads)
    compile_seconds = time.perf_counter() - start
    ways["eager step, float32, loss under torch.compile"] = compiled
    extra = None
    if disent_python:
        extra = (
            f"disent 0.8 AdaVae (gvae), float32 ({threads} threads)",
            lambda: _disent_rate(disent_python, steps),
        )
    rates = _rounds(ways, batch, PAIRS, rounds, steps, extra)
    _close(ways)
    base_name = f"eager step ({threads} threads), float32"
    base = statistics.median(rates[base_name])
    headers = ["step", "images/s (median)", "min", "max", "÷ eager float32"]
    rows = [
        [name, statistics.median(r), min(r), max(r), statistics.median(r) / base] for name, r in rates.items()
    ]
    text = (
        f"conv64 Ada-GVAE, {PAIRS} pairs ({2 * PAIRS} images) per step, clip 1.0, CPU, {rounds} interleaved "
        f"rounds of {steps} steps after 2 warm-up steps; torch.compile's first call took "
        f"{compile_seconds:.0f} s.\n\n{markdown_table(headers, rows)}\n"
    )
    library = {
        n: statistics.median(r)
        for n, r in rates.items()
        if n.startswith(("eager", "sharded")) and "compile" not in n
    }
    best_fp32 = max(v for n, v in library.items() if "float32" in n)
    best_bf16 = max(v for n, v in library.items() if "bf16" in n)
    text += f"\nFastest bf16 step ÷ fastest float32 step: **{best_bf16 / best_fp32:.2f}×**."
    if extra is not None:
        disent = statistics.median(rates[extra[0]])
        text += (
            f" Per model against disent's step: float32 **{best_fp32 / disent:.2f}×**, "
            f"bf16 **{best_bf16 / disent:.2f}×**."
        )

    size_rows = []
    for pairs in sizes:
        ways = _library_steps(pairs)
        by_size = _rounds(ways, _batch(pairs), pairs, rounds, steps)
        _close(ways)
        medians = [statistics.median(r) for r in by_size.values()]
        size_rows.append([pairs, *medians, max(medians[2:]) / max(medians[:2])])
    names = [n.replace(" (2 shards × 1 thread)", "").replace(f" ({threads} threads)", "") for n in ways]
    text += (
        f"\n\nBy batch size (images/s, median of {rounds} interleaved rounds of {steps} steps):\n\n"
        + markdown_table(["pairs", *names, "best bf16 ÷ best float32"], size_rows)
    )
    return text + f"\n\nLoad average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n"
