"""dSprites and its colour / noise variants, rendered procedurally on the official factor grid.

The five dSprites factors and their physical values follow the official file
(``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``, ``latents_values``; its constant colour factor
is dropped): shape 1, 2, 3 (square, ellipse, heart); scale 0.5 … 1.0 in 6 steps; orientation
0 … 2π in 40 steps (both ends included, as in the file); position x and y 0 … 1 in 32 steps.

Rendering is a lookup: every (shape, scale, orientation) sprite is rasterised once per process
into a bank of full-width 64-pixel stripes, one per horizontal position, so an image is a single
stripe pasted at its row offset. Both the numpy and the torch path paste from the same bank,
so they return the same pixels.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from disentkit.data.base import GroundTruthDataset
from disentkit.data.colors import husl_palette
from disentkit.data.tensors import DeviceRendering, factors_on, unit_float

SIZE = 64
#: rows of the stripe holding one sprite (its largest extent, rotated, is below this)
BOX = 32
HALF = BOX // 2
SHAPES = ("square", "ellipse", "heart")
N_SCALES, N_ORIENT, N_POS = 6, 40, 32
SPRITE_FACTORS = ("shape", "scale", "orientation", "pos_x", "pos_y")
SPRITE_SIZES = (3, N_SCALES, N_ORIENT, N_POS, N_POS)
#: sprite centres span pixels 10 … 54 of the 64-pixel frame, as in the official images
POS_LO, POS_HI = 10.0, 54.0
SUPERSAMPLE = 4


def _inside(shape: str, x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    """Whether the points (x right, y up, in pixels from the sprite centre) lie in the shape."""
    if shape == "square":
        half = 9.0 * scale
        return (np.abs(x) <= half) & (np.abs(y) <= half)
    if shape == "ellipse":
        # the official ellipse is an elongated oval, about twice as wide as it is tall
        return (x / (11.5 * scale)) ** 2 + (y / (5.8 * scale)) ** 2 <= 1.0
    # heart: the classic curve (x² + y² − 1)³ − x² y³ ≤ 0, spanning y ∈ [−1, 1.24], centred here
    unit = 9.2 * scale
    u, v = x / unit, y / unit + 0.12
    return (u * u + v * v - 1.0) ** 3 - u * u * v**3 <= 0.0


def _rasterise(shape: str, scale: float, angle: float) -> np.ndarray:
    """Binary ``(BOX, BOX)`` mask of one sprite centred in the box, rotated counter-clockwise."""
    sub = (np.arange(BOX * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - HALF
    dx, dy = np.meshgrid(sub, sub)
    x, y = dx, -dy  # image rows grow downwards; the shape is defined with y up
    c, s = np.cos(angle), np.sin(angle)
    inside = _inside(shape, c * x + s * y, -s * x + c * y, scale)
    coverage = inside.reshape(BOX, SUPERSAMPLE, BOX, SUPERSAMPLE).mean(axis=(1, 3))
    return coverage >= 0.5


def position_pixels() -> np.ndarray:
    """Integer pixel of the sprite centre for each of the 32 position classes (10 … 54)."""
    return np.rint(np.linspace(POS_LO, POS_HI, N_POS)).astype(np.int64)


@functools.lru_cache(maxsize=1)
def sprite_bank() -> np.ndarray:
    """uint8 (0/255) stripes ``(3·6·40, 32, BOX, 64)``: sprite × x-position, cached per process.

    Stripe ``[i, px]`` holds sprite ``i = (shape·6 + scale)·40 + orientation`` with its centre at
    column ``position_pixels()[px]``; sprites near the border are clipped like the official ones.
    """
    scales = np.linspace(0.5, 1.0, N_SCALES)
    angles = np.linspace(0.0, 2 * np.pi, N_ORIENT)
    masks = np.stack([_rasterise(shape, sc, a) for shape in SHAPES for sc in scales for a in angles]).astype(
        np.uint8
    ) * np.uint8(255)
    wide = np.zeros((len(masks), N_POS, BOX, SIZE + BOX), np.uint8)
    for px, centre in enumerate(position_pixels()):
        wide[:, px, :, centre : centre + BOX] = masks  # column 0 of `wide` is frame column −HALF
    bank = np.ascontiguousarray(wide[..., HALF : HALF + SIZE])
    bank.setflags(write=False)
    return bank


_TORCH_BANKS: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def sprite_bank_torch(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The sprite bank and the position pixels as tensors on ``device`` (uploaded once per device)."""
    key = str(device)
    if key not in _TORCH_BANKS:
        bank = torch.from_numpy(sprite_bank().copy()).to(device)
        _TORCH_BANKS[key] = (bank, torch.from_numpy(position_pixels()).to(device))
    return _TORCH_BANKS[key]


