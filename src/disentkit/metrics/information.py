"""Information-based metrics: MIG, modularity & explicitness, the unsupervised scores.

All follow disentanglement_lib (``evaluation/metrics/{utils,mig,modularity_explicitness,
unsupervised_metrics}.py``) and reproduce its numbers on the same arrays, but without Python loops
over samples: every dimension is discretised at once and every contingency table comes from one
``np.bincount``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from disentkit.errors import DisentkitError
from disentkit.metrics._common import (
    N_TEST,
    N_TRAIN,
    MetricResult,
    check_representation,
    prepare,
    run_parallel,
    seeds,
    split,
    warn,
)

N_BINS = 20


# ---------------------------------------------------------------------------- building blocks
def histogram_discretize(z: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-width bin index (0 … n_bins−1) of every entry, per column.

    Same as disentanglement_lib's ``_histogram_discretize``: ``np.digitize(x, np.histogram(x,
    n_bins)[1][:-1])`` (there 1-based), including numpy's widening of a constant column's range by ±0.5.
    """
    lo, hi = z.min(axis=0), z.max(axis=0)
    flat = lo == hi
    lo, hi = np.where(flat, lo - 0.5, lo), np.where(flat, hi + 0.5, hi)
    edges = np.linspace(lo, hi, n_bins + 1, axis=1)  # (D, n_bins+1), numpy.histogram's arithmetic
    return (z[:, :, None] >= edges[None, :, :-1]).sum(axis=2).astype(np.int64) - 1


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    codes = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    return codes, int(codes.max()) + 1


def _mi_from_counts(counts: np.ndarray) -> np.ndarray:
    """Mutual information (nats) of contingency tables ``counts[..., a, b]``, like sklearn's."""
    n = counts.sum(axis=(-2, -1), keepdims=True)
    pa = counts.sum(axis=-1, keepdims=True)
    pb = counts.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = counts / n * (np.log(counts) + np.log(n) - np.log(pa) - np.log(pb))
    mi = np.where(counts > 0, terms, 0.0).sum(axis=(-2, -1))
    return np.clip(mi, 0.0, None)


