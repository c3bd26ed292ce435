"""InfoMEC, DCI with Lasso / random-forest probes, DCI-ES: brute force from the formulas + edge cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.special import digamma
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.metrics import log_loss

from disentkit.errors import DisentkitError
from disentkit.metrics import dci, dci_es, infomec
from disentkit.metrics.probes import explicitness_from_curve, fit_lasso, review_dci_scores


def sample(n=400, sizes=(3, 5, 4), seed=0, extra=1, noise=0.05):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, sizes, size=(n, len(sizes)))
    z = np.c_[y / np.asarray(sizes) + noise * rng.normal(size=y.shape), rng.normal(size=(n, extra))]
    return z, y


# ---------------------------------------------------------------------------- InfoMEC
def brute_ksg(x, labels, k=10):
    """Ross (2014) kNN MI between a continuous x and discrete labels, O(N²), nats."""
    n = len(x)
    dist = np.abs(x[:, None] - x[None, :])
    terms_k, terms_nc, terms_m = [], [], []
    for i in range(n):
        same = np.flatnonzero((labels == labels[i]) & (np.arange(n) != i))
        if len(same) == 0:
            continue
        kk = min(k, len(same))
        radius = np.sort(dist[i, same])[kk - 1]
        terms_k.append(digamma(kk))
        terms_nc.append(digamma(len(same) + 1))
        terms_m.append(digamma(np.sum(dist[i] < radius)))  # strictly inside, self included
    used = len(terms_k)
    return max(0.0, digamma(used) + np.mean(terms_k) - np.mean(terms_nc) - np.mean(terms_m))


def brute_infomec_scores(nmi, active):
    pruned = nmi[:, active]
    k, a = pruned.shape
    m = np.mean([pruned[:, j].max() / pruned[:, j].sum() for j in range(a)])
    c = np.mean([pruned[i].max() / pruned[i].sum() for i in range(k)])
    return (m - 1 / k) / (1 - 1 / k), (c - 1 / a) / (1 - 1 / a)


def test_infomec_matches_brute_force():
    z, y = sample(n=300, noise=0.3)
    res = infomec(z, y, rng=np.random.default_rng(0))
    zs = (z - z.mean(0)) / z.std(0)
    for i in range(y.shape[1]):
        p = np.bincount(y[:, i]) / len(y)
        h = -np.sum(p[p > 0] * np.log(p[p > 0]))
        for j in range(z.shape[1]):
            assert res.nmi[i, j] == pytest.approx(brute_ksg(zs[:, j], y[:, i]) / h, abs=1e-9)
    ranges = z.max(0) - z.min(0)
    active = ranges > ranges.max() / 20
    m, c = brute_infomec_scores(res.nmi, active)
    assert res.infom == pytest.approx(m) and res.infoc == pytest.approx(c)


def test_sorted_knn_mi_is_scikit_learns_estimate():
    """Same scaling, noise and neighbour counts as mutual_info_classif (its tree path: classes of
    more than 2k + 1 rows; below that it uses dot-product distances, which differ in the last bits)."""
    from sklearn.feature_selection import mutual_info_classif

    from disentkit.metrics.infomec_metric import _mi_column, standardise

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 800)
    z = np.c_[y + rng.normal(size=800), rng.normal(size=800), np.round(rng.normal(size=800), 1)]  # ties
    zs = standardise(z)
    for k in (3, 10):
        expected = mutual_info_classif(zs, y, n_neighbors=k, random_state=7)
        np.testing.assert_allclose(_mi_column(zs, y, k, 7), expected, rtol=0, atol=1e-12)


def test_infoe_null_model_is_log_classes():
    """The reference fits the balanced null model; its optimum is the uniform prediction."""
    _, y = sample(n=500, sizes=(3, 7))
    for col in y.T:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            null = LogisticRegression(C=np.inf, class_weight="balanced").fit(np.zeros((len(col), 2)), col)
        assert log_loss(col, null.predict_proba(np.zeros((len(col), 2)))) == pytest.approx(
            math.log(len(np.unique(col))), abs=1e-4
        )


def test_infomec_known_answers_and_edge_cases():
    z, y = sample(n=600, extra=0, noise=0.02)
    good = infomec(z, y, rng=np.random.default_rng(0))
    assert good.infom > 0.8 and good.infoc > 0.8 and good.infoe > 0.8
    mixed = z @ np.array([[1.0, 1.0, 0.2], [1.0, -1.0, 0.5], [0.3, 0.5, 1.0]])
    bad = infomec(mixed, y, rng=np.random.default_rng(0))
    assert bad.infom < good.infom - 0.2
    perm = infomec(z[:, [2, 0, 1]], y, rng=np.random.default_rng(0))
    assert perm.infom == pytest.approx(good.infom, abs=1e-6) and perm.infoe == pytest.approx(
        good.infoe, abs=1e-6
    )
    dup = infomec(np.c_[z, z[:, 0]], y, rng=np.random.default_rng(0))
    assert dup.infoc < good.infoc - 0.1  # factor 0 now spread over two latents
    const = infomec(np.c_[z, np.full(len(z), 3.0)], y, rng=np.random.default_rng(0))
    assert 3 not in const.active_latents and const.infom == pytest.approx(good.infom, abs=1e-6)
    with pytest.warns(UserWarning, match="single value dropped"):
        infomec(z, np.c_[y, np.ones(len(y), int)], rng=np.random.default_rng(0))
    with pytest.raises(DisentkitError, match="at least 2 factors"):
        infomec(z, y[:, :1], rng=np.random.default_rng(0))


# ---------------------------------------------------------------------------- DCI, regression probes
def brute_review_dci(imp):
    """The review's D and C, written out per code / factor (including its stop at a zero code)."""
    d, k = imp.shape
    dis = [0.0] * d
    for c in range(d):
        rho = imp[c].sum()
        if rho == 0:
            break
        dis[c] = 1 + sum(p / rho * math.log(p / rho, k) for p in imp[c] if p > 0)
    weights = imp.sum(1) / imp.sum()
    com = []
    for f in range(k):
        col = imp[:, f] / imp[:, f].sum() if imp[:, f].sum() else np.full(d, 1 / d)
        com.append(1 + sum(p * math.log(p, d) for p in col if p > 0))
    return float(np.dot(dis, weights)), float(np.mean(com))


