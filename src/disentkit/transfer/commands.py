"""CLI command of disentkit.transfer: ``disentkit transfer``."""

from __future__ import annotations

from pathlib import Path

import typer


def _parse_options(pairs: list[str] | None) -> dict:
    """``key=value`` strings → dict (ints/floats/bools parsed by YAML)."""
    import yaml

    from disentkit.errors import DisentkitError

    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise DisentkitError(f"target option {pair!r} must look like key=value (e.g. resolution=128)")
        key, value = pair.split("=", 1)
        options[key.strip()] = yaml.safe_load(value)
    return options


def transfer_command(
    source: Path = typer.Option(..., "--source", help="Source run folder (from `disentkit train`)."),
    target: str = typer.Option(
        ..., "--target", help="Target dataset name, or a folder of images (unlabelled)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (transfer.json, finetune/)."),
    steps: int = typer.Option(2000, "--steps", help="Fine-tuning steps (the paper: 50,000)."),
    weak: bool = typer.Option(False, "--weak", help="Fine-tune on weak pairs (targets with factors)."),
    lr: float = typer.Option(1e-4, "--lr", help="Fine-tuning learning rate (the paper: 1e-4)."),
    beta: float = typer.Option(None, "--beta", help="β of the fine-tuning loss (default: the source's)."),
    eval_size: int = typer.Option(
        15000, "--eval-size", help="Held-out evaluation sample (2/3 train, 1/3 test)."
    ),
    omes_pairs: int = typer.Option(10000, "--omes-pairs", help="OMES intervention pairs per factor."),
    classifiers: str = typer.Option("gbt,mlp", "--classifiers", help="Comma list of gbt, mlp, hgb (fast)."),
    option: list[str] = typer.Option(None, "--target-option", help="key=value option of the target dataset."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    fresh: bool = typer.Option(
        False, "--fresh", help="Replace a transfer of another config in --out (it is deleted)."
    ),
) -> None:
    """Evaluate SOURCE on TARGET before and after unsupervised fine-tuning (the transfer paper)."""
    from rich.console import Console

    from disentkit.tables import print_table
    from disentkit.transfer.core import TransferConfig, run_transfer
    from disentkit.transfer.findings import print_findings

    config = TransferConfig(
        source=str(source),
        target=target,
        target_options=_parse_options(option),
        steps=steps,
        weak=weak,
        lr=lr,
        beta=beta,
        seed=seed,
        eval_size=eval_size,
        omes_pairs=omes_pairs,
        classifiers=tuple(c.strip() for c in classifiers.split(",") if c.strip()),
        device=device,
    )
    result = run_transfer(config, out, fresh=fresh)
    print_table(result["table"], f"{source} → {target}: before×100 (+gain×100)")
    if result.get("findings"):
        print_findings(result["findings"], Console())
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"results: {out / 'transfer.json'} (status {result['status']})")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("transfer")(transfer_command)
