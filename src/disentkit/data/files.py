"""Loaders for the official dataset files, when the user has them (never downloaded by disentkit).

Registered names (``disentkit data show dsprites-file --data-dir DIR``):

* ``dsprites-file``: ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (deepmind/dsprites-dataset),
  keys ``imgs`` (N, 64, 64) uint8 0/1, ``latents_classes`` (N, 6), ``latents_values`` (N, 6);
  the constant colour factor is dropped;
* ``shapes3d-file``: ``3dshapes.h5`` (deepmind/3d-shapes), datasets ``images`` (N, 64, 64, 3)
  uint8 and ``labels`` (N, 6) float factor values; opened lazily and read-only;
* ``mpi3d-file``: ``mpi3d_<variant>.npz`` (rr-learning/disentanglement_dataset), key ``images``
  (N, 64, 64, 3) uint8 in row-major factor order, factor sizes 6, 6, 2, 3, 3, 40, 40.

Files are looked up in ``data_dir``, else ``$DISENTKIT_DATA``, else ``./data``; ``path`` names a file
directly. The factor grid is read from the file's own labels where it has them (dSprites,
Shapes3D): a file must hold a complete grid in row-major order, whatever its size — the official
files do, and the tests write tiny grids in the same formats. MPI3D files have no labels: the grid
is the official one unless ``factor_sizes`` says otherwise (the tests use a tiny grid this way);
the image count must match it. User files are only ever opened for reading.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from disentkit.data.base import GroundTruthDataset
from disentkit.errors import DisentkitError

ENV_VAR = "DISENTKIT_DATA"
DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SHAPES3D_FILE = "3dshapes.h5"
MPI3D_VARIANTS = ("toy", "realistic", "real")
MPI3D_SIZES = (6, 6, 2, 3, 3, 40, 40)
MPI3D_FACTORS = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
SOURCES = {
    "dsprites": "https://github.com/deepmind/dsprites-dataset",
    "shapes3d": "https://github.com/deepmind/3d-shapes (file 3dshapes.h5 from its storage bucket)",
    "mpi3d": "https://github.com/rr-learning/disentanglement_dataset",
}


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where official files live: ``explicit``, else ``$DISENTKIT_DATA``, else ``./data``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path("data")


def locate(filename: str, kind: str, directory=None, path=None) -> Path:
    """The file to read, or a DisentkitError naming it, where to get it and where to put it."""
    target = Path(path).expanduser() if path else data_dir(directory) / filename
    if target.is_file():
        return target
    raise DisentkitError(
        f"{kind}: file {target} not found. disentkit never downloads data: get {filename} from "
        f"{SOURCES[kind]} and put it in {target.parent} (or pass --data-dir DIR / set {ENV_VAR}=DIR)"
    )


def check_numpy_file(path: Path, what: str = "the file is corrupt or truncated") -> None:
    """Refuse a file that is neither an .npz (zip) nor an .npy by its first bytes: numpy would read
    it as a pickle and blame ``allow_pickle``, which is not the problem."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as exc:
        raise DisentkitError(f"cannot read {path}: {exc.strerror or exc}") from None
    if magic[:4] != b"PK\x03\x04" and magic != b"\x93NUMPY" and not zipfile.is_zipfile(path):
        kind = ".npz (zip) archive" if path.suffix.lower() == ".npz" else ".npy array"
        raise DisentkitError(f"{path} is not a numpy {kind}: {what}")


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of an npz file, with clear errors for corrupt files and missing keys."""
    check_numpy_file(path, "the file is corrupt or truncated — download it again")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DisentkitError(
                    f"{path}: missing array(s) {', '.join(missing)} (found: {', '.join(npz.files) or 'none'}); "
                    "is this the official file?"
                )
            return {k: npz[k] for k in keys}
    except DisentkitError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DisentkitError(
            f"{path}: cannot read it as an .npz archive ({type(exc).__name__}: {exc}); the file is corrupt "
            "or truncated — download it again"
        ) from None


def _check_array(path: Path, key: str, arr: np.ndarray, shape: tuple, dtype=None) -> None:
    """``shape`` may contain None for any length."""
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=False))
    want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    if not ok:
        raise DisentkitError(f"{path}: {key!r} has shape {arr.shape}, expected {want}")
    if dtype is not None and arr.dtype != dtype:
        raise DisentkitError(f"{path}: {key!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}")


def grid_from_classes(path: Path, classes: np.ndarray) -> tuple[int, ...]:
    """Factor sizes of a complete row-major grid given per-image class indices (error otherwise)."""
    classes = classes.astype(np.int64, copy=False)
    if classes.size == 0 or classes.min() < 0:
        raise DisentkitError(f"{path}: factor classes must be non-negative and the file non-empty")
    sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
    # The count first: unravelling more indices than the grid holds is numpy's own error.
    complete = len(classes) == int(np.prod(sizes))
    expected = np.stack(np.unravel_index(np.arange(len(classes)), sizes), axis=1) if complete else None
    if not complete or not np.array_equal(classes, expected):
        raise DisentkitError(
            f"{path}: the images do not form a complete factor grid {sizes} in row-major order "
            f"({len(classes)} images); disentkit reads files in the official layout only"
        )
    return sizes


class FileDataset(GroundTruthDataset):
    """A ground-truth dataset whose images come from an official file (``render`` indexes them).

    ``rng`` is ignored: the file holds one image per factor combination.
    """

    source = "file"

    def __init__(self, name, path, factor_names, factor_sizes, values, images=None, loader=None, post=None):
        self.name = name
        self.path = path
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self._values = [np.asarray(v, dtype=np.float64) for v in values]
        self._images = images
        self._loader = loader
        self._post = post  # applied to every read block (e.g. dSprites 0/1 → 0/255 + channel)
        first = self._read(np.array([0]))
        self.observation_shape = tuple(first.shape[1:])

    def factor_values(self, factor: int | str) -> np.ndarray:
        return self._values[self.factor_index(factor)].copy()

    def _read(self, index: np.ndarray) -> np.ndarray:
        if self._images is None:
            self._images = self._loader()
        block = self._images[index]
        return block if self._post is None else self._post(block)

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        return self._read(self.factors_to_index(factors))


def _dsprites_images(imgs: np.ndarray) -> np.ndarray:
    """Official 0/1 images → 0/255 with a channel axis (the convention of every dataset here)."""
    return (imgs * np.uint8(255))[..., None]


def dsprites_file(data_dir=None, path=None) -> FileDataset:
    """The official dSprites npz (the constant colour factor dropped)."""
    file = locate(DSPRITES_FILE, "dsprites", data_dir, path)
    arrays = _load_npz(file, ("imgs", "latents_classes", "latents_values"))
    imgs, classes, values = arrays["imgs"], arrays["latents_classes"], arrays["latents_values"]
    _check_array(file, "imgs", imgs, (None, 64, 64), np.uint8)
    _check_array(file, "latents_classes", classes, (len(imgs), 6))
    _check_array(file, "latents_values", values, (len(imgs), 6))
    if imgs.max(initial=0) > 1:
        raise DisentkitError(f"{file}: 'imgs' should be binary 0/1, found values up to {imgs.max()}")
    sizes = grid_from_classes(file, classes)
    if sizes[0] != 1:
        raise DisentkitError(f"{file}: expected one colour value, found {sizes[0]}")
    keep = range(1, 6)
    per_class = [_class_values(classes[:, k], values[:, k], sizes[k]) for k in keep]
    names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    return FileDataset("dsprites-file", file, names, sizes[1:], per_class, imgs, post=_dsprites_images)


def _class_values(classes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[classes] = values
    return out


def _open_h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DisentkitError(
            f"{path}: cannot open it as an HDF5 file ({exc}); the file is corrupt or truncated — download it again"
        ) from None


class _LazyH5Images:
    """Images of an HDF5 dataset read on demand (h5py wants increasing, unique indices)."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key
        self._file = None

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        if self._file is None:
            self._file = _open_h5(self.path)
        unique, inverse = np.unique(np.asarray(index), return_inverse=True)
        try:
            block = self._file[self.key][unique]
        except OSError as exc:
            raise DisentkitError(f"{self.path}: cannot read images ({exc}); the file is corrupt") from None
        return block[inverse]


