"""Aggregation: a results folder → one DataFrame → the paper's tables and Fig. 2 correlations.

Every finished ``evaluate`` / ``transfer`` job contributes one row per evaluation phase
(``source``; ``before`` / ``after`` fine-tuning). Metric columns follow
:meth:`disentkit.metrics.evaluation.Evaluation.columns`: scalars (``omes``, ``os``, ``mes``,
``dci_disentanglement``, ``mig``, ``betavae``, ``factorvae``, …) and per-factor accuracies
``acc.<classifier>.<full|pruned>.<factor>``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from disentkit.errors import DisentkitError
from disentkit.sweep.store import read_json
from disentkit.tables import check_format, format_frame, spread_cell, titled

META_COLUMNS = ["job", "kind", "model", "source", "target", "dataset", "method", "beta", "seed", "phase"]
TABLE_METRICS = {"OS": "os", "MES": "mes", "OMES": "omes", "DCI": "dci_disentanglement", "MIG": "mig"}
OMES_FAMILY = {"OMES": "omes", "OS": "os", "MES": "mes"}
REFERENCE_METRICS = {
    "DCI": "dci_disentanglement",
    "MIG": "mig",
    "BetaVAE": "betavae",
    "FactorVAE": "factorvae",
}
ACCURACY_COLUMNS = ("gbt", "hgb", "mlp")  # downstream accuracy: the first classifier present


def load_results(results_dir, all_jobs: bool = False) -> pd.DataFrame:
    """One row per (finished evaluate/transfer job, phase); metadata then metric columns.

    Parameters
    ----------
    results_dir : path or list of paths
        Sweep results folders (the ones holding ``jobs/``); several are concatenated.
    all_jobs : bool
        Every finished job in the folders. Default: only the jobs of each folder's latest plan
        (its ``sweep.json``), so that jobs of an earlier, changed plan do not mix in.

    Returns
    -------
    pandas.DataFrame
        Columns ``job, kind, model, source, target, dataset, method, beta, seed, phase`` and one
        column per metric. ``acc.<clf>.<variant>.mean`` (mean over factors) is added.
    """
    folders = [results_dir] if isinstance(results_dir, (str, Path)) else list(results_dir)
    rows = []
    for folder in map(Path, folders):
        for job in _finished_jobs(folder, all_jobs):
            rows += _rows(job)
    if not rows:
        raise DisentkitError(f"no finished evaluate or transfer jobs in {', '.join(map(str, folders))}")
    frame = pd.DataFrame(rows).drop_duplicates(subset=["job", "phase"])
    return _add_mean_accuracy(frame.reset_index(drop=True))


def _finished_jobs(folder: Path, all_jobs: bool) -> list[Path]:
    if not (folder / "jobs").is_dir():
        raise DisentkitError(
            f"{folder} is not a sweep results folder (no jobs/ inside); run `disentkit sweep run` first"
        )
    index = read_json(folder / "sweep.json")
    if all_jobs or not isinstance(index, list):
        candidates = sorted((folder / "jobs").iterdir())
    else:
        candidates = [folder / entry["dir"] for entry in index]
    return [job for job in candidates if (job / "done").exists()]


def _rows(job: Path) -> list[dict]:
    results = read_json(job / "results.json") or {}
    config = read_json(job / "config.json") or {}
    evaluations = results.get("evaluations")
    if not isinstance(evaluations, dict):
        return []
    meta = {
        "job": config.get("key", job.name),
        "kind": results.get("kind", config.get("kind")),
        "model": (config.get("deps") or {}).get("model"),
        **{k: results.get(k) for k in ("source", "target", "dataset", "method", "beta", "seed")},
    }
    return [{**meta, "phase": phase, **metrics} for phase, metrics in evaluations.items()]


def _add_mean_accuracy(frame: pd.DataFrame) -> pd.DataFrame:
    groups: dict[str, list[str]] = {}
    for column in frame.columns:
        parts = column.split(".")
        if len(parts) == 4 and parts[0] == "acc" and parts[3] != "mean":
            groups.setdefault(".".join(parts[:3]), []).append(column)
    frame = frame.copy()
    for prefix, cols in groups.items():
        mean = frame[cols].mean(axis=1)
        column = f"{prefix}.mean"  # the metric suite's own mean wins where it is there
        frame[column] = frame[column].fillna(mean) if column in frame.columns else mean
    return frame


def factor_columns(frame: pd.DataFrame, classifier: str, variant: str) -> dict[str, str]:
    """``{factor: column}`` of per-factor accuracies present (non-empty) in ``frame``."""
    prefix = f"acc.{classifier}.{variant}."
    return {
        c[len(prefix) :]: c
        for c in frame.columns
        if c.startswith(prefix) and not c.endswith(".mean") and frame[c].notna().any()
    }


# --------------------------------------------------------------------------------- transfer tables


def _stats(values: pd.Series) -> tuple[float, float]:
    values = values.dropna().astype(float)
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def _paired(pair: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Before and after values of ``column`` aligned by job (one transfer job = one model)."""
    before = pair[pair.phase == "before"].set_index("job")[column]
    after = pair[pair.phase == "after"].set_index("job")[column]
    return before, after.reindex(before.index)


