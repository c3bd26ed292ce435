"""Metrics of Zaidi et al.'s review ("Measuring disentanglement: a review of metrics", arXiv 2012.09276).

MIG-sup, JEMMIG, DCIMIG, IRS and Z-max variance, plus the review's own variant of MIG and of
modularity. The review's code (ubisoft-laforge-disentanglement-metrics, ``src/metrics/``) loops over
every (factor, code) pair with pyitlib entropies; here every dimension is binned at once and every
contingency table comes from one ``np.bincount`` (:mod:`disentkit.metrics.information`).

Two discretisers, picked by the settings profile (docs/metrics.md, "Profiles"):

* ``histogram`` — disentanglement_lib's: 20 equal-width bins between each column's min and max;
* ``minmax`` — the review's: ``sklearn.preprocessing.minmax_scale`` then ``np.digitize`` on 10
  equal-width bins of [0, 1] (``utils.get_bin_index``); the maximum lands in a bin of its own.

Factors are class indices and are never re-binned (the review's ``continuous_factors=False``), except
in IRS under disentanglement_lib's profile, which bins them as ``compute_irs`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.preprocessing import minmax_scale

from disentkit.errors import DisentkitError
from disentkit.metrics._common import MetricResult, prepare, warn
from disentkit.metrics.information import (
    N_BINS,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    modularity_from_mi,
)

BINNINGS = ("histogram", "minmax")
REVIEW_BINS = 10
REVIEW_SOURCE = "ubisoft-laforge-disentanglement-metrics src/metrics/"


# ---------------------------------------------------------------------------- building blocks
def minmax_discretize(z: np.ndarray, n_bins: int = REVIEW_BINS) -> np.ndarray:
    """The review's ``get_bin_index(minmax_scale(z), n_bins)``, 0-based (its bins are 1 … n_bins).

    ``minmax_scale`` maps a constant column to 0; the column maximum (1.0) falls in the last bin.
    """
    edges = np.linspace(0, 1, n_bins + 1)[:-1]
    return np.digitize(minmax_scale(z), edges, right=False).astype(np.int64) - 1


def discretize(z: np.ndarray, binning: str, n_bins: int) -> np.ndarray:
    """Bin index of every entry of ``z`` (N × D) with the named discretiser."""
    if binning == "histogram":
        return histogram_discretize(z, n_bins)
    if binning == "minmax":
        return minmax_discretize(z, n_bins)
    raise DisentkitError(f"unknown binning {binning!r}; valid: {', '.join(BINNINGS)}")


def _check_bins(binning: str, n_bins: int) -> None:
    if binning not in BINNINGS:
        raise DisentkitError(f"unknown binning {binning!r}; valid: {', '.join(BINNINGS)}")
    if int(n_bins) < 2:
        raise DisentkitError(f"n_bins must be at least 2, got {n_bins}")


def code_factor_information(z, y, binning: str, n_bins: int):
    """``(mi D × K, H(codes) D, H(factors) K)`` in nats on the binned codes and the factor classes."""
    codes = discretize(z, binning, n_bins)
    return discrete_mutual_info(codes, y), discrete_entropy(codes), discrete_entropy(y)


def _binned(z, y, factor_names, binning: str, n_bins: int, metric: str, at_least: str | None = None):
    """Validate, then ``(z, y, names, dropped, mi, H(codes), H(factors))``.

    ``at_least``: "factors" or "dimensions", of which the metric (a gap of the top two) needs 2.
    """
    _check_bins(binning, n_bins)
    z, y, names, dropped = prepare(z, y, factor_names)
    if at_least and (y if at_least == "factors" else z).shape[1] < 2:
        raise DisentkitError(f"{metric} needs at least 2 {at_least} (it is a gap between the top two)")
    return z, y, names, dropped, *code_factor_information(z, y, binning, n_bins)


def _normalised_by_code(mi: np.ndarray, h_codes: np.ndarray) -> np.ndarray:
    """I(f; c) / H(c) (pyitlib ``information_mutual_normalised(f, c, norm_factor='Y')``).

    A constant code has H = 0 and carries no information: 0 there (the reference divides 0 by 0).
    """
    out = np.zeros_like(mi)
    np.divide(mi, h_codes[:, None], out=out, where=h_codes[:, None] > 0)
    return out


def _top_two_gap(values: np.ndarray, axis: int) -> np.ndarray:
    top = np.sort(values, axis=axis)
    return np.take(top, -1, axis=axis) - np.take(top, -2, axis=axis)


def _settings(binning, n_bins, rows, source, **extra) -> dict:
    return {"binning": binning, "n_bins": int(n_bins), "rows": int(rows), "source": source, **extra}


# ---------------------------------------------------------------------------- MIG-sup, JEMMIG, DCIMIG
@dataclass
class MIGSupResult(MetricResult):
    """MIG-sup (Li et al. 2020): mean over codes of the gap between their two most informative factors."""

    mig_sup: float
    factor_names: list[str]
    mig_sup_per_code: list[float]
    normalised_mi: np.ndarray  # D × K, I(f; c) / H(c)
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def mig_sup(z, y, factor_names=None, *, binning: str = "histogram", n_bins: int = N_BINS) -> MIGSupResult:
    """MIG-sup on all rows: per code, top-1 − top-2 over factors of I(f; c) / H(c); mean over codes.

    As the review's ``mig_sup.py`` (normalised by the *code's* entropy). Needs 2 factors.
    """
    z, y, names, dropped, mi, h_codes, _ = _binned(z, y, factor_names, binning, n_bins, "MIG-sup", "factors")
    nmi = _normalised_by_code(mi, h_codes)
    gap = _top_two_gap(nmi, axis=1)
    return MIGSupResult(
        mig_sup=float(gap.mean()),
        factor_names=names,
        mig_sup_per_code=gap.tolist(),
        normalised_mi=nmi,
        dropped_factors=dropped,
        settings=_settings(binning, n_bins, len(z), REVIEW_SOURCE + "mig_sup.py"),
    )


@dataclass
class JEMMIGResult(MetricResult):
    """JEMMIG (Do & Tran 2020), reported as the review does: 1 − normalised JEMMIG (1 is best)."""

    jemmig: float
    factor_names: list[str]
    jemmig_per_factor: list[float]
    best_code_per_factor: list[int]
    mutual_information: np.ndarray  # D × K, nats
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def jemmig(z, y, factor_names=None, *, binning: str = "histogram", n_bins: int = N_BINS) -> JEMMIGResult:
    """Per factor f with best code c*: 1 − (H(f, c*) − I(f; c*) + I₂(f)) / (H(f) + log n_bins).

    I₂ is the second largest I(f; c) over codes; as the review's ``jemmig.py`` (any log base: it is a
    ratio). Needs 2 dimensions.
    """
    z, y, names, dropped, mi, h_codes, h_factors = _binned(
        z, y, factor_names, binning, n_bins, "JEMMIG", "dimensions"
    )
    best = np.argmax(mi, axis=0)
    cols = np.arange(mi.shape[1])
    top = np.sort(mi, axis=0)
    joint = h_factors + h_codes[best] - mi[best, cols]  # H(f, c*) = H(f) + H(c*) − I(f; c*)
    raw = joint - top[-1] + top[-2]
    per_factor = 1.0 - raw / (h_factors + np.log(n_bins))
    return JEMMIGResult(
        jemmig=float(per_factor.mean()),
        factor_names=names,
        jemmig_per_factor=per_factor.tolist(),
        best_code_per_factor=best.tolist(),
        mutual_information=mi,
        dropped_factors=dropped,
        settings=_settings(binning, n_bins, len(z), REVIEW_SOURCE + "jemmig.py"),
    )


@dataclass
class DCIMIGResult(MetricResult):
    """DCIMIG (Sepliarskaia et al. 2020): each code's MI gap goes to its top factor; best gap per factor."""

    dcimig: float
    factor_names: list[str]
    gap_per_factor: list[float]
    mutual_information: np.ndarray  # D × K, nats
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def dcimig(z, y, factor_names=None, *, binning: str = "histogram", n_bins: int = N_BINS) -> DCIMIGResult:
    """Σ_f max_c gap(c → f) / Σ_f H(f), gap(c) = top-1 − top-2 of I(f; c) over factors (``dcimig.py``)."""
    z, y, names, dropped, mi, _, h_factors = _binned(z, y, factor_names, binning, n_bins, "DCIMIG", "factors")
    gap = _top_two_gap(mi, axis=1)
    assigned = np.zeros_like(mi)
    assigned[np.arange(len(mi)), np.argmax(mi, axis=1)] = gap
    per_factor = assigned.max(axis=0)
    return DCIMIGResult(
        dcimig=float(per_factor.sum() / h_factors.sum()),
        factor_names=names,
        gap_per_factor=per_factor.tolist(),
        mutual_information=mi,
        dropped_factors=dropped,
        settings=_settings(binning, n_bins, len(z), REVIEW_SOURCE + "dcimig.py"),
    )


