"""The typed training configuration, its presets and validation.

Presets
-------
cpu-quick      GVAE with the changed factors known, 3 factors changed per pair, β 2, 5 latents
               (dSprites' factors), conv64, batch 16 pairs, lr 5e-4, no warm-up, no clipping,
               6,000 steps (¾ of the images of the former 2,000 steps of 64 pairs, three times the
               updates); the draws measured on dSprites are in docs/training.md ("Smaller batches").
cpu-quick-ada  Ada-GVAE (changed factors unknown), k 1, β 1, 10 latents, batch 64 pairs, 2,000
               steps, otherwise as cpu-quick: beats a β-VAE of the same budget, OMES 0.2–0.4
               (docs/training.md).
paper      The transfer paper: Adam lr 1e-4, clip 1.0, batch 64 pairs, 400,000 steps, linear β
           warm-up over 50,000 steps, a checkpoint every 10,000 steps (best by mean loss kept).

A preset fills the fields the user left at their defaults; explicit values win.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from disentkit.errors import DisentkitError, unknown_name
from disentkit.models.architectures import ARCHITECTURES
from disentkit.models.objectives import get_objective
from disentkit.models.vae import RECONSTRUCTIONS

#: TrainConfig fields that are options of one method or another (models.objectives.METHOD_DEFAULTS)
METHOD_OPTIONS = ("gamma", "disc_lr", "lambda_od", "lambda_d_factor", "capacity_max", "capacity_steps")


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.yaml`` in the run folder.

    Parameters
    ----------
    data : str
        Dataset name (``disentkit.data.get_dataset``) or a label for a dataset object passed in.
    method : str
        beta-vae, beta-tcvae, factor-vae, dip-vae-i, dip-vae-ii, annealed-vae (unsupervised);
        ada-gvae, ada-ml-vae, gvae-labels, ml-vae-labels (weak pairs).
    arch : str
        conv64 (disentanglement_lib) or conv64-bn (transfer paper).
    beta : float
        Weight of the KL (β-TCVAE: of the total correlation; factor-vae and dip-vae: 1 in the papers;
        annealed-vae has none, γ·|KL − C| takes its place, so β must stay 1).
    gamma : float or None
        factor-vae: weight γ of the discriminator's total-correlation estimate (default 10; the
        unsupervised study swept 10, 20, 30, 40, 50, 100). annealed-vae: weight γ of |KL − C|
        (default 1000, the study's). None: the method's default; other methods refuse it.
    disc_lr : float or None
        factor-vae: learning rate of the discriminator's Adam (β₁ 0.5, β₂ 0.9; default 1e-4).
    lambda_od : float or None
        dip-vae-i/-ii: weight λ_od of the squared off-diagonal covariance entries (default 10; the
        study swept 1, 2, 5, 10, 20, 50).
    lambda_d_factor : float or None
        dip-vae-i/-ii: λ_d = lambda_d_factor · λ_od weighs the squared distance of the diagonal
        from 1 (default 10 for dip-vae-i, 1 for dip-vae-ii, the study's).
    capacity_max : float or None
        annealed-vae: the capacity C_max in nats the KL is pulled to (default 25; the study swept 5,
        10, 25, 50, 75, 100).
    capacity_steps : int or None
        annealed-vae: steps over which C rises linearly from 0 to C_max (default 100,000, the
        study's of 300,000 steps; short runs want a fraction of ``steps``).
    steps : int
        Optimiser steps.
    batch : int
        Pairs per step for weakly supervised methods, images per step otherwise.
    lr : float
        Adam learning rate (β₁ 0.9, β₂ 0.999).
    lr_decay : float
        Fraction of the final steps over which the learning rate falls linearly to 0 (0: constant,
        as the papers). Tried on short runs to settle all-but-collapsed latents below the 0.05
        posterior-mean spread OMES takes for "inactive"; measured, it freezes their spread instead
        (docs/training.md) — ``sparsity`` is what removes it.
    head_decay : float
        Decoupled weight decay (AdamW) on the weights of the encoder's posterior head, the layers
        that output μ and log σ² (0: none, plain Adam, as the papers). A latent the decoder has
        stopped using keeps, under Adam's noise, a head row that makes its posterior mean wobble
        with the other factors; the decay was meant to pull that row to 0. Measured on cpu-quick
        (docs/training.md) it does not: the features the head reads grow instead (norm ×3–4).
    seed : int
        Seeds the weights and the data stream; the batch of step ``s`` depends only on (seed, s).
    k : int or "random"
        Factors changed per pair: an int (the transfer paper: 1) or "random" (disentanglement_lib).
    agreement : float
        Pair methods: weight of the symmetric KL between the two posteriors of every latent the pair
        shares, in nats (0: none, the papers' objectives). Averaging alone gives the gap between
        two encodings of a shared factor no gradient (tested); measured on cpu-quick in
        docs/training.md, "Sparsity: finishing the collapse", where it did not help.
    sparsity : float
        Weight λ of λ·Σ_j √(KL_j + 10⁻³) per example, a penalty that takes a latent worth less than
        about λ all the way to the prior (0: none, the papers' objectives; docs/training.md,
        "Sparsity: finishing the collapse").
    allow_equal : bool
        Let a changed factor keep its value (the release behaviour).
    kl_rule : str
        Ada threshold divergence: "asymmetric" (disentanglement_lib) or "symmetric" (disent/transfer).
    warmup_steps : int
        β moves linearly from ``beta_start`` to β over this many steps (0: β from the first step).
    beta_start : float
        β at step 0 of that ramp: 0 is the usual warm-up; above β it anneals down (a tight
        bottleneck first that loosens, as Burgess et al. 2018's capacity schedule).
    clip : float or None
        Gradient-norm clipping threshold (None: no clipping).
    recon : str
        "bernoulli" (BCE with logits, summed over pixels) or "gaussian" (L2 of the sigmoid means).
    latent_dim : int
        Latent code size.
    channels : int or None
        Model input channels; None takes the dataset's (1-channel data can feed a 3-channel model).
    checkpoint_every : int
        Steps between checkpoints (the best by mean loss over each interval is kept, plus the latest).
    log_every : int
        Steps between log rows (TensorBoard + CSV).
    device : str
        auto, cpu, cuda, cuda:N.
    bf16 : bool
        bf16 autocast on CUDA.
    cuda_graphs : bool
        Capture the whole step (forward, backward, clip, Adam) in a CUDA graph after 3 warm-up steps.
    cpu_shards : int or None
        On CPU, split each batch into this many shards computed side by side, one thread each, and
        sum their gradients (1: one multi-threaded step). None picks at the start of a run and saves
        the choice: one shard per torch thread for 2–4 threads when the method and architecture are
        per-example (not β-TCVAE, not conv64-bn's BatchNorm), else 1. CPU numbers depend on it.
    preset : str or None
        The preset these values came from (recorded, informational).
    """

    data: str = "dsprites"
    method: str = "ada-gvae"
    arch: str = "conv64"
    beta: float = 1.0
    gamma: float | None = None
    disc_lr: float | None = None
    lambda_od: float | None = None
    lambda_d_factor: float | None = None
    capacity_max: float | None = None
    capacity_steps: int | None = None
    steps: int = 1500
    batch: int = 64
    lr: float = 1e-4
    lr_decay: float = 0.0
    head_decay: float = 0.0
    seed: int = 0
    k: int | str = 1
    agreement: float = 0.0
    sparsity: float = 0.0
    allow_equal: bool = False
    kl_rule: str = "asymmetric"
    warmup_steps: int = 0
    beta_start: float = 0.0
    clip: float | None = 1.0
    recon: str = "bernoulli"
    latent_dim: int = 10
    channels: int | None = None
    checkpoint_every: int = 500
    log_every: int = 50
    device: str = "auto"
    bf16: bool = False
    cuda_graphs: bool = False
    cpu_shards: int | None = None
    preset: str | None = None

    def objective(self):
        """The run's :class:`~disentkit.models.objectives.Objective`."""
        return get_objective(self.method, self.kl_rule, self.agreement, self.sparsity, self.method_options())

    def method_options(self) -> dict[str, float | None]:
        """The method-specific weights as set here (None: the method's default)."""
        return {name: getattr(self, name) for name in METHOD_OPTIONS}

    def validate(self) -> TrainConfig:
        """Check names and ranges; returns self. Every problem is a DisentkitError saying what to do."""
        objective = self.objective()  # unknown method or kl rule; agreement without pairs; options
        if self.cuda_graphs and not objective.graph_capturable:
            raise DisentkitError(f"{self.method} updates state outside the step's graph: drop cuda_graphs")
        if objective.name == "annealed-vae" and (self.beta != 1.0 or self.warmup_steps):
            raise DisentkitError(
                "annealed-vae weighs the KL by γ·|KL − C| (--gamma, --capacity-max): leave beta 1 and "
                "warmup_steps 0"
            )
        if self.arch.lower().replace("_", "-") not in ARCHITECTURES:
            raise unknown_name("architecture", self.arch, ARCHITECTURES)
        if self.recon not in RECONSTRUCTIONS:
            raise unknown_name("reconstruction", self.recon, RECONSTRUCTIONS)
        positive = {"steps": self.steps, "batch": self.batch, "latent_dim": self.latent_dim}
        positive |= {"checkpoint_every": self.checkpoint_every, "log_every": self.log_every}
        for name, value in positive.items():
            if int(value) < 1:
                raise DisentkitError(f"{name} must be at least 1, got {value}")
        if self.lr <= 0 or min(self.beta, self.beta_start, self.warmup_steps) < 0:
            raise DisentkitError("lr must be > 0; beta, beta_start and warmup_steps ≥ 0")
        if not 0.0 <= self.lr_decay <= 1.0:
            raise DisentkitError(f"lr_decay is a fraction of the steps in [0, 1], got {self.lr_decay}")
        if min(self.agreement, self.sparsity) < 0:
            raise DisentkitError(f"agreement and sparsity must be ≥ 0, got {self.agreement}, {self.sparsity}")
        if self.head_decay < 0:
            raise DisentkitError(f"head_decay must be ≥ 0, got {self.head_decay}")
        if self.lr_decay and self.cuda_graphs:
            # A captured graph replays the learning rate it was captured with.
            raise DisentkitError("lr_decay needs eager steps: set lr_decay 0 or drop cuda_graphs")
        if self.cpu_shards is not None and not 1 <= self.cpu_shards <= self.batch:
            raise DisentkitError(f"cpu_shards must be between 1 and the batch size, got {self.cpu_shards}")
        if self.clip is not None and self.clip <= 0:
            raise DisentkitError(f"clip must be > 0 or None, got {self.clip}")
        if self.k != "random" and not (isinstance(self.k, int) and self.k >= 1):
            raise DisentkitError(f"k must be a positive integer or 'random', got {self.k!r}")
        return self


