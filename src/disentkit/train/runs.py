"""Loading a trained run folder: ``disentkit.load_run(path)`` → :class:`TrainedModel`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from disentkit.config import load_config
from disentkit.device import model_memory_format, pick_device
from disentkit.errors import DisentkitError
from disentkit.models.architectures import check_observation_shape
from disentkit.models.vae import VAE
from disentkit.train.checkpoint import load_checkpoint, restore
from disentkit.train.config import TrainConfig

CHECKPOINTS = ("best", "latest")

if TYPE_CHECKING:
    from disentkit.metrics.evaluation import Evaluation


@dataclass
class TrainedModel:
    """A trained VAE ready for evaluation.

    Attributes
    ----------
    model : VAE
        The network (eval mode).
    config : TrainConfig
        The run's settings.
    device : torch.device
    path : Path
        The run folder.
    step : int
        Training step of the loaded checkpoint.
    batch_size : int
        Images per forward pass in :meth:`encode` / :meth:`decode`.
    """

    model: VAE
    config: TrainConfig
    device: torch.device
    path: Path
    step: int
    batch_size: int = 256

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    def _images_to_tensor(self, images: np.ndarray) -> torch.Tensor:
        arr = np.asarray(images)
        if arr.ndim == 3:  # (n, H, W): single channel without its axis
            arr = arr[..., None]
        if arr.ndim != 4:
            raise DisentkitError(f"encode expects images (n, H, W, C), got shape {arr.shape}")
        check_observation_shape(arr.shape[1:], self.model.channels)
        tensor = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
        if arr.dtype == np.uint8:
            return tensor.float().div_(255.0)
        return tensor.float()

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior ``(mu, logvar)``, float32 ``(n, latent_dim)`` each, of uint8 or [0, 1] float
        images ``(n, H, W, C)``; batched internally."""
        n = len(images)
        mus, logvars = [], []
        for start in range(0, n, self.batch_size):
            x = self._images_to_tensor(images[start : start + self.batch_size]).to(self.device)
            mu, logvar = self.model.encode(x)
            mus.append(mu.float().cpu().numpy())
            logvars.append(logvar.float().cpu().numpy())
        if not mus:
            empty = np.zeros((0, self.latent_dim), np.float32)
            return empty, empty.copy()
        return np.concatenate(mus), np.concatenate(logvars)

    def representation(self, images: np.ndarray) -> np.ndarray:
        """Posterior means (the representation the metrics use)."""
        return self.encode(images)[0]

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """Bernoulli means, float32 images ``(n, 64, 64, C)`` in [0, 1], of latent codes ``(n, D)``."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DisentkitError(f"decode expects codes (n, {self.latent_dim}), got shape {z.shape}")
        outs = []
        for start in range(0, len(z), self.batch_size):
            logits = self.model.decode(torch.from_numpy(z[start : start + self.batch_size]).to(self.device))
            outs.append(torch.sigmoid(logits.float()).permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, 64, 64, self.model.channels), np.float32)


def load_run(path: str | Path, device="auto", checkpoint: str = "best") -> TrainedModel:
    """Load a run folder written by :func:`disentkit.train.train`.

    Parameters
    ----------
    path : path
        The run folder (holds ``config.yaml`` and ``checkpoints/``).
    device : str or torch.device, default="auto"
        "auto": CUDA when available, else CPU (resolved by :func:`disentkit.device.pick_device`).
    checkpoint : {"best", "latest"}
        "best" (lowest mean training loss over a checkpoint interval, as the paper) or "latest".
    """
    from disentkit.train.loop import identity_of

    run = Path(path)
    if checkpoint not in CHECKPOINTS:
        raise DisentkitError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    if not (run / "config.yaml").exists():
        raise DisentkitError(f"{run} is not a run folder (no config.yaml); train one with `disentkit train`")
    config = load_config(TrainConfig, run / "config.yaml")
    file = run / "checkpoints" / f"{checkpoint}.safetensors"
    if not file.exists():
        raise DisentkitError(f"{run} has no {checkpoint} checkpoint yet; train it (or --resume) first")
    ckpt = load_checkpoint(file)
    channels = int(ckpt.meta["identity"]["channels"])
    load_checkpoint_identity = identity_of(config, channels)
    if ckpt.meta["identity"] != load_checkpoint_identity:
        raise DisentkitError(f"{file} does not match {run / 'config.yaml'}; the run folder is inconsistent")
    dev = pick_device(device)
    model = VAE(config.arch, channels, config.latent_dim)
    restore(ckpt, model)
    model.to(dev, memory_format=model_memory_format(dev)).eval()
    return TrainedModel(model, config, dev, run, ckpt.step)


def quick_scores(
    run: str | Path, dataset, checkpoint: str = "best", n: int = 10_000, device: str = "cpu"
) -> Evaluation:
    """MIG on ``n`` sampled points and intervention OMES (its default pairs per factor) of a run, as
    an :class:`~disentkit.metrics.evaluation.Evaluation` whose ``posterior`` also holds each
    latent's posterior-mean standard deviation (``mean_std``) and mean posterior variance
    (``posterior_var``) on the points (a collapsed latent: ≈ 0 and ≈ 1; OMES counts it as inactive
    below 0.05).

    The fixed seeds (points 0, pairs 1) make two runs comparable on the same data: the scoring of
    the quick presets' slow test and of ``scripts/preset_draws.py``.
    """
    from disentkit.metrics.evaluation import Evaluation
    from disentkit.metrics.information import mig
    from disentkit.metrics.omes_metric import omes_intervention

    model = load_run(run, device=device, checkpoint=checkpoint)
    images, factors = dataset.sample_observations(n, np.random.default_rng(0))
    result = omes_intervention(dataset, lambda x: model.encode(x)[0], rng=np.random.default_rng(1))
    mu, logvar = model.encode(images)
    return Evaluation(
        metrics={"omes": result.to_dict(), "mig": mig(mu, factors, dataset.factor_names).to_dict()},
        posterior={"mean_std": mu.std(0, ddof=1).tolist(), "posterior_var": np.exp(logvar).mean(0).tolist()},
        factor_names=list(dataset.factor_names),
        n_samples=n,
        n_dims=int(mu.shape[1]),
        dataset={"name": dataset.name},
        context={"run": str(run), "checkpoint": checkpoint, "step": model.step},
    )