def test_review_dci_formula_matches_brute_force():
    rng = np.random.default_rng(0)
    for imp in (rng.random((5, 3)), np.r_[rng.random((2, 3)), np.zeros((1, 3)), rng.random((2, 3))]):
        imp[0, 1] = 0.0
        d, c, _, _ = review_dci_scores(imp)
        bd, bc = brute_review_dci(imp)
        assert d == pytest.approx(bd, abs=1e-12) and c == pytest.approx(bc, abs=1e-12)
    # the stop: a zero-importance first code zeroes every code's disentanglement
    assert review_dci_scores(np.r_[np.zeros((1, 3)), np.eye(3)])[0] == 0.0


def test_lasso_probe_is_the_cv_argmin():
    z, y = sample(n=200)
    x = (z - z.min(0)) / (z.max(0) - z.min(0))
    t = y[:, 0] / y[:, 0].max()
    info, imp, chosen = fit_lasso(x, t)
    folds = np.array_split(np.arange(200), 10)
    mse = {}
    for a in (0.0001, 0.001, 0.01, 0.1, 0.2, 0.4, 0.8, 1.0):
        errs = []
        for test in folds:
            train = np.setdiff1d(np.arange(200), test)
            m = Lasso(alpha=a, max_iter=5000).fit(x[train], t[train])
            errs.append(np.mean((m.predict(x[test]) - t[test]) ** 2))
        mse[a] = np.mean(errs)
    assert chosen["alpha"] == min(mse, key=mse.get)
    model = Lasso(alpha=chosen["alpha"]).fit(x, t)
    np.testing.assert_allclose(imp, np.abs(model.coef_))
    assert info == pytest.approx(max(0.0, 1 - 12 * np.mean((model.predict(x) - t) ** 2)))


