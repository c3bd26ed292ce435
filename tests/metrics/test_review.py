"""MIG-sup, JEMMIG, DCIMIG, the review's MIG and modularity, IRS, Z-max variance.

Each fast implementation is checked against a per-pair brute force written here from the paper's
formula (Counter-based entropies in bits, explicit loops), plus the edge cases.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from disentkit.errors import DisentkitError
from disentkit.metrics import (
    dcimig,
    irs,
    jemmig,
    mig_sup,
    review_mig,
    review_modularity,
    z_max_variance,
    z_min_variance,
)
from disentkit.metrics.review import discretize, group_quantile


def sample(n=600, sizes=(3, 5, 4), seed=0, extra=2, noise=0.1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, sizes, size=(n, len(sizes)))
    z = np.c_[y / np.asarray(sizes) + noise * rng.normal(size=y.shape), rng.normal(size=(n, extra))]
    return z, y


# ---------------------------------------------------------------------------- brute force
def entropy(*columns) -> float:
    """Joint entropy in bits of the given label columns."""
    counts = Counter(zip(*(c.tolist() for c in columns), strict=True))
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def mutual_info(a, b) -> float:
    return entropy(a) + entropy(b) - entropy(a, b)


def brute_bins(z, n_bins):
    """Min-max scale then count the edges i/n_bins at or below each value (the review's binning)."""
    out = np.zeros(z.shape, dtype=int)
    for j in range(z.shape[1]):
        lo, hi = z[:, j].min(), z[:, j].max()
        for i, v in enumerate(z[:, j]):
            scaled = (v - lo) / (hi - lo) if hi > lo else 0.0
            out[i, j] = sum(scaled >= e / n_bins for e in range(n_bins)) - 1
    return out


def brute_scores(z, y, n_bins=10):
    codes = brute_bins(z, n_bins)
    d, k = z.shape[1], y.shape[1]
    mi = [[mutual_info(y[:, f], codes[:, c]) for c in range(d)] for f in range(k)]
    h_code = [entropy(codes[:, c]) for c in range(d)]
    h_fac = [entropy(y[:, f]) for f in range(k)]
    nmi = [[mi[f][c] / h_code[c] if h_code[c] > 0 else 0.0 for c in range(d)] for f in range(k)]
    out = {}
    gaps = []
    for c in range(d):
        col = sorted(nmi[f][c] for f in range(k))
        gaps.append(col[-1] - col[-2])
    out["mig_sup"] = sum(gaps) / d
    jem = []
    for f in range(k):
        order = sorted(range(d), key=lambda c, f=f: mi[f][c])
        best, second = order[-1], order[-2]
        joint = entropy(y[:, f], codes[:, best])
        jem.append(1 - (joint - mi[f][best] + mi[f][second]) / (h_fac[f] + math.log2(n_bins)))
    out["jemmig"] = sum(jem) / k
    best_gap = [0.0] * k
    for c in range(d):
        col = [mi[f][c] for f in range(k)]
        top = max(range(k), key=lambda f, col=col: col[f])
        s = sorted(col)
        best_gap[top] = max(best_gap[top], s[-1] - s[-2])
    out["dcimig"] = sum(best_gap) / sum(h_fac)
    out["mig"] = sum(sorted(nmi[f])[-1] - sorted(nmi[f])[-2] for f in range(k)) / k
    mod = []
    for c in range(d):
        col = [mi[f][c] for f in range(k)]
        top = max(col)
        mod.append(1 - (sum(v * v for v in col) - top * top) / (top * top * (k - 1)) if top > 0 else 0.0)
    out["modularity"] = sum(mod) / d
    return out


def ours(z, y):
    kw = {"binning": "minmax", "n_bins": 10}
    return {
        "mig_sup": mig_sup(z, y, **kw).mig_sup,
        "jemmig": jemmig(z, y, **kw).jemmig,
        "dcimig": dcimig(z, y, **kw).dcimig,
        "mig": review_mig(z, y).mig,
        "modularity": review_modularity(z, y).modularity,
    }


# ---------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_information_metrics_match_brute_force(seed):
    z, y = sample(n=400, sizes=[(3, 5, 4), (2, 7), (4, 3, 3, 2)][seed], seed=seed)
    expected = brute_scores(z, y)
    got = ours(z, y)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_minmax_binning_matches_the_formula_and_histogram_is_disentanglement_libs():
    z, _ = sample(n=300)
    z = np.c_[z, np.full(300, 4.0)]  # a constant column: minmax_scale maps it to 0
    np.testing.assert_array_equal(discretize(z, "minmax", 10), brute_bins(z, 10))
    assert discretize(z, "minmax", 10).max() == 9 and discretize(z, "histogram", 20).max() == 19
    with pytest.raises(DisentkitError, match="unknown binning"):
        mig_sup(*sample(), binning="quantile")


def test_aligned_beats_mixed():
    z, y = sample(n=900, extra=0, noise=0.02)
    mixed = z @ np.array([[1.0, 1.0, 0.2], [1.0, -1.0, 0.5], [0.3, 0.5, 1.0]])
    for fn, key in ((mig_sup, "mig_sup"), (jemmig, "jemmig"), (dcimig, "dcimig")):
        assert getattr(fn(z, y), key) > getattr(fn(mixed, y), key) + 0.1, key
    assert irs(z, y).irs > irs(mixed, y).irs


# ---------------------------------------------------------------------------- edge cases
def test_permuted_latents_change_nothing():
    z, y = sample(seed=3)
    perm = np.random.default_rng(0).permutation(z.shape[1])
    for name, value in ours(z, y).items():
        assert ours(z[:, perm], y)[name] == pytest.approx(value, abs=1e-12), name
    assert irs(z[:, perm], y).irs == pytest.approx(irs(z, y).irs, abs=1e-12)


def test_duplicated_latent():
    z, y = sample(seed=4, extra=0, noise=0.02)
    dup = np.c_[z, z[:, 0]]
    # the copy of factor 0's code becomes its runner-up: factor 0's JEMMIG gap closes
    assert jemmig(dup, y).jemmig_per_factor[0] < jemmig(z, y).jemmig_per_factor[0] - 0.1
    assert dcimig(dup, y).dcimig == pytest.approx(dcimig(z, y).dcimig)  # best gap per factor unchanged
    assert mig_sup(dup, y).mig_sup_per_code[-1] == pytest.approx(mig_sup(z, y).mig_sup_per_code[0])
    # IRS of every dimension duplicated: the same weighted mean
    assert irs(np.c_[z, z], y).irs == pytest.approx(irs(z, y).irs)


def test_constant_code_and_one_valued_factor():
    z, y = sample(seed=5)
    z[:, 1] = 2.5
    res = mig_sup(z, y)
    assert res.mig_sup_per_code[1] == 0.0 and np.isfinite(res.mig_sup)  # the reference gives NaN
    assert review_modularity(z, y).modularity_per_dim[1] == 0.0
    with pytest.warns(UserWarning, match="constant dimension"):
        r = irs(z, y)
    assert r.irs_per_dim[1] is None and 1 not in r.active_dims
    with pytest.warns(UserWarning, match="every dimension is constant"):
        assert irs(np.ones_like(z), y).irs == 0.0
    with pytest.warns(UserWarning, match="single value dropped"):
        assert len(jemmig(z, np.c_[y, np.zeros(len(y), int)]).jemmig_per_factor) == 3
    with pytest.raises(DisentkitError, match="at least 2 factors"):
        mig_sup(z, y[:, :1])


# ---------------------------------------------------------------------------- IRS
def brute_irs(z, y, q):
    active = [j for j in range(z.shape[1]) if z[:, j].var() > 0]
    za = z[:, active]
    max_dev = np.abs(za - za.mean(0)).max(0)
    cum = np.zeros((len(active), y.shape[1]))
    for f in range(y.shape[1]):
        values = sorted(set(y[:, f].tolist()))
        for v in values:
            rows = za[y[:, f] == v]
            cum[:, f] += np.percentile(np.abs(rows - rows.mean(0)), q * 100, axis=0)
        cum[:, f] /= len(values)
    scores = (1 - cum / max_dev[:, None]).max(1)
    return float(np.sum(scores * max_dev) / max_dev.sum())


@pytest.mark.parametrize("q", [1.0, 0.99, 0.5, 0.37])
def test_irs_matches_brute_force(q):
    z, y = sample(n=500, seed=6)
    assert irs(z, y, diff_quantile=q, bin_factors=False).irs == pytest.approx(brute_irs(z, y, q), abs=1e-12)


def test_group_quantile_is_numpy_percentile():
    rng = np.random.default_rng(7)
    values, groups = rng.random((300, 3)), rng.integers(0, 7, 300)
    for q in (0.99, 0.5, 0.01):
        expected = [np.percentile(values[groups == g], q * 100, axis=0) for g in range(7)]
        np.testing.assert_allclose(group_quantile(values, groups, 7, q), expected, rtol=0, atol=1e-15)


def test_irs_disentanglement_lib_bins_factors():
    z, y = sample(n=800, sizes=(3, 40), seed=8)  # 40 classes into 20 histogram bins
    binned, raw = irs(z, y, n_bins=20), irs(z, y, bin_factors=False)
    assert binned.settings["bin_factors"] and binned.irs != raw.irs
    # the reference's own sanity test: identity code near 1, zero code 0
    y2 = np.random.default_rng(0).integers(0, 10, (3000, 3))
    assert 0.9 <= irs(y2.astype(float), y2).irs <= 1.0
    with pytest.warns(UserWarning):
        assert irs(np.zeros((3000, 3)), y2).irs == 0.0


# ---------------------------------------------------------------------------- Z-max variance
def grid_codes(repeat=4, seed=0):
    """Every combination of a (3, 4, 5) grid ``repeat`` times; z = the factors (exactly)."""
    y = np.stack(np.meshgrid(*[np.arange(s) for s in (3, 4, 5)], indexing="ij"), -1).reshape(-1, 3)
    y = np.tile(y, (repeat, 1))
    return y.astype(float), y


def test_z_max_variance_known_answers():
    z, y = grid_codes()
    small = {"batch_size": 16, "n_train": 200, "n_eval": 200}
    perfect = z_max_variance(z, y, rng=np.random.default_rng(0), **small)
    assert perfect.z_max_variance == pytest.approx(1.0) and perfect.train_accuracy == 1.0
    # train accuracy recomputed from the votes with loops
    votes = perfect.votes_train
    hits = sum(max(row) for row in votes.tolist())
    assert votes.sum() == 200 and hits / 200 == perfect.train_accuracy
    perm = [2, 0, 1]
    assert z_max_variance(z[:, perm], y, rng=np.random.default_rng(0), **small).z_max_variance == 1.0
    dup = z_max_variance(np.c_[z, z[:, 0]], y, rng=np.random.default_rng(0), **small)
    assert dup.z_max_variance == 1.0  # ties go to the first of the two copies
    mixed = z @ np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.3], [0.5, 0.5, 1.0]])
    assert z_max_variance(mixed, y, rng=np.random.default_rng(0), **small).z_max_variance < 0.9
    with pytest.warns(UserWarning, match="below the std threshold"):
        assert z_max_variance(np.ones_like(z), y, rng=np.random.default_rng(0), **small).z_max_variance == 0.0


