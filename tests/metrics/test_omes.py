"""OMES: spec sanity values, invariances, brute-force agreement, both pair modes, bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from disentkit.errors import DisentkitError
from disentkit.metrics import MetricWarning, matched_pairs, omes, omes_intervention
from disentkit.metrics.omes_metric import OMESSettings, _pack_labels, omes_from_matrix, pair_dissimilarity

from .conftest import ToyDataset, identity_encoder


# ---------------------------------------------------------------------------- brute force (literal spec)
def brute_scores(s: np.ndarray, alpha=0.5, pooling="avg"):
    """Literal formulas of omes.md steps 4–6 with Python loops (S: active rows only)."""
    d, k = s.shape
    o = np.zeros((d, k))
    m = np.zeros((d, k))
    for j in range(d):
        for f in range(k):
            o[j, f] = 1 - sum(abs((kk == f) - s[j, kk]) for kk in range(k)) / k
            m[j, f] = 1 - sum(abs((dd == j) - s[dd, f]) for dd in range(d)) / d
    os_, mes = np.zeros(k), np.zeros(k)
    for f in range(k):
        if pooling == "max":
            os_[f] = max(o[j, f] * s[j, f] for j in range(d))
            mes[f] = max(m[j, f] * s[j, f] for j in range(d))
        else:
            den = sum(s[j, f] for j in range(d))
            os_[f] = sum(s[j, f] ** 2 * o[j, f] for j in range(d)) / den if den else 0.0
            mes[f] = sum(s[j, f] ** 2 * m[j, f] for j in range(d)) / den if den else 0.0
    per = alpha * os_ + (1 - alpha) * mes
    return per.mean(), os_.mean(), mes.mean(), per


def brute_s(z, pairs):
    """S[j, f] = 1 − |pearson| with np.corrcoef, one dimension and factor at a time."""
    s = np.zeros((z.shape[1], len(pairs)))
    for f, p in enumerate(pairs):
        for j in range(z.shape[1]):
            a, b = z[p[:, 0], j], z[p[:, 1], j]
            s[j, f] = 0.0 if a.std() == 0 or b.std() == 0 else 1 - abs(np.corrcoef(a, b)[0, 1])
    return s


def quadratic_pair_count(y, f):
    """Pairs the spec's grouping yields for factor f, grouping distinct rows by a quadratic scan."""
    rows = np.unique(y, axis=0)
    group = list(range(len(rows)))
    for i, j in itertools.combinations(range(len(rows)), 2):
        if np.array_equal(np.delete(rows[i], f), np.delete(rows[j], f)):
            group[j] = group[i]
    sizes = np.bincount(group)
    return int((sizes // 2).sum())


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_matches_brute_force(seed, pooling):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, [3, 4, 2], size=(120, 3))
    z = rng.normal(size=(120, 4)) + y @ rng.normal(size=(3, 4))
    result = omes(z, y, rng=np.random.default_rng(seed), pooling=pooling, min_pairs=2)
    pairs = matched_pairs(y, np.random.default_rng(seed))
    s = brute_s(z, pairs)
    np.testing.assert_allclose(result.S, s, atol=1e-12)
    total, os_, mes, per = brute_scores(s, pooling=pooling)
    assert result.omes == pytest.approx(total, abs=1e-12)
    assert result.os == pytest.approx(os_, abs=1e-12)
    assert result.mes == pytest.approx(mes, abs=1e-12)
    np.testing.assert_allclose(result.omes_per_factor, per, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_matched_pairs_differ_in_exactly_one_factor(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, [3, 3, 4], size=(200, 3))
    pairs = matched_pairs(y, np.random.default_rng(seed))
    for f, p in enumerate(pairs):
        diff = y[p[:, 0]] != y[p[:, 1]]
        assert diff[:, f].all()
        assert (diff.sum(axis=1) == 1).all()
        # each distinct label vector is used at most once per factor (deduplicated, paired once)
        keys = [tuple(v) for v in y[p.ravel()]]
        assert len(keys) == len(set(keys))
        assert len(p) == quadratic_pair_count(y, f)


def test_pair_cap_subsamples():
    y = np.stack(np.meshgrid(np.arange(50), np.arange(40), indexing="ij"), -1).reshape(-1, 2)
    pairs = matched_pairs(y, np.random.default_rng(0), max_pairs=100)
    assert [len(p) for p in pairs] == [100, 100]


def test_perfect_matrix_scores_one():
    s = np.eye(4)[:, [2, 0, 3, 1]]
    r = omes_from_matrix(s, np.zeros(4, bool), list("abcd"), OMESSettings(), [100] * 4)
    assert (r.omes, r.os, r.mes) == (1.0, 1.0, 1.0)
    assert r.association == [2, 0, 3, 1] or sorted(r.association) == [0, 1, 2, 3]
    for f in range(4):
        assert s[r.association[f], f] == 1.0


def test_shared_dimension_lowers_os_and_split_factor_lowers_mes():
    base = omes_from_matrix(np.eye(3), np.zeros(3, bool), list("abc"), OMESSettings(), [50] * 3)
    shared = np.eye(3)
    shared[0, 1] = 1.0  # dimension 0 also encodes factor 1
    r = omes_from_matrix(shared, np.zeros(3, bool), list("abc"), OMESSettings(), [50] * 3)
    assert r.os_per_factor[0] < base.os_per_factor[0] and r.os_per_factor[1] < base.os_per_factor[1]
    split = np.eye(3)
    split[1, 0] = 1.0  # factor 0 spread over dimensions 0 and 1
    r = omes_from_matrix(split, np.zeros(3, bool), list("abc"), OMESSettings(), [50] * 3)
    assert r.mes_per_factor[0] < base.mes_per_factor[0]


def _wide_grid(rng, n=20_000):
    y = rng.integers(0, 40, size=(n, 3))
    return y


def test_end_to_end_sanity_values():
    rng = np.random.default_rng(0)
    y = _wide_grid(rng)
    perfect = omes(y + 0.01 * rng.normal(size=y.shape), y, rng=np.random.default_rng(1))
    assert perfect.omes > 0.9
    assert perfect.association == [0, 1, 2] and perfect.pruned_dims == [0, 1, 2]
    shared = np.c_[y[:, 0] + y[:, 1], y[:, 2]] + 0.01 * rng.normal(size=(len(y), 2))
    r = omes(shared, y, rng=np.random.default_rng(1))
    assert r.os_per_factor[0] < perfect.os_per_factor[0] - 0.2
    split = np.c_[y[:, 0], y[:, 0], y[:, 1], y[:, 2]] + 0.5 * rng.normal(size=(len(y), 4))
    r = omes(split, y, rng=np.random.default_rng(1))
    assert r.mes_per_factor[0] < perfect.mes_per_factor[0] - 0.2
    noise = omes(rng.normal(size=(len(y), 3)), y, rng=np.random.default_rng(1))
    assert np.all(np.asarray(noise.S) > 0.9)
    assert noise.omes < 0.4


def test_invariant_to_permutation_and_affine_maps(grid_sample):
    z, y = grid_sample
    z = z[:, :3] + 0.2 * np.random.default_rng(2).normal(size=(len(z), 3))
    ref = omes(z, y, rng=np.random.default_rng(5))
    perm = [2, 0, 1]
    mapped = z[:, perm] * np.array([-3.0, 0.5, 7.0]) + np.array([10.0, -2.0, 0.3])
    r = omes(mapped, y, rng=np.random.default_rng(5))
    assert r.omes == pytest.approx(ref.omes, abs=1e-10)
    np.testing.assert_allclose(r.omes_per_factor, ref.omes_per_factor, atol=1e-10)
    np.testing.assert_allclose(np.asarray(r.S), np.asarray(ref.S)[perm], atol=1e-10)
    assert [perm[j] for j in r.association] == ref.association


def test_inactive_dimension_removed(grid_sample):
    z, y = grid_sample  # column 3 has std 0.001 < 0.05
    r = omes(z, y, rng=np.random.default_rng(0))
    assert r.inactive_dims == [3]
    assert 3 not in r.pruned_dims
    with_dead = omes(z[:, :3], y, rng=np.random.default_rng(0))
    assert r.omes == pytest.approx(with_dead.omes, abs=1e-12)


def test_release_association_rule_can_pick_silent_dimension():
    s = np.array([[0.0, 0.0], [0.05, 0.0], [0.0, 0.9]])
    st = OMESSettings(association="release")
    r = omes_from_matrix(s, np.zeros(3, bool), ["a", "b"], st, [50, 50])
    assert r.association[1] == 2
    default = omes_from_matrix(s, np.zeros(3, bool), ["a", "b"], OMESSettings(), [50, 50])
    assert default.association[0] is None  # o·S below 0.1: left unassociated


def test_intervention_and_matched_modes_agree():
    # a grid large enough that the deduplicated matched sample still has hundreds of pairs
    toy = ToyDataset((10, 12, 14))
    rng = np.random.default_rng(0)
    inter = omes_intervention(toy, identity_encoder, rng=rng, n_pairs=4000)
    factors = toy.sample_factors(20_000, rng)
    z = identity_encoder(toy.render(factors, rng))
    matched = omes(z, factors, rng=rng)
    np.testing.assert_allclose(np.asarray(inter.S), np.asarray(matched.S), atol=0.1)
    assert inter.omes == pytest.approx(matched.omes, abs=0.05)
    assert inter.association == matched.association == [0, 1, 2]
    assert inter.settings["mode"] == "intervention" and matched.settings["mode"] == "matched"


def test_constant_dimension_gives_zero_not_nan():
    z1 = np.c_[np.ones(50), np.arange(50.0)]
    z2 = np.c_[np.ones(50), np.arange(50.0)[::-1]]
    s = pair_dissimilarity(z1, z2)
    assert s[0] == 0.0 and s[1] == pytest.approx(0.0)


def test_bad_input():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=(100, 2))
    z = rng.normal(size=(100, 3))
    bad = z.copy()
    bad[5, 1] = np.nan
    with pytest.raises(DisentkitError, match="non-finite"):
        omes(bad, y, rng=rng)
    with pytest.raises(DisentkitError, match="length mismatch"):
        omes(z[:90], y, rng=rng)
    with pytest.raises(DisentkitError, match="alpha"):
        omes(z, y, rng=rng, alpha=2.0)
    with pytest.raises(DisentkitError, match="unknown OMES setting"):
        omes(z, y, rng=rng, alhpa=0.3)


def test_constant_factor_dropped_and_sparse_factor_nan():
    rng = np.random.default_rng(0)
    y = np.c_[np.zeros(300, int), rng.integers(0, 50, 300), rng.integers(0, 4, 300)]
    y[:, 2] = np.where(rng.random(300) < 0.99, 0, y[:, 2])  # almost never varies alone
    z = np.c_[y[:, 1:], rng.normal(size=300)] + 0.1 * rng.normal(size=(300, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = omes(z, y, ["colour", "shape", "rare"], rng=rng, min_pairs=10)
    messages = " ".join(str(w.message) for w in caught if issubclass(w.category, MetricWarning))
    assert "colour" in messages and "rare" in messages
    assert r.factor_names == ["shape", "rare"] and r.dropped_factors == ["colour"]
    assert np.isnan(r.omes_per_factor[1]) and np.isfinite(r.omes)
    assert r.to_dict()["omes_per_factor"][1] is None


def test_pairing_without_int64_key_falls_back_to_row_ranks():
    # 12 columns of ~60 distinct values: > 62 bits, more than one packed int64 key holds
    rng = np.random.default_rng(0)
    base = rng.integers(0, 10_000, size=(60, 12))
    y = np.concatenate([base, base])
    y[60:, 3] = y[60:, 3] + 1 + rng.integers(0, 50, 60)  # partners differing only in column 3
    with pytest.raises(OverflowError):
        _pack_labels(y)
    pairs = matched_pairs(y, np.random.default_rng(0))
    assert len(pairs[3]) == quadratic_pair_count(y, 3) > 0
    diff = y[pairs[3][:, 0]] != y[pairs[3][:, 1]]
    assert diff[:, 3].all() and (diff.sum(axis=1) == 1).all()
