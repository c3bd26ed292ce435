"""Picture of a dataset: a grid of samples plus one traversal row per factor, labelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from disentkit.config import atomic_write_bytes
from disentkit.data.protocols import GroundTruthSource, ImageSource, require_source

LABEL_WIDTH = 120
MAX_STEPS = 10


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def traversal_factors(ds, base: np.ndarray, factor: int, steps: int = MAX_STEPS) -> np.ndarray:
    """``base`` repeated with ``factor`` run over up to ``steps`` evenly spaced classes."""
    values = np.unique(np.rint(np.linspace(0, ds.factor_sizes[factor] - 1, steps)).astype(np.int64))
    out = np.repeat(np.asarray(base, dtype=np.int64)[None], len(values), axis=0)
    out[:, factor] = values
    return out


def preview_rows(ds, seed: int = 0, n_samples: int = 2 * MAX_STEPS) -> list[tuple[str, np.ndarray]]:
    """(label, uint8 RGB images) rows: samples first, then one traversal per factor if labelled."""
    rng = np.random.default_rng(seed)
    samples = _rgb(require_source(ds, ImageSource, "preview").sample_images(n_samples, rng))
    rows = [("samples", samples[i : i + MAX_STEPS]) for i in range(0, n_samples, MAX_STEPS)]
    if not isinstance(ds, GroundTruthSource):
        return rows  # an unlabelled folder
    base = ds.sample_factors(1, rng)[0]
    for k, name in enumerate(ds.factor_names):
        if ds.factor_sizes[k] > 1:
            rows.append(
                (f"{name} ({ds.factor_sizes[k]})", _rgb(ds.render(traversal_factors(ds, base, k), rng)))
            )
    return rows


def preview_image(rows: list[tuple[str, np.ndarray]]) -> Image.Image:
    """Rows side by side on a dark canvas, each with its label on the left."""
    h, w = rows[0][1].shape[1:3]
    cols = max(len(images) for _, images in rows)
    canvas = Image.new("RGB", (LABEL_WIDTH + cols * (w + 2), len(rows) * (h + 2)), (40, 40, 40))
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        y = r * (h + 2)
        draw.text((4, y + h // 2 - 6), label, fill=(230, 230, 230))
        for c, img in enumerate(images):
            canvas.paste(Image.fromarray(img), (LABEL_WIDTH + c * (w + 2), y))
    return canvas


def write_preview(ds, out: str | Path, seed: int = 0) -> Path:
    """Write the sample grid and traversals of ``ds`` to the PNG ``out``; returns its path."""
    import io

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    preview_image(preview_rows(ds, seed)).save(buffer, format="PNG")
    atomic_write_bytes(out, buffer.getvalue())
    return out
