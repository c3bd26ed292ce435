"""Size of the first fine-tuning updates, mean |Δθ| per weight in units of lr, with the source run's
Adam state loaded (the transfer paper's protocol) and with a fresh Adam.

    python scripts/finetune_update_size.py RUN TARGET LR

RUN: a source run folder; TARGET: a dataset name. Prints the update size at steps 1, 5, 10 and 20 of
an unsupervised β-VAE fine-tune (the run's β) on 32-image batches of TARGET.
"""

import sys
from pathlib import Path

import numpy as np
import torch

from disentkit import load_run
from disentkit.data import get_dataset
from disentkit.models.objectives import get_objective
from disentkit.models.vae import vae_loss
from disentkit.train.checkpoint import load_checkpoint, restore
from disentkit.transfer.adapt import TargetAdapter


def update_sizes(run: Path, target: str, lr: float, loaded: bool, steps: int = 20) -> list[float]:
    source = load_run(run, device="cpu")
    model = source.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    restore(load_checkpoint(run / "checkpoints" / "best.safetensors"), model, optimizer if loaded else None)
    for group in optimizer.param_groups:
        group["lr"] = lr
    data = TargetAdapter(get_dataset(target), channels=model.channels)
    objective = get_objective("beta-vae", "asymmetric")
    rng, sizes = np.random.default_rng(0), []
    for _ in range(steps):
        x = torch.from_numpy(data.sample_images(32, rng)).permute(0, 3, 1, 2).float() / 255
        before = [p.detach().clone() for p in model.parameters()]
        result = vae_loss(model, objective, {"x": x}, source.config.beta, source.config.recon, None)
        optimizer.zero_grad()
        result.loss.backward()
        optimizer.step()
        moved = torch.cat(
            [(p.detach() - b).abs().flatten() for p, b in zip(model.parameters(), before, strict=True)]
        )
        sizes.append(float(moved.mean() / lr))
    return sizes


if __name__ == "__main__":
    torch.set_num_threads(1)
    run, target, lr = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    for loaded in (True, False):
        sizes = update_sizes(run, target, lr, loaded)
        label = "source Adam" if loaded else "fresh Adam "
        print(label, "mean |Δθ|/lr at steps 1, 5, 10, 20:", [round(sizes[i], 2) for i in (0, 4, 9, 19)])
