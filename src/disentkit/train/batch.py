"""Model batches: N models of one architecture trained in lock-step as one batched computation.

Each model is built as its solo run builds it (weights from its own seed), then the models'
parameters, buffers and Adam state are stacked along a leading model axis and one step trains them
all: the networks run as one network of grouped convolutions (``disentkit.models.grouped``), the
objective's stages around them are mapped over the models with ``torch.func.vmap``. Each model
keeps its own data stream and sampling noise (functions of its (seed, step), as a solo run's), β
schedule, gradient clipping (its own norm) and BatchNorm statistics, so a model trained in a batch
is its solo run up to float rounding. Adam is elementwise: one Adam over the stacked tensors is each
model's own Adam (with one step count per model where they differ). At log rows and checkpoints
each model's slice goes back into an ordinary model and Adam, which the loop's writers save: every
run folder is a solo run's.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import math
import shutil
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import stack_module_state, vmap

from disentkit.config import atomic_write_text
from disentkit.errors import DisentkitError
from disentkit.models.architectures import fit_images, get_architecture
from disentkit.models.grouped import GROUPED_ARCHS, grouped_decode, grouped_encode
from disentkit.models.vae import latents, loss_terms
from disentkit.train.config import TrainConfig
from disentkit.train.data import NOISE_STREAM, step_seed
from disentkit.train.guard import PosteriorCollapsed
from disentkit.train.logs import make_progress
from disentkit.train.loop import (
    DIVERGED_FILE,
    OpenRun,
    RunRecord,
    TrainingDiverged,
    beta_at,
    is_checkpoint_step,
    is_log_step,
    lr_at,
    open_run,
    resumable,
)
from disentkit.train.step import (
    GraphStep,
    bf16_autocast,
    images_per_step,
    on_side_stream,
    say_if_bf16_is_slow,
)

#: methods whose loss is a pure function of the model's weights and batch (no companion network,
#: no host-side state per step), which is what vmap maps over
BATCH_METHODS = ("beta-vae", "ada-gvae", "ada-ml-vae", "gvae-labels", "ml-vae-labels")
#: the config fields the models of one batch may differ in; every other field must be equal
PER_MODEL_FIELDS = ("seed", "beta", "beta_start", "warmup_steps", "clip")


def check_batchable(configs: list[TrainConfig]) -> None:
    """Refuse, in one line, configs that cannot train as one batch."""
    if not configs:
        raise DisentkitError("a model batch needs at least one model")
    first = configs[0]
    name = first.objective().name
    if get_architecture(first.arch).name not in GROUPED_ARCHS:
        raise DisentkitError(
            f"{first.arch} cannot train in a model batch (only {', '.join(GROUPED_ARCHS)}); train its runs solo"
        )
    if name not in BATCH_METHODS:
        raise DisentkitError(
            f"{name} cannot train in a model batch (only {', '.join(BATCH_METHODS)}); train its runs solo"
        )
    if (first.cpu_shards or 1) > 1 or first.head_decay:
        raise DisentkitError(
            "a model batch steps whole batches with plain Adam: drop cpu_shards > 1 and head_decay, "
            "or train the runs solo"
        )
    shared = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in PER_MODEL_FIELDS]
    for config in configs[1:]:
        for field in shared:
            if getattr(config, field) != getattr(first, field):
                raise DisentkitError(
                    f"the models of a batch differ only in {', '.join(PER_MODEL_FIELDS)}, but {field} is "
                    f"{getattr(first, field)!r} in one and {getattr(config, field)!r} in another"
                )


@dataclasses.dataclass
class Outcome:
    """How one model's training ended: "finished", "diverged" (``diverged.json``) or "collapsed"
    (``collapse.json``), with the reason."""

    out: Path
    status: str
    message: str = ""


@dataclasses.dataclass
class BatchMember:
    """One model of a batch: its open run, its log/checkpoint writer and how it ended."""

    run: OpenRun
    record: RunRecord
    status: str = "training"  # then "finished", "diverged" or "collapsed"
    message: str = ""

    @property
    def out(self) -> Path:
        return self.run.out


class ModelBatch:
    """The members' models stacked along a leading model axis, stepped as one computation."""

    def __init__(self, members: list[BatchMember]) -> None:
        self.members = members
        run = members[0].run
        self.config, self.device = run.config, run.device
        self.latent_dim = run.model.latent_dim
        self.generators = [torch.Generator(device=self.device) for _ in members]
        self.keys: list[str] | None = None
        self.log_acc: torch.Tensor | None = None
        self.ckpt_acc = torch.zeros(len(members), device=self.device)
        self.log_count = self.ckpt_count = 0
        self.arch, self.channels, self.objective = run.model.arch, run.model.channels, run.objective
        # With cuda_graphs on CUDA, the whole step is captured once and replayed (as GraphStep).
        self.graphs = bool(self.config.cuda_graphs) and self.device.type == "cuda"
        self._stack()

    def _modules(self) -> list[nn.Module]:
        return [m.run.model for m in self.members]

    def _loss(self, p, b, batch, beta, noise):
        """(loss, terms, KL per latent) of every model: the networks as one network of grouped
        convolutions (``p``, ``b``: the stacked parameters and buffers), the objective's stages
        mapped over the models."""
        x = torch.cat([batch["x1"], batch["x2"]], 1) if self.objective.pairs else batch["x"]
        x = fit_images(x.flatten(0, 1), self.channels).unflatten(0, x.shape[:2])
        mu, logvar = (t.float() for t in grouped_encode(self.arch, p, b, x))
        mu, logvar, z, extra = vmap(self._latents)(batch, mu, logvar, noise)
        logits = grouped_decode(self.arch, p, z, self.channels).float()
        return vmap(self._terms)(x, logits, mu, logvar, z, extra, beta)

    def _latents(self, batch, mu, logvar, noise):
        return latents(self.objective, batch, mu, logvar, None, noise)

    def _terms(self, x, logits, mu, logvar, z, extra, beta):
        out = loss_terms(self.objective, x, logits, mu, logvar, z, extra, beta, self.config.recon)
        return out.loss, out.terms, out.kl_per_dim

    def _stack(self) -> None:
        """Stack the members' models and Adam states (from their solo objects)."""
        # New stacked tensors: a captured graph would write into the old ones, so warm up and capture anew.
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple | None = None
        self.seen = 0
        self.beta = torch.zeros(len(self.members), device=self.device)
        self.last_betas: list[float] | None = None
        modules = self._modules()
        self.params, self.buffers = stack_module_state(modules)
        solo_optimizer = self.members[0].run.optimizer
        options = {k: v for k, v in solo_optimizer.param_groups[0].items() if k != "params"}
        accepted = inspect.signature(torch.optim.Adam).parameters
        options = {k: v for k, v in options.items() if k in accepted}
        self.optimizer = torch.optim.Adam(list(self.params.values()), **options)
        solo = [dict(module.named_parameters()) for module in modules]
        self.own_steps = False
        for name, stacked in self.params.items():
            states = [m.run.optimizer.state.get(p[name]) for m, p in zip(self.members, solo, strict=True)]
            if not any(states):
                continue  # a fresh Adam
            zero = torch.zeros_like(stacked[0])
            step0 = torch.zeros_like(next(s for s in states if s)["step"])  # a member's fresh Adam
            states = [s or {"step": step0, "exp_avg": zero, "exp_avg_sq": zero} for s in states]
            steps = torch.stack([s["step"] for s in states])
            # Fine-tunes start from checkpoints of different steps: their Adams then keep one step
            # count per model (one count per tensor is all torch's Adam keeps).
            self.own_steps |= bool((steps != steps[0]).any())
            self.optimizer.state[stacked] = {
                "step": steps,
                "exp_avg": torch.stack([s["exp_avg"] for s in states]),
                "exp_avg_sq": torch.stack([s["exp_avg_sq"] for s in states]),
            }
        if not self.own_steps:
            for state in self.optimizer.state.values():
                state["step"] = state["step"][0].clone()
        clips = [m.run.config.clip for m in self.members]
        self.clip = (
            None
            if all(c is None for c in clips)
            else torch.tensor([math.inf if c is None else c for c in clips], device=self.device)
        )

    @torch.no_grad()
    def unstack(self) -> None:
        """Copy each model's slice (weights, buffers, Adam state, lr) into its solo model and Adam."""
        lr = self.optimizer.param_groups[0]["lr"]
        for i, (member, module) in enumerate(zip(self.members, self._modules(), strict=True)):
            optimizer = member.run.optimizer
            for name, param in module.named_parameters():
                param.copy_(self.params[name][i])
                state = self.optimizer.state.get(self.params[name])
                if state:
                    optimizer.state[param] = {
                        "step": (state["step"][i] if state["step"].dim() else state["step"]).clone(),
                        "exp_avg": state["exp_avg"][i].clone(),
                        "exp_avg_sq": state["exp_avg_sq"][i].clone(),
                    }
            for name, buffer in module.named_buffers():
                buffer.copy_(self.buffers[name][i])
            for group in optimizer.param_groups:
                group["lr"] = lr

    def drop(self, stopped: list[BatchMember]) -> None:
        """Go on without ``stopped`` (their solo objects keep their last state)."""
        keep = [i for i, m in enumerate(self.members) if m not in stopped]
        self.unstack()
        self.members = [self.members[i] for i in keep]
        self.generators = [self.generators[i] for i in keep]
        if self.log_acc is not None:
            self.log_acc = self.log_acc[keep]
        self.ckpt_acc = self.ckpt_acc[keep]
        if self.members:
            self._stack()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def capturing_next(self) -> bool:
        """Whether the next step captures the CUDA graph (the data threads must be idle then)."""
        return self.graphs and self.graph is None and self.seen >= GraphStep.WARMUP

    def step(self, batches: list[dict], betas: list[float], seeds: list[int]) -> None:
        """One step of every model: model i on ``batches[i]`` with β ``betas[i]`` and noise seed ``seeds[i]``."""
        if self.graphs and self.graph is None and self.seen < GraphStep.WARMUP:
            on_side_stream(self.device, lambda: self._update(*self._inputs(batches, betas, seeds)))
        elif self.graphs:
            if self.graph is None:
                self._capture(self._inputs(batches, betas, seeds))
            self._inputs(batches, betas, seeds, out=self.static)
            self.graph.replay()
        else:
            self._update(*self._inputs(batches, betas, seeds))
        self.seen += 1
        self.log_count += 1
        self.ckpt_count += 1

    def _inputs(self, batches, betas, seeds, out=None) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """(stacked batch, noise, β) of one step, written into ``out``'s tensors when given (the
        graph's static inputs). Each model's noise is drawn exactly as its solo step draws it."""
        batch, noise, _ = out or ({}, None, None)
        for key in batches[0]:
            batch[key] = torch.stack([b[key] for b in batches], out=batch.get(key))
        rows = 2 * len(batches[0]["x1"]) if "x1" in batches[0] else len(batches[0]["x"])
        if noise is None:
            noise = torch.empty((len(batches), rows, self.latent_dim), device=self.device)
        for i, (g, s) in enumerate(zip(self.generators, seeds, strict=True)):
            torch.randn((rows, self.latent_dim), generator=g.manual_seed(s), device=self.device, out=noise[i])
        if betas != self.last_betas:  # β is copied to the device only when a schedule moves it
            self.beta.copy_(torch.tensor(betas, dtype=torch.float32), non_blocking=True)
            self.last_betas = list(betas)
        return batch, noise, self.beta

    def _capture(self, inputs) -> None:
        """Record one step (forward, backward, clip, Adam, log sums) as a CUDA graph on static inputs."""
        self.static = tuple(inputs)
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        # Capturing records the kernels without running them: weights and log sums are untouched.
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self._update(*self.static)

    def _update(self, batch: dict, noise: torch.Tensor, beta: torch.Tensor) -> None:
        with bf16_autocast(self.config, self.device):
            loss, terms, kl_per_dim = self._loss(self.params, self.buffers, batch, beta, noise)
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # the models share no weights: each gets its own loss's gradient
        if self.clip is not None:
            self._clip()
        if self.own_steps:
            self._adam_with_own_steps()
        else:
            self.optimizer.step()
        if self.keys is None:
            self.keys = list(terms)
            self.log_acc = torch.zeros(
                len(self.members), len(self.keys) + self.latent_dim, device=self.device
            )
        vec = torch.cat([torch.stack([terms[k].float() for k in self.keys], 1), kl_per_dim.float()], 1)
        self.log_acc.add_(vec)
        self.ckpt_acc.add_(vec[:, 0])

    @torch.no_grad()
    def _adam_with_own_steps(self) -> None:
        """torch's Adam update, each model's bias correction from its own step count."""
        group = self.optimizer.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for param in self.params.values():
            state = self.optimizer.state[param]  # every tensor's, stacked by _stack
            state["step"].add_(1)
            # The bias corrections in float64, as torch computes its Python-float ones.
            step = state["step"].to(param.device, torch.float64).view(-1, *[1] * (param.dim() - 1))
            correction2 = (1 - beta2**step).sqrt().to(param.dtype)
            step_size = (lr / (1 - beta1**step)).to(param.dtype)
            grad = param.grad
            state["exp_avg"].lerp_(grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (state["exp_avg_sq"].sqrt() / correction2).add_(eps)
            param.sub_(state["exp_avg"] / denom * step_size)

    @torch.no_grad()
    def _clip(self) -> None:
        """clip_grad_norm_ per model: each model's gradients scaled by its own total norm."""
        grads = [p.grad for p in self.params.values()]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], 1).norm(dim=1)
        scale = (self.clip / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))

    def pop_log(self) -> list[dict[str, float]]:
        """Each model's mean of every term since the last call (one host sync)."""
        if not self.log_count or self.keys is None:
            return [{} for _ in self.members]
        rows = (self.log_acc / self.log_count).tolist()
        self.log_acc.zero_()
        self.log_count = 0
        out = []
        for values in rows:
            row = dict(zip(self.keys, values[: len(self.keys)], strict=True))
            out.append(row | {f"kl_dim/{i}": v for i, v in enumerate(values[len(self.keys) :])})
        return out

    def pop_checkpoint_loss(self) -> list[float]:
        """Each model's mean loss since the last checkpoint."""
        if not self.ckpt_count:
            return [math.inf] * len(self.members)
        values = (self.ckpt_acc / self.ckpt_count).tolist()
        self.ckpt_acc.zero_()
        self.ckpt_count = 0
        return values


