"""The training loop: ``train(config, out_dir)`` → a run folder.

Run folder layout::

    config.yaml         the TrainConfig
    environment.yaml    library versions and machine (disentkit.config.environment_info)
    checkpoints/latest.safetensors, checkpoints/best.safetensors
    metrics.csv         one row per log interval (loss terms, per-dimension KL, β, lr, steps/s)
    tensorboard/        the same scalars for TensorBoard
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path

import torch

from disentkit.config import (
    atomic_write_bytes,
    environment_info,
    load_config,
    prepare_output_folder,
    save_config,
)
from disentkit.device import model_memory_format, pick_device
from disentkit.errors import DisentkitError
from disentkit.models.architectures import check_observation_shape
from disentkit.models.vae import VAE
from disentkit.train.checkpoint import load_checkpoint, restore, save_checkpoint
from disentkit.train.config import TrainConfig
from disentkit.train.data import COMPANION_STREAM, NOISE_STREAM, BatchStream, check_training_source, step_seed
from disentkit.train.guard import COLLAPSE_FILE, CollapseGuard, PosteriorCollapsed, write_collapse
from disentkit.train.logs import RunLogger, make_progress
from disentkit.train.step import cpu_shard_count, make_step, say_if_bf16_is_slow


class TrainingDiverged(DisentkitError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


#: written into a run folder of a model batch when that model's loss became NaN/inf (the batch
#: goes on without it); a solo run raises TrainingDiverged instead
DIVERGED_FILE = "diverged.json"


def model_channels(config: TrainConfig, dataset) -> int:
    """The model's input channels: the config's, else the dataset's; checked against the data."""
    shape = tuple(dataset.observation_shape)
    channels = config.channels or shape[-1]
    check_observation_shape(shape, channels)
    return channels


def identity_of(config: TrainConfig, channels: int) -> dict:
    """What a checkpoint must match to be loaded into a model (not the method: fine-tuning changes it)."""
    return {"arch": config.arch, "latent_dim": config.latent_dim, "channels": channels}


def build_model(config: TrainConfig, channels: int, device: torch.device) -> VAE:
    """Model with weights drawn from the run seed, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = VAE(config.arch, channels, config.latent_dim)
    return model.to(device, memory_format=model_memory_format(device))


def beta_at(config: TrainConfig, step: int) -> float:
    """β moves linearly from ``beta_start`` to β over ``warmup_steps`` (β from the first step when 0)."""
    if config.warmup_steps <= 0:
        return config.beta
    done = min(1.0, (step + 1) / config.warmup_steps)
    return config.beta_start + (config.beta - config.beta_start) * done


def lr_at(config: TrainConfig, step: int) -> float:
    """The learning rate of ``step``: constant, then a linear fall to 0 over the last ``lr_decay``."""
    decay_steps = config.lr_decay * config.steps
    left = config.steps - step
    return config.lr if left >= decay_steps else config.lr * left / decay_steps


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a training run (its config.yaml, written first, reads as one)."""
    try:
        load_config(TrainConfig, Path(folder) / "config.yaml")
    except DisentkitError:
        return False
    return True


def checkpoint_to_resume(out: Path, from_checkpoint: str | Path | None = None) -> Path:
    """The checkpoint a resume starts from: ``latest`` by default, ``best`` or a file path."""
    if from_checkpoint is None or str(from_checkpoint) in ("latest", "best"):
        file = out / "checkpoints" / f"{from_checkpoint or 'latest'}.safetensors"
    else:
        file = Path(from_checkpoint)
    if file.is_file():
        return file
    if from_checkpoint is not None:
        raise DisentkitError(
            f"checkpoint not found: {file}; use best, latest or the path of a checkpoint file"
        )
    if (out / "checkpoints" / "best.safetensors").is_file():
        raise DisentkitError(f"no latest checkpoint in {out}: resume with --from-checkpoint best")
    raise DisentkitError(
        f"nothing to resume in {out}: no checkpoint yet; train without --resume to start it again"
    )


def resumed_config(saved: TrainConfig, changes: dict) -> TrainConfig:
    """The saved config with the caller's ``changes``: more steps extend the run, any other
    difference would silently change what the run is and is refused, naming the option."""
    for name, value in changes.items():
        old = getattr(saved, name)
        if value == old:
            continue
        flag = "--" + name.replace("_", "-")
        if name == "steps" and value > old:
            saved = dataclasses.replace(saved, steps=value)
            continue
        raise DisentkitError(
            f"{flag} {value} contradicts the run's saved config ({name}: {old}); a resume keeps its "
            f"settings (only --steps may grow): drop {flag} or train a new run in another --out"
        )
    return saved


