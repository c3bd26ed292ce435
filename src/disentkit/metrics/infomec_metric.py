"""InfoMEC (Hsu, Dorrell, Whittington, Wu, Finn, NeurIPS 2023): InfoM, InfoC, InfoE.

Follows the authors' ``disentangle/metrics/infomec.py`` (kylehkhsu/latent_quantization) for
continuous latents:

* NMI[i, j] = I(source i; latent j) / H(source i), the MI from scikit-learn's k-nearest-neighbour
  estimator for a continuous variable against a discrete one (``mutual_info_classif``, 10 neighbours,
  its scaling and tie-breaking noise included) on standardised latents, H in nats from the class
  frequencies. The estimate is computed here by sorting each latent (1-D neighbours are windows of
  the sorted values) instead of a tree query per class;
* active latents: range above 1/20 of the largest range;
* InfoM = (mean over active latents of max_i NMI / Σ_i NMI − 1/K) / (1 − 1/K), InfoC the same over
  sources with 1/(number of active latents);
* InfoE = mean over sources of (H₀ − H) / H₀, H the training log loss of an unregularised,
  class-balanced multinomial logistic regression on the standardised latents and H₀ that of the null
  model. With balanced class weights the null model's optimum predicts every class equally, so
  H₀ = log(number of classes) (the reference fits it; the fit converges to that value).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import scale

from disentkit.errors import DisentkitError
from disentkit.metrics._common import MetricResult, prepare, run_parallel, seeds, warn
from disentkit.metrics.information import discrete_entropy

N_NEIGHBORS = 10
ACTIVE_FRACTION = 1 / 20
SOURCE = "kylehkhsu/latent_quantization disentangle/metrics/infomec.py"


@dataclass
class InfoMECResult(MetricResult):
    """InfoM (modularity), InfoC (compactness), InfoE (explicitness), and the NMI matrix."""

    infom: float
    infoc: float
    infoe: float
    factor_names: list[str]
    nmi: np.ndarray  # K × D (sources × latents), as the reference
    active_latents: list[int]
    infoe_per_factor: list[float]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def standardise(z: np.ndarray) -> np.ndarray:
    """``StandardScaler().fit_transform``: mean 0, std 1 (ddof 0); a constant column becomes 0."""
    std = z.std(axis=0)
    return (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _kth_distance(v: np.ndarray, k: int) -> np.ndarray:
    """Distance from each of the sorted values ``v`` to its k-th nearest other value (1-D).

    The k nearest others of v[i] fill one of the k + 1 windows of k + 1 consecutive values that
    contain i; the k-th distance is the smallest window's larger reach.
    """
    padded = np.concatenate([np.full(k, -np.inf), v, np.full(k, np.inf)])
    i = np.arange(len(v))
    best = np.full(len(v), np.inf)
    for j in range(k + 1):
        reach = np.maximum(v - padded[i + j], padded[i + k + j] - v)
        np.minimum(best, reach, out=best)
    return best


def _count_within(sorted_all: np.ndarray, centre: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """#{x in sorted_all : |x − centre| ≤ radius} per centre, with the distance computed as |x − c|."""
    n = len(sorted_all)
    lo = np.searchsorted(sorted_all, centre - radius, "left")
    hi = np.searchsorted(sorted_all, centre + radius, "right")

    def inside(idx):
        ok = (idx >= 0) & (idx < n)
        return ok & (np.abs(sorted_all[np.clip(idx, 0, n - 1)] - centre) <= radius)

    # centre ± radius rounds; move each end by single steps until it sits exactly on the boundary
    while (step := inside(lo - 1)).any():
        lo -= step
    while (step := (lo < hi) & ~inside(lo)).any():
        lo += step
    while (step := inside(hi)).any():
        hi += step
    while (step := (hi > lo) & ~inside(hi - 1)).any():
        hi -= step
    return hi - lo


def knn_mi_discrete(x: np.ndarray, labels: np.ndarray, n_neighbors: int) -> float:
    """Ross (2014) kNN MI (nats) of a continuous ``x`` with class indices ``labels``, by sorting.

    The estimate of scikit-learn's ``_compute_mi_cd``: rows of classes seen once are left out; the
    radius is just below the k-th same-class neighbour's distance (k = min(n_neighbors, count − 1));
    m counts every kept row within it, the row itself included; clipped at 0.
    """
    counts = np.bincount(labels)
    keep = counts[labels] > 1
    x, labels = x[keep], labels[keep]
    radius = np.empty(len(x))
    k_all = np.empty(len(x))
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        order = rows[np.argsort(x[rows], kind="stable")]
        k = min(n_neighbors, len(rows) - 1)
        radius[order] = np.nextafter(_kth_distance(x[order], k), 0)
        k_all[rows] = k
    m_all = _count_within(np.sort(x), x, radius)
    mi = (
        digamma(len(x))
        + np.mean(digamma(k_all))
        - np.mean(digamma(counts[labels].astype(np.float64)))
        - np.mean(digamma(m_all))
    )
    return max(0.0, float(mi))


