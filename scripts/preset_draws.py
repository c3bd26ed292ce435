"""Draws of a training recipe on dSprites, scored at several step counts (how docs/training.md's tables were made).

    .venv/bin/python scripts/preset_draws.py --preset cpu-quick --seeds 0,1 --stages 4000,6000 \
        --set batch=16 --out /tmp/draws

Each seed trains one run (one torch thread by default, so two draws can share a 2-core machine) up
to the first stage, is scored, then resumed to the next stage (a run's step s depends only on
(seed, s), so a run resumed from 4,000 to 6,000 steps is the 6,000-step run), and so on. Scores:
``disentkit.train.runs.quick_scores`` (10,000-point MIG, intervention OMES with 10,000 pairs per
factor), as tests/train/test_quick_preset_slow.py, of the checkpoint written at the stage's last step.
One JSON line per (seed, stage) goes to stdout and to ``OUT/draws.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
import yaml


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--stages", required=True, help="comma-separated step counts, increasing")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="TrainConfig override"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="train and score here (cpu, cuda)")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def extend(run: Path, steps: int) -> None:
    """Raise the saved step count so that a resume trains on to ``steps``."""
    path = run / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    saved["steps"] = steps
    path.write_text(yaml.safe_dump(saved, sort_keys=False))


def main() -> None:
    from disentkit.data import get_dataset
    from disentkit.errors import DisentkitError
    from disentkit.train import TrainConfig, apply_preset, train
    from disentkit.train.runs import quick_scores

    args = parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    stages = [int(s) for s in args.stages.split(",")]
    dataset = get_dataset("dsprites")
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        config = apply_preset(TrainConfig(device=args.device, seed=seed), args.preset)
        config = dataclasses.replace(config, **overrides, steps=stages[0]).validate()
        if config.lr_decay and len(stages) > 1:
            raise DisentkitError(
                "several stages need a constant learning rate (a decay depends on the final step): "
                "give one stage with lr_decay"
            )
        run = args.out / f"{args.preset}-s{seed}"
        for i, steps in enumerate(stages):
            start = time.perf_counter()
            if i == 0:
                train(config, run, dataset=dataset, progress=False)
            else:
                extend(run, steps)
                train(None, run, dataset=dataset, resume=True, progress=False)
            row = {
                "preset": args.preset,
                "overrides": overrides,
                "seed": seed,
                "steps": steps,
                "threads": args.threads,
                "device": args.device,
                "train_s": round(time.perf_counter() - start),
            }
            scores = quick_scores(run, dataset, checkpoint="latest", device=args.device)
            row.update(
                mig=round(scores.value("mig", "mig"), 3),
                omes=round(scores.value("omes", "omes"), 3),
                omes_per_factor=[round(v, 2) for v in scores.value("omes", "omes_per_factor")],
                mean_std=[round(v, 3) for v in scores.posterior["mean_std"]],
                posterior_var=[round(v, 2) for v in scores.posterior["posterior_var"]],
            )
            print(json.dumps(row), flush=True)
            with open(args.out / "draws.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
