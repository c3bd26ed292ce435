"""CLI commands of disentkit.metrics: ``disentkit evaluate``.

Reads a representation and factor labels saved by another tool (the transfer paper's release format:
an npz with ``mean``/``sampled`` arrays plus a CSV whose header names the factors; or plain
.npy / .npz / .csv), or a trained run plus a dataset, and prints a table of scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from disentkit.errors import DisentkitError

if TYPE_CHECKING:
    from disentkit.metrics.evaluation import Evaluation

RELEASE_KEYS = ("mean", "sampled")
#: what ``--plot`` writes into its folder
PLOT_FILES = ("association_matrix.png", "omes_per_factor.png")


# ---------------------------------------------------------------------------- file readers
def _read_csv(path: Path, role: str = "factors") -> tuple[np.ndarray, list[str] | None]:
    """Numeric CSV; a first row that is not numeric is the header (factor names). A pandas index
    column (``DataFrame.to_csv()`` keeps it) is dropped with a warning naming it."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=None, dtype=str, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DisentkitError(f"cannot read CSV {path}: {exc}") from None
    header = None
    first = frame.iloc[0].tolist()
    if not all(_is_number(v) for v in first):
        header = ["" if pd.isna(v) else str(v).strip() for v in first]  # an empty cell reads as NaN
        frame = frame.iloc[1:]
    try:
        values = frame.to_numpy(dtype=np.float64)
    except ValueError:
        raise DisentkitError(f"{path}: non-numeric values below the header row") from None
    index = _index_column(values, header)
    if index is not None:
        from disentkit.metrics._common import warn

        warn(f"{role} {path}: first column {index} looks like a pandas index, not data; dropped it")
        values, header = values[:, 1:], header[1:] if header else None
    return values, header


