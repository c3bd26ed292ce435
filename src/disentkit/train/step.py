"""One optimisation step, eager or replayed from a CUDA graph, with on-device log accumulation.

The step adds its loss terms to a device buffer instead of returning Python numbers, so the host
never waits on the GPU between log rows. :class:`GraphStep` captures forward, backward, clipping,
Adam and the accumulation into one CUDA graph after a few eager warm-up steps: a small network like
conv64 is otherwise bound by kernel-launch overhead.
"""

from __future__ import annotations

import torch

from disentkit.models.vae import vae_loss


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
        result.loss.backward()
        if cfg.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self.optimizer.step()
        if self.keys is None:
            self.keys = list(result.terms)
            self.log_acc = torch.zeros(len(self.keys) + result.kl_per_dim.numel(), device=self.device)
        vec = torch.cat(
            [torch.stack([result.terms[k].float() for k in self.keys]), result.kl_per_dim.float()]
        )
        self.log_acc.add_(vec)
        self.ckpt_acc.add_(vec[0])

    def __call__(self, batch: dict[str, torch.Tensor], beta: float, seed: int) -> None:
        """One step; ``seed`` fixes the reparameterisation noise of this step."""
        self.generator.manual_seed(seed)
        with self._autocast():
            self._update(batch, beta)
        self.log_count += 1
        self.ckpt_count += 1

    def _autocast(self):
        enabled = self.config.bf16 and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

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
        # Warm-up steps run on a side stream, as torch.cuda.graphs requires before a capture.
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), self._autocast():
            self.generator.manual_seed(seed)
            self._update(batch, beta)
        torch.cuda.current_stream(self.device).wait_stream(side)

    def _capture(self, batch) -> None:
        self.static = {k: v.clone() for k, v in batch.items()}
        rows = 2 * len(batch["x1"]) if "x1" in batch else len(batch["x"])
        self.noise = torch.zeros(rows, self.model.latent_dim, device=self.device)
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        # Capturing records the kernels without running them: the log sums are untouched.
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"), self._autocast():
            self._update(self.static, self.beta, self.noise)