# The CPU recipes of docs/training.md ("What the quick presets reach"): 2,000 steps of 64 pairs.
_CPU_QUICK_SCHEDULE = {
    "arch": "conv64",
    "steps": 2000,
    "batch": 64,
    "lr": 5e-4,
    "warmup_steps": 0,
    # No clipping: with a loss summed over 4,096 pixels, clipping at 1.0 slowed early progress.
    "clip": None,
    "checkpoint_every": 400,
}

PRESETS: dict[str, dict] = {
    "cpu-quick": {
        # The changed factors known (the transfer paper's released "labels" configs), one latent per
        # dSprites factor and three of them changed per pair: a factor's latent is then averaged
        # in the pairs where another factor changed often enough to stop it holding that factor.
        "method": "gvae-labels",
        "k": 3,
        "latent_dim": 5,
        "beta": 2.0,
        **_CPU_QUICK_SCHEDULE,
        # More updates for the same images and time: on CPU the steps/s grow as the batch shrinks
        # (images/s stay), and at equal images smaller batches lifted the failing draws
        # (docs/training.md, "Smaller batches").
        "batch": 16,
        "steps": 6000,
        "checkpoint_every": 1000,
        # Latents the budget cannot fill (shape's and orientation's) go all the way to the prior
        # instead of keeping a small, noisy spread that OMES counts as a mixed dimension
        # (docs/training.md, "Sparsity: finishing the collapse").
        "sparsity": 16.0,
    },
    "cpu-quick-ada": {"method": "ada-gvae", "k": 1, "latent_dim": 10, "beta": 1.0, **_CPU_QUICK_SCHEDULE},
    "paper": {
        "arch": "conv64",
        "beta": 1.0,
        "steps": 400_000,
        "batch": 64,
        "lr": 1e-4,
        "warmup_steps": 50_000,
        "clip": 1.0,
        "checkpoint_every": 10_000,
        "log_every": 500,
    },
}


def apply_preset(config: TrainConfig, preset: str | None, explicit: set[str] = frozenset()) -> TrainConfig:
    """Fill ``config`` from ``preset`` except the fields named in ``explicit`` (the user's choices)."""
    if preset is None:
        return config
    if preset not in PRESETS:
        raise unknown_name("preset", preset, PRESETS)
    values = {k: v for k, v in PRESETS[preset].items() if k not in explicit}
    return dataclasses.replace(config, **values, preset=preset)
