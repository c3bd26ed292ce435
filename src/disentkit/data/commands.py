"""CLI commands of disentkit.data: ``data list``, ``data show`` and (for now) ``demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from disentkit.errors import DisentkitError

data_app = typer.Typer(help="Ground-truth datasets: list them, look at them.", no_args_is_help=True)

DATA_DIR_HELP = "Folder with official files (default: $DISENTKIT_DATA, else ./data)."


def open_source(name: str, data_dir: Path | None = None, channels: int = 3):
    """A registered dataset by name, or an image folder (labelled if it holds labels.csv)."""
    from disentkit.data.folders import LABELS_FILE, ImageFolder, LabelledFolder
    from disentkit.data.registry import get_dataset

    path = Path(name).expanduser()
    if path.is_dir():
        if (path / LABELS_FILE).is_file():
            return LabelledFolder(path, channels=channels)
        return ImageFolder(path, channels=channels)
    options = {"data_dir": data_dir} if name.lower().endswith("-file") else {}
    return get_dataset(name, **options)


def dataset_rows(data_dir: Path | None = None) -> list[tuple[str, str, str, str]]:
    """(name, factors with sizes, shape, source) for every registered dataset."""
    from disentkit.data.registry import list_datasets

    rows = []
    for name in list_datasets():
        try:
            ds = open_source(name, data_dir)
        except DisentkitError:
            rows.append((name, "official file not found (--data-dir / $DISENTKIT_DATA)", "", "file"))
            continue
        factors = ", ".join(f"{n} {s}" for n, s in zip(ds.factor_names, ds.factor_sizes, strict=True))
        rows.append((name, factors, "×".join(map(str, ds.observation_shape)), ds.source))
    return rows


@data_app.command("list")
def list_command(data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)) -> None:
    """List the datasets: name, factors with their number of values, image shape, source."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="disentkit datasets")
    for column in ("name", "factors (values)", "shape", "source"):
        table.add_column(column)
    for row in dataset_rows(data_dir):
        table.add_row(*row)
    Console().print(table)


@data_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Dataset name (see `disentkit data list`) or an image folder."),
    out: Path = typer.Option(Path("grid.png"), "--out", "-o", help="PNG to write."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples and traversal base."),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Write a grid of samples plus one traversal row per factor to a PNG."""
    from disentkit.data.preview import write_preview

    path = write_preview(open_source(name, data_dir), out, seed)
    typer.echo(f"wrote {path}")


def run_demo(out_dir: Path = Path("demo-out"), seed: int = 0) -> list[Path]:
    """Preview every built-in procedural dataset into ``out_dir``; returns the PNG paths."""
    from disentkit.data.preview import write_preview
    from disentkit.data.registry import get_dataset, list_datasets

    written = []
    for name in list_datasets():
        if name.endswith("-file"):
            continue  # official files are the user's, not built in
        written.append(write_preview(get_dataset(name), out_dir / f"{name}.png", seed))
    return written


def demo_command(
    out_dir: Path = typer.Option(Path("demo-out"), "--out-dir", help="Folder for the pictures."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Run the demo: for now, a sample grid with traversals of every built-in dataset."""
    for path in run_demo(out_dir, seed):
        typer.echo(f"wrote {path}")
    typer.echo(f"demo pictures are in {out_dir.resolve()}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.add_typer(data_app, name="data")
    app.command("demo")(demo_command)
