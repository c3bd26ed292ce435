"""Shapes3D rendered procedurally: a room corner with an object on the floor, on the official grid.

Factors and values follow the official ``3dshapes.h5``: floor, wall and object hue 0.0 … 0.9 by
0.1 (HSV, full saturation and value), scale 0.75 … 1.25 in 8 steps, shape 0 … 3 (cube, cylinder,
sphere, capsule), orientation −30° … 30° in 15 steps (the camera's azimuth around the object).

The scene is ray-cast once per process for each (scale, shape, orientation): for every pixel the
share of floor, wall and object it covers (2×2 supersampling) times its shading (Lambert with a
shadow), stored as 8-bit weights. An image is then the hue colours mixed by those weights — a
gather and three integer multiply-adds per pixel, with the same integer arithmetic on the numpy
and the torch path.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import torch

from disentkit.config import atomic_write_bytes
from disentkit.data.base import GroundTruthDataset
from disentkit.data.colors import hsv_to_rgb
from disentkit.data.tensors import DeviceRendering, factors_on, unit_float

SIZE = 64
HUES = np.linspace(0.0, 0.9, 10)
SCALES = np.linspace(0.75, 1.25, 8)
SHAPES = ("cube", "cylinder", "sphere", "capsule")
ORIENTATIONS = np.linspace(-30.0, 30.0, 15)
SUPERSAMPLE = 2
#: the walls meet in a corner behind the object, WALL_DIST from it along each wall's normal
WALL_DIST = 3.2
CAMERA_DIST, CAMERA_HEIGHT, LOOK_AT_Y, FOV_DEG = 7.0, 2.6, 0.55, 40.0
LIGHT = np.array([-0.45, 1.0, -0.7]) / np.linalg.norm([-0.45, 1.0, -0.7])  # towards the light
AMBIENT = 0.45
#: object size at scale 1 (cube side, cylinder/sphere/capsule diameter), world units
OBJECT_SIZE = 1.1
FLOOR, WALL, OBJECT = 0, 1, 2


def _plane_hit(o, d, normal, offset):
    """Ray parameter where rays ``o + t d`` meet the plane ``x·normal = offset`` (inf if never)."""
    denom = d @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (offset - o @ normal) / denom
    return np.where((t > 1e-6) & np.isfinite(t), t, np.inf)


def _sphere_hit(o, d, centre, radius):
    oc = o - centre
    b = np.einsum("ij,ij->i", oc, d)
    c = np.einsum("ij,ij->i", oc, oc) - radius**2
    disc = b * b - c
    t = -b - np.sqrt(np.maximum(disc, 0))
    return np.where((disc >= 0) & (t > 1e-6), t, np.inf)


def _cylinder_side_hit(o, d, radius, y0, y1):
    """Vertical cylinder around the y axis between heights y0 and y1 (side surface only)."""
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2]
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - radius**2
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    y = o[:, 1] + t * d[:, 1]
    ok = (disc >= 0) & (t > 1e-6) & (y >= y0) & (y <= y1)
    return np.where(ok, t, np.inf)


def _disc_hit(o, d, radius, height):
    t = _plane_hit(o, d, np.array([0.0, 1.0, 0.0]), height)
    p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
    return np.where(p[:, 0] ** 2 + p[:, 2] ** 2 <= radius**2, t, np.inf)


def _box_hit(o, d, half, height):
    lo, hi = np.array([-half, 0.0, -half]), np.array([half, height, half])
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - o) / d, (hi - o) / d
    tnear = np.nanmax(np.minimum(t1, t2), axis=1)
    tfar = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((tnear <= tfar) & (tnear > 1e-6), tnear, np.inf)


def _object_hit(o, d, shape: str, scale: float):
    """Ray parameter and outward normal function of the object standing on the floor at the origin."""
    r = OBJECT_SIZE * scale / 2
    if shape == "cube":
        t = _box_hit(o, d, r, 2 * r)
    elif shape == "cylinder":
        t = np.minimum(_cylinder_side_hit(o, d, r, 0, 2 * r), _disc_hit(o, d, r, 2 * r))
    elif shape == "sphere":
        t = _sphere_hit(o, d, np.array([0.0, r, 0.0]), r)
    else:  # capsule: an upright pill, radius r, total height 3r
        rc = 0.75 * r
        ends = [_sphere_hit(o, d, np.array([0.0, y, 0.0]), rc) for y in (rc, 3 * r - rc)]
        t = np.minimum(_cylinder_side_hit(o, d, rc, rc, 3 * r - rc), np.minimum(*ends))
    return t


def _object_normal(p, shape: str, scale: float):
    r = OBJECT_SIZE * scale / 2
    if shape == "cube":
        q = np.abs(np.column_stack([p[:, 0] / r, (p[:, 1] - r) / r, p[:, 2] / r]))
        axis = np.argmax(q, axis=1)
        n = np.zeros_like(p)
        n[np.arange(len(p)), axis] = np.sign((p - [0, r, 0])[np.arange(len(p)), axis])
        return n
    if shape == "sphere":
        n = p - [0.0, r, 0.0]
    elif shape == "cylinder":
        top = p[:, 1] > 2 * r - 1e-4
        n = np.where(top[:, None], [0.0, 1.0, 0.0], p * [1.0, 0.0, 1.0])
    else:
        rc = 0.75 * r
        axis_y = np.clip(p[:, 1], rc, 3 * r - rc)
        n = p - np.column_stack([np.zeros(len(p)), axis_y, np.zeros(len(p))])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


_WALL_NORMALS = np.array([[1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]) / np.sqrt(2)


def _camera_rays(azimuth_deg: float):
    """Ray origins and unit directions, one per supersample, row-major over the image."""
    az = np.deg2rad(azimuth_deg)
    eye = np.array([-CAMERA_DIST * np.sin(az), CAMERA_HEIGHT, -CAMERA_DIST * np.cos(az)])
    forward = np.array([0.0, LOOK_AT_Y, 0.0]) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    n = SIZE * SUPERSAMPLE
    half = np.tan(np.deg2rad(FOV_DEG) / 2)
    s = ((np.arange(n) + 0.5) / n * 2 - 1) * half
    sx, sy = np.meshgrid(s, -s)  # image rows go down
    d = forward + sx.reshape(-1, 1) * right + sy.reshape(-1, 1) * up
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.broadcast_to(eye, d.shape), d


def _near_object(o, d, scale: float) -> np.ndarray:
    """Rays that pass within the object's bounding sphere (only these need the object test)."""
    r = OBJECT_SIZE * scale / 2
    centre = np.array([0.0, 1.5 * r, 0.0])
    oc = centre - o
    along = np.maximum(np.einsum("ij,ij->i", oc, d), 0.0)
    closest = oc - along[:, None] * d
    return np.einsum("ij,ij->i", closest, closest) <= (1.8 * r) ** 2


