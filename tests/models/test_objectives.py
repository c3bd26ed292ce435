"""Objectives on hand-made posteriors: the Ada threshold, the averages, the labels variant, β-TCVAE."""

import math

import pytest
import torch

from disentkit.errors import DisentkitError
from disentkit.models.objectives import (
    AdaptivePairs,
    LabelPairs,
    adaptive_shared_mask,
    get_objective,
    labels_shared_mask,
    mlvae_average,
    pair_divergence,
    pair_kl,
    total_correlation,
)


def posteriors(differ=(2, 7), d=10):
    """Two posteriors equal except in the ``differ`` dimensions (means 3 apart)."""
    g = torch.Generator().manual_seed(0)
    mu1 = torch.randn(1, d, generator=g)
    lv1 = torch.randn(1, d, generator=g) * 0.1
    mu2, lv2 = mu1.clone(), lv1.clone()
    for i in differ:
        mu2[0, i] += 3.0
    return mu1, lv1, mu2, lv2


@pytest.mark.parametrize("rule", ["asymmetric", "symmetric"])
def test_threshold_picks_exactly_the_dimensions_that_differ(rule):
    mu1, lv1, mu2, lv2 = posteriors(differ=(2, 7))
    shared = adaptive_shared_mask(pair_divergence(mu1, lv1, mu2, lv2, rule))
    assert (~shared[0]).nonzero().flatten().tolist() == [2, 7]


def test_kl_matches_closed_form_and_rules_differ_when_variances_differ():
    mu1, lv1 = torch.tensor([[0.0]]), torch.tensor([[math.log(4.0)]])
    mu2, lv2 = torch.tensor([[1.0]]), torch.tensor([[0.0]])
    # KL(N(0,4) ‖ N(1,1)) = ½(4 + 1 − 1 + 0 − log 4)
    assert pair_kl(mu1, lv1, mu2, lv2).item() == pytest.approx(0.5 * (4 + 1 - 1 - math.log(4)))
    asym = pair_divergence(mu1, lv1, mu2, lv2, "asymmetric").item()
    sym = pair_divergence(mu1, lv1, mu2, lv2, "symmetric").item()
    back = pair_kl(mu2, lv2, mu1, lv1).item()
    assert sym == pytest.approx(0.5 * (asym + back)) and sym != pytest.approx(asym)


def test_asymmetric_and_symmetric_rules_can_choose_differently():
    # dim 0: narrow q1 vs wide q2 (small KL(1‖2), large KL(2‖1)); dims 1,2 moderate shifts.
    mu1 = torch.tensor([[0.0, 0.0, 0.0]])
    lv1 = torch.tensor([[math.log(0.01), 0.0, 0.0]])
    mu2 = torch.tensor([[0.0, 1.5, 0.2]])
    lv2 = torch.tensor([[0.0, 0.0, 0.0]])
    asym = adaptive_shared_mask(pair_divergence(mu1, lv1, mu2, lv2, "asymmetric"))
    sym = adaptive_shared_mask(pair_divergence(mu1, lv1, mu2, lv2, "symmetric"))
    assert not torch.equal(asym, sym)


def test_gvae_aggregation_averages_only_shared_dims():
    mu1, lv1, mu2, lv2 = posteriors(differ=(4,))
    a1, l1, a2, l2, extra = AdaptivePairs("gvae").aggregate(mu1, lv1, mu2, lv2, None)
    keep = [i for i in range(10) if i != 4]
    torch.testing.assert_close(a1[:, keep], a2[:, keep])
    torch.testing.assert_close(a1[:, keep], 0.5 * (mu1 + mu2)[:, keep])
    var = 0.5 * (lv1.exp() + lv2.exp())
    torch.testing.assert_close(l1[:, keep], var.log()[:, keep])
    assert a1[0, 4] == mu1[0, 4] and a2[0, 4] == mu2[0, 4]
    assert extra["shared_dims"].item() == 9


def test_mlvae_average_formula():
    mu1, mu2 = torch.tensor([[1.0]]), torch.tensor([[3.0]])
    v1, v2 = torch.tensor([[1.0]]), torch.tensor([[3.0]])
    mu, lv = mlvae_average(mu1, v1.log(), mu2, v2.log())
    var = 2 * 1 * 3 / (1 + 3)
    assert lv.exp().item() == pytest.approx(var)
    assert mu.item() == pytest.approx(0.5 * (1 / 1 + 3 / 3) * var)


def test_labels_variant_unaverages_exactly_the_changed_factor():
    changed = torch.tensor([[False, True, False], [False, False, True]])
    shared = labels_shared_mask(changed, 5)
    assert shared.tolist() == [[True, False, True, True, True], [True, True, False, True, True]]
    mu1, lv1, mu2, lv2 = posteriors(differ=(), d=5)
    mu2 = mu2 + 1.0
    a1, _, a2, _, _ = LabelPairs("gvae").aggregate(
        mu1.expand(2, 5), lv1.expand(2, 5), mu2.expand(2, 5), lv2.expand(2, 5), changed
    )
    assert a1[0, 1] != a2[0, 1] and a1[0, 0] == a2[0, 0]
    with pytest.raises(DisentkitError, match="changed factors"):
        LabelPairs().aggregate(mu1, lv1, mu2, lv2, None)


