"""CLI commands of disentkit.train: ``disentkit train`` and ``disentkit visualize``."""

from __future__ import annotations

from pathlib import Path

import typer

from disentkit.data.commands import DATA_DIR_HELP
from disentkit.errors import DisentkitError

METHOD_HELP = (
    "beta-vae, beta-tcvae, factor-vae, dip-vae-i, dip-vae-ii, annealed-vae (unsupervised); "
    "ada-gvae, ada-ml-vae, gvae-labels, ml-vae-labels (weak pairs)."
)
#: help of the method-specific options (TrainConfig's fields of the same names), shared by every
#: command that trains
OPTION_HELP = {
    "gamma": "factor-vae: TC weight γ (default 10); annealed-vae: weight of |KL − C| (default 1000).",
    "disc_lr": "factor-vae: the discriminator's Adam learning rate (default 1e-4).",
    "lambda_od": "dip-vae-i/-ii: weight of the off-diagonal covariance penalty (default 10).",
    "lambda_d_factor": "dip-vae-i/-ii: λ_d = this · λ_od (default 10 for -i, 1 for -ii).",
    "capacity_max": "annealed-vae: the capacity C_max in nats (default 25).",
    "capacity_steps": "annealed-vae: steps over which C rises from 0 to C_max (default 100000).",
}


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("train")(train_command)
    app.command("visualize")(visualize_command)


def train_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Run folder, e.g. runs/ada-gvae-s0."),
    data: str = typer.Option("dsprites", "--data", help="Dataset name (disentkit data list)."),
    method: str = typer.Option("ada-gvae", help=METHOD_HELP),
    arch: str = typer.Option("conv64", help="conv64 (disentanglement_lib) or conv64-bn (transfer paper)."),
    beta: float = typer.Option(1.0, help="KL weight (β-TCVAE: TC weight)."),
    gamma: float = typer.Option(None, help=OPTION_HELP["gamma"]),
    disc_lr: float = typer.Option(None, help=OPTION_HELP["disc_lr"]),
    lambda_od: float = typer.Option(None, help=OPTION_HELP["lambda_od"]),
    lambda_d_factor: float = typer.Option(None, help=OPTION_HELP["lambda_d_factor"]),
    capacity_max: float = typer.Option(None, help=OPTION_HELP["capacity_max"]),
    capacity_steps: int = typer.Option(None, help=OPTION_HELP["capacity_steps"]),
    steps: int = typer.Option(1500, help="Optimiser steps."),
    batch: int = typer.Option(64, help="Pairs per step (images for unsupervised methods)."),
    lr: float = typer.Option(1e-4, help="Adam learning rate."),
    lr_decay: float = typer.Option(
        0.0, help="Fraction of the final steps over which the rate falls linearly to 0 (0: constant)."
    ),
    head_decay: float = typer.Option(
        0.0, help="AdamW weight decay on the encoder's μ/log σ² head weights (0: plain Adam)."
    ),
    seed: int = typer.Option(0, help="Seeds the weights and the data stream."),
    k: str = typer.Option("1", help="Factors changed per pair: a number or 'random' (disentanglement_lib)."),
    agreement: float = typer.Option(
        0.0, help="Pair methods: weight of the KL between the two posteriors of each shared latent (0: none)."
    ),
    sparsity: float = typer.Option(
        0.0, help="Weight of Σ√KL per latent: takes latents worth less than it to the prior (0: none)."
    ),
    allow_equal: bool = typer.Option(False, help="A changed factor may keep its value (release behaviour)."),
    kl_rule: str = typer.Option(
        "asymmetric", help="Ada threshold: asymmetric (disentanglement_lib) or symmetric."
    ),
    warmup_steps: int = typer.Option(
        0, help="Steps over which β moves linearly from --beta-start to --beta."
    ),
    beta_start: float = typer.Option(
        0.0, help="β at step 0 of that ramp (0: warm-up; above --beta: anneal down)."
    ),
    clip: float = typer.Option(1.0, help="Gradient-norm clip; 0 disables."),
    recon: str = typer.Option("bernoulli", help="bernoulli or gaussian."),
    latent_dim: int = typer.Option(10, help="Latent size."),
    checkpoint_every: int = typer.Option(500, help="Steps between checkpoints."),
    log_every: int = typer.Option(50, help="Steps between log rows."),
    preset: str = typer.Option(None, help="cpu-quick, cpu-quick-ada or paper; explicit options override it."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out from its latest checkpoint; a larger --steps extends it.",
    ),
    from_checkpoint: str = typer.Option(
        None, "--from-checkpoint", help="Resume from this checkpoint: best, latest or a file path."
    ),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N."),
    bf16: bool = typer.Option(False, help="bf16 autocast on CUDA."),
    cuda_graphs: bool = typer.Option(False, help="Replay the whole step from a CUDA graph (CUDA only)."),
    cpu_shards: int = typer.Option(
        0, help="CPU: split each batch over this many single-threaded workers (0: one per thread, 2–4)."
    ),
) -> None:
    """Train a model; writes config, checkpoints, TensorBoard logs and metrics.csv to --out."""
    from disentkit.data.commands import open_source
    from disentkit.train.config import TrainConfig, apply_preset
    from disentkit.train.loop import train

    explicit = _explicit_options(ctx)
    values = dict(ctx.params)
    values["k"] = _parse_k(k)
    values["clip"] = clip if clip > 0 else None
    values["cpu_shards"] = cpu_shards or None
    for key in ("out", "resume", "preset", "from_checkpoint", "data_dir"):
        values.pop(key)
    # Only an official file needs opening here: every other name train opens itself, as on resume.
    dataset = open_source(data, data_dir) if data_dir is not None else None
    if resume or from_checkpoint is not None:
        # The options typed now, as the config would hold them: a resume refuses any that differ.
        changes = {name: values[name] for name in explicit if name in values and name != "device"}
        if "preset" in explicit:
            changes["preset"] = preset
        run = train(
            None,
            out,
            dataset=dataset,
            resume=True,
            progress=True,
            device=device if "device" in explicit else None,
            changes=changes,
            from_checkpoint=from_checkpoint,
        )
        typer.echo(f"run resumed and finished: {run}")
        return
    config = TrainConfig(**values)
    config = apply_preset(config, preset, explicit=explicit).validate()
    run = train(config, out, dataset=dataset, progress=True)
    typer.echo(f"run finished: {run}")


