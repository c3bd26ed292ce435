"""CLI commands of disentkit.transfer: ``transfer`` and the one-command main job ``quickstart``."""

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


def print_table(rows: list[dict], title: str) -> None:
    """The before/after table in the terminal (Rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for name in columns:
        table.add_column(name, justify="left" if name == "factor" else "right")
    for row in rows:
        table.add_row(*[str(row.get(name, "")) for name in columns])
    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough that no cell is cut
        console = Console(width=max(console.width, 150))
    console.print(table)


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
    from disentkit.transfer.core import run_transfer
    from disentkit.transfer.quickstart import print_findings

    config = TransferConfig(**config_values(TransferConfig, options), target_options=_parse_options(option))
    result = run_transfer(config, out, fresh=fresh)
    print_table(result["table"], f"{config.source} → {config.target}: before×100 (+gain×100)")
    if result.get("findings"):
        print_findings(result["findings"], Console())
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"results: {out / 'transfer.json'} (status {result['status']})")


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
) -> None:
    """The main job, no arguments, no download: train the cpu-quick weakly supervised source (GVAE with
    the changed factors known) on dSprites (and with --baseline a β-VAE of the same budget), transfer
    it to Noisy-dSprites and to real photographs, check the paper's findings and write OUT/report.html."""
    from disentkit.transfer.quickstart import run_quickstart

    run_quickstart(out, fresh=fresh, device=device, seed=seed, baseline=baseline)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("transfer")(transfer_command)
    app.command("quickstart")(quickstart_command)
