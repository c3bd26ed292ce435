"""CLI of disentkit.fragments: ``disentkit fragments analyze|fuse`` and ``disentkit ensemble train``.

The issue asked for ``disentkit fragments RUN...``; a Typer group cannot also take positional
arguments of its own next to subcommands, so the analysis is ``disentkit fragments analyze RUN...``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from disentkit.errors import DisentkitError
from disentkit.options import field_help
from disentkit.train.config import METHOD_OPTIONS, TrainConfig

METHOD_HELP = field_help(TrainConfig, "method")
#: the method-specific weights --option takes, with their help
OPTION_HELP = {name: field_help(TrainConfig, name) for name in METHOD_OPTIONS}

fragments_app = typer.Typer(
    help="Information fragments: compare channels across VAE ensembles (NMI/VI, hotspots, fusion).",
    no_args_is_help=True,
)
ensemble_app = typer.Typer(help="Ensembles of repeat training runs.", no_args_is_help=True)


@fragments_app.command("analyze")
def analyze_command(
    runs: list[Path] = typer.Argument(..., help="Run folders (disentkit train / ensemble train)."),
    data: str = typer.Option(..., "--data", help="Dataset the runs were trained on."),
    n: int = typer.Option(1000, "--n", help="Fingerprint sample size (the paper: 1000; 300 for quick runs)."),
    out: Path = typer.Option(Path("fragments"), "--out", help="Output folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fingerprint sample."),
    distance: str = typer.Option("vi", "--distance", help="Hotspot distance: vi or nmi."),
    min_samples: int = typer.Option(20, "--min-samples", help="OPTICS min_samples."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda."),
    threads: int = typer.Option(
        None, "--threads", help="CPU threads for torch (1 is often fastest on a busy shared machine)."
    ),
) -> None:
    """Census, NMI/VI matrices, hotspots, figures and analysis.json for an ensemble of runs."""
    from disentkit.fragments.pipeline import analyze_runs

    if threads is not None:
        if threads < 1:
            raise DisentkitError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)

    runs_expanded = _expand_runs(runs)
    payload = analyze_runs(runs_expanded, data, n, out, seed, distance, min_samples, device)
    census = payload["census"]
    typer.echo(
        f"{len(runs_expanded)} runs, {len(census['names'])} channels, {census['n_active']} active, "
        f"{payload['hotspots']['n_hotspots']} hotspots (min_samples={payload['hotspots']['min_samples']})"
    )
    for warning in payload.get("warnings", []):
        typer.echo(f"warning: {warning}")
    typer.echo(f"wrote {out}/analysis.json, {', '.join(payload['figures'])}")


def _expand_runs(paths: list[Path]) -> list[Path]:
    """A folder of runs (an ensemble folder) stands for its members."""
    expanded = []
    for path in paths:
        if not path.exists():
            raise DisentkitError(f"run folder not found: {path}")
        if (path / "ensemble.json").exists():
            members = json.loads((path / "ensemble.json").read_text())["members"]
            expanded += [path / m for m in members]
        else:
            expanded.append(path)
    return expanded


@fragments_app.command("fuse")
def fuse_command(
    out: Path = typer.Option(Path("fusion"), "--out", help="Output folder."),
    members: str = typer.Option(None, "--members", help="Ensemble sizes, comma-separated (e.g. 1,2,4,8,16)."),
    preset: str = typer.Option(
        "cpu", "--preset", help="cpu (minutes on 2 cores) or paper (up to 50 members)."
    ),
    train_steps: int = typer.Option(None, "--train-steps", help="Steps per weak learner."),
    points: int = typer.Option(None, "--points", help="Fingerprint points on the circle."),
    fuse_steps: int = typer.Option(None, "--fuse-steps", help="Adam steps of the fusion."),
    objective: str = typer.Option(None, "--objective", help="exp-vi (default) or nmi."),
    anneal: float = typer.Option(
        None, "--anneal", help="Starting blur of the members' fingerprints (1: none)."
    ),
    seed: int = typer.Option(None, "--seed", help="First weak learner's seed."),
) -> None:
    """The paper's fusion demo: 1-D beta-VAEs (beta 0.03) on a circle, fused for growing ensembles."""
    from disentkit.config import (
        atomic_write_text,
        environment_info,
        only_entries,
        prepare_output_folder,
        to_dict,
    )
    from disentkit.fragments.fusion import circle_demo, demo_config, demo_figure

    sizes = None
    if members:
        try:
            sizes = tuple(int(s) for s in members.split(","))
        except ValueError:
            raise DisentkitError(f"--members must be comma-separated integers, got {members!r}") from None
    cfg = demo_config(
        preset,
        sizes=sizes,
        train_steps=train_steps,
        points=points,
        fuse_steps=fuse_steps,
        objective=objective,
        seed=seed,
        anneal=anneal,
    )
    prepare_output_folder(out, "a fusion demo (fusion.json, fusion.png)", only_entries("fusion.*"))
    result = circle_demo(cfg, progress=typer.echo)
    demo_figure(result, out / "fusion.png")
    payload = {
        "config": to_dict(cfg),
        "rows": result["rows"],
        "single_members": result["single"],
        "environment": environment_info(),
    }
    atomic_write_text(out / "fusion.json", json.dumps(payload, indent=1))
    for row in result["rows"]:
        typer.echo(
            f"{row['members']:>3} members: continuity {row['continuity']:.3f} (members {row['member_continuity']:.3f}),"
            f" NMI with angle {row['angle_nmi']:.3f} (members {row['member_angle_nmi']:.3f})"
        )
    typer.echo(f"wrote {out}/fusion.json, {out}/fusion.png")