def train_batch(
    configs: list[TrainConfig | None],
    out_dirs: list[str | Path],
    dataset=None,
    resume: bool | str = False,
    progress: bool = True,
    device: str | None = None,
    changes: dict | None = None,
    init_from: list[str | Path | None] | None = None,
    active_reference: list[int | None] | None = None,
) -> list[Outcome]:
    """Train one model per ``(config, out_dir)`` as one batch; returns each model's outcome.

    A model whose loss becomes NaN/inf stops with ``diverged.json`` in its folder, one whose
    posterior collapses with ``collapse.json``; the others train on. Runs resumed from checkpoints
    of different steps first catch up, the furthest behind first, so that all step in lock-step.

    Parameters
    ----------
    configs : list of TrainConfig (or None on resume)
        One per model; they may differ only in :data:`PER_MODEL_FIELDS` (:func:`check_batchable`).
    out_dirs : list of paths
        One run folder per model, each an ordinary run folder (``disentkit.train.loop``).
    dataset : data source or list of them, optional
        The models' training data, or one per model (transfers' held-out fine-tuning data); by
        default the configs' ``data``, opened once.
    resume : bool or "auto"
        True: continue every run from its latest checkpoint (as ``train(resume=True)``); "auto":
        continue the runs that have one and start the others afresh (as ``train_or_resume``).
    changes : dict, optional
        On resume, the caller's config fields (a larger ``steps`` extends every run).
    init_from, active_reference : lists, optional
        Per model, as :func:`disentkit.train.train` takes them: the run whose weights and Adam
        state a fresh model starts from (a transfer's fine-tune), the collapse guard's reference.
    """
    if len(configs) != len(out_dirs):
        raise DisentkitError(f"{len(configs)} configs for {len(out_dirs)} run folders")
    outs = [Path(o) for o in out_dirs]
    inits, references = _per_model(init_from, len(outs)), _per_model(active_reference, len(outs))
    fresh = [resume is False or (resume == "auto" and not resumable(out)) for out in outs]
    # A batch steps whole batches: its runs record one shard, as their solo run would need to.
    configs = [
        dataclasses.replace(c, cpu_shards=c.cpu_shards or 1).validate() if new else None
        for c, new in zip(configs, fresh, strict=True)
    ]
    new_configs = [c for c in configs if c is not None]
    if new_configs:
        check_batchable(new_configs)  # before anything is written
    saved = outs[0] / "config.yaml"
    if dataset is None and (new_configs or saved.exists()):
        from disentkit.config import load_config
        from disentkit.data import get_dataset

        # Opened once for all models (an official file is large), not once per run.
        dataset = get_dataset((new_configs[0] if new_configs else load_config(TrainConfig, saved)).data)
    datasets = _per_model(dataset, len(outs))
    members: list[BatchMember] = []
    try:
        for config, out, new, init, reference, data in zip(
            configs, outs, fresh, inits, references, datasets, strict=True
        ):
            if new and resume == "auto" and out.exists():
                shutil.rmtree(out)  # killed before its first checkpoint: nothing worth keeping
            run = open_run(
                config,
                out,
                data,
                init_from=init if new else None,
                resume=not new,
                device=device,
                active_reference=reference,
                changes=None if new else changes,
            )
            members.append(BatchMember(run, RunRecord(run)))
        check_batchable([m.run.config for m in members])
        _train_members(members, progress)
    finally:
        for member in members:
            member.record.close()
            member.run.stream.close()
    return [Outcome(m.out, m.status, m.message) for m in members]