def test_z_max_variance_needs_repeated_combinations():
    rng = np.random.default_rng(0)
    y = np.arange(30)[:, None] * [1, 1]  # every row unique in the other factor
    with pytest.raises(DisentkitError, match="no two rows share"):
        z_max_variance(rng.normal(size=(30, 2)), y, rng=rng)
    with pytest.raises(DisentkitError, match="rng"):
        z_max_variance(*grid_codes(), rng=None)


def test_z_min_variance_known_answers():
    """The FactorVAE vote from the sample: a batch shares one factor's value; that factor's code is the
    one dimension without variance."""
    z, y = grid_codes()
    small = {"batch_size": 16, "n_train": 200, "n_eval": 200, "rng": np.random.default_rng(0)}
    perfect = z_min_variance(z, y, **small)
    assert perfect.z_min_variance == pytest.approx(1.0) and perfect.votes_train.sum() == 200
    np.testing.assert_array_equal(np.argmax(perfect.votes_train, axis=1), [0, 1, 2])
    assert (
        z_min_variance(z[:, [1, 2, 0]], y, **{**small, "rng": np.random.default_rng(0)}).z_min_variance == 1.0
    )
    mixed = z @ np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.3], [0.5, 0.5, 1.0]])
    assert z_min_variance(mixed, y, **{**small, "rng": np.random.default_rng(0)}).z_min_variance < 0.9
    with pytest.warns(UserWarning, match="below the std threshold"):
        assert (
            z_min_variance(np.ones_like(z), y, **{**small, "rng": np.random.default_rng(0)}).z_min_variance
            == 0
        )
