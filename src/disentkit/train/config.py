"""The typed training configuration, its presets and validation.

A preset fills the fields the user left at their defaults; explicit values win (see PRESETS).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from disentkit.errors import DisentkitError, unknown_name
from disentkit.options import EXPERIMENTAL, option

#: TrainConfig fields that are options of one method or another (models.objectives.METHOD_DEFAULTS)
METHOD_OPTIONS = ("gamma", "disc_lr", "lambda_od", "lambda_d_factor", "capacity_max", "capacity_steps")


def parse_k(text: str) -> int | str:
    """``k`` from the command line: a number or "random"."""
    if text == "random":
        return text
    try:
        return int(text)
    except ValueError:
        raise DisentkitError(f"--k must be a positive integer or 'random', got {text!r}") from None


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.yaml`` in the run folder.

    Each field's help is in its metadata: ``disentkit train --help`` and
    :func:`disentkit.options.options_markdown` show them.
    """

    data: str = option(
        "dsprites",
        help="Dataset name (disentkit data list); with a dataset object passed to train(), a label for it.",
    )
    method: str = option(
        "ada-gvae",
        help="beta-vae, beta-tcvae, factor-vae, dip-vae-i, dip-vae-ii, annealed-vae (unsupervised); "
        "ada-gvae, ada-ml-vae, gvae-labels, ml-vae-labels (weak pairs).",
    )
    arch: str = option("conv64", help="conv64 (disentanglement_lib) or conv64-bn (the transfer paper).")
    beta: float = option(
        1.0,
        help="Weight of the KL (beta-tcvae: of the total correlation; annealed-vae weighs |KL − C| by "
        "--gamma instead and needs 1).",
    )
    gamma: float | None = option(
        None,
        help="factor-vae: weight γ of the discriminator's total-correlation estimate (default 10); "
        "annealed-vae: weight γ of |KL − C| (default 1000). Other methods refuse it.",
    )
    disc_lr: float | None = option(
        None, help="factor-vae: the discriminator's Adam learning rate (β₁ 0.5, β₂ 0.9; default 1e-4)."
    )
    lambda_od: float | None = option(
        None, help="dip-vae-i/-ii: weight λ_od of the squared off-diagonal covariance entries (default 10)."
    )
    lambda_d_factor: float | None = option(
        None,
        help="dip-vae-i/-ii: λ_d = this · λ_od weighs the diagonal's distance from 1 (default 10 for -i, "
        "1 for -ii).",
    )
    capacity_max: float | None = option(
        None, help="annealed-vae: the capacity C_max in nats the KL is pulled to (default 25)."
    )
    capacity_steps: int | None = option(
        None, help="annealed-vae: steps over which C rises linearly from 0 to C_max (default 100000)."
    )
    steps: int = option(1500, help="Optimiser steps.")
    batch: int = option(64, help="Pairs per step for weakly supervised methods, images per step otherwise.")
    lr: float = option(1e-4, help="Adam learning rate (β₁ 0.9, β₂ 0.999).")
    lr_decay: float = option(
        0.0,
        group=EXPERIMENTAL,
        help="experimental: fraction of the final steps over which the learning rate falls linearly "
        "to 0 (0: constant, as the papers; not with --cuda-graphs).",
    )
    head_decay: float = option(
        0.0,
        group=EXPERIMENTAL,
        help="experimental: AdamW weight decay on the encoder's μ/log σ² head weights (0: plain Adam, "
        "as the papers).",
    )
    seed: int = option(
        0, help="Seeds the weights and the data stream; step s's batch depends only on (seed, s)."
    )
    k: int | str = option(
        1,
        parse=parse_k,
        help="Factors changed per pair: a number (the transfer paper: 1) or 'random' (disentanglement_lib: "
        "k' ~ U{1..K−1}, then 1 or k' with equal chance).",
    )
    agreement: float = option(
        0.0,
        group=EXPERIMENTAL,
        help="experimental: pair methods: weight of the symmetric KL between the two posteriors of "
        "each shared latent (0: none, as the papers).",
    )
    sparsity: float = option(
        0.0,
        group=EXPERIMENTAL,
        help="experimental: weight λ of λ·Σ_j √(KL_j + 10⁻³) per example; takes a latent worth less "
        "than about λ to the prior (0: none, as the papers; cpu-quick: 16).",
    )
    allow_equal: bool = option(False, help="A changed factor may keep its value (the release behaviour).")
    kl_rule: str = option(
        "asymmetric",
        help="Ada threshold divergence: asymmetric (disentanglement_lib) or symmetric (disent, the "
        "transfer paper).",
    )
    warmup_steps: int = option(
        0, help="Steps over which β moves linearly from --beta-start to --beta (0: β from the first step)."
    )
    beta_start: float = option(
        0.0, help="β at step 0 of that ramp: 0 is a warm-up; above --beta it anneals down."
    )
    clip: float | None = option(1.0, none_as=0.0, help="Gradient-norm clipping threshold (0: no clipping).")
    recon: str = option(
        "bernoulli",
        help="bernoulli (BCE with logits, summed over pixels) or gaussian (squared error of the sigmoid "
        "means, summed).",
    )
    latent_dim: int = option(10, help="Latent code size.")
    channels: int | None = option(
        None,
        cli=False,
        help="Model input channels; None takes the dataset's (1-channel data can feed a 3-channel model).",
    )
    checkpoint_every: int = option(
        500,
        help="Steps between checkpoints (the best by mean loss over each interval is kept, and the latest).",
    )
    log_every: int = option(50, help="Steps between log rows (TensorBoard and metrics.csv).")
    collapse_patience: int = option(
        500,
        help="Steps a run from scratch may go with no active latent before the collapse guard stops it "
        "(it writes no checkpoint meanwhile; a run that ends with none stops too). 0: at the first such log row.",
    )
    device: str = option("auto", help="auto (CUDA when present), cpu, cuda or cuda:N.")
    bf16: bool = option(
        False,
        help="bf16 autocast of the network on CUDA or the CPU (losses, weights and Adam stay float32); "
        "on a CPU with AVX512-BF16 or AMX 1.4-1.9x faster per step (docs/training.md#bf16).",
    )
    cuda_graphs: bool = option(
        False, help="Capture the whole step in a CUDA graph after 3 warm-up steps and replay it (CUDA only)."
    )
    cpu_shards: int | None = option(
        None,
        none_as=0,
        help="CPU: split each batch over this many single-threaded shards and sum their gradients "
        "(1: one multi-threaded step; 0: one per torch thread for 2–4 threads where the method and "
        "architecture are per-example, else 1, chosen at the start and saved). CPU numbers depend on it.",
    )
    preset: str | None = option(
        None,
        help="cpu-quick, cpu-quick-ada or paper: fills the options left at their defaults (recorded "
        "in the config); explicit options override it.",
    )

    def objective(self):
        """The run's :class:`~disentkit.models.objectives.Objective`."""
        from disentkit.models.objectives import get_objective  # torch: loaded when a run needs it

        return get_objective(self.method, self.kl_rule, self.agreement, self.sparsity, self.method_options())

    def method_options(self) -> dict[str, float | None]:
        """The method-specific weights as set here (None: the method's default)."""
        return {name: getattr(self, name) for name in METHOD_OPTIONS}

    def validate(self) -> TrainConfig:
        """Check names and ranges; returns self. Every problem is a DisentkitError saying what to do."""
        from disentkit.models.architectures import ARCHITECTURES
        from disentkit.models.vae import RECONSTRUCTIONS

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
        if self.collapse_patience < 0:
            raise DisentkitError(f"collapse_patience must be ≥ 0 steps, got {self.collapse_patience}")
        if self.clip is not None and self.clip <= 0:
            raise DisentkitError(f"clip must be > 0 or None, got {self.clip}")
        if self.k != "random" and not (isinstance(self.k, int) and self.k >= 1):
            raise DisentkitError(f"k must be a positive integer or 'random', got {self.k!r}")
        return self


