"""Per-pair baselines for the newer metrics, written the way their reference code runs, and the suite timing.

Used by ``bench_metrics.py``: each baseline loops as its reference does (one entropy or estimator call
per factor-code pair, a Python loop over factor values, fits one after the other) and must give the
value disentkit gives on the same arrays.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import minmax_scale

from benchmarks.timing import markdown_table
from disentkit.metrics import (
    dci_es,
    dcimig,
    evaluate_representation,
    infomec,
    irs,
    jemmig,
    mig_sup,
    z_max_variance,
)
from disentkit.metrics._common import seeds, split
from disentkit.metrics.probes import (
    ES_DEPTHS,
    LASSO_ALPHAS,
    RF_DEPTHS,
    RF_FEATURES,
    dci_regression,
    explicitness_from_curve,
)
from disentkit.metrics.review_probes import review_sap, z_diff
from disentkit.metrics.suite import DEFAULT_ARRAY_METRICS


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# ---------------------------------------------------------------------------- information metrics
def entropy(*columns) -> float:
    """pyitlib's way: one np.unique over the stacked outcomes per call (nats)."""
    _, counts = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def naive_information(z, y, n_bins=20):
    """Histogram-binned codes, then MI, H(code), H(factor), H(factor, code) pair by pair."""
    codes = np.stack([np.digitize(c, np.histogram(c, n_bins)[1][:-1]) for c in z.T], axis=1)
    d, k = z.shape[1], y.shape[1]
    h_c = [entropy(codes[:, c]) for c in range(d)]
    h_f = [entropy(y[:, f]) for f in range(k)]
    joint = np.array([[entropy(y[:, f], codes[:, c]) for c in range(d)] for f in range(k)])
    mi = np.array([[h_f[f] + h_c[c] - joint[f, c] for c in range(d)] for f in range(k)])
    return np.clip(mi, 0, None), joint, h_c, h_f


def naive_mig_sup(z, y):
    mi, _, h_c, _ = naive_information(z, y)
    gaps = []
    for c in range(z.shape[1]):
        col = sorted(mi[f, c] / h_c[c] if h_c[c] > 0 else 0.0 for f in range(y.shape[1]))
        gaps.append(col[-1] - col[-2])
    return float(np.mean(gaps))


def naive_jemmig(z, y, n_bins=20):
    mi, joint, _, h_f = naive_information(z, y, n_bins)
    out = []
    for f in range(y.shape[1]):
        order = np.argsort(mi[f])
        best, second = order[-1], order[-2]
        out.append(1 - (joint[f, best] - mi[f, best] + mi[f, second]) / (h_f[f] + np.log(n_bins)))
    return float(np.mean(out))


def naive_dcimig(z, y):
    mi, _, _, h_f = naive_information(z, y)
    gaps = np.zeros_like(mi)
    for c in range(z.shape[1]):
        s = np.sort(mi[:, c])
        gaps[np.argmax(mi[:, c]), c] = s[-1] - s[-2]
    return float(sum(gaps[f].max() for f in range(y.shape[1])) / sum(h_f))


def naive_irs(z, y, q=0.99, n_bins=20):
    """disentanglement_lib's scalable_disentanglement_score loop (factors histogram-binned first)."""
    yb = np.stack([np.digitize(c, np.histogram(c, n_bins)[1][:-1]) for c in y.T.astype(float)], axis=1)
    za = z[:, z.var(axis=0) > 0]
    max_dev = np.max(np.abs(za - za.mean(axis=0)), axis=0)
    cum = np.zeros((za.shape[1], yb.shape[1]))
    for i in range(yb.shape[1]):
        values = np.unique(yb[:, i])
        for v in values:
            match = yb[:, i] == v
            cum[:, i] += np.percentile(np.abs(za[match] - za[match].mean(axis=0)), q * 100, axis=0)
        cum[:, i] /= len(values)
    scores = (1.0 - cum / max_dev[:, None]).max(axis=1)
    return float(np.average(scores, weights=max_dev))