# ---------------------------------------------------------------------------- the review's MIG, modularity
@dataclass
class ReviewMIGResult(MetricResult):
    """The review's MIG: per factor, gap between its two top codes of I(f; c) / H(c)."""

    mig: float
    factor_names: list[str]
    mig_per_factor: list[float]
    normalised_mi: np.ndarray
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def review_mig(z, y, factor_names=None, *, n_bins: int = REVIEW_BINS) -> ReviewMIGResult:
    """``mig.py`` of the review: min-max bins, MI normalised by the *code's* entropy (not the factor's)."""
    z, y, names, dropped, mi, h_codes, _ = _binned(z, y, factor_names, "minmax", n_bins, "MIG", "dimensions")
    nmi = _normalised_by_code(mi, h_codes)
    gap = _top_two_gap(nmi, axis=0)
    return ReviewMIGResult(
        mig=float(gap.mean()),
        factor_names=names,
        mig_per_factor=gap.tolist(),
        normalised_mi=nmi,
        dropped_factors=dropped,
        settings=_settings("minmax", n_bins, len(z), REVIEW_SOURCE + "mig.py", profile="zaidi2020"),
    )


@dataclass
class ReviewModularityResult(MetricResult):
    """The review's modularity (Ridgeway & Mozer) on all rows; the suite adds the review's explicitness
    (:func:`~disentkit.metrics.review_probes.review_explicitness`) under the zaidi2020 profile."""

    modularity: float
    factor_names: list[str]
    modularity_per_dim: list[float]
    mutual_information: np.ndarray
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    explicitness: float | None = None
    explicitness_settings: dict = field(default_factory=dict)


