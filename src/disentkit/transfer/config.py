"""The settings of one transfer (:class:`TransferConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from disentkit.errors import DisentkitError
from disentkit.options import option

#: the smallest evaluation sample that leaves the classifiers something to learn and to test
MIN_EVAL = 200


def _run_path(text: str) -> str:
    """A source run folder as a path spells it (``./runs/x/`` → ``runs/x``), as the config records it."""
    return str(Path(text))


@dataclass
class TransferConfig:
    """Settings of one transfer; saved in ``transfer.json``.

    Each field's help is in its metadata: ``disentkit transfer --help`` and
    :func:`disentkit.options.options_markdown` show them.
    """

    source: str = option(
        parse=_run_path,
        help="Source run folder (from `disentkit train`), or a folder of run folders (from `train --seeds/--betas`): each is transferred, into --out/<run name>.",
    )
    target: str = option(help="Target dataset name, or a folder of images (unlabelled).")
    target_options: dict = option(
        default_factory=dict,
        flag="--target-option",
        cli=False,  # repeatable key=value pairs: the command parses them
        help="Keyword options of the target dataset; on the CLI key=value, repeatable (e.g. resolution=128).",
    )
    steps: int = option(2000, help="Fine-tuning steps (the paper: 50,000).")
    weak: bool = option(
        False,
        help="Fine-tune on weak pairs with the source's weakly supervised method (labelled targets only).",
    )
    lr: float = option(1e-4, help="Fine-tuning learning rate (the paper: 1e-4).")
    beta: float | None = option(
        None, help="β of the fine-tuning loss (default: the source run's, as the paper)."
    )
    batch: int = option(64, cli=False, help="Fine-tuning batch (pairs with --weak, images otherwise).")
    seed: int = option(0, help="Drives the evaluation sample, the fine-tuning data and the metrics.")
    eval_size: int = option(
        15_000,
        help="Held-out evaluation sample, 2/3 train and 1/3 test (the protocol: 10,000 + 5,000).",
    )
    omes_pairs: int = option(
        10_000,
        help="OMES intervention pairs per factor (the same before and after, held out of fine-tuning).",
    )
    classifiers: tuple[str, ...] = option(
        ("gbt", "mlp"),
        help="Comma list of downstream classifiers: gbt (published convention), mlp, hgb (fast, not comparable).",
    )
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.")
    bf16: bool | None = option(
        None,
        help="bf16 autocast for the fine-tune (docs/training.md#bf16); default: as the source was trained.",
    )

    def validate(self) -> TransferConfig:
        from disentkit.transfer.evaluate import CLASSIFIERS  # torch: loaded when a transfer runs

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
