"""Reconstructions and latent traversals of a trained run, as PNG grids and one GIF per dimension.

Dimensions are ordered by their mean KL to the prior on the shown sample (most informative first);
inactive dimensions (KL ≈ 0) end up last and traverse to near-constant images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from disentkit.config import only_entries, prepare_output_folder
from disentkit.errors import DisentkitError
from disentkit.train.runs import TrainedModel

#: what `visualize` writes into its folder
VISUALIZE_FILES = ("reconstructions.png", "traversals.png", "traversal_*.gif")


def _to_uint8(images: np.ndarray) -> np.ndarray:
    """float [0, 1] or uint8 (n, H, W, C) → uint8 RGB (n, H, W, 3)."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def image_grid(rows: list[np.ndarray], pad: int = 2) -> Image.Image:
    """Rows of equally sized images (each row (m, H, W, C), float [0, 1] or uint8) → one RGB PIL image."""
    rows = [_to_uint8(r) for r in rows]
    height, width = rows[0].shape[1:3]
    cols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (height + pad) + pad, cols * (width + pad) + pad, 3), 128, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = pad + i * (height + pad), pad + j * (width + pad)
            canvas[y : y + height, x : x + width] = img
    return Image.fromarray(canvas)


def kl_order(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dimension order by decreasing mean KL to N(0, 1), and the KL values."""
    kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1.0).mean(0)
    return np.argsort(-kl, kind="stable"), kl


def reconstruction_rows(model: TrainedModel, images: np.ndarray, mu: np.ndarray) -> list[np.ndarray]:
    """[inputs, reconstructions of their posterior means ``mu``] as uint8 RGB rows (inputs at 64 px)."""
    recon = _to_uint8(model.decode(mu))
    originals = _to_uint8(images)
    if originals.shape[1:3] != recon.shape[1:3]:  # 128-px inputs are shown at the model's 64 px
        size = (recon.shape[2], recon.shape[1])
        originals = np.stack([np.asarray(Image.fromarray(o).resize(size, Image.BOX)) for o in originals])
    return [originals, recon]


def traversal_rows(
    model: TrainedModel, mu: np.ndarray, logvar: np.ndarray, n_steps: int = 9, limit: float = 2.5
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One row per latent dimension, most informative first (mean KL over the encoded images): the
    code ``mu[0]`` with that dimension set to ``n_steps`` values in [−limit, limit] (prior stds).

    Returns the uint8 RGB rows, the dimension order and each dimension's mean KL.
    """
    order, kl = kl_order(mu, logvar)
    codes = np.repeat(mu[:1], len(order) * n_steps, axis=0).reshape(len(order), n_steps, -1)
    codes[np.arange(len(order)), :, order] = np.linspace(-limit, limit, n_steps, dtype=np.float32)
    frames = _to_uint8(model.decode(codes.reshape(-1, mu.shape[1])))  # one decode for every row
    return list(frames.reshape(len(order), n_steps, *frames.shape[1:])), order, kl


def visualize(
    model: TrainedModel, images: np.ndarray, out_dir: str | Path, n_steps: int = 9, limit: float = 2.5
) -> list[Path]:
    """Write ``reconstructions.png``, ``traversals.png`` and ``traversal_<rank>_dim<i>_kl<KL>.gif``; returns the paths.

    Parameters
    ----------
    model : TrainedModel
    images : array (n, H, W, C)
        Images to reconstruct; the first one is the traversal anchor.
    out_dir : path
    n_steps : int
        Values per traversal, evenly spaced in [−limit, limit].
    limit : float
        Traversal range in prior standard deviations.
    """
    if len(images) == 0:
        raise DisentkitError("visualize needs at least one image")
    out = prepare_output_folder(
        out_dir, "a visualization (PNG and GIF files)", only_entries(*VISUALIZE_FILES)
    )
    written = [out / "reconstructions.png", out / "traversals.png"]
    mu, logvar = model.encode(images)
    image_grid(reconstruction_rows(model, images, mu)).save(written[0])
    rows, order, kl = traversal_rows(model, mu, logvar, n_steps, limit)
    for rank, (dim, frames) in enumerate(zip(order, rows, strict=True)):
        gif = out / f"traversal_{rank:02d}_dim{dim}_kl{kl[dim]:.2f}.gif"
        pil = [
            Image.fromarray(f).resize((128, 128), Image.NEAREST)
            for f in np.concatenate([frames, frames[-2:0:-1]])
        ]
        pil[0].save(gif, save_all=True, append_images=pil[1:], duration=80, loop=0)
        written.append(gif)
    image_grid(rows).save(written[1])
    return written