def shapes3d_file(data_dir=None, path=None) -> FileDataset:
    """The official ``3dshapes.h5``: labels read at once, images lazily on demand."""
    file = locate(SHAPES3D_FILE, "shapes3d", data_dir, path)
    with _open_h5(file) as h5:
        missing = [k for k in ("images", "labels") if k not in h5]
        if missing:
            raise DisentkitError(f"{file}: missing dataset(s) {', '.join(missing)}; is this 3dshapes.h5?")
        images, labels_ds = h5["images"], h5["labels"]
        if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
            raise DisentkitError(
                f"{file}: 'images' is {images.dtype} {images.shape}, expected uint8 (N, 64, 64, 3)"
            )
        labels = np.asarray(labels_ds[()], dtype=np.float64)
        if labels.shape != (images.shape[0], 6):
            raise DisentkitError(
                f"{file}: 'labels' has shape {labels.shape}, expected ({images.shape[0]}, 6)"
            )
    # class = rank of the value among the factor's distinct values (the official values are sorted)
    uniques = [np.unique(labels[:, k]) for k in range(6)]
    classes = np.stack([np.searchsorted(u, labels[:, k]) for k, u in enumerate(uniques)], axis=1)
    sizes = grid_from_classes(file, classes)
    names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    return FileDataset(
        "shapes3d-file", file, names, sizes, uniques, loader=lambda: _LazyH5Images(file, "images")
    )


def mpi3d_file(data_dir=None, path=None, variant: str = "toy", factor_sizes=MPI3D_SIZES) -> FileDataset:
    """An official MPI3D npz (``variant`` toy / realistic / real); ``factor_sizes`` for tiny test grids."""
    if variant not in MPI3D_VARIANTS:
        raise DisentkitError(f"mpi3d: unknown variant {variant!r}; valid: {', '.join(MPI3D_VARIANTS)}")
    sizes = tuple(int(s) for s in factor_sizes)
    if len(sizes) != len(MPI3D_FACTORS) or min(sizes) < 1:
        raise DisentkitError(f"mpi3d: factor_sizes must be {len(MPI3D_FACTORS)} positive sizes, got {sizes}")
    file = locate(f"mpi3d_{variant}.npz", "mpi3d", data_dir, path)
    images = _load_npz(file, ("images",))["images"]
    _check_array(file, "images", images, (None, 64, 64, 3), np.uint8)
    if len(images) != int(np.prod(sizes)):
        raise DisentkitError(
            f"{file}: {len(images)} images, but the factor grid {sizes} has {int(np.prod(sizes))}"
        )
    values = [np.arange(s, dtype=np.float64) for s in sizes]
    return FileDataset(f"mpi3d-{variant}-file", file, MPI3D_FACTORS, sizes, values, images)