def paste_masks(shape, scale, orient, pos_x, pos_y) -> np.ndarray:
    """uint8 (0/255) masks ``(n, 64, 64)`` for integer class arrays of the five sprite factors."""
    bank = sprite_bank()
    n = len(shape)
    sprite = (shape * N_SCALES + scale) * N_ORIENT + orient
    stripes = bank[sprite, pos_x]  # (n, BOX, 64)
    # a canvas padded by HALF rows above and below, so every stripe fits without clipping logic
    canvas = np.zeros((n, SIZE + BOX, SIZE), np.uint8)
    rows = position_pixels()[pos_y][:, None] + np.arange(BOX)  # top row in padded coordinates
    canvas[np.arange(n)[:, None], rows] = stripes
    return canvas[:, HALF : HALF + SIZE]


def paste_masks_torch(factors: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (0/255) masks ``(n, 64, 64)`` on ``device`` from a ``(n, 5)`` class tensor."""
    bank, centres = sprite_bank_torch(device)
    f = factors.to(device=device, dtype=torch.long)
    n = f.shape[0]
    sprite = (f[:, 0] * N_SCALES + f[:, 1]) * N_ORIENT + f[:, 2]
    stripes = bank[sprite, f[:, 3]]  # (n, BOX, 64)
    rows = centres[f[:, 4]][:, None] + torch.arange(BOX, device=device)
    canvas = torch.zeros((n, SIZE + BOX, SIZE), dtype=torch.uint8, device=device)
    canvas[torch.arange(n, device=device)[:, None], rows] = stripes  # row copies, like numpy
    return canvas[:, HALF : HALF + SIZE]


def random_bytes_torch(shape: tuple[int, ...], generator: torch.Generator, device: torch.device):
    """Uniform uint8 tensor drawn as 64-bit words (8× fewer draws than byte by byte)."""
    count = int(np.prod(shape))
    words = torch.empty((count + 7) // 8, dtype=torch.int64, device=device)
    words.random_(-(2**63), 2**63 - 1, generator=generator)
    return words.view(torch.uint8)[:count].view(shape)


def _device_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    """A generator living on ``device``, seeded from ``generator`` (fixed seed 0 when None)."""
    if generator is not None and generator.device.type == device.type:
        return generator
    seed = 0 if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


class Sprites(DeviceRendering, GroundTruthDataset):
    """dSprites on the official grid, optionally coloured and/or over a noise background.

    Parameters
    ----------
    color : bool, default=False
        Add a first factor ``color`` with 7 values: white plus 6 evenly spaced HUSL hues
        (s = 0.7, l = 0.7), the sprite painted in that colour on black (Color-dSprites).
    noise : bool, default=False
        Fill the background with uniform noise, fresh per image and drawn from the ``rng`` given to
        :meth:`render`: without ``color`` the image is ``min(sprite + U(0,1), 1)`` per pixel and
        channel (Noisy-dSprites, 3 channels as in the papers' noisy variant: the sprite is white,
        the background RGB noise); with ``color`` the coloured sprite covers the noise
        (Noisy-Color-dSprites). Noise is drawn as uniform random bytes, i.e. U(0,1) quantised to
        the 256 levels of the uint8 output. On an accelerator the tensor path draws its noise from
        the torch generator, so noisy images match the numpy path only in the sprite pixels.

    Notes
    -----
    Plain dSprites is binary, one channel, 0/255 in ``render`` (0/1 in the official file).
    """

    source = "procedural"

    def __init__(self, color: bool = False, noise: bool = False):
        self.color = color
        self.noise = noise
        self.name = ("noisy-" if noise else "") + ("color-" if color else "") + "dsprites"
        self.factor_names = (("color",) if color else ()) + SPRITE_FACTORS
        self.factor_sizes = ((7,) if color else ()) + SPRITE_SIZES
        self.observation_shape = (SIZE, SIZE, 3 if (color or noise) else 1)
        self.palette = husl_palette(6, s=0.7, l=0.7, white=True)  # uint8 (7, 3)

    def factor_values(self, factor: int | str) -> np.ndarray:
        """Physical values as in the official ``latents_values`` (colour: class index)."""
        name = self.factor_names[self.factor_index(factor)]
        values = {
            "shape": np.array([1.0, 2.0, 3.0]),
            "scale": np.linspace(0.5, 1.0, N_SCALES),
            "orientation": np.linspace(0.0, 2 * np.pi, N_ORIENT),
            "pos_x": np.linspace(0.0, 1.0, N_POS),
            "pos_y": np.linspace(0.0, 1.0, N_POS),
        }
        return values.get(name, np.arange(7, dtype=np.float64))

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        f = self.validate_factors(factors)
        off = 1 if self.color else 0
        mask = paste_masks(*(f[:, off + k] for k in range(5)))
        if not (self.color or self.noise):
            return mask[..., None]
        n = len(f)
        noise = None
        if self.noise:
            rng = np.random.default_rng(0) if rng is None else rng
            noise = np.frombuffer(rng.bytes(n * 3 * SIZE * SIZE), np.uint8).reshape(n, 3, SIZE * SIZE)
        fg = self.palette[f[:, 0]][:, :, None] if self.color else None
        out = _composite(mask.reshape(n, 1, SIZE * SIZE), fg, noise)
        # channels first keeps each operation on contiguous rows; return a channels-last view
        return out.reshape(n, 3, SIZE, SIZE).transpose(0, 2, 3, 1)

    def render_device(
        self,
        factors: torch.Tensor,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The tensor path: paste from the sprite bank on ``device``, noise from ``generator``."""
        device = torch.device(device) if device is not None else torch.as_tensor(factors).device
        f = factors_on(self, factors, device)
        off = 1 if self.color else 0
        mask = paste_masks_torch(f[:, off : off + 5], device)
        n = mask.shape[0]
        if not (self.color or self.noise):
            return unit_float(mask[:, None])
        noise = None
        if self.noise:
            gen = _device_generator(generator, device)
            noise = random_bytes_torch((n, 3, SIZE * SIZE), gen, device)
        fg = None
        if self.color:
            palette = torch.from_numpy(self.palette).to(device, non_blocking=True)
            fg = palette[f[:, 0]][:, :, None]
        out = _composite(mask.reshape(n, 1, SIZE * SIZE), fg, noise)
        return unit_float(out.reshape(n, 3, SIZE, SIZE))


def _composite(mask, fg, noise):
    """Sprite over background with bitwise operations (works on numpy arrays and torch tensors).

    ``mask`` is 0 or 255 (all bits set), so ``mask & colour`` paints the sprite, ``noise & ~mask``
    keeps the background and ``noise | mask`` is ``min(sprite + noise, 1)`` for a white sprite.
    """
    if noise is None:
        return mask & fg
    if fg is None:
        return noise | mask
    return (noise & ~mask) | (mask & fg)


def dsprites() -> Sprites:
    """dSprites: 3 shapes × 6 scales × 40 orientations × 32 × 32 positions, 64×64 binary."""
    return Sprites()


def color_dsprites() -> Sprites:
    """Color-dSprites: a 7-valued colour factor (white + 6 HUSL hues) before the dSprites factors."""
    return Sprites(color=True)


def noisy_dsprites() -> Sprites:
    """Noisy-dSprites: white sprite over per-pixel, per-channel U(0,1) noise (RGB)."""
    return Sprites(noise=True)


def noisy_color_dsprites() -> Sprites:
    """Noisy-Color-dSprites: the Color-dSprites sprite over a U(0,1) noise background."""
    return Sprites(color=True, noise=True)
