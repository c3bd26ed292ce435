"""DCI, MIG, SAP, modularity, unsupervised, downstream, BetaVAE/FactorVAE: known answers + reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics

from disentkit.errors import DisentkitError
from disentkit.metrics import (
    beta_vae_score,
    classifier_scores,
    dci,
    factor_vae_score,
    mig,
    modularity_explicitness,
    sap,
    unsupervised_scores,
)
from disentkit.metrics.classifiers import dci_from_importance
from disentkit.metrics.information import discrete_mutual_info, histogram_discretize, modularity_from_mi
from disentkit.metrics.interventional import InterventionSettings

from .conftest import identity_encoder

SMALL_GBT = {"n_estimators": 10}


def codes(n=900, seed=0, rotate=False):
    """Axis-aligned code of 3 factors (+ noise), or the same code rotated (entangled)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, [4, 5, 6], size=(n, 3))
    z = (y - y.mean(0)) / y.std(0) + 0.05 * rng.normal(size=(n, 3))
    if rotate:
        q, _ = np.linalg.qr(np.random.default_rng(99).normal(size=(3, 3)))
        z = z @ q
    return z, y


# ---------------------------------------------------------------------------- reference pieces
def reference_discretize(target, n_bins=20):
    """disentanglement_lib utils._histogram_discretize (codes × samples layout)."""
    out = np.zeros_like(target)
    for i in range(target.shape[0]):
        out[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], n_bins)[1][:-1])
    return out


def test_discretize_and_mi_match_disentanglement_lib():
    rng = np.random.default_rng(0)
    z = np.c_[rng.normal(size=(500, 3)), np.full(500, 2.0)]  # incl. a constant column
    y = rng.integers(0, [3, 7], size=(500, 2)) * 10  # sparse labels
    ours = histogram_discretize(z)
    ref = reference_discretize(z.T)
    np.testing.assert_array_equal(ours + 1, ref.T.astype(int))
    mi = discrete_mutual_info(ours, y)
    expected = [[sklearn.metrics.mutual_info_score(y[:, k], ref[j]) for k in range(2)] for j in range(4)]
    np.testing.assert_allclose(mi, expected, atol=1e-12)


def test_dci_formula_matches_reference():
    rng = np.random.default_rng(0)
    imp = rng.random((5, 3))
    dis, com, _, _ = dci_from_importance(imp)
    per_code = 1.0 - scipy.stats.entropy(imp.T + 1e-11, base=3)
    per_factor = 1.0 - scipy.stats.entropy(imp + 1e-11, base=5)
    assert dis == pytest.approx(np.sum(per_code * imp.sum(1) / imp.sum()))
    assert com == pytest.approx(np.sum(per_factor * imp.sum(0) / imp.sum()))
    eye = dci_from_importance(np.eye(3))
    assert eye[0] == pytest.approx(1.0) and eye[1] == pytest.approx(1.0)
    flat = dci_from_importance(np.ones((3, 3)))
    assert flat[0] == pytest.approx(0.0, abs=1e-9) and flat[1] == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------------------- known answers
def test_aligned_beats_rotated_on_every_metric():
    z, y = codes()
    zr, _ = codes(rotate=True)
    rng = np.random.default_rng
    assert mig(z, y).mig > 0.5 > mig(zr, y).mig
    d_aligned = dci(z, y, rng=rng(0), params=SMALL_GBT, n_jobs=1)
    d_rot = dci(zr, y, rng=rng(0), params=SMALL_GBT, n_jobs=1)
    assert d_aligned.disentanglement > 0.8 > d_rot.disentanglement
    assert d_aligned.completeness > d_rot.completeness
    assert d_aligned.informativeness_test > 0.9
    assert sap(z, y, rng=rng(0), n_jobs=1).sap > sap(zr, y, rng=rng(0), n_jobs=1).sap
    m_aligned = modularity_explicitness(z, y, rng=rng(0))
    assert m_aligned.modularity > 0.9 > modularity_explicitness(zr, y, rng=rng(0)).modularity
    assert m_aligned.explicitness_test > 0.9


