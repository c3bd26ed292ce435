"""CLI command of disentkit.quickstart: ``disentkit quickstart``, the one-command main job."""

from __future__ import annotations

from pathlib import Path

import typer


def quickstart_command(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", help="Where the runs and the report go."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore finished stages and redo everything."),
    device: str = typer.Option("auto", "--device"),
    seed: int = typer.Option(
        0, "--seed", help="Seeds the source, the baseline, the fine-tunes and the metrics."
    ),
    baseline: bool = typer.Option(
        False,
        "--baseline",
        help="Also train the β-VAE of the same budget that claim (a) compares with (the source's "
        "training time again: left out of make demo's 10 minutes).",
    ),
    bf16: bool = typer.Option(
        False,
        "--bf16",
        help="Train and fine-tune under bf16 autocast (faster on CPUs with AVX512-BF16 or AMX, and on "
        "CUDA); the report's findings say whether the paper's claims hold with it.",
    ),
) -> None:
    """The main job, no arguments, no download: train the cpu-quick weakly supervised source (GVAE with
    the changed factors known) on dSprites (and with --baseline a β-VAE of the same budget), transfer
    it to Noisy-dSprites and to real photographs, check the paper's findings and write OUT/report.html."""
    from disentkit.quickstart.job import run_quickstart

    run_quickstart(out, fresh=fresh, device=device, seed=seed, baseline=baseline, bf16=bf16)


def register(app: typer.Typer) -> None:
    """Add this package's command to the top-level app."""
    app.command("quickstart")(quickstart_command)
