"""Run `disentkit quickstart --seed N` for several seeds and write their tables as Markdown.

    python scripts/quickstart_seeds.py --seeds 0 1 2 --root runs/seeds --out docs/results/quickstart-seeds.md

Each seed's folder is an ordinary quickstart output (reused when finished). The Markdown has the
date, the machine, the command, each seed's wall time, the source's and baseline's scores on
dSprites, each transfer's before → after numbers and status, and every finding's verdict.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from disentkit.metrics.evaluation import read_evaluation
from disentkit.transfer.findings import phase
from disentkit.transfer.results import read_results


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _pairs(before, after):
    """``get → "before → after"`` for one transfer's two evaluations."""

    def pair(get) -> str:
        try:
            later = pct(get(after)) if after else "–"
        except (KeyError, TypeError, AttributeError):
            later = "–"
        return f"{pct(get(before))} → {later}"

    return pair


def seed_section(out: Path, seed: int, seconds: float) -> list[str]:
    lines = [f"## Seed {seed} ({seconds / 60:.1f} min, `{out}`)", ""]
    lines += [
        "| run on dSprites | OMES | OS | MES | MIG | DCI-D | active latents |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("source", "baseline"):
        path = out / name / "evaluation.json"
        if path.exists():
            e = read_evaluation(json.loads(path.read_text()))
            om = e.metric("omes")
            lines.append(
                f"| {name} | {pct(om['omes'])} | {pct(om['os'])} | {pct(om['mes'])} | {pct(e.value('mig', 'mig'))} "
                f"| {pct(e.value('dci', 'disentanglement'))} | {e.active_dims} |"
            )
    lines += [
        "",
        "| target | status | HGB mean | OMES | DCI-D | MIG | active latents |",
        "|---|---|---|---|---|---|---|",
    ]
    for target in ("noisy-dsprites", "realphoto"):
        r = read_results(out / target)
        b, a = phase(r, "before"), phase(r, "after")
        pair = _pairs(b, a)
        after_active = "–" if a is None else a.active_dims
        lines.append(
            f"| {target} | {r['status']} | {pair(lambda x: x.value('downstream_hgb', 'mean_test_accuracy_full'))} "
            f"| {pair(lambda x: x.value('omes', 'omes'))} | {pair(lambda x: x.value('dci', 'disentanglement'))} "
            f"| {pair(lambda x: x.value('mig', 'mig'))} | {b.active_dims} → {after_active} |"
        )
    lines += ["", "Findings:", ""]
    for f in json.loads((out / "findings.json").read_text())["findings"]:
        verdict = {True: "holds", False: "does not hold", None: "not measured"}[f["holds"]]
        lines.append(f"- ({f['claim']}) {f['statement']}: **{verdict}**")
    return lines + [""]


def main() -> None:
    from disentkit.config import environment_info
    from disentkit.quickstart.job import run_quickstart

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--root", type=Path, default=Path("runs/seeds"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--bf16", action="store_true", help="quickstart --bf16: train and fine-tune under bf16 autocast"
    )
    args = parser.parse_args()
    env = environment_info()
    lines = [
        f"# Quickstart seeds {', '.join(map(str, args.seeds))}",
        "",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {platform.processor() or platform.machine()}, "
        f"{env['cpu_count']} CPUs; torch {env['torch']}, scikit-learn {env['scikit-learn']}.",
        f"Command: `python {' '.join(sys.argv)}` (each seed = `disentkit quickstart --seed N --baseline{' --bf16' if args.bf16 else ''} --out ROOT/seedN`).",
        "",
    ]
    for seed in args.seeds:
        out = args.root / f"seed{seed}"
        start = time.perf_counter()
        run_quickstart(out, seed=seed, baseline=True, bf16=args.bf16)
        lines += seed_section(out, seed, time.perf_counter() - start)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
