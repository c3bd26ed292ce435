"""RGB-D Objects (Lai et al. 2011) from its folder layout: a real target with hidden factors.

Layout of the cropped release (``rgbd-dataset``)::

    {category}/{category}_{instance}/{category}_{instance}_{video}_{frame}_crop.png       RGB crop
    {category}/{category}_{instance}/{category}_{instance}_{video}_{frame}_maskcrop.png   object mask
    {category}/{category}_{instance}/{category}_{instance}_{video}_{frame}_depthcrop.png  16-bit depth

Factors: ``category`` (51 in the full release) and ``elevation`` (the video: 1, 2, 4 were filmed
at about 30°, 45°, 60°); the instance, the azimuth (frame along the turntable turn) and lighting are
hidden: ``render`` draws one matching image with ``rng``. Images are masked (black background),
square-padded about the crop and resized, as the transfer paper does. ``modality="depth"`` gives
the depth crop (masked, min-max normalised per image) as one grey channel — the paper's RGB-D (depth).
Get the data from https://rgbd-dataset.cs.washington.edu and pass its folder as ``path=``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from disentkit.data.base import GroundTruthDataset
from disentkit.errors import DisentkitError

PATTERN = re.compile(r"^(?P<category>[a-z_]+?)_(?P<instance>\d+)_(?P<video>\d+)_(?P<frame>\d+)_crop\.png$")
MODALITIES = ("rgb", "depth")
HOW_TO_GET = "download the RGB-D Object Dataset (https://rgbd-dataset.cs.washington.edu) and pass path="


def scan_rgbd(path: str | Path) -> list[dict]:
    """One record per RGB crop that has its mask: category, instance, video, frame and files."""
    folder = Path(path)
    if not folder.is_dir():
        raise DisentkitError(f"RGB-D Objects folder {folder} does not exist; {HOW_TO_GET}")
    records = []
    for crop in sorted(folder.rglob("*_crop.png")):
        match = PATTERN.match(crop.name)
        mask = crop.with_name(crop.name.replace("_crop.png", "_maskcrop.png"))
        if match and mask.exists():
            rec = match.groupdict()
            records.append(
                {
                    "category": rec["category"],
                    "instance": int(rec["instance"]),
                    "video": int(rec["video"]),
                    "frame": int(rec["frame"]),
                    "crop": crop,
                    "mask": mask,
                    "depth": crop.with_name(crop.name.replace("_crop.png", "_depthcrop.png")),
                }
            )
    if not records:
        raise DisentkitError(
            f"{folder} holds no {{category}}_{{i}}_{{video}}_{{frame}}_crop.png with a mask; {HOW_TO_GET}"
        )
    return records


def _read(path: Path, mode: str | None = None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode) if mode else image)
    except (OSError, UnidentifiedImageError) as exc:
        raise DisentkitError(f"cannot read image {path}: {exc}") from None


def square_masked(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Mask out the background, pad to a square about the crop's centre, resize to ``size``."""
    from PIL import Image

    if image.shape[:2] != mask.shape[:2]:
        raise DisentkitError(f"crop {image.shape[:2]} and mask {mask.shape[:2]} differ in size")
    img = image if image.ndim == 3 else image[..., None]
    img = img * (mask[..., None] > 0)
    h, w = mask.shape
    side = max(h, w)
    canvas = np.zeros((side, side, img.shape[2]), dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top : top + h, left : left + w] = img
    out = Image.fromarray(canvas[..., 0] if canvas.shape[2] == 1 else canvas).resize(
        (size, size), Image.BILINEAR
    )
    arr = np.asarray(out)
    return arr if arr.ndim == 3 else arr[..., None]


