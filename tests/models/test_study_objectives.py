"""FactorVAE, DIP-VAE-I/II and AnnealedVAE against their formulas computed by hand on tiny batches."""

import math

import numpy as np
import pytest
import torch

from disentkit.errors import DisentkitError
from disentkit.models.objectives import (
    METHOD_DEFAULTS,
    Companion,
    Discriminator,
    FactorVAE,
    capacity_at,
    dip_covariance,
    get_objective,
    permute_dims,
)
from disentkit.models.vae import kl_to_prior

CPU = torch.device("cpu")


def batch(n=6, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g)
    logvar = 0.3 * torch.randn(n, d, generator=g)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, d, generator=g)
    return z, mu, logvar


def hand_covariance(mu: np.ndarray) -> np.ndarray:
    """E[μμᵀ] − E[μ]E[μ]ᵀ, written out element by element."""
    n, d = mu.shape
    mean = mu.mean(0)
    cov = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            cov[i, j] = sum(mu[r, i] * mu[r, j] for r in range(n)) / n - mean[i] * mean[j]
    return cov


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_penalty_matches_the_covariance_terms_by_hand(kind):
    z, mu, logvar = batch()
    cov = hand_covariance(mu.double().numpy())
    if kind == "ii":  # Cov[z] = Cov[μ] + E[diag σ²]
        cov += np.diag(np.exp(logvar.double().numpy()).mean(0))
    off = sum(cov[i, j] ** 2 for i in range(3) for j in range(3) if i != j)
    diag = sum((cov[i, i] - 1.0) ** 2 for i in range(3))
    lambda_od, factor, beta = 2.0, 3.0, 1.5
    objective = get_objective(f"dip-vae-{kind}", options={"lambda_od": lambda_od, "lambda_d_factor": factor})
    kl_dims = kl_to_prior(mu, logvar)
    value, terms = objective.prior_term(z, mu, logvar, kl_dims, beta)
    expected = beta * kl_dims.sum(1).mean().item() + lambda_od * off + factor * lambda_od * diag
    assert value.item() == pytest.approx(expected, rel=1e-5)
    assert terms["cov_offdiag"].item() == pytest.approx(off, rel=1e-5)
    assert terms["cov_diag"].item() == pytest.approx(diag, rel=1e-5)
    np.testing.assert_allclose(dip_covariance(mu, logvar, kind).numpy(), cov, rtol=1e-5, atol=1e-6)


def test_dip_defaults_are_the_studys_and_decorrelated_means_cost_nothing_off_diagonal():
    assert get_objective("dip-vae-i").lambda_d == 10.0 * get_objective("dip-vae-i").lambda_od
    assert get_objective("dip-vae-ii").lambda_d == 1.0 * get_objective("dip-vae-ii").lambda_od
    # Means along orthogonal ±1 patterns: identity covariance, so the whole penalty is 0; mixing
    # two latents (a correlated code) makes the off-diagonal term positive.
    mu = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    logvar = torch.full_like(mu, -30.0)
    objective = get_objective("dip-vae-i")
    zero = torch.zeros_like(mu)
    value, terms = objective.prior_term(mu, mu, logvar, zero, 1.0)
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    mixed = mu @ torch.tensor([[1.0, 0.5], [0.0, 1.0]])
    _, terms = objective.prior_term(mixed, mixed, logvar, zero, 1.0)
    assert terms["cov_offdiag"].item() == pytest.approx(2 * 0.5**2, rel=1e-6)


def test_capacity_rises_linearly_then_holds():
    assert capacity_at(0, 25.0, 100) == 0.0
    assert capacity_at(40, 25.0, 100) == pytest.approx(10.0)
    assert capacity_at(100, 25.0, 100) == pytest.approx(25.0)
    assert capacity_at(10_000, 25.0, 100) == pytest.approx(25.0)


def test_annealed_loss_is_gamma_times_the_gap_to_the_scheduled_capacity():
    z, mu, logvar = batch()
    objective = get_objective("annealed-vae", options={"capacity_max": 8.0, "capacity_steps": 10})
    assert objective.gamma == METHOD_DEFAULTS["annealed-vae"]["gamma"] == 1000.0
    mu = mu.clone().requires_grad_()
    kl = kl_to_prior(mu, logvar).sum(1).mean().item()
    assert 0.0 < kl < 8.0  # the batch's KL lies inside the schedule's range
    signs = []
    for step in (0, 5, 10, 20):
        objective.begin_step(step)
        capacity = min(8.0, 8.0 * step / 10)
        value, terms = objective.prior_term(z, mu, logvar, kl_to_prior(mu, logvar), 1.0)
        assert value.item() == pytest.approx(1000.0 * abs(kl - capacity), rel=1e-5)
        assert terms["capacity"].item() == pytest.approx(capacity)
        (grad,) = torch.autograd.grad(value, mu)
        signs.append(float(torch.sign((grad * mu.detach()).sum())))
    # Above the capacity the loss pulls the means in (lower KL), below it pushes them out.
    assert signs[0] == 1.0 and signs[-1] == -1.0


