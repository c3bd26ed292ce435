"""InfoMEC (Hsu, Dorrell, Whittington, Wu, Finn, NeurIPS 2023): InfoM, InfoC, InfoE.

Follows the authors' ``disentangle/metrics/infomec.py`` (kylehkhsu/latent_quantization) for
continuous latents:

* NMI[i, j] = I(source i; latent j) / H(source i), the MI from scikit-learn's k-nearest-neighbour
  estimator for a continuous variable against a discrete one (``mutual_info_classif``, 10 neighbours)
  on standardised latents, H in nats from the class frequencies;
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
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

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


def _mi_column(zs: np.ndarray, labels: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    return mutual_info_classif(
        zs, labels, discrete_features=False, n_neighbors=n_neighbors, random_state=seed
    )


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
            "mi_estimator": "sklearn mutual_info_classif (kNN, continuous latent vs discrete source)",
            "infoe_model": "LogisticRegression(C=inf, class_weight='balanced', lbfgs, max_iter=100), "
            "training log loss; H0 = log(n_classes)",
            "rows": len(z),
            "n_jobs": n_jobs,
            "source": SOURCE,
        },
    )
