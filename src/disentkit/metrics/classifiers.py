"""Classifier-based metrics: DCI, downstream accuracy (GBT, MLP; full and pruned), SAP.

DCI's importances and the GBT downstream accuracy come from the *same* fits (one
GradientBoostingClassifier per factor, scikit-learn defaults, as in disentanglement_lib's
``dci.py``); the per-factor fits run in parallel (joblib). ``fast=True`` swaps in
HistGradientBoostingClassifier — results are labelled ``comparable_with_published: False``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from disentkit.errors import DisentkitError
from disentkit.metrics._common import N_TEST, N_TRAIN, MetricResult, prepare, run_parallel, seeds, split, warn
from disentkit.metrics.dci_result import DCIResult, dci_from_importance
from disentkit.metrics.probes import dci_regression

CLASSIFIERS = ("gbt", "hgb", "mlp")
MLP_DEFAULTS = {"hidden_layer_sizes": (256, 256)}
#: fast mode: histogram GBT with capacity like depth-3 trees (8 leaves), same learning rate and rounds
#: early stopping on a 10 % validation split of the training rows (that alone is a >5× saving)
HGB_DEFAULTS = {"max_iter": 100, "max_leaf_nodes": 8, "learning_rate": 0.1, "early_stopping": True}
SAP_C = 0.01


def make_classifier(kind: str, seed: int, params: dict | None = None):
    """A fresh scikit-learn classifier of ``kind`` with the protocol defaults, ``params`` on top."""
    params = dict(params or {})
    if kind == "gbt":
        return GradientBoostingClassifier(random_state=seed, **params)
    if kind == "hgb":
        return HistGradientBoostingClassifier(random_state=seed, **{**HGB_DEFAULTS, **params})
    if kind == "mlp":
        return MLPClassifier(random_state=seed, **{**MLP_DEFAULTS, **params})
    raise DisentkitError(f"unknown classifier {kind!r}; valid: {', '.join(CLASSIFIERS)}")


def importances(model, n_features: int) -> np.ndarray:
    """|feature importances|: impurity-based for GBT, summed split gain for histogram GBT, 0 for MLP."""
    if hasattr(model, "feature_importances_"):
        return np.abs(model.feature_importances_)
    if isinstance(model, HistGradientBoostingClassifier):
        gain = np.zeros(n_features)
        for stage in model._predictors:  # no public importances: sum the split gains of every tree
            for tree in stage:
                nodes = tree.nodes[~tree.nodes["is_leaf"].astype(bool)]
                np.add.at(gain, nodes["feature_idx"], nodes["gain"])
        return gain / gain.sum() if gain.sum() > 0 else gain
    return np.zeros(n_features)


def _stratified_holdout_possible(y: np.ndarray, fraction: float) -> bool:
    """Whether histogram GBT's stratified early-stopping split can be made: the held-out part needs a
    row of every class and every class two rows (small samples with many classes cannot)."""
    _, counts = np.unique(y, return_counts=True)
    return counts.min() >= 2 and int(np.floor(fraction * len(y))) >= len(counts)


def fit_factor(kind, params, seed, z_train, y_train, z_test, y_test):
    """Fit one classifier for one factor: ``(importances, train accuracy, test accuracy)``."""
    model = make_classifier(kind, seed, params)
    if isinstance(model, HistGradientBoostingClassifier) and model.early_stopping:
        model.set_params(early_stopping=_stratified_holdout_possible(y_train, model.validation_fraction))
    # One thread per fit: we parallelise over factors, and OpenMP spin-waiting in histogram GBT is
    # catastrophic on an oversubscribed machine (minutes instead of seconds).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # the reference's max_iter, kept
        model.fit(z_train, y_train)
    return (
        importances(model, z_train.shape[1]),
        float(np.mean(model.predict(z_train) == y_train)),
        float(np.mean(model.predict(z_test) == y_test)),
    )


# ---------------------------------------------------------------------------- DCI
def _dci_result(fits, names, dropped, kind, settings) -> DCIResult:
    imp = np.stack([f[0] for f in fits], axis=1)
    dis, com, per_dim, per_factor = dci_from_importance(imp)
    train = [f[1] for f in fits]
    test = [f[2] for f in fits]
    return DCIResult(
        disentanglement=dis,
        completeness=com,
        informativeness_train=float(np.mean(train)),
        informativeness_test=float(np.mean(test)),
        factor_names=names,
        importance_matrix=imp,
        disentanglement_per_dim=per_dim.tolist(),
        completeness_per_factor=per_factor.tolist(),
        train_accuracy_per_factor=train,
        test_accuracy_per_factor=test,
        comparable_with_published=kind == "gbt",
        dropped_factors=dropped,
        settings=settings,
    )


# ---------------------------------------------------------------------------- downstream
@dataclass
class DownstreamResult(MetricResult):
    """Per-factor accuracy of one classifier kind on the full and the pruned (OMES) representation."""

    classifier: str
    factor_names: list[str]
    train_accuracy_full: list[float]
    test_accuracy_full: list[float]
    mean_test_accuracy_full: float
    pruned_dims: list[int] | None
    test_accuracy_pruned: list[float] | None
    mean_test_accuracy_pruned: float | None
    comparable_with_published: bool = True
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _settings(kind, params, z_tr, z_te, n_jobs) -> dict:
    base = {"gbt": {}, "hgb": HGB_DEFAULTS, "mlp": MLP_DEFAULTS}[kind]
    return {
        "classifier": {
            "gbt": "sklearn GradientBoostingClassifier",
            "hgb": "sklearn HistGradientBoostingClassifier (fast mode, NOT comparable with published numbers)",
            "mlp": "sklearn MLPClassifier",
        }[kind],
        "params": {**base, **(params or {})},
        "n_train": len(z_tr),
        "n_test": len(z_te),
        "split": "first n_train rows train, next n_test rows test (sample order)",
        "n_jobs": n_jobs,
    }


def classifier_scores(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    classifier: str = "gbt",
    pruned_dims=None,
    params: dict | None = None,
    n_jobs: int = -1,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
) -> tuple[DCIResult | None, DownstreamResult]:
    """Fit one ``classifier`` per factor once; DCI (for tree models) and downstream accuracy from it.

    Parameters
    ----------
    z, y : arrays (N × D float, N × K int)
    classifier : {"gbt", "hgb", "mlp"}
        ``gbt`` = GradientBoostingClassifier defaults (the published convention); ``hgb`` = fast mode;
        ``mlp`` = MLPClassifier(hidden_layer_sizes=(256, 256)), no DCI.
    pruned_dims : list of int, optional
        OMES-associated dimensions: a second set of fits on these columns only.
    params : dict, optional
        Classifier parameters on top of the defaults (recorded; use only where defaults don't matter).
    n_jobs : int
        Parallel fits (joblib processes); results are identical for any value.

    Returns
    -------
    (DCIResult or None, DownstreamResult)
    """
    z, y, names, dropped = prepare(z, y, factor_names)
    z_tr, y_tr, z_te, y_te = split(z, y, n_train, n_test)
    k = y.shape[1]
    seed_list = seeds(rng, k)
    tasks = [
        (fit_factor, (classifier, params, s, z_tr, y_tr[:, f], z_te, y_te[:, f]))
        for f, s in enumerate(seed_list)
    ]
    pruned = None if pruned_dims is None else [int(j) for j in pruned_dims]
    if pruned:
        if max(pruned) >= z.shape[1] or min(pruned) < 0:
            raise DisentkitError(f"pruned dimensions {pruned} out of range 0..{z.shape[1] - 1}")
        zp_tr, zp_te = z_tr[:, pruned], z_te[:, pruned]
        tasks += [
            (fit_factor, (classifier, params, s, zp_tr, y_tr[:, f], zp_te, y_te[:, f]))
            for f, s in enumerate(seed_list)
        ]
    elif pruned is not None:
        warn(f"{classifier} downstream: no OMES-associated dimension, the pruned representation is empty")
    fits = run_parallel(tasks, n_jobs)
    settings = _settings(classifier, params, z_tr, z_te, n_jobs)
    dci = _dci_result(fits[:k], names, dropped, classifier, settings) if classifier != "mlp" else None
    pruned_test = [f[2] for f in fits[k:]] if pruned else None
    down = DownstreamResult(
        classifier=classifier,
        factor_names=names,
        train_accuracy_full=[f[1] for f in fits[:k]],
        test_accuracy_full=[f[2] for f in fits[:k]],
        mean_test_accuracy_full=float(np.mean([f[2] for f in fits[:k]])),
        pruned_dims=pruned,
        test_accuracy_pruned=pruned_test,
        mean_test_accuracy_pruned=float(np.mean(pruned_test)) if pruned_test else None,
        comparable_with_published=classifier != "hgb",
        dropped_factors=dropped,
        settings=settings,
    )
    return dci, down


def dci(
    z, y, factor_names=None, *, rng: np.random.Generator, fast: bool = False, probe: str = "gbt", **kwargs
) -> DCIResult:
    """DCI from one GBT per factor (``fast``: histogram GBT, not comparable with published numbers).

    ``probe="lasso"`` or ``"random_forest"``: the review's regression probes instead
    (:func:`disentkit.metrics.probes.dci_regression`, which takes the keyword arguments).
    """
    if probe != "gbt":
        return dci_regression(z, y, factor_names, rng=rng, probe=probe, **kwargs)
    return classifier_scores(z, y, factor_names, rng=rng, classifier="hgb" if fast else "gbt", **kwargs)[0]


# ---------------------------------------------------------------------------- SAP
@dataclass
class SAPResult(MetricResult):
    """Separated attribute predictability: mean over factors of the top-1 − top-2 test accuracy."""

    sap: float
    factor_names: list[str]
    sap_per_factor: list[float]
    score_matrix: np.ndarray  # D × K test accuracies
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def sap_column(z_train, y_train, z_test, y_test, c: float, seed: int) -> np.ndarray:
    """Test accuracy of a one-dimensional LinearSVC per dimension, for one factor."""
    out = np.empty(z_train.shape[1])
    for j in range(z_train.shape[1]):
        clf = LinearSVC(C=c, class_weight="balanced", random_state=seed)
        clf.fit(z_train[:, j : j + 1], y_train)
        out[j] = np.mean(clf.predict(z_test[:, j : j + 1]) == y_test)
    return out


def sap(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    c: float = SAP_C,
    n_jobs: int = -1,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
) -> SAPResult:
    """SAP for discrete factors (disentanglement_lib ``sap_score.py``): LinearSVC(C=0.01, balanced)."""
    z, y, names, dropped = prepare(z, y, factor_names)
    if z.shape[1] < 2:
        raise DisentkitError("SAP needs at least 2 dimensions (it is a gap between the top two)")
    z_tr, y_tr, z_te, y_te = split(z, y, n_train, n_test)
    seed_list = seeds(rng, y.shape[1])
    tasks = [(sap_column, (z_tr, y_tr[:, f], z_te, y_te[:, f], c, s)) for f, s in enumerate(seed_list)]
    # One filter around the threads: catch_warnings inside each thread would swap the process-wide
    # filter list concurrently and leave stray entries behind.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        matrix = np.stack(run_parallel(tasks, n_jobs, threads=True), axis=1)
    top = np.sort(matrix, axis=0)
    gap = top[-1] - top[-2]
    return SAPResult(
        sap=float(gap.mean()),
        factor_names=names,
        sap_per_factor=gap.tolist(),
        score_matrix=matrix,
        dropped_factors=dropped,
        settings={
            "classifier": f"LinearSVC(C={c}, class_weight='balanced') per dimension × factor",
            "n_train": len(z_tr),
            "n_test": len(z_te),
            "source": "disentanglement_lib sap_score.py",
        },
    )
