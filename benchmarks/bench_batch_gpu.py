"""Model batches on a CUDA GPU: aggregate model-steps/s of N conv64 Ada-GVAE models (64 pairs each)
stepped as one batch, N = 1, 4, 8, 16, 32, 64, against the same models' solo steps one after another
(bench_batch's steps, timed on 4 of the N), each way eager and with ``cuda_graphs`` (captured once,
replayed), in float32 and under bf16 autocast; and the network batched by vmap against grouped
convolutions (bench_batch.measure_network). One script of a few minutes, for the short GPU sessions:
a way that fails (a capture error, out of memory) is reported in its cell and the others go on.
Without CUDA there is nothing to measure and the section in RESULTS.md is kept.
Environment: BENCH_BATCH_GPU_SIZES (1,4,8,16,32,64), BENCH_BATCH_GPU_STEPS (20 per round), 3 rounds,
BENCH_BATCH_GPU_BF16 (1: also bf16); BENCH_BATCH_GPU_DEVICE (cuda; cpu for a dry run that checks
the script).
"""

from __future__ import annotations

import os
import statistics

import torch

from benchmarks.bench_batch import measure, measure_network
from benchmarks.timing import markdown_table

PAIRS = 64
#: aggregate model-steps/s the issue sets as the goal on one H100/H200 (one model's CUDA-graph loop: 610)
GOAL = 5000
#: solo steps are timed on this many of the N models (a solo model's rate does not depend on N)
SOLO_MODELS = 4


def _rates(n: int, steps: int, device: torch.device, bf16: bool, graphs: bool) -> tuple[float, float] | str:
    """(solo, batch) median model-steps/s, or why this way could not be measured."""
    try:
        rates = measure(n, PAIRS, 3, steps, (bf16,), device, graphs=graphs, solo_models=SOLO_MODELS)
    except Exception as exc:  # noqa: BLE001 - a failed way is a finding of the run, not its end
        return f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    solo = next(statistics.median(r) for k, r in rates.items() if k.startswith("solo"))
    batch = next(statistics.median(r) for k, r in rates.items() if k.startswith("batch"))
    return solo, batch


def run() -> str | None:
    # BENCH_BATCH_GPU_DEVICE=cpu: a dry run of the script on the CPU (checks it, measures nothing).
    device = torch.device(os.environ.get("BENCH_BATCH_GPU_DEVICE", "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: batch_gpu not measured (the section in RESULTS.md is kept)")
        return None
    sizes = [int(n) for n in os.environ.get("BENCH_BATCH_GPU_SIZES", "1,4,8,16,32,64").split(",")]
    steps = int(os.environ.get("BENCH_BATCH_GPU_STEPS", "20"))
    precisions = (False, True) if os.environ.get("BENCH_BATCH_GPU_BF16", "1") == "1" else (False,)
    rows, best = [], (0.0, "")
    for bf16 in precisions:
        for n in sizes:
            row = [("bf16" if bf16 else "fp32"), n]
            for graphs in (False, True):
                got = _rates(n, steps, device, bf16, graphs)
                if isinstance(got, str):
                    row += [got, "–", "–"]
                    continue
                solo, batch = got
                row += [solo, batch, batch / solo]
                label = f"{n} models, {'CUDA graph' if graphs else 'eager'}, {row[0]}"
                best = max(best, (batch, label))
            print(row, flush=True)
            rows.append(row)
    columns = ["precision", "models", "solo eager", "batch eager", "batch ÷ solo (eager)"]
    columns += ["solo CUDA graph", "batch CUDA graph", "batch ÷ solo (graphs)"]
    table = markdown_table(columns, rows)
    network_rows = []
    for n in sizes:
        try:
            network = [statistics.median(r) for r in measure_network(n, PAIRS, 3, steps, device).values()]
            network_rows.append([n, *network, network[1] / network[0]])
        except Exception as exc:  # noqa: BLE001
            network_rows.append([n, f"failed: {type(exc).__name__}", "–", "–"])
        if device.type == "cuda":
            torch.cuda.empty_cache()
    network_table = markdown_table(
        ["models", "network by vmap (β-VAE)", "network by grouped convs (β-VAE)", "grouped ÷ vmap"],
        network_rows,
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU dry run"
    verdict = "met" if best[0] >= GOAL else "not met"
    return (
        f"conv64 Ada-GVAE, {PAIRS} pairs per model, {name}; aggregate model-steps/s (medians of 3 "
        f"interleaved rounds of {steps} steps per model); solo = the same models' library steps one after "
        f"another.\n\n{table}\n\nFastest: **{best[0]:,.0f} model-steps/s** ({best[1]}); the goal of "
        f"{GOAL:,} model-steps/s on one GPU is **{verdict}**.\n\n"
        f"The network batched two ways (fp32, eager, same stacked weights, outputs checked equal):\n\n"
        f"{network_table}\n"
    )
