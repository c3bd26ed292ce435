"""Train an ensemble of repeat runs (seeds 0..M-1) sequentially into one folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from disentkit.config import atomic_write_text
from disentkit.errors import DisentkitError

#: the settings an ensemble folder is made with: a re-run must give the same ones to continue it


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
    batch: int | None = None,
    checkpoint_every: int | None = None,
    options: dict | None = None,
) -> list[Path]:
    """Train ``members`` runs that differ only in their seed; returns their folders.

    ``options``: the method's own weights (``TrainConfig`` fields such as ``gamma``, ``lambda_od``,
    ``capacity_max``); the rest take the method's defaults. Writes ``out/memberNN`` run folders and
    ``out/ensemble.json`` (the settings and the finished members, so that ``disentkit fragments
    analyze out`` finds them). Re-running on the same folder continues it: finished members are
    kept, a member killed mid-run resumes from its latest checkpoint, missing ones are trained;
    other settings than the folder's are refused.
    """
    from disentkit.config import only_entries, prepare_output_folder
    from disentkit.train import TrainConfig, apply_preset
    from disentkit.train.loop import train_or_resume

    if members < 1:
        raise DisentkitError(f"--members must be at least 1, got {members}")
    out = Path(out)
    options = dict(options or {})
    settings = {"data": data, "method": method, "beta": beta, "steps": steps, "preset": preset, "lr": lr}
    settings |= {"batch": batch, "checkpoint_every": checkpoint_every, **options}
    prepare_output_folder(
        out, "an ensemble (ensemble.json, memberNN)", only_entries("ensemble.json", "member*")
    )
    _check_same_settings(out, settings)
    base = TrainConfig(data=data, method=method, beta=beta, steps=steps, device=device, **options)
    # The members are the user's method and weights at the default latent size: a preset lends its
    # schedule (lr, batch, clipping, checkpoints), not its recipe (cpu-quick's 5 latents, k, sparsity).
    not_from_preset = {"method", "beta", "steps", "data", "device", "latent_dim", "k", "sparsity", *options}
    base = apply_preset(base, preset, explicit=not_from_preset)
    chosen = {"lr": lr, "batch": batch, "checkpoint_every": checkpoint_every}
    base = dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None}).validate()
    names = [f"member{k:02d}" for k in range(members)]
    finished = [n for n in names if (out / n / "done.json").exists()]
    _write_index(out, settings, finished)
    for seed, name in enumerate(names):
        folder = out / name
        if name in finished:
            continue
        config = TrainConfig(**{**base.__dict__, "seed": seed})
        train_or_resume(config, folder, progress=False)
        atomic_write_text(folder / "done.json", json.dumps({"seed": seed}))
        finished.append(name)
        _write_index(out, settings, [n for n in names if n in finished])
        if progress:
            progress(f"member {seed + 1}/{members} trained: {folder}")
    return [out / n for n in names]


def _check_same_settings(out: Path, settings: dict) -> None:
    index = out / "ensemble.json"
    if not index.exists():
        return
    try:
        saved = json.loads(index.read_text())
    except ValueError:
        raise DisentkitError(f"{index} is corrupt; train the ensemble into another --out") from None
    for key, value in settings.items():
        if key in saved and saved[key] != value:
            raise DisentkitError(
                f"{out} is an ensemble of {key} {saved[key]!r}, not {value!r}; re-run with the same "
                "settings to continue it, or use another --out"
            )


def _write_index(out: Path, settings: dict, finished: list[str]) -> None:
    atomic_write_text(out / "ensemble.json", json.dumps({**settings, "members": finished}, indent=1))
