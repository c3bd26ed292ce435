"""Model batches: aggregate model-steps/s of N models stepped as one batch against N solo steps.

The step is forward + backward + clip + Adam of conv64 Ada-GVAE models on fixed batches of random
binary pairs (one per model), as bench_train's bare step; the batch is :class:`ModelBatch`
(the stacked models as one network of grouped convolutions), the solo runs the library's steps
one model after another: the eager step with one multi-threaded batch and the sharded step (what ``disentkit train`` picks on 2
cores). All are timed in the same process in interleaved rounds (the shared machine drifts), in float32
and under bf16 autocast (the configs' ``bf16``), and the crossover by size is taken for both. The two ways of batching the
network are also compared on their own (:func:`measure_network`, a β-VAE loss): vmap over
``functional_call`` against the grouped convolutions of ``disentkit.models.grouped``. Environment:
BENCH_BATCH_MODELS (4), BENCH_BATCH_PAIRS (16), BENCH_BATCH_ROUNDS (3), BENCH_BATCH_STEPS (5 per
model and round), BENCH_BATCH_BF16 (1: also measure bf16), BENCH_BATCH_CROSSOVER (pairs per model
at which 8 models are stepped both ways, "2,4,8,16").
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from types import SimpleNamespace

import torch

from benchmarks.timing import markdown_table


def _setup(models: int, pairs: int, device: torch.device, bf16: bool = False, graphs: bool = False):
    from disentkit.train.batch import ModelBatch
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import _make_optimizer, build_model
    from disentkit.train.step import ShardedStep, make_step

    config = TrainConfig(
        method="ada-gvae",
        batch=pairs,
        lr=5e-4,
        clip=1.0,
        device=str(device),
        cpu_shards=1,
        bf16=bf16,
        cuda_graphs=graphs,
    )
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

    # The library's solo step for the config: eager (cpu_shards 1), or a CUDA graph with cuda_graphs.
    solo = [make_step(r.model, r.optimizer, objective, r.config, device) for r in runs()]
    threads = torch.get_num_threads()
    sharded = []
    if device.type == "cpu":
        sharded = [ShardedStep(r.model, r.optimizer, objective, r.config, device, 2) for r in runs()]
        torch.set_num_threads(threads)  # the sharded step's one thread per worker is set around its runs
    batch = ModelBatch([SimpleNamespace(run=r) for r in runs()])
    return batches, solo, sharded, batch


def _timed(fn, steps: int, threads: int, device: torch.device) -> float:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    _sync(device)
    start = time.perf_counter()
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
    models: int,
    pairs: int,
    rounds: int,
    steps: int,
    precisions: tuple[bool, ...] = (False,),
    device: torch.device = torch.device("cpu"),
    graphs: bool = False,
    solo_models: int | None = None,
) -> dict[str, list[float]]:
    """Model-steps/s per round of each way of stepping ``models`` models on ``device`` (the sharded
    step on the CPU only), in float32 and/or under bf16 autocast (``precisions``: the configs' bf16);
    ``graphs``: the solo steps and the batch with ``cuda_graphs`` (on CUDA: captured and replayed);
    ``solo_models``: time the solo steps on only the first few models (a solo model's rate does not
    depend on how many follow it; this keeps a GPU run short)."""
    from disentkit.train.step import GraphStep

    threads = torch.get_num_threads()
    ways = {}
    sharded_steps = []
    for bf16 in precisions:
        batches, solo, sharded, batch = _setup(models, pairs, device, bf16, graphs)
        sharded_steps += sharded
        tag = ", bf16 autocast" if bf16 else ""

        def solo_steps(runners, batches=batches):
            runners = runners[:solo_models]

            def fn(s):
                for runner, b in zip(runners, batches, strict=False):
                    runner(b, 1.0, s)

            return fn, len(runners)

        kind = "CUDA graph" if graphs else "eager"
        ways[f"solo, {kind} (1 step of the whole batch){tag}"] = (*solo_steps(solo), threads)
        if sharded:
            ways[f"solo, 2 CPU shards{tag}"] = (*solo_steps(sharded), 1)
        step = functools.partial(batch.step, batches, [1.0] * models, list(range(models)))
        ways[f"batch (grouped){tag}"] = (lambda s, step=step: step(), models, threads)
    # Warm-up: the first steps of a fresh model are slow on CPU; a graph's eager steps and capture.
    warmup = GraphStep.WARMUP + 2 if graphs else 2
    for fn, _, n in ways.values():
        _timed(fn, warmup, n, device)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, (fn, stepped, n) in ways.items():
            rates[name].append(stepped * steps / _timed(fn, steps, n, device))
    for runner in sharded_steps:
        runner.close()
    torch.set_num_threads(threads)  # closing a sharded step restores the count it saved
    return rates


# ----------------------------------------------------------------- vmap against grouped convolutions
def _vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Bernoulli reconstruction + KL per example, summed over the models' means (both ways alike)."""
    rec = torch.nn.functional.binary_cross_entropy_with_logits(recon, x, reduction="none").flatten(2).sum(2)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)
    return (rec + kl).mean(1).sum()


