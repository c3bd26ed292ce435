"""Where a CUDA training step spends its time (a diagnostic for the GPU throughput goal of issue 4).

    PYTHONPATH=src python3 scripts/gpu_probe.py [--quick] [--out DIR]

Prints one JSON line per measurement and a table at the end:

* ``floor``: the captured CUDA graph of one conv64 Ada-GVAE step (batch 64 pairs) replayed on a
  fixed batch, timed with CUDA events — the GPU work per step with no data and no Python between
  steps — for variants of the step (cuDNN autotuning, channels-last, bf16, torch.compile);
* ``graph step``: the library's ``GraphStep`` called on a fixed batch (adds the per-step copies into
  the graph's inputs, the noise draw and the Python around them);
* ``profile``: kernels per eager step and their summed device time (torch.profiler);
* ``data``: the batches of ``BatchStream.make`` per second, alone;
* ``loop``: ``disentkit.train.train`` on dSprites, eager and with the graph.

``--quick`` shrinks every count (a CPU smoke run of the script itself uses it with no GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks/
from benchmarks.bench_train import BATCH, fixed_batch, loop_intervals, throughput  # noqa: E402
from benchmarks.bench_train_gpu import graph_step, replay_ms  # noqa: E402


def emit(rows: list, **row) -> None:
    rows.append(row)
    print(json.dumps(row), flush=True)


def make_step(device, variant: dict):
    """The benchmark's step (GraphStep on CUDA) with ``variant``'s options."""
    return graph_step(
        device,
        bf16=variant.get("bf16", False),
        clip=variant.get("clip", 1.0),
        channels_last=variant.get("channels_last", False),
        compile_mode=variant.get("compile"),
    )


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(fn, n: int, device) -> float:
    """Calls of ``fn`` per second over ``n`` calls (host clock after a sync on both ends)."""
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return n / (time.perf_counter() - start)


def probe_floor(rows, device, n, variants):
    for name, variant in variants.items():
        if variant.get("benchmark"):
            torch.backends.cudnn.benchmark = True
        try:
            t0 = time.perf_counter()
            step = make_step(device, variant)
            batch = fixed_batch(device, variant.get("channels_last", False))
            for s in range(6):  # warm-up (and the capture on CUDA)
                step(batch, 1.0, s)
            setup_s = time.perf_counter() - t0
            step_rate = rate(lambda step=step, batch=batch: step(batch, 1.0, 7), n, device)
            replay = rate(step.graph.replay, n, device) if getattr(step, "graph", None) else float("nan")
            ms = replay_ms(step.graph, n) if device.type == "cuda" else float("nan")
            loss = step.pop_log().get("loss", float("nan"))
            emit(
                rows,
                what="floor",
                variant=name,
                replay_per_s=replay,
                device_ms=ms,
                graph_step_per_s=step_rate,
                setup_s=setup_s,
                mean_loss=loss,
            )
        except Exception as exc:  # a variant that fails must not cost the others
            emit(rows, what="floor", variant=name, error=repr(exc)[:300])
        finally:
            torch.backends.cudnn.benchmark = False


def probe_profile(rows, device, n):
    from torch.profiler import ProfilerActivity, profile

    from disentkit.train.step import EagerStep

    step = make_step(device, {})
    eager = EagerStep(step.model, step.optimizer, step.objective, step.config, device)
    batch = fixed_batch(device)
    for s in range(3):
        eager(batch, 1.0, s)
    sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for s in range(n):
            eager(batch, 1.0, s)
        sync(device)
    # device-side events, less the ranges the profiler draws around record_function blocks
    # (Adam.step's), which would count the kernels inside them twice
    kernels = [
        e
        for e in prof.events()
        if e.device_type == torch.autograd.DeviceType.CUDA and not getattr(e, "is_user_annotation", False)
    ]
    device_ms = sum(e.time_range.elapsed_us() for e in kernels) / n / 1000.0
    host_ms = sum(e.self_cpu_time_total for e in prof.key_averages()) / n / 1000.0
    by_name: dict = {}
    for e in kernels:
        by_name[e.name[:70]] = by_name.get(e.name[:70], 0.0) + e.time_range.elapsed_us() / n
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:12]
    emit(
        rows,
        what="profile",
        kernels_per_step=len(kernels) / n,
        device_ms_per_step=device_ms,
        host_self_ms_per_step=host_ms,
        top_us=[(k, round(v, 1)) for k, v in top],
    )


def probe_data(rows, device, n):
    import numpy as np

    from disentkit.data import get_dataset
    from disentkit.train.data import DATA_STREAM, BatchStream, step_seed

    ds = get_dataset("dsprites")
    stream = BatchStream(ds, True, BATCH, 0, 1, False, device, prefetch=0)
    counter = iter(range(10**9))
    stream.make(0)
    emit(
        rows,
        what="data",
        how="BatchStream.make, synced at the end",
        batches_per_s=rate(lambda: stream.make(next(counter)), n, device),
    )

    def factors_only():
        rng = np.random.default_rng(step_seed(0, next(counter), DATA_STREAM))
        ds.sample_factor_pairs(BATCH, 1, rng)

    emit(rows, what="data", how="numpy factor pairs only", batches_per_s=rate(factors_only, n, device))
    if device.type == "cuda":
        chunk = 16
        # host factors, as the stream passes them (device factors would be copied back to validate)
        f = torch.from_numpy(ds.sample_factors(2 * BATCH * chunk, np.random.default_rng(0)))
        emit(
            rows,
            what="data",
            how=f"one render_torch of {chunk} batches (per batch)",
            batches_per_s=chunk
            * rate(lambda: ds.render_torch(f, None, device=device), max(n // chunk, 2), device),
        )


def probe_loop(rows, device, steps_eager, steps_graph):
    for graphs, steps in ((False, steps_eager), (True, steps_graph)):
        if graphs and device.type != "cuda":
            continue
        t0 = time.perf_counter()
        rates = loop_intervals(device, steps, max(steps // 10, 1), graphs=graphs)
        emit(
            rows,
            what="loop",
            graphs=graphs,
            steps=steps,
            steps_per_s=throughput(rates),
            wall_s=time.perf_counter() - t0,
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--skip", default="", help="comma-separated sections to skip")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows: list = []
    emit(
        rows,
        what="env",
        torch=torch.__version__,
        device=torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
    )
    q = args.quick
    skip = set(args.skip.split(","))
    variants = {
        "default": {},
        "cudnn.benchmark": {"benchmark": True},
        "channels_last": {"channels_last": True},
        "channels_last+benchmark": {"channels_last": True, "benchmark": True},
        "bf16": {"bf16": True},
        "no clip": {"clip": None},
    }
    compiled = {
        "compile default": {"compile": "default"},
        "compile default+channels_last+benchmark": {
            "compile": "default",
            "channels_last": True,
            "benchmark": True,
        },
    }
    if device.type != "cuda":
        variants = {"default": {}}
    if "floor" not in skip:
        probe_floor(rows, device, 20 if q else 1000, variants)
    if "profile" not in skip:
        probe_profile(rows, device, 2 if q else 10)
    if "data" not in skip:
        probe_data(rows, device, 5 if q else 300)
    if "loop" not in skip:
        probe_loop(rows, device, 20 if q else 1500, 40 if q else 3000)
    if "compile" not in skip and device.type == "cuda":  # last: compiling may take minutes
        probe_floor(rows, device, 1000, compiled)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "probe.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
