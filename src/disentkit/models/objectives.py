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
factor-vae    β·KL + γ·TC, TC estimated by a discriminator trained alongside with its own Adam
              (Kim & Mnih 2018); unsupervised.
dip-vae-i     β·KL + λ_od·Σ_{i≠j} Cov[μ]_ij² + λ_d·Σ_i (Cov[μ]_ii − 1)² (Kumar et al. 2018).
dip-vae-ii    the same on Cov[z] = Cov[μ] + E[diag σ²].
annealed-vae  γ·|KL − C|, C rising linearly from 0 to C_max over the given steps (Burgess et al. 2018).

The four last take their weights, defaults and study sweeps from disentanglement_lib's unsupervised
study (docs/training.md, "Methods"); β weighs their KL as it does β-VAE's (1 in the papers).

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
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

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
    m = min(k, latent_dim)
    # Built out of place, so that torch.func.vmap can map it over a model batch (train.batch).
    rest = torch.ones(n, latent_dim - m, dtype=torch.bool, device=changed.device)
    return torch.cat([~changed[:, :m].bool(), rest], dim=1)


# ---------------------------------------------------------------------------- objectives
class Objective:
    """β-VAE: unsupervised, regulariser β·KL. The base every other method adjusts."""

    name = "beta-vae"
    pairs = False
    # The loss is a mean of per-example (per-pair) terms, so batch shards' gradients sum exactly.
    per_example = True
    # Whether the whole step can be captured in a CUDA graph (no host-side state changes per step).
    graph_capturable = True
    # A network trained alongside the VAE with its own optimiser (FactorVAE's discriminator).
    companion: Companion | None = None
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

    def build(self, latent_dim: int, device: torch.device, seed: int) -> None:
        """Create what the objective trains besides the VAE (nothing here)."""

    def begin_step(self, step: int) -> None:
        """Called before each training step with its index (schedules)."""

    def companion_loss(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
        """The companion's own loss on this batch's latent draws; reaches only the companion."""
        return None


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


# ---------------------------------------------------------------------------- FactorVAE
class Companion:
    """A network trained alongside the VAE with its own optimiser; checkpointed with the run."""

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.module, self.optimizer = module, optimizer


class Discriminator(nn.Module):
    """FactorVAE's discriminator (Kim & Mnih 2018, appendix A; disentanglement_lib's
    fc_discriminator): 6 dense layers of 1000 units with leaky ReLU (slope 0.2), 2 logits
    (column 0: "a draw of q(z)", column 1: "a draw of Π_j q(z_j)")."""

    def __init__(self, latent_dim: int, width: int = 1000, depth: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(latent_dim if i == 0 else width, width), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(width, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Each column of ``z`` shuffled across the batch independently: draws of Π_j q(z_j)."""
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(dim=0)
    return z.gather(0, order)


def discriminator_tc(logits: torch.Tensor) -> torch.Tensor:
    """The density-ratio estimate TC ≈ E[log D(z) − log(1 − D(z))] = E[logit₀ − logit₁]."""
    return (logits[:, 0] - logits[:, 1]).mean()


# disentanglement_lib clips the discriminator's probabilities to [1e-6, 1 − 1e-6] before the log.
_LOG_P_MIN, _LOG_P_MAX = math.log(1e-6), math.log1p(-1e-6)


def discriminator_loss(logits_real: torch.Tensor, logits_permuted: torch.Tensor) -> torch.Tensor:
    """−(½ E[log D(z)] + ½ E[log(1 − D(z̃))]): classify draws of q(z) against permuted draws."""
    real = F.log_softmax(logits_real, dim=1)[:, 0].clamp(_LOG_P_MIN, _LOG_P_MAX)
    permuted = F.log_softmax(logits_permuted, dim=1)[:, 1].clamp(_LOG_P_MIN, _LOG_P_MAX)
    return -(0.5 * real.mean() + 0.5 * permuted.mean())


class FactorVAE(Objective):
    """FactorVAE: β·KL + γ·TC, TC from a discriminator trained on the same batch (Kim & Mnih 2018)."""

    name = "factor-vae"
    per_example = False  # the permuted draws mix rows of the batch
    graph_capturable = False  # a second optimiser steps outside the captured graph

    # disentanglement_lib's discriminator Adam (unsupervised study's shared.gin)
    DISC_BETAS = (0.5, 0.9)

    def __init__(self, gamma: float, disc_lr: float) -> None:
        self.gamma, self.disc_lr = gamma, disc_lr

    def build(self, latent_dim, device, seed) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = Discriminator(latent_dim)
        module = module.to(device)
        optimizer = torch.optim.Adam(module.parameters(), lr=self.disc_lr, betas=self.DISC_BETAS, eps=1e-8)
        self.companion = Companion(module, optimizer)

    def _discriminator(self) -> nn.Module:
        if self.companion is None:
            raise DisentkitError("factor-vae's discriminator is not built (Objective.build)")
        return self.companion.module

    def prior_term(self, z, mu, logvar, kl_dims, beta):
        disc = self._discriminator()
        # The VAE's term must not train the discriminator: its weights enter as constants.
        frozen = {k: v.detach() for k, v in disc.named_parameters()}
        tc = discriminator_tc(functional_call(disc, frozen, (z,)))
        return beta * kl_dims.sum(1).mean() + self.gamma * tc, {"tc": tc}

    def companion_loss(self, z, generator):
        disc = self._discriminator()
        z = z.detach()  # the discriminator's loss must not train the encoder
        return discriminator_loss(disc(z), disc(permute_dims(z, generator)))


# ---------------------------------------------------------------------------- DIP-VAE
def mean_covariance(mu: torch.Tensor) -> torch.Tensor:
    """Cov_batch[μ] = E[μμᵀ] − E[μ]E[μ]ᵀ (the biased, 1/n batch estimate)."""
    centred = mu - mu.mean(0, keepdim=True)
    return centred.T @ centred / mu.shape[0]


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, kind: str) -> torch.Tensor:
    """DIP-VAE-I: Cov[μ]; DIP-VAE-II: Cov[z] = Cov[μ] + E[diag σ²]."""
    cov = mean_covariance(mu)
    if kind == "ii":
        cov = cov + torch.diag(logvar.exp().mean(0))
    return cov


def dip_penalties(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ_{i≠j} C_ij², Σ_i (C_ii − 1)²): the off-diagonal and diagonal terms of DIP's penalty."""
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return off.square().sum(), (diag - 1.0).square().sum()


class DIPVAE(Objective):
    """DIP-VAE-I / -II: β·KL + λ_od·off-diagonal² + λ_d·(diagonal − 1)² of a batch covariance."""

    per_example = False  # the batch covariance couples the rows

    def __init__(self, kind: str, lambda_od: float, lambda_d_factor: float) -> None:
        self.kind, self.name = kind, f"dip-vae-{kind}"
        # disentanglement_lib: λ_d = lambda_d_factor · λ_od
        self.lambda_od, self.lambda_d = lambda_od, lambda_d_factor * lambda_od

    def prior_term(self, z, mu, logvar, kl_dims, beta):
        off, diag = dip_penalties(dip_covariance(mu, logvar, self.kind))
        penalty = self.lambda_od * off + self.lambda_d * diag
        return beta * kl_dims.sum(1).mean() + penalty, {"cov_offdiag": off, "cov_diag": diag}


# ---------------------------------------------------------------------------- AnnealedVAE
def capacity_at(step: int, capacity_max: float, capacity_steps: int) -> float:
    """C = min(C_max, C_max · step / steps): disentanglement_lib's linear capacity schedule."""
    return min(capacity_max, capacity_max * step / capacity_steps)


class AnnealedVAE(Objective):
    """AnnealedVAE: γ·|KL − C| with C rising linearly to C_max (Burgess et al. 2018)."""

    name = "annealed-vae"
    per_example = False  # |·| of the batch-mean KL: shards' terms do not add up
    graph_capturable = False  # C changes on the host every step

    def __init__(self, gamma: float, capacity_max: float, capacity_steps: int) -> None:
        self.gamma, self.capacity_max, self.capacity_steps = gamma, capacity_max, capacity_steps
        self.capacity = 0.0

    def begin_step(self, step: int) -> None:
        self.capacity = capacity_at(step, self.capacity_max, self.capacity_steps)

    def prior_term(self, z, mu, logvar, kl_dims, beta):
        capacity = torch.tensor(self.capacity, device=kl_dims.device)
        return self.gamma * (kl_dims.sum(1).mean() - capacity).abs(), {"capacity": capacity}


# ---------------------------------------------------------------------------- the registry
#: the options of the methods that take any, with disentanglement_lib's unsupervised-study defaults
METHOD_DEFAULTS: dict[str, dict[str, float]] = {
    "factor-vae": {"gamma": 10.0, "disc_lr": 1e-4},
    "dip-vae-i": {"lambda_od": 10.0, "lambda_d_factor": 10.0},
    "dip-vae-ii": {"lambda_od": 10.0, "lambda_d_factor": 1.0},
    "annealed-vae": {"gamma": 1000.0, "capacity_max": 25.0, "capacity_steps": 100_000},
}

METHODS: dict[str, Callable[[str, dict], Objective]] = {
    "beta-vae": lambda rule, o: Objective(),
    "beta-tcvae": lambda rule, o: BetaTCVAE(),
    "ada-gvae": lambda rule, o: AdaptivePairs("gvae", rule),
    "ada-ml-vae": lambda rule, o: AdaptivePairs("ml-vae", rule),
    "gvae-labels": lambda rule, o: LabelPairs("gvae", rule),
    "ml-vae-labels": lambda rule, o: LabelPairs("ml-vae", rule),
    "factor-vae": lambda rule, o: FactorVAE(o["gamma"], o["disc_lr"]),
    "dip-vae-i": lambda rule, o: DIPVAE("i", o["lambda_od"], o["lambda_d_factor"]),
    "dip-vae-ii": lambda rule, o: DIPVAE("ii", o["lambda_od"], o["lambda_d_factor"]),
    "annealed-vae": lambda rule, o: AnnealedVAE(o["gamma"], o["capacity_max"], int(o["capacity_steps"])),
}


def method_options(method: str, given: dict[str, float | None]) -> dict[str, float]:
    """The method's options: ``given`` where not None, else its defaults. An option set for a method
    that does not take it is an error (it would be silently ignored)."""
    key = method.lower().replace("_", "-")
    defaults = METHOD_DEFAULTS.get(key, {})
    foreign = sorted(k for k, v in given.items() if v is not None and k not in defaults)
    if foreign:
        takers = sorted(m for m, d in METHOD_DEFAULTS.items() if foreign[0] in d)
        raise DisentkitError(f"{foreign[0]} is an option of {', '.join(takers)}, not of {method}")
    options = {k: (given[k] if given.get(k) is not None else v) for k, v in defaults.items()}
    for name, value in options.items():
        if value <= 0:
            raise DisentkitError(f"{name} must be > 0, got {value}")
    return options


def get_objective(
    method: str,
    kl_rule: str = "asymmetric",
    agreement: float = 0.0,
    sparsity: float = 0.0,
    options: dict[str, float | None] | None = None,
) -> Objective:
    """Objective by method name; unknown names list the valid ones. ``agreement``: pair methods only.
    ``options``: the method's weights (``METHOD_DEFAULTS``); None or missing ones take the defaults."""
    key = method.lower().replace("_", "-")
    if key not in METHODS:
        raise unknown_name("method", method, METHODS)
    if kl_rule not in KL_RULES:
        raise unknown_name("kl rule", kl_rule, KL_RULES)
    objective = METHODS[key](kl_rule, method_options(key, options or {}))
    if agreement and not objective.pairs:
        raise DisentkitError(f"agreement weighs a pair's shared latents; {method} trains on single images")
    objective.agreement, objective.sparsity = agreement, sparsity
    return objective