def _grouped_forward(p: dict, x: torch.Tensor, noise: torch.Tensor):
    """The library's grouped network (disentkit.models.grouped) on x (N, B, C, 64, 64)."""
    from disentkit.models.grouped import grouped_decode, grouped_encode

    mu, logvar = grouped_encode("conv64", p, {}, x)
    z = mu + noise * (0.5 * logvar).exp()
    return grouped_decode("conv64", p, z, x.shape[2]), mu, logvar


def measure_network(
    models: int, pairs: int, rounds: int, steps: int, device: torch.device
) -> dict[str, list[float]]:
    """Model-steps/s of N conv64 β-VAE steps (forward, backward, Adam), the network batched by vmap
    over ``functional_call`` or by hand-written grouped convolutions, on the same stacked weights."""
    from torch.func import functional_call, stack_module_state, vmap

    from disentkit.models.vae import VAE

    vaes = []
    for seed in range(models):
        torch.manual_seed(seed)
        vaes.append(VAE("conv64", 1, 10).to(device))
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(models, 2 * pairs, 1, 64, 64, generator=gen) > 0.9).float().to(device)
    noise = torch.randn(models, 2 * pairs, 10, generator=gen).to(device)
    template = VAE("conv64", 1, 10).to("meta")

    def part(params: dict, prefix: str) -> dict:
        return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}

    def one(params, xi, ni):
        mu, logvar = functional_call(template.encoder, part(params, "encoder."), (xi,))
        z = mu + ni * (0.5 * logvar).exp()
        return functional_call(template.decoder, part(params, "decoder."), (z,)), mu, logvar

    batched = vmap(one)
    ways = {}
    for name, forward in (
        ("network batched by vmap (β-VAE loss)", lambda p: batched(p, x, noise)),
        ("network batched by grouped convolutions (β-VAE loss)", lambda p: _grouped_forward(p, x, noise)),
    ):
        params, _ = stack_module_state(vaes)
        params = {k: v.detach().requires_grad_() for k, v in params.items()}
        optimizer = torch.optim.Adam(list(params.values()), lr=5e-4)

        def step(_s, params=params, optimizer=optimizer, forward=forward):
            recon, mu, logvar = forward(params)
            optimizer.zero_grad(set_to_none=True)
            _vae_loss(recon, x, mu, logvar).backward()
            optimizer.step()

        ways[name] = step
    # Both ways compute the same function of the same weights (checked, not assumed).
    params, _ = stack_module_state(vaes)
    a, b = batched(params, x, noise), _grouped_forward(params, x, noise)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-4)
    threads = torch.get_num_threads()
    for fn in ways.values():  # a vmap step's first few calls on the CPU are several times slower
        _timed(fn, 5, threads, device)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            rates[name].append(models * steps / _timed(fn, steps, threads, device))
    return rates


