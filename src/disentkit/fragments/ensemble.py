"""Train an ensemble of repeat runs (seeds 0..M-1) into one folder, as one model batch where that is
faster (disentkit.train.batch.train_models), else one after another."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from disentkit.config import atomic_write_text
from disentkit.errors import DisentkitError
from disentkit.train.guard import ADVICE

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
    solo: bool = False,
    bf16: bool = False,
) -> list[Path]:
    """Train ``members`` runs that differ only in their seed; returns their folders.

    ``options``: the method's own weights (``TrainConfig`` fields such as ``gamma``, ``lambda_od``,
    ``capacity_max``); the rest take the method's defaults. ``bf16``: train under bf16 autocast
    (``TrainConfig.bf16``). Writes ``out/memberNN`` run folders and
    ``out/ensemble.json`` (the settings and the finished members, so that ``disentkit fragments
    analyze out`` finds them). Re-running on the same folder continues it: finished members are
    kept, a member killed mid-run resumes from its latest checkpoint, missing ones are trained;
    other settings than the folder's are refused. The members left to train form one model batch
    where that is faster (``solo``: one after another; on the CPU one after another anyway unless
    each step is small, :data:`~disentkit.train.batch.CPU_BATCH_MAX_IMAGES`). A member that diverges
    or collapses stops alone; the others are trained, then the stopped ones are named in a
    DisentkitError.
    """
    from disentkit.config import only_entries, prepare_output_folder
    from disentkit.train import TrainConfig, apply_preset
    from disentkit.train.batch import train_models

    if members < 1:
        raise DisentkitError(f"--members must be at least 1, got {members}")
    out = Path(out)
    options = dict(options or {})
    settings = {"data": data, "method": method, "beta": beta, "steps": steps, "preset": preset, "lr": lr}
    settings |= {"batch": batch, "checkpoint_every": checkpoint_every, "bf16": bf16, **options}
    prepare_output_folder(
        out, "an ensemble (ensemble.json, memberNN)", only_entries("ensemble.json", "member*")
    )
    _check_same_settings(out, settings)
    base = TrainConfig(data=data, method=method, beta=beta, steps=steps, device=device, bf16=bf16, **options)
    # The members are the user's method and weights at the default latent size: a preset lends its
    # schedule (lr, batch, clipping, checkpoints), not its recipe (cpu-quick's 5 latents, k, sparsity).
    not_from_preset = {
        "method",
        "beta",
        "steps",
        "data",
        "device",
        "latent_dim",
        "k",
        "sparsity",
        "bf16",
        *options,
    }
    base = apply_preset(base, preset, explicit=not_from_preset)
    chosen = {"lr": lr, "batch": batch, "checkpoint_every": checkpoint_every}
    base = dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None}).validate()
    names = [f"member{k:02d}" for k in range(members)]
    finished = [n for n in names if (out / n / "done.json").exists()]
    _write_index(out, settings, finished)
    todo = [(seed, name) for seed, name in enumerate(names) if name not in finished]
    seeds = {out / name: seed for seed, name in todo}

    def record(outcome) -> None:  # as soon as a member is done, so that a kill keeps it
        if outcome.status != "finished":
            return
        seed = seeds[outcome.out]
        atomic_write_text(outcome.out / "done.json", json.dumps({"seed": seed}))
        finished.append(outcome.out.name)
        _write_index(out, settings, [n for n in names if n in finished])
        if progress:
            progress(f"member {seed + 1}/{members} trained: {outcome.out}")

    configs = [TrainConfig(**{**base.__dict__, "seed": seed}) for seed, _ in todo]
    outcomes = train_models(
        configs, list(seeds), resume="auto", progress=False, solo=solo, say=progress, on_outcome=record
    )
    stopped = [o for o in outcomes if o.status != "finished"]
    if stopped:
        # One line however many stopped: each member's folder keeps its own reason (collapse.json,
        # diverged.json), and the advice is the same for all.
        raise DisentkitError(
            f"{len(stopped)} of {len(outcomes)} member(s) stopped early "
            f"({', '.join(f'{o.out.name} {o.status}' for o in stopped)}; the reasons are in their folders); "
            f"{ADVICE}"
        )
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
