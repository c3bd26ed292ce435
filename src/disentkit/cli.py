"""The `disentkit` command. Thin: each package registers its own commands (``<package>/commands.py``)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from disentkit.errors import DisentkitError

app = typer.Typer(
    name="disentkit",
    help="Learn, transfer and measure disentangled representations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_all() -> None:
    from disentkit.data import commands as data_commands
    from disentkit.fragments import commands as fragments_commands
    from disentkit.metrics import commands as metrics_commands
    from disentkit.quickstart import commands as quickstart_commands
    from disentkit.report import commands as report_commands
    from disentkit.sweep import commands as sweep_commands
    from disentkit.train import commands as train_commands
    from disentkit.transfer import commands as transfer_commands

    for module in (
        data_commands,
        metrics_commands,
        train_commands,
        transfer_commands,
        quickstart_commands,
        report_commands,
        fragments_commands,
        sweep_commands,
    ):
        module.register(app)


_register_all()


@app.callback()
def _root() -> None:
    """Learn, transfer and measure disentangled representations."""


@app.command()
def version() -> None:
    """Print disentkit's version and the library versions recorded with every result."""
    from disentkit.config import environment_info

    for key, value in environment_info().items():
        typer.echo(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one red line on stderr and exit code 2, never a traceback."""
    try:
        app(args=argv)  # standalone: usage errors and --help exit through SystemExit
    except DisentkitError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
