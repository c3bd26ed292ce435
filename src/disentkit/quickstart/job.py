"""The main job behind ``disentkit quickstart`` (``make demo``): train, evaluate, transfer, judge the
paper's findings and write the report, with no download.

Stages (each reused when already finished; ``fresh=True`` redoes them)::

    OUT/source/           the cpu-quick weakly supervised source on dSprites   (marker: source/.done)
    OUT/baseline/         with baseline=True: a β-VAE with the same budget     (marker: baseline/.done)
    OUT/*/evaluation.json both evaluated on dSprites: OMES/OS/MES per factor, MIG, DCI, S
    OUT/noisy-dsprites/   transfer dSprites → Noisy-dSprites         (transfer.json, status finished)
    OUT/realphoto/        transfer dSprites → real photographs       (idem)
    OUT/findings.json     the paper's claims, each judged on the numbers above
    OUT/report.html       the self-contained report of all of it

The evaluation is scaled down to fit a 2-core CPU in minutes (a held-out sample of 3,000 images,
1,000 OMES pairs per factor, the fast histogram GBT; no MLP, which cost 80 % of each evaluation);
the choice is written into every result file. ``disentkit transfer`` runs the protocol's full sizes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from rich.console import Console

from disentkit.config import atomic_write_text, load_config
from disentkit.errors import DisentkitError
from disentkit.tables import print_table
from disentkit.transfer.config import TransferConfig
from disentkit.transfer.core import run_transfer
from disentkit.transfer.findings import print_findings, source_beats_baseline
from disentkit.transfer.results import finished_transfer

SOURCE = "source"
BASELINE = "baseline"
EVALUATION = "evaluation.json"
FINDINGS = "findings.json"
TARGETS = ("noisy-dsprites", "realphoto")
#: evaluation sizes scaled for a CPU: recorded in each result file
QUICK_EVAL = {
    "eval_size": 3000,
    "omes_pairs": 1000,
    # hgb only: the MLP (200 epochs, never stopping early here) took 108 of 135 s per evaluation
    "classifiers": ("hgb",),
}
QUICK = {"steps": 400, "lr": 1e-4, **QUICK_EVAL}


def source_config(seed: int = 0, device: str = "auto", bf16: bool = False):
    """The quickstart's source: the cpu-quick preset on dSprites (its fine-tunes inherit ``bf16``)."""
    from disentkit.train.config import TrainConfig, apply_preset

    return apply_preset(TrainConfig(data="dsprites", device=device, seed=seed, bf16=bf16), "cpu-quick")


def baseline_config(source):
    """An unsupervised β-VAE with the source's budget: the same steps, images per step (a pair is
    two images), β, learning rate, latents and every other setting; only the pairing is gone."""
    return dataclasses.replace(source, method="beta-vae", batch=2 * source.batch, preset=None).validate()


def _train(run: Path, config, label: str, console: Console) -> Path:
    from disentkit.train.loop import resumable, train_or_resume

    if (run / ".done").exists():
        _refuse_other_settings(run, config)
        console.print(f"[green]✓[/] {label} {run} (reused)")
        return run
    console.print(f"[bold]{label}[/]" + (" (resuming)" if resumable(run) else ""))
    train_or_resume(config, run)
    atomic_write_text(run / ".done", "")
    return run


def _refuse_other_settings(run: Path, config) -> None:
    """A finished stage is reused only if it was trained as asked (its CPU shard count aside)."""
    from disentkit.config import to_dict
    from disentkit.train.config import TrainConfig

    saved = load_config(TrainConfig, run / "config.yaml")
    asked = to_dict(dataclasses.replace(config, cpu_shards=saved.cpu_shards))
    trained = to_dict(saved)
    changed = sorted(k for k, v in trained.items() if asked.get(k) != v)
    if changed:
        detail = ", ".join(f"{k} {trained[k]!r} (asked {asked.get(k)!r})" for k in changed)
        raise DisentkitError(f"{run} was trained with other settings: {detail}; use --fresh or another --out")


def evaluate_run(run: Path, seed: int, device: str) -> dict:
    """A run's evaluation on its own dataset at the quick sizes (``run/evaluation.json``, reused), as
    an :class:`~disentkit.metrics.evaluation.Evaluation` dict."""
    from disentkit import load_run
    from disentkit.config import to_dict
    from disentkit.data import get_dataset
    from disentkit.metrics.evaluation import read_evaluation
    from disentkit.transfer.evaluate import evaluate_on_dataset

    path = run / EVALUATION
    if path.exists():
        return read_evaluation(json.loads(path.read_text()), str(path)).to_dict()
    model = load_run(run, device=device)
    dataset = get_dataset(model.config.data)
    sizes = {"eval_size": QUICK_EVAL["eval_size"], "n_pairs": QUICK_EVAL["omes_pairs"]}
    result = evaluate_on_dataset(model, dataset, seed=seed, classifiers=QUICK_EVAL["classifiers"], **sizes)
    result.context |= {"run": str(run), "step": model.step, "config": to_dict(model.config)}
    data = result.to_dict()
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False, default=str))
    return data


def _transfer(
    out: Path, source: Path, target: str, label: str, seed: int, device: str, console: Console
) -> dict:
    config = TransferConfig(source=str(source), target=target, device=device, seed=seed, **QUICK)
    folder = out / target
    previous = finished_transfer(config, folder)  # run_transfer would reuse it too; asked here to say so
    if previous is not None:
        console.print(f"[green]✓[/] transfer → {target} (reused)")
        return previous
    console.print(f"[bold]{label}[/] transfer → {target}: before, fine-tune {QUICK['steps']} steps, after")
    return run_transfer(config, folder)


def run_quickstart(
    out: str | Path = "runs/quickstart",
    fresh: bool = False,
    device: str = "auto",
    seed: int = 0,
    baseline: bool = False,
    bf16: bool = False,
) -> Path:
    """Run every stage (reusing finished ones); returns the report's path."""
    from disentkit.report.html import build_report

    out = Path(out)
    console = Console()
    if fresh and out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    total = 4 + baseline
    config = source_config(seed, device, bf16)
    source = _train(out / SOURCE, config, f"1/{total} training the cpu-quick source on dSprites", console)
    runs = [source]
    if baseline:
        runs.append(
            _train(out / BASELINE, baseline_config(config), f"2/{total} training the β-VAE baseline", console)
        )
    console.print("evaluating on dSprites: " + ", ".join(r.name for r in runs))
    evaluations = {run.name: evaluate_run(run, seed, device) for run in runs}
    results = {
        t: _transfer(out, source, t, f"{i + 2 + baseline}/{total}", seed, device, console)
        for i, t in enumerate(TARGETS)
    }
    findings = [source_beats_baseline(evaluations[SOURCE], evaluations.get(BASELINE))]
    findings_dicts = [findings[0].to_dict()] + [f for r in results.values() for f in r.get("findings", [])]
    atomic_write_text(
        out / FINDINGS, json.dumps({"seed": seed, "findings": findings_dicts}, indent=2, default=str)
    )
    console.print(f"[bold]{total}/{total}[/] writing the report")
    report = build_report([*runs, *(out / t for t in TARGETS)], out / "report.html", findings=findings_dicts)
    for target, result in results.items():
        print_table(result["table"], f"dSprites → {target}: before×100 (+gain×100)")
        for warning in result.get("warnings", []):
            console.print(f"[bold red]warning:[/] {warning}")
    print_findings(findings_dicts, console)
    console.print(f"report: {report}  ({time.perf_counter() - start:.0f} s)")
    return report
