"""One self-contained HTML report (images base64-embedded, no network) for training and transfer runs.

A training run folder (``config.yaml``, ``metrics.csv``) shows its config and versions, training
curves, reconstructions and latent traversals on its dataset. A transfer folder (``transfer.json``)
adds the before/after table, the OMES association matrices before and after, per-factor
OMES/OS/MES bars, and reconstructions/traversals of the target by the source and the fine-tuned model.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

import numpy as np

from disentkit.config import atomic_write_text
from disentkit.errors import DisentkitError
from disentkit.metrics.plots import association_figure, omes_bars_figure

TRAVERSAL_RANGE = 2.0
TRAVERSAL_STEPS = 7
N_RECON = 8

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:24px}h2{font-size:20px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
h3{font-size:16px;margin-top:20px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;image-rendering:pixelated;border:1px solid #eee;margin:4px}
.fig{display:inline-block;vertical-align:top;margin-right:16px}
.fig p{margin:2px;font-size:12px;color:#555}
pre{background:#f7f7f7;padding:8px;font-size:12px;max-height:260px;overflow:auto}
"""


# ------------------------------------------------------------------------------------- helpers
def _png(fig) -> str:
    """A matplotlib figure as an embedded ``<img>``."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _image_png(image, scale: int = 2) -> str:
    """A PIL image as an embedded, upscaled ``<img>``."""
    from PIL import Image

    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="images" src="data:image/png;base64,{data}">'


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(content: str, caption: str) -> str:
    return f'<div class="fig">{content}<p>{html.escape(caption)}</p></div>'


def _pre(data) -> str:
    return f"<pre>{html.escape(json.dumps(data, indent=1, default=str))}</pre>"


# ------------------------------------------------------------------------------------- figures
def training_curves(run: Path) -> str:
    """Loss, reconstruction and KL from ``metrics.csv``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = run / "metrics.csv"
    if not path.exists():
        return "<p>(no metrics.csv)</p>"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return "<p>(empty metrics.csv)</p>"
    steps = [int(r["step"]) for r in rows]
    keys = [k for k in ("loss", "reconstruction", "kl") if k in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.4))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=False):
        ax.plot(steps, [float(r[key]) for r in rows], color="#1f77b4")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


# ------------------------------------------------------------------------------------- sections
def _load_model(run: Path):
    from disentkit import load_run

    try:
        return load_run(run, device="cpu")
    except DisentkitError:
        return None


def _dataset_samples(config, channels: int, n: int = N_RECON) -> np.ndarray | None:
    from disentkit.data import get_dataset
    from disentkit.transfer.adapt import adapt_images

    try:
        dataset = get_dataset(config.data)
    except DisentkitError:
        return None
    images = dataset.sample_images(n, np.random.default_rng(0))
    return adapt_images(images, 64, channels)


def _model_figures(model, images: np.ndarray, label: str) -> str:
    """Inputs over their reconstructions, and latent traversals of ``images[0]`` (rows by KL), as
    ``disentkit visualize`` draws them."""
    from disentkit.train.visualize import image_grid, reconstruction_rows, traversal_rows

    images = images[:N_RECON]
    mu, logvar = model.encode(images)
    recon = _image_png(image_grid(reconstruction_rows(model, images, mu), pad=1))
    rows, _, _ = traversal_rows(model, mu, logvar, TRAVERSAL_STEPS, TRAVERSAL_RANGE)
    return _figure(recon, f"{label}: inputs (top) and reconstructions") + _figure(
        _image_png(image_grid(rows, pad=1), scale=1),
        f"{label}: latent traversals (rows by KL, ±{TRAVERSAL_RANGE:g})",
    )


