"""Aggregation on synthetic results folders written in the jobs' on-disk format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from disentkit.cli import main
from disentkit.errors import DisentkitError
from disentkit.sweep.results import (
    correlation_heatmap,
    correlation_table,
    load_results,
    transfer_summary,
    transfer_tables,
    write_synthetic_results,
)

FACTORS = ("shape", "scale")


def _metrics(rng, level: float) -> dict:
    out = {
        "omes": level,
        "os": level * 0.9,
        "mes": level * 1.1,
        "mig": level**2,
        "dci_disentanglement": 1 - level,
    }
    for clf in ("gbt", "mlp"):
        for variant in ("full", "pruned"):
            for factor in FACTORS:
                out[f"acc.{clf}.{variant}.{factor}"] = float(rng.uniform(0.3, 0.6))
    return out


@pytest.fixture
def synthetic(tmp_path):
    """2 pairs × 4 models with known before/after accuracies, plus 4 source evaluations."""
    rng = np.random.default_rng(0)
    records = []
    for seed in range(4):
        model = f"m{seed}"
        level = 0.2 + 0.15 * seed
        records.append(
            {
                "kind": "evaluate",
                "source": "dsprites",
                "target": None,
                "dataset": "dsprites",
                "method": "ada-gvae",
                "beta": 1.0,
                "seed": seed,
                "model": model,
                "evaluations": {"source": _metrics(rng, level)},
            }
        )
        for target in ("noisy-dsprites", "color-dsprites"):
            before = _metrics(rng, level)
            after = {k: v + 0.1 for k, v in before.items()}  # fine-tuning gains exactly +10 points
            records.append(
                {
                    "kind": "transfer",
                    "source": "dsprites",
                    "target": target,
                    "dataset": target,
                    "method": "ada-gvae",
                    "beta": 1.0,
                    "seed": seed,
                    "model": model,
                    "evaluations": {"before": before, "after": after},
                }
            )
    return write_synthetic_results(tmp_path / "results", records), records


def test_load_results_is_one_row_per_evaluation(synthetic):
    folder, records = synthetic
    frame = load_results(folder)
    assert len(frame) == 4 + 2 * 4 * 2
    assert set(frame.phase) == {"source", "before", "after"}
    row = frame[(frame.phase == "before") & (frame.target == "noisy-dsprites") & (frame.seed == 2)].iloc[0]
    expected = next(
        r for r in records if r["kind"] == "transfer" and r["seed"] == 2 and r["target"] == "noisy-dsprites"
    )
    before = expected["evaluations"]["before"]
    assert row["acc.gbt.full.shape"] == pytest.approx(before["acc.gbt.full.shape"])
    assert row["acc.gbt.full.mean"] == pytest.approx(np.mean([before[f"acc.gbt.full.{f}"] for f in FACTORS]))


def test_transfer_summary_means_stds_and_gains(synthetic):
    folder, records = synthetic
    summary = transfer_summary(load_results(folder))
    cell = summary[
        (summary.target == "color-dsprites") & (summary.row == "scale") & (summary.column == "MLP pruned")
    ]
    values = [
        r["evaluations"]["before"]["acc.mlp.pruned.scale"] * 100
        for r in records
        if r["kind"] == "transfer" and r["target"] == "color-dsprites"
    ]
    assert cell.before_mean.item() == pytest.approx(np.mean(values))
    assert cell.before_std.item() == pytest.approx(np.std(values, ddof=1))
    assert cell.gain_mean.item() == pytest.approx(10.0)
    assert cell.gain_std.item() == pytest.approx(0.0, abs=1e-9)
    assert cell.n_models.item() == 4
    assert set(summary[summary.section == "metric"].row) == {"OS", "MES", "OMES", "DCI", "MIG"}


def test_tables_in_three_formats(synthetic):
    frame = load_results(synthetic[0])
    md = transfer_tables(frame, "md")
    assert "dsprites → noisy-dsprites: accuracy per factor (4 models" in md
    assert "| factor | GBT full | GBT pruned | MLP full | MLP pruned |" in md
    assert "(+10.0 ± 0.0)" in md and "| OMES |" in md
    csv = transfer_tables(frame, "csv")
    assert csv.splitlines()[0].startswith("source,target,section,row,column,before_mean")
    latex = transfer_tables(frame, "latex")
    assert latex.count(r"\begin{tabular}") == 4 and r"$\pm$" in latex
    with pytest.raises(DisentkitError, match="valid formats: md, csv, latex"):
        transfer_tables(frame, "html")


def test_correlation_signs_and_heatmap(synthetic, tmp_path):
    frame = load_results(synthetic[0])
    table = correlation_table(frame, phase="source")
    # In the synthetic data MIG rises with OMES and DCI falls with it, model by model.
    assert table.loc["OMES", "MIG"] == pytest.approx(1.0)
    assert table.loc["OMES", "DCI"] == pytest.approx(-1.0)
    assert table.loc["OS", "MIG"] == pytest.approx(1.0)
    assert list(table.index) == ["OMES", "OS", "MES"]
    assert "BetaVAE" not in table.columns  # not in these results
    assert table.attrs["n"]["DCI"] == len(frame[frame.phase == "source"])
    assert "accuracy (GBT)" in table.columns
    out = correlation_heatmap(table, tmp_path / "fig2.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    few = correlation_table(frame[frame.seed < 2], phase="source")
    assert few.isna().all().all()  # fewer than 3 models: no ρ


def cli(args: list[str]) -> int:
    """Exit status of the real entry point (typer exits through SystemExit on success)."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_cli_table_and_correlate(synthetic, tmp_path, capsys):
    folder, _ = synthetic
    assert cli(["table", str(folder), "--format", "md"]) == 0
    assert "GBT full" in capsys.readouterr().out
    assert cli(["correlate", str(folder), "--out", str(tmp_path / "c.png"), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("metric,DCI,MIG") and (tmp_path / "c.png").exists()
    assert cli(["table", str(tmp_path)]) == 2  # not a results folder: one-line error
    assert "not a sweep results folder" in capsys.readouterr().err


def test_load_results_ignores_unfinished_jobs(synthetic):
    folder, _ = synthetic
    job = sorted((folder / "jobs").iterdir())[0]
    (job / "done").unlink()
    assert isinstance(load_results(folder), pd.DataFrame)
    assert len(load_results(folder)) in (19, 18)


def test_table_classifiers_default_to_those_present(synthetic):
    frame = load_results(synthetic[0])
    only_gbt = frame.drop(columns=[c for c in frame.columns if c.startswith("acc.mlp.")])
    md = transfer_tables(only_gbt, "md")
    assert "GBT full" in md and "MLP" not in md
    assert "MLP full" not in transfer_tables(frame, "md", classifiers=["gbt"])


def test_only_the_latest_plan_unless_all_and_several_folders(synthetic, tmp_path):
    folder, records = synthetic
    index = json.loads((folder / "sweep.json").read_text())
    (folder / "sweep.json").write_text(json.dumps(index[:3]))  # a later plan with 3 of the jobs
    assert load_results(folder)["job"].nunique() == 3
    assert load_results(folder, all_jobs=True)["job"].nunique() == len(records)
    other = write_synthetic_results(tmp_path / "other", [dict(records[0], seed=99, model="m99")])
    both = load_results([folder, other])
    assert both["job"].nunique() == 4 and 99 in set(both.seed)


def test_suite_means_are_kept_not_duplicated(tmp_path):
    rec = {"kind": "transfer", "source": "a", "target": "b", "dataset": "b", "method": "m", "beta": 1.0}
    records = [
        dict(
            rec,
            seed=s,
            model=f"m{s}",
            evaluations={p: {"acc.hgb.full.x": 0.5, "acc.hgb.full.mean": 0.25} for p in ("before", "after")},
        )
        for s in range(2)
    ]
    frame = load_results(write_synthetic_results(tmp_path, records))
    assert list(frame.columns).count("acc.hgb.full.mean") == 1
    assert (frame["acc.hgb.full.mean"] == 0.25).all()
    assert "| mean | 25.0 ± 0.0 (+0.0 ± 0.0) |" in transfer_tables(frame, "md")


def test_table_gives_the_findings_verdicts_over_the_models(tmp_path, capsys):
    from disentkit.sweep.commands import table_command
    from disentkit.sweep.results import findings_summary, load_findings
    from disentkit.transfer.findings import explicitness_rises

    rng = np.random.default_rng(1)
    records = []
    for seed in range(4):
        for method, level in (("ada-gvae", 0.6), ("beta-vae", 0.3)):
            evaluation = _metrics(rng, level + 0.01 * seed)
            records.append(
                {
                    "kind": "evaluate",
                    "dataset": "dsprites",
                    "method": method,
                    "beta": 1.0,
                    "seed": seed,
                    "model": f"{method}{seed}",
                    "evaluations": {"source": evaluation},
                }
            )
        before, after = 0.30, 0.30 + (0.05 if seed < 3 else -0.05)  # fine-tuning helps 3 of 4 models
        payload = {
            "config": {"classifiers": ["gbt"]},
            "target": {"name": "noisy-dsprites", "labelled": True},
            "before": {"downstream": {"gbt": {"mean_test_accuracy_full": before}}},
            "after": {"downstream": {"gbt": {"mean_test_accuracy_full": after}}},
            "status": "complete",
        }
        records.append(
            {
                "kind": "transfer",
                "source": "dsprites",
                "target": "noisy-dsprites",
                "dataset": "noisy-dsprites",
                "method": "ada-gvae",
                "beta": 1.0,
                "seed": seed,
                "model": f"ada-gvae{seed}",
                "evaluations": {"before": _metrics(rng, 0.4), "after": _metrics(rng, 0.4)},
                "findings": [explicitness_rises(payload).to_dict()],
            }
        )
    folder = write_synthetic_results(tmp_path / "results", records)
    summary = {row["claim"]: row for row in findings_summary(load_results(folder), load_findings(folder))}
    assert summary["a"]["holds for"] == "4 of 4 models"
    assert summary["b"]["holds for"] == "3 of 4 models"
    assert "mean HGB accuracy" not in summary["b"]["numbers (×100, mean ± std)"]
    assert "mean GBT accuracy after 32.5 ± 5.0" in summary["b"]["numbers (×100, mean ± std)"]
    table_command([folder], all_jobs=False, format="md", out=None, classifiers=None)
    assert "Findings over the models" in capsys.readouterr().out