@functools.lru_cache(maxsize=len(ORIENTATIONS))
def _room(azimuth_deg: float):
    """The empty room seen from ``azimuth_deg``: rays, hit depth, hit points, label and shading."""
    o, d = _camera_rays(azimuth_deg)
    hits = np.stack(
        [_plane_hit(o, d, np.array([0.0, 1.0, 0.0]), 0.0)]
        + [_plane_hit(o, d, n, WALL_DIST) for n in _WALL_NORMALS]
    )
    first = np.argmin(hits, axis=0)  # 0 floor, 1/2 walls
    depth = hits[first, np.arange(len(first))]
    p = o + depth[:, None] * d
    normal = np.where((first == 0)[:, None], [0.0, 1.0, 0.0], -_WALL_NORMALS[np.maximum(first - 1, 0)])
    lambert = np.clip(normal @ LIGHT, 0.0, 1.0)
    # soft falloff towards the back of the room, so the corner reads as depth
    falloff = 1.0 - 0.12 * np.clip(p[:, 2] / (WALL_DIST * np.sqrt(2)), 0, 1)
    label = np.where(first == 0, FLOOR, WALL)
    return o, d, depth, p + 1e-3 * normal, lambert, falloff, label


def _shade_scene(azimuth_deg: float, shape: str, scale: float) -> np.ndarray:
    """float ``(3, 64·64)``: per pixel, the floor / wall / object coverage times its shading."""
    o, d, depth, lifted, lambert, falloff, label = _room(azimuth_deg)
    lambert, falloff, label = lambert.copy(), falloff.copy(), label.copy()
    # the object, tested only on rays near it
    near = np.flatnonzero(_near_object(o, d, scale))
    t = _object_hit(o[near], d[near], shape, scale)
    front = np.isfinite(t) & (t < depth[near])
    rays = near[front]
    p_obj = o[rays] + t[front, None] * d[rays]
    lambert[rays] = np.clip(_object_normal(p_obj, shape, scale) @ LIGHT, 0.0, 1.0)
    falloff[rays] = 1.0
    label[rays] = OBJECT
    # shadow: room points whose path to the light meets the object
    light = np.broadcast_to(LIGHT, lifted.shape)
    maybe = np.flatnonzero((label != OBJECT) & _near_object(lifted, light, scale))
    shadowed = maybe[np.isfinite(_object_hit(lifted[maybe], light[maybe], shape, scale))]
    lambert[shadowed] = 0.0
    shade = (AMBIENT + (1 - AMBIENT) * lambert) * falloff
    weights = np.where(label[None, :] == np.arange(3)[:, None], shade[None, :], 0.0)
    n = SIZE
    return weights.reshape(3, n, SUPERSAMPLE, n, SUPERSAMPLE).mean(axis=(2, 4)).reshape(3, n * n)


def _build_bank() -> np.ndarray:
    bank = np.stack([_shade_scene(az, shape, sc) for sc in SCALES for shape in SHAPES for az in ORIENTATIONS])
    _room.cache_clear()  # the rays are only needed while building
    return np.floor(bank * 255 + 0.5).astype(np.uint8)