def present_classifiers(frame: pd.DataFrame) -> list[str]:
    """Classifiers with accuracy columns in ``frame`` (gbt, mlp first, as in the paper)."""
    found = {c.split(".")[1] for c in frame.columns if c.startswith("acc.") and c.count(".") >= 3}
    return sorted(found, key=lambda name: (["gbt", "mlp"] + [name]).index(name))


def transfer_summary(frame: pd.DataFrame, classifiers=None) -> pd.DataFrame:
    """Tidy summary: per (source, target, row, column) mean ± std of before and of the gain.

    ``classifiers``: which accuracy columns to tabulate (default: every one present).

    Rows are the target's factors (+ ``mean``) for columns ``<CLF> full|pruned``, and the
    metrics OS, MES, OMES, DCI, MIG (column ``score``). Values are ×100, as in the paper.
    """
    transfers = frame[frame.kind == "transfer"]
    if transfers.empty:
        raise DisentkitError(
            "no finished transfer jobs in these results: the tables compare before/after fine-tuning"
        )
    classifiers = present_classifiers(transfers) if classifiers is None else classifiers
    records = []
    for (source, target), pair in transfers.groupby(["source", "target"], sort=True):
        records += _accuracy_records(pair, source, target, classifiers)
        for label, column in TABLE_METRICS.items():
            if column in pair.columns and pair[column].notna().any():
                records.append(_record(pair, source, target, "metric", label, "score", column))
    return pd.DataFrame(records)


def _accuracy_records(pair, source, target, classifiers) -> list[dict]:
    records = []
    for clf in classifiers:
        for variant in ("full", "pruned"):
            columns = factor_columns(pair, clf, variant)
            if columns:
                columns["mean"] = f"acc.{clf}.{variant}.mean"
            for factor, column in columns.items():
                records.append(
                    _record(pair, source, target, "accuracy", factor, f"{clf.upper()} {variant}", column)
                )
    return records


def _record(pair, source, target, section, row, column, metric) -> dict:
    before, after = _paired(pair, metric)
    b_mean, b_std = _stats(before * 100)
    g_mean, g_std = _stats((after - before) * 100)
    n = int(before.notna().sum())
    return {
        "source": source,
        "target": target,
        "section": section,
        "row": row,
        "column": column,
        "before_mean": b_mean,
        "before_std": b_std,
        "gain_mean": g_mean,
        "gain_std": g_std,
        "n_models": n,
    }


def _cell(record) -> str:
    return spread_cell(record["before_mean"], record["before_std"], record["gain_mean"], record["gain_std"])


def transfer_tables(frame: pd.DataFrame, fmt: str = "md", classifiers=None) -> str:
    """The paper's transfer tables as Markdown, CSV (tidy numbers) or LaTeX."""
    check_format(fmt)
    summary = transfer_summary(frame, classifiers)
    if fmt == "csv":
        return summary.to_csv(index=False, float_format="%.4f")
    parts = []
    for (source, target), pair in summary.groupby(["source", "target"], sort=False):
        n = int(pair["n_models"].max())
        models = f"{n} model{'s' if n != 1 else ''}; before ×100 (+gain after fine-tuning), mean ± std"
        titles = {
            "accuracy": f"{source} → {target}: accuracy per factor ({models})",
            "metric": f"{source} → {target}: disentanglement ({models})",
        }
        for section, index_name in (("accuracy", "factor"), ("metric", "metric")):
            part = pair[pair.section == section]
            if part.empty:
                continue
            table = part.assign(cell=[_cell(r) for r in part.to_dict("records")])
            wide = table.pivot(index="row", columns="column", values="cell")
            wide = wide.reindex(
                index=list(dict.fromkeys(table["row"])), columns=list(dict.fromkeys(table["column"]))
            )
            parts.append(titled(titles[section], format_frame(wide.fillna("–"), fmt, index_name), fmt))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------- findings
