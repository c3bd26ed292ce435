"""One optimisation step, eager or replayed from a CUDA graph, with on-device log accumulation.

The step adds its loss terms to a device buffer instead of returning Python numbers, so the host
never waits on the GPU between log rows. :class:`GraphStep` captures forward, backward, clipping,
Adam and the accumulation into one CUDA graph after a few eager warm-up steps: a small network like
conv64 is otherwise bound by kernel-launch overhead. :class:`ShardedStep` is the CPU's: a 2-core
machine runs two single-threaded half batches side by side faster than one two-threaded batch.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import torch

from disentkit.errors import DisentkitError
from disentkit.models.architectures import get_architecture
from disentkit.models.vae import vae_loss

# Automatic sharding covers the thread counts it was measured on (2) and a little beyond; machines
# with more threads keep one multi-threaded step until sharding is measured there.
AUTO_SHARDS_MAX = 4
# Examples (pairs) per shard below which sharding stops paying: 8-pair shards of cpu-quick's 16-pair
# batch ran 0.98-1.22x the two-threaded unsharded step (3 interleaved rounds, docs/notes/training-lab-notes.md).
MIN_SHARD = 8
# Images per shard below which bf16 shards stop paying: the 2-thread bf16 step ran 1.44x, 1.22x and
# 1.17x shards of 8, 16 and 32 images; shards of 64 images ran 1.21x it (RESULTS.md, cpu_step).
MIN_SHARD_IMAGES_BF16 = 64


class EagerStep:
    """forward + backward + clip + Adam; loss terms summed on the device between reads."""

    def __init__(self, model, optimizer, objective, config, device: torch.device) -> None:
        self.model, self.optimizer, self.objective, self.config = model, optimizer, objective, config
        self.device = device
        self.generator = torch.Generator(device=device)
        self.keys: list[str] | None = None
        self.log_acc: torch.Tensor | None = None
        self.ckpt_acc = torch.zeros((), device=device)
        self.log_count = self.ckpt_count = 0

    def _update(self, batch, beta, noise=None) -> None:
        cfg = self.config
        result = vae_loss(self.model, self.objective, batch, beta, cfg.recon, self.generator, noise)
        self.optimizer.zero_grad(set_to_none=True)
        if self.objective.companion is not None:
            self.objective.companion.optimizer.zero_grad(set_to_none=True)
        result.trained().backward()
        self._apply(result.terms, result.kl_per_dim)

    def _apply(self, terms: dict[str, torch.Tensor], kl_per_dim: torch.Tensor) -> None:
        """Clip and step on the gradients in ``.grad``; add the step's terms to the log sums."""
        if self.config.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        if self.objective.companion is not None:
            self.objective.companion.optimizer.step()
        if self.keys is None:
            self.keys = list(terms)
            self.log_acc = torch.zeros(len(self.keys) + kl_per_dim.numel(), device=self.device)
        vec = torch.cat([torch.stack([terms[k].float() for k in self.keys]), kl_per_dim.float()])
        self.log_acc.add_(vec)
        self.ckpt_acc.add_(vec[0])

    def close(self) -> None:
        """Release what the step holds (nothing here)."""

    def __call__(self, batch: dict[str, torch.Tensor], beta: float, seed: int) -> None:
        """One step; ``seed`` fixes the reparameterisation noise of this step."""
        self.generator.manual_seed(seed)
        with self._autocast():
            self._update(batch, beta)
        self.log_count += 1
        self.ckpt_count += 1

    def _autocast(self):
        return bf16_autocast(self.config, self.device)

    def pop_log(self) -> dict[str, float]:
        """Mean of every term since the last call (one host sync)."""
        if not self.log_count or self.keys is None:
            return {}
        values = (self.log_acc / self.log_count).tolist()
        self.log_acc.zero_()
        self.log_count = 0
        out = dict(zip(self.keys, values[: len(self.keys)], strict=True))
        out |= {f"kl_dim/{i}": v for i, v in enumerate(values[len(self.keys) :])}
        return out

    def pop_checkpoint_loss(self) -> float:
        """Mean loss since the last checkpoint."""
        if not self.ckpt_count:
            return float("inf")
        value = float(self.ckpt_acc) / self.ckpt_count
        self.ckpt_acc.zero_()
        self.ckpt_count = 0
        return value


