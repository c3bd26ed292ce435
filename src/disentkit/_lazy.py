"""Lazy imports, so ``disentkit --help`` and light commands skip torch and scipy.

* :func:`lazy_exports` (PEP 562): a package lists ``{defining module: "name name ..."}`` (modules
  relative to the package) and gets a module ``__getattr__`` that imports the defining module on
  first use. ``from disentkit.metrics import mig`` works as before.
* :class:`LazyTable`: a registry whose built-in entries are ``"module:attribute"`` strings, imported
  when a name is first looked up (the datasets, the sweep's job kinds).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from disentkit.errors import unknown_name


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


class LazyTable:
    """Name → object: the built-ins as ``"module:attribute"``, plus objects registered at run time.

    A registered object shadows a built-in of the same name. ``what`` names the entries in errors
    ("dataset", "job kind"); ``key`` normalises a name before every lookup.
    """

    def __init__(self, what: str, builtin: dict[str, str], key: Callable[[str], str] = str):
        self.what, self.builtin, self.key = what, builtin, key
        self.registered: dict[str, object] = {}

    def register(self, name: str) -> Callable:
        """Decorator that files the decorated object under ``name``."""

        def wrap(obj):
            self.registered[self.key(name)] = obj
            return obj

        return wrap

    def __contains__(self, name: str) -> bool:
        key = self.key(name)
        return key in self.registered or key in self.builtin

    def names(self) -> list[str]:
        return sorted(self.builtin.keys() | self.registered.keys())

    def module_of(self, name: str) -> str:
        """The module that defines ``name``'s object, without importing a built-in's."""
        key = self.key(name)
        if key in self.registered:
            return self.registered[key].__module__
        if key in self.builtin:
            return self.builtin[key].partition(":")[0]
        raise unknown_name(self.what, name, self.names())

    def get(self, name: str):
        key = self.key(name)
        if key in self.registered:
            return self.registered[key]
        if key in self.builtin:
            return import_target(self.builtin[key])
        raise unknown_name(self.what, name, self.names())