WEAK_EXCLUDED = ("beta-vae", "beta-tcvae")


def load_findings(results_dir, all_jobs: bool = False) -> list[dict]:
    """Every finished transfer job's findings (``transfer.findings``), with its source and target."""
    folders = [Path(results_dir)] if isinstance(results_dir, (str, Path)) else [Path(p) for p in results_dir]
    rows = []
    for folder in folders:
        for job in _finished_jobs(folder, all_jobs):
            results = read_json(job / "results.json") or {}
            for finding in results.get("findings") or []:
                rows.append(
                    {
                        "job": job.name,
                        "source": results.get("source"),
                        "target": results.get("target"),
                        **finding,
                    }
                )
    return rows


def findings_summary(frame: pd.DataFrame, findings: list[dict]) -> list[dict]:
    """The findings' verdicts over a sweep's models: per claim, source and target, how many models
    it holds for, with mean ± std of every number it rests on. Claim (a) compares the evaluate
    jobs of weakly supervised methods with the β-VAE ones on each dataset."""
    summary = _baseline_claims(frame)
    groups: dict[tuple, list[dict]] = {}
    for row in findings:
        groups.setdefault((row["claim"], row["source"], row["target"]), []).append(row)
    for (claim, source, target), rows in sorted(groups.items(), key=lambda item: tuple(map(str, item[0]))):
        numbers: dict[str, list[float]] = {}
        for row in rows:
            for evidence in row["evidence"]:
                for key, value in evidence.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        numbers.setdefault(f"{evidence['what']} {key}", []).append(float(value))
        summary.append(
            {
                "claim": claim,
                "source → target": f"{source} → {target}",
                "statement": rows[0]["statement"].replace(f"on {target}", "on the target"),
                "holds for": f"{sum(r['holds'] is True for r in rows)} of {len(rows)} models",
                "numbers (×100, mean ± std)": "; ".join(f"{k} {_mean_std(v)}" for k, v in numbers.items()),
            }
        )
    return summary


def _baseline_claims(frame: pd.DataFrame) -> list[dict]:
    if frame.empty or "method" not in frame.columns:
        return []
    evaluated = frame[(frame.kind == "evaluate") & frame.method.notna()]
    rows = []
    for dataset, group in evaluated.groupby("dataset", sort=True):
        baseline = group[group.method == "beta-vae"]
        weak = group[~group.method.isin(WEAK_EXCLUDED)]
        if baseline.empty or weak.empty or not {"omes", "mig"} <= set(group.columns):
            continue
        bar = {m: float(baseline[m].mean()) for m in ("omes", "mig")}
        wins = ((weak["omes"] > bar["omes"]) & (weak["mig"] > bar["mig"])).sum()
        numbers = [
            f"{m.upper()} weak {_mean_std(weak[m])} vs β-VAE {_mean_std(baseline[m])}"
            for m in ("omes", "mig")
        ]
        rows.append(
            {
                "claim": "a",
                "source → target": str(dataset),
                "statement": "weakly supervised models beat the β-VAE ones on OMES and MIG (above their mean)",
                "holds for": f"{int(wins)} of {len(weak)} models",
                "numbers (×100, mean ± std)": "; ".join(numbers),
            }
        )
    return rows


def _mean_std(values) -> str:
    mean, std = _stats(pd.Series(list(values), dtype=float) * 100)
    return f"{mean:.1f}" + ("" if math.isnan(std) else f" ± {std:.1f}")


# ------------------------------------------------------------------------------ correlation (Fig. 2)

PHASES = ("all", "source", "before", "after")


