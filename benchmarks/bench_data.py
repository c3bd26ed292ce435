"""Rendering throughput of the built-in datasets against a naive one-image-at-a-time renderer.

Measured: images/s of ``render`` (numpy) and ``render_torch`` (torch on the CPU, and on CUDA when
present) for a batch of 1024, and of weak pairs (512 pairs = 1024 images, k = 1). The naive
baseline, measured in the same run, draws one image at a time the straightforward way: for
dSprites it evaluates the shape's outline at every pixel of the frame (rotation and position
applied per image), for Shapes3D it ray-casts the scene for that image.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.timing import best_of, markdown_table
from disentkit.data import dsprites as sp
from disentkit.data import get_dataset
from disentkit.data import shapes3d as s3

BATCH = 1024
NAIVE = {"dsprites": 64, "shapes3d": 8}
TARGETS = {"dsprites": 50_000, "shapes3d": 5_000}
DATASETS = ["dsprites", "color-dsprites", "noisy-dsprites", "noisy-color-dsprites", "shapes3d"]


def naive_sprite(ds, f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One dSprites-family image drawn directly: the shape test at every pixel centre."""
    off = 1 if ds.color else 0
    shape, scale, orient, px, py = f[off:]
    centres = sp.position_pixels()
    y, x = np.mgrid[0:64, 0:64] + 0.5
    dx, dy = x - centres[px], -(y - centres[py])
    angle = ds.factor_values("orientation")[orient]
    c, s = np.cos(angle), np.sin(angle)
    inside = sp._inside(sp.SHAPES[shape], c * dx + s * dy, -s * dx + c * dy, ds.factor_values("scale")[scale])
    fg = ds.palette[f[0]] if ds.color else np.full(3, 255, np.uint8)
    bg = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) if ds.noise else np.zeros((64, 64, 3), np.uint8)
    img = np.where(inside[..., None], fg, bg)
    return img if ds.observation_shape[-1] == 3 else img[..., :1]


def naive_shapes3d(ds, f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Shapes3D image ray-cast on its own (what rendering costs without the scene bank)."""
    weights = s3._shade_scene(s3.ORIENTATIONS[f[5]], s3.SHAPES[f[4]], s3.SCALES[f[3]])
    s3._room.cache_clear()  # a per-image renderer has no shared room either
    colors = s3.hsv_to_rgb(s3.HUES[f[:3]])  # (3 surfaces, 3)
    return np.rint((weights.T @ colors) * 255).astype(np.uint8).reshape(64, 64, 3)


def _rate(n: int, fn) -> float:
    return n / best_of(fn, repeat=3)


def measure(name: str) -> list[object]:
    ds = get_dataset(name)
    rng = np.random.default_rng(0)
    f = ds.sample_factors(BATCH, rng)
    ft = torch.from_numpy(f)
    ds.render(f[:8])  # build the banks outside the timing
    ds.render_torch(ft[:8])
    family = "shapes3d" if name == "shapes3d" else "dsprites"
    naive_fn = naive_shapes3d if family == "shapes3d" else naive_sprite
    n_naive = NAIVE[family]
    row = [
        name,
        _rate(BATCH, lambda: ds.render(f, rng)),
        _rate(BATCH, lambda: ds.render_torch(ft, torch.Generator().manual_seed(0))),
        _rate(BATCH, lambda: ds.sample_pairs(BATCH // 2, 1, rng)),
        _rate(BATCH, lambda: ds.sample_pairs(BATCH // 2, 1, rng, device="cpu")),
    ]
    if torch.cuda.is_available():
        fc = ft.cuda()
        ds.render_torch(fc[:8])

        def cuda_batch():
            ds.render_torch(fc, torch.Generator(device="cuda").manual_seed(0))
            torch.cuda.synchronize()

        row.append(_rate(BATCH, cuda_batch))
    naive = _rate(n_naive, lambda: [naive_fn(ds, f[i], rng) for i in range(n_naive)])
    row += [naive, row[1] / naive, TARGETS[family]]
    return row


def run() -> str:
    header = ["dataset", "numpy img/s", "torch-CPU img/s", "pairs numpy img/s", "pairs torch-CPU img/s"]
    if torch.cuda.is_available():
        header.append("torch-CUDA img/s")
    header += ["naive img/s", "numpy / naive", "target img/s"]
    rows = [measure(name) for name in DATASETS]
    rows = [[r[0], *(round(v) if isinstance(v, float) and v > 100 else v for v in r[1:])] for r in rows]
    return (
        "## data: rendering throughput\n\n"
        f"Batches of {BATCH} images (pairs: {BATCH // 2} pairs = {BATCH} images, k = 1), best of 3. "
        "Naive baseline: one image at a time drawn directly (dSprites: shape test at every pixel; "
        "Shapes3D: ray-cast per image), measured in the same run. The machine is shared with other "
        "jobs while this runs, so absolute figures are noisy; the ratios are more stable. On the CPU "
        "`render_torch` uses the numpy kernels (faster there); the CUDA column, when present, is "
        "the tensor path on the GPU.\n\n" + markdown_table(header, rows) + "\n"
    )