def _prepare_run_dir(
    out: Path,
    config: TrainConfig | None,
    resume: bool,
    device: str | None,
    changes: dict | None = None,
    from_checkpoint: str | Path | None = None,
) -> tuple[TrainConfig, torch.device, Path | None]:
    """The run's config (read back on resume, else saved with its CPU shard count fixed), device
    and the checkpoint to resume from; refuses a folder that is not a run before writing to it."""
    if resume:
        if not (out / "config.yaml").exists():
            raise DisentkitError(f"nothing to resume in {out}: no config.yaml; start a new run instead")
        config = load_config(TrainConfig, out / "config.yaml").validate()
        if config.cpu_shards is None:
            # Saved before sharding existed: those runs took one multi-threaded step.
            config = dataclasses.replace(config, cpu_shards=1)
        file = checkpoint_to_resume(out, from_checkpoint)
        if changes:
            extended = resumed_config(config, changes).validate()
            if extended != config:
                save_config(extended, out / "config.yaml")
            config = extended
        return config, pick_device(device or config.device), file
    prepare_output_folder(out, "a training run (config.yaml)", is_run_folder)
    if any((out / "checkpoints").glob("*.safetensors")):
        raise DisentkitError(
            f"{out} already holds a run; use --resume to continue it or choose another --out"
        )
    config = (config or TrainConfig()).validate()
    run_device = pick_device(device or config.device)
    # Fixed and saved now: CPU numbers depend on the shard count, so a resume must reuse it.
    config = dataclasses.replace(config, cpu_shards=cpu_shard_count(config, run_device))
    # Logs of an attempt killed before its first checkpoint describe steps that are redone now.
    (out / "metrics.csv").unlink(missing_ok=True)
    shutil.rmtree(out / "tensorboard", ignore_errors=True)
    save_config(config, out / "config.yaml")
    save_config(environment_info(), out / "environment.yaml")
    return config, run_device, None


def train(
    config: TrainConfig | None,
    out_dir: str | Path,
    dataset=None,
    init_from: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str | None = None,
    active_reference: int | None = None,
    changes: dict | None = None,
    from_checkpoint: str | Path | None = None,
) -> Path:
    """Train a model and return its run folder.

    Parameters
    ----------
    config : TrainConfig or None
        The run's settings; None with ``resume=True`` reads them from the run folder.
    out_dir : path
        Run folder (created).
    dataset : object, optional
        Overrides ``config.data``: a ``GroundTruthDataset`` or any source with ``observation_shape``
        and ``sample_images(n, rng)`` (enough for the unsupervised methods).
    init_from : path, optional
        Another run folder: its best checkpoint's encoder, decoder *and* Adam state start this run
        (fine-tuning, as the transfer paper); the learning rate is this config's.
    resume : bool
        Continue a killed run from its latest checkpoint: same steps, same data, same numbers (CPU).
    progress : bool
        Show the Rich progress bar.
    device : str, optional
        Overrides ``config.device`` (e.g. resume a GPU run on another machine); not saved.
    active_reference : int, optional
        The active latents the run starts from, for the collapse guard (fine-tuning: the source's
        on the target); None: the run's own peak. A collapse raises
        :class:`~disentkit.train.guard.PosteriorCollapsed` and leaves ``collapse.json``.
    changes : dict, optional
        On resume, config fields the caller sets: a larger ``steps`` extends the run; any other
        value that differs from the saved config is refused.
    from_checkpoint : {"latest", "best"} or path, optional
        On resume, the checkpoint to continue from (default: latest).
    """
    run = open_run(
        config, out_dir, dataset, init_from, resume, device, active_reference, changes, from_checkpoint
    )
    try:
        _run(run, progress)
    finally:
        run.stream.close()
    return run.out


@dataclasses.dataclass
class OpenRun:
    """A run folder prepared for training: its config, model, Adam, data and where it starts."""

    config: TrainConfig
    out: Path
    device: torch.device
    model: VAE
    optimizer: torch.optim.Optimizer
    objective: object
    stream: BatchStream
    identity: dict
    start: int
    best: float
    guard: CollapseGuard