class RGBDObjects(GroundTruthDataset):
    """RGB-D Objects: ``category`` × ``elevation`` known, instance/azimuth/lighting hidden.

    Parameters
    ----------
    path : the dataset folder
    resolution : output size (64: the models' input)
    modality : "rgb" (masked colour crops) or "depth" (masked depth, one channel)
    """

    source = "folder"

    def __init__(self, path: str | Path, resolution: int = 64, modality: str = "rgb"):
        if modality not in MODALITIES:
            raise DisentkitError(
                f"rgbd-objects: modality must be one of {', '.join(MODALITIES)}, got {modality!r}"
            )
        self.records = scan_rgbd(path)
        if modality == "depth":
            self.records = [r for r in self.records if r["depth"].exists()]
            if not self.records:
                raise DisentkitError(f"{path}: no _depthcrop.png files next to the crops")
        self.modality, self.resolution = modality, int(resolution)
        self.name = "rgbd-objects" if modality == "rgb" else "rgbd-objects-depth"
        self.categories = sorted({r["category"] for r in self.records})
        self.videos = sorted({r["video"] for r in self.records})
        self.factor_names = ("category", "elevation")
        self.factor_sizes = (len(self.categories), len(self.videos))
        self.observation_shape = (self.resolution, self.resolution, 3 if modality == "rgb" else 1)
        keys = [(self.categories.index(r["category"]), self.videos.index(r["video"])) for r in self.records]
        self._groups: dict[tuple[int, int], list[int]] = {}
        for i, key in enumerate(keys):
            self._groups.setdefault(key, []).append(i)
        # Final images by record index, made on first draw: each file is decoded once, not per batch.
        # At most one per record, resolution² × channels bytes each (12 KiB at 64 px RGB, so
        # ≈ 1.2 GB per 100,000 distinct frames drawn).
        self._decoded: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Factor vectors of real images (not every category was filmed at every elevation)."""
        keys = list(self._groups)
        return np.asarray([keys[i] for i in rng.integers(0, len(keys), n)], dtype=np.int64).reshape(n, 2)

    def _image(self, index: int) -> np.ndarray:
        if index not in self._decoded:
            self._decoded[index] = self._decode(self.records[index])
        return self._decoded[index]

    def _decode(self, record: dict) -> np.ndarray:
        mask = _read(record["mask"], "L")
        if self.modality == "rgb":
            return square_masked(_read(record["crop"], "RGB"), mask, self.resolution)
        depth = _read(record["depth"]).astype(np.float64)
        valid = (mask > 0) & (depth > 0)
        grey = np.zeros(depth.shape, np.uint8)
        if valid.any():
            lo, hi = depth[valid].min(), depth[valid].max()
            # near = bright, as a lit object on black
            grey[valid] = np.round(255 * (hi - depth[valid]) / max(hi - lo, 1.0) * 0.8 + 51).astype(np.uint8)
        return square_masked(grey, mask, self.resolution)

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        """One real image per factor vector; ``rng`` picks among the matching ones (the hidden factors)."""
        arr = self.validate_factors(factors)
        rng = np.random.default_rng(0) if rng is None else rng
        out = np.zeros((len(arr), *self.observation_shape), np.uint8)
        for i, key in enumerate(map(tuple, arr)):
            group = self._groups.get(key)
            if group is None:
                raise DisentkitError(
                    f"rgbd-objects: no image of {self.categories[key[0]]} at elevation video {self.videos[key[1]]}"
                )
            out[i] = self._image(group[rng.integers(len(group))])
        return out

    def pose(self) -> np.ndarray:
        """(video, frame) of every record: the pose from the file names."""
        return np.asarray([(r["video"], r["frame"]) for r in self.records], dtype=np.int64)


def rgbd_objects(path: str | Path | None = None, resolution: int = 64, modality: str = "rgb") -> RGBDObjects:
    if path is None:
        raise DisentkitError(f"rgbd-objects needs path=; {HOW_TO_GET}")
    return RGBDObjects(path, resolution, modality)


def rgbd_objects_depth(path: str | Path | None = None, resolution: int = 64) -> RGBDObjects:
    if path is None:
        raise DisentkitError(f"rgbd-objects-depth needs path=; {HOW_TO_GET}")
    return RGBDObjects(path, resolution, "depth")