class GraphStep(EagerStep):
    """The same step captured once in a CUDA graph and replayed (needs Adam(capturable=True))."""

    WARMUP = 3

    def __init__(self, model, optimizer, objective, config, device: torch.device) -> None:
        super().__init__(model, optimizer, objective, config, device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: dict[str, torch.Tensor] = {}
        self.beta = torch.zeros((), device=device)
        self.noise: torch.Tensor | None = None
        self.seen = 0

    @property
    def capturing_next(self) -> bool:
        """Whether the next call captures the graph (the data thread must be idle then)."""
        return self.graph is None and self.seen >= self.WARMUP

    def __call__(self, batch: dict[str, torch.Tensor], beta: float, seed: int) -> None:
        if self.graph is None and self.seen < self.WARMUP:
            self._eager_on_side_stream(batch, beta, seed)
        else:
            if self.graph is None:
                self._capture(batch)
            for key, value in batch.items():
                self.static[key].copy_(value, non_blocking=True)
            self.beta.fill_(beta)
            self.generator.manual_seed(seed)
            torch.randn(self.noise.shape, generator=self.generator, device=self.device, out=self.noise)
            self.graph.replay()
        self.seen += 1
        self.log_count += 1
        self.ckpt_count += 1

    def _eager_on_side_stream(self, batch, beta, seed) -> None:
        def update():
            with self._autocast():
                self.generator.manual_seed(seed)
                self._update(batch, beta)

        on_side_stream(self.device, update)

    def _capture(self, batch) -> None:
        self.static = {k: v.clone() for k, v in batch.items()}
        rows = 2 * len(batch["x1"]) if "x1" in batch else len(batch["x"])
        self.noise = torch.zeros(rows, self.model.latent_dim, device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        # Capturing records the kernels without running them: the log sums are untouched.
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"), self._autocast():
            self._update(self.static, self.beta, self.noise)


class ShardedStep(EagerStep):
    """CPU data parallelism inside one process: shards of the batch side by side, one thread each.

    Each shard's forward and backward runs single-threaded in its own worker (PyTorch releases the
    GIL inside its kernels); the shards' gradients and loss terms are then combined, weighted by
    shard size, in a fixed order, so a run is still deterministic and resumable. The reparameterisation
    noise is drawn for the whole batch first, exactly as the unsharded step draws it, so both steps
    compute the same loss up to float rounding. Needs a per-example objective and architecture.
    """

    def __init__(self, model, optimizer, objective, config, device: torch.device, shards: int) -> None:
        super().__init__(model, optimizer, objective, config, device)
        self.shards = shards
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.pool = ThreadPoolExecutor(shards, thread_name_prefix="disentkit-shard")
        # One intra-op thread per shard worker: the workers are the parallelism.
        self.saved_threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def _update(self, batch, beta, noise=None) -> None:
        pairs = self.objective.pairs
        n = len(batch["x1"] if pairs else batch["x"])
        if noise is None:  # the whole batch's draw, as sample_latent makes it in the unsharded step
            rows = 2 * n if pairs else n
            noise = torch.randn((rows, self.model.latent_dim), generator=self.generator, device=self.device)
        bounds = shard_bounds(n, self.shards)
        parts = list(self.pool.map(lambda b: self._shard(batch, noise, n, b, beta), bounds))
        weights = [(stop - start) / n for start, stop in bounds]
        for i, param in enumerate(self.params):
            param.grad = _weighted_sum([part[2][i] for part in parts], weights)
        terms = {k: _weighted_sum([part[0][k] for part in parts], weights) for k in parts[0][0]}
        self._apply(terms, _weighted_sum([part[1] for part in parts], weights))

    def _shard(self, batch, noise, n: int, bounds: tuple[int, int], beta):
        start, stop = bounds
        part = {key: value[start:stop] for key, value in batch.items()}
        eps = (
            torch.cat([noise[start:stop], noise[n + start : n + stop]])
            if self.objective.pairs
            else noise[start:stop]
        )
        with self._autocast():  # autocast is per thread: each worker enters its own
            result = vae_loss(self.model, self.objective, part, beta, self.config.recon, None, eps)
        grads = torch.autograd.grad(result.loss, self.params)
        return result.terms, result.kl_per_dim, grads

    def close(self) -> None:
        self.pool.shutdown()
        torch.set_num_threads(self.saved_threads)


def on_side_stream(device: torch.device, fn) -> None:
    """``fn()`` on a side stream: the warm-up steps torch.cuda.graphs requires before a capture."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream(device).wait_stream(side)


def bf16_autocast(config, device: torch.device) -> torch.autocast:
    """The step's autocast: bfloat16 where ``config.bf16`` asks for it, on CUDA or the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(config.bf16))


def say_if_bf16_is_slow(config, device: torch.device, progress: bool) -> None:
    """One line when bf16 is asked for on a CPU without native bfloat16: slower than float32 there."""
    from disentkit.console import say
    from disentkit.device import cpu_has_native_bf16

    if config.bf16 and device.type == "cpu" and not cpu_has_native_bf16():
        say(
            progress,
            "bf16: this CPU has no AVX512-BF16 or AMX, so bf16 runs slower than float32 here; drop --bf16",
            "yellow",
        )


def _weighted_sum(values: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    total = values[0] * weights[0]
    for value, weight in zip(values[1:], weights[1:], strict=True):
        total = total + value * weight
    return total


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous row ranges covering ``range(n)``, sizes differing by at most one."""
    edges = [round(i * n / shards) for i in range(shards + 1)]
    return list(itertools.pairwise(edges))


def images_per_step(config) -> int:
    """Images one step of ``config`` encodes: a pair is two."""
    return config.batch * (2 if config.objective().pairs else 1)


def shardable(config) -> bool:
    """Whether the config's loss and architecture are per-example (shards' gradients sum exactly)."""
    return config.objective().per_example and get_architecture(config.arch).per_example


def cpu_shard_count(config, device: torch.device) -> int:
    """The number of shards a run uses: the config's, else chosen from the device and torch threads."""
    if device.type != "cpu":
        return 1
    if config.cpu_shards is not None:
        if config.cpu_shards > 1 and not shardable(config):
            raise DisentkitError(
                f"cpu_shards {config.cpu_shards} needs a per-example loss and architecture, but "
                f"{config.method} on {config.arch} couples the batch (a TC estimate, a batch "
                "covariance, |KL − C| of the batch mean, or BatchNorm); use cpu_shards 1"
            )
        return config.cpu_shards
    threads = torch.get_num_threads()
    if config.bf16:
        per_shard = images_per_step(config) // threads >= MIN_SHARD_IMAGES_BF16
    else:
        per_shard = config.batch // threads >= MIN_SHARD
    if 2 <= threads <= AUTO_SHARDS_MAX and per_shard and shardable(config):
        return threads
    return 1


def make_step(model, optimizer, objective, config, device: torch.device) -> EagerStep:
    """The step runner a config asks for on ``device``: CUDA graph, CPU shards, or eager."""
    if config.cuda_graphs and device.type == "cuda":
        return GraphStep(model, optimizer, objective, config, device)
    shards = cpu_shard_count(config, device)
    if shards > 1:
        return ShardedStep(model, optimizer, objective, config, device, shards)
    return EagerStep(model, optimizer, objective, config, device)