def _train_members(members: list[BatchMember], progress: bool) -> None:
    config = members[0].run.config
    say_if_bf16_is_slow(config, members[0].run.device, progress)
    bar = make_progress(progress)
    with bar:
        start = min(m.run.start for m in members)
        task = bar.add_task(
            f"{len(members)} × {config.method} {config.data}",
            total=config.steps,
            completed=start,
            rate="-",
            loss="-",
        )
        # Catch-up phases: the runs furthest behind train until the next ones' step, then together.
        starts = sorted({m.run.start for m in members} | {config.steps})
        for begin, until in itertools.pairwise(starts):
            phase = [m for m in members if m.run.start <= begin and m.status == "training"]
            if phase:
                _lockstep(phase, begin, until, bar, task)
    for member in members:
        if member.status == "training":
            member.status = "finished"


def _lockstep(members: list[BatchMember], start: int, until: int, bar, task) -> None:
    config = members[0].run.config
    batch = ModelBatch(members)
    last_time, last_done = time.perf_counter(), start
    try:
        for step in range(start, until):
            batches = [m.run.stream.get(step) for m in batch.members]
            if batch.capturing_next:
                for member in batch.members:
                    member.run.stream.wait_idle()  # no kernels from a data thread while the graph is captured
            if config.lr_decay:
                batch.set_lr(lr_at(config, step))
            betas = [beta_at(m.run.config, step) for m in batch.members]
            seeds = [step_seed(m.run.config.seed, step, NOISE_STREAM) for m in batch.members]
            batch.step(batches, betas, seeds)
            done = step + 1
            stopped = []
            if is_log_step(config, done):
                lr = batch.optimizer.param_groups[0]["lr"]
                for member, values in zip(batch.members, batch.pop_log(), strict=True):
                    if not _guarded(member, done, member.record.log_row, values, lr):
                        stopped.append(member)
                now = time.perf_counter()
                rate, last_time, last_done = (done - last_done) / max(now - last_time, 1e-9), now, done
                left = f"{len(batch.members) - len(stopped)} models training"
                bar.update(task, completed=done, rate=f"{rate:.1f}", loss=left)
            if is_checkpoint_step(config, done):
                losses = batch.pop_checkpoint_loss()
                batch.unstack()
                for member, loss in zip(batch.members, losses, strict=True):
                    if member not in stopped and not _guarded(member, done, member.record.checkpoint, loss):
                        stopped.append(member)
            if stopped:
                batch.drop(stopped)
                if not batch.members:
                    return
        for member in batch.members:
            member.run.start = until
    finally:
        batch.unstack()