# What the two CPU presets share: conv64, lr 5e-4, no warm-up, no clipping.
_CPU_QUICK_SCHEDULE = {
    "arch": "conv64",
    "steps": 2000,
    "batch": 64,
    "lr": 5e-4,
    "warmup_steps": 0,
    # A loss summed over 4,096 pixels has large gradient norms early: clipping at 1.0 slows the start.
    "clip": None,
    "checkpoint_every": 400,
}

#: Named starting points; a preset fills only the options the user left at their defaults.
PRESETS: dict[str, dict] = {
    # GVAE with the changed factors known, one latent per dSprites factor, 3 factors changed per
    # pair; small batches for more updates per CPU-second (its draws: docs/results/cpu-draws).
    "cpu-quick": {
        "method": "gvae-labels",
        "k": 3,
        "latent_dim": 5,
        "beta": 2.0,
        **_CPU_QUICK_SCHEDULE,
        "batch": 16,
        "steps": 6000,
        "checkpoint_every": 1000,
        # Latents the budget cannot fill go to the prior instead of keeping a small, noisy spread
        # that OMES counts as a mixed dimension.
        "sparsity": 16.0,
    },
    # Ada-GVAE (changed factors unknown), one factor changed per pair.
    "cpu-quick-ada": {"method": "ada-gvae", "k": 1, "latent_dim": 10, "beta": 1.0, **_CPU_QUICK_SCHEDULE},
    # The transfer paper's schedule: a linear β warm-up over 50,000 of 400,000 steps, clip 1.0.
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
