"""Encoders trained elsewhere: ``--encoder pkg.module:factory`` and ``--torchscript model.pt``.

Both become ``encode(images uint8 (n, H, W, C)) -> z (n, D) float64`` wrapped in :func:`checked`,
so a wrong shape, a wrong dtype, NaN, or an image size the model cannot take is one clear
:class:`~disentkit.errors.DisentkitError` instead of a traceback deep inside a metric.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from disentkit.errors import DisentkitError


def _first_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception (TorchScript errors carry a whole traceback)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def checked(encode: Callable, label: str) -> Callable[[np.ndarray], np.ndarray]:
    """``encode`` with its output checked on every call: (n, D) real numbers, finite, one row per image."""

    def run(images: np.ndarray) -> np.ndarray:
        try:
            out = encode(images)
        except DisentkitError:
            raise
        except Exception as exc:  # the user's model: any failure is reported with the input it got
            raise DisentkitError(
                f"{label} failed on images of shape {tuple(images.shape)} {images.dtype} "
                f"(n, H, W, C): {_first_line(exc)}; does it take this image size?"
            ) from None
        if isinstance(out, (tuple, list)) and out and not np.isscalar(out[0]):
            out = out[0]  # (mean, log-variance) and the like: the mean is the representation
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        arr = np.asarray(out)
        if arr.dtype.kind not in "fiu":
            raise DisentkitError(f"{label} returned dtype {arr.dtype}; expected real numbers (float)")
        if arr.ndim != 2 or arr.shape[0] != len(images) or arr.shape[1] == 0:
            raise DisentkitError(
                f"{label} returned shape {arr.shape} for {len(images)} images; expected ({len(images)}, D)"
            )
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
            raise DisentkitError(
                f"{label} returned NaN or inf for {len(rows)} of {len(images)} images (first: row {rows[0]})"
            )
        return arr

    return run


def load_factory(spec: str) -> Callable[[np.ndarray], np.ndarray]:
    """``pkg.module:factory`` → the checked ``encode`` that ``factory()`` returns."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise DisentkitError(f"--encoder {spec!r}: expected 'pkg.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or an error while the user's module runs
        raise DisentkitError(f"--encoder: cannot import {module_name!r}: {_first_line(exc)}") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise DisentkitError(f"--encoder: module {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise DisentkitError(f"--encoder: {spec} is a {type(factory).__name__}, not callable")
    try:
        encode = factory()
    except Exception as exc:
        raise DisentkitError(f"--encoder: {spec}() failed: {_first_line(exc)}") from None
    if not callable(encode):
        raise DisentkitError(
            f"--encoder: {spec}() returned a {type(encode).__name__}; it must return encode(images) -> z"
        )
    return checked(encode, f"encoder {spec}")


def load_torchscript(path: str | Path, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """A TorchScript module taking float32 images in [0, 1], (n, C, H, W); its (first) output is z."""
    import torch

    path = Path(path)
    if not path.exists():
        raise DisentkitError(f"--torchscript: file not found: {path}")
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise DisentkitError(
            f"--torchscript: cannot load {path} as TorchScript: {_first_line(exc)}"
        ) from None
    module.eval()

    def encode(images: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            return module(x)

    return checked(encode, f"TorchScript model {path.name}")
