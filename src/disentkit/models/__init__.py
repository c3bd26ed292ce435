"""Models: the conv64 / conv64-bn architectures, the shared VAE core and the objectives."""

from disentkit.models.architectures import ARCHITECTURES, get_architecture
from disentkit.models.objectives import METHODS, get_objective
from disentkit.models.vae import VAE, vae_loss

__all__ = ["ARCHITECTURES", "METHODS", "VAE", "get_architecture", "get_objective", "vae_loss"]
