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
.warn{background:#fdecea;border-left:5px solid #c62828;padding:8px 12px;margin:8px 0}
.note{background:#fff8e1;border-left:5px solid #f9a825;padding:8px 12px;margin:8px 0}
.holds{color:#2e7d32;font-weight:bold}.fails{color:#c62828;font-weight:bold}.open{color:#8d6e00;font-weight:bold}
"""
#: objective terms of TrainConfig that no paper has, with what they do (shown when a run used them)
NON_PAPER_TERMS = {
    "sparsity": "λ·Σ_j √(KL_j + 10⁻³) per example, which sends latents worth less than about λ to the prior",
    "agreement": "γ·symmetric KL between the two posteriors of each shared latent of a pair",
    "head_decay": "decoupled weight decay on the encoder's posterior-head weights",
    "lr_decay": "a linear learning-rate fall over the final steps",
}


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


def non_paper_terms(config) -> list[str]:
    """The run's settings that add something no paper's objective or schedule has."""
    return [
        f"{name} {getattr(config, name):g}: {what}"
        for name, what in NON_PAPER_TERMS.items()
        if getattr(config, name)
    ]


def _fmt(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def evaluation_section(data: dict) -> str:
    """A run's scores on its own data (an Evaluation dict): OMES/OS/MES overall and per factor, MIG,
    DCI, and S."""
    from disentkit.metrics.evaluation import read_evaluation

    evaluation = read_evaluation(data, "the run's evaluation")
    om = evaluation.metric("omes")
    names = om["factor_names"]
    rows = [
        {
            "factor": name,
            "OMES": _fmt(om["omes_per_factor"][f]),
            "OS": _fmt(om["os_per_factor"][f]),
            "MES": _fmt(om["mes_per_factor"][f]),
        }
        for f, name in enumerate(names)
    ]
    rows.append({"factor": "All", "OMES": _fmt(om["omes"]), "OS": _fmt(om["os"]), "MES": _fmt(om["mes"])})
    dci = evaluation.metric("dci") or {}
    rows[-1] |= {
        "MIG": _fmt(evaluation.value("mig", "mig")),
        "DCI-D": _fmt(dci.get("disentanglement")),
        "DCI-C": _fmt(dci.get("completeness")),
        "DCI-I": _fmt(dci.get("informativeness")),
        "active latents": str(evaluation.active_dims),
    }
    size = evaluation.context.get("evaluation", {})
    dataset = (evaluation.dataset or {}).get("name")
    caption = (
        f"<p>Scores ×100 on {html.escape(str(dataset))} (the run's training data): "
        f"{size.get('size')} sampled images, {size.get('n_pairs')} OMES intervention pairs per factor.</p>"
    )
    return (
        caption
        + _table(rows)
        + _figure(_png(association_figure(om, "S on its own data")), "OMES association matrix S")
    )


def training_section(run: Path) -> str:
    from disentkit.config import load_config
    from disentkit.train.config import TrainConfig

    parts = [f"<h2>Training run: {html.escape(str(run))}</h2>"]
    config = load_config(TrainConfig, run / "config.yaml")
    extras = non_paper_terms(config)
    if extras:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in extras)
        parts.append(f"<div class='note'><b>Not a paper's objective:</b> this run adds<ul>{items}</ul></div>")
    evaluation = run / "evaluation.json"
    if evaluation.exists():
        parts.append(
            "<h3>Evaluation on its own data</h3>" + evaluation_section(json.loads(evaluation.read_text()))
        )
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
    from disentkit.transfer.findings import phase
    from disentkit.transfer.results import FINETUNE, SAMPLES, read_results, summary_rows

    result = read_results(folder)
    target = result["target"]["name"]
    names = result["target"]["factor_names"] or []
    status = result.get("status")
    parts = [f"<h2>Transfer: {html.escape(result['source']['path'])} → {html.escape(target)} ({status})</h2>"]
    if result.get("error"):
        parts.append(f"<p><b>fine-tuning failed:</b> {html.escape(result['error'])}</p>")
    for warning in result.get("warnings", []):
        parts.append(f"<div class='warn'>{html.escape(warning)}</div>")
    parts.append("<h3>Before / after fine-tuning (before×100 (+gain×100))</h3>")
    parts.append(_table(result.get("table") or summary_rows(result)))
    parts.append("<h3>Settings, adaptation and versions</h3>")
    parts.append(
        _pre({k: result[k] for k in ("config", "adaptation", "evaluation", "environment") if k in result})
    )
    before, after = phase(result, "before"), phase(result, "after")
    before_omes = None if before is None else before.metric("omes")
    after_omes = None if after is None else after.metric("omes")
    if names and before_omes:
        parts.append("<h3>OMES association matrix S</h3>")
        parts.append(_figure(_png(association_figure(before_omes, "before")), "before"))
        if after_omes:
            parts.append(_figure(_png(association_figure(after_omes, "after")), "after"))
        parts.append("<h3>Per-factor OMES / OS / MES</h3>")
        parts.append(
            _png(omes_bars_figure({"before": before_omes} | ({"after": after_omes} if after_omes else {})))
        )
    samples = folder / SAMPLES
    if samples.exists():
        images = np.load(samples)["images"]
        parts.append(f"<h3>Reconstructions and traversals on {html.escape(target)}</h3>")
        source = _load_model(Path(result["source"]["path"]))
        if source is not None:
            parts.append(_model_figures(source, images, "source model"))
        tuned = _load_model(folder / FINETUNE)
        if tuned is not None and after:
            label = "fine-tuned model" + (
                " (checkpoint before the collapse)" if result.get("after_checkpoint") else ""
            )
            parts.append(_model_figures(tuned, images, label))
    if (folder / FINETUNE / "metrics.csv").exists():
        parts.append("<h3>Fine-tuning curves</h3>" + training_curves(folder / FINETUNE))
    return "\n".join(parts)


def findings_section(findings: list[dict]) -> str:
    """Each claim with its verdict, rule and numbers."""
    from disentkit.transfer.findings import Finding, format_value

    parts = [
        "<h2>Findings</h2><p>The transfer paper's claims, each judged on the numbers measured here by the "
        "rule it states; a claim that does not hold is reported as such.</p>"
    ]
    for data in findings:
        finding = Finding(**data)
        css = {True: "holds", False: "fails", None: "open"}[finding.holds]
        parts.append(
            f"<h3>({finding.claim}) {html.escape(finding.statement)}: "
            f"<span class='{css}'>{finding.verdict}</span></h3><p>rule: {html.escape(finding.rule)}</p>"
        )
        rows = [
            {k: (v if k in ("what", "verdict") else format_value(v)) for k, v in r.items()}
            for r in finding.evidence
        ]
        parts.append(_table(rows) if rows else "")
        if finding.note:
            parts.append(f"<p>note: {html.escape(finding.note)}</p>")
    return "\n".join(parts)


def collapse_warnings(runs: list[Path]) -> list[str]:
    """Every collapse among the runs: training runs stopped by the guard, collapsed transfers."""
    from disentkit.train.guard import read_collapse
    from disentkit.transfer.results import RESULTS, read_results

    warnings = []
    for run in runs:
        if (run / RESULTS).exists():
            result = read_results(run)
            if result.get("status") == "collapsed":
                warnings += [f"{run}: {w}" for w in result.get("warnings", [])]
        elif (collapse := read_collapse(run)) is not None:
            warnings.append(collapse.message(run))
    return warnings


def build_report(runs: list[str | Path], out: str | Path, findings: list[dict] | None = None) -> Path:
    """Write one self-contained HTML file for training runs and transfer folders.

    Parameters
    ----------
    runs : list of paths
        Training run folders (``config.yaml``) and/or transfer folders (``transfer.json``).
    out : path
        The HTML file to write (atomically).
    findings : list of dict, optional
        The findings to show (``Finding.to_dict()``); None: those of the transfer folders.
    """
    from disentkit.transfer.results import RESULTS, read_results

    if not runs:
        raise DisentkitError("report needs at least one run or transfer folder")
    runs = [Path(r) for r in runs]
    sections = []
    for run in runs:
        if (run / RESULTS).exists():
            sections.append(transfer_section(run))
        elif (run / "config.yaml").exists():
            sections.append(training_section(run))
        else:
            raise DisentkitError(f"{run} is neither a training run (config.yaml) nor a transfer ({RESULTS})")
    if findings is None:
        findings = [
            f for run in runs if (run / RESULTS).exists() for f in read_results(run).get("findings", [])
        ]
    top = "".join(
        f"<div class='warn'><b>Posterior collapse:</b> {html.escape(w)}</div>"
        for w in collapse_warnings(runs)
    )
    body = top + (findings_section(findings) if findings else "") + "\n".join(sections)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>disentkit report</title>"
        f"<style>{CSS}</style></head><body><h1>disentkit report</h1>{body}</body></html>"
    )
    out = Path(out)
    atomic_write_text(out, page)
    out.chmod(0o644)  # a page to share: the atomic temporary file was private
    return out
