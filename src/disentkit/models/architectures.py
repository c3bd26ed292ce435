"""Encoder/decoder pairs by name: ``conv64`` (disentanglement_lib) and ``conv64-bn`` (the transfer paper).

Both work on 64×64 images with 1 or 3 channels. The encoder returns ``(mu, logvar)``; the decoder
returns *logits* of per-pixel Bernoulli means, so the reconstruction loss can use the stable
``binary_cross_entropy_with_logits``. The transfer paper's decoder ends in ``(tanh(h) + 1) / 2``,
which equals ``sigmoid(2h)``: its logits are ``2h`` exactly.

Inputs of another size are handled by :func:`fit_images`: an integer multiple of 64 (the 128-px
datasets) is area-averaged down to 64 (the transfer paper's resize); anything else is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.errors import DisentkitError, unknown_name

IMAGE_SIZE = 64


@dataclass(frozen=True)
class Architecture:
    """A named encoder/decoder factory taking ``(channels, latent_dim)``."""

    name: str
    encoder: Callable[[int, int], nn.Module]
    decoder: Callable[[int, int], nn.Module]
    description: str
    # Whether each image's output depends on that image alone (no BatchNorm): a batch can then be
    # split into shards whose gradients sum to the whole batch's.
    per_example: bool = True


class Conv64Encoder(nn.Module):
    """disentanglement_lib's conv encoder: 32,32 (4×4) → 64,64 (2×2), stride 2, "same" padding."""

    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        # TF "same" padding at stride 2: 4×4 kernels pad 1 on each side, 2×2 kernels pad nothing.
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 2, 2, 0),
            nn.ReLU(),
            nn.Conv2d(64, 64, 2, 2, 0),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 4 * 64, 256),
            nn.ReLU(),
        )
        self.mu = nn.Linear(256, latent_dim)
        self.logvar = nn.Linear(256, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h)


class Conv64Decoder(nn.Module):
    """disentanglement_lib's deconv decoder: dense 256 → 1024 → 4×4×64 → deconvs 64, 32, 32, C."""

    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 1024),
            nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _bn_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.02)]


class Conv64BNEncoder(nn.Module):
    """The transfer paper's encoder: 3 × (conv 4×4 s2 p1 → BatchNorm → LeakyReLU 0.02), LayerNorm."""

    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_bn_block(channels, 32),
            *_bn_block(32, 64),
            *_bn_block(64, 128),
            nn.Flatten(),
            nn.LayerNorm(128 * 8 * 8),
        )
        self.mu = nn.Linear(128 * 8 * 8, latent_dim)
        self.logvar = nn.Linear(128 * 8 * 8, latent_dim)
        _xavier(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h)


class Conv64BNDecoder(nn.Module):
    """The transfer paper's decoder: linear → 128×8×8 → deconvs 64, 32, C, each with LeakyReLU 0.02."""

    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 128 * 8 * 8),
            nn.Unflatten(1, (128, 8, 8)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            nn.LeakyReLU(0.02),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.LeakyReLU(0.02),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
            nn.LeakyReLU(0.02),
        )
        _xavier(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # The paper outputs (tanh(h) + 1) / 2 = sigmoid(2h): return the matching logits.
        return 2.0 * self.net(z)


def _xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


ARCHITECTURES: dict[str, Architecture] = {
    "conv64": Architecture(
        "conv64", Conv64Encoder, Conv64Decoder, "disentanglement_lib standard conv encoder/decoder"
    ),
    "conv64-bn": Architecture(
        "conv64-bn",
        Conv64BNEncoder,
        Conv64BNDecoder,
        "transfer paper: BatchNorm + LeakyReLU blocks, LayerNorm, Xavier init, (tanh+1)/2 output",
        per_example=False,
    ),
}


def get_architecture(name: str) -> Architecture:
    """Architecture by name; unknown names list the valid ones."""
    key = name.lower().replace("_", "-")
    if key not in ARCHITECTURES:
        raise unknown_name("architecture", name, ARCHITECTURES)
    return ARCHITECTURES[key]


def check_observation_shape(shape: tuple[int, ...], channels: int) -> None:
    """Raise a clear error when images of ``shape`` (H, W, C) cannot feed a ``channels``-channel model.

    Accepted: square images whose side is a multiple of 64 (resized to 64) and either the model's
    channel count or a single channel fed to a 3-channel model (replicated to grey RGB).
    """
    if len(shape) != 3:
        raise DisentkitError(f"images must have shape (H, W, C), got {tuple(shape)}")
    height, width, c = shape
    if height != width or height % IMAGE_SIZE:
        raise DisentkitError(
            f"images of size {height}×{width} do not fit the 64×64 architectures; "
            "use square images of 64 or a multiple of 64 (e.g. 128, resized to 64)"
        )
    if c != channels and not (c == 1 and channels == 3):
        raise DisentkitError(
            f"the data has {c} channel(s) but the model takes {channels}; train a model with "
            f"channels={c} (or 3: single-channel data is replicated to RGB)"
        )


def fit_images(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Bring float ``(n, C, H, W)`` images to the model's input: resize to 64, grey → RGB if needed."""
    if x.shape[-1] != IMAGE_SIZE:
        # Area averaging of an integer factor: the 128-px datasets become 64-px as in the paper.
        x = F.avg_pool2d(x, x.shape[-1] // IMAGE_SIZE)
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    return x
