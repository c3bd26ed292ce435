"""N models of one architecture run as one network: grouped convolutions over the models' channels
and batched matrix products, for the model batch (``disentkit.train.batch``).

Each function takes the models' parameters and buffers stacked along a leading model axis (the
names of :class:`~disentkit.models.vae.VAE`'s state dict) and images or latents with a leading model
axis, and computes exactly what each model's own ``encode`` / ``decode`` computes, up to float
rounding. BatchNorm runs in training mode and updates each model's running statistics in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from disentkit.errors import DisentkitError

#: the architectures written out here (others are batched by vmap)
GROUPED_ARCHS = ("conv64", "conv64-bn")


def _check(arch: str) -> None:
    if arch not in GROUPED_ARCHS:
        raise DisentkitError(f"no grouped network for {arch!r}; written out: {', '.join(GROUPED_ARCHS)}")


def _to_groups(x: torch.Tensor) -> torch.Tensor:
    """(N, B, C, H, W) → (B, N·C, H, W): model i's channels are group i."""
    n, b = x.shape[:2]
    return x.transpose(0, 1).reshape(b, n * x.shape[2], *x.shape[3:])


def _dense(p: dict, name: str, h: torch.Tensor) -> torch.Tensor:
    """Model i's linear layer on h[i]: (N, B, F) → (N, B, G)."""
    return torch.baddbmm(p[f"{name}.bias"].unsqueeze(1), h, p[f"{name}.weight"].transpose(1, 2))


def _conv(p: dict, name: str, h: torch.Tensor, stride: int, padding: int, n: int) -> torch.Tensor:
    weight = p[f"{name}.weight"]
    return F.conv2d(h, weight.flatten(0, 1), p[f"{name}.bias"].flatten(), stride, padding, groups=n)


def _deconv(p: dict, name: str, h: torch.Tensor, n: int) -> torch.Tensor:
    weight = p[f"{name}.weight"]  # (N, Cin, Cout, 4, 4)
    return F.conv_transpose2d(h, weight.flatten(0, 1), p[f"{name}.bias"].flatten(), 2, 1, groups=n)


def _batch_norm(p: dict, b: dict, name: str, h: torch.Tensor) -> torch.Tensor:
    b[f"{name}.num_batches_tracked"].add_(1)  # as nn.BatchNorm2d counts in training mode
    return F.batch_norm(
        h,
        b[f"{name}.running_mean"].view(-1),  # views: the update lands in each model's statistics
        b[f"{name}.running_var"].view(-1),
        p[f"{name}.weight"].flatten(),
        p[f"{name}.bias"].flatten(),
        training=True,
        momentum=0.1,
        eps=1e-5,
    )


def _flat_per_model(h: torch.Tensor, n: int) -> torch.Tensor:
    """(B, N·C, H, W) → (N, B, C·H·W), each model's features flattened as nn.Flatten does."""
    return h.reshape(h.shape[0], n, -1).transpose(0, 1)


def grouped_encode(arch: str, p: dict, b: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar), each (N, B, latent), of N models on x (N, B, C, 64, 64) (images fitted already)."""
    _check(arch)
    n = x.shape[0]
    h = _to_groups(x)
    if arch == "conv64":
        for index, (stride, padding) in zip((0, 2, 4, 6), ((2, 1), (2, 1), (2, 0), (2, 0)), strict=True):
            h = F.relu(_conv(p, f"encoder.features.{index}", h, stride, padding, n))
        h = F.relu(_dense(p, "encoder.features.9", _flat_per_model(h, n)))
    else:  # conv64-bn: 3 × (conv → BatchNorm → LeakyReLU 0.02), then LayerNorm over each model's features
        for index in (0, 3, 6):
            h = _conv(p, f"encoder.features.{index}", h, 2, 1, n)
            h = F.leaky_relu(_batch_norm(p, b, f"encoder.features.{index + 1}", h), 0.02)
        h = _flat_per_model(h, n)
        h = F.layer_norm(h, h.shape[-1:]) * p["encoder.features.10.weight"].unsqueeze(1)
        h = h + p["encoder.features.10.bias"].unsqueeze(1)
    return _dense(p, "encoder.mu", h), _dense(p, "encoder.logvar", h)


def grouped_decode(arch: str, p: dict, z: torch.Tensor, channels: int) -> torch.Tensor:
    """Logits (N, B, channels, 64, 64) of N models' decoders on z (N, B, latent)."""
    _check(arch)
    n, batch = z.shape[:2]
    if arch == "conv64":
        h = F.relu(_dense(p, "decoder.net.2", F.relu(_dense(p, "decoder.net.0", z))))
        h = h.transpose(0, 1).reshape(batch, n * 64, 4, 4)
        for index in (5, 7, 9, 11):
            h = _deconv(p, f"decoder.net.{index}", h, n)
            h = F.relu(h) if index != 11 else h
    else:  # conv64-bn: linear → 128×8×8 → 3 deconvs, each with LeakyReLU 0.02; logits of (tanh+1)/2
        h = _dense(p, "decoder.net.0", z).transpose(0, 1).reshape(batch, n * 128, 8, 8)
        for index in (2, 4, 6):
            h = F.leaky_relu(_deconv(p, f"decoder.net.{index}", h, n), 0.02)
        h = 2.0 * h
    return h.reshape(batch, n, channels, *h.shape[2:]).transpose(0, 1)