def review_modularity(z, y, factor_names=None, *, n_bins: int = REVIEW_BINS) -> ReviewModularityResult:
    """``modularity.py`` of the review: min-max bins on all rows, unnormalised MI.

    A code with zero MI to every factor scores 0 (the reference divides by zero there).
    """
    z, y, names, dropped, mi, _, _ = _binned(z, y, factor_names, "minmax", n_bins, "modularity")
    per_dim = modularity_from_mi(mi)
    return ReviewModularityResult(
        modularity=float(per_dim.mean()),
        factor_names=names,
        modularity_per_dim=per_dim.tolist(),
        mutual_information=mi,
        dropped_factors=dropped,
        settings=_settings("minmax", n_bins, len(z), REVIEW_SOURCE + "modularity.py", profile="zaidi2020"),
    )


# ---------------------------------------------------------------------------- IRS
@dataclass
class IRSResult(MetricResult):
    """Interventional robustness score (Suter et al. 2019), the sample-based estimate of both references."""

    irs: float
    factor_names: list[str]
    irs_per_dim: list[float | None]  # None for constant dimensions (left out)
    irs_matrix: np.ndarray  # active dims × K
    active_dims: list[int]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def group_quantile(values: np.ndarray, groups: np.ndarray, n_groups: int, q: float) -> np.ndarray:
    """``np.percentile(values[groups == g], 100 q, axis=0)`` for every group g: (n_groups, D).

    One stable sort puts each group's rows together; each block then goes to ``np.percentile``
    itself (the same arithmetic as the references), without a boolean mask over all rows per value.
    """
    counts = np.bincount(groups, minlength=n_groups)
    block = values[np.argsort(groups, kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return np.stack(
        [np.percentile(block[a:b], q * 100, axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    )


def irs(
    z,
    y,
    factor_names=None,
    *,
    diff_quantile: float = 0.99,
    bin_factors: bool = True,
    n_bins: int = N_BINS,
) -> IRSResult:
    """IRS on all rows (disentanglement_lib ``irs.py``; the review's ``irs.py`` is the same estimate).

    Per factor value g, the ``diff_quantile`` quantile of |z − E[z | g]| per dimension, averaged over
    the factor's values and divided by the dimension's max |z − E z|; IRS per dimension = 1 − the
    smallest of these over factors; mean weighted by the max deviations. Constant dimensions are
    left out (score 0 if all are constant). ``bin_factors``: histogram-bin the factors into ``n_bins``
    first (disentanglement_lib; the review with ``continuous_factors=False`` does not).
    """
    if not 0.0 < diff_quantile <= 1.0:
        raise DisentkitError(f"diff_quantile must be in (0, 1], got {diff_quantile}")
    z, y, names, dropped = prepare(z, y, factor_names)
    if bin_factors:
        y = histogram_discretize(y.astype(np.float64), n_bins)
    active = np.flatnonzero(z.var(axis=0) > 0.0)
    settings = {
        "diff_quantile": diff_quantile,
        "bin_factors": bin_factors,
        "n_bins": int(n_bins) if bin_factors else None,
        "rows": len(z),
        "source": "disentanglement_lib irs.py / " + REVIEW_SOURCE + "irs.py",
    }
    per_dim: list[float | None] = [None] * z.shape[1]
    if len(active) == 0:
        warn("IRS: every dimension is constant; score 0")
        return IRSResult(0.0, names, per_dim, np.zeros((0, y.shape[1])), [], dropped, settings)
    if len(active) < z.shape[1]:
        warn(f"IRS: constant dimension(s) {np.setdiff1d(np.arange(z.shape[1]), active).tolist()} left out")
    za = z[:, active]
    max_dev = np.max(np.abs(za - za.mean(axis=0)), axis=0)
    cum = np.empty((za.shape[1], y.shape[1]))
    for k in range(y.shape[1]):  # loop over factors only; every value and dimension at once
        groups = np.unique(y[:, k], return_inverse=True)[1].ravel()
        n_groups = int(groups.max()) + 1
        counts = np.bincount(groups, minlength=n_groups)
        means = np.stack([np.bincount(groups, weights=col, minlength=n_groups) for col in za.T], 1)
        means /= counts[:, None]
        diffs = np.abs(za - means[groups])
        if diff_quantile == 1.0:
            deviations = np.full((n_groups, za.shape[1]), -np.inf)
            np.maximum.at(deviations, groups, diffs)
        else:
            deviations = group_quantile(diffs, groups, n_groups, diff_quantile)
        cum[:, k] = deviations.mean(axis=0)
    matrix = 1.0 - cum / max_dev[:, None]
    scores = matrix.max(axis=1)
    score = np.average(scores, weights=max_dev) if max_dev.sum() > 0 else scores.mean()
    for j, s in zip(active, scores, strict=True):
        per_dim[j] = float(s)
    return IRSResult(float(score), names, per_dim, matrix, active.tolist(), dropped, settings)


# ---------------------------------------------------------------------------- Z-max variance
ZMAX_BATCH = 200
ZMAX_TRAIN = 800
ZMAX_EVAL = 800
ZMAX_VARIANCE = 10_000
ZMAX_STD = 0.02
ZVAR_DEFAULTS = {
    "batch_size": ZMAX_BATCH, "n_train": ZMAX_TRAIN, "n_eval": ZMAX_EVAL, "n_variance": ZMAX_VARIANCE,
    "std_threshold": ZMAX_STD, "scale": True,
}  # fmt: skip


@dataclass
class ZMaxVarianceResult(MetricResult):
    """Z-max variance (Kim et al. 2019): majority vote from the dimension of largest normalised variance."""

    z_max_variance: float  # scaled eval accuracy (chance → 0), the review's score
    train_accuracy: float
    eval_accuracy: float
    factor_names: list[str]
    votes_train: np.ndarray  # D × K
    active_dims: list[int]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _groups(y: np.ndarray, k: int, fixed: str) -> list[np.ndarray]:
    """Row groups of at least 2 rows for a point of factor ``k``.

    ``fixed="others"`` (Z-max): rows sharing every factor's value but k's; ``fixed="factor"`` (Z-min):
    rows sharing k's value.
    """
    keys = np.delete(y, k, axis=1) if fixed == "others" else y[:, k : k + 1]
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    members = np.split(order, np.cumsum(counts)[:-1])
    return [m for m, c in zip(members, counts, strict=True) if c > 1]


def _batch_rows(members: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``batch_size`` rows of a group: shuffled passes over its members, as many as needed (as the review)."""
    passes = -(-batch_size // len(members))
    return np.concatenate([rng.permutation(members) for _ in range(passes)])[:batch_size]


def _variance_vote(z, y, factor_names, rng, *, largest, batch_size, n_train, n_eval, n_variance,
                   std_threshold, scale, metric, source):  # fmt: skip
    """Shared body of Z-max and Z-min variance: ``(score, train acc, eval acc, names, votes, active,
    dropped, settings)``."""
    if rng is None:
        raise DisentkitError("pass rng=np.random.default_rng(seed): metrics draw randomness only from it")
    z, y, names, dropped = prepare(z, y, factor_names)
    if min(batch_size, n_train, n_eval) < 1 or n_variance < 2:
        raise DisentkitError(f"{metric}: batch_size, n_train, n_eval must be ≥ 1 and n_variance ≥ 2")
    k_count = y.shape[1]
    global_var = z[rng.permutation(len(z))[:n_variance]].var(axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= std_threshold)
    settings = {
        "batch_size": batch_size, "n_train": n_train, "n_eval": n_eval, "n_variance": n_variance,
        "std_threshold": std_threshold, "scale": scale, "source": REVIEW_SOURCE + source,
    }  # fmt: skip
    if len(active) == 0:
        warn(f"{metric}: every dimension is below the std threshold; score 0")
        empty = np.zeros((z.shape[1], k_count), dtype=np.int64)
        return 0.0, 0.0, 0.0, names, empty, [], dropped, settings
    groups = []
    for k in range(k_count):
        eligible = _groups(y, k, "others" if largest else "factor")
        if not eligible:
            what = f"every factor but {names[k]!r}" if largest else f"{names[k]!r}"
            raise DisentkitError(
                f"{metric}: no two rows share the values of {what}; a larger sample is needed"
            )
        groups.append(eligible)
    pick = np.argmax if largest else np.argmin

    def votes(n_points: int) -> np.ndarray:
        factors = rng.integers(0, k_count, size=n_points)
        out = np.zeros((z.shape[1], k_count), dtype=np.int64)
        for k in factors:
            members = groups[k][rng.integers(len(groups[k]))]
            local = z[_batch_rows(members, batch_size, rng)][:, active].var(axis=0, ddof=1)
            out[active[pick(local / global_var[active])], k] += 1
        return out

    train, evaluation = votes(n_train), votes(n_eval)
    classifier = np.argmax(train, axis=1)  # per dimension: the factor it votes for most
    rows = np.arange(len(train))
    train_acc = float(train[rows, classifier].sum() / train.sum())
    eval_acc = float(evaluation[rows, classifier].sum() / evaluation.sum())
    score = (eval_acc - 1.0 / k_count) / (1.0 - 1.0 / k_count) if scale and k_count > 1 else eval_acc
    return float(score), train_acc, eval_acc, names, train, active.tolist(), dropped, settings


def z_max_variance(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    batch_size: int = ZMAX_BATCH,
    n_train: int = ZMAX_TRAIN,
    n_eval: int = ZMAX_EVAL,
    n_variance: int = ZMAX_VARIANCE,
    std_threshold: float = ZMAX_STD,
    scale: bool = True,
) -> ZMaxVarianceResult:
    """Z-max variance from a labelled sample (the review's ``z_max_var.py``, its config's defaults).

    Global variances (ddof 1) from ``n_variance`` shuffled rows; dimensions with std below
    ``std_threshold`` are ignored. Each point draws a factor, then (uniformly) one combination of the
    other factors' values seen at least twice, takes ``batch_size`` rows of it and votes for the
    active dimension with the *largest* variance over the batch divided by its global variance. The
    majority vote per dimension is the classifier; ``scale`` maps chance (1/K) to 0 and 1 to 1.
    """
    return ZMaxVarianceResult(
        *_variance_vote(
            z, y, factor_names, rng, largest=True, batch_size=batch_size, n_train=n_train, n_eval=n_eval,
            n_variance=n_variance, std_threshold=std_threshold, scale=scale, metric="Z-max variance",
            source="z_max_var.py",
        )
    )  # fmt: skip


@dataclass
class ZMinVarianceResult(MetricResult):
    """Z-min variance: the FactorVAE score estimated from a labelled sample (the review's variant)."""

    z_min_variance: float  # scaled eval accuracy (chance → 0)
    train_accuracy: float
    eval_accuracy: float
    factor_names: list[str]
    votes_train: np.ndarray  # D × K
    active_dims: list[int]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def z_min_variance(z, y, factor_names=None, *, rng: np.random.Generator, **settings) -> ZMinVarianceResult:
    """Z-min variance (the review's ``z_min_var.py``), with the settings and defaults of
    :func:`z_max_variance`, but a point's batch shares the drawn factor's value (drawn uniformly among
    values seen twice) and votes for the dimension of *smallest* normalised variance. The
    interventional FactorVAE score (:func:`~disentkit.metrics.factor_vae_score`) renders such batches
    instead of finding them in the sample."""
    options = {**ZVAR_DEFAULTS, **settings}
    if set(options) != set(ZVAR_DEFAULTS):
        raise DisentkitError(f"Z-min variance: unknown option(s) {sorted(set(options) - set(ZVAR_DEFAULTS))}")
    return ZMinVarianceResult(
        *_variance_vote(
            z, y, factor_names, rng, largest=False, metric="Z-min variance", source="z_min_var.py", **options
        )
    )