def _jittered(zs: np.ndarray, seed: int) -> np.ndarray:
    """``mutual_info_classif``'s preprocessing: divide by the std, add 1e-10-scale noise (ties)."""
    x = scale(zs, with_mean=False)
    noise = np.random.RandomState(seed).standard_normal(size=x.shape)
    return x + 1e-10 * np.maximum(1, np.mean(np.abs(x), axis=0)) * noise


def _mi_column(zs: np.ndarray, labels: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    x = _jittered(zs, seed)
    codes = np.unique(labels, return_inverse=True)[1].ravel()
    return np.array([knn_mi_discrete(col, codes, n_neighbors) for col in x.T])


def normalised_mi(z, y, *, rng: np.random.Generator, n_neighbors: int = N_NEIGHBORS, n_jobs: int = 1):
    """K × D NMI: kNN MI of every standardised latent with each source / the source's entropy."""
    zs = standardise(z)
    tasks = [(_mi_column, (zs, y[:, k], n_neighbors, s)) for k, s in enumerate(seeds(rng, y.shape[1]))]
    mi = np.stack(run_parallel(tasks, n_jobs, threads=True))
    return mi / discrete_entropy(y)[:, None]


def _ratio_score(nmi: np.ndarray, axis: int, n_other: int, what: str) -> float:
    """mean of max / sum along ``axis``, rescaled so 1/n_other → 0; all-zero lines are left out."""
    total = nmi.sum(axis=axis)
    ok = total > 0
    if not ok.all():
        warn(f"InfoMEC: {int((~ok).sum())} {what} with zero NMI everywhere left out of the mean")
    if not ok.any() or n_other < 2:
        return float("nan")
    ratio = (nmi.max(axis=axis)[ok] / total[ok]).mean()
    return float((ratio - 1 / n_other) / (1 - 1 / n_other))


def _infoe_factor(zs: np.ndarray, labels: np.ndarray) -> float:
    classes, codes = np.unique(labels, return_inverse=True)
    model = LogisticRegression(C=np.inf, class_weight="balanced", solver="lbfgs", max_iter=100)
    model.fit(zs, codes)
    conditional = log_loss(codes, model.predict_proba(zs), labels=np.arange(len(classes)))
    marginal = np.log(len(classes))
    return float((marginal - conditional) / marginal)


def infomec(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    n_neighbors: int = N_NEIGHBORS,
    active_fraction: float = ACTIVE_FRACTION,
    n_jobs: int = 1,
) -> InfoMECResult:
    """InfoM, InfoC, InfoE of continuous latents ``z`` against discrete sources ``y`` (all rows).

    ``rng`` seeds the tiny noise scikit-learn's kNN estimator adds to break ties.
    """
    z, y, names, dropped = prepare(z, y, factor_names)
    if y.shape[1] < 2:
        raise DisentkitError("InfoMEC needs at least 2 factors (InfoM compares a latent's sources)")
    if len(z) <= n_neighbors:
        raise DisentkitError(f"InfoMEC needs more than n_neighbors={n_neighbors} rows, got {len(z)}")
    nmi = normalised_mi(z, y, rng=rng, n_neighbors=n_neighbors, n_jobs=n_jobs)
    ranges = np.ptp(z, axis=0)
    active = ranges > ranges.max() * active_fraction
    pruned = nmi[:, active]
    k, a = y.shape[1], int(active.sum())
    if a < 2:
        warn(f"InfoMEC: {a} active latent(s); InfoC is undefined (NaN)")
    infom = _ratio_score(pruned, axis=0, n_other=k, what="latent(s)")
    infoc = _ratio_score(pruned, axis=1, n_other=a, what="source(s)")
    zs = standardise(z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the reference's max_iter=100, kept
        per_factor = run_parallel([(_infoe_factor, (zs, col)) for col in y.T], n_jobs, threads=True)
    return InfoMECResult(
        infom=infom,
        infoc=infoc,
        infoe=float(np.mean(per_factor)),
        factor_names=names,
        nmi=nmi,
        active_latents=np.flatnonzero(active).tolist(),
        infoe_per_factor=per_factor,
        dropped_factors=dropped,
        settings={
            "n_neighbors": n_neighbors,
            "active_fraction": active_fraction,
            "mi_estimator": "kNN (Ross 2014) = sklearn mutual_info_classif, by sorting; noise seeded from rng",
            "infoe_model": "LogisticRegression(C=inf, class_weight='balanced', lbfgs, max_iter=100), "
            "training log loss; H0 = log(n_classes)",
            "rows": len(z),
            "n_jobs": n_jobs,
            "source": SOURCE,
        },
    )
