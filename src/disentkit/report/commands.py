"""CLI commands of disentkit.report (registered on the top-level app by disentkit.cli)."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    runs: list[Path] = typer.Argument(..., help="Training run folders and/or transfer folders."),
    out: Path = typer.Option(Path("report.html"), "--out", help="The HTML file to write."),
) -> None:
    """Write one self-contained HTML report (tables, heatmaps, reconstructions, traversals, curves)."""
    from disentkit.config import prepare_output_file
    from disentkit.report.html import build_report

    prepare_output_file(out)  # before the report is built: a bad path costs nothing
    path = build_report(list(runs), out)
    typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("report")(report_command)