def _index_column(values: np.ndarray, header: list[str] | None) -> str | None:
    """How the first column shows itself to be a row index (None when it is data): no name, a
    pandas name ('Unnamed: 0', 'index'), or the row numbers 0..N-1 / 1..N."""
    if values.ndim != 2 or values.shape[1] < 2:
        return None
    name = header[0] if header else None
    if header is not None and (name == "" or name.lower() in ("index", "unnamed: 0")):
        return f"{name!r} (unnamed)" if name == "" else repr(name)
    rows = np.arange(len(values))
    if len(values) > 2 and (np.array_equal(values[:, 0], rows) or np.array_equal(values[:, 0], rows + 1)):
        return f"{name!r} (running row numbers)" if name else "(running row numbers)"
    return None


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def load_array(path: str | Path, which: str = "mean", role: str = "representation"):
    """Read ``path`` (.npy, .npz, .csv) → ``(array, header names or None)``.

    An npz holding ``mean``/``sampled`` is the release format (``which`` picks one); any other npz
    must hold exactly one array.
    """
    path = Path(path)
    if not path.exists():
        raise DisentkitError(f"{role} file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        from disentkit.data.files import check_numpy_file

        check_numpy_file(path, f"cannot read it as the {role} (corrupt, truncated or another format)")
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                if which in keys:
                    return archive[which], None
                if any(k in keys for k in RELEASE_KEYS):
                    raise DisentkitError(
                        f"{path}: no array {which!r}; it holds {', '.join(keys)} (use --which)"
                    )
                if len(keys) != 1:
                    raise DisentkitError(
                        f"{path}: expected one array or 'mean'/'sampled', found {', '.join(keys) or 'none'}"
                    )
                return archive[keys[0]], None
        if suffix == ".csv":
            return _read_csv(path, role)
    except DisentkitError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DisentkitError(f"cannot read {role} file {path}: {exc}") from None
    raise DisentkitError(f"{role} file {path}: unsupported format {suffix!r}; use .npy, .npz or .csv")


def factors_to_classes(values: np.ndarray) -> np.ndarray:
    """Factor columns as class indices: integer columns kept, other values mapped to sorted classes."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    if not np.all(np.isfinite(values)):
        raise DisentkitError("factors: NaN or inf in the labels")
    if np.all(np.mod(values, 1) == 0):
        return values.astype(np.int64)
    # Physical factor values (e.g. scale 0.5 … 1.0): each distinct value is a class.
    from disentkit.metrics._common import warn

    warn("factors: non-integer values mapped to classes (each distinct value of a column is one class)")
    return np.stack([np.unique(col, return_inverse=True)[1] for col in values.T], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------- output
def print_table(result: Evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="disentkit evaluate", show_lines=False)
    table.add_column("metric")
    table.add_column("score", justify="right")
    for key, value in result.summary().items():
        table.add_row(key, "n/a" if value is None else f"{value:.4f}")
    console = Console()
    if result.profile not in (None, "disentanglement_lib"):
        table.caption = f"profile: {result.profile}"
    console.print(table)
    if "omes" in result.metrics:
        om = result.metrics["omes"]
        per = Table(title="OMES per factor")
        for col in ("factor", "OMES", "OS", "MES", "dimension"):
            per.add_column(col, justify="right" if col != "factor" else "left")
        rows = zip(
            om["factor_names"],
            om["omes_per_factor"],
            om["os_per_factor"],
            om["mes_per_factor"],
            om["association"],
            strict=True,
        )
        for name, o, s, m, dim in rows:
            per.add_row(
                name,
                *("n/a" if v is None else f"{v:.3f}" for v in (o, s, m)),
                "-" if dim is None else str(dim),
            )
        console.print(per)
    if not result.comparable_with_published:
        console.print("[yellow]fast mode: GBT scores are NOT comparable with published numbers[/]")


def write_plots(result: Evaluation, folder: Path) -> list[Path]:
    """Association-matrix heatmap (dims × factors, annotated) and per-factor OMES/OS/MES bars."""
    import matplotlib.pyplot as plt

    from disentkit.metrics.plots import association_figure, omes_bars_figure

    if "omes" not in result.metrics:
        raise DisentkitError("--plot needs the omes metric (add it to --metrics)")
    om = result.metrics["omes"]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in zip(PLOT_FILES, (association_figure(om), omes_bars_figure({"": om})), strict=True):
        fig.savefig(folder / name, dpi=120)
        plt.close(fig)
        written.append(folder / name)
    return written


# ---------------------------------------------------------------------------- command
def _from_files(representation, factors, which, metrics, rng, options) -> Evaluation:
    from disentkit.metrics.suite import evaluate_representation

    if factors is None:
        raise DisentkitError("--representation needs --factors (the labels file)")
    z, _ = load_array(representation, which, "representation")
    y_raw, header = load_array(factors, which, "factors")
    result = evaluate_representation(z, factors_to_classes(y_raw), header, metrics, rng=rng, **options)
    result.context["inputs"] = {
        "representation": str(representation),
        "factors": str(factors),
        "which": which,
    }
    return result


def _from_model(model, data, n, metrics, rng, options) -> Evaluation:
    import disentkit
    from disentkit.data.registry import get_dataset
    from disentkit.metrics.suite import evaluate_model

    if data is None:
        raise DisentkitError("--model needs --data NAME (the dataset to evaluate on)")
    run = disentkit.load_run(model)
    dataset = get_dataset(data)
    result = evaluate_model(
        lambda images: run.encode(images)[0], dataset, n, rng=rng, metrics=metrics, **options
    )
    result.context["inputs"] = {"model": str(model), "data": data}
    return result


def _from_encoder(encode, label: str, data, n, metrics, rng, options) -> Evaluation:
    """An encoder trained elsewhere (``--encoder`` / ``--torchscript``) on a dataset: every metric."""
    from disentkit.data.registry import get_dataset
    from disentkit.metrics.suite import evaluate_model

    if data is None:
        raise DisentkitError(f"{label} needs --data NAME (the dataset to evaluate on)")
    result = evaluate_model(encode, get_dataset(data), n, rng=rng, metrics=metrics, **options)
    result.context["inputs"] = {"encoder": label, "data": data}
    return result


def evaluate(
    representation: Path = typer.Option(
        None, "--representation", "-r", help="z: .npz (release mean/sampled or one array), .npy or .csv"
    ),
    factors: Path = typer.Option(
        None, "--factors", "-f", help="labels: .csv (header = factor names), .npy or .npz"
    ),
    which: str = typer.Option("mean", help="release npz: use the 'mean' or the 'sampled' representation"),
    metrics: str = typer.Option(None, help="comma-separated metric names (default: all array metrics)"),
    json_out: Path = typer.Option(None, "--json", help="write every result, setting and version here"),
    plot: Path = typer.Option(None, "--plot", help="folder for the association heatmap and OMES bars"),
    seed: int = typer.Option(0, help="seed of the only random generator"),
    # Suite options default to None = "not given": SuiteOptions then applies its own defaults, so
    # the CLI cannot drift from them (reading them here would import scikit-learn at CLI start-up).
    fast: bool | None = typer.Option(
        None, help="histogram GBT for DCI/downstream (NOT comparable with published numbers)"
    ),
    n_jobs: int | None = typer.Option(None, help="parallel classifier fits (-1: all cores)"),
    model: Path = typer.Option(None, "--model", help="a trained run folder (intervention mode)"),
    encoder: str = typer.Option(
        None, "--encoder", help="pkg.module:factory; factory() returns encode(images uint8 NHWC) -> z"
    ),
    torchscript: Path = typer.Option(
        None, "--torchscript", help="TorchScript model: float images in [0, 1], NCHW -> z (or (z, ...))"
    ),
    data: str = typer.Option(None, "--data", help="dataset name for --model / --encoder / --torchscript"),
    n: int = typer.Option(15_000, help="--model/--encoder: observations sampled for the array metrics"),
    pairs: int | None = typer.Option(None, help="--model/--encoder: OMES intervention pairs per factor"),
    alpha: float | None = typer.Option(None, help="OMES α: 1 = OS (modularity), 0 = MES (compactness)"),
    pooling: str | None = typer.Option(None, help="OMES pooling over dimensions: avg or max"),
    association: str | None = typer.Option(
        None, help="factor → dimension rule: product (argmax o·S) or release"
    ),
    profile: str | None = typer.Option(
        None, help="settings profile: disentanglement_lib (default) or zaidi2020 (the review's conventions)"
    ),
    dci_probe: str | None = typer.Option(None, help="DCI probe: gbt (default), lasso or random_forest"),
) -> None:
    """Score a representation: OMES, DCI, MIG, SAP, modularity, downstream accuracy and more.

    Options left unset take the suite's defaults (docs/metrics.md, "Defaults and their sources").
    """
    from disentkit.config import (
        atomic_write_text,
        only_entries,
        prepare_output_file,
        prepare_output_folder,
        writable_error,
    )
    from disentkit.metrics.suite import DEFAULT_ARRAY_METRICS, DEFAULT_MODEL_METRICS

    if which not in RELEASE_KEYS:
        raise DisentkitError(f"--which must be 'mean' or 'sampled', got {which!r}")
    sources = [x for x in (representation, model, encoder, torchscript) if x is not None]
    if len(sources) != 1:
        raise DisentkitError(
            "give one of --representation z --factors y, --model RUN --data NAME, "
            "--encoder pkg.module:factory --data NAME or --torchscript model.pt --data NAME"
        )
    # Checked before the scores are computed, so a bad path costs nothing.
    if json_out is not None:
        prepare_output_file(json_out, "--json")
    if plot is not None:
        prepare_output_folder(plot, "evaluate's plots (PNG files)", only_entries(*PLOT_FILES), "--plot")
    rng = np.random.default_rng(seed)
    given = {
        "fast": fast, "n_jobs": n_jobs, "alpha": alpha, "pooling": pooling, "association": association,
        "profile": profile, "dci_probe": dci_probe,
    }  # fmt: skip
    if representation is None:
        given["omes_n_pairs"] = pairs
    options = {name: value for name, value in given.items() if value is not None}
    if representation is not None:
        result = _from_files(representation, factors, which, metrics or DEFAULT_ARRAY_METRICS, rng, options)
    elif model is not None:
        result = _from_model(model, data, n, metrics or DEFAULT_MODEL_METRICS, rng, options)
    else:
        from disentkit.metrics import external

        if encoder is not None:
            encode, label = external.load_factory(encoder), f"--encoder {encoder}"
        else:
            encode, label = external.load_torchscript(torchscript), f"--torchscript {torchscript}"
        result = _from_encoder(encode, label, data, n, metrics or DEFAULT_MODEL_METRICS, rng, options)
    result.context["seed"] = seed
    print_table(result)  # first: the scores reach the user even if a file below cannot be written
    if json_out is not None:
        try:
            atomic_write_text(json_out, json.dumps(result.to_dict(), indent=2, allow_nan=False))
        except OSError as exc:
            raise writable_error(json_out, exc, "--json") from None
        typer.echo(f"wrote {json_out}")
    if plot is not None:
        try:
            written = write_plots(result, plot)
        except OSError as exc:
            raise writable_error(plot, exc, "--plot") from None
        for path in written:
            typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("evaluate")(evaluate)
