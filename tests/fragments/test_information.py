"""Estimators: sanity values, closed forms, batched == reference loop, bad input."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.optimize import linear_sum_assignment

from disentkit.errors import DisentkitError
from disentkit.fragments import (
    FingerprintSample,
    GaussianChannels,
    LabelChannels,
    channel_information,
    from_variances,
    monte_carlo_information,
    pairwise_information,
    pairwise_loop,
)
from disentkit.fragments.information import bc_matrix_numpy


def _channels(mu, sigma, sample=None):
    mu = np.asarray(mu, dtype=np.float64)
    sample = sample or FingerprintSample.arange(mu.shape[0])
    return GaussianChannels.from_model(mu, np.full_like(mu, 2 * math.log(sigma)), sample)


def test_self_similarity_is_one_and_vi_zero(rng):
    ch = _channels(rng.normal(size=(300, 3)), 0.3)
    res = pairwise_information(ch, dtype=torch.float64)
    np.testing.assert_allclose(np.diag(res.nmi), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(res.vi), 0.0, atol=1e-12)
    assert np.all(res.vi >= -1e-12) and np.allclose(res.nmi, res.nmi.T)


def test_uniform_four_class_label_has_two_bits(rng):
    sample = FingerprintSample.arange(400)
    labels = LabelChannels(np.arange(400) % 4, sample)
    res = pairwise_information(labels)
    assert res.entropy_a[0] == pytest.approx(2.0, abs=1e-9)  # I(C;C') = H(C) exactly for a plug-in label
    assert res.info_a[0] == pytest.approx(2.0, abs=1e-9)
    random = LabelChannels(rng.integers(0, 4, size=400), sample)
    assert pairwise_information(random).entropy_a[0] == pytest.approx(2.0, abs=0.03)


def _expected_bhattacharyya_bits(sigma: float, n: int) -> float:
    """E over x ~ N(0,1) of -log2(1/N + (N-1)/N g(x)): the estimator's expectation for mu(x) = x.

    g(x) = E_x'[exp(-(x - x')^2 / (8 sigma^2))] = sqrt(4s2/(1+4s2)) exp(-x^2 / (2 (1+4s2))), s2 = sigma^2;
    the j = i term contributes the 1/N (the finite-sample bias toward log2 N is part of the formula).
    """
    s4 = 4 * sigma**2

    def integrand(x):
        g = math.sqrt(s4 / (1 + s4)) * math.exp(-(x**2) / (2 * (1 + s4)))
        return -math.log2(1 / n + (n - 1) / n * g) * math.exp(-(x**2) / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(integrand, -12, 12)[0]


@pytest.mark.parametrize("sigma", [0.25, 0.6])
def test_gaussian_channel_matches_closed_form(sigma):
    n = 1500
    x = np.random.default_rng(1).normal(size=(n, 1))
    info = channel_information(_channels(x, sigma))["info"][0]
    expected = _expected_bhattacharyya_bits(sigma, n)
    # sampling spread of the estimate is ~0.015 bits at N = 1500
    assert info == pytest.approx(expected, abs=0.04)
    # the Bhattacharyya estimate is a lower bound on the true MI, 0.5 log2(1 + 1/sigma^2)
    assert info < 0.5 * math.log2(1 + sigma**-2) - 0.1


def test_monte_carlo_matches_true_information_within_its_error():
    sigma, n = 0.5, 1000
    x = np.random.default_rng(2).normal(size=(n, 1))
    est, se = monte_carlo_information(
        x, np.full_like(x, 2 * math.log(sigma)), draws=8, generator=torch.Generator().manual_seed(0)
    )
    truth = 0.5 * math.log2(1 + sigma**-2)
    assert 0.005 < se < 0.1
    assert abs(est - truth) < 4 * se + 0.02  # mixture-of-N marginal: O(1/N) bias


def test_monte_carlo_standard_error_matches_spread_over_datasets():
    sigma, n = 0.4, 200
    estimates, errors = [], []
    for k in range(16):
        x = np.random.default_rng(100 + k).normal(size=(n, 2))
        est, se = monte_carlo_information(
            x, np.full_like(x, 2 * math.log(sigma)), draws=4, generator=torch.Generator().manual_seed(k)
        )
        estimates.append(est)
        errors.append(se)
    ratio = np.std(estimates, ddof=1) / np.mean(errors)
    assert 0.5 < ratio < 2.0


def test_independent_channels_have_nmi_near_zero(rng):
    x = rng.normal(size=(600, 2))
    dependent = np.c_[x, x[:, :1] + 0.1 * rng.normal(size=(600, 1))]
    res = pairwise_information(_channels(dependent, 0.3))
    assert abs(res.nmi[0, 1]) < 0.05
    assert res.nmi[0, 2] > 0.5  # the same assertion fails for dependent channels


def test_permuted_copy_is_matched_channel_for_channel(rng):
    n, d = 400, 6
    x = rng.normal(size=(n, d))
    mu_a = np.tanh(x * np.linspace(0.5, 2.0, d)) * np.arange(1, d + 1)
    lv_a = np.log(rng.uniform(0.01, 0.2, size=(n, d)))
    perm = rng.permutation(d)
    sample = FingerprintSample.arange(n)
    a = GaussianChannels.from_model(mu_a, lv_a, sample, prefix="a/")
    b = GaussianChannels.from_model(
        mu_a[:, perm] + 0.02 * rng.normal(size=(n, d)), lv_a[:, perm], sample, prefix="b/"
    )
    nmi = pairwise_information(a, b).nmi
    rows, cols = linear_sum_assignment(-nmi)
    np.testing.assert_array_equal(perm[cols], rows)  # channel a_k is matched with b_j where perm[j] = k
    assert np.all(nmi[rows, cols] > 0.8)


@pytest.mark.parametrize("max_bytes", [1 << 30, 200_000])
def test_batched_equals_reference_loop(rng, max_bytes):
    n = 120
    posteriors = [
        (rng.normal(size=(n, 4)) * [1, 2, 0.5, 3], np.log(rng.uniform(0.05, 2, size=(n, 4))))
        for _ in range(17)
    ]
    ch = GaussianChannels.from_ensemble(posteriors, FingerprintSample.arange(n))  # 68 channels: 4 blocks
    fps = [bc_matrix_numpy(ch.mu[k], ch.logvar[k]) for k in range(len(ch))]
    ref = pairwise_loop(fps)
    res64 = pairwise_information(ch, dtype=torch.float64, max_bytes=max_bytes)
    np.testing.assert_allclose(res64.nmi, ref["nmi"], atol=1e-10)
    np.testing.assert_allclose(res64.vi, ref["vi"], atol=1e-10)
    res32 = pairwise_information(ch, dtype=torch.float32, max_bytes=max_bytes)
    np.testing.assert_allclose(res32.nmi, ref["nmi"], atol=1e-5)


def test_subset_channel_is_the_joint_of_its_dimensions(rng):
    n = 200
    mu, lv = rng.normal(size=(n, 3)), np.log(rng.uniform(0.1, 1, size=(n, 3)))
    sample = FingerprintSample.arange(n)
    singles = pairwise_information(GaussianChannels.from_model(mu, lv, sample), dtype=torch.float64)
    pair = channel_information(GaussianChannels.from_model(mu, lv, sample, subsets=[[0, 1]]))
    assert pair["info"][0] == pytest.approx(singles.joint[0, 1], abs=1e-9)


def test_cross_set_with_labels_equals_loop(rng):
    n = 150
    sample = FingerprintSample.arange(n)
    labels = rng.integers(0, 3, size=(n, 2))
    ch = _channels(labels + 0.3 * rng.normal(size=(n, 2)), 0.2, sample)
    lab = LabelChannels(labels, sample)
    res = pairwise_information(ch, lab, dtype=torch.float64)
    bc_lab = [np.where(labels[:, k, None] == labels[None, :, k], 1.0, 1e-10) for k in range(2)]
    fps = [bc_matrix_numpy(ch.mu[k], ch.logvar[k]) for k in range(2)]
    ref = pairwise_loop(fps + bc_lab)
    np.testing.assert_allclose(res.nmi, ref["nmi"][:2, 2:], atol=1e-10)
    assert res.nmi[0, 0] > res.nmi[0, 1]


# ------------------------------------------------------------------ bad input
def test_different_fingerprint_samples_are_rejected(rng):
    a = _channels(rng.normal(size=(50, 2)), 0.3, FingerprintSample(np.arange(50), "dsprites"))
    b = _channels(rng.normal(size=(50, 2)), 0.3, FingerprintSample(np.arange(1, 51), "dsprites"))
    with pytest.raises(DisentkitError, match="fingerprint samples differ"):
        pairwise_information(a, b)


def test_sample_digest_depends_on_order_and_source():
    base = FingerprintSample(np.arange(10), "dsprites")
    assert base.digest == FingerprintSample(np.arange(10), "dsprites").digest
    assert base.digest != FingerprintSample(np.arange(10)[::-1], "dsprites").digest
    assert base.digest != FingerprintSample(np.arange(10), "shapes3d").digest
    assert FingerprintSample.from_dict(base.to_dict()).digest == base.digest


def test_different_latent_sizes_are_rejected(rng):
    sample = FingerprintSample.arange(30)
    posts = [(rng.normal(size=(30, 3)), np.zeros((30, 3))), (rng.normal(size=(30, 4)), np.zeros((30, 4)))]
    with pytest.raises(DisentkitError, match="different latent sizes"):
        GaussianChannels.from_ensemble(posts, sample)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_rejected(rng, bad):
    mu = rng.normal(size=(30, 2))
    mu[3, 1] = bad
    with pytest.raises(DisentkitError, match="NaN/inf"):
        GaussianChannels.from_model(mu, np.zeros_like(mu), FingerprintSample.arange(30))
    with pytest.raises(DisentkitError, match="NaN/inf"):
        monte_carlo_information(mu, np.zeros_like(mu))


def test_non_positive_variances_are_rejected(rng):
    var = np.ones((20, 2))
    var[0, 0] = 0.0
    with pytest.raises(DisentkitError, match="non-positive variance"):
        from_variances(rng.normal(size=(20, 2)), var)


def test_wrong_number_of_points_is_rejected(rng):
    with pytest.raises(DisentkitError, match="fingerprint sample has"):
        GaussianChannels.from_model(rng.normal(size=(20, 2)), np.zeros((20, 2)), FingerprintSample.arange(25))