def test_total_correlation_is_larger_for_correlated_codes():
    g = torch.Generator().manual_seed(0)
    n, d = 512, 2
    lv = torch.full((n, d), math.log(0.01))
    independent = torch.randn(n, d, generator=g)
    shared = torch.randn(n, 1, generator=g)
    correlated = torch.cat([shared, shared + 0.05 * torch.randn(n, 1, generator=g)], 1)
    tc_ind = total_correlation(independent, independent, lv)
    tc_cor = total_correlation(correlated, correlated, lv)
    assert tc_cor > tc_ind + 1.0


def test_unknown_method_and_rule_list_valid_names():
    with pytest.raises(DisentkitError, match="ada-gvae"):
        get_objective("ada-gave")
    with pytest.raises(DisentkitError, match="symmetric"):
        get_objective("ada-gvae", kl_rule="both")
    assert get_objective("ada-ml-vae").pairs and not get_objective("beta-tcvae").pairs


def test_agreement_weighs_exactly_the_shared_latents_gap():
    # Factor 1 changed: latent 1 is free, the others shared; latents 1 and 3 differ between the images.
    changed = torch.tensor([[False, True, False, False]])
    mu1, lv1, mu2, lv2 = posteriors(differ=(1, 3), d=4)
    agreeing = get_objective("gvae-labels", agreement=2.0)
    _, _, _, _, extra = agreeing.aggregate(mu1, lv1, mu2, lv2, changed)
    gap = pair_divergence(mu1, lv1, mu2, lv2, "symmetric")[0, 3]
    assert gap > 1.0 and extra["agreement"].item() == pytest.approx(2.0 * gap.item())
    assert agreeing.aggregate(mu1, lv1, mu1, lv1, changed)[4]["agreement"].item() == 0.0
    assert "agreement" not in get_objective("gvae-labels").aggregate(mu1, lv1, mu2, lv2, changed)[4]


def test_agreement_is_part_of_the_loss():
    from disentkit.models.vae import VAE, vae_loss

    model = VAE("conv64", 1, 5)
    g = torch.Generator().manual_seed(0)
    batch = {"x1": torch.rand(4, 1, 64, 64, generator=g), "x2": torch.rand(4, 1, 64, 64, generator=g)}
    batch["changed"] = torch.tensor([[True, False, True, False, False]] * 4)
    noise = torch.randn(8, 5, generator=g)
    plain = vae_loss(model, get_objective("gvae-labels"), batch, 2.0, noise=noise)
    # An untrained encoder maps any two images to nearly the same posteriors: a large γ makes the
    # term stand out of the float32 loss (~3,000 nats of reconstruction).
    agreeing = vae_loss(model, get_objective("gvae-labels", agreement=1e6), batch, 2.0, noise=noise)
    term = agreeing.terms["agreement"].item()
    assert term > 1.0 and (agreeing.loss - plain.loss).item() == pytest.approx(term, abs=0.01)


def test_averaging_alone_gives_a_shared_gap_no_gradient():
    from disentkit.models.vae import kl_to_prior

    changed = torch.tensor([[True, False]])  # latent 1 shared
    mu1, lv1, mu2, lv2 = (t.requires_grad_() for t in posteriors(differ=(1,), d=2))

    def gap_gradient(agreement):
        objective = get_objective("gvae-labels", agreement=agreement)
        a1, l1, a2, l2, extra = objective.aggregate(mu1, lv1, mu2, lv2, changed)
        loss = (a1 + a2).square().sum() + kl_to_prior(a1, l1).sum() + extra.get("agreement", 0.0)
        g1, g2 = torch.autograd.grad(loss, (mu1, mu2))
        return (g1 - g2)[0, 1].item()  # the loss's slope along mu1 − mu2 in the shared latent

    assert gap_gradient(0.0) == 0.0 and abs(gap_gradient(1.0)) > 0.1
    with pytest.raises(DisentkitError, match="single images"):
        get_objective("beta-vae", agreement=1.0)


def test_sparsity_pulls_a_nearly_unused_latent_with_a_force_that_does_not_vanish():
    from disentkit.models.vae import kl_to_prior

    def pulls(sparsity, means=(0.1, 0.2)):
        mu = torch.tensor([[m] for m in means], requires_grad=True)
        logvar = torch.zeros_like(mu)
        objective = get_objective("gvae-labels", sparsity=sparsity)
        reg, _ = objective.regularizer(None, mu, logvar, kl_to_prior(mu, logvar), 0.0 if sparsity else 1.0)
        return (torch.autograd.grad(reg, mu)[0].flatten() * len(means)).tolist()

    kl_small, kl_large = pulls(0.0)
    assert kl_large / kl_small == pytest.approx(2.0)  # β·KL: the pull shrinks with the mean
    sparse_small, sparse_large = pulls(1.0)
    assert sparse_small > 0.6 and sparse_large / sparse_small < 1.1  # √KL: about constant (L1)


@pytest.mark.parametrize("method", ["beta-vae", "beta-tcvae", "ada-gvae"])
def test_sparsity_adds_the_same_term_to_every_method(method):
    from disentkit.models.vae import kl_to_prior, sample_latent

    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g) * 0.3
    z, kl = sample_latent(mu, logvar, g), kl_to_prior(mu, logvar)
    plain, _ = get_objective(method).regularizer(z, mu, logvar, kl, 4.0)
    sparse, terms = get_objective(method, sparsity=2.0).regularizer(z, mu, logvar, kl, 4.0)
    expected = 2.0 * (kl + 1e-3).sqrt().sum(1).mean()
    assert (sparse - plain).item() == pytest.approx(expected.item(), rel=1e-5)
    assert ("tc" in terms) == (method == "beta-tcvae")
