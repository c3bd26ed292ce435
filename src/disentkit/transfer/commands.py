"""CLI commands of disentkit.transfer (registered on the top-level app by disentkit.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