def open_run(
    config: TrainConfig | None,
    out_dir: str | Path,
    dataset=None,
    init_from: str | Path | None = None,
    resume: bool = False,
    device: str | None = None,
    active_reference: int | None = None,
    changes: dict | None = None,
    from_checkpoint: str | Path | None = None,
) -> OpenRun:
    """Prepare ``out_dir`` and build the run's model and state as :func:`train` starts it."""
    out = Path(out_dir)
    if config is None and not resume:
        raise DisentkitError("train needs a TrainConfig (or resume=True with an existing run folder)")
    from disentkit.data import get_dataset

    if dataset is None and not resume:
        dataset = get_dataset(config.validate().data)  # a missing dataset is refused before any write
    config, device, resume_from = _prepare_run_dir(out, config, resume, device, changes, from_checkpoint)
    if dataset is None:
        dataset = get_dataset(config.data)
    objective = config.objective()
    check_training_source(dataset, objective.pairs)  # before its observation_shape is read
    channels = model_channels(config, dataset)
    identity = identity_of(config, channels)
    model = build_model(config, channels, device)
    optimizer = _make_optimizer(model, config, device)
    objective.build(config.latent_dim, device, step_seed(config.seed, 0, COMPANION_STREAM))
    start, best, peak = _initial_state(resume_from, init_from, identity, model, optimizer, config, objective)
    (out / COLLAPSE_FILE).unlink(missing_ok=True)  # a resume trains on from before the collapse
    (out / DIVERGED_FILE).unlink(missing_ok=True)
    guard = CollapseGuard(active_reference, peak, config.collapse_patience, config.steps)
    latest = out / "checkpoints" / "latest.safetensors"
    if resume_from is not None and resume_from.resolve() != latest.resolve():
        # The run now continues from this one: latest says so even if no step is left to train.
        atomic_write_bytes(latest, resume_from.read_bytes())
    stream = BatchStream(
        dataset,
        objective.pairs,
        config.batch,
        config.seed,
        config.k,
        config.allow_equal,
        device,
        limit=config.steps,
    )
    return OpenRun(config, out, device, model, optimizer, objective, stream, identity, start, best, guard)


