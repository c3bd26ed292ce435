"""``disentkit quickstart``: the one-command main job (``make demo``), no arguments, no download.

Stages (each reused when already finished; ``fresh=True`` redoes them)::

    OUT/source/           the CPU-quick Ada-GVAE on dSprites          (marker: source/.done)
    OUT/noisy-dsprites/   transfer dSprites → Noisy-dSprites          (transfer.json status complete)
    OUT/realphoto/        transfer dSprites → real photographs        (idem)
    OUT/report.html       the self-contained report of all of it

The evaluation is scaled down to fit a 2-core CPU in minutes (a held-out sample of 3,000 images,
1,000 OMES pairs per factor, the fast histogram GBT; no MLP, which cost 80 % of each evaluation);
the choice is written into every result file. ``disentkit transfer`` runs the protocol's full sizes.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console

from disentkit.config import atomic_write_text
from disentkit.transfer.core import TransferConfig, finished_transfer, run_transfer

SOURCE = "source"
TARGETS = ("noisy-dsprites", "realphoto")
#: evaluation sizes scaled for a CPU: recorded in each transfer.json
QUICK = {
    "steps": 400,
    "lr": 5e-4,  # the cpu-quick preset's rate: 400 steps at the paper's 1e-4 barely move the weights
    "eval_size": 3000,
    "omes_pairs": 1000,
    # hgb only: the MLP (200 epochs, never stopping early here) took 108 of 135 s per evaluation
    "classifiers": ("hgb",),
}


def _train_source(out: Path, device: str, console: Console) -> Path:
    from disentkit.train.config import TrainConfig, apply_preset
    from disentkit.train.loop import resumable, train_or_resume

    run = out / SOURCE
    if (run / ".done").exists():
        console.print(f"[green]✓[/] source run {run} (reused)")
        return run
    console.print(
        "[bold]1/4[/] training the cpu-quick source on dSprites (GVAE, changed factors known)"
        + (" (resuming)" if resumable(run) else "")
    )
    train_or_resume(apply_preset(TrainConfig(data="dsprites", device=device), "cpu-quick"), run)
    atomic_write_text(run / ".done", "")
    return run


def _transfer(out: Path, source: Path, target: str, step: int, device: str, console: Console) -> dict:
    config = TransferConfig(source=str(source), target=target, device=device, **QUICK)
    folder = out / target
    previous = finished_transfer(config, folder)  # run_transfer would reuse it too; asked here to say so
    if previous is not None:
        console.print(f"[green]✓[/] transfer → {target} (reused)")
        return previous
    console.print(f"[bold]{step}/4[/] transfer → {target}: before, fine-tune {QUICK['steps']} steps, after")
    return run_transfer(config, folder)


def run_quickstart(out: str | Path = "runs/quickstart", fresh: bool = False, device: str = "auto") -> Path:
    """Run every stage (reusing finished ones); returns the report's path."""
    from disentkit.report.html import build_report
    from disentkit.transfer.commands import print_table

    out = Path(out)
    console = Console()
    if fresh and out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    source = _train_source(out, device, console)
    results = {t: _transfer(out, source, t, i + 2, device, console) for i, t in enumerate(TARGETS)}
    console.print("[bold]4/4[/] writing the report")
    report = build_report([source, *(out / t for t in TARGETS)], out / "report.html")
    for target, result in results.items():
        print_table(result["table"], f"dSprites → {target}: before×100 (+gain×100)")
    console.print(f"report: {report}  ({time.perf_counter() - start:.0f} s)")
    return report
