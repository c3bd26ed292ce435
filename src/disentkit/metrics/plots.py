"""Figures of an OMES result (its ``to_dict()``): the association matrix and per-factor bars.

Used by ``disentkit evaluate --plot`` (PNG files) and by the HTML report (embedded); they return
matplotlib figures and never touch files.
"""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _array(values) -> np.ndarray:
    """JSON lists with ``None`` for NaN → float array."""
    return np.array([[np.nan if v is None else v for v in row] for row in np.atleast_2d(values)], dtype=float)


def association_figure(omes: dict, title: str = "OMES association matrix S"):
    """Heatmap of S (dimensions × factors), annotated, inactive dimensions marked."""
    plt = _pyplot()
    s, names = _array(omes["S"]), omes["factor_names"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names), 1.0 + 0.45 * len(s)))
    image = ax.imshow(s, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (j, f), value in np.ndenumerate(s):
        ax.text(f, j, "nan" if np.isnan(value) else f"{value:.2f}", ha="center", va="center",
                color="white" if not np.isnan(value) and value < 0.6 else "black", fontsize=8)  # fmt: skip
    inactive = set(omes.get("inactive_dims", []))
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(s)), [f"z{j}" + (" (inactive)" if j in inactive else "") for j in range(len(s))])
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def omes_bars_figure(results: dict[str, dict]):
    """Per-factor OMES, OS and MES (one panel each), one bar per labelled result (e.g. before/after)."""
    plt = _pyplot()
    names = next(iter(results.values()))["factor_names"]
    fig, axes = plt.subplots(1, 3, figsize=(3 + 1.6 * len(names), 3.2), sharey=True)
    x, width = np.arange(len(names)), 0.8 / len(results)
    for ax, key in zip(axes, ("omes", "os", "mes"), strict=True):
        for i, (label, omes) in enumerate(results.items()):
            values = _array(omes[f"{key}_per_factor"])[0]
            offset = (i - (len(results) - 1) / 2) * width
            ax.bar(x + offset, values, width, label=f"{label} ({omes[key]:.3f})".strip())
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(key.upper())
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
