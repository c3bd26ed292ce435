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


def model_memory_format(device: torch.device) -> torch.memory_format:
    """Layout for conv weights on ``device``: channels-last on CPU, where oneDNN runs it faster
    (1.14–1.29× per training step in A/B rounds on 2 cores; docs/notes/training-lab-notes.md, "Performance measurements") and
    convolutions then emit channels-last from ordinary NCHW inputs; CUDA keeps cuDNN's default
    (not measured there)."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX); True if torch cannot say."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True
