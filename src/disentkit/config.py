"""Typed configs that round-trip to YAML/JSON, and the environment recorded beside every result."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from disentkit.errors import DisentkitError

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Plain-Python (JSON/YAML-safe) view of dataclasses, numpy values, tuples and paths."""
    import numpy as np

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_dict(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _coerce(tp: Any, value: Any) -> Any:
    """Build a value of annotated type ``tp`` from its plain form (nested dataclasses, tuples, optionals)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        for arg in non_none:
            try:
                return _coerce(arg, value)
            except (TypeError, ValueError, DisentkitError):
                continue
        return value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        return tuple(_coerce(a, v) for a, v in zip(args, value, strict=True)) if args else tuple(value)
    if origin is list:
        return [_coerce(args[0], v) for v in value] if args else list(value)
    if origin is dict:
        return dict(value)
    if tp in (int, float, str, bool):
        if tp is bool and not isinstance(value, bool):
            raise TypeError(f"expected a boolean, got {value!r}")
        return tp(value)
    return value


def from_dict(cls: type[T], data: dict) -> T:
    """Instantiate dataclass ``cls`` from a plain dict; unknown keys are an error that names them."""
    if not isinstance(data, dict):
        raise DisentkitError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise DisentkitError(
            f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value) for name, value in data.items()}
    return cls(**kwargs)


def save_config(obj: Any, path: str | Path) -> Path:
    """Write a dataclass (or dict) as YAML or JSON (by suffix), atomically."""
    path = Path(path)
    data = to_dict(obj)
    text = json.dumps(data, indent=2) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
    atomic_write_text(path, text)
    return path


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a YAML/JSON file written by :func:`save_config` back into ``cls``."""
    path = Path(path)
    if not path.exists():
        raise DisentkitError(f"config file not found: {path}")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DisentkitError(f"cannot read config {path}: {exc}") from None
    return from_dict(cls, data)


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def writable_error(where: str | Path, exc: OSError, what: str = "--out") -> DisentkitError:
    """One line for a failed write (read-only, permission, full disk, a file in the way)."""
    return DisentkitError(f"cannot write {where}: {exc.strerror or exc}; choose another {what}")


def only_entries(*patterns: str):
    """An ownership test for :func:`prepare_output_folder`: every entry matches one of ``patterns``
    (the names the command writes), so a folder it was killed in still counts as its own."""

    def owns(folder: Path) -> bool:
        return all(any(entry.match(p) for p in patterns) for entry in folder.iterdir())

    return owns


def refuse_foreign_folder(folder: str | Path, kind: str, owns, what: str = "--out") -> None:
    """Refuse ``folder`` unless it is missing, empty, or ``owns(folder)`` says it holds this
    command's kind of result (a previous run, maybe killed): anything else is the user's and is
    never written to. ``kind`` names that result with its article ("a training run")."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DisentkitError(f"{what} {folder} is a file, not a folder; choose another {what}")
    try:
        foreign = folder.is_dir() and any(folder.iterdir()) and not owns(folder)
    except OSError as exc:
        raise writable_error(folder, exc, what) from None
    if foreign:
        raise DisentkitError(
            f"{what} {folder} is not empty and does not hold {kind}; nothing was written: "
            f"choose an empty or new {what}"
        )


def _probe(folder: Path, target: Path, what: str) -> None:
    """Create ``folder`` and write an empty file in it; a failure names ``target``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise writable_error(target, exc, what) from None


def prepare_output_folder(folder: str | Path, kind: str, owns, what: str = "--out") -> Path:
    """Create ``folder`` for a command's results and check it takes files, before anything is
    computed or written; a folder that is not this command's kind of result is refused
    (:func:`refuse_foreign_folder`)."""
    folder = Path(folder)
    refuse_foreign_folder(folder, kind, owns, what)
    _probe(folder, folder, what)
    return folder


def prepare_output_file(path: str | Path, what: str = "--out") -> Path:
    """Check that the file ``path`` can be written (its folder created, not a folder itself)
    before anything is computed for it."""
    path = Path(path)
    if path.is_dir():
        raise DisentkitError(f"{what} {path} is a folder; give the path of a file")
    _probe(path.parent, path, what)
    return path


def environment_info() -> dict[str, Any]:
    """Library versions and machine facts saved with every result (MI and GBT numbers move between versions)."""
    import numpy
    import scipy
    import sklearn
    import torch

    import disentkit

    info = {  # str(): torch.__version__ is a str subclass that YAML cannot dump
        "disentkit": str(disentkit.__version__),
        "python": platform.python_version(),
        "numpy": str(numpy.__version__),
        "scipy": str(scipy.__version__),
        "scikit-learn": str(sklearn.__version__),
        "torch": str(torch.__version__),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        # CPU training is reproducible only at the same thread count (float sums change order).
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
