"""Draws of a training recipe on dSprites, scored at several step counts (how docs/training.md's tables were made).

    .venv/bin/python scripts/preset_draws.py --preset cpu-quick --seeds 0,1 --stages 4000,6000 \
        --set batch=16 --out /tmp/draws

Each seed trains one run (one torch thread by default, so two draws can share a 2-core machine) up
to the first stage, is scored, then resumed to the next stage (a run's step s depends only on
(seed, s), so a run resumed from 4,000 to 6,000 steps is the 6,000-step run), and so on. Scores:
MIG on 10,000 sampled points and intervention OMES with 10,000 pairs per factor, as
tests/train/test_quick_preset_slow.py. One JSON line per (seed, stage) goes to stdout and to
``OUT/draws.jsonl``. A stage's scores come from the latest checkpoint, so stages must be multiples of
the recipe's ``checkpoint_every``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
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
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def scores(run: Path, dataset) -> dict:
    from disentkit.metrics.information import mig
    from disentkit.metrics.omes_metric import omes_intervention
    from disentkit.train import load_run

    model = load_run(run, device="cpu", checkpoint="latest")
    images, factors = dataset.sample_observations(10_000, np.random.default_rng(0))
    result = omes_intervention(dataset, lambda x: model.encode(x)[0], rng=np.random.default_rng(1))
    return {
        "mig": round(float(mig(model.encode(images)[0], factors).mig), 3),
        "omes": round(float(result.omes), 3),
        "omes_per_factor": [round(float(v), 2) for v in result.omes_per_factor],
    }


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

    args = parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    stages = [int(s) for s in args.stages.split(",")]
    dataset = get_dataset("dsprites")
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        config = apply_preset(TrainConfig(device="cpu", seed=seed), args.preset)
        config = dataclasses.replace(config, **overrides, steps=stages[0]).validate()
        if config.lr_decay:
            raise DisentkitError("stages need a constant learning rate: a decay depends on the final step")
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
                "train_s": round(time.perf_counter() - start),
            }
            row.update(scores(run, dataset))
            print(json.dumps(row), flush=True)
            with open(args.out / "draws.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