def resumable(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a run that ``train(None, out_dir, resume=True)`` can continue."""
    return (Path(out_dir) / "checkpoints" / "latest.safetensors").exists()


def train_or_resume(config: TrainConfig, out_dir: str | Path, dataset=None, **options) -> Path:
    """Continue the run in ``out_dir`` from its latest checkpoint, else train ``config`` there afresh.

    For folders the library owns (sweep jobs, transfers, the quickstart): a folder left by a run
    killed before its first checkpoint holds nothing worth keeping and is cleared. ``options`` go to
    :func:`train` (``init_from`` only applies to a fresh start).
    """
    out = Path(out_dir)
    if resumable(out):
        options.pop("init_from", None)
        return train(None, out, dataset=dataset, resume=True, **options)
    if out.exists():
        shutil.rmtree(out)
    return train(config, out, dataset=dataset, **options)


def _make_optimizer(model: VAE, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # The fused kernel on CUDA: one launch for all parameters; capturable for CUDA graphs.
    cuda = device.type == "cuda"
    options = {
        "lr": config.lr,
        "betas": (0.9, 0.999),
        "fused": cuda,
        "capturable": cuda and config.cuda_graphs,
    }
    if not config.head_decay:
        return torch.optim.Adam(model.parameters(), **options)
    # Decoupled decay (AdamW) on the posterior head's weights only: the rest trains as under Adam.
    head = posterior_head_weights(model)
    rest = [p for p in model.parameters() if all(p is not h for h in head)]
    groups = [{"params": rest, "weight_decay": 0.0}, {"params": head, "weight_decay": config.head_decay}]
    return torch.optim.AdamW(groups, **options)


def posterior_head_weights(model: VAE) -> list[torch.nn.Parameter]:
    """The weight matrices of the encoder layers that output μ and log σ² (not their biases)."""
    return [model.encoder.mu.weight, model.encoder.logvar.weight]


def _initial_state(
    resume_from, init_from, identity, model, optimizer, config, objective
) -> tuple[int, float, int]:
    """(first step, best interval loss so far, peak active latents so far) of the run."""
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from, identity)
        restore(ckpt, model, optimizer, objective.companion)
        return ckpt.step, float(ckpt.meta.get("best_loss", math.inf)), int(ckpt.meta.get("peak_active", 0))
    if init_from is not None:
        source = Path(init_from) / "checkpoints" / "best.safetensors"
        restore(load_checkpoint(source, identity), model, optimizer)
        for group in optimizer.param_groups:
            group["lr"] = config.lr
        # A companion (FactorVAE's discriminator) starts afresh: it judges this run's latents.
    return 0, math.inf, 0


class RunRecord:
    """A run's log rows and checkpoints: NaN/inf checks, the collapse guard, metrics.csv,
    TensorBoard, and ``latest``/``best``."""

    def __init__(self, run: OpenRun) -> None:
        self.run, self.best = run, run.best
        self.last_checkpoint = run.start or None
        self.ckpt_dir = run.out / "checkpoints"
        self.logger = RunLogger(run.out, run.start)
        self.last_time, self.last_step = time.perf_counter(), run.start

    def log_row(self, done: int, values: dict[str, float], lr: float) -> dict[str, float]:
        """Check and write the row of step ``done``; raises TrainingDiverged or PosteriorCollapsed."""
        config = self.run.config
        now = time.perf_counter()
        rate = (done - self.last_step) / max(now - self.last_time, 1e-9)
        _check_finite(values, done, self.ckpt_dir)
        kl = [v for k, v in values.items() if k.startswith("kl_dim/")]
        active, collapse = self.run.guard.check(done, kl, self.last_checkpoint)
        values = values | {
            "active_dims": active,
            "beta": beta_at(config, done - 1),
            "lr": lr,
            "steps_per_s": rate,
        }
        self.logger.log(done, values)
        self.last_time, self.last_step = now, done
        if collapse is not None:  # before any checkpoint of the collapsed model
            write_collapse(self.run.out, collapse)
            raise PosteriorCollapsed(collapse, self.run.out)
        return values

    def checkpoint(self, done: int, interval_loss: float, model=None, optimizer=None) -> None:
        """Write ``latest`` (and ``best``) of step ``done``; the run's own model unless given. None
        while the collapse guard suspects the posterior (no latent active, not yet for long)."""
        run = self.run
        if run.guard.suspect:
            return
        _check_finite({"loss": interval_loss}, done, self.ckpt_dir)
        extra = {"peak_active": run.guard.peak}
        self.best = _checkpoint(
            self.ckpt_dir,
            model or run.model,
            optimizer or run.optimizer,
            done,
            run.identity,
            interval_loss,
            self.best,
            extra,
            run.objective.companion,
        )
        self.last_checkpoint = done

    def close(self) -> None:
        self.logger.close()


def is_log_step(config: TrainConfig, done: int) -> bool:
    return done % config.log_every == 0 or done == config.steps


def is_checkpoint_step(config: TrainConfig, done: int) -> bool:
    return done % config.checkpoint_every == 0 or done == config.steps


def _run(run: OpenRun, progress: bool) -> None:
    config, model, optimizer, objective = run.config, run.model, run.optimizer, run.objective
    record = RunRecord(run)
    say_if_bf16_is_slow(config, run.device, progress)
    runner = make_step(model, optimizer, objective, config, run.device)
    model.train()
    bar = make_progress(progress)
    try:
        with bar:
            task = bar.add_task(
                f"{config.method} {config.data}", total=config.steps, completed=run.start, rate="-", loss="-"
            )
            for step in range(run.start, config.steps):
                batch = run.stream.get(step)
                if getattr(runner, "capturing_next", False):
                    run.stream.wait_idle()  # no kernels from the data thread while the graph is captured
                if config.lr_decay:
                    for group in optimizer.param_groups:
                        group["lr"] = lr_at(config, step)
                objective.begin_step(step)
                runner(batch, beta_at(config, step), step_seed(config.seed, step, NOISE_STREAM))
                done = step + 1
                if is_log_step(config, done):
                    values = record.log_row(done, runner.pop_log(), optimizer.param_groups[0]["lr"])
                    loss = f"{values['loss']:.1f}, {values['active_dims']} active latents"
                    bar.update(task, completed=done, rate=f"{values['steps_per_s']:.1f}", loss=loss)
                if is_checkpoint_step(config, done):
                    record.checkpoint(done, runner.pop_checkpoint_loss())
    finally:
        runner.close()
        record.close()


def _check_finite(values: dict[str, float], step: int, ckpt_dir: Path) -> None:
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        latest = ckpt_dir / "latest.safetensors"
        kept = (
            f"the last good checkpoint is kept at {latest}"
            if latest.exists()
            else "no checkpoint was written yet"
        )
        raise TrainingDiverged(
            f"training diverged: {', '.join(bad[:3])} became NaN/inf by step {step}; {kept}. "
            "Lower --lr, enable gradient clipping or use a β warm-up"
        )


def _checkpoint(
    ckpt_dir: Path,
    model,
    optimizer,
    step: int,
    identity: dict,
    interval_loss: float,
    best: float,
    extra: dict,
    companion=None,
):
    """Save ``latest``; copy it to ``best`` when this interval's mean loss is the lowest so far."""
    is_best = interval_loss < best
    best = min(best, interval_loss)
    extra = extra | {"interval_loss": interval_loss, "best_loss": best}
    latest = save_checkpoint(
        ckpt_dir / "latest.safetensors", model, optimizer, step, identity, extra, companion
    )
    if is_best:
        tmp = ckpt_dir / ".best.safetensors.tmp"
        shutil.copyfile(latest, tmp)
        tmp.replace(ckpt_dir / "best.safetensors")  # atomic: readers see the old or the new best
    return best


def replace_config(config: TrainConfig, **changes) -> TrainConfig:
    """A copy of ``config`` with fields changed (validated)."""
    return dataclasses.replace(config, **changes).validate()