@ensemble_app.command("train")
def ensemble_train_command(
    data: str = typer.Option(..., "--data", help="Dataset name."),
    method: str = typer.Option("beta-vae", "--method", help=METHOD_HELP),
    beta: float = typer.Option(1.0, "--beta", help="KL weight."),
    option: list[str] = typer.Option(
        None,
        "--option",
        help="A method's own weight as NAME=VALUE, repeatable: "
        + "; ".join(f"{k}: {v}" for k, v in OPTION_HELP.items()),
    ),
    members: int = typer.Option(5, "--members", help="Number of repeat runs (seeds 0..M-1)."),
    steps: int = typer.Option(1500, "--steps", help="Optimiser steps per member."),
    out: Path = typer.Option(..., "--out", help="Ensemble folder (one run folder per member)."),
    preset: str = typer.Option(None, "--preset", help="Training preset (e.g. cpu-quick)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda."),
    batch: int = typer.Option(None, "--batch", help="Images per step (default: the preset's, else 64)."),
    checkpoint_every: int = typer.Option(
        None, "--checkpoint-every", help="Steps between checkpoints (default: the preset's, else 500)."
    ),
    solo: bool = typer.Option(
        False, "--solo", help="Train the members one after another instead of as one model batch."
    ),
    bf16: bool = typer.Option(
        False, "--bf16", help="bf16 autocast of the network, as train --bf16 (docs/training.md#bf16)."
    ),
) -> None:
    """Train an ensemble as one model batch (docs/batches.md; on the CPU, above 8 images per step, one
    member after another).

    Re-running the same command on the same --out continues a killed ensemble: finished members are
    kept, the interrupted ones resume from their latest checkpoints, the missing ones are trained.
    """
    from disentkit.fragments.ensemble import train_ensemble

    folders = train_ensemble(
        data,
        method,
        beta,
        members,
        steps,
        out,
        preset=preset,
        device=device,
        progress=typer.echo,
        batch=batch,
        checkpoint_every=checkpoint_every,
        options=parse_method_options(option or []),
        solo=solo,
        bf16=bf16,
    )
    typer.echo(
        f"trained {len(folders)} members in {out}; analyse with: disentkit fragments analyze {out} --data {data}"
    )


def parse_method_options(pairs: list[str]) -> dict[str, float]:
    """``["gamma=20", "capacity_steps=5000"]`` → ``{"gamma": 20.0, "capacity_steps": 5000}``."""
    options: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in OPTION_HELP:
            raise DisentkitError(
                f"--option wants NAME=VALUE with NAME one of {', '.join(OPTION_HELP)}, got {pair!r}"
            )
        try:
            options[name] = int(value) if name == "capacity_steps" else float(value)
        except ValueError:
            raise DisentkitError(f"--option {name}: {value!r} is not a number") from None
    return options


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.add_typer(fragments_app, name="fragments")
    app.add_typer(ensemble_app, name="ensemble")
