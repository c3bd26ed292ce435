"""Loaders for the official Cars3D and SmallNORB files, with disentanglement_lib's factor conventions.

The layout is disentanglement_lib's data folder, so ``DISENTKIT_DATA`` may point at an existing
``DISENTANGLEMENT_LIB_DATA``:

* ``cars3d-file``: ``cars/`` holding one ``.mat`` file per car (183 in the official release, from
  Reed et al. 2015's ``nips2015-analogy-data``), each with an ``im`` array (H, W, 3, 24, 4) uint8:
  24 azimuths × 4 elevations of one car. Factors elevation 4, azimuth 24, object_type (one per
  file, in file-name order); images resized to 64×64×3.
* ``smallnorb-file``: ``small_norb/smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat``
  and the same three of ``…-5x01235x…-testing``, the NORB binary matrix format (not MATLAB files
  despite the name). ``dat`` (N, 2, 96, 96) ubyte stereo pairs, of which the first camera is used,
  resized to 64×64×1; ``cat`` (N,) int32 category; ``info`` (N, 4) int32 instance, elevation,
  azimuth (0, 2, …, 34, halved), lighting. Factors category 5, elevation 9, azimuth 18, lighting 6;
  the instance (10 per category) is not a factor: every observation draws it from the generator,
  as disentanglement_lib's ``SmallNORB`` does.

Grids are read from the files (a tiny folder of 2 cars is a valid Cars3D grid of 2 object types,
as the tests write them); SmallNORB's files must hold every (category, instance, elevation,
azimuth, lighting) combination exactly once. Images are read on first use; problems with a file
(missing, truncated, wrong magic number, wrong shape) are a one-line error naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from disentkit.data.base import GroundTruthDataset
from disentkit.data.files import data_dir as data_root
from disentkit.errors import DisentkitError

CARS_FOLDER = "cars"
CARS_SOURCE = "http://www.scottreed.info/ (nips2015-analogy-data.tar.gz, its data/cars folder)"
NORB_FOLDER = "small_norb"
NORB_SOURCE = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (gunzip each file)"
NORB_CHUNKS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
NORB_PARTS = ("dat", "cat", "info")
NORB_FILES = tuple(f"smallnorb-{chunk}-{part}.mat" for chunk in NORB_CHUNKS for part in NORB_PARTS)
#: NORB binary matrix magic numbers → element type
NORB_MAGIC = {507333717: np.uint8, 507333716: np.int32, 507333713: np.float32, 507333715: np.float64}
SIDE = 64


def _resize(images: np.ndarray, path: Path) -> np.ndarray:
    """uint8 (n, H, W[, C]) → (n, 64, 64[, C]) by Lanczos (disentanglement_lib's PIL ANTIALIAS)."""
    from PIL import Image

    if images.shape[1:3] == (SIDE, SIDE):
        return np.ascontiguousarray(images)
    if images.shape[1] != images.shape[2]:
        raise DisentkitError(
            f"{path}: images are {images.shape[1]}×{images.shape[2]}, expected square images"
        )
    out = np.empty((len(images), SIDE, SIDE, *images.shape[3:]), np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((SIDE, SIDE), Image.LANCZOS))
    return out


# ---------------------------------------------------------------------------- Cars3D
def _car_images(path: Path) -> np.ndarray:
    """One car file's ``im`` as (4 elevations, 24 azimuths, H, W, 3) uint8, checked."""
    import scipy.io

    try:
        arrays = scipy.io.loadmat(path, variable_names=["im"])
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError… on damaged files
        raise DisentkitError(
            f"{path}: cannot read it as a .mat file ({type(exc).__name__}: {exc}); the file is corrupt "
            "or truncated — download it again"
        ) from None
    if "im" not in arrays:
        raise DisentkitError(f"{path}: no 'im' array; is this a Cars3D car file?")
    im = arrays["im"]
    if im.ndim != 5 or im.shape[2:] != (3, 24, 4) or im.dtype != np.uint8:
        raise DisentkitError(f"{path}: 'im' is {im.dtype} {im.shape}, expected uint8 (H, W, 3, 24, 4)")
    return np.transpose(im, (4, 3, 0, 1, 2))


class Cars3DFile(GroundTruthDataset):
    """Cars3D from the official ``cars`` folder: elevation 4, azimuth 24, object_type (files)."""

    name = "cars3d-file"
    source = "file"
    factor_names = ("elevation", "azimuth", "object_type")
    observation_shape = (SIDE, SIDE, 3)

    def __init__(self, folder: Path) -> None:
        self.path = folder
        self.files = sorted(folder.glob("*.mat"))
        if not self.files:
            raise DisentkitError(
                f"cars3d: no .mat files in {folder}. disentkit never downloads data: get the cars folder "
                f"(car_001_mesh.mat … car_183_mesh.mat) from {CARS_SOURCE} and put it at {folder}"
            )
        self.factor_sizes = (4, 24, len(self.files))
        _car_images(self.files[0])  # a wrong file is refused now, not at the first batch
        self._images: np.ndarray | None = None

    def _load(self) -> np.ndarray:
        if self._images is None:
            cars = []
            for file in self.files:
                views = _car_images(file)
                cars.append(_resize(views.reshape(-1, *views.shape[2:]), file).reshape(4, 24, SIDE, SIDE, 3))
            # row-major (elevation, azimuth, object), the factor order
            self._images = np.stack(cars, axis=2).reshape(-1, SIDE, SIDE, 3)
        return self._images

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        return self._load()[self.factors_to_index(factors)]


def cars3d_file(data_dir=None, path=None) -> Cars3DFile:
    """The official Cars3D ``cars`` folder (``path``: the folder itself)."""
    folder = Path(path).expanduser() if path else data_root(data_dir) / CARS_FOLDER
    if not folder.is_dir():
        raise DisentkitError(
            f"cars3d: folder {folder} not found. disentkit never downloads data: get the cars folder "
            f"(car_001_mesh.mat … car_183_mesh.mat) from {CARS_SOURCE} and put it at {folder} "
            "(or pass --data-dir DIR / set DISENTKIT_DATA=DIR, DIR holding cars/)"
        )
    return Cars3DFile(folder)


# ---------------------------------------------------------------------------- SmallNORB
def read_norb_header(path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(element type, shape, data offset) of a NORB binary matrix file, checked against its size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 8:
        raise DisentkitError(f"{path}: truncated ({size} bytes, shorter than a NORB header)")
    magic, ndim = (int(v) for v in np.frombuffer(head[:8], "<i4"))
    if magic not in NORB_MAGIC:
        raise DisentkitError(
            f"{path}: wrong magic number {magic} (a NORB matrix starts with one of "
            f"{', '.join(map(str, NORB_MAGIC))}); is this a SmallNORB file?"
        )
    if not 1 <= ndim <= 16:
        raise DisentkitError(f"{path}: the header says {ndim} dimensions; the file is corrupt")
    # The header holds at least 3 dimension slots, unused ones padded (the format's convention).
    offset = 8 + 4 * max(3, ndim)
    if size < offset:
        raise DisentkitError(f"{path}: truncated ({size} bytes, shorter than its header)")
    with open(path, "rb") as f:
        f.seek(8)
        dims = tuple(int(d) for d in np.frombuffer(f.read(4 * ndim), "<i4"))
    dtype = np.dtype(NORB_MAGIC[magic]).newbyteorder("<")
    expected = offset + int(np.prod(dims)) * dtype.itemsize
    if size < expected:
        raise DisentkitError(f"{path}: truncated ({size} bytes, its header {dims} needs {expected})")
    if size > expected:
        raise DisentkitError(f"{path}: {size - expected} bytes beyond the {dims} matrix its header describes")
    return dtype, dims, offset


def read_norb(path: Path, dtype, shape: tuple, mmap: bool = False) -> np.ndarray:
    """A NORB matrix of element type ``dtype`` and ``shape`` (None: any length) from ``path``."""
    found, dims, offset = read_norb_header(path)
    if found != np.dtype(dtype).newbyteorder("<"):
        raise DisentkitError(f"{path}: holds {found.name} values, expected {np.dtype(dtype).name}")
    ok = len(dims) == len(shape) and all(s is None or s == d for s, d in zip(shape, dims, strict=False))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise DisentkitError(f"{path}: shape {dims}, expected {want}")
    if mmap:
        return np.memmap(path, dtype=found, mode="r", offset=offset, shape=dims)
    return np.fromfile(path, dtype=found, offset=offset).reshape(dims)


class SmallNORBFile(GroundTruthDataset):
    """SmallNORB: category, elevation, azimuth, lighting; the instance drawn per observation."""

    name = "smallnorb-file"
    source = "file"
    factor_names = ("category", "elevation", "azimuth", "lighting")
    observation_shape = (SIDE, SIDE, 1)

    def __init__(self, folder: Path) -> None:
        self.path = folder
        features, self._dat = [], []
        for chunk in NORB_CHUNKS:
            dat, cat, info = (folder / f"smallnorb-{chunk}-{part}.mat" for part in NORB_PARTS)
            category = read_norb(cat, np.int32, (None,))
            n = len(category)
            details = read_norb(info, np.int32, (n, 4))
            self._dat.append((dat, read_norb(dat, np.uint8, (n, 2, None, None), mmap=True)))
            features.append(np.column_stack([category, details]).astype(np.int64))
        feats = np.concatenate(features)
        if (feats[:, 3] % 2).any():
            raise DisentkitError(
                f"{folder}: azimuths must be even (0, 2, …, 34), as in the official info files"
            )
        feats[:, 3] //= 2
        if feats.min() < 0:
            raise DisentkitError(f"{folder}: negative category or info values; the files are corrupt")
        # (category, instance, elevation, azimuth, lighting) → row of the concatenated chunks
        sizes = tuple(int(s) for s in feats.max(axis=0) + 1)
        incomplete = DisentkitError(
            f"{folder}: the files do not hold every (category, instance, elevation, azimuth, "
            f"lighting) combination of {sizes} exactly once ({len(feats)} images)"
        )
        if int(np.prod(sizes, dtype=np.float64)) != len(feats):  # before allocating a corrupt grid
            raise incomplete
        table = np.full(sizes, -1, np.int64)
        table[tuple(feats.T)] = np.arange(len(feats))
        if (table < 0).any():
            raise incomplete
        self._table = table
        self.instances = sizes[1]
        self.factor_sizes = (sizes[0], *sizes[2:])
        self._images: np.ndarray | None = None

    def _load(self) -> np.ndarray:
        if self._images is None:
            # The first camera of each stereo pair, as disentanglement_lib.
            parts = [_resize(np.asarray(images[:, 0]), path) for path, images in self._dat]
            self._images = np.concatenate(parts)[..., None]
        return self._images

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        f = self.validate_factors(factors)
        rng = np.random.default_rng(0) if rng is None else rng
        instance = rng.integers(0, self.instances, size=len(f))
        rows = self._table[f[:, 0], instance, f[:, 1], f[:, 2], f[:, 3]]
        return self._load()[rows]


def smallnorb_file(data_dir=None, path=None) -> SmallNORBFile:
    """The six official SmallNORB files (``path``: the folder holding them)."""
    folder = Path(path).expanduser() if path else data_root(data_dir) / NORB_FOLDER
    missing = [name for name in NORB_FILES if not (folder / name).is_file()]
    if missing:
        raise DisentkitError(
            f"smallnorb: {len(missing)} of its 6 files missing in {folder} (first: {missing[0]}). disentkit "
            f"never downloads data: get {', '.join(NORB_FILES)} from {NORB_SOURCE} and put them in {folder} "
            f"(or pass --data-dir DIR / set DISENTKIT_DATA=DIR, DIR holding {NORB_FOLDER}/)"
        )
    return SmallNORBFile(folder)
