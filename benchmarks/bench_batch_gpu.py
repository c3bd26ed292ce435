"""Model batches on a CUDA GPU: aggregate model-steps/s of N conv64 Ada-GVAE models (64 pairs each)
stepped as one batch, N = 1, 4, 8, 16, 32, against the same models' eager solo steps one after
another (bench_batch's steps, eager: no CUDA graphs), and the network batched by vmap against grouped
convolutions written by hand (bench_batch.measure_network). One script of a few minutes, for the short
GPU sessions; without CUDA there is nothing to measure and the section in RESULTS.md is kept.
Environment: BENCH_BATCH_GPU_SIZES (1,4,8,16,32), BENCH_BATCH_GPU_STEPS (20 per round), 3 rounds;
BENCH_BATCH_GPU_DEVICE (cuda; cpu for a dry run that checks the script).
"""

from __future__ import annotations

import os
import statistics

import torch

from benchmarks.bench_batch import measure, measure_network
from benchmarks.timing import markdown_table

PAIRS = 64


def run() -> str | None:
    # BENCH_BATCH_GPU_DEVICE=cpu: a dry run of the script on the CPU (checks it, measures nothing).
    device = torch.device(os.environ.get("BENCH_BATCH_GPU_DEVICE", "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: batch_gpu not measured (the section in RESULTS.md is kept)")
        return None
    sizes = [int(n) for n in os.environ.get("BENCH_BATCH_GPU_SIZES", "1,4,8,16,32").split(",")]
    steps = int(os.environ.get("BENCH_BATCH_GPU_STEPS", "20"))
    rows = []
    for n in sizes:
        rates = measure(n, PAIRS, 3, steps, (False,), device)
        solo = statistics.median(rates["solo, eager (1 step of the whole batch)"])
        batched = statistics.median(rates["batch (grouped)"])
        network = [statistics.median(r) for r in measure_network(n, PAIRS, 3, steps, device).values()]
        rows.append([n, solo, batched, batched / solo, *network, network[1] / network[0]])
        if device.type == "cuda":
            torch.cuda.empty_cache()
    columns = ["models", "solo eager model-steps/s", "batch model-steps/s", "batch ÷ solo"]
    columns += ["network by vmap (β-VAE)", "network by grouped convs (β-VAE)", "grouped ÷ vmap"]
    table = markdown_table(columns, rows)
    return (
        f"conv64 Ada-GVAE, {PAIRS} pairs per model, fp32, eager steps (no CUDA graphs), "
        f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU dry run'}; 3 interleaved rounds of {steps} steps per model.\n\n{table}\n"
    )
