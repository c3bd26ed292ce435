"""Train an ensemble of repeat runs (seeds 0..M-1) sequentially into one folder."""

from __future__ import annotations

import json
from pathlib import Path

from disentkit.errors import DisentkitError


def train_ensemble(
    data: str,
    method: str,
    beta: float,
    members: int,
    steps: int,
    out: str | Path,
    preset: str | None = None,
    device: str = "auto",
    lr: float | None = None,
    progress=None,
    options: dict | None = None,
) -> list[Path]:
    """Train ``members`` runs that differ only in their seed; returns their folders.

    ``options``: the method's own weights (``TrainConfig`` fields such as ``gamma``, ``lambda_od``,
    ``capacity_max``); the rest take the method's defaults. Writes ``out/memberNN`` run folders and ``out/ensemble.json`` (the member list, so that
    ``disentkit fragments analyze out`` finds them). Members already complete are kept.
    """
    from disentkit.config import atomic_write_text
    from disentkit.train import TrainConfig, apply_preset, train

    if members < 1:
        raise DisentkitError(f"--members must be at least 1, got {members}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    options = dict(options or {})
    base = TrainConfig(data=data, method=method, beta=beta, steps=steps, device=device, **options)
    # The members are the user's method and weights at the default latent size: a preset lends its
    # schedule (lr, batch, clipping, checkpoints), not its recipe (cpu-quick's 5 latents, k, sparsity).
    not_from_preset = {"method", "beta", "steps", "data", "device", "latent_dim", "k", "sparsity", *options}
    base = apply_preset(base, preset, explicit=not_from_preset)
    if lr is not None:
        base.lr = lr
    names = [f"member{k:02d}" for k in range(members)]
    folders = []
    for seed, name in enumerate(names):
        folder = out / name
        if (folder / "done.json").exists():
            folders.append(folder)
            continue
        config = TrainConfig(**{**base.__dict__, "seed": seed})
        train(config, folder, progress=False)
        atomic_write_text(folder / "done.json", json.dumps({"seed": seed}))
        folders.append(folder)
        if progress:
            progress(f"member {seed + 1}/{members} trained: {folder}")
        atomic_write_text(
            out / "ensemble.json", json.dumps({"data": data, "members": names[: seed + 1]}, indent=1)
        )
    atomic_write_text(
        out / "ensemble.json",
        json.dumps({"data": data, "method": method, "beta": beta, **options, "members": names}, indent=1),
    )
    return folders
