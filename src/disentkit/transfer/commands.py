"""CLI command of disentkit.transfer: ``disentkit transfer``."""

from __future__ import annotations

from pathlib import Path

import typer

from disentkit.options import field_help, with_options
from disentkit.transfer.config import TransferConfig


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


@with_options(TransferConfig)
def transfer_command(
    out: Path = typer.Option(..., "--out", help="Output folder (transfer.json, finetune/)."),
    option: list[str] = typer.Option(
        None, "--target-option", help=field_help(TransferConfig, "target_options")
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Replace a transfer of another config in --out (it is deleted)."
    ),
    **options,
) -> None:
    """Evaluate SOURCE on TARGET before and after unsupervised fine-tuning (the transfer paper)."""
    from rich.console import Console

    from disentkit.options import config_values
    from disentkit.tables import print_table
    from disentkit.transfer.core import run_transfer
    from disentkit.transfer.findings import print_findings

    config = TransferConfig(**config_values(TransferConfig, options), target_options=_parse_options(option))
    result = run_transfer(config, out, fresh=fresh)
    print_table(result["table"], f"{config.source} → {config.target}: before×100 (+gain×100)")
    if result.get("findings"):
        print_findings(result["findings"], Console())
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"results: {out / 'transfer.json'} (status {result['status']})")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("transfer")(transfer_command)
