"""Metric suite timings against the naive baselines, measured in the same run.

On a 15,000 × 10 representation with dSprites-shaped factors (3, 6, 40, 32, 32) and Shapes3D-shaped
factors (10, 10, 10, 8, 4, 15):

* OMES matched-sample end to end vs the quadratic pairing of the authors' release (re-implemented:
  every sample scans all others for partners; timed on a subset and extrapolated as N²);
* DCI + GBT downstream accuracy, exact mode (one fit per factor, shared, parallel) vs
  disentanglement_lib's way (one GradientBoostingClassifier per factor, sequentially, and again for
  the downstream task) — values asserted identical; the fast mode (histogram GBT) beside it;
* MIG, SAP, modularity, the unsupervised MI vs disentanglement_lib's loops (values asserted equal).

* the metrics of Zaidi et al.'s review (MIG-sup, JEMMIG, DCIMIG, IRS, Z-max variance), InfoMEC, DCI
  with Lasso / random-forest probes and DCI-ES vs per-pair baselines written the references' way
  (one entropy / estimator call per factor-code pair, Python loops over groups, sequential fits);
  values asserted equal;
* the whole default suite (exact GBT DCI included), total and per metric (the suite's ``seconds``).

Environment: ``BENCH_METRICS_SHAPES=dsprites,shapes3d`` picks the shapes; ``BENCH_METRICS_PARTS``
(default ``fast,gbt,new,suite``) the parts; ``BENCH_METRICS_GBT=0`` skips the (minutes-long) exact GBT
part; ``BENCH_METRICS_RF=0`` the random-forest DCI (1,200 cross-validation fits per run);
``BENCH_METRICS_SAP_TREES=0`` the review's SAP (4,500 tree fits on the dSprites-shaped sample).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import sklearn.metrics
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.svm import LinearSVC

from benchmarks.metrics_baselines import bench_new_metrics, bench_suite
from benchmarks.timing import best_of, markdown_table
from disentkit.metrics import classifier_scores, mig, modularity_explicitness, omes, sap
from disentkit.metrics._common import seeds
from disentkit.metrics.information import discrete_mutual_info, histogram_discretize
from disentkit.metrics.omes_metric import OMESSettings, omes_from_matrix

SHAPES = {"dsprites": (3, 6, 40, 32, 32), "shapes3d": (10, 10, 10, 8, 4, 15)}
N, D = 15_000, 10
NAIVE_OMES_SUBSET = 3_000


def representation(sizes, seed=0):
    """Labels of the given shape and a 10-d code: one noisy dimension per factor, the rest mixed/noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, sizes, size=(N, len(sizes)))
    scaled = y / np.asarray(sizes)
    z = np.empty((N, D))
    z[:, : len(sizes)] = scaled + 0.05 * rng.normal(size=scaled.shape)
    z[:, len(sizes) :] = scaled[:, :1] * 0.3 + rng.normal(size=(N, D - len(sizes)))
    return z, y


