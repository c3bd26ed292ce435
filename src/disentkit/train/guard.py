"""The posterior-collapse guard: counts the active latents at every log row and stops a run whose
posterior has collapsed, before a checkpoint of the dead model is written.

A latent is active when its mean KL to the prior exceeds :data:`~disentkit.models.vae.ACTIVE_KL`.
A collapse is no active latent left, or — when the run starts from another model (fine-tuning) —
fewer than half of the active latents it started from. The run's last checkpoint from before the
collapse stays on disk, and ``collapse.json`` in the run folder says what happened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from disentkit.config import atomic_write_text
from disentkit.errors import DisentkitError
from disentkit.models.vae import ACTIVE_KL

COLLAPSE_FILE = "collapse.json"
ADVICE = "try a lower --lr, a smaller --beta, gradient clipping (--clip 1) or fewer --steps"


def count_active(kl_per_dim: Sequence[float]) -> int:
    """Latents whose mean KL to the prior exceeds ``ACTIVE_KL``."""
    return sum(1 for kl in kl_per_dim if kl > ACTIVE_KL)


def is_collapse(active: int, reference: int) -> bool:
    """The collapse rule: none of ``reference`` (> 0) active latents left, or fewer than half."""
    return reference > 0 and (active == 0 or active < reference / 2)


@dataclass
class Collapse:
    """What the guard saw when it fired (saved as ``collapse.json``)."""

    step: int
    active: int
    reference: int
    kl_per_dim: list[float]
    last_checkpoint_step: int | None
    #: the first log row since which no latent was active (a run from scratch)
    dead_since: int | None = None

    def message(self, run: Path | str) -> str:
        kept = (
            f"the checkpoint of step {self.last_checkpoint_step} is kept"
            if self.last_checkpoint_step
            else "no checkpoint was written before it"
        )
        since = f" (none since step {self.dead_since})" if self.dead_since not in (None, self.step) else ""
        return (
            f"posterior collapse in {run} at step {self.step}: {self.active} active latent(s){since} "
            f"(KL > {ACTIVE_KL} nats) of the {self.reference} it had; training stopped and {kept}. "
            f"To avoid it, {ADVICE}"
        )


class PosteriorCollapsed(DisentkitError):
    """Training stopped because the posterior collapsed (see :class:`Collapse`)."""

    def __init__(self, collapse: Collapse, run: Path) -> None:
        super().__init__(collapse.message(run))
        self.collapse = collapse


class CollapseGuard:
    """Applies the collapse rule at every log row.

    Parameters
    ----------
    reference : int, optional
        The active latents the run starts from (fine-tuning: the source model's on the target).
        None: a run from scratch, which collapses when no latent is left active after some were
        (a fresh encoder starts near the prior; latents dying one by one is pruning, not collapse).
    peak : int
        The most latents active at any log row so far (restored on resume).
    patience : int
        A run from scratch collapses only after ``patience`` steps with no active latent, or when it
        ends with none: early in training a β-VAE's posterior can touch the prior for tens of steps
        and recover. Meanwhile the run writes no checkpoint (:attr:`suspect`). 0: at once.
    last_step : int, optional
        The run's last step.
    """

    def __init__(
        self, reference: int | None = None, peak: int = 0, patience: int = 0, last_step: int | None = None
    ) -> None:
        self.reference, self.peak = reference, peak
        self.patience, self.last_step = patience, last_step
        self.dead_since: int | None = None

    @property
    def suspect(self) -> bool:
        """No latent is active now, but not for long enough to call it a collapse."""
        return self.dead_since is not None

    def check(
        self, step: int, kl_per_dim: Sequence[float], last_checkpoint_step: int | None
    ) -> tuple[int, Collapse | None]:
        """The active latents at ``step``, and the collapse if the rule says so."""
        active = count_active(kl_per_dim)
        self.peak = max(self.peak, active)
        if self.reference is None:
            reference = self.peak
            dead = self.peak > 0 and active == 0
            self.dead_since = (step if self.dead_since is None else self.dead_since) if dead else None
            collapsed = dead and (step - self.dead_since >= self.patience or step == self.last_step)
        else:
            reference, collapsed = self.reference, is_collapse(active, self.reference)
        if not collapsed:
            return active, None
        kl = [float(v) for v in kl_per_dim]
        return active, Collapse(step, active, reference, kl, last_checkpoint_step, self.dead_since)


def write_collapse(run: Path, collapse: Collapse) -> None:
    atomic_write_text(run / COLLAPSE_FILE, json.dumps(asdict(collapse), indent=2))


def read_collapse(run: str | Path) -> Collapse | None:
    """The collapse a run stopped at, if it did."""
    path = Path(run) / COLLAPSE_FILE
    if not path.exists():
        return None
    try:
        return Collapse(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise DisentkitError(f"cannot read {path}: {exc}; delete it to train the run on") from None
