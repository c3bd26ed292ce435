"""Real-photo dataset with known factors, built offline from photographs bundled in scikit-image.

In the spirit of the transfer paper's Coil100-Augmented (real object photos rotated and zoomed about
the centre on black), each image is a cut-out of a real photograph composited on a background from
its factor vector alone:

* ``object``: 8 cut-outs (coffee cup on its saucer, a cat's face, an astronaut's head, a shuttle
  model, a launch-pad rocket, a cameraman, two pairs of neighbouring coins). Every cut-out has an
  outline or content that shows its orientation (no lone round coin), so rotation is visible;
* ``rotation``: 18 in-plane angles, 0–340° by 20° (Coil100-Augmented's);
* ``scale``: 9 zooms, 1 → 0.5 (Coil100-Augmented's);
* ``pos_x``, ``pos_y``: 5 offsets each, −12 % … +12 % of the frame;
* ``background`` (only with ``backgrounds > 1``): black, then real textures (grass, gravel).

Rendering is an exact function of the factors: one affine ``grid_sample`` per image from cached
premultiplied RGBA cut-outs at twice the resolution, then 2×2 average pooling (anti-aliasing). The
binary variant follows the paper's recipe for Coil100-Augmented-binary: greyscale, median blur 5,
Otsu threshold, 5×5 closing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from disentkit.data.base import GroundTruthDataset
from disentkit.errors import DisentkitError

ROTATIONS_DEG = np.arange(0, 360, 20, dtype=np.float64)  # 18 angles, 0–340°
SCALES = np.linspace(1.0, 0.5, 9)
POSITIONS = np.linspace(-0.12, 0.12, 5)  # fraction of the frame
#: diameter of a cut-out's bounding circle at scale 1, as a fraction of the frame: rotated and
#: shifted by the largest offset it stays a pixel off the border (0.7 / 2 + 0.12 < 0.5)
EXTENT = 0.7
BACKGROUNDS = ("black", "grass", "gravel")
RESOLUTIONS = (64, 128)
_CHUNK = 64  # images per grid_sample call: bounds memory at 128 px


@dataclass(frozen=True)
class _CutoutSpec:
    """Where an object lies in a scikit-image photograph and how its mask is made."""

    name: str
    image: str  # skimage.data function name
    box: tuple[int, int, int, int]  # y0, y1, x0, x1
    mask: str  # "ellipse", "rect", "bright" (object brighter than its surround), "otsu"


OBJECTS: tuple[_CutoutSpec, ...] = (
    _CutoutSpec("coffee", "coffee", (58, 398, 70, 486), "ellipse"),
    _CutoutSpec("cat", "chelsea", (30, 300, 85, 395), "ellipse"),
    _CutoutSpec("astronaut", "astronaut", (8, 300, 108, 312), "ellipse"),
    _CutoutSpec("shuttle", "astronaut", (0, 278, 352, 468), "rect"),
    _CutoutSpec("rocket", "rocket", (122, 406, 294, 346), "bright"),
    _CutoutSpec("cameraman", "camera", (58, 262, 142, 334), "ellipse"),
    _CutoutSpec("coins-a", "coins", (4, 90, 248, 374), "otsu"),
    _CutoutSpec("coins-b", "coins", (148, 232, 243, 382), "otsu"),
)


def _load_photo(name: str) -> np.ndarray:
    """A bundled photograph as float RGB in [0, 1]."""
    import skimage.data

    try:
        image = getattr(skimage.data, name)()
    except Exception as exc:  # a broken scikit-image install: say which photo is missing
        raise DisentkitError(
            f"realphoto: cannot load scikit-image's bundled photo {name!r} ({exc}); "
            "reinstall scikit-image (`pip install --force-reinstall scikit-image`)"
        ) from None
    image = np.asarray(image, dtype=np.float64) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def _mask(spec: _CutoutSpec, crop: np.ndarray) -> np.ndarray:
    """Binary object mask for a crop (float in [0, 1], same height/width)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    h, w = crop.shape[:2]
    if spec.mask == "rect":
        return np.ones((h, w))
    if spec.mask == "ellipse":
        yy, xx = np.mgrid[0:h, 0:w]
        return (((yy + 0.5 - h / 2) / (h / 2)) ** 2 + ((xx + 0.5 - w / 2) / (w / 2)) ** 2 <= 1.0) * 1.0
    grey = crop.mean(axis=2)
    binary = grey > threshold_otsu(grey)
    binary = ndimage.binary_opening(binary, iterations=1)
    if spec.mask == "bright":  # one object: keep the largest bright component (drops the lights)
        labels, count = ndimage.label(binary)
        if count > 1:
            sizes = ndimage.sum(binary, labels, range(1, count + 1))
            binary = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(binary) * 1.0


