"""Input checks, the train/test split and the result base class shared by every metric.

Every metric validates its arrays here, so a NaN, a length mismatch or a degenerate factor gives the
same clear :class:`~disentkit.errors.DisentkitError` (or a :class:`MetricWarning`) everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed

from disentkit.config import to_dict
from disentkit.errors import DisentkitError

#: Evaluation sample of the protocol: 10,000 train / 5,000 test points, in sample order.
N_TRAIN = 10_000
N_TEST = 5_000
#: Below this many training points a classifier-based score is meaningless.
MIN_TRAIN = 20
MIN_TEST = 10


class MetricWarning(UserWarning):
    """A metric dropped or could not score something (a factor, a dimension); the message names it."""


def warn(message: str) -> None:
    warnings.warn(message, MetricWarning, stacklevel=3)


def json_safe(value):
    """``to_dict`` view with non-finite floats as ``None``: strict JSON has no NaN."""
    value = to_dict(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class MetricResult:
    """Base of every metric's result: ``to_dict()`` is plain, JSON-safe Python."""

    def to_dict(self) -> dict:
        return json_safe({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def check_representation(z, name: str = "z") -> np.ndarray:
    """``z`` as float64 (N, D); NaN/inf, wrong rank or an empty array are errors."""
    try:
        arr = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise DisentkitError(f"{name}: the representation must be numeric, got {type(z).__name__}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DisentkitError(f"{name}: expected a non-empty (N, D) array, got shape {np.shape(z)}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DisentkitError(
            f"{name}: {bad.sum()} non-finite value(s) (NaN or inf) in {len(rows)} row(s), first at row "
            f"{rows[0]}; remove or fix those samples before evaluating"
        )
    return arr


def check_factors(y, n: int | None = None, factor_names=None) -> tuple[np.ndarray, list[str]]:
    """``y`` as int64 (N, K) class indices with names; lengths must match ``n``.

    Non-integer labels are an error: metrics need class indices (map values to classes first).
    """
    arr = np.asarray(y)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DisentkitError(f"factors: expected a non-empty (N, K) array, got shape {np.shape(y)}")
    if not np.issubdtype(arr.dtype, np.integer):
        try:
            as_float = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise DisentkitError("factors: labels must be integer class indices") from None
        if not np.all(np.isfinite(as_float)) or not np.all(np.mod(as_float, 1) == 0):
            raise DisentkitError(
                "factors: labels must be integer class indices (found non-integer or non-finite values)"
            )
        arr = as_float
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise DisentkitError(
            f"length mismatch: the representation has {n} rows but the factors have {arr.shape[0]}"
        )
    k = arr.shape[1]
    if factor_names is None:
        names = [f"factor_{i}" for i in range(k)]
    else:
        names = [str(s) for s in factor_names]
        if len(names) != k:
            raise DisentkitError(f"factor_names has {len(names)} names but the factors have {k} columns")
    return arr, names


def drop_constant_factors(y: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop factors with a single value (warning names them); returns (y, kept names, dropped names)."""
    n_values = np.array([len(np.unique(col)) for col in y.T])
    keep = n_values > 1
    dropped = [nm for nm, k in zip(names, keep, strict=True) if not k]
    if dropped:
        warn(f"factor(s) with a single value dropped: {', '.join(dropped)}")
    if not keep.any():
        raise DisentkitError("every factor has a single value; nothing to evaluate against")
    return y[:, keep], [nm for nm, k in zip(names, keep, strict=True) if k], dropped


def prepare(z, y, factor_names=None) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Validate ``z`` and ``y`` together: ``(z, y, names, dropped)`` with single-valued factors dropped."""
    z = check_representation(z)
    y, names = check_factors(y, z.shape[0], factor_names)
    y, names, dropped = drop_constant_factors(y, names)
    return z, y, names, dropped


def split_sizes(n: int, n_train: int = N_TRAIN, n_test: int = N_TEST) -> tuple[int, int]:
    """Train/test sizes for ``n`` samples, in sample order.

    With ``n ≥ n_train + n_test`` the first ``n_train`` rows train and the next ``n_test`` test (extra
    rows are unused, as in disentanglement_lib, which draws exactly these numbers). A smaller sample is
    split in the same proportion; too few rows is an error.
    """
    if n >= n_train + n_test:
        return n_train, n_test
    train = int(round(n * n_train / (n_train + n_test)))
    test = n - train
    if train < MIN_TRAIN or test < MIN_TEST:
        raise DisentkitError(
            f"{n} samples are too few for a train/test split (need at least {MIN_TRAIN} train + "
            f"{MIN_TEST} test; the protocol uses {n_train} + {n_test})"
        )
    return train, test


def split(z: np.ndarray, y: np.ndarray, n_train: int = N_TRAIN, n_test: int = N_TEST):
    """``(z_train, y_train, z_test, y_test)`` in sample order (see :func:`split_sizes`)."""
    train, test = split_sizes(len(z), n_train, n_test)
    return z[:train], y[:train], z[train : train + test], y[train : train + test]


def seeds(rng: np.random.Generator | None, n: int) -> list[int]:
    """``n`` integer seeds for scikit-learn estimators, drawn from ``rng``."""
    if rng is None:
        raise DisentkitError("pass rng=np.random.default_rng(seed): metrics draw randomness only from it")
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]


def run_parallel(tasks: list, n_jobs: int, threads: bool = False) -> list:
    """Run ``(function, args)`` tasks in parallel when ``n_jobs != 1``; results in task order.

    ``threads`` for fits whose solver releases the GIL (liblinear, lbfgs): no process start-up or
    copying; processes (loky) for gradient boosting, whose per-stage loop is Python.
    """
    if n_jobs == 1 or len(tasks) <= 1:
        return [fn(*args) for fn, args in tasks]
    return Parallel(n_jobs=n_jobs, prefer="threads" if threads else "processes")(
        delayed(fn)(*args) for fn, args in tasks
    )