# ---------------------------------------------------------------------------- naive baselines
def naive_omes(z, y, rng):
    """The release's way: for every sample, scan all samples for its group, pair, then loop S."""
    n, k = y.shape
    pairs = []
    for f in range(k):
        others = np.delete(np.arange(k), f)
        found = []
        for i in range(n):  # quadratic: each member re-scans the whole sample for its group
            members = np.flatnonzero(np.all(y[:, others] == y[i, others], axis=1))
            _, first = np.unique(y[members], axis=0, return_index=True)
            members = rng.permutation(members[first])
            found += [(members[2 * j], members[2 * j + 1]) for j in range(len(members) // 2)]
        pairs.append(np.array([p for p in found if y[p[0], f] != y[p[1], f]]).reshape(-1, 2))
    s = np.zeros((z.shape[1], k))
    for f, p in enumerate(pairs):
        for j in range(z.shape[1]):
            s[j, f] = 1 - abs(np.corrcoef(z[p[:, 0], j], z[p[:, 1], j])[0, 1])
    inactive = z.std(axis=0, ddof=1) < 0.05
    return omes_from_matrix(s, inactive, [str(i) for i in range(k)], OMESSettings(), [len(p) for p in pairs])


def reference_mi(z, y, n_bins=20):
    """disentanglement_lib: digitize per dimension, sklearn mutual_info_score per (dimension, factor)."""
    codes = np.zeros_like(z)
    for j in range(z.shape[1]):
        codes[:, j] = np.digitize(z[:, j], np.histogram(z[:, j], n_bins)[1][:-1])
    return np.array(
        [
            [sklearn.metrics.mutual_info_score(y[:, k], codes[:, j]) for k in range(y.shape[1])]
            for j in range(z.shape[1])
        ]
    )


def reference_mig(z, y):
    m = reference_mi(z, y)
    h = np.array([sklearn.metrics.mutual_info_score(c, c) for c in y.T])
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


def reference_sap(z, y, seed_list):
    z_tr, y_tr, z_te, y_te = z[:10_000], y[:10_000], z[10_000:], y[10_000:]
    m = np.zeros((z.shape[1], y.shape[1]))
    for j in range(z.shape[1]):
        for k in range(y.shape[1]):
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed_list[k])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(z_tr[:, j : j + 1], y_tr[:, k])
            m[j, k] = np.mean(clf.predict(z_te[:, j : j + 1]) == y_te[:, k])
    top = np.sort(m, axis=0)
    return float(np.mean(top[-1] - top[-2]))


def reference_gbt(z, y, seed_list):
    """One GradientBoostingClassifier per factor, one after the other: (importance, test accuracy)."""
    z_tr, y_tr, z_te, y_te = z[:10_000], y[:10_000], z[10_000:], y[10_000:]
    imp, acc = [], []
    for k, seed in enumerate(seed_list):
        model = GradientBoostingClassifier(random_state=seed).fit(z_tr, y_tr[:, k])
        imp.append(np.abs(model.feature_importances_))
        acc.append(np.mean(model.predict(z_te) == y_te[:, k]))
    return np.stack(imp, axis=1), acc


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# ---------------------------------------------------------------------------- sections
def bench_fast_metrics(name, z, y) -> list[list[object]]:
    rows = []
    ours = best_of(lambda: omes(z, y, rng=np.random.default_rng(0)), repeat=3)
    # t(n) = a·n + b·n² fitted on two subsets: per-sample Python overhead plus the quadratic scan
    n1, n2 = NAIVE_OMES_SUBSET // 2, NAIVE_OMES_SUBSET
    t1, t2 = (
        best_of(lambda n=n: naive_omes(z[:n], y[:n], np.random.default_rng(0)), repeat=1) for n in (n1, n2)
    )
    b = max((t2 / n2 - t1 / n1) / (n2 - n1), 0.0)
    naive = (t2 / n2 - b * n2) * N + b * N * N
    rows.append([name, "OMES matched-sample, end to end", ours, naive, f"{naive / ours:.0f}×",
                 f"baseline timed on {n1} and {n2} rows ({t1:.2f} s, {t2:.2f} s), extrapolated as a·n + b·n²"])  # fmt: skip
    ref_val = reference_mig(z, y)
    assert abs(mig(z, y).mig - ref_val) < 1e-12
    t_ours = best_of(lambda: mig(z, y), repeat=3)
    t_ref = best_of(lambda: reference_mig(z, y), repeat=1)
    rows.append([name, "MIG", t_ours, t_ref, f"{t_ref / t_ours:.0f}×", "same value asserted"])
    codes = histogram_discretize(z)  # the labels side of both: MI between every pair of dimensions
    # both sides bin z inside the timing (the baseline's np.digitize loop is part of its cost)
    t_ours = best_of(lambda: discrete_mutual_info(histogram_discretize(z), codes), repeat=3)
    t_ref = best_of(lambda: reference_mi(z, codes), repeat=1)
    rows.append(
        [name, "MI matrix D×D (modularity / unsupervised)", t_ours, t_ref, f"{t_ref / t_ours:.0f}×", ""]
    )
    seed_list = seeds(np.random.default_rng(0), y.shape[1])
    t_ours, ours_sap = timed(lambda: sap(z, y, rng=np.random.default_rng(0), n_jobs=-1))
    t_ref, ref_sap = timed(lambda: reference_sap(z, y, seed_list))
    assert abs(ours_sap.sap - ref_sap) < 1e-12
    rows.append(
        [name, "SAP (parallel over factors)", t_ours, t_ref, f"{t_ref / t_ours:.1f}×", "same value asserted"]
    )
    t_par, _ = timed(lambda: modularity_explicitness(z, y, rng=np.random.default_rng(0), n_jobs=-1))
    t_seq, _ = timed(lambda: modularity_explicitness(z, y, rng=np.random.default_rng(0), n_jobs=1))
    rows.append(
        [
            name,
            "modularity + explicitness (parallel vs sequential fits)",
            t_par,
            t_seq,
            f"{t_seq / t_par:.1f}×",
            "",
        ]
    )
    return rows


def bench_gbt(name, z, y) -> list[list[object]]:
    rng_seed = 0
    seed_list = seeds(np.random.default_rng(rng_seed), y.shape[1])
    t_ours, (dci, down) = timed(
        lambda: classifier_scores(z, y, rng=np.random.default_rng(rng_seed), classifier="gbt", n_jobs=-1)
    )
    t_ref1, (imp, acc) = timed(lambda: reference_gbt(z, y, seed_list))  # DCI pass
    t_ref2, (_, acc2) = timed(lambda: reference_gbt(z, y, seed_list))  # downstream pass, again
    assert np.array_equal(imp, dci.importance_matrix) and acc == dci.test_accuracy_per_factor == acc2
    assert down.test_accuracy_full == acc
    t_ref = t_ref1 + t_ref2
    t_fast, _ = timed(
        lambda: classifier_scores(z, y, rng=np.random.default_rng(rng_seed), classifier="hgb", n_jobs=-1)
    )
    return [
        [name, "DCI + GBT accuracy, exact (shared fits, parallel)", t_ours, t_ref, f"{t_ref / t_ours:.1f}×",
         "identical importances and accuracies asserted"],
        [name, "DCI + GBT accuracy, fast (histogram GBT; not comparable)", t_fast, t_ref, f"{t_ref / t_fast:.0f}×",
         f"{t_ours / t_fast:.0f}× vs our exact mode"],
    ]  # fmt: skip


def run() -> str:
    shapes = os.environ.get("BENCH_METRICS_SHAPES", "dsprites,shapes3d").split(",")
    wanted = os.environ.get("BENCH_METRICS_PARTS", "fast,gbt,new,suite").split(",")
    if os.environ.get("BENCH_METRICS_GBT", "1") == "0":
        wanted = [p for p in wanted if p != "gbt"]
    parts = {"fast": bench_fast_metrics, "gbt": bench_gbt, "new": bench_new_metrics}
    header = ["factors", "what", "disentkit (s)", "baseline (s)", "ratio", "note"]
    rows, suites = [], []
    for name in shapes:
        z, y = representation(SHAPES[name])
        for part in (p for p in wanted if p in parts):
            rows += parts[part](name, z, y)
            print(markdown_table(header, rows), flush=True)
        if "suite" in wanted:
            suites.append(bench_suite(name, z, y))
            print(suites[-1], flush=True)
    table = markdown_table(header, rows) if rows else ""
    return (
        f"15,000 × 10 representations; baselines are disentanglement_lib's / the review's / the authors' "
        f"loops, re-implemented and run in the same process (parts: {', '.join(wanted)}; shapes: "
        f"{', '.join(shapes)}). {os.cpu_count()} cores; timings on a shared machine are noisy.\n\n"
        f"{table}\n\n" + "\n\n".join(suites) + "\n"
    )