def _square_rgba(spec: _CutoutSpec, size: int) -> np.ndarray:
    """Premultiplied RGBA ``(4, size, size)``: the cut-out centred, its bounding circle = the frame.

    Sizing by the bounding circle (not the longest side) keeps every rotation inside the frame.
    """
    from PIL import Image

    y0, y1, x0, x1 = spec.box
    crop = _load_photo(spec.image)[y0:y1, x0:x1]
    alpha = _mask(spec, crop)
    yy, xx = np.nonzero(alpha)
    # Centre on the mask's bounding box; radius = farthest mask pixel from that centre.
    cy, cx = (yy.min() + yy.max() + 1) / 2, (xx.min() + xx.max() + 1) / 2
    radius = int(np.ceil(np.sqrt((yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2).max())) + 1
    rgba = np.concatenate([crop * alpha[..., None], alpha[..., None]], axis=2)
    pad = radius + 1
    rgba = np.pad(rgba, ((pad, pad), (pad, pad), (0, 0)))
    top, left = int(round(cy)) + pad - radius, int(round(cx)) + pad - radius
    canvas = rgba[top : top + 2 * radius, left : left + 2 * radius]
    # Resize premultiplied channels one by one in float mode ("F"): no 8-bit rounding, no halo.
    channels = [
        np.asarray(
            Image.fromarray(canvas[..., c].astype(np.float32), mode="F").resize((size, size), Image.LANCZOS)
        )
        for c in range(4)
    ]
    return np.clip(np.stack(channels), 0.0, 1.0).astype(np.float32)


def _background(name: str, size: int) -> np.ndarray:
    """A background image ``(3, size, size)`` in [0, 1]."""
    from PIL import Image

    if name == "black":
        return np.zeros((3, size, size), dtype=np.float32)
    texture = _load_photo(name)
    image = Image.fromarray((texture * 255).astype(np.uint8)).resize((size, size), Image.LANCZOS)
    return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1)


