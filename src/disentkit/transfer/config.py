"""The settings of one transfer (saved in ``transfer.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from disentkit.errors import DisentkitError
from disentkit.transfer.evaluate import CLASSIFIERS

#: the smallest evaluation sample that leaves the classifiers something to learn and to test
MIN_EVAL = 200


@dataclass
class TransferConfig:
    """Settings of one transfer; saved in ``transfer.json``.

    Parameters
    ----------
    source : str
        Source run folder (``disentkit train``).
    target : str
        A registered dataset name, or a folder of images (unlabelled target).
    target_options : dict
        Keyword options of the target dataset (e.g. ``{"resolution": 128}``).
    steps : int
        Fine-tuning steps (the paper: 50,000).
    weak : bool
        Fine-tune on weak pairs with the source's weakly supervised method (labelled targets only).
    lr : float
        Fine-tuning learning rate (the paper: 1e-4).
    beta : float or None
        None: the source run's β (the paper).
    batch : int
    seed : int
        Drives the evaluation sample, the fine-tuning data and the metrics.
    eval_size : int
        Evaluation sample size (the protocol: 15,000 = 10,000 train + 5,000 test).
    omes_pairs : int
        OMES intervention pairs per factor (rendered, the same for before and after, held out of
        fine-tuning like the evaluation sample).
    classifiers : tuple of str
        Downstream classifiers: "gbt" (published convention), "mlp", "hgb" (fast, not comparable).
    device : str
    """

    source: str
    target: str
    target_options: dict = field(default_factory=dict)
    steps: int = 2000
    weak: bool = False
    lr: float = 1e-4
    beta: float | None = None
    batch: int = 64
    seed: int = 0
    eval_size: int = 15_000
    omes_pairs: int = 10_000
    classifiers: tuple[str, ...] = ("gbt", "mlp")
    device: str = "auto"

    def validate(self) -> TransferConfig:
        if self.steps < 1 or self.batch < 1:
            raise DisentkitError("steps and batch must be at least 1")
        if self.omes_pairs < 10:
            raise DisentkitError(f"omes_pairs must be at least 10, got {self.omes_pairs}")
        if self.eval_size < MIN_EVAL:
            raise DisentkitError(f"eval_size must be at least {MIN_EVAL}, got {self.eval_size}")
        bad = [c for c in self.classifiers if c not in CLASSIFIERS]
        if bad:
            raise DisentkitError(f"unknown classifier(s) {', '.join(bad)}; valid: {', '.join(CLASSIFIERS)}")
        if self.lr <= 0:
            raise DisentkitError(f"lr must be > 0, got {self.lr}")
        return self

    @property
    def split(self) -> tuple[int, int]:
        """(train, test) sizes of the evaluation sample: 2:1 as the protocol's 10,000 / 5,000."""
        n_train = (2 * self.eval_size) // 3
        return n_train, self.eval_size - n_train
