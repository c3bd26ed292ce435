"""The training data stream: the batch of step ``s`` is a pure function of ``(seed, s)``.

That makes ``--resume`` exact (no sampler state to save) and lets a background thread render the
next batches while a GPU trains on the current one. On CUDA, labelled datasets render straight on
the device (``render_torch``), so the GPU never waits for numpy, and without a host sync (factors
are checked on the host and uploaded without blocking), so the loop runs ahead of the GPU. On CPU
the batch is rendered in the training thread: the model step already keeps every core busy, and torch calls from a second
thread start a second OpenMP team that competes with it (measured on 2 cores, 3 interleaved rounds:
median model step 260 ms with a background renderer, 210 ms without; rendering a dSprites batch
costs ~1 ms).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from disentkit.data.protocols import (
    DeviceRenderedSource,
    GroundTruthSource,
    ImageSource,
    PairSource,
    require_source,
)
from disentkit.errors import DisentkitError

#: stream ids mixed into the seed so data and sampling noise never share random numbers
DATA_STREAM, NOISE_STREAM, COMPANION_STREAM = 0, 1, 2


def step_seed(seed: int, step: int, stream: int) -> int:
    """A 63-bit seed for (run seed, step, stream), well mixed by numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def to_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(n, H, W, C)`` → float32 ``(n, C, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def check_training_source(dataset, pairs: bool) -> None:
    """Refuse, in one line, data that cannot train: weak pairs need a ground-truth source."""
    if pairs and not isinstance(dataset, GroundTruthSource):
        raise DisentkitError(
            f"{getattr(dataset, 'name', 'this data')} has no ground-truth factors, so it cannot make "
            "weak pairs; use an unsupervised method (beta-vae, beta-tcvae, factor-vae, dip-vae-i, dip-vae-ii, annealed-vae)"
        )
    require_source(dataset, PairSource if pairs else ImageSource, "training data")


class BatchStream:
    """Batches for a run: pairs for weakly supervised methods, images otherwise.

    Parameters
    ----------
    dataset : ImageSource
        A :class:`~disentkit.data.PairSource` (a ``GroundTruthDataset``) for pairs, else any
        :class:`~disentkit.data.ImageSource`.
    pairs : bool
        Whether the method trains on weak pairs.
    batch, seed, k, allow_equal :
        From the :class:`~disentkit.train.config.TrainConfig`.
    device : torch.device
        Where batches are delivered.
    prefetch : int or None
        Batches rendered ahead in a background thread (0: render in the caller). None: 2 on CUDA,
        0 on CPU (see the module docstring).
    """

    def __init__(
        self,
        dataset,
        pairs: bool,
        batch: int,
        seed: int,
        k,
        allow_equal: bool,
        device,
        prefetch=None,
        limit=None,
    ):
        check_training_source(dataset, pairs)
        self.dataset, self.pairs, self.batch, self.seed = dataset, pairs, batch, seed
        self.k, self.allow_equal, self.device = k, allow_equal, torch.device(device)
        # Render on the GPU only where the dataset has a torch path (labelled datasets do).
        self.on_device = self.device.type == "cuda" and isinstance(dataset, DeviceRenderedSource)
        if prefetch is None:
            prefetch = 2 if self.device.type == "cuda" else 0
        self.prefetch, self.limit = prefetch, limit  # no batch at or past ``limit`` is rendered ahead
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="disentkit-data") if prefetch else None
        self._pending: dict[int, Future] = {}

    def make(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of ``step`` (deterministic)."""
        rng = np.random.default_rng(step_seed(self.seed, step, DATA_STREAM))
        render_device = self.device if self.on_device else None
        if self.pairs:
            pb = self.dataset.sample_pairs(self.batch, self.k, rng, self.allow_equal, device=render_device)
            x1, x2 = (t if torch.is_tensor(t) else to_float_images(t) for t in (pb.x1, pb.x2))
            out = {"x1": x1, "x2": x2, "changed": torch.from_numpy(pb.changed)}
        elif self.on_device:
            factors = torch.from_numpy(self.dataset.sample_factors(self.batch, rng))  # host: no sync
            generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
            out = {"x": self.dataset.render_torch(factors, generator, device=self.device)}
        else:
            out = {"x": to_float_images(self.dataset.sample_images(self.batch, rng))}
        return {k: v.to(self.device, non_blocking=True) for k, v in out.items()}

    def get(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of ``step``, queueing the next ones in the background."""
        if self._pool is None:
            return self.make(step)
        future = self._pending.pop(step, None) or self._pool.submit(self.make, step)
        stop = step + 1 + self.prefetch if self.limit is None else min(step + 1 + self.prefetch, self.limit)
        for ahead in range(step + 1, stop):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(self.make, ahead)
        return future.result()

    def wait_idle(self) -> None:
        """Block until the batches queued ahead are rendered (nothing runs in the background after)."""
        for future in list(self._pending.values()):
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            for future in self._pending.values():
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pending.clear()