def training_section(run: Path) -> str:
    from disentkit.config import load_config
    from disentkit.train.config import TrainConfig

    parts = [f"<h2>Training run: {html.escape(str(run))}</h2>"]
    config = load_config(TrainConfig, run / "config.yaml")
    parts.append("<h3>Config</h3>" + _pre(vars(config)))
    env = run / "environment.yaml"
    if env.exists():
        parts.append("<h3>Versions</h3><pre>" + html.escape(env.read_text()) + "</pre>")
    parts.append("<h3>Training curves</h3>" + training_curves(run))
    model = _load_model(run)
    images = _dataset_samples(config, model.model.channels) if model is not None else None
    if model is not None and images is not None:
        parts.append(f"<h3>Reconstructions and traversals on {html.escape(config.data)}</h3>")
        parts.append(_model_figures(model, images, config.data))
    return "\n".join(parts)


def transfer_section(folder: Path) -> str:
    from disentkit.transfer.core import FINETUNE, SAMPLES, read_results

    result = read_results(folder)
    target = result["target"]["name"]
    names = result["target"]["factor_names"] or []
    status = result.get("status")
    parts = [f"<h2>Transfer: {html.escape(result['source']['path'])} → {html.escape(target)} ({status})</h2>"]
    if result.get("error"):
        parts.append(f"<p><b>fine-tuning failed:</b> {html.escape(result['error'])}</p>")
    parts.append("<h3>Before / after fine-tuning (before×100 (+gain×100))</h3>")
    from disentkit.transfer.core import summary_rows

    parts.append(_table(result.get("table") or summary_rows(result)))
    parts.append("<h3>Settings, adaptation and versions</h3>")
    parts.append(
        _pre({k: result[k] for k in ("config", "adaptation", "evaluation", "environment") if k in result})
    )
    before, after = result.get("before"), result.get("after")
    if names and before and "omes" in before:
        parts.append("<h3>OMES association matrix S</h3>")
        parts.append(_figure(_png(association_figure(before["omes"], "before")), "before"))
        if after and "omes" in after:
            parts.append(_figure(_png(association_figure(after["omes"], "after")), "after"))
        parts.append("<h3>Per-factor OMES / OS / MES</h3>")
        parts.append(
            _png(omes_bars_figure({"before": before["omes"]} | ({"after": after["omes"]} if after else {})))
        )
    samples = folder / SAMPLES
    if samples.exists():
        images = np.load(samples)["images"]
        parts.append(f"<h3>Reconstructions and traversals on {html.escape(target)}</h3>")
        source = _load_model(Path(result["source"]["path"]))
        if source is not None:
            parts.append(_model_figures(source, images, "source model"))
        tuned = _load_model(folder / FINETUNE)
        if tuned is not None and status == "complete":
            parts.append(_model_figures(tuned, images, "fine-tuned model"))
    if (folder / FINETUNE / "metrics.csv").exists():
        parts.append("<h3>Fine-tuning curves</h3>" + training_curves(folder / FINETUNE))
    return "\n".join(parts)


def build_report(runs: list[str | Path], out: str | Path) -> Path:
    """Write one self-contained HTML file for training runs and transfer folders.

    Parameters
    ----------
    runs : list of paths
        Training run folders (``config.yaml``) and/or transfer folders (``transfer.json``).
    out : path
        The HTML file to write (atomically).
    """
    from disentkit.transfer.core import RESULTS

    if not runs:
        raise DisentkitError("report needs at least one run or transfer folder")
    sections = []
    for run in map(Path, runs):
        if (run / RESULTS).exists():
            sections.append(transfer_section(run))
        elif (run / "config.yaml").exists():
            sections.append(training_section(run))
        else:
            raise DisentkitError(f"{run} is neither a training run (config.yaml) nor a transfer ({RESULTS})")
    body = "\n".join(sections)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>disentkit report</title>"
        f"<style>{CSS}</style></head><body><h1>disentkit report</h1>{body}</body></html>"
    )
    out = Path(out)
    atomic_write_text(out, page)
    out.chmod(0o644)  # a page to share: the atomic temporary file was private
    return out
