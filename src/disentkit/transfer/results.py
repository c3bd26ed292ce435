"""A transfer's folder and its results file: what it holds, writing and reading it (one versioned
reader), whether a folder already holds a transfer's results, and the before/after table.

``transfer.json`` is tagged ``"schema": "disentkit.transfer/2"``; its ``before``, ``after`` and
``after_collapsed`` are :class:`~disentkit.metrics.evaluation.Evaluation` dicts. Files written before
the tag (version 1, the scores at the top level of before/after) are read and upgraded.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from disentkit.config import atomic_write_bytes, atomic_write_text, refuse_foreign_folder, to_dict
from disentkit.errors import DisentkitError
from disentkit.metrics.evaluation import read_evaluation
from disentkit.tables import cell, cell_raw
from disentkit.transfer.config import TransferConfig
from disentkit.transfer.findings import accuracy, phase, score

SCHEMA = "disentkit.transfer/2"
RESULTS = "transfer.json"
SAMPLES = "samples.npz"
FINETUNE = "finetune"
DONE = ".done"
#: what a transfer folder holds; a non-empty --out with anything else is not ours to write into
OWN_ENTRIES = {RESULTS, SAMPLES, FINETUNE}
#: statuses of a transfer that ran to its end (a collapse is an end: re-running gives the same)
FINISHED = ("complete", "collapsed")
#: the evaluations a results file holds
PHASES = ("before", "after", "after_collapsed")


def write_results(out: Path, payload: dict) -> None:
    payload = {"schema": SCHEMA, **payload}
    atomic_write_text(out / RESULTS, json.dumps(to_dict(payload), indent=2, allow_nan=False, default=str))


def read_results(out: str | Path) -> dict:
    """``transfer.json`` of a transfer folder, in the current schema."""
    path = Path(out) / RESULTS
    if not path.exists():
        raise DisentkitError(f"{out} holds no transfer results ({RESULTS}); run `disentkit transfer` first")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DisentkitError(f"cannot read {path}: {exc}") from None
    return upgrade_results(data, str(path))


def upgrade_results(data: dict, where: str) -> dict:
    """Results in the current schema; version 1 is upgraded, an unknown schema refused."""
    if not isinstance(data, dict) or "config" not in data:
        raise DisentkitError(f"{where} is not a transfer's results; run `disentkit transfer` again")
    schema = data.get("schema")
    if schema not in (None, SCHEMA):
        raise DisentkitError(f"{where} has schema {schema!r}, which this disentkit ({SCHEMA}) cannot read")
    upgraded = {**data, "schema": SCHEMA}
    for name in PHASES:
        if data.get(name) is not None:
            upgraded[name] = read_evaluation(data[name], f"{where} ({name})").to_dict()
    return upgraded


def check_out_dir(config: TransferConfig, out: Path, fresh: bool = False) -> dict | None:
    """The finished results in ``out`` when they are exactly ``config``'s; None to (re)run.

    Refuses, with one line, a folder that is not a transfer, or — unless ``fresh`` (the transfer
    there is to be replaced) — a transfer of another config (more steps resume the fine-tune).
    """
    refuse_foreign_folder(out, "a transfer", lambda folder: {p.name for p in folder.iterdir()} <= OWN_ENTRIES)
    if fresh or not (out / RESULTS).exists():
        return None  # empty, to be replaced, or a transfer killed before its first results
    previous = read_results(out)
    wanted = to_dict(config)
    differ = _differences(previous.get("config", {}), wanted)
    if not differ:
        return previous if previous.get("status") in FINISHED else None
    if differ == {"steps"} and wanted["steps"] > previous["config"]["steps"]:
        return None  # the fine-tune is resumed and extended
    changes = ", ".join(f"{k} {previous['config'].get(k)!r} → {wanted.get(k)!r}" for k in sorted(differ))
    raise DisentkitError(
        f"{out} holds a transfer with another config ({changes}); use --fresh to replace it or choose "
        "another --out"
    )


def finished_transfer(config: TransferConfig, out_dir: str | Path) -> dict | None:
    """The results in ``out_dir`` if they are a finished transfer of exactly ``config``, else None."""
    path = Path(out_dir)
    if not (path / RESULTS).exists():
        return None
    previous = read_results(path)
    same = not _differences(previous.get("config", {}), to_dict(config.validate()))
    return previous if same and previous.get("status") in FINISHED else None


def _differences(saved: dict, wanted: dict) -> set[str]:
    """Config fields that differ, the device aside: where a transfer runs is not what it is."""
    keys = (saved.keys() | wanted.keys()) - {"device"}
    return {k for k in keys if saved.get(k) != wanted.get(k)}


def save_samples(out: Path, images: np.ndarray, factors: np.ndarray | None, n: int = 16) -> None:
    """A few evaluation images (and factors) for the report's reconstructions and traversals."""
    buffer = io.BytesIO()
    arrays = {"images": images[:n]}
    if factors is not None:
        arrays["factors"] = factors[:n]
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out / SAMPLES, buffer.getvalue())


# ------------------------------------------------------------------------------------- table
def summary_rows(payload: dict) -> list[dict]:
    """Rows of the before/after table: one per target factor, then "All"; the score row last.

    Unlabelled targets get one row of label-free scores.
    """
    before, after = phase(payload, "before"), phase(payload, "after")
    names = payload["target"]["factor_names"]
    if not names:
        b, a = (None if e is None else e.posterior or {} for e in (before, after))
        return [
            {
                "factor": "(no labels)",
                "reconstruction": cell_raw(_at(b, "reconstruction"), _at(a, "reconstruction")),
                "KL": cell_raw(_at(b, "kl"), _at(a, "kl")),
                "active dims": f"{_at(b, 'active_dims')} → {_at(a, 'active_dims')}",
            }
        ]
    kinds = list(payload["config"]["classifiers"])
    rows = []
    for f, name in enumerate([*names, "All"]):
        row = {"factor": name}
        factor = None if name == "All" else f
        for kind in kinds:
            full, pruned = ("test_accuracy_full", "test_accuracy_pruned")
            if factor is None:
                full, pruned = ("mean_test_accuracy_full", "mean_test_accuracy_pruned")
            for label, key in ((f"{kind.upper()} full", full), (f"{kind.upper()} pruned", pruned)):
                row[label] = cell(accuracy(before, kind, key, factor), accuracy(after, kind, key, factor))
        for name_ in ("omes", "os", "mes"):
            key = name_ if factor is None else f"{name_}_per_factor"
            row[name_.upper()] = cell(score(before, "omes", key, factor), score(after, "omes", key, factor))
        rows.append(row)
    rows[-1]["DCI"] = cell(score(before, "dci", "disentanglement"), score(after, "dci", "disentanglement"))
    rows[-1]["MIG"] = cell(score(before, "mig", "mig"), score(after, "mig", "mig"))
    return rows


def _at(values: dict | None, key: str):
    return None if values is None else values.get(key)
