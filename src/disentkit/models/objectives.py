"""Training objectives as small hooks on the shared VAE core (:func:`disentkit.models.vae.vae_loss`).

An objective says whether it trains on weak pairs (``pairs``), how it rewrites the two posteriors of
a pair (``aggregate``) and which regulariser it adds to the reconstruction (``regularizer``).

Methods
-------
beta-vae      β·KL (Higgins et al. 2017); unsupervised, needs only ``sample_images``.
beta-tcvae    KL + (β−1)·TC, TC by minibatch-weighted sampling (Chen et al. 2018); unsupervised.
ada-gvae      weak pairs; shared dims chosen by the adaptive KL threshold; GVAE averaging.
ada-ml-vae    as ada-gvae with ML-VAE (product-of-experts) averaging.
gvae-labels   weak pairs with the changed factor known: latent i is un-averaged iff factor i changed.
ml-vae-labels the same with ML-VAE averaging.

The Ada rule's divergence is an option (``kl_rule``): "asymmetric" KL(q₁‖q₂) as disentanglement_lib
(default) or "symmetric" ½KL(q₁‖q₂) + ½KL(q₂‖q₁) as disent and the transfer paper's release.

Pair methods take an ``agreement`` weight γ (0 by default: the papers' objectives). Averaging hands
the decoder one posterior per shared latent, so the *difference* of the two encodings of a shared
factor gets no gradient at all: a latent can keep reacting to another factor's change as long as the
decoder learns to ignore it there. γ·Σ_shared ½(KL(q₁‖q₂) + KL(q₂‖q₁)) (per pair, in nats) asks the
encoder directly for equal posteriors where the pair shares the factor.

Every method takes a ``sparsity`` weight λ (0 by default): λ·Σ_j √(KL_j + 10⁻³) per example. The KL
is quadratic in a latent's mean near the prior, so its pull on a latent that is almost unused
vanishes and the latent's mean keeps a small spread for thousands of steps; the square root pulls
with a force that does not vanish (an L1 penalty on the mean there, a group lasso over latents), so
a latent worth less than λ goes all the way to the prior.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from disentkit.errors import DisentkitError, unknown_name
from disentkit.models.vae import gaussian_log_density

KL_RULES = ("asymmetric", "symmetric")
Posteriors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


# ---------------------------------------------------------------------------- pair arithmetic
def pair_kl(mu1: torch.Tensor, lv1: torch.Tensor, mu2: torch.Tensor, lv2: torch.Tensor) -> torch.Tensor:
    """Per-dimension KL(N(mu1, e^lv1) ‖ N(mu2, e^lv2))."""
    return 0.5 * (torch.exp(lv1 - lv2) + (mu2 - mu1).square() * torch.exp(-lv2) - 1.0 + lv2 - lv1)


def pair_divergence(mu1, lv1, mu2, lv2, rule: str = "asymmetric") -> torch.Tensor:
    """δ_i per pair and dimension under ``rule`` ("asymmetric" or "symmetric")."""
    if rule == "asymmetric":
        return pair_kl(mu1, lv1, mu2, lv2)
    if rule == "symmetric":
        return 0.5 * (pair_kl(mu1, lv1, mu2, lv2) + pair_kl(mu2, lv2, mu1, lv1))
    raise unknown_name("kl rule", rule, KL_RULES)


def adaptive_shared_mask(delta: torch.Tensor) -> torch.Tensor:
    """Dims with δ_i < τ = ½(max_i δ_i + min_i δ_i) per pair are shared (True)."""
    tau = 0.5 * (delta.amax(dim=1, keepdim=True) + delta.amin(dim=1, keepdim=True))
    return delta < tau


def gvae_average(mu1, lv1, mu2, lv2) -> tuple[torch.Tensor, torch.Tensor]:
    """GVAE: μ̄ = ½(μ₁+μ₂), σ̄² = ½(σ₁²+σ₂²); returns ``(mu, logvar)``."""
    var = 0.5 * (lv1.exp() + lv2.exp())
    return 0.5 * (mu1 + mu2), var.log()


def mlvae_average(mu1, lv1, mu2, lv2) -> tuple[torch.Tensor, torch.Tensor]:
    """ML-VAE: σ̄² = 2σ₁²σ₂²/(σ₁²+σ₂²), μ̄ = ½(μ₁/σ₁² + μ₂/σ₂²)·σ̄²; returns ``(mu, logvar)``."""
    v1, v2 = lv1.exp(), lv2.exp()
    var = 2.0 * v1 * v2 / (v1 + v2)
    return 0.5 * (mu1 / v1 + mu2 / v2) * var, var.log()


AVERAGES: dict[str, Callable] = {"gvae": gvae_average, "ml-vae": mlvae_average}


def apply_shared(mu1, lv1, mu2, lv2, shared: torch.Tensor, average: Callable) -> Posteriors:
    """Replace the ``shared`` dims of both posteriors by their average."""
    mu_avg, lv_avg = average(mu1, lv1, mu2, lv2)
    return (
        torch.where(shared, mu_avg, mu1),
        torch.where(shared, lv_avg, lv1),
        torch.where(shared, mu_avg, mu2),
        torch.where(shared, lv_avg, lv2),
    )


def labels_shared_mask(changed: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """Known changed factors: latent i is shared unless factor i changed; dims past K are shared."""
    n, k = changed.shape
    shared = torch.ones(n, latent_dim, dtype=torch.bool, device=changed.device)
    m = min(k, latent_dim)
    shared[:, :m] = ~changed[:, :m].bool()
    return shared


# ---------------------------------------------------------------------------- objectives
class Objective:
    """β-VAE: unsupervised, regulariser β·KL. The base every other method adjusts."""

    name = "beta-vae"
    pairs = False
    # The loss is a mean of per-example (per-pair) terms, so batch shards' gradients sum exactly.
    per_example = True
    # Set by get_objective: γ (pair methods) and λ (module docstring).
    agreement = 0.0
    sparsity = 0.0

    def aggregate(self, mu1, lv1, mu2, lv2, changed) -> tuple[torch.Tensor, ...]:
        """The pair's posteriors as the decoder sees them, plus terms for the log; the
        ``"agreement"`` term, when present, is also part of the loss (``vae_loss``)."""
        return mu1, lv1, mu2, lv2, {}

    def regularizer(self, z, mu, logvar, kl_dims, beta) -> tuple[torch.Tensor, dict]:
        """The method's prior term plus the latent sparsity, and the terms to log."""
        prior, terms = self.prior_term(z, mu, logvar, kl_dims, beta)
        if self.sparsity:
            prior = prior + self.sparsity * (kl_dims + 1e-3).sqrt().sum(1).mean()
        return prior, terms

    def prior_term(self, z, mu, logvar, kl_dims, beta) -> tuple[torch.Tensor, dict]:
        return beta * kl_dims.sum(1).mean(), {}


