"""What a data source offers, as runtime-checkable protocols, and the check where data enters.

* :class:`ImageSource`: images alone (an image folder): unsupervised training, label-free scores.
* :class:`GroundTruthSource`: an image source with a complete factor grid that it renders:
  supervised metrics, traversals, OMES.
* :class:`PairSource`: a ground-truth source that draws weak-supervision pairs.
* :class:`DeviceRenderedSource`: a ground-truth source that renders float tensors on a torch device.

:class:`~disentkit.data.base.GroundTruthDataset` is all four. A class of your own is one by having
the members, without subclassing; ``isinstance(obj, GroundTruthSource)`` tells which it is.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Generic, Protocol, runtime_checkable

from disentkit.errors import DisentkitError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from disentkit.data.base import KRule, PairBatch


@runtime_checkable
class ImageSource(Protocol):
    """Unlabelled images of one shape."""

    name: str
    observation_shape: tuple[int, int, int]  # (H, W, C)

    def sample_images(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """uint8 ``(n, H, W, C)`` images; randomness only from ``rng``."""
        ...


@runtime_checkable
class GroundTruthSource(ImageSource, Protocol):
    """Images rendered from a complete grid of factors: ``factor_sizes[k]`` classes of factor k."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """int64 ``(n, K)`` factor vectors drawn from the grid."""
        ...

    def render(self, factors, rng: np.random.Generator | None = None) -> np.ndarray:
        """uint8 ``(n, H, W, C)`` images of the factor vectors ``(n, K)``."""
        ...


@runtime_checkable
class PairSource(GroundTruthSource, Protocol):
    """A ground-truth source that draws pairs differing in ``k`` factors (weakly supervised training)."""

    def sample_pairs(
        self, n: int, k: KRule, rng: np.random.Generator, allow_equal: bool = False, device=None
    ) -> PairBatch: ...


@runtime_checkable
class DeviceRenderedSource(GroundTruthSource, Protocol):
    """A ground-truth source that renders straight on a torch device (training on CUDA uses it)."""

    def render_torch(
        self, factors: torch.Tensor, generator: torch.Generator | None = None, device=None
    ) -> torch.Tensor:
        """float32 ``(n, C, H, W)`` in [0, 1] on ``device``."""
        ...


def protocol_members(protocol: type) -> list[str]:
    """The attributes and methods ``protocol`` asks for, in the order they are declared (bases first)."""
    members: list[str] = []
    for cls in reversed(protocol.__mro__):
        if cls in (object, Generic, Protocol):
            continue
        declared = [*inspect.get_annotations(cls), *(n for n, v in vars(cls).items() if callable(v))]
        members += [n for n in declared if not n.startswith("_") and n not in members]
    return members


def require_source(source, protocol: type, where: str):
    """``source`` if it has every member of ``protocol``; else a DisentkitError naming what it lacks.

    ``where`` says what the source is for ("training data", "transfer target", …).
    """
    missing = [member for member in protocol_members(protocol) if not hasattr(source, member)]
    if missing:
        label = getattr(source, "name", None) or type(source).__name__
        raise DisentkitError(
            f"{where}: {label!r} lacks {', '.join(missing)} (see disentkit.data.{protocol.__name__}); "
            f"add them to {type(source).__name__}, or subclass disentkit.data.GroundTruthDataset"
        )
    return source