def _parse_k(k: str) -> int | str:
    if k == "random":
        return k
    try:
        return int(k)
    except ValueError:
        raise DisentkitError(f"--k must be a positive integer or 'random', got {k!r}") from None


def _explicit_options(ctx: typer.Context) -> set[str]:
    """Names of the options the user typed, which a preset must not override."""
    return {
        name for name in ctx.params if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
    }


def visualize_command(
    run: Path = typer.Argument(..., help="Run folder written by disentkit train."),
    out: Path = typer.Option(..., "--out", help="Folder for reconstructions.png, traversals.png and GIFs."),
    n: int = typer.Option(8, help="Images to reconstruct."),
    seed: int = typer.Option(0, help="Seed of the shown images."),
    checkpoint: str = typer.Option("best", help="best or latest."),
    device: str = typer.Option("auto", help="auto, cpu, cuda."),
) -> None:
    """Reconstructions and latent traversals (PNG grid + an animated GIF per dimension, sorted by KL)."""
    import numpy as np

    from disentkit.data import get_dataset
    from disentkit.train.runs import load_run
    from disentkit.train.visualize import visualize

    if n < 1:
        raise DisentkitError("--n must be at least 1")
    model = load_run(run, device=None if device == "auto" else device, checkpoint=checkpoint)
    images = get_dataset(model.config.data).sample_images(n, np.random.default_rng(seed))
    written = visualize(model, images, out)
    typer.echo(f"wrote {len(written)} files to {out}")