def test_sap_binary_factors_known_answer():
    # one dimension per binary factor: its SVC is exact, the others are at chance → gap ≈ 0.5
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(900, 3))
    z = y + 0.05 * rng.normal(size=y.shape)
    res = sap(z, y, rng=rng, n_jobs=1)
    assert res.sap == pytest.approx(0.5, abs=0.08)
    np.testing.assert_allclose(np.diag(res.score_matrix), 1.0)


def test_modularity_formula():
    mi = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(modularity_from_mi(mi), [1.0, 0.0, 0.0])


def test_unsupervised_scores():
    rng = np.random.default_rng(0)
    independent = unsupervised_scores(rng.normal(size=(5000, 3)))
    a = rng.normal(size=5000)
    correlated = unsupervised_scores(np.c_[a, a + 0.1 * rng.normal(size=5000), rng.normal(size=5000)])
    assert independent.gaussian_total_correlation < 0.01 < correlated.gaussian_total_correlation
    assert independent.mutual_info_score < correlated.mutual_info_score
    cov = np.array([[2.0, 0.0], [0.0, 3.0]])  # diagonal: Wasserstein correlation 0
    from disentkit.metrics.information import gaussian_wasserstein_correlation

    assert gaussian_wasserstein_correlation(cov) == pytest.approx(0.0, abs=1e-9)


def test_downstream_full_and_pruned():
    z, y = codes()
    z = np.c_[z, np.random.default_rng(3).normal(size=(len(z), 2))]
    _, down = classifier_scores(
        z,
        y,
        rng=np.random.default_rng(0),
        classifier="gbt",
        params=SMALL_GBT,
        pruned_dims=[0, 1, 2],
        n_jobs=1,
    )
    assert down.mean_test_accuracy_full > 0.9
    assert down.pruned_dims == [0, 1, 2] and len(down.test_accuracy_pruned) == 3
    assert down.mean_test_accuracy_pruned > 0.9
    _, only_noise = classifier_scores(
        z, y, rng=np.random.default_rng(0), classifier="gbt", params=SMALL_GBT, pruned_dims=[3], n_jobs=1
    )
    assert only_noise.mean_test_accuracy_pruned < 0.5
    _, mlp = classifier_scores(
        z, y, rng=np.random.default_rng(0), classifier="mlp", params={"max_iter": 5}, n_jobs=1
    )
    assert mlp.classifier == "mlp" and mlp.settings["params"]["hidden_layer_sizes"] == (256, 256)


def test_parallel_fits_identical_to_sequential():
    z, y = codes(n=450)
    seq = classifier_scores(
        z, y, rng=np.random.default_rng(4), params=SMALL_GBT, n_jobs=1, pruned_dims=[0, 1]
    )
    par = classifier_scores(
        z, y, rng=np.random.default_rng(4), params=SMALL_GBT, n_jobs=2, pruned_dims=[0, 1]
    )
    assert seq[0].to_dict() | {"settings": None} == par[0].to_dict() | {"settings": None}
    assert seq[1].test_accuracy_pruned == par[1].test_accuracy_pruned
    seq, par = (modularity_explicitness(z, y, rng=np.random.default_rng(4), n_jobs=j) for j in (1, 2))
    assert seq.to_dict() | {"settings": None} == par.to_dict() | {"settings": None}


def test_fast_mode_is_labelled():
    z, y = codes(n=300)
    fast = dci(z, y, rng=np.random.default_rng(0), fast=True, n_jobs=1, params={"max_iter": 15})
    exact = dci(z, y, rng=np.random.default_rng(0), params=SMALL_GBT, n_jobs=1)
    assert fast.comparable_with_published is False and exact.comparable_with_published is True
    assert "NOT comparable" in fast.settings["classifier"]
    assert fast.disentanglement > 0.8  # histogram GBT importances still see the aligned code


