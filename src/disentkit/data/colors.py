"""Small exact colour conversions (HUSL / HSLuv and HSV → RGB) without extra dependencies.

HUSL is the human-friendly HSL of Boronine (HSLuv): hue and saturation in CIELUV, the chroma scaled
to the largest that stays inside sRGB at that lightness. The constants below are those of the
reference implementation (hsluv-python), which seaborn's ``husl_palette`` uses.
"""

from __future__ import annotations

import numpy as np

# sRGB ← XYZ matrix and CIELUV constants of the reference implementation
_M = np.array(
    [
        [3.240969941904521, -1.537383177570093, -0.498610760293],
        [-0.96924363628087, 1.87596750150772, 0.041555057407175],
        [0.055630079696993, -0.20397695888897, 1.056971514242878],
    ]
)
_REF_U, _REF_V = 0.19783000664283, 0.46831999493879
_KAPPA, _EPSILON = 903.2962962, 0.0088564516


def _max_chroma(lightness: float, hue: float) -> float:
    """Largest CIELUV chroma at (lightness, hue in degrees) that stays inside the sRGB gamut."""
    sub1 = (lightness + 16) ** 3 / 1560896
    sub2 = sub1 if sub1 > _EPSILON else lightness / _KAPPA
    theta = np.deg2rad(hue)
    best = np.inf
    for m1, m2, m3 in _M:
        for t in (0, 1):
            top1 = (284517 * m1 - 94839 * m3) * sub2
            top2 = (838422 * m3 + 769860 * m2 + 731718 * m1) * lightness * sub2 - 769860 * t * lightness
            bottom = (632260 * m3 - 126452 * m2) * sub2 + 126452 * t
            slope, intercept = top1 / bottom, top2 / bottom
            length = intercept / (np.sin(theta) - slope * np.cos(theta))
            if length >= 0:
                best = min(best, length)
    return float(best)


def _srgb_from_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(np.maximum(c, 0), 1 / 2.4) - 0.055)


def husl_to_rgb(hue: float, saturation: float, lightness: float) -> np.ndarray:
    """HUSL (hue in degrees 0–360, saturation and lightness 0–100) → sRGB floats in [0, 1]."""
    if lightness > 99.9999999:
        return np.ones(3)
    if lightness < 1e-8:
        return np.zeros(3)
    chroma = _max_chroma(lightness, hue) / 100 * saturation
    theta = np.deg2rad(hue)
    u, v = chroma * np.cos(theta), chroma * np.sin(theta)
    y = lightness / _KAPPA if lightness <= 8 else ((lightness + 16) / 116) ** 3
    var_u = u / (13 * lightness) + _REF_U
    var_v = v / (13 * lightness) + _REF_V
    x = -(9 * y * var_u) / ((var_u - 4) * var_v - var_u * var_v)
    z = (9 * y - 15 * var_v * y - var_v * x) / (3 * var_v)
    return np.clip(_srgb_from_linear(_M @ np.array([x, y, z])), 0.0, 1.0)


def husl_palette(n: int, s: float = 0.7, l: float = 0.7, h: float = 0.01, white: bool = False) -> np.ndarray:  # noqa: E741
    """uint8 ``(n, 3)`` evenly spaced HUSL hues, as seaborn's ``husl_palette(n, h, s, l)``.

    With ``white`` a white colour comes first (``(n + 1, 3)``): Color-dSprites' 7 colours.
    """
    hues = ((np.linspace(0, 1, n + 1)[:-1] + h) % 1) * 359
    rgb = [husl_to_rgb(hue, s * 99, l * 99) for hue in hues]
    if white:
        rgb.insert(0, np.ones(3))
    return np.rint(np.array(rgb) * 255).astype(np.uint8)


def hsv_to_rgb(hue: np.ndarray, saturation: float = 1.0, value: float = 1.0) -> np.ndarray:
    """Hue in [0, 1) (array) at fixed saturation/value → float RGB ``(..., 3)`` in [0, 1]."""
    h6 = (np.asarray(hue, dtype=np.float64) % 1.0) * 6.0
    k = (np.array([5.0, 3.0, 1.0]) + h6[..., None]) % 6.0
    return value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