def _crossover(pairs_list: list[int], rounds: int, steps: int, bf16: bool) -> list[list]:
    """8 models at each size: [images per model step, best solo rate, batch rate, batch ÷ solo]."""
    rows = []
    for small in pairs_list:
        rates = {k: statistics.median(v) for k, v in measure(8, small, rounds, steps, (bf16,)).items()}
        solo = max(v for k, v in rates.items() if k.startswith("solo"))
        batch = next(v for k, v in rates.items() if k.startswith("batch"))
        rows.append([2 * small, solo, batch, batch / solo])
    return rows


def run() -> str:
    models = int(os.environ.get("BENCH_BATCH_MODELS", 4))
    pairs = int(os.environ.get("BENCH_BATCH_PAIRS", 16))
    rounds = int(os.environ.get("BENCH_BATCH_ROUNDS", 3))
    steps = int(os.environ.get("BENCH_BATCH_STEPS", 5))
    precisions = (False, True) if os.environ.get("BENCH_BATCH_BF16", "1") == "1" else (False,)
    threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    rates = measure(models, pairs, rounds, steps, precisions)
    network = measure_network(models, pairs, rounds, steps, torch.device("cpu"))
    small = [int(p) for p in os.environ.get("BENCH_BATCH_CROSSOVER", "2,4,8,16").split(",")]
    crossovers = {bf16: _crossover(small, rounds, steps, bf16) for bf16 in precisions}
    load_after = os.getloadavg()[0]
    base = statistics.median(rates["solo, eager (1 step of the whole batch)"])
    rows = [
        [name, statistics.median(r), min(r), max(r), statistics.median(r) / base] for name, r in rates.items()
    ]
    table = markdown_table(["step", "model-steps/s (median)", "min", "max", "÷ solo eager"], rows)
    vmap_rate, grouped_rate = (statistics.median(r) for r in network.values())
    network_table = markdown_table(
        ["network (β-VAE loss, Adam)", "model-steps/s (median)", "min", "max", "÷ vmap"],
        [
            [name, statistics.median(r), min(r), max(r), statistics.median(r) / vmap_rate]
            for name, r in network.items()
        ],
    )

    def faster(bf16: bool) -> str:
        tag = ", bf16 autocast" if bf16 else ""
        solos = [
            statistics.median(r) for n, r in rates.items() if n.startswith("solo") and ("bf16" in n) == bf16
        ]
        return f"{statistics.median(rates['batch (grouped)' + tag]) / max(solos):.2f}"

    ratios = f"float32 **{faster(False)}×**"
    if True in precisions:
        ratios += f", bf16 autocast **{faster(True)}×**"
    text = (
        f"{models} conv64 Ada-GVAE models, {pairs} pairs each, CPU; "
        f"{rounds} interleaved rounds of {steps} steps per model; torch threads {threads} (1 per shard worker); "
        f"load average {load_before:.1f} before, {load_after:.1f} after.\n\n{table}\n\n"
        f"Batch ÷ the faster solo step of the same precision: {ratios}.\n\n"
        f"The two ways of batching the network, on the same stacked weights (outputs checked equal):\n\n"
        f"{network_table}\n\nGrouped convolutions ÷ vmap: **{grouped_rate / vmap_rate:.2f}×**.\n"
    )
    for bf16, crossover in crossovers.items():
        text += (
            f"\nWhere a batch pays on this CPU, {'bf16 autocast' if bf16 else 'float32'}: 8 models, by images per "
            f"model step (pairs × 2), the faster solo step against the batch (`CPU_BATCH_MAX_IMAGES` in "
            f"disentkit.train.batch):\n\n"
            + markdown_table(
                ["images per model step", "best solo model-steps/s", "batch model-steps/s", "batch ÷ solo"],
                crossover,
            )
            + "\n"
        )
    return text
