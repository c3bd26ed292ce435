"""The fine-tuning stage of a transfer: the source's training settings switched to the transfer
paper's, and the run itself (reused, resumed or extended)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from disentkit.config import atomic_write_text, load_config
from disentkit.console import say
from disentkit.errors import DisentkitError
from disentkit.transfer.config import TransferConfig
from disentkit.transfer.results import DONE, FINETUNE


def finetune_config(source_config, config: TransferConfig, channels: int, labelled: bool):
    """The source's training settings, switched to the transfer paper's fine-tuning ones."""
    from disentkit.train.config import METHOD_OPTIONS, TrainConfig

    method = "beta-vae"
    if config.weak:
        if not labelled:
            raise DisentkitError("--weak needs a target with factors (weak pairs); this target has none")
        method = source_config.method if source_config.objective().pairs else "ada-gvae"
    # At least four checkpoints: a collapse guard needs one from before the collapse to fall back on.
    every = max(1, min(source_config.checkpoint_every, math.ceil(config.steps / 4)))
    base: TrainConfig = source_config
    return dataclasses.replace(
        base,
        data=f"{config.target} (transfer)",
        method=method,
        steps=config.steps,
        lr=config.lr,
        beta=source_config.beta if config.beta is None else config.beta,
        batch=config.batch,
        seed=config.seed,
        warmup_steps=0,
        # The transfer paper's fine-tuning objective: a source's extra terms (cpu-quick prunes
        # latents with sparsity) would keep pruned latents from taking up the target's factors.
        agreement=0.0,
        sparsity=0.0,
        # Fine-tuning is β-VAE or a pair method: a FactorVAE/DIP/AnnealedVAE source's weights go.
        **dict.fromkeys(METHOD_OPTIONS),
        # Keep the source's clipping: the Adam moments we load were accumulated under it. Clipping
        # gradients the source never clipped makes every update ~g/sqrt(v_source), thousands of
        # times too small, and the fine-tune barely moves the encoder.
        clip=source_config.clip,
        channels=channels,
        checkpoint_every=every,
        log_every=max(1, min(source_config.log_every, every)),
        device=config.device,
        bf16=source_config.bf16 if config.bf16 is None else config.bf16,
        preset=None,
    ).validate()


@dataclasses.dataclass
class FinetuneTask:
    """One transfer's fine-tune: its folder, source run, target adapter, settings, and the source's
    active latents on the target (the collapse guard's reference)."""

    out: Path
    source: object
    adapter: object
    config: TransferConfig
    active: int


def _finetune_run(task: FinetuneTask, progress: bool):
    """(run folder, fine-tune config, whether it is finished): a finished fine-tune asked for more
    steps is reopened to train on from its last checkpoint."""
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import resumable

    run = task.out / FINETUNE
    ft_config = finetune_config(
        task.source.config, task.config, task.source.model.channels, task.adapter.labelled
    )
    if resumable(run):
        saved = load_config(TrainConfig, run / "config.yaml")
        if saved.steps < ft_config.steps:  # the user asked for more steps: train on from the last one
            say(progress, f"extending the fine-tune from {saved.steps} to {ft_config.steps} steps (resuming)")
            (run / DONE).unlink(missing_ok=True)
    return run, ft_config, (run / DONE).exists()


def finetune(task: FinetuneTask, data, progress: bool) -> Path:
    """Run (or reuse, or resume, or extend) one transfer's fine-tuning on ``data``; returns its run
    folder."""
    from disentkit.train.loop import train_or_resume

    run, ft_config, done = _finetune_run(task, progress)
    if done:
        return run
    train_or_resume(
        ft_config,
        run,
        dataset=data,
        init_from=task.source.path,
        progress=progress,
        active_reference=task.active,
        changes={"steps": ft_config.steps},
    )
    atomic_write_text(run / DONE, "")
    return run


def finetune_together(tasks: list[FinetuneTask], data: list, progress: bool, say_line=None) -> list:
    """The fine-tunes of several transfers to one target (``data``: each one's held-out fine-tuning
    data) as one model batch where that is faster (:func:`disentkit.train.batch.train_models`), else
    one after another; returns each one's :class:`~disentkit.train.batch.Outcome` (a finished
    fine-tune is reused). A fine-tune that diverges or collapses stops alone."""
    from disentkit.train.batch import Outcome, train_models

    prepared = [_finetune_run(t, progress) for t in tasks]
    left = [i for i, (_, _, done) in enumerate(prepared) if not done]
    outcomes: list = [Outcome(run, "finished") for run, _, _ in prepared]
    trained = train_models(
        [prepared[i][1] for i in left],
        [prepared[i][0] for i in left],
        dataset=[data[i] for i in left],
        resume="auto",
        progress=progress,
        changes={"steps": prepared[left[0]][1].steps} if left else None,
        say=say_line,
        init_from=[tasks[i].source.path for i in left],
        active_reference=[tasks[i].active for i in left],
    )
    for i, outcome in zip(left, trained, strict=True):
        outcomes[i] = outcome
        if outcome.status == "finished":
            atomic_write_text(outcome.out / DONE, "")
    return outcomes