@pytest.mark.parametrize("probe", ["lasso", "random_forest"])
def test_dci_probes_aligned_beats_mixed(probe):
    z, y = sample(n=300, extra=0, noise=0.02)
    mixed = z @ np.array([[1.0, 1.0, 0.2], [1.0, -1.0, 0.5], [0.3, 0.5, 1.0]])
    kw = {"rng": np.random.default_rng(0), "probe": probe, "n_jobs": 1}
    if probe == "random_forest":
        kw["folds"] = 3
    good, bad = dci(z, y, **kw), dci(mixed, y, **kw)
    assert good.disentanglement > 0.8 > bad.disentanglement
    assert good.settings["probe"] == probe and len(good.settings["chosen"]) == 3
    perm = dci(z[:, [1, 2, 0]], y, **kw)  # same fits up to solver tolerance / the forest's feature draws
    np.testing.assert_allclose(perm.importance_matrix, good.importance_matrix[[1, 2, 0]], atol=0.02)


def test_dci_probe_edge_cases():
    z, y = sample(n=200)
    z[:, 3] = 1.0  # constant code: zero importance, disentanglement_lib's formula still finite
    res = dci(z, y, rng=np.random.default_rng(0), probe="lasso", n_jobs=1)
    assert res.importance_matrix[3].sum() == 0 and np.isfinite(res.disentanglement)
    with pytest.raises(DisentkitError, match="unknown regression probe"):
        dci(z, y, rng=np.random.default_rng(0), probe="svm")
    with pytest.raises(DisentkitError, match="rows for 10-fold"):
        dci(z[:15], y[:15], rng=np.random.default_rng(0), probe="lasso")


# ---------------------------------------------------------------------------- DCI-ES
def test_explicitness_from_curve():
    caps = [1, 2, 4, 8]
    assert explicitness_from_curve(caps, [0.5, 0.5, 0.5, 0.5], 0.5) == pytest.approx(0.0)
    assert explicitness_from_curve(caps, [0, 0, 0, 0], 0.5) == pytest.approx(1.0)
    assert explicitness_from_curve([0, 1], [1.0, 0.0], 1.0) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    losses = rng.random(4)
    running = [min(losses[: i + 1]) for i in range(4)]  # the paper's min-so-far curve
    area = sum((running[i] + running[i + 1]) / 2 * (caps[i + 1] - caps[i]) for i in range(3))
    assert explicitness_from_curve(caps, losses, 0.9) == pytest.approx(1 - area / (7 * 0.9))


def test_dci_es_small():
    z, y = sample(n=450, extra=1, noise=0.02)
    mixed = z[:, :3] @ np.array([[1.0, 1.0, 0.2], [1.0, -1.0, 0.5], [0.3, 0.5, 1.0]])
    kw = {"rng": np.random.default_rng(0), "depths": (1, 2, 4), "n_estimators": 5, "n_jobs": 1}
    good = dci_es(z, y, **kw)
    assert good.size == pytest.approx(3 / 4) and good.test_loss.shape == (3, 3)
    assert good.baseline_loss == pytest.approx([2 / 3, 4 / 5, 3 / 4])
    assert good.explicitness > dci_es(mixed, y, **kw).explicitness
    assert good.disentanglement > 0.6
    with pytest.raises(DisentkitError, match="2 probe depths"):
        dci_es(z, y, rng=np.random.default_rng(0), depths=(3,))


def test_dci_es_repository_convention_is_its_formula():
    capacities, losses, baseline = [1, 2, 4, 8], [0.6, 0.65, 0.3, 0.35], 0.8
    running = [0.6, 0.6, 0.3, 0.3]  # the lowest loss so far
    above = [r - 0.3 for r in running]  # above the curve's own minimum
    area = sum((above[i] + above[i + 1]) / 2 * (capacities[i + 1] - capacities[i]) for i in range(3))
    expected = 1 - 2 * area / ((8 - 1) * baseline)
    assert explicitness_from_curve(capacities, losses, baseline, "repository") == pytest.approx(expected)
    paper_area = sum(
        (running[i] + running[i + 1]) / 2 * (capacities[i + 1] - capacities[i]) for i in range(3)
    )
    assert explicitness_from_curve(capacities, losses, baseline) == pytest.approx(
        1 - paper_area / (7 * baseline)
    )
    with pytest.raises(DisentkitError, match="convention"):
        explicitness_from_curve(capacities, losses, baseline, "nope")