def correlation_table(frame: pd.DataFrame, phase: str = "all", min_models: int = 3) -> pd.DataFrame:
    """Spearman ρ of OMES, OS, MES (rows) with DCI, MIG, BetaVAE, FactorVAE, accuracy (columns).

    Each evaluation (model × dataset × phase) is one observation; ``phase`` restricts them.
    Pairs with fewer than ``min_models`` complete observations give NaN. ``table.attrs["n"]`` maps
    each column to its number of observations (BetaVAE/FactorVAE exist only for source evaluations,
    so their ρ rests on far fewer points than DCI's).
    """
    from scipy.stats import spearmanr

    if phase not in PHASES:
        raise DisentkitError(f"unknown phase {phase!r}; valid phases: {', '.join(PHASES)}")
    data = frame if phase == "all" else frame[frame.phase == phase]
    rows_present = {k: v for k, v in OMES_FAMILY.items() if v in data.columns}
    cols_present = {k: v for k, v in REFERENCE_METRICS.items() if v in data.columns}
    for clf in ACCURACY_COLUMNS:
        column = f"acc.{clf}.full.mean"
        if column in data.columns and data[column].notna().any():
            cols_present[f"accuracy ({clf.upper()})"] = column
            break
    if not rows_present or not cols_present:
        raise DisentkitError(
            "these results lack the metrics to correlate: need one of OMES/OS/MES and one of "
            f"DCI/MIG/BetaVAE/FactorVAE/accuracy (columns present: {', '.join(c for c in data.columns if c not in META_COLUMNS)})"
        )
    table = pd.DataFrame(index=list(rows_present), columns=list(cols_present), dtype=float)
    table.attrs["n"] = {label: int(data[col].notna().sum()) for label, col in cols_present.items()}
    for r_label, r_col in rows_present.items():
        for c_label, c_col in cols_present.items():
            pair = data[[r_col, c_col]].dropna()
            if len(pair) >= min_models and pair[r_col].nunique() > 1 and pair[c_col].nunique() > 1:
                table.loc[r_label, c_label] = float(spearmanr(pair[r_col], pair[c_col]).statistic)
    return table


def correlation_heatmap(
    table: pd.DataFrame, out: str | Path, title: str = "Spearman rank correlation"
) -> Path:
    """Write the correlation table as an annotated heatmap (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.3 * values.shape[1] + 2, 0.8 * values.shape[0] + 1.5))
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
    counts = table.attrs.get("n", {})
    labels = [f"{c}\n(n={counts[c]})" if c in counts else str(c) for c in table.columns]
    ax.set_xticks(range(values.shape[1]), labels, rotation=30, ha="right")
    ax.set_yticks(range(values.shape[0]), table.index)
    for (i, j), value in np.ndenumerate(values):
        color = "white" if abs(value) > 0.6 else "black"  # readable on the saturated cells
        ax.text(
            j,
            i,
            "–" if np.isnan(value) else f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=9,
            color=color,
        )
    fig.colorbar(image, ax=ax, label="Spearman ρ")
    ax.set_title(title)
    fig.tight_layout()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120)
    except OSError as exc:
        raise DisentkitError(f"cannot write {out}: {exc}") from None
    finally:
        plt.close(fig)
    return out


def write_synthetic_results(folder: str | Path, records: list[dict]) -> Path:
    """Write finished jobs in the sweep's on-disk format (for tests, demos and imports).

    Each record: ``kind`` (evaluate/transfer), metadata (source, target, dataset, method, beta,
    seed, model) and ``evaluations`` {phase: flat metrics}.
    """
    from disentkit.sweep.plan import job_key

    folder = Path(folder)
    index = []
    for record in records:
        config = {k: record.get(k) for k in ("source", "target", "dataset", "method", "beta", "seed")}
        deps = {"model": record.get("model", f"model-{record.get('seed')}")}
        key = job_key(record["kind"], config, deps)
        job = folder / "jobs" / f"{record['kind']}-{key}"
        job.mkdir(parents=True, exist_ok=True)
        (job / "config.json").write_text(
            json.dumps({"kind": record["kind"], "key": key, "config": config, "deps": deps})
        )
        (job / "results.json").write_text(json.dumps({k: v for k, v in record.items() if k != "model"}))
        (job / "done").write_text("{}")
        index.append(
            {"key": key, "kind": record["kind"], "label": key, "dir": f"jobs/{job.name}", "deps": deps}
        )
    (folder / "sweep.json").write_text(json.dumps(index))
    return folder
