"""disent 0.8's Ada-GVAE training step on the CPU, for bench_cpu_step's same-run baseline.

Run under an interpreter with disent 0.8 (not a disentkit dependency):
``python benchmarks/disent_step.py PAIRS STEPS`` prints the images/s of STEPS steps after 2 warm-up
steps. The step is disent's own ``do_training_step`` (AdaVae, gvae averaging, symmetric-KL
threshold as the transfer paper, BCE summed over pixels, conv64, 10 latents) followed by what its
Lightning trainer does with ``gradient_clip_val=1``: backward, norm clipping at 1.0, Adam at 1e-4.
The batch is the library benchmark's (random binary 64×64 images), on 2 torch threads.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import time
import types


def _inert_torchvision() -> None:
    """disent imports torchvision for datasets and models this step never touches; where no
    torchvision build matches the installed torch, stand in inert modules for it."""
    try:
        import torchvision  # noqa: F401

        return
    except (ImportError, RuntimeError):
        sys.modules.pop("torchvision", None)
    import lightning  # noqa: F401  (it and torchmetrics probe for torchvision first: they find none)

    class Inert(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return type(name, (), {})

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "torchvision":
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            module = Inert(spec.name)
            module.__path__ = []
            return module

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Finder())


def main(pairs: int, steps: int) -> float:
    import torch

    _inert_torchvision()
    from disent.frameworks.vae import AdaVae
    from disent.model import AutoEncoder
    from disent.model.ae import DecoderConv64, EncoderConv64

    torch.set_num_threads(2)
    model = AutoEncoder(
        EncoderConv64(x_shape=(1, 64, 64), z_size=10, z_multiplier=2),
        DecoderConv64(x_shape=(1, 64, 64), z_size=10),
    )
    cfg = AdaVae.cfg(
        optimizer="adam",
        optimizer_kwargs={"lr": 1e-4},
        beta=1.0,
        recon_loss="bce",
        loss_reduction="mean_sum",
        ada_average_mode="gvae",
        ada_thresh_mode="symmetric_kl",
    )
    framework = AdaVae(model=model, cfg=cfg)
    framework.log_dict = lambda *args, **kwargs: None  # Lightning logging needs a trainer
    optimizer = framework.configure_optimizers()
    gen = torch.Generator().manual_seed(0)
    x1 = (torch.rand(pairs, 1, 64, 64, generator=gen) > 0.9).float()
    x2 = (torch.rand(pairs, 1, 64, 64, generator=gen) > 0.9).float()
    batch = {"x_targ": (x1, x2)}

    def step():
        loss = framework.do_training_step(batch, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(framework.parameters(), 1.0)
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 2 * pairs * steps / (time.perf_counter() - start)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    print(f"{main(int(sys.argv[1]), int(sys.argv[2])):.1f}")