@functools.lru_cache(maxsize=4)
def _assets(resolution: int, n_backgrounds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut-outs ``(n_objects, 4, 2R, 2R)`` and backgrounds ``(n_bg, 3, 2R, 2R)``, built once per process."""
    size = 2 * resolution
    cutouts = np.stack([_square_rgba(spec, size) for spec in OBJECTS])
    backgrounds = np.stack([_background(name, size) for name in BACKGROUNDS[:n_backgrounds]])
    return torch.from_numpy(cutouts), torch.from_numpy(backgrounds)


def binarize(images: np.ndarray) -> np.ndarray:
    """The paper's binary variant: greyscale, median blur 5, Otsu threshold, 5×5 closing.

    Parameters
    ----------
    images : uint8 array ``(n, H, W, C)``

    Returns
    -------
    uint8 array ``(n, H, W, 1)`` with values 0 and 255.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    grey = images.astype(np.float32).mean(axis=3) if images.shape[3] == 3 else images[..., 0] * 1.0
    blurred = ndimage.median_filter(grey, size=(1, 5, 5))
    out = np.zeros(grey.shape, dtype=bool)
    for i, image in enumerate(blurred):  # Otsu needs each image's own histogram
        if image.max() > image.min():
            out[i] = image > threshold_otsu(image)
    out = ndimage.binary_closing(out, structure=np.ones((1, 5, 5), dtype=bool))
    return (out[..., None] * 255).astype(np.uint8)


class RealPhoto(GroundTruthDataset):
    """Real-photo cut-outs × rotation × scale × position (× background), 64 or 128 px.

    Parameters
    ----------
    resolution : 64 or 128
    binary : bool
        The paper's binary variant (one channel, 0/255); only on the black background.
    backgrounds : int
        1 = black only (no background factor); 2 or 3 adds a ``background`` factor with real textures.
    """

    source = "procedural"

    def __init__(self, resolution: int = 64, binary: bool = False, backgrounds: int = 1):
        if resolution not in RESOLUTIONS:
            raise DisentkitError(f"realphoto: resolution must be one of {RESOLUTIONS}, got {resolution}")
        if not 1 <= backgrounds <= len(BACKGROUNDS):
            raise DisentkitError(f"realphoto: backgrounds must be 1..{len(BACKGROUNDS)}, got {backgrounds}")
        if binary and backgrounds > 1:
            raise DisentkitError("realphoto: the binary variant is defined on the black background only")
        self.resolution = int(resolution)
        self.binary = bool(binary)
        self.n_backgrounds = int(backgrounds)
        self.name = "realphoto-binary" if binary else "realphoto"
        names = ["object", "rotation", "scale", "pos_x", "pos_y"]
        sizes = [len(OBJECTS), len(ROTATIONS_DEG), len(SCALES), len(POSITIONS), len(POSITIONS)]
        if backgrounds > 1:
            names.append("background")
            sizes.append(backgrounds)
        self.factor_names = tuple(names)
        self.factor_sizes = tuple(sizes)
        self.observation_shape = (self.resolution, self.resolution, 1 if binary else 3)

    def factor_values(self, factor: int | str) -> np.ndarray:
        """Degrees for rotation, zoom for scale, frame fraction for positions, class index otherwise."""
        values = {"rotation": ROTATIONS_DEG, "scale": SCALES, "pos_x": POSITIONS, "pos_y": POSITIONS}
        name = self.factor_names[self.factor_index(factor)]
        return values[name].copy() if name in values else super().factor_values(factor)

    def _theta(self, factors: np.ndarray) -> torch.Tensor:
        """Affine maps output → cut-out coordinates (normalised [-1, 1]), ``(n, 2, 3)``."""
        angle = np.deg2rad(ROTATIONS_DEG[factors[:, 1]])
        zoom = EXTENT * SCALES[factors[:, 2]]
        shift = np.stack([2 * POSITIONS[factors[:, 3]], 2 * POSITIONS[factors[:, 4]]], axis=1)
        cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
        # input = (1/zoom) R(−angle) (output − shift)
        linear = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)
        bias = -np.einsum("nij,nj->ni", linear, shift)
        return torch.from_numpy(np.concatenate([linear, bias[..., None]], axis=2).astype(np.float32))

    def _render_chunk(self, factors: np.ndarray, device: torch.device) -> torch.Tensor:
        cutouts, backgrounds = (t.to(device) for t in _assets(self.resolution, self.n_backgrounds))
        sprites = cutouts[torch.as_tensor(np.ascontiguousarray(factors[:, 0]), device=device)]
        grid = F.affine_grid(self._theta(factors).to(device), list(sprites.shape), align_corners=False)
        warped = F.grid_sample(sprites, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        bg_index = factors[:, 5] if self.n_backgrounds > 1 else np.zeros(len(factors), dtype=np.int64)
        bg = backgrounds[torch.as_tensor(np.ascontiguousarray(bg_index), device=device)]
        composite = warped[:, :3] + (1.0 - warped[:, 3:4]) * bg  # premultiplied "over"
        return F.avg_pool2d(composite, 2).clamp_(0.0, 1.0)

    def _render_float_nchw(self, factors: np.ndarray, device: torch.device) -> torch.Tensor:
        with torch.no_grad():
            parts = [
                self._render_chunk(factors[i : i + _CHUNK], device) for i in range(0, len(factors), _CHUNK)
            ]
        if not parts:
            return torch.zeros((0, 3, self.resolution, self.resolution), device=device)
        return torch.cat(parts)

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        """uint8 images ``(n, R, R, C)``; a pure function of the factors (``rng`` is unused)."""
        arr = self.validate_factors(factors)
        rgb = self._render_float_nchw(arr, torch.device("cpu"))
        images = (rgb.permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
        return binarize(images) if self.binary else images

    def render_torch(self, factors: torch.Tensor, generator=None, device=None) -> torch.Tensor:
        """Render straight on ``device`` (the binary variant goes through numpy for Otsu)."""
        device = torch.device(device) if device is not None else factors.device
        if self.binary:
            return super().render_torch(factors, generator, device)
        arr = self.validate_factors(factors.detach().cpu().numpy())
        # Quantise like `render` so both paths give the same pixels.
        return (self._render_float_nchw(arr, device) * 255.0 + 0.5).floor_().div_(255.0)

    def describe(self) -> dict:
        info = super().describe()
        info["objects"] = [spec.name for spec in OBJECTS]
        return info


def realphoto(resolution: int = 64, backgrounds: int = 1) -> RealPhoto:
    return RealPhoto(resolution=resolution, backgrounds=backgrounds)


def realphoto_binary(resolution: int = 64) -> RealPhoto:
    return RealPhoto(resolution=resolution, binary=True)
