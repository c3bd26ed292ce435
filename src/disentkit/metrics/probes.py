"""DCI with regression probes (Lasso, random forest) and DCI-ES (Eastwood et al., ICLR 2023).

* ``dci_regression`` follows the review's ``dci.py`` (Zaidi et al.; ubisoft-laforge-disentanglement-
  metrics): factors and codes min-max scaled to [0, 1], one regressor per factor on all rows with its
  hyper-parameters chosen by 10-fold cross-validated MSE, importances = |Lasso coefficients| or the
  forest's impurity importances, informativeness = max(1 − 12 MSE, 0) on the fitted rows.
  disentanglement_lib's profile scores D and C with :func:`~disentkit.metrics.dci_result.dci_from_importance`;
  the review's profile with the review's own formula (unweighted mean C, no smoothing, and its early
  stop at the first code without importance).
* ``dci_es`` fits random-forest probes of growing depth (the paper's capacity axis for trees) per
  factor; explicitness E = 1 − (area under the running-minimum loss-capacity curve) / (area under the
  baseline loss), loss = 1 − test accuracy, baseline = 1 − 1/classes; size S = K / D.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoCV
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import minmax_scale

from disentkit.errors import DisentkitError
from disentkit.metrics._common import N_TEST, N_TRAIN, MetricResult, prepare, run_parallel, seeds, split
from disentkit.metrics.dci_result import DCIResult, dci_from_importance

PROBES = ("gbt", "lasso", "random_forest")
LASSO_ALPHAS = (0.0001, 0.001, 0.01, 0.1, 0.2, 0.4, 0.8, 1.0)
RF_DEPTHS = (8, 16, 32, 64, 128)
RF_FEATURES = (0.2, 0.4, 0.8, 1.0)
RF_TREES = 10
CV_FOLDS = 10
DCI_FORMULAS = ("disentanglement_lib", "zaidi2020")
REVIEW_DCI = "ubisoft-laforge-disentanglement-metrics src/metrics/dci.py"


# ---------------------------------------------------------------------------- DCI, regression probes
def _cv_mse(model, x, t, folds: int) -> float:
    return float(-cross_val_score(model, x, t, cv=folds, scoring="neg_mean_squared_error").mean())


def _best(candidates, x, t, folds):
    """The first candidate with the lowest CV MSE (strictly lower replaces, as the reference's loop)."""
    best, best_mse = None, np.inf
    for params, model in candidates:
        mse = _cv_mse(model, x, t, folds)
        if mse < best_mse:
            best, best_mse = params, mse
    return best


def fit_lasso(x: np.ndarray, t: np.ndarray, folds: int = CV_FOLDS, alphas=LASSO_ALPHAS, seed: int = 0):
    """``(informativeness, |coefficients|, chosen alpha)`` of the review's Lasso probe.

    The review fits every (alpha, fold) from scratch; one warm-started regularisation path per fold
    (``LassoCV``, the same unshuffled folds, ``max_iter`` 5000) gives the same fold MSEs to the
    solver's tolerance, and the alpha is picked by the review's rule (ascending, strictly lower wins).
    """
    path = LassoCV(alphas=list(alphas), cv=folds, max_iter=5000).fit(x, t)
    mse = dict(zip(path.alphas_.tolist(), path.mse_path_.mean(axis=1).tolist(), strict=True))
    alpha, best = None, np.inf
    for a in alphas:
        if mse[a] < best:
            alpha, best = a, mse[a]
    model = Lasso(alpha=alpha).fit(x, t)  # the reference refits with Lasso's default max_iter
    mse = np.mean((model.predict(x) - t) ** 2)
    return max(1.0 - 12.0 * mse, 0.0), np.abs(model.coef_).ravel(), {"alpha": alpha}


def fit_forest(x: np.ndarray, t: np.ndarray, folds: int = CV_FOLDS, seed: int = 0, trees: int = RF_TREES):
    """``(informativeness, importances, chosen depth/features)`` of the review's random-forest probe."""
    grid = [
        (
            (md, mf),
            RandomForestRegressor(n_estimators=trees, max_depth=md, max_features=mf, random_state=seed),
        )
        for md in RF_DEPTHS
        for mf in RF_FEATURES
    ]
    md, mf = _best(grid, x, t, folds)
    model = RandomForestRegressor(n_estimators=trees, max_depth=md, max_features=mf, random_state=seed)
    model.fit(x, t)
    mse = np.mean((model.predict(x) - t) ** 2)
    return max(1.0 - 12.0 * mse, 0.0), model.feature_importances_, {"max_depth": md, "max_features": mf}


def review_dci_scores(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """D and C as the review's ``dci.py`` computes them from a D × K importance matrix.

    Per code 1 − H_K(p) without smoothing, weighted by importance share; the reference stops at the
    first code with zero importance and leaves the following codes at 0 (kept, it changes the
    score). C is the unweighted mean over factors of 1 − H_D (uniform where a factor has no importance).
    """
    d, k = importance.shape
    rho = importance.sum(axis=1)
    per_code = np.zeros(d)
    for c in range(d):
        if rho[c] == 0:
            break
        p = importance[c] / rho[c]
        p = p[p > 0]
        per_code[c] = 1.0 + np.sum(p * np.log(p)) / np.log(k)
    weights = rho / rho.sum() if rho.sum() else np.zeros(d)
    totals = importance.sum(axis=0)
    per_factor = np.empty(k)
    for f in range(k):
        p = importance[:, f] / totals[f] if totals[f] else np.full(d, 1.0 / d)
        p = p[p > 0]
        per_factor[f] = 1.0 + np.sum(p * np.log(p)) / np.log(d)
    return float(per_code @ weights), float(per_factor.mean()), per_code, per_factor


def _fit_probe(probe, x, t, folds, seed, trees):
    if probe == "lasso":
        return fit_lasso(x, t, folds, seed=seed)
    return fit_forest(x, t, folds, seed=seed, trees=trees)


def dci_regression(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    probe: str = "lasso",
    formula: str = "disentanglement_lib",
    folds: int = CV_FOLDS,
    rf_trees: int = RF_TREES,
    n_jobs: int = -1,
) -> DCIResult:
    """DCI with the review's Lasso or random-forest regression probes (all rows, CV-chosen hyper-parameters).

    ``formula`` scores D and C from the importances as disentanglement_lib (the default profile) or
    as the review (``zaidi2020``). Informativeness (train = test: the probe is scored on its own rows)
    is max(1 − 12 MSE, 0) of the min-max scaled factor.
    """
    if probe not in ("lasso", "random_forest"):
        raise DisentkitError(f"unknown regression probe {probe!r}; valid: lasso, random_forest")
    if formula not in DCI_FORMULAS:
        raise DisentkitError(f"unknown DCI formula {formula!r}; valid: {', '.join(DCI_FORMULAS)}")
    z, y, names, dropped = prepare(z, y, factor_names)
    if len(z) < 2 * folds:
        raise DisentkitError(
            f"DCI ({probe}) needs at least {2 * folds} rows for {folds}-fold CV, got {len(z)}"
        )
    if z.shape[1] < 2:
        raise DisentkitError("DCI needs at least 2 dimensions (completeness is an entropy over them)")
    x, targets = minmax_scale(z), minmax_scale(y.astype(np.float64))
    tasks = [
        (_fit_probe, (probe, x, targets[:, f], folds, s, rf_trees))
        for f, s in enumerate(seeds(rng, y.shape[1]))
    ]
    # threads: coordinate descent and tree building release the GIL; processes cost more than the
    # fits. One warning filter around them (catch_warnings inside threads races on the global list).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the reference's max_iter, kept
        fits = run_parallel(tasks, n_jobs, threads=True)
    imp = np.stack([f[1] for f in fits], axis=1)
    score = dci_from_importance if formula == "disentanglement_lib" else review_dci_scores
    dis, com, per_dim, per_factor = score(imp)
    info = [float(f[0]) for f in fits]
    return DCIResult(
        disentanglement=dis,
        completeness=com,
        informativeness_train=float(np.mean(info)),
        informativeness_test=float(np.mean(info)),
        factor_names=names,
        importance_matrix=imp,
        disentanglement_per_dim=np.asarray(per_dim).tolist(),
        completeness_per_factor=np.asarray(per_factor).tolist(),
        train_accuracy_per_factor=info,
        test_accuracy_per_factor=info,
        comparable_with_published=True,
        dropped_factors=dropped,
        settings={
            "probe": probe,
            "formula": formula,
            "informativeness": "max(1 - 12 MSE, 0) on the fitted rows (min-max scaled factor)",
            "cv_folds": folds,
            "grid": {"alpha": list(LASSO_ALPHAS)}
            if probe == "lasso"
            else {"max_depth": list(RF_DEPTHS), "max_features": list(RF_FEATURES), "n_estimators": rf_trees},
            "chosen": [f[2] for f in fits],
            "rows": len(z),
            "n_jobs": n_jobs,
            "source": REVIEW_DCI,
        },
    )


# ---------------------------------------------------------------------------- DCI-ES
ES_DEPTHS = (1, 2, 3, 4, 8, 10, 12, 14, 16, 18, 20, 32)
ES_TREES = 100
DCI_ES_SOURCE = "andreinicolicioiu/DCI-ES (configs/random_forest, metrics/explitcitness.py); paper Sec. 3"


@dataclass
class DCIESResult(MetricResult):
    """DCI-ES: D, C, I of the most informative probe, explicitness E (loss-capacity curves), size S."""

    disentanglement: float
    completeness: float
    informativeness: float
    explicitness: float
    size: float
    factor_names: list[str]
    explicitness_per_factor: list[float]
    capacities: list[int]
    test_loss: np.ndarray  # capacities × K, 1 − test accuracy
    baseline_loss: list[float]
    importance_matrix: np.ndarray  # D × K, of the most informative capacity
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


#: how E turns a loss-capacity curve into a score: the paper's (area above ℓ* = 0 over
#: (c_max − c_min)·ℓ_b) or the repository's compute_explitcitness (area above the curve's own lowest
#: loss, doubled, over the same box)
ES_CONVENTIONS = ("paper", "repository")


def explicitness_from_curve(capacities, losses, baseline: float, convention: str = "paper") -> float:
    """E of one factor from its loss-capacity curve (min-so-far losses, trapezoid rule):
    ``paper`` 1 − area / ((c_max − c_min)·baseline); ``repository`` 1 − 2·(area above the lowest
    loss) / ((c_max − c_min)·baseline)."""
    if convention not in ES_CONVENTIONS:
        raise DisentkitError(f"unknown DCI-ES convention {convention!r}; valid: {', '.join(ES_CONVENTIONS)}")
    c = np.asarray(capacities, dtype=np.float64)
    running = np.minimum.accumulate(np.asarray(losses, dtype=np.float64))
    box = (c[-1] - c[0]) * baseline
    if convention == "repository":
        above = running - running.min()
        return float(1.0 - 2.0 * np.sum(0.5 * (above[1:] + above[:-1]) * np.diff(c)) / box)
    return float(1.0 - np.sum(0.5 * (running[1:] + running[:-1]) * np.diff(c)) / box)


def _forest_fit(depth, trees, seed, z_tr, y_tr, z_te, y_te):
    model = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=seed)
    model.fit(z_tr, y_tr)
    return model.feature_importances_, float(np.mean(model.predict(z_te) == y_te))


def dci_es(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    depths=ES_DEPTHS,
    n_estimators: int = ES_TREES,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
    n_jobs: int = -1,
    convention: str = "paper",
) -> DCIESResult:
    """DCI-ES with random-forest classification probes of max depth ``depths`` (capacity axis).

    Per factor and depth one forest on the train split; loss = 1 − test accuracy. E per factor from
    :func:`explicitness_from_curve` with baseline 1 − 1/classes (chance for a uniform factor), mean
    over factors. D, C (disentanglement_lib's formulas) and I (mean test accuracy) come from the depth
    with the highest mean test accuracy. S = K / D.
    """
    if convention not in ES_CONVENTIONS:
        raise DisentkitError(f"unknown DCI-ES convention {convention!r}; valid: {', '.join(ES_CONVENTIONS)}")
    depths = sorted(int(d) for d in depths)
    if len(depths) < 2 or depths[0] < 1:
        raise DisentkitError(f"DCI-ES needs at least 2 probe depths ≥ 1, got {depths}")
    z, y, names, dropped = prepare(z, y, factor_names)
    z_tr, y_tr, z_te, y_te = split(z, y, n_train, n_test)
    k = y.shape[1]
    seed_list = seeds(rng, k)
    tasks = [
        (_forest_fit, (d, n_estimators, seed_list[f], z_tr, y_tr[:, f], z_te, y_te[:, f]))
        for d in depths
        for f in range(k)
    ]
    fits = run_parallel(tasks, n_jobs, threads=True)  # tree building releases the GIL
    acc = np.array([f[1] for f in fits]).reshape(len(depths), k)
    loss = 1.0 - acc
    baseline = [1.0 - 1.0 / len(np.unique(col)) for col in y.T]
    per_factor = [explicitness_from_curve(depths, loss[:, f], baseline[f], convention) for f in range(k)]
    best = int(np.argmax(acc.mean(axis=1)))
    imp = np.stack([fits[best * k + f][0] for f in range(k)], axis=1)
    dis, com, _, _ = dci_from_importance(imp)
    return DCIESResult(
        disentanglement=dis,
        completeness=com,
        informativeness=float(acc[best].mean()),
        explicitness=float(np.mean(per_factor)),
        size=k / z.shape[1],
        factor_names=names,
        explicitness_per_factor=per_factor,
        capacities=depths,
        test_loss=loss,
        baseline_loss=baseline,
        importance_matrix=imp,
        dropped_factors=dropped,
        settings={
            "probe": f"RandomForestClassifier(n_estimators={n_estimators}, max_depth=capacity)",
            "capacities": depths,
            "best_capacity": depths[best],
            "loss": "1 - test accuracy; baseline 1 - 1/classes; lowest loss l* = 0",
            "explicitness_convention": convention,
            "n_train": len(z_tr),
            "n_test": len(z_te),
            "n_jobs": n_jobs,
            "source": DCI_ES_SOURCE,
        },
    )
