"""Lazy package exports (PEP 562), so ``disentkit --help`` and light commands skip torch and scipy.

A package lists ``{public name: defining module}`` and gets a module ``__getattr__`` that imports
the defining module on first use. ``from disentkit.metrics import mig`` works as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], list[str]]:
    """``(__getattr__, __all__)`` for ``package`` exporting ``exports`` (module paths relative or full)."""

    def __getattr__(name: str):
        if name in exports:
            module = exports[name]
            full = module if module.startswith("disentkit") else f"{package}.{module}"
            return getattr(importlib.import_module(full), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)


def exports_of(modules: dict[str, str]) -> dict[str, str]:
    """Invert ``{module: "name name ..."}`` into ``{name: module}``."""
    return {name: module for module, names in modules.items() for name in names.split()}
