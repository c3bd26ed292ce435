"""disentkit: learn, transfer and measure disentangled representations."""

from disentkit.errors import DisentkitError

__version__ = "0.1.0"
__all__ = ["DisentkitError", "__version__", "load_run"]


def load_run(path, device="auto"):
    """Load a trained run folder; returns a model with ``encode(images) -> (mu, logvar)``.

    ``device``: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N"
    (:func:`disentkit.device.pick_device`).
    """
    from disentkit.train.runs import load_run as _load_run

    return _load_run(path, device=device)
