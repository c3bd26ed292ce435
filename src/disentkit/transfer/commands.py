"""CLI command of disentkit.transfer: ``disentkit transfer``."""

from __future__ import annotations

from pathlib import Path

import typer

from disentkit.options import field_help, with_options
from disentkit.tables import print_table
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
    """Evaluate SOURCE on TARGET before and after unsupervised fine-tuning (the transfer paper).

    A --source folder of run folders (`train --seeds/--betas` writes one) transfers each of them,
    into --out/<run name>, their fine-tunes trained as one model batch (docs/batches.md).
    """
    from rich.console import Console

    from disentkit.options import config_values
    from disentkit.transfer.core import run_transfer
    from disentkit.transfer.findings import print_findings

    config = TransferConfig(**config_values(TransferConfig, options), target_options=_parse_options(option))
    runs = run_folders(Path(config.source))
    if runs:
        _transfer_each(config, runs, out, fresh)
        return
    result = run_transfer(config, out, fresh=fresh)
    print_table(result["table"], f"{config.source} → {config.target}: before×100 (+gain×100)")
    if result.get("findings"):
        print_findings(result["findings"], Console())
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"results: {out / 'transfer.json'} (status {result['status']})")


def run_folders(folder: Path) -> list[Path]:
    """The run folders inside ``folder`` when it is a folder of runs (not itself a run), else []."""
    if not folder.is_dir() or (folder / "config.yaml").exists():
        return []
    return sorted(p for p in folder.iterdir() if (p / "config.yaml").exists())


def _transfer_each(config: TransferConfig, runs: list[Path], out: Path, fresh: bool) -> None:
    """One transfer per run of a folder of runs, their fine-tunes together; one summary row each."""
    import dataclasses

    from disentkit.transfer.core import run_transfers

    configs = [dataclasses.replace(config, source=str(run)) for run in runs]
    results = run_transfers(configs, [out / run.name for run in runs], fresh=fresh)
    rows = []
    for run, result in zip(runs, results, strict=True):
        overall = (result.get("table") or [{}])[-1]
        rows.append(
            {"source": run.name, "status": result["status"]}
            | {k: v for k, v in overall.items() if k != "factor"}
        )
    print_table(
        rows, f"{len(runs)} sources in {config.source} → {config.target}: All factors, before×100 (+gain×100)"
    )
    for run, result in zip(runs, results, strict=True):
        for line in [result.get("error"), *result.get("warnings", [])]:
            if line:
                typer.echo(f"{run.name}: {line}", err=True)
    typer.echo(f"results: {out}/<source>/transfer.json")
    if any(r["status"] in ("refused", "failed") for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("transfer")(transfer_command)