def _guarded(member: BatchMember, step: int, write, *args) -> bool:
    """``write(step, *args)`` (a log row or checkpoint); a divergence or collapse stops this member only."""
    try:
        write(step, *args)
    except (TrainingDiverged, PosteriorCollapsed) as exc:
        member.status, member.message = stopped_by(member.out, exc, step)
        return False
    return True


def stopped_by(out: Path, exc: DisentkitError, step: int | None = None) -> tuple[str, str]:
    """(status, message) of a model stopped by ``exc``; a divergence is written to ``diverged.json``
    (a collapse is in ``collapse.json`` already)."""
    if isinstance(exc, PosteriorCollapsed):
        return "collapsed", str(exc)
    atomic_write_text(out / DIVERGED_FILE, json.dumps({"step": step, "message": str(exc)}))
    return "diverged", str(exc)


# ---------------------------------------------------------------------------- batch or solo
#: The most images per model step at which a model batch steps faster than the same models' solo
#: runs on the CPU. Measured on 2 cores (8 conv64 Ada-GVAE models; benchmarks/RESULTS.md, batch):
#: 1.76x at 4 images, 1.49x at 8, 0.90x at 16, 0.69x at 32: a solo step keeps both cores busy once
#: its batch is large enough. A GPU's small-model steps are bound by kernel launches, so a batch is
#: used there always.
CPU_BATCH_MAX_IMAGES = 8


