"""Image folders: an unlabelled transfer target, or images with a CSV of integer factors.

Images of any size and mode are read with Pillow, padded to a square with black (the spec's recipe
for masked crops: nothing is cut off and the aspect ratio is kept), resized to ``size`` × ``size``
and converted to grey (``channels=1``) or RGB (``channels=3``). Decoded images are cached in memory.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from disentkit.data.base import GroundTruthDataset, KRule
from disentkit.errors import DisentkitError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
LABELS_FILE = "labels.csv"


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """uint8 ``(size, size, channels)``: padded to a square with black, then resized."""
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DisentkitError(f"cannot read image {path}: {exc}; remove or replace the file") from None
    side = max(im.size)
    square = Image.new(im.mode, (side, side))
    square.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    arr = np.asarray(square.resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return arr.reshape(size, size, channels)


class ImageFolder:
    """An unlabelled image source (a transfer target without annotation).

    Parameters
    ----------
    path : str or Path
        Folder with image files (png, jpg, bmp, gif, tiff, webp, …), read in sorted name order;
        sub-folders are not searched.
    size : int, default=64
        Side of the square images returned (the model's resolution).
    channels : {1, 3}, default=3
        Grey or RGB.

    An :class:`~disentkit.data.ImageSource` (what unsupervised training needs), with ``len`` and
    ``load(indices)``.
    """

    source = "folder"

    def __init__(self, path, size: int = 64, channels: int = 3, files: list[Path] | None = None):
        self.path = Path(path).expanduser()
        if channels not in (1, 3):
            raise DisentkitError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        if size < 1:
            raise DisentkitError(f"size must be positive, got {size}")
        if not self.path.is_dir():
            raise DisentkitError(f"image folder {self.path} does not exist or is not a folder")
        self.files = files if files is not None else self._list_images()
        self.size, self.channels = int(size), int(channels)
        self.name = self.path.name
        self.observation_shape = (self.size, self.size, self.channels)
        self._cache: dict[int, np.ndarray] = {}

    def _list_images(self) -> list[Path]:
        files = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DisentkitError(
                f"image folder {self.path} holds no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return files

    def __len__(self) -> int:
        return len(self.files)

    def load(self, indices) -> np.ndarray:
        """uint8 ``(n, size, size, channels)`` images of the files at ``indices``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DisentkitError(f"{self.path}: image index out of range 0..{len(self) - 1}")
        out = np.empty((len(idx), *self.observation_shape), np.uint8)
        for row, i in enumerate(idx):
            if i not in self._cache:
                self._cache[int(i)] = read_image(self.files[i], self.size, self.channels)
            out[row] = self._cache[int(i)]
        return out

    def sample_images(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` images drawn uniformly with replacement."""
        return self.load(rng.integers(0, len(self), size=n))


def _read_labels(csv_path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(file names, factor names, int64 classes) from a CSV whose first column is the file name."""
    try:
        with csv_path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DisentkitError(f"cannot read labels {csv_path}: {exc}") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DisentkitError(
            f"{csv_path}: expected a header (file, factor1, factor2, …) and at least one row of labels"
        )
    header, body = rows[0], rows[1:]
    try:
        classes = np.array([[int(c) for c in r[1:]] for r in body], dtype=np.int64)
    except ValueError:
        raise DisentkitError(f"{csv_path}: factor columns must hold integer classes") from None
    if classes.shape != (len(body), len(header) - 1):
        raise DisentkitError(f"{csv_path}: every row needs {len(header)} columns like the header")
    if classes.min() < 0:
        raise DisentkitError(f"{csv_path}: factor classes must be non-negative")
    return [r[0].strip() for r in body], [h.strip() for h in header[1:]], classes


class LabelledFolder(GroundTruthDataset):
    """Images plus a CSV of integer factor classes: ground truth that is *not* a full grid.

    Parameters
    ----------
    path : str or Path
        Folder holding the images and the CSV.
    labels : str, default="labels.csv"
        CSV file (in ``path`` unless absolute): a header ``file,<factor>,<factor>,…`` then one row
        per image, the file name relative to ``path`` and one integer class per factor.
    size, channels : as :class:`ImageFolder`.

    Notes
    -----
    ``factor_sizes`` are ``max class + 1`` per column, but only the combinations listed in the CSV
    exist: ``len`` is the number of labelled images, ``sample_factors`` draws listed rows, and
    ``render`` of a combination that is not listed raises an error. Weak pairs are drawn among
    listed rows that agree on every unchanged factor.
    """

    source = "folder"

    def __init__(self, path, labels: str = LABELS_FILE, size: int = 64, channels: int = 3):
        folder = Path(path).expanduser()
        csv_path = Path(labels) if Path(labels).is_absolute() else folder / labels
        if not csv_path.is_file():
            raise DisentkitError(f"labels file {csv_path} not found (a CSV: file,<factor>,…)")
        names, factor_names, classes = _read_labels(csv_path)
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise DisentkitError(f"{csv_path}: image {folder / missing[0]} listed but not found")
        self.images = ImageFolder(folder, size, channels, files=[folder / n for n in names])
        self.name = folder.name
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
        self.observation_shape = self.images.observation_shape
        self.classes = classes
        keys = self.factors_to_index(classes)
        order = np.argsort(keys, kind="stable")
        self._sorted_keys, self._rows = keys[order], order  # duplicates: the first listed wins

    def __len__(self) -> int:
        return len(self.classes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.classes[rng.integers(0, len(self.classes), size=n)]

    def rows_of(self, factors) -> np.ndarray:
        """Row in the CSV of each factor vector; an error for combinations not in the folder."""
        keys = self.factors_to_index(factors)
        pos = np.searchsorted(self._sorted_keys, keys)
        pos = np.minimum(pos, len(self._sorted_keys) - 1)
        absent = self._sorted_keys[pos] != keys
        if absent.any():
            combo = self.validate_factors(factors)[np.argmax(absent)].tolist()
            raise DisentkitError(
                f"{self.name}: no image with factors {dict(zip(self.factor_names, combo, strict=True))}; "
                "a labelled folder is not a full grid — draw factors with sample_factors"
            )
        return self._rows[pos]

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.images.load(self.rows_of(factors))

    def sample_factor_pairs(
        self, n: int, k: KRule, rng: np.random.Generator, allow_equal: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs of listed rows differing exactly in the changed factors (k as in the base class)."""
        f1, _, changed = super().sample_factor_pairs(n, k, rng, allow_equal)
        f2 = f1.copy()
        for i in range(n):
            same = (self.classes[:, ~changed[i]] == f1[i, ~changed[i]]).all(axis=1)
            if not allow_equal:
                same &= (self.classes[:, changed[i]] != f1[i, changed[i]]).all(axis=1)
            candidates = np.flatnonzero(same)
            if len(candidates) == 0:
                raise DisentkitError(
                    f"{self.name}: no listed image shares all but factor(s) "
                    f"{[self.factor_names[j] for j in np.flatnonzero(changed[i])]} with {f1[i].tolist()}; "
                    "weak pairs need images that differ in a few factors only"
                )
            f2[i] = self.classes[rng.choice(candidates)]
        return f1, f2, changed