class BetaTCVAE(Objective):
    """β-TCVAE: KL + (β−1)·TC with TC from minibatch-weighted sampling (disentanglement_lib's form)."""

    name = "beta-tcvae"
    per_example = False  # the TC estimate compares every row of the batch with every other

    def prior_term(self, z, mu, logvar, kl_dims, beta):
        tc = total_correlation(z, mu, logvar)
        return kl_dims.sum(1).mean() + (beta - 1.0) * tc, {"tc": tc}


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """MWS estimate of TC = E[log q(z) − Σ_j log q(z_j)], up to a constant that has no gradient."""
    # log q(z_i[row] | x[col]) for every pair of batch rows: (n, n, D)
    log_q = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])
    log_qz = torch.logsumexp(log_q.sum(2), dim=1)
    log_qz_product = torch.logsumexp(log_q, dim=1).sum(1)
    return (log_qz - log_qz_product).mean() - (z.shape[1] - 1) * math.log(z.shape[0])


class AdaptivePairs(Objective):
    """Ada-GVAE / Ada-ML-VAE: the adaptive KL threshold picks shared dims, which are averaged."""

    pairs = True

    def __init__(self, average: str = "gvae", kl_rule: str = "asymmetric") -> None:
        if kl_rule not in KL_RULES:
            raise unknown_name("kl rule", kl_rule, KL_RULES)
        self.average, self.kl_rule = AVERAGES[average], kl_rule
        self.name = "ada-gvae" if average == "gvae" else "ada-ml-vae"

    def shared_mask(self, mu1, lv1, mu2, lv2, changed) -> torch.Tensor:
        # The threshold is a selection, not a path for gradients (as in the references).
        with torch.no_grad():
            return adaptive_shared_mask(pair_divergence(mu1, lv1, mu2, lv2, self.kl_rule))

    def aggregate(self, mu1, lv1, mu2, lv2, changed):
        shared = self.shared_mask(mu1, lv1, mu2, lv2, changed)
        out = apply_shared(mu1, lv1, mu2, lv2, shared, self.average)
        extra = {"shared_dims": shared.float().sum(1).mean()}
        if self.agreement:
            gap = pair_divergence(mu1, lv1, mu2, lv2, "symmetric")
            extra["agreement"] = self.agreement * torch.where(shared, gap, 0.0).sum(1).mean()
        return (*out, extra)


class LabelPairs(AdaptivePairs):
    """GVAE / ML-VAE with the changed factor known (the transfer paper's released "labels" configs)."""

    def __init__(self, average: str = "gvae", kl_rule: str = "asymmetric") -> None:
        super().__init__(average, kl_rule)
        self.name = "gvae-labels" if average == "gvae" else "ml-vae-labels"

    def shared_mask(self, mu1, lv1, mu2, lv2, changed):
        if changed is None:
            raise DisentkitError(f"{self.name} needs the changed factors of each pair (a labelled dataset)")
        return labels_shared_mask(changed, mu1.shape[1])


METHODS: dict[str, Callable[[str], Objective]] = {
    "beta-vae": lambda rule: Objective(),
    "beta-tcvae": lambda rule: BetaTCVAE(),
    "ada-gvae": lambda rule: AdaptivePairs("gvae", rule),
    "ada-ml-vae": lambda rule: AdaptivePairs("ml-vae", rule),
    "gvae-labels": lambda rule: LabelPairs("gvae", rule),
    "ml-vae-labels": lambda rule: LabelPairs("ml-vae", rule),
}


def get_objective(
    method: str, kl_rule: str = "asymmetric", agreement: float = 0.0, sparsity: float = 0.0
) -> Objective:
    """Objective by method name; unknown names list the valid ones. ``agreement``: pair methods only."""
    key = method.lower().replace("_", "-")
    if key not in METHODS:
        raise unknown_name("method", method, METHODS)
    if kl_rule not in KL_RULES:
        raise unknown_name("kl rule", kl_rule, KL_RULES)
    objective = METHODS[key](kl_rule)
    if agreement and not objective.pairs:
        raise DisentkitError(f"agreement weighs a pair's shared latents; {method} trains on single images")
    objective.agreement, objective.sparsity = agreement, sparsity
    return objective
