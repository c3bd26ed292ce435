"""Interventional scores that render from factors: BetaVAE score and FactorVAE score.

Settings of disentanglement_lib (``beta_vae.py``, ``factor_vae.py``) and the protocol: batches of 64,
10,000 training and 5,000 evaluation points. Many batches are rendered and encoded at once (one
``encode`` call per chunk) instead of one batch at a time; the sampling is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

from disentkit.errors import DisentkitError
from disentkit.metrics._common import MetricResult, seeds, warn
from disentkit.metrics.omes_metric import encode_factors

BATCH = 64
N_TRAIN_POINTS = 10_000
N_EVAL_POINTS = 5_000
N_VARIANCE = 10_000
PRUNE_STD = 0.05


@dataclass
class InterventionSettings:
    """Sampling settings shared by the BetaVAE and FactorVAE scores."""

    batch_size: int = BATCH
    n_train: int = N_TRAIN_POINTS
    n_eval: int = N_EVAL_POINTS
    n_variance: int = N_VARIANCE  # FactorVAE: points for the global variance
    prune_std: float = PRUNE_STD  # FactorVAE: dims with std below are ignored
    chunk_points: int = 16  # points (batches) rendered and encoded per encode call group


@dataclass
class BetaVAEResult(MetricResult):
    """Accuracy of a LogisticRegression predicting the fixed factor from mean |z₁ − z₂|."""

    train_accuracy: float
    eval_accuracy: float
    factor_names: list[str]
    settings: dict = field(default_factory=dict)


@dataclass
class FactorVAEResult(MetricResult):
    """Majority-vote accuracy of argmin normalised variance → fixed factor."""

    train_accuracy: float
    eval_accuracy: float
    num_active_dims: int
    factor_names: list[str]
    votes_train: np.ndarray  # K × D
    settings: dict = field(default_factory=dict)


def _variable(dataset) -> np.ndarray:
    sizes = np.asarray(dataset.factor_sizes)
    variable = np.flatnonzero(sizes > 1)
    if len(variable) == 0:
        raise DisentkitError(f"{dataset.name}: no factor has more than one value")
    if len(variable) < len(sizes):
        dropped = [dataset.factor_names[i] for i in np.flatnonzero(sizes <= 1)]
        warn(f"factor(s) with a single value are never fixed: {', '.join(dropped)}")
    return variable


def _encode_batches(dataset, encode, factors: np.ndarray, rng, st: InterventionSettings) -> np.ndarray:
    """Encode (points, batch, K) factor arrays → (points, batch, D), chunk by chunk."""
    p, b, k = factors.shape
    out = []
    for start in range(0, p, st.chunk_points):
        chunk = factors[start : start + st.chunk_points].reshape(-1, k)
        z = encode_factors(dataset, encode, chunk, rng, batch_size=len(chunk))
        out.append(z.reshape(-1, b, z.shape[1]))
    return np.concatenate(out)


def _beta_vae_points(dataset, encode, n, rng, st, variable):
    """Features (n, D) and labels (n,) — disentanglement_lib's ``_generate_training_batch``."""
    labels = variable[rng.integers(0, len(variable), size=n)]
    f1 = dataset.sample_factors(n * st.batch_size, rng).reshape(n, st.batch_size, -1)
    f2 = dataset.sample_factors(n * st.batch_size, rng).reshape(n, st.batch_size, -1)
    rows = np.arange(n)
    f2[rows, :, labels] = f1[rows, :, labels]
    z1 = _encode_batches(dataset, encode, f1, rng, st)
    z2 = _encode_batches(dataset, encode, f2, rng, st)
    return np.abs(z1 - z2).mean(axis=1), labels


def beta_vae_score(
    dataset, encode: Callable, *, rng: np.random.Generator, settings: InterventionSettings | None = None
) -> BetaVAEResult:
    """BetaVAE score (Higgins et al.; disentanglement_lib ``compute_beta_vae_sklearn``).

    Each point: a factor is drawn, two batches of ``batch_size`` factor vectors share its value, the
    feature is the mean absolute difference of their codes; a default LogisticRegression predicts
    the factor. ``encode(images uint8 (n,H,W,C)) -> (n, D)``.
    """
    st = settings or InterventionSettings()
    variable = _variable(dataset)
    x_train, y_train = _beta_vae_points(dataset, encode, st.n_train, rng, st, variable)
    x_eval, y_eval = _beta_vae_points(dataset, encode, st.n_eval, rng, st, variable)
    model = LogisticRegression(random_state=seeds(rng, 1)[0]).fit(x_train, y_train)
    return BetaVAEResult(
        train_accuracy=float(np.mean(model.predict(x_train) == y_train)),
        eval_accuracy=float(np.mean(model.predict(x_eval) == y_eval)),
        factor_names=[dataset.factor_names[i] for i in variable],
        settings={
            **vars(st),
            "classifier": "LogisticRegression() defaults",
            "source": "disentanglement_lib beta_vae.py",
        },
    )


def _factor_vae_votes(dataset, encode, n, rng, st, variable, global_var, active) -> np.ndarray:
    """Vote matrix (K × D): factor fixed in a batch → dimension of least normalised variance."""
    labels = variable[rng.integers(0, len(variable), size=n)]
    factors = dataset.sample_factors(n * st.batch_size, rng).reshape(n, st.batch_size, -1)
    rows = np.arange(n)
    factors[rows, :, labels] = factors[rows, 0, labels][:, None]
    z = _encode_batches(dataset, encode, factors, rng, st)
    local = z.var(axis=1, ddof=1)
    argmin = np.argmin(local[:, active] / global_var[active], axis=1)
    votes = np.zeros((dataset.num_factors, len(global_var)), dtype=np.int64)
    np.add.at(votes, (labels, argmin), 1)
    return votes


def factor_vae_score(
    dataset, encode: Callable, *, rng: np.random.Generator, settings: InterventionSettings | None = None
) -> FactorVAEResult:
    """FactorVAE score (Kim & Mnih; disentanglement_lib ``compute_factor_vae``).

    Global variances (ddof 1) from ``n_variance`` observations; dimensions with std < ``prune_std``
    are ignored; each point fixes one factor over a batch and votes for the active dimension with
    the smallest normalised variance; a majority-vote classifier maps dimension → factor.
    """
    st = settings or InterventionSettings()
    variable = _variable(dataset)
    reference = encode_factors(dataset, encode, dataset.sample_factors(st.n_variance, rng), rng)
    global_var = reference.var(axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= st.prune_std)
    names = [dataset.factor_names[i] for i in variable]
    record = {**vars(st), "source": "disentanglement_lib factor_vae.py (prune threshold per protocol)"}
    if len(active) == 0:
        warn("FactorVAE score: every dimension is inactive; score 0")
        empty = np.zeros((dataset.num_factors, 0), dtype=np.int64)
        return FactorVAEResult(0.0, 0.0, 0, names, empty, record)
    train = _factor_vae_votes(dataset, encode, st.n_train, rng, st, variable, global_var, active)
    evaluation = _factor_vae_votes(dataset, encode, st.n_eval, rng, st, variable, global_var, active)
    classifier = np.argmax(train, axis=0)  # per active dimension: the factor it votes for most
    cols = np.arange(train.shape[1])
    return FactorVAEResult(
        train_accuracy=float(train[classifier, cols].sum() / train.sum()),
        eval_accuracy=float(evaluation[classifier, cols].sum() / evaluation.sum()),
        num_active_dims=len(active),
        factor_names=names,
        votes_train=train[variable],
        settings=record,
    )
