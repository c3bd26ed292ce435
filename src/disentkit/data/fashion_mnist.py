"""Fashion-MNIST as a transfer target: real product photos, one known factor (category), hidden ones.

It plays the role RGB-D Objects plays in the transfer paper: a real target with an incomplete
annotation. ``render(factors, rng)`` returns, for each category, a photo of that category drawn with
``rng`` (the hidden factors: the particular garment, its pose, its lighting), resized 28 → 64 px.

Files: the standard idx files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
``t10k-…``) in any folder; default ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package
``dataset-fashion-mnist``, installed by ``make setup`` where apt is available).
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from disentkit.data.base import GroundTruthDataset
from disentkit.errors import DisentkitError

DEFAULT_PATH = Path("/usr/share/datasets/fashion-mnist")
CATEGORIES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)
SPLITS = {"train": ("train",), "test": ("t10k",), "all": ("train", "t10k")}
HOW_TO_GET = (
    "install the Debian/Ubuntu package `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist, "
    "or `make setup` as root), or download the four idx files from "
    "https://github.com/zalandoresearch/fashion-mnist and pass their folder as path="
)


def _open(path: Path) -> bytes:
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            try:
                raw = candidate.read_bytes()
                return gzip.decompress(raw) if candidate.suffix == ".gz" else raw
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise DisentkitError(f"cannot read {candidate}: {exc}") from None
    raise DisentkitError(f"Fashion-MNIST file {path.name}[.gz] not found in {path.parent}; {HOW_TO_GET}")


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (``.gz`` or plain) as a numpy array: magic 0x00000803 images, 0x00000801 labels."""
    data = _open(Path(path))
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DisentkitError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DisentkitError(f"{path}: header says {expected} values, the file holds {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(tuple(dims))


@functools.lru_cache(maxsize=2)
def _load(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for prefix in SPLITS[split]:
        x = read_idx(Path(folder) / f"{prefix}-images-idx3-ubyte")
        y = read_idx(Path(folder) / f"{prefix}-labels-idx1-ubyte")
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DisentkitError(f"{folder}: {prefix} images {x.shape} and labels {y.shape} do not match")
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


class FashionMNIST(GroundTruthDataset):
    """Fashion-MNIST, one factor (``category``, 10) and hidden factors drawn with ``rng``.

    Parameters
    ----------
    path : folder of the idx files
    split : "train", "test" or "all"
    resolution : output size (28-px photos are resized bilinearly, the paper's 64 by default)
    """

    factor_names = ("category",)
    factor_sizes = (len(CATEGORIES),)
    source = "file"

    def __init__(self, path: str | Path = DEFAULT_PATH, split: str = "all", resolution: int = 64):
        if split not in SPLITS:
            raise DisentkitError(f"fashion-mnist: split must be one of {', '.join(SPLITS)}, got {split!r}")
        if not Path(path).is_dir():
            raise DisentkitError(f"Fashion-MNIST folder {path} does not exist; {HOW_TO_GET}")
        self.images, self.labels = _load(str(path), split)
        missing = sorted(set(range(len(CATEGORIES))) - set(np.unique(self.labels).tolist()))
        if missing or self.labels.max() >= len(CATEGORIES):
            raise DisentkitError(f"{path}: labels must cover the 10 categories 0..9 (missing {missing})")
        self.name = "fashion-mnist"
        self.resolution = int(resolution)
        self.observation_shape = (self.resolution, self.resolution, 1)
        self._by_class = [np.flatnonzero(self.labels == c) for c in range(len(CATEGORIES))]

    def __len__(self) -> int:
        return len(self.images)

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        """A photo of each requested category; ``rng`` picks which (``None``: a fixed seed)."""
        arr = self.validate_factors(factors)
        rng = np.random.default_rng(0) if rng is None else rng
        pick = np.array(
            [self._by_class[c][rng.integers(len(self._by_class[c]))] for c in arr[:, 0]], dtype=np.int64
        )
        return self.resize(self.images[pick])

    def resize(self, images: np.ndarray) -> np.ndarray:
        """uint8 ``(n, 28, 28)`` → uint8 ``(n, R, R, 1)``, bilinear."""
        if len(images) == 0:
            return np.zeros((0, *self.observation_shape), np.uint8)
        tensor = torch.from_numpy(images.astype(np.float32))[:, None]
        out = F.interpolate(tensor, size=(self.resolution,) * 2, mode="bilinear", align_corners=False)
        return out.clamp_(0, 255).add_(0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()

    def describe(self) -> dict:
        return super().describe() | {"size": len(self), "categories": list(CATEGORIES)}


def fashion_mnist(path: str | Path = DEFAULT_PATH, split: str = "all", resolution: int = 64) -> FashionMNIST:
    return FashionMNIST(path, split, resolution)