def discrete_mutual_info(codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MI (nats) between every column of ``codes`` (N × D) and of ``y`` (N × K): D × K.

    Equals ``sklearn.metrics.mutual_info_score(y[:, k], codes[:, j])`` for every pair.
    """
    codes, n_codes = _compact(codes)
    d = codes.shape[1]
    # sklearn returns exactly 0 for a single-valued side; the log arithmetic leaves ~1e-17 there,
    # which ratios of MI (modularity) would read as information
    constant = codes.min(axis=0) == codes.max(axis=0)
    out = np.empty((d, y.shape[1]))
    for k in range(y.shape[1]):  # loop over factors only; all dimensions in one bincount
        labels, n_labels = _compact(y[:, k])
        index = (np.arange(d) * n_codes + codes) * n_labels + labels[:, None]
        counts = np.bincount(index.ravel(), minlength=d * n_codes * n_labels)
        out[:, k] = _mi_from_counts(counts.reshape(d, n_codes, n_labels))
        if n_labels == 1:
            out[:, k] = 0.0
    out[constant] = 0.0
    return out


def discrete_entropy(y: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each column of ``y``."""
    out = np.empty(y.shape[1])
    for k, col in enumerate(y.T):
        p = np.bincount(_compact(col)[0]) / len(col)
        out[k] = -np.sum(p * np.log(p))
    return out


# ---------------------------------------------------------------------------- MIG
@dataclass
class MIGResult(MetricResult):
    """Mutual information gap (normalised by factor entropy), per factor and mean."""

    mig: float
    factor_names: list[str]
    mig_per_factor: list[float]
    mutual_information: np.ndarray  # D × K, nats
    factor_entropy: list[float]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


#: rows per histogram bin below which MIG's mutual information is dominated by the binning
MIG_MIN_ROWS_PER_BIN = 10


def mig(z, y, factor_names=None, *, n_bins: int = N_BINS) -> MIGResult:
    """Mutual information gap on all rows of ``z``/``y`` (disentanglement_lib ``discrete_mig``).

    Each dimension is discretised into ``n_bins`` equal-width bins; MI with each factor is divided
    by the factor's entropy; the score is the mean over factors of top-1 − top-2.
    """
    z, y, names, dropped = prepare(z, y, factor_names)
    if z.shape[1] < 2:
        raise DisentkitError("MIG needs at least 2 dimensions (it is a gap between the top two)")
    if len(z) < MIG_MIN_ROWS_PER_BIN * n_bins:
        # With about one row per bin every dimension "explains" every factor: the gap is 0 by construction.
        warn(
            f"MIG on {len(z)} rows: too few for {n_bins} bins (use at least {MIG_MIN_ROWS_PER_BIN * n_bins}); "
            "the score is not meaningful"
        )
    m = discrete_mutual_info(histogram_discretize(z, n_bins), y)
    entropy = discrete_entropy(y)
    top = np.sort(m, axis=0)[::-1]
    gap = (top[0] - top[1]) / entropy
    return MIGResult(
        mig=float(gap.mean()),
        factor_names=names,
        mig_per_factor=gap.tolist(),
        mutual_information=m,
        factor_entropy=entropy.tolist(),
        dropped_factors=dropped,
        settings={"n_bins": n_bins, "rows": len(z), "source": "disentanglement_lib mig.py"},
    )


# ---------------------------------------------------------------------------- modularity
@dataclass
class ModularityResult(MetricResult):
    """Ridgeway & Zemel modularity (MI on the train split) and explicitness (ROC-AUC)."""

    modularity: float
    explicitness_train: float
    explicitness_test: float
    factor_names: list[str]
    modularity_per_dim: list[float]
    explicitness_train_per_factor: list[float]
    explicitness_test_per_factor: list[float]
    mutual_information: np.ndarray
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def modularity_from_mi(mi: np.ndarray) -> np.ndarray:
    """Per-dimension modularity: 1 − (Σ MI² − max MI²) / (max MI² · (K − 1)); 0 where max MI is 0."""
    sq = mi**2
    top = sq.max(axis=1)
    k = mi.shape[1]
    if k < 2:
        return np.where(top > 0, 1.0, 0.0)
    delta = np.divide(sq.sum(axis=1) - top, top * (k - 1), out=np.zeros_like(top), where=top > 0)
    return np.where(top > 0, 1.0 - delta, 0.0)


def _auc(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro ROC-AUC over one-vs-rest columns (disentanglement_lib binarises the labels).

    Columns whose class is absent (or the only one) in ``y_true`` have no AUC and are skipped; the
    reference would crash there.
    """
    onehot = (y_true[:, None] == classes[None, :]).astype(int)
    ok = (onehot.sum(axis=0) > 0) & (onehot.sum(axis=0) < len(y_true))
    if not ok.any():
        return float("nan")
    return float(roc_auc_score(onehot[:, ok], proba[:, ok], average="macro"))


def explicitness_per_factor(z_train, y_train, z_test, y_test, seed: int) -> tuple[float, float]:
    """ROC-AUC (train, test) of a default LogisticRegression on standardised codes."""
    clf = LogisticRegression(random_state=seed).fit(z_train, y_train)
    return (
        _auc(y_train, clf.predict_proba(z_train), clf.classes_),
        _auc(y_test, clf.predict_proba(z_test), clf.classes_),
    )


def modularity_explicitness(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    n_bins: int = N_BINS,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
    n_jobs: int = 1,
) -> ModularityResult:
    """Modularity and explicitness (disentanglement_lib ``modularity_explicitness.py``).

    Modularity: MI of the discretised train codes; explicitness: per factor a LogisticRegression on
    codes standardised with the train mean/std (ddof 0), scored by macro one-vs-rest ROC-AUC.
    """
    z, y, names, dropped = prepare(z, y, factor_names)
    z_tr, y_tr, z_te, y_te = split(z, y, n_train, n_test)
    mi = discrete_mutual_info(histogram_discretize(z_tr, n_bins), y_tr)
    per_dim = modularity_from_mi(mi)
    mean, std = z_tr.mean(axis=0), z_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant code stays 0 instead of NaN
    ztr, zte = (z_tr - mean) / std, (z_te - mean) / std
    tasks = [
        (explicitness_per_factor, (ztr, y_tr[:, k], zte, y_te[:, k], s))
        for k, s in enumerate(seeds(rng, y.shape[1]))
    ]
    # Threads (lbfgs releases the GIL): loky's process start-up costs more than K small fits. One
    # warning filter around them, as in SAP: catch_warnings inside threads races on the global list.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the reference's max_iter, kept
        scores = run_parallel(tasks, n_jobs, threads=True)
    train, test = np.array(scores).T
    return ModularityResult(
        modularity=float(per_dim.mean()),
        explicitness_train=float(np.nanmean(train)),
        explicitness_test=float(np.nanmean(test)),
        factor_names=names,
        modularity_per_dim=per_dim.tolist(),
        explicitness_train_per_factor=train.tolist(),
        explicitness_test_per_factor=test.tolist(),
        mutual_information=mi,
        dropped_factors=dropped,
        settings={
            "n_bins": n_bins,
            "n_train": len(z_tr),
            "n_test": len(z_te),
            "classifier": "LogisticRegression() defaults",
            "n_jobs": n_jobs,
            "source": "disentanglement_lib modularity_explicitness.py",
        },
    )


# ---------------------------------------------------------------------------- unsupervised
@dataclass
class UnsupervisedResult(MetricResult):
    """Gaussian total correlation, Wasserstein correlation (raw and normalised), mean pairwise MI."""

    gaussian_total_correlation: float
    gaussian_wasserstein_correlation: float
    gaussian_wasserstein_correlation_norm: float
    mutual_info_score: float
    used_dims: list[int]
    settings: dict = field(default_factory=dict)


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """0.5 · (Σ log diag(cov) − log det cov)."""
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1]))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    """2 tr(cov) − 2 tr(sqrtm(cov · diag(cov)[:, None]))."""
    root = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    return float(2 * np.trace(cov) - 2 * np.trace(root).real)


def unsupervised_scores(z, *, n_bins: int = N_BINS) -> UnsupervisedResult:
    """disentanglement_lib ``unsupervised_metrics.py`` on all rows of ``z``.

    Constant dimensions make the Gaussian scores infinite there; they are left out with a warning
    (``used_dims`` lists the rest).
    """
    z = check_representation(z)
    if len(z) < 2:
        raise DisentkitError("unsupervised scores need at least 2 rows")
    used = np.flatnonzero(z.var(axis=0) > 0)
    if len(used) < z.shape[1]:
        warn(
            f"unsupervised scores: constant dimension(s) {np.setdiff1d(np.arange(z.shape[1]), used).tolist()} left out"
        )
    if len(used) < 2:
        raise DisentkitError("unsupervised scores need at least 2 non-constant dimensions")
    z = z[:, used]
    cov = np.cov(z, rowvar=False)
    wasserstein = gaussian_wasserstein_correlation(cov)
    codes = histogram_discretize(z, n_bins)
    mi = discrete_mutual_info(codes, codes)
    np.fill_diagonal(mi, 0.0)
    d = z.shape[1]
    return UnsupervisedResult(
        gaussian_total_correlation=gaussian_total_correlation(cov),
        gaussian_wasserstein_correlation=wasserstein,
        gaussian_wasserstein_correlation_norm=wasserstein / float(np.trace(cov)),
        mutual_info_score=float(mi.sum() / (d * d - d)),
        used_dims=used.tolist(),
        settings={"n_bins": n_bins, "rows": len(z), "source": "disentanglement_lib unsupervised_metrics.py"},
    )