def batch_pays(device: torch.device, config: TrainConfig) -> bool:
    """Whether :func:`train_models` batches models of ``config`` on ``device``."""
    return device.type != "cpu" or images_per_step(config) <= CPU_BATCH_MAX_IMAGES


def _per_model(value, n: int) -> list:
    """One value per model: a list as it is, anything else (None included) for every model."""
    return value if isinstance(value, list) else [value] * n


def train_models(
    configs: list[TrainConfig | None],
    out_dirs: list[str | Path],
    dataset=None,
    resume: bool | str = False,
    progress: bool = True,
    device: str | None = None,
    changes: dict | None = None,
    solo: bool = False,
    say=None,
    on_outcome=None,
    init_from: list[str | Path | None] | None = None,
    active_reference: list[int | None] | None = None,
) -> list[Outcome]:
    """Train the models as one batch (:func:`train_batch`) where that is possible and faster, else
    one after another as solo runs; either way a model that diverges or collapses stops alone.
    ``solo``: always one after another. ``say``: called with the line saying why they train solo;
    ``on_outcome``: with each model's :class:`Outcome` as soon as it is known; ``init_from``,
    ``active_reference``: per model, as :func:`train_batch` takes them."""
    from disentkit.config import load_config
    from disentkit.device import pick_device
    from disentkit.train.loop import train, train_or_resume

    if not configs:
        return []
    first = configs[0] or load_config(TrainConfig, Path(out_dirs[0]) / "config.yaml")
    run_device = pick_device(device or first.device)
    why_solo = None
    if not batch_pays(run_device, first):
        why_solo = (
            f"a model batch is slower than solo runs on the CPU at {images_per_step(first)} images per "
            f"model step (faster at ≤ {CPU_BATCH_MAX_IMAGES})"
        )
    try:
        check_batchable([c for c in configs if c is not None] or [first])
    except DisentkitError as exc:
        why_solo = str(exc).split(";")[0]
    if not solo and why_solo is None:
        outcomes = train_batch(
            configs, out_dirs, dataset, resume, progress, device, changes, init_from, active_reference
        )
        for outcome in outcomes:
            if on_outcome is not None:
                on_outcome(outcome)
        return outcomes
    if not solo and say is not None and len(configs) > 1:
        say(f"{why_solo} (docs/batches.md): training the {len(configs)} models one after another")
    outcomes = []
    per_model = (_per_model(v, len(configs)) for v in (init_from, active_reference, dataset))
    for config, out, init, reference, data in zip(configs, out_dirs, *per_model, strict=True):
        out = Path(out)
        options = {"progress": progress, "device": device, "active_reference": reference}
        try:
            if resume == "auto":
                train_or_resume(config, out, data, init_from=init, changes=changes, **options)
            elif resume:
                train(None, out, data, resume=True, changes=changes, **options)
            else:
                train(config, out, data, init_from=init, **options)
            outcomes.append(Outcome(out, "finished"))
        except (TrainingDiverged, PosteriorCollapsed) as exc:
            outcomes.append(Outcome(out, *stopped_by(out, exc)))
        if on_outcome is not None:
            on_outcome(outcomes[-1])
    return outcomes


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: "0-9" (inclusive), "0,3,5" or a mix ("0-2,7")."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if sep else [int(low)]
    except ValueError:
        raise DisentkitError(f"--seeds takes ranges and numbers such as 0-9 or 0,3,5; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise DisentkitError(f"--seeds must name distinct seeds ≥ 0, such as 0-9; got {text!r}")
    return seeds


def parse_betas(text: str) -> list[float]:
    """``--betas``: "1,2,4"."""
    try:
        betas = [float(part) for part in text.split(",")]
    except ValueError:
        raise DisentkitError(
            f"--betas takes numbers separated by commas, such as 1,2; got {text!r}"
        ) from None
    if len(set(betas)) != len(betas) or min(betas) < 0:
        raise DisentkitError(f"--betas must be distinct values ≥ 0; got {text!r}")
    return betas


def model_folder(beta: float, seed: int) -> str:
    """The run folder name of one model of ``train --seeds/--betas``: ``beta2-seed0``."""
    return f"beta{beta:g}-seed{seed}"
