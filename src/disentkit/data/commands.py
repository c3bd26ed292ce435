"""CLI commands of disentkit.data: ``data list``, ``data show`` and ``data gallery``."""

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
        except DisentkitError as exc:  # needs the user's files: say which and how to get them
            rows.append((name, f"not available here: {exc}", "", "user files"))
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
        table.add_column(column, overflow="fold")  # long file names wrap instead of "…"
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
    from disentkit.config import prepare_output_file, writable_error
    from disentkit.data.preview import write_preview

    prepare_output_file(out)
    source = open_source(name, data_dir)
    try:
        path = write_preview(source, out, seed)
    except OSError as exc:
        raise writable_error(out, exc) from None
    typer.echo(f"wrote {path}")


def write_gallery(out_dir: Path = Path("gallery"), seed: int = 0) -> tuple[list[Path], dict[str, str]]:
    """Preview every dataset available on this machine into ``out_dir``.

    Returns the PNG paths and, for datasets that need files the user has not provided (official
    files, COIL-100, RGB-D folders), the reason each was skipped.
    """
    from disentkit.config import only_entries, prepare_output_folder
    from disentkit.data.preview import write_preview
    from disentkit.data.registry import get_dataset, list_datasets

    prepare_output_folder(out_dir, "a dataset gallery (PNG files)", only_entries("*.png"), "--out-dir")
    written, skipped = [], {}
    for name in list_datasets():
        try:
            dataset = get_dataset(name)
        except DisentkitError as exc:
            skipped[name] = str(exc)
            continue
        written.append(write_preview(dataset, out_dir / f"{name}.png", seed))
    return written, skipped


def gallery_command(
    out_dir: Path = typer.Option(Path("gallery"), "--out-dir", help="Folder for the pictures."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a sample grid with traversals of every built-in dataset."""
    written, skipped = write_gallery(out_dir, seed)
    for path in written:
        typer.echo(f"wrote {path}")
    for name in skipped:
        typer.echo(f"skipped {name}: needs user files (see `disentkit data list`)")
    typer.echo(f"pictures are in {out_dir.resolve()}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    data_app.command("gallery")(gallery_command)
    app.add_typer(data_app, name="data")
