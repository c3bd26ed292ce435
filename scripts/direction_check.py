"""Short CPU runs of the unsupervised study's methods on dSprites, one weight per run, and the quantity
each weight is meant to move (how docs/results/study-methods-direction-*.md was made).

    .venv/bin/python scripts/direction_check.py --methods dip-vae-i,dip-vae-ii --steps 400 --out /tmp/dir

Every run: procedural dSprites, conv64, 10 latents, batch 32, Adam lr 5e-4, seed 0 (``--seed``), one torch thread
(two groups can share a 2-core machine). Then 2,000 images (seed 1) are encoded and scored:

* dip-vae-i/-ii: Σ_{i≠j} C_ij² of C = Cov[μ] (-ii: Cov[z] = Cov[μ] + E[diag σ²]), the quantity the
  λ_od term penalises, and the same divided by Σ_i C_ii² (scale-free);
* factor-vae: the trained discriminator's TC estimate E[logit₀ − logit₁] on draws z of the 2,000
  images; a held-out estimate from a fresh discriminator (3 × 256 units, 600 Adam steps on draws of
  the first 1,500 images, evaluated on the last 500), which the encoder never trained against; and
  the Gaussian total correlation ½(Σ_i log C_ii − log det C) of C = Cov[z], which sees only linear
  dependence;
* annealed-vae: the mean KL of the 2,000 posteriors against the final capacity C.

One JSON line per run goes to stdout and to ``OUT/direction.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

GRID = {
    "dip-vae-i": ("lambda_od", [1.0, 10.0, 50.0]),
    "dip-vae-ii": ("lambda_od", [1.0, 10.0, 50.0]),
    "factor-vae": ("gamma", [1.0, 10.0, 100.0]),
    "annealed-vae": ("capacity_max", [5.0, 25.0]),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(GRID))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n", type=int, default=2000, help="images scored")
    parser.add_argument("--seed", type=int, default=0, help="run seed (weights, batches, noise)")
    parser.add_argument("--values", default=None, help="comma-separated weights (default: GRID's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--score-only", action="store_true", help="score the runs already in --out")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def off_diagonal(cov: np.ndarray) -> tuple[float, float]:
    off = cov - np.diag(np.diag(cov))
    total = float((off**2).sum())
    return total, total / float((np.diag(cov) ** 2).sum())


def fresh_tc(z: np.ndarray, seed: int = 0, steps: int = 600, held_out: int = 500) -> float:
    """TC estimated by a discriminator trained from scratch on draws of the first images and
    evaluated on the last ``held_out`` (the density-ratio trick, away from the encoder's game)."""
    from disentkit.models.objectives import Discriminator, discriminator_loss, discriminator_tc, permute_dims

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    disc = Discriminator(z.shape[1], width=256, depth=3)
    optimizer = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.9))
    train_z, test_z = torch.from_numpy(z[:-held_out]).float(), torch.from_numpy(z[-held_out:]).float()
    for _ in range(steps):
        rows = train_z[torch.randint(0, len(train_z), (128,), generator=g)]
        optimizer.zero_grad()
        discriminator_loss(disc(rows), disc(permute_dims(rows, g))).backward()
        optimizer.step()
    with torch.no_grad():
        return float(discriminator_tc(disc(test_z)))


def scores(method: str, run: Path, images: np.ndarray) -> dict:
    from disentkit.models.objectives import Discriminator, discriminator_tc
    from disentkit.models.vae import kl_to_prior
    from disentkit.train.checkpoint import load_checkpoint
    from disentkit.train.runs import load_run

    trained = load_run(run, device="cpu", checkpoint="latest")
    mu, logvar = trained.encode(images)
    out: dict = {}
    if method.startswith("dip-vae"):
        cov = np.cov(mu, rowvar=False, bias=True)
        if method == "dip-vae-ii":
            cov = cov + np.diag(np.exp(logvar).mean(0))
        out["cov_offdiag_sq"], out["cov_offdiag_ratio"] = off_diagonal(cov)
        out["cov_diag_mean"] = float(np.diag(cov).mean())
    elif method == "factor-vae":
        rng = np.random.default_rng(2)
        z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)
        disc = Discriminator(mu.shape[1])
        disc.load_state_dict(load_checkpoint(run / "checkpoints" / "latest.safetensors").companion_state)
        with torch.no_grad():
            out["tc_discriminator"] = float(discriminator_tc(disc(torch.from_numpy(z).float())))
        out["tc_fresh_heldout"] = fresh_tc(z)
        cov = np.cov(z, rowvar=False, bias=True)
        out["tc_gaussian"] = float(0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1]))
    else:
        kl = kl_to_prior(torch.from_numpy(mu), torch.from_numpy(logvar)).sum(1).mean()
        out["kl"] = float(kl)
    rec = trained.decode(mu[:256])
    target = images[:256].astype(np.float32) / 255.0
    out["recon_l1"] = float(np.abs(rec - target).mean())
    return out


def main() -> None:
    from disentkit.data import get_dataset
    from disentkit.train import TrainConfig, train

    args = parse_args()
    torch.set_num_threads(args.threads)
    dataset = get_dataset("dsprites")
    images = dataset.sample_images(args.n, np.random.default_rng(1))
    args.out.mkdir(parents=True, exist_ok=True)
    for method in args.methods.split(","):
        option, values = GRID[method]
        if args.values:
            values = [float(v) for v in args.values.split(",")]
        for value in values:
            extra = {option: value}
            if method == "annealed-vae":
                extra["capacity_steps"] = args.steps // 2  # C reaches C_max half way
            config = TrainConfig(
                data="dsprites",
                method=method,
                steps=args.steps,
                batch=args.batch,
                lr=5e-4,
                latent_dim=10,
                seed=args.seed,
                checkpoint_every=args.steps,
                log_every=max(1, args.steps // 8),
                device="cpu",
                cpu_shards=1,
                **extra,
            )
            run = args.out / f"{method}-{option}{value:g}-s{args.seed}"
            start = time.perf_counter()
            train(config, run, progress=False)
            seconds = time.perf_counter() - start
            row = {
                "method": method,
                option: value,
                "seed": args.seed,
                "steps": args.steps,
                "batch": args.batch,
            }
            row |= {"train_s": round(seconds, 1), **scores(method, run, images)}
            line = json.dumps(row)
            print(line, flush=True)
            with open(args.out / "direction.jsonl", "a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