def test_split_in_sample_order_and_too_few_samples():
    z, y = codes(n=90)
    res = sap(z, y, rng=np.random.default_rng(0), n_jobs=1)
    assert (res.settings["n_train"], res.settings["n_test"]) == (60, 30)
    with pytest.raises(DisentkitError, match="too few"):
        sap(z[:20], y[:20], rng=np.random.default_rng(0), n_jobs=1)


def test_bad_inputs():
    z, y = codes(n=100)
    with pytest.raises(DisentkitError, match="non-finite"):
        mig(np.where(np.arange(300).reshape(100, 3) == 7, np.inf, z), y)
    with pytest.raises(DisentkitError, match="length mismatch"):
        mig(z, y[:50])
    with pytest.raises(DisentkitError, match="integer class"):
        mig(z, y + 0.5)
    with pytest.raises(DisentkitError, match="rng"):
        dci(z, y, rng=None)
    with pytest.warns(UserWarning, match="single value dropped: factor_3"):
        r = mig(z, np.c_[y, np.ones(100, int)])
    assert len(r.mig_per_factor) == 3


# ---------------------------------------------------------------------------- interventional
def test_factor_vae_and_beta_vae_scores(toy):
    st = InterventionSettings(n_train=300, n_eval=150, n_variance=500, batch_size=32)
    fv = factor_vae_score(toy, identity_encoder, rng=np.random.default_rng(0), settings=st)
    assert fv.eval_accuracy > 0.95 and fv.num_active_dims == 3
    bv = beta_vae_score(toy, identity_encoder, rng=np.random.default_rng(0), settings=st)
    assert bv.eval_accuracy > 0.9

    def mixed(images):
        z = identity_encoder(images)
        return z @ np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.3], [0.5, 0.5, 1.0]])

    fv_mixed = factor_vae_score(toy, mixed, rng=np.random.default_rng(0), settings=st)
    assert fv_mixed.eval_accuracy < fv.eval_accuracy


def test_gbt_fits_identical_to_disentanglement_lib_loop():
    """One GradientBoostingClassifier per factor, sequentially (dci.py's loop), same seeds → same numbers."""
    from sklearn.ensemble import GradientBoostingClassifier

    from disentkit.metrics._common import seeds

    z, y = codes(n=300, rotate=True)
    dci_res, down = classifier_scores(z, y, rng=np.random.default_rng(7), params=SMALL_GBT, n_jobs=1)
    imp, acc = [], []
    for k, seed in enumerate(seeds(np.random.default_rng(7), 3)):
        model = GradientBoostingClassifier(random_state=seed, **SMALL_GBT).fit(z[:200], y[:200, k])
        imp.append(np.abs(model.feature_importances_))
        acc.append(np.mean(model.predict(z[200:]) == y[200:, k]))
    np.testing.assert_array_equal(dci_res.importance_matrix, np.stack(imp, axis=1))
    assert dci_res.test_accuracy_per_factor == acc == down.test_accuracy_full


def test_fast_gbt_on_a_small_sample_with_many_classes():
    """Histogram GBT's stratified early-stopping split is impossible here (16 held-out rows, 18
    classes): early stopping is switched off for that fit instead of crashing."""
    from disentkit.metrics.classifiers import fit_factor

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(18), 9)
    z = y[:, None] + rng.normal(0, 0.1, (len(y), 2))
    _, train_acc, test_acc = fit_factor("hgb", None, 0, z, y, z, y)
    assert train_acc > 0.5 and test_acc > 0.5  # chance is 1/18


@pytest.mark.parametrize("metric", [sap, modularity_explicitness])
def test_threaded_fits_leave_the_warning_filters_alone(metric):
    """catch_warnings inside the threaded fits raced on the process-wide filter list."""
    import warnings

    before = list(warnings.filters)
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(600, 5)), rng.integers(0, 3, size=(600, 3))
    for _ in range(5):
        metric(z, y, rng=np.random.default_rng(1), n_jobs=4, n_train=400, n_test=200)
    assert list(warnings.filters) == before