def factor_vae(gamma=7.0, seed=0, latent_dim=3):
    objective = get_objective("factor-vae", options={"gamma": gamma})
    objective.build(latent_dim, CPU, seed)
    return objective


def test_factor_vae_tc_term_is_the_discriminators_mean_logit_gap_and_trains_only_the_encoder():
    z, mu, logvar = batch()
    objective = factor_vae()
    disc = objective.companion.module
    with torch.no_grad():
        logits = disc(z)
    tc = sum(logits[r, 0].item() - logits[r, 1].item() for r in range(len(z))) / len(z)
    z = z.clone().requires_grad_()
    kl_dims = kl_to_prior(mu, logvar)
    value, terms = objective.prior_term(z, mu, logvar, kl_dims, 2.0)
    assert terms["tc"].item() == pytest.approx(tc, rel=1e-5)
    assert value.item() == pytest.approx(2.0 * kl_dims.sum(1).mean().item() + 7.0 * tc, rel=1e-5)
    value.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())


def test_discriminator_loss_by_hand_reaches_only_the_discriminator():
    z, _, _ = batch(n=8)
    objective = factor_vae()
    disc = objective.companion.module
    z = z.clone().requires_grad_()
    loss = objective.companion_loss(z, torch.Generator().manual_seed(3))
    permuted = permute_dims(z.detach(), torch.Generator().manual_seed(3))
    with torch.no_grad():
        p_real = torch.softmax(disc(z), 1)[:, 0].clamp(1e-6, 1 - 1e-6)
        p_perm = torch.softmax(disc(permuted), 1)[:, 1].clamp(1e-6, 1 - 1e-6)
    hand = -(
        0.5 * sum(math.log(p) for p in p_real.tolist()) / 8
        + 0.5 * sum(math.log(p) for p in p_perm.tolist()) / 8
    )
    assert loss.item() == pytest.approx(hand, rel=1e-5)
    loss.backward()
    assert z.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters())


def test_permute_dims_shuffles_each_column_on_its_own_and_repeats_with_the_seed():
    z = torch.arange(64 * 4, dtype=torch.float32).reshape(64, 4)
    a = permute_dims(z, torch.Generator().manual_seed(1))
    b = permute_dims(z, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    for j in range(4):  # every column keeps its values
        assert torch.equal(a[:, j].sort().values, z[:, j])
    rows = (a - z[:, :1] * 0).div(4).floor()  # the source row of every entry
    assert not all(torch.equal(rows[:, 0], rows[:, j]) for j in range(1, 4))


def test_discriminator_learns_a_positive_tc_for_dependent_codes_and_not_for_independent_ones():
    """The density-ratio trick: trained on codes whose two dims are equal, D separates them from
    their permutations (estimate ≫ 0); on independent codes it cannot (estimate ≈ 0). A narrow
    discriminator keeps the test quick; the trick is the same."""
    estimates = {}
    for name in ("dependent", "independent"):
        objective = FactorVAE(gamma=1.0, disc_lr=1e-3)
        torch.manual_seed(0)
        small = Discriminator(2, width=64, depth=2)
        optimizer = torch.optim.Adam(small.parameters(), lr=2e-3, betas=FactorVAE.DISC_BETAS)
        objective.companion = Companion(small, optimizer)
        g = torch.Generator().manual_seed(0)
        for _ in range(80):
            z = torch.randn(64, 2, generator=g)
            if name == "dependent":
                z[:, 1] = z[:, 0]
            optimizer.zero_grad()
            objective.companion_loss(z, g).backward()
            optimizer.step()
        z = torch.randn(512, 2, generator=g)
        if name == "dependent":
            z[:, 1] = z[:, 0]
        with torch.no_grad():
            _, terms = objective.prior_term(z, z, torch.zeros_like(z), torch.zeros_like(z), 1.0)
        estimates[name] = terms["tc"].item()
    assert estimates["dependent"] > 1.0
    assert abs(estimates["independent"]) < 0.5 * estimates["dependent"]


def test_method_options_take_defaults_and_refuse_foreign_or_bad_values():
    assert get_objective("factor-vae").gamma == 10.0
    assert get_objective("annealed-vae", options={"gamma": None}).gamma == 1000.0
    assert get_objective("dip-vae-i", options={"lambda_od": 5.0}).lambda_d == 50.0
    with pytest.raises(DisentkitError, match="gamma is an option of annealed-vae, factor-vae"):
        get_objective("beta-vae", options={"gamma": 3.0})
    with pytest.raises(DisentkitError, match="lambda_od must be > 0"):
        get_objective("dip-vae-ii", options={"lambda_od": 0.0})
    with pytest.raises(DisentkitError, match="not built"):
        get_objective("factor-vae").companion_loss(torch.zeros(2, 2), None)
