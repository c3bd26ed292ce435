"""Lazy imports, so ``disentkit --help`` and light commands skip torch and scipy.

* :func:`lazy_exports` (PEP 562): a package lists ``{defining module: "name name ..."}`` (modules
  relative to the package) and gets a module ``__getattr__`` that imports the defining module on
  first use. ``from disentkit.metrics import mig`` works as before.
* :func:`import_target`: the object a registry table names as ``"module:attribute"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, modules: dict[str, str]) -> tuple[Callable[[str], object], list[str]]:
    """``(__getattr__, __all__)`` for ``package`` exporting the names listed per module."""
    exports = {name: f"{package}.{module}" for module, names in modules.items() for name in names.split()}

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)


def import_target(target: str) -> object:
    """The object named by ``"package.module:attribute"``, importing its module."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
