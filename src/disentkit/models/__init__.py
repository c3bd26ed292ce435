"""Models: the conv64 / conv64-bn architectures, the shared VAE core and the objectives."""

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "architectures": "ARCHITECTURES get_architecture",
        "objectives": "METHODS get_objective",
        "vae": "VAE vae_loss",
    },
)
