"""CLI commands of disentkit.train: ``disentkit train`` and ``disentkit visualize``."""

from __future__ import annotations

from pathlib import Path

import typer

from disentkit.data.commands import DATA_DIR_HELP
from disentkit.errors import DisentkitError
from disentkit.options import with_options
from disentkit.train.config import TrainConfig


def register(app: typer.Typer) -> None:
    """Add this package's commands to the top-level app."""
    app.command("train")(train_command)
    app.command("visualize")(visualize_command)


@with_options(TrainConfig)
def train_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Run folder, e.g. runs/ada-gvae-s0."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out from its latest checkpoint; a larger --steps extends it.",
    ),
    from_checkpoint: str = typer.Option(
        None, "--from-checkpoint", help="Resume from this checkpoint: best, latest or a file path."
    ),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    seeds: str = typer.Option(
        None,
        "--seeds",
        help="Train one model per seed (0-9, 0,3,5) and --betas value as one model batch, each in "
        "--out/beta{β}-seed{s} (docs/batches.md); --resume continues them.",
    ),
    betas: str = typer.Option(
        None, "--betas", help="With --seeds: the β values, e.g. 1,2 (default: --beta)."
    ),
    **options,
) -> None:
    """Train a model; writes config, checkpoints, TensorBoard logs and metrics.csv to --out."""
    from disentkit.data.commands import open_source
    from disentkit.options import config_values
    from disentkit.train.config import apply_preset
    from disentkit.train.loop import train

    explicit = _explicit_options(ctx)
    values = config_values(TrainConfig, options)
    preset = values.pop("preset")
    # Only an official file needs opening here: every other name train opens itself, as on resume.
    dataset = open_source(values["data"], data_dir) if data_dir is not None else None
    # The options typed now, as the config would hold them: a resume refuses any that differ.
    changes = {name: values[name] for name in explicit if name in values and name != "device"}
    if "preset" in explicit:
        changes["preset"] = preset
    if seeds is not None or betas is not None:
        if from_checkpoint is not None:
            raise DisentkitError("--from-checkpoint resumes one run: drop --seeds/--betas or resume it alone")
        _train_models(out, seeds, betas, values, preset, explicit, dataset, resume, changes)
        return
    if resume or from_checkpoint is not None:
        run = train(
            None,
            out,
            dataset=dataset,
            resume=True,
            progress=True,
            device=values["device"] if "device" in explicit else None,
            changes=changes,
            from_checkpoint=from_checkpoint,
        )
        typer.echo(f"run resumed and finished: {run}")
        return
    config = TrainConfig(**values)
    config = apply_preset(config, preset, explicit=explicit).validate()
    run = train(config, out, dataset=dataset, progress=True)
    typer.echo(f"run finished: {run}")


def _train_models(out, seeds, betas, values, preset, explicit, dataset, resume, changes) -> None:
    """``train --seeds/--betas``: one run folder per (β, seed) under ``out``, trained as one batch."""
    from disentkit.config import only_entries, prepare_output_folder
    from disentkit.train.batch import model_folder, parse_betas, parse_seeds, train_models
    from disentkit.train.config import apply_preset

    for one, many in (("seed", "--seeds"), ("beta", "--betas")):
        if one in explicit and many.strip("-") in explicit:
            raise DisentkitError(f"--{one} and {many} both given: use {many} alone")
    seed_list = parse_seeds(seeds) if seeds is not None else [values["seed"]]
    beta_list = parse_betas(betas) if betas is not None else [values["beta"]]
    grid = [(b, s) for b in beta_list for s in seed_list]
    prepare_output_folder(out, "a model batch (beta*-seed* run folders)", only_entries("beta*-seed*"))
    folders = [out / model_folder(b, s) for b, s in grid]
    changes = {k: v for k, v in changes.items() if k not in ("seed", "beta")}
    if resume:
        configs = [None] * len(grid)
    else:
        own = explicit | {"seed", "beta"}
        configs = [
            apply_preset(TrainConfig(**{**values, "seed": s, "beta": b}), preset, explicit=own).validate()
            for b, s in grid
        ]
    device = values["device"] if "device" in explicit else None
    outcomes = train_models(
        configs, folders, dataset, resume, progress=True, device=device, changes=changes, say=typer.echo
    )
    stopped = [o for o in outcomes if o.status != "finished"]
    for outcome in stopped:
        typer.echo(f"{outcome.out.name} {outcome.status}: {outcome.message}")
    if stopped:
        raise DisentkitError(
            f"{len(stopped)} of {len(outcomes)} models stopped early ({', '.join(o.out.name for o in stopped)}); "
            f"the others finished in {out}"
        )
    typer.echo(f"{len(outcomes)} runs finished in {out}: {', '.join(f.name for f in folders)}")


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
    model = load_run(run, device=device, checkpoint=checkpoint)
    images = get_dataset(model.config.data).sample_images(n, np.random.default_rng(seed))
    written = visualize(model, images, out)
    typer.echo(f"wrote {len(written)} files to {out}")
