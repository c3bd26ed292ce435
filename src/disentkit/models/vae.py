"""The one VAE core every method shares: encode, (aggregate pairs), sample, decode, loss.

A method is an :class:`~disentkit.models.objectives.Objective`: it can rewrite the posteriors of a
weak pair (``aggregate``) and choose the regulariser (``regularizer``). Everything else — the
reparameterisation, the reconstruction term, the per-dimension KL, the bookkeeping — lives here,
once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.errors import DisentkitError, unknown_name
from disentkit.models.architectures import fit_images, get_architecture

RECONSTRUCTIONS = ("bernoulli", "gaussian")
#: nats: a latent whose mean KL to the prior is below this carries next to nothing ("inactive")
ACTIVE_KL = 0.01


class VAE(nn.Module):
    """Encoder + decoder of a named architecture.

    Parameters
    ----------
    arch : str
        Architecture name (``conv64`` or ``conv64-bn``).
    channels : int
        Input channels (1 or 3).
    latent_dim : int
        Size of the latent code.
    """

    def __init__(self, arch: str = "conv64", channels: int = 1, latent_dim: int = 10) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise DisentkitError(f"models take 1 or 3 channels, got {channels}")
        if latent_dim < 1:
            raise DisentkitError(f"latent_dim must be at least 1, got {latent_dim}")
        spec = get_architecture(arch)
        self.arch, self.channels, self.latent_dim = spec.name, channels, latent_dim
        self.encoder = spec.encoder(channels, latent_dim)
        self.decoder = spec.decoder(channels, latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of float images ``(n, C, H, W)`` in [0, 1] (resized/expanded to fit)."""
        return self.encoder(fit_images(x, self.channels))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Per-pixel Bernoulli logits ``(n, C, 64, 64)``."""
        return self.decoder(z)


@dataclass
class LossOutput:
    """The scalar loss plus detached per-term tensors for logging (kept on the device)."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    kl_per_dim: torch.Tensor  # (latent_dim,) batch mean
    # The objective's companion loss (FactorVAE's discriminator): trained, not part of ``loss``.
    companion: torch.Tensor | None = None

    def trained(self) -> torch.Tensor:
        """What one backward pass differentiates: the VAE's loss plus the companion's, whose
        gradients reach disjoint parameters."""
        return self.loss if self.companion is None else self.loss + self.companion


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-dimension KL(N(mu, e^logvar) ‖ N(0, 1)), same shape as ``mu``."""
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0)


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example reconstruction loss summed over pixels: Bernoulli (BCE with logits) or Gaussian (L2)."""
    if kind == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif kind == "gaussian":
        # disentanglement_lib's "l2" loss: squared error of the sigmoid means.
        per_pixel = (torch.sigmoid(logits) - target).square()
    else:
        raise unknown_name("reconstruction", kind, RECONSTRUCTIONS)
    return per_pixel.flatten(1).sum(1)


def sample_latent(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reparameterised draw; the noise is ``noise`` if given (CUDA graphs), else drawn from ``generator``."""
    eps = (
        noise
        if noise is not None
        else torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    )
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss(
    model: VAE,
    objective,
    batch: dict[str, torch.Tensor],
    beta: float | torch.Tensor,
    recon: str = "bernoulli",
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> LossOutput:
    """Loss of one batch. ``batch`` holds ``x`` (unsupervised) or ``x1``, ``x2``, ``changed`` (pairs).

    For pairs the two halves are stacked, so the mean over the 2n rows is exactly
    ½(rec₁ + rec₂) + β·½(KL₁ + KL₂) averaged over pairs. The stages around the network
    (:func:`loss_images`, :func:`latents`, :func:`loss_terms`) are the model batch's too.
    """
    x = loss_images(objective, batch)
    mu, logvar = (t.float() for t in model.encode(x))
    mu, logvar, z, extra = latents(objective, batch, mu, logvar, generator, noise)
    logits = model.decode(z).float()
    return loss_terms(
        objective, fit_images(x, model.channels), logits, mu, logvar, z, extra, beta, recon, generator
    )


def loss_images(objective, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The images the encoder sees: a pair method's two halves stacked, else ``x``."""
    return torch.cat([batch["x1"], batch["x2"]]) if objective.pairs else batch["x"]


def latents(objective, batch, mu, logvar, generator=None, noise=None):
    """``(mu, logvar, z, extra)``: the posterior after the objective's pair aggregation, its
    reparameterised draw, and the objective's extra loss terms."""
    extra = {}
    if objective.pairs:
        n = batch["x1"].shape[0]
        mu1, lv1, mu2, lv2, extra = objective.aggregate(
            mu[:n], logvar[:n], mu[n:], logvar[n:], batch.get("changed")
        )
        mu, logvar = torch.cat([mu1, mu2]), torch.cat([lv1, lv2])
    return mu, logvar, sample_latent(mu, logvar, generator, noise), extra


def loss_terms(objective, target, logits, mu, logvar, z, extra, beta, recon="bernoulli", generator=None):
    """The loss and its terms from the decoder's ``logits`` of ``target`` and the latents."""
    rec = reconstruction_loss(logits, target, recon).mean()
    kl_dims = kl_to_prior(mu, logvar)
    reg, reg_terms = objective.regularizer(z, mu, logvar, kl_dims, beta)
    loss = rec + reg + extra.get("agreement", 0.0)
    terms = {"loss": loss, "reconstruction": rec, "kl": kl_dims.sum(1).mean(), **reg_terms, **extra}
    # Drawn after the latent noise, from the same generator: the step's seed fixes both.
    companion = objective.companion_loss(z, generator)
    if companion is not None:
        terms["discriminator"] = companion
    detached = {k: v.detach() for k, v in terms.items()}
    return LossOutput(loss, detached, kl_dims.detach().mean(0), companion)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mu, e^logvar)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).square() * torch.exp(-logvar))
