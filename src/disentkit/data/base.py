"""The ground-truth dataset base class: every :mod:`disentkit.data.protocols` protocol, implemented.

A dataset is a full factor grid: ``factor_sizes[k]`` classes per factor, ``len(ds)`` combinations,
an observation of shape ``observation_shape = (H, W, C)`` for every factor vector. Subclasses
implement :meth:`GroundTruthDataset.render` (numpy, uint8) and may override
:meth:`GroundTruthDataset.render_torch` with a path that renders or indexes straight on a device.
Randomness flows only through the generator passed in: same seed, same images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from disentkit.data.tensors import unit_float
from disentkit.errors import DisentkitError

KRule = int | Literal["random"]


@dataclass
class PairBatch:
    """Weak-supervision pairs: ``x1``/``x2`` share every factor except those marked in ``changed``.

    Images are uint8 ``(n, H, W, C)`` numpy arrays, or float ``(n, C, H, W)`` tensors in [0, 1] when
    the pairs were rendered on a torch device.
    """

    x1: np.ndarray | torch.Tensor
    x2: np.ndarray | torch.Tensor
    factors1: np.ndarray  # (n, K) int64
    factors2: np.ndarray  # (n, K) int64
    changed: np.ndarray  # (n, K) bool


class GroundTruthDataset(ABC):
    """A dataset with a complete grid of ground-truth factors."""

    name: str = "dataset"
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    observation_shape: tuple[int, int, int] = (64, 64, 1)
    #: where the data comes from: "procedural", "file", "folder" (shown by `disentkit data list`)
    source: str = "procedural"

    # ------------------------------------------------------------------ factors
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    def factor_values(self, factor: int | str) -> np.ndarray:
        """Physical value of each class of ``factor`` (e.g. scale 0.5 … 1.0); class index by default."""
        k = self.factor_index(factor)
        return np.arange(self.factor_sizes[k], dtype=np.float64)

    def factor_index(self, factor: int | str) -> int:
        if isinstance(factor, str):
            if factor not in self.factor_names:
                raise DisentkitError(
                    f"{self.name}: no factor {factor!r}; factors are {', '.join(self.factor_names)}"
                )
            return self.factor_names.index(factor)
        if not 0 <= factor < self.num_factors:
            raise DisentkitError(f"{self.name}: factor index {factor} out of range 0..{self.num_factors - 1}")
        return int(factor)

    def validate_factors(self, factors) -> np.ndarray:
        """Check shape and range of a factor array; returns it as int64 (n, K)."""
        arr = np.asarray(factors)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.num_factors:
            raise DisentkitError(
                f"{self.name}: factors must have shape (n, {self.num_factors}), got {np.shape(factors)}"
            )
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.mod(arr, 1) == 0):
                raise DisentkitError(f"{self.name}: factor classes must be integers")
            arr = arr.astype(np.int64)
        sizes = np.asarray(self.factor_sizes)
        bad = (arr < 0) | (arr >= sizes)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise DisentkitError(
                f"{self.name}: factor {self.factor_names[col]!r} value {arr[row, col]} out of range "
                f"0..{sizes[col] - 1}"
            )
        return arr.astype(np.int64, copy=False)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor vectors drawn uniformly from the grid, int64 (n, K)."""
        return rng.integers(0, self.factor_sizes, size=(n, self.num_factors), dtype=np.int64)

    def factors_to_index(self, factors) -> np.ndarray:
        """Row-major index of each factor vector (the order of the official files)."""
        arr = self.validate_factors(factors)
        return np.ravel_multi_index(tuple(arr.T), self.factor_sizes).astype(np.int64)

    def index_to_factors(self, index) -> np.ndarray:
        idx = np.asarray(index, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DisentkitError(f"{self.name}: index out of range 0..{len(self) - 1}")
        return np.stack(np.unravel_index(idx, self.factor_sizes), axis=-1).astype(np.int64)

    # ------------------------------------------------------------------ images
    @abstractmethod
    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        """uint8 images ``(n, H, W, C)`` for factor vectors ``(n, K)``.

        ``rng`` drives nuisance randomness (e.g. noise backgrounds); ``None`` means a fixed seed,
        so the same call always returns the same pixels.
        """

    def render_float(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        """float32 images in [0, 1], ``(n, H, W, C)``."""
        return self.render(factors, rng).astype(np.float32) / 255.0

    def render_torch(
        self,
        factors: torch.Tensor,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """float32 ``(n, C, H, W)`` in [0, 1] on ``device`` (default: ``factors.device``).

        The default goes through numpy; datasets override it to render on the device directly.
        """
        device = torch.device(device) if device is not None else factors.device
        seed = None if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = None if seed is None else np.random.default_rng(seed)
        images = self.render(factors.detach().cpu().numpy(), rng)
        return unit_float(torch.from_numpy(images).to(device).permute(0, 3, 1, 2))

    def sample_observations(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(images uint8 (n,H,W,C), factors (n,K))``."""
        factors = self.sample_factors(n, rng)
        return self.render(factors, rng), factors

    def sample_images(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """uint8 ``(n, H, W, C)`` images. The one method unsupervised training needs: unlabelled image
        sources (an image folder) implement it too, with ``observation_shape``."""
        return self.render(self.sample_factors(n, rng), rng)

    # ------------------------------------------------------------------ weak supervision
    @property
    def variable_factors(self) -> np.ndarray:
        """Indices of factors with more than one value (single-valued ones are never changed)."""
        return np.flatnonzero(np.asarray(self.factor_sizes) > 1)

    def sample_factor_pairs(
        self, n: int, k: KRule, rng: np.random.Generator, allow_equal: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Factor vectors of ``n`` weak pairs: ``(factors1, factors2, changed)``.

        ``k`` is the number of factors that change, or ``"random"`` for disentanglement_lib's rule:
        draw k' uniformly from 1 … K−1 (K = number of variable factors), then change 1 or k'
        factors with equal chance. Changed factors get a new value different from the old one
        unless ``allow_equal`` (the release behaviour, where the value may coincide).
        """
        variable = self.variable_factors
        n_var = len(variable)
        if n_var == 0:
            raise DisentkitError(f"{self.name}: no factor has more than one value; cannot make pairs")
        if k == "random":
            k_observed = rng.integers(1, max(n_var, 2), size=n)  # 1 … K−1 (K=1: always 1)
            n_changed = np.where(rng.random(n) < 0.5, 1, k_observed)
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 1 <= k <= n_var:
            n_changed = np.full(n, int(k))
        else:
            raise DisentkitError(f"{self.name}: k must be 1..{n_var} or 'random', got {k!r}")
        factors1 = self.sample_factors(n, rng)
        # A random permutation of the variable factors per pair; the first n_changed are changed.
        order = np.argsort(rng.random((n, n_var)), axis=1)
        chosen_var = np.zeros((n, n_var), dtype=bool)
        np.put_along_axis(chosen_var, order, np.arange(n_var)[None, :] < n_changed[:, None], axis=1)
        changed = np.zeros((n, self.num_factors), dtype=bool)
        changed[:, variable] = chosen_var
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        if allow_equal:
            new = rng.integers(0, sizes, size=factors1.shape, dtype=np.int64)
        else:
            shift = rng.integers(1, np.maximum(sizes, 2), size=factors1.shape, dtype=np.int64)
            new = (factors1 + shift) % sizes
        factors2 = np.where(changed, new, factors1)
        return factors1, factors2, changed

    def sample_pairs(
        self,
        n: int,
        k: KRule,
        rng: np.random.Generator,
        allow_equal: bool = False,
        device: torch.device | str | None = None,
    ) -> PairBatch:
        """``n`` weak-supervision pairs. With ``device`` the images are float tensors rendered there."""
        f1, f2, changed = self.sample_factor_pairs(n, k, rng, allow_equal)
        if device is None:
            both = self.render(np.concatenate([f1, f2]), rng)
            return PairBatch(both[:n], both[n:], f1, f2, changed)
        generator = torch.Generator(device="cpu").manual_seed(int(rng.integers(0, 2**62)))
        # The factors go over on the host: rendering validates them there, and validating a device
        # tensor would copy it back, a host sync that stalled a CUDA training loop at every batch.
        both_t = self.render_torch(torch.from_numpy(np.concatenate([f1, f2])), generator, device=device)
        return PairBatch(both_t[:n], both_t[n:], f1, f2, changed)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "factors": dict(zip(self.factor_names, self.factor_sizes, strict=True)),
            "shape": self.observation_shape,
            "size": len(self),
            "source": self.source,
        }
