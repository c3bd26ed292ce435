"""COIL-100 from its folder layout, and Coil100-Augmented generated from it (the transfer paper).

COIL-100 ships as ``obj{i}__{angle}.png`` (i = 1…100, angle 0…355 by 5: 72 turntable poses,
128×128 RGB on black). Coil100-Augmented adds, about the image centre on black, the in-plane
rotation 0–340° by 20° (18) and the zoom 1 → 0.5 (9): object × pose × rotation × scale, generated
on the fly from the factor vector. The binary variant is the paper's (median blur 5, Otsu, 5×5
closing). Get COIL-100 from https://www.cs.columbia.edu/CAVE/software/softlib/coil-100.php and pass
its folder as ``path=``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from disentkit.data.base import GroundTruthDataset
from disentkit.data.realphoto import ROTATIONS_DEG, SCALES, binarize
from disentkit.errors import DisentkitError

PATTERN = re.compile(r"^obj(\d+)__(\d+)\.png$", re.IGNORECASE)
POSE_STEP = 5
HOW_TO_GET = (
    "download COIL-100 (https://www.cs.columbia.edu/CAVE/software/softlib/coil-100.php) and pass path="
)
# Files in the release (100 objects × 72 poses): the decode cache holds all of them, so that a full
# pass never evicts (an LRU smaller than the pass re-decodes every file). At the native 128 px that
# is 7,200 × 48 KiB ≈ 338 MiB (84 MiB at 64 px); entries are per (file, resolution), so this holds
# for one resolution in use per process.
RELEASE_FILES = 100 * 72


def scan_coil(path: str | Path) -> tuple[list[int], list[int], dict[tuple[int, int], Path]]:
    """Objects, poses (degrees) and the file of each (object, pose); the grid must be complete."""
    folder = Path(path)
    if not folder.is_dir():
        raise DisentkitError(f"COIL-100 folder {folder} does not exist; {HOW_TO_GET}")
    files = {}
    for file in folder.iterdir():
        match = PATTERN.match(file.name)
        if match:
            files[(int(match.group(1)), int(match.group(2)))] = file
    if not files:
        raise DisentkitError(f"{folder} holds no obj{{i}}__{{angle}}.png files; {HOW_TO_GET}")
    objects = sorted({o for o, _ in files})
    poses = sorted({a for _, a in files})
    missing = [(o, a) for o in objects for a in poses if (o, a) not in files]
    if missing:
        o, a = missing[0]
        raise DisentkitError(
            f"{folder}: incomplete grid, {len(missing)} file(s) missing (e.g. obj{o}__{a}.png)"
        )
    return objects, poses, files


@functools.lru_cache(maxsize=RELEASE_FILES)
def _read_png(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.LANCZOS)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DisentkitError(f"cannot read image {path}: {exc}") from None


class Coil100(GroundTruthDataset):
    """COIL-100 as it is: ``object`` × ``pose`` (turntable angle), 128×128 RGB.

    Parameters
    ----------
    path : the folder of ``obj{i}__{angle}.png`` files
    resolution : output size (128 as released)
    """

    source = "folder"

    def __init__(self, path: str | Path, resolution: int = 128):
        self.objects, self.poses, self.files = scan_coil(path)
        self.name = "coil100"
        self.resolution = int(resolution)
        self.factor_names = ("object", "pose")
        self.factor_sizes = (len(self.objects), len(self.poses))
        self.observation_shape = (self.resolution, self.resolution, 3)

    def factor_values(self, factor):
        k = self.factor_index(factor)
        return np.asarray(self.objects if k == 0 else self.poses, dtype=np.float64)

    def _base(self, factors: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                _read_png(self.files[(self.objects[o], self.poses[p])], self.resolution)
                for o, p in factors[:, :2]
            ]
        )

    def render(self, factors, rng=None) -> np.ndarray:
        return self._base(self.validate_factors(factors))


class Coil100Augmented(Coil100):
    """Coil100-Augmented: object × pose × in-plane rotation (18) × scale (9), on black.

    Parameters
    ----------
    path : the COIL-100 folder
    resolution : 128 (the paper's)
    binary : the paper's binary variant (one channel, 0/255)
    """

    def __init__(self, path: str | Path, resolution: int = 128, binary: bool = False):
        super().__init__(path, resolution)
        self.binary = bool(binary)
        self.name = "coil100-augmented-binary" if binary else "coil100-augmented"
        self.factor_names = ("object", "pose", "rotation", "scale")
        self.factor_sizes = (len(self.objects), len(self.poses), len(ROTATIONS_DEG), len(SCALES))
        self.observation_shape = (self.resolution, self.resolution, 1 if binary else 3)

    def factor_values(self, factor):
        k = self.factor_index(factor)
        return [ROTATIONS_DEG, SCALES][k - 2].copy() if k >= 2 else super().factor_values(factor)

    def render(self, factors, rng=None) -> np.ndarray:
        arr = self.validate_factors(factors)
        if len(arr) == 0:
            return np.zeros((0, *self.observation_shape), np.uint8)
        base = torch.from_numpy(self._base(arr)).permute(0, 3, 1, 2).float()
        angle = np.deg2rad(ROTATIONS_DEG[arr[:, 2]])
        zoom = SCALES[arr[:, 3]]
        cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
        zeros = np.zeros_like(cos)
        theta = np.stack([np.stack([cos, sin, zeros], 1), np.stack([-sin, cos, zeros], 1)], 1)
        grid = F.affine_grid(
            torch.from_numpy(theta.astype(np.float32)), list(base.shape), align_corners=False
        )
        warped = F.grid_sample(base, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        images = warped.clamp_(0, 255).add_(0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return binarize(images) if self.binary else images


def coil100(path: str | Path | None = None, resolution: int = 128) -> Coil100:
    if path is None:
        raise DisentkitError(f"coil100 needs path= (the folder of obj{{i}}__{{angle}}.png); {HOW_TO_GET}")
    return Coil100(path, resolution)


def coil100_augmented(path: str | Path | None = None, resolution: int = 128) -> Coil100Augmented:
    if path is None:
        raise DisentkitError(f"coil100-augmented needs path= (the COIL-100 folder); {HOW_TO_GET}")
    return Coil100Augmented(path, resolution)


def coil100_augmented_binary(path: str | Path | None = None, resolution: int = 128) -> Coil100Augmented:
    if path is None:
        raise DisentkitError(f"coil100-augmented-binary needs path= (the COIL-100 folder); {HOW_TO_GET}")
    return Coil100Augmented(path, resolution, binary=True)