def _cache_file() -> Path:
    """Disk cache of the bank, keyed by this module's source (any change to the scene rebuilds it)."""
    root = os.environ.get("DISENTKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "disentkit"
    )
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return Path(root) / f"shapes3d-bank-{digest}.npy"


@functools.lru_cache(maxsize=1)
def scene_bank() -> np.ndarray:
    """uint8 weights ``(8·4·15, 3, 64·64)`` (0–255, summing to ≤ 255 per pixel), cached.

    Entry ``(scale·4 + shape)·15 + orientation`` holds the floor, wall and object weight maps.
    Built once per process (seconds), and kept in a disk cache (``$DISENTKIT_CACHE``, else
    ``~/.cache/disentkit``, 6 MB) so later processes load it; an unusable cache is rebuilt.
    """
    path = _cache_file()
    try:
        bank = np.load(path, allow_pickle=False)
        if (
            bank.shape != (len(SCALES) * len(SHAPES) * len(ORIENTATIONS), 3, SIZE * SIZE)
            or bank.dtype != np.uint8
        ):
            raise ValueError("stale cache")
    except (OSError, ValueError, EOFError):
        bank = _build_bank()
        try:
            buffer = io.BytesIO()
            np.save(buffer, bank)
            atomic_write_bytes(path, buffer.getvalue())
        except OSError:
            pass  # a read-only home only costs the rebuild next time
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=1)
def hue_colors() -> np.ndarray:
    """uint8 ``(10, 3)`` RGB of the 10 hues at full saturation and value."""
    return np.rint(hsv_to_rgb(HUES) * 255).astype(np.uint8)


_TORCH_BANKS: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _torch_bank(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = str(device)
    if key not in _TORCH_BANKS:
        weights = torch.from_numpy(scene_bank().copy()).to(device)
        colors = torch.from_numpy(hue_colors().astype(np.int32)).to(device)
        _TORCH_BANKS[key] = (weights, colors)
    return _TORCH_BANKS[key]


def _config_index(scale, shape, orientation):
    return (scale * len(SHAPES) + shape) * len(ORIENTATIONS) + orientation


class Shapes3D(DeviceRendering, GroundTruthDataset):
    """Shapes3D: floor hue 10 × wall hue 10 × object hue 10 × scale 8 × shape 4 × orientation 15.

    64×64 RGB, 480,000 combinations, factor values as in the official ``3dshapes.h5``. Rendering
    is deterministic (no nuisance randomness); ``rng`` is ignored.
    """

    name = "shapes3d"
    factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    factor_sizes = (10, 10, 10, 8, 4, 15)
    observation_shape = (SIZE, SIZE, 3)
    source = "procedural"

    def factor_values(self, factor: int | str) -> np.ndarray:
        """Official label values: hues 0–0.9, scale 0.75–1.25, shape 0–3, orientation −30–30."""
        k = self.factor_index(factor)
        return [HUES, HUES, HUES, SCALES, np.arange(4.0), ORIENTATIONS][k].copy()

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        f = self.validate_factors(factors)
        weights = scene_bank()[_config_index(f[:, 3], f[:, 4], f[:, 5])]  # (n, 3, P)
        colors = hue_colors().astype(np.uint16)
        # channels first so each product scales a contiguous row; uint16 holds Σ w·c ≤ 255·255
        out = weights[:, 0, None, :] * colors[f[:, 0]][:, :, None]
        out += weights[:, 1, None, :] * colors[f[:, 1]][:, :, None]
        out += weights[:, 2, None, :] * colors[f[:, 2]][:, :, None]
        out += 127  # (x + 127) // 255 rounds x / 255
        out //= 255
        # a channels-last view: making it contiguous would cost more than the whole render
        return out.astype(np.uint8).reshape(len(f), 3, SIZE, SIZE).transpose(0, 2, 3, 1)

    def render_device(
        self,
        factors: torch.Tensor,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The tensor path: the scene bank on ``device``, the numpy path's integer arithmetic."""
        device = torch.device(device) if device is not None else torch.as_tensor(factors).device
        f = factors_on(self, factors, device)
        weights, colors = _torch_bank(device)
        w = weights[_config_index(f[:, 3], f[:, 4], f[:, 5])].to(torch.int32)  # (n, 3, P)
        # the numpy path's integer arithmetic, so every device gives the same pixels
        out = w[:, 0, None, :] * colors[f[:, 0]][:, :, None]
        out += w[:, 1, None, :] * colors[f[:, 1]][:, :, None]
        out += w[:, 2, None, :] * colors[f[:, 2]][:, :, None]
        # (x + 127) // 255 as a multiply-shift (exact for x < 2**16, and fits int32): integer
        # division is slow on the CPU
        out = torch.bitwise_right_shift((out + 127) * 32897, 23).to(torch.uint8)
        return unit_float(out.reshape(len(f), 3, SIZE, SIZE))


def shapes3d() -> Shapes3D:
    """Shapes3D: a room corner with a cube, cylinder, sphere or capsule on the floor."""
    return Shapes3D()
