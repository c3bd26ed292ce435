"""Device choice: CUDA automatically when present, else CPU; an explicit name always wins."""

from __future__ import annotations

import torch

from disentkit.errors import DisentkitError


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" → cuda if available else cpu; "cpu", "cuda", "cuda:1" → that device."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DisentkitError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DisentkitError("device 'cuda' requested but no CUDA GPU is available; use --device cpu")
    return device


def prefers_channels_last(device: torch.device) -> bool:
    """Whether conv models run faster channels-last here: yes on CPU (oneDNN, measured), no on CUDA
    (not measured there; cuDNN's default layout is kept)."""
    return device.type == "cpu"
