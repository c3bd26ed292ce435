"""Name → dataset constructor. Every built-in dataset registers itself here."""

from __future__ import annotations

from collections.abc import Callable

from disentkit.data.base import GroundTruthDataset
from disentkit.errors import unknown_name

_REGISTRY: dict[str, Callable[..., GroundTruthDataset]] = {}


def register(name: str):
    """Decorator: ``@register("dsprites")`` on a class or factory taking keyword options."""

    def wrap(factory):
        _REGISTRY[name] = factory
        return factory

    return wrap


def _load_builtins() -> None:
    import disentkit.data.builtin  # noqa: F401  (registers the datasets)


def list_datasets() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_dataset(name: str, **options) -> GroundTruthDataset:
    """Build a dataset by name; unknown names list the valid ones."""
    _load_builtins()
    key = name.lower().replace("_", "-")
    if key not in _REGISTRY:
        raise unknown_name("dataset", name, _REGISTRY)
    return _REGISTRY[key](**options)