# ---------------------------------------------------------------------------- Z-max variance
def naive_z_max_variance(z, y, rng, batch_size=200, n_train=800, n_eval=800, n_variance=10_000, thr=0.02):
    """The review's bookkeeping (tuples in dicts, a scan of every row per batch), same random draws."""
    k_count = y.shape[1]
    global_var = z[rng.permutation(len(z))[:n_variance]].var(axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= thr)
    combos = []
    for k in range(k_count):
        others = np.delete(y, k, axis=1)
        counts = {}
        for row in map(tuple, others.tolist()):
            counts[row] = counts.get(row, 0) + 1
        combos.append(sorted(c for c, n in counts.items() if n > 1))

    def votes(n_points):
        factors = rng.integers(0, k_count, size=n_points)
        out = np.zeros((z.shape[1], k_count), dtype=np.int64)
        for k in factors:
            combo = combos[k][rng.integers(len(combos[k]))]
            members = np.flatnonzero(np.all(np.delete(y, k, axis=1) == combo, axis=1))
            passes = -(-batch_size // len(members))
            rows = np.concatenate([rng.permutation(members) for _ in range(passes)])[:batch_size]
            local = z[rows][:, active].var(axis=0, ddof=1)
            out[active[np.argmax(local / global_var[active])], k] += 1
        return out

    train, evaluation = votes(n_train), votes(n_eval)
    classifier = np.argmax(train, axis=1)
    acc = evaluation[np.arange(len(train)), classifier].sum() / evaluation.sum()
    return float((acc - 1 / k_count) / (1 - 1 / k_count))


# ---------------------------------------------------------------------------- InfoMEC, probes
def naive_infomec(z, y, rng):
    """The authors' loops: scikit-learn's kNN MI (tree queries per class) once per (source, latent),
    a fitted null model per source. The tie-breaking noise is drawn as disentkit draws it (one
    ``mutual_info_classif`` preprocessing per source), so the values can be asserted equal."""
    from sklearn.feature_selection._mutual_info import _compute_mi_cd

    from disentkit.metrics.infomec_metric import _jittered

    zs = (z - z.mean(0)) / z.std(0)
    seed_list = seeds(rng, y.shape[1])
    nmi = np.empty((y.shape[1], z.shape[1]))
    for i in range(y.shape[1]):
        x = _jittered(zs, seed_list[i])
        for j in range(z.shape[1]):
            nmi[i, j] = _compute_mi_cd(x[:, j], y[:, i], 10)
        nmi[i] /= entropy(y[:, i])
    ranges = np.ptp(z, axis=0)
    pruned = nmi[:, ranges > ranges.max() / 20]
    k, a = pruned.shape
    infom = (np.mean(pruned.max(0) / pruned.sum(0)) - 1 / k) / (1 - 1 / k)
    infoc = (np.mean(pruned.max(1) / pruned.sum(1)) - 1 / a) / (1 - 1 / a)
    infoe = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for col in y.T:
            fit = LogisticRegression(C=np.inf, class_weight="balanced").fit(zs, col)
            null = LogisticRegression(C=np.inf, class_weight="balanced").fit(np.zeros_like(zs), col)
            h, h0 = log_loss(col, fit.predict_proba(zs)), log_loss(col, null.predict_proba(np.zeros_like(zs)))
            infoe.append((h0 - h) / h0)
    return float(infom), float(infoc), float(np.mean(infoe))


def naive_dci_lasso_importance(z, y):
    """The review's dci.py loop: factor by factor, alpha by alpha, 10-fold CV, refit."""
    x, t = minmax_scale(z), minmax_scale(y.astype(float))
    imp = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in range(y.shape[1]):
            best_a, best = 0, np.inf
            for a in LASSO_ALPHAS:
                mse = -cross_val_score(Lasso(alpha=a, max_iter=5000), x, t[:, f], cv=10,
                                       scoring="neg_mean_squared_error").mean()  # fmt: skip
                if mse < best:
                    best, best_a = mse, a
            imp.append(np.abs(Lasso(alpha=best_a).fit(x, t[:, f]).coef_))
    return np.stack(imp, axis=1)


def naive_dci_forest_importance(z, y, seed_list, trees=10):
    from sklearn.ensemble import RandomForestRegressor

    x, t = minmax_scale(z), minmax_scale(y.astype(float))
    imp = []
    for f in range(y.shape[1]):
        best_p, best = None, np.inf
        for md in RF_DEPTHS:
            for mf in RF_FEATURES:
                model = RandomForestRegressor(
                    n_estimators=trees, max_depth=md, max_features=mf, random_state=seed_list[f]
                )
                mse = -cross_val_score(model, x, t[:, f], cv=10, scoring="neg_mean_squared_error").mean()
                if mse < best:
                    best, best_p = mse, (md, mf)
        model = RandomForestRegressor(n_estimators=trees, max_depth=best_p[0], max_features=best_p[1],
                                      random_state=seed_list[f])  # fmt: skip
        imp.append(model.fit(x, t[:, f]).feature_importances_)
    return np.stack(imp, axis=1)


def naive_dci_es(z, y, seed_list, depths, trees):
    """Probe after probe, capacity after capacity (the DCI-ES repository trains one probe per run)."""
    from sklearn.ensemble import RandomForestClassifier

    z_tr, y_tr, z_te, y_te = split(z, y)
    e = []
    for f in range(y.shape[1]):
        losses = []
        for d in depths:
            model = RandomForestClassifier(n_estimators=trees, max_depth=d, random_state=seed_list[f]).fit(
                z_tr, y_tr[:, f]
            )
            losses.append(1 - np.mean(model.predict(z_te) == y_te[:, f]))
        e.append(explicitness_from_curve(depths, losses, 1 - 1 / len(np.unique(y[:, f]))))
    return float(np.mean(e))


# ---------------------------------------------------------------------------- sections
def naive_review_sap(z, y):
    """The review's sap.py (classification): per factor, per code, depths 1-9 by 10-fold CV, one after
    the other."""
    from sklearn.tree import DecisionTreeClassifier

    codes = minmax_scale(z)
    gaps = []
    for f in range(y.shape[1]):
        row = []
        for c in range(z.shape[1]):
            best, depth = 0, 0
            for d in range(1, 10):
                score = cross_val_score(
                    DecisionTreeClassifier(max_depth=d), codes[:, [c]], y[:, f], cv=10
                ).mean()
                if score > best:
                    best, depth = score, d
            tree = DecisionTreeClassifier(max_depth=max(depth, 1)).fit(codes[:, [c]], y[:, f])
            row.append(np.mean(tree.predict(codes[:, [c]]) == y[:, f]))
        top = sorted(row)
        gaps.append(top[-1] - top[-2])
    return float(np.mean(gaps))


def naive_z_diff(z, y, rng, batch_size=200, n_train=10_000, n_eval=5_000):
    """The review's z_diff.py as loops (a pair at a time), drawing what disentkit draws, in its order."""
    values = []
    for f in range(y.shape[1]):
        vals, counts = np.unique(y[:, f], return_counts=True)
        values.append([np.flatnonzero(y[:, f] == v) for v, n in zip(vals, counts, strict=True) if n > 1])

    def points(n):
        targets = rng.integers(0, y.shape[1], size=n)
        inputs = np.empty((n, z.shape[1]))
        for i, f in enumerate(targets):
            groups = values[f]
            chosen = rng.integers(0, len(groups), size=batch_size)
            sizes = np.array([len(groups[v]) for v in chosen])
            first = rng.integers(0, sizes)
            shift = rng.integers(1, sizes)
            diffs = [np.abs(z[groups[v][a]] - z[groups[v][(a + s) % len(groups[v])]])
                     for v, a, s in zip(chosen, first, shift, strict=True)]  # fmt: skip
            inputs[i] = np.mean(diffs, axis=0)
        return inputs, targets

    x_train, t_train = points(n_train)
    x_eval, t_eval = points(n_eval)
    model = LogisticRegression(max_iter=10_000).fit(x_train, t_train)
    k = y.shape[1]
    return (model.score(x_eval, t_eval) - 1 / k) / (1 - 1 / k)


def bench_new_metrics(name, z, y) -> list[list[object]]:
    import os

    rows = []

    def row(what, fast, slow, check, note="same value asserted"):
        t_ours, ours = timed(fast)
        t_ref, ref = timed(slow)
        check(ours, ref)
        rows.append([name, what, t_ours, t_ref, f"{t_ref / t_ours:.1f}×", note])

    def close(a, b, tol=1e-12):
        assert np.allclose(a, b, rtol=0, atol=tol), (a, b)

    row("MIG-sup", lambda: mig_sup(z, y).mig_sup, lambda: naive_mig_sup(z, y), close)
    row("JEMMIG", lambda: jemmig(z, y).jemmig, lambda: naive_jemmig(z, y), close)
    row("DCIMIG", lambda: dcimig(z, y).dcimig, lambda: naive_dcimig(z, y), close)
    row("IRS (q 0.99, binned factors)", lambda: irs(z, y).irs, lambda: naive_irs(z, y), close)
    row(
        "Z-max variance",
        lambda: z_max_variance(z, y, rng=np.random.default_rng(0)).z_max_variance,
        lambda: naive_z_max_variance(z, y, np.random.default_rng(0)),
        close,
        "same value asserted (same random draws)",
    )
    row(
        "InfoMEC (InfoM, InfoC, InfoE)",
        lambda: (lambda r: (r.infom, r.infoc, r.infoe))(
            infomec(z, y, rng=np.random.default_rng(0), n_jobs=-1)
        ),
        lambda: naive_infomec(z, y, np.random.default_rng(0)),
        lambda a, b: close(a, b, 1e-12),
        "same values asserted (baseline: scikit-learn's tree-query estimator per pair)",
    )
    row(
        "DCI, Lasso probe (importances)",
        lambda: dci_regression(z, y, rng=np.random.default_rng(0), probe="lasso").importance_matrix,
        lambda: naive_dci_lasso_importance(z, y),
        lambda a, b: close(a, b, 1e-12),
        "same importance matrix asserted",
    )
    if os.environ.get("BENCH_METRICS_RF", "1") != "0":
        row(
            "DCI, random-forest probe (importances)",
            lambda: (
                dci_regression(z, y, rng=np.random.default_rng(0), probe="random_forest").importance_matrix
            ),
            lambda: naive_dci_forest_importance(z, y, seeds(np.random.default_rng(0), y.shape[1])),
            lambda a, b: close(a, b, 1e-12),
            "same importance matrix asserted",
        )
    row(
        "Z-diff",
        lambda: z_diff(z, y, rng=np.random.default_rng(0)).z_diff,
        lambda: naive_z_diff(z, y, np.random.default_rng(0)),
        close,
        "same value asserted (same random draws)",
    )
    if os.environ.get("BENCH_METRICS_SAP_TREES", "1") != "0":
        row(
            "SAP, the review's trees (zaidi2020)",
            lambda: review_sap(z, y, n_jobs=-1).sap,
            lambda: naive_review_sap(z, y),
            close,
            "same value asserted; (factor, code) pairs in parallel",
        )
    trees = int(os.environ.get("BENCH_METRICS_ES_TREES", "10"))
    row(
        f"DCI-ES explicitness ({len(ES_DEPTHS)} depths, {trees} trees per forest)",
        lambda: dci_es(z, y, rng=np.random.default_rng(0), n_estimators=trees).explicitness,
        lambda: naive_dci_es(z, y, seeds(np.random.default_rng(0), y.shape[1]), ES_DEPTHS, trees),
        close,
        "same value asserted; the default is 100 trees",
    )
    return rows


def bench_suite(name, z, y) -> str:
    """The whole default suite once (exact GBT DCI included), with the suite's own per-metric seconds."""
    total, out = timed(lambda: evaluate_representation(z, y, rng=np.random.default_rng(0)))
    rows = [[metric, seconds] for metric, seconds in out["seconds"].items()]
    rows.append(["total (evaluate_representation, end to end)", total])
    return (
        f"Default suite on the {name}-shaped 15,000 × 10 sample "
        f"(`evaluate_representation(z, y, rng=...)`, metrics {', '.join(DEFAULT_ARRAY_METRICS)}; n_jobs -1). "
        f"Seconds per metric are measured inside the suite: shared work is charged to the first metric "
        f"stored after it (the GBT fits to `dci`, OMES to `omes`).\n\n"
        + markdown_table(["metric", "seconds"], rows)
    )
