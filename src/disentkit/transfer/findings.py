"""The transfer paper's findings, computed from measured results and judged by rules stated here.

Every verdict comes from the numbers it is shown with; nothing is written in advance. The claims
(Dapueto, Noceti, Odone 2024, "Transferring disentangled representations"):

(a) a weakly supervised source beats an unsupervised β-VAE trained with the same budget, on OMES
    and on MIG (both measured on the source's own data);
(b) unsupervised fine-tuning raises explicitness: mean downstream (GBT) accuracy on each target;
(c) on a target sharing the source's factors, the structure is kept: OMES, OS, MES and DCI
    disentanglement after fine-tuning each within :data:`KEEP` of before (a gain counts as kept);
(d) on a target with other factors, what survives is uneven: factor by factor, the per-factor OMES
    is kept (same rule) or lost; the claim holds when some factor keeps it.

A transfer's results are the dict :func:`~disentkit.transfer.core.run_transfer` writes; its
``before`` and ``after`` are :class:`~disentkit.metrics.evaluation.Evaluation` dicts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from disentkit.metrics.evaluation import Evaluation, read_evaluation

#: "kept": after ≥ (1 − KEEP) × before, a relative fall of at most 20 %
KEEP = 0.2
#: (label, metric, key) of the structure scores claim (c) reads
STRUCTURE_SCORES = (("OMES", "omes", "omes"), ("OS", "omes", "os"), ("MES", "omes", "mes"))
DCI_D = ("DCI-D", "dci", "disentanglement")


@dataclass
class Finding:
    """One claim, its verdict and the numbers it rests on.

    ``holds`` is None when the numbers needed are missing (e.g. no "after": the fine-tune collapsed
    before its first checkpoint); ``evidence`` rows have ``what``, ``before``/``after`` or
    ``value``s, and a per-row ``verdict`` where the rule is applied row by row.
    """

    claim: str
    statement: str
    rule: str
    holds: bool | None
    evidence: list[dict] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def verdict(self) -> str:
        return {True: "holds", False: "does not hold", None: "not measured"}[self.holds]


def _get(result: dict | None, *keys):
    for key in keys:
        if result is None:
            return None
        result = result[key] if isinstance(key, int) else result.get(key)
    return result


def phase(payload: dict, name: str) -> Evaluation | None:
    """The ``before`` / ``after`` evaluation of a transfer's results (None when absent)."""
    data = payload.get(name)
    return None if data is None else read_evaluation(data, f"the transfer's {name!r} results")


def score(evaluation: Evaluation | None, metric: str, key: str, index: int | None = None):
    """``evaluation``'s ``metric`` ``key`` (one factor's with ``index``); None when absent."""
    return None if evaluation is None else evaluation.value(metric, key, index)


def accuracy(evaluation: Evaluation | None, kind: str, key: str, index: int | None = None):
    """A downstream accuracy of classifier ``kind`` (``index``: one factor's); None when absent."""
    result = None if evaluation is None else evaluation.downstream(kind)[1]
    value = None if result is None else result.get(key)
    return value if index is None or value is None else value[index]


def kept(before: float | None, after: float | None) -> bool | None:
    """The structure rule: after ≥ (1 − KEEP) × before; None when either is missing."""
    if before is None or after is None or not (math.isfinite(before) and math.isfinite(after)):
        return None
    return after >= (1 - KEEP) * before


def downstream_kind(payload: dict) -> str:
    """The classifier the explicitness claim reads: GBT when fitted, else the first one."""
    kinds = list(_get(payload, "config", "classifiers") or [])
    return "gbt" if "gbt" in kinds else (kinds[0] if kinds else "gbt")


def source_beats_baseline(source: dict, baseline: dict | None) -> Finding:
    """Claim (a) from two evaluations on the source's data (:class:`Evaluation` dicts)."""
    statement = "the weakly supervised source beats an unsupervised β-VAE of the same budget on OMES and MIG"
    rule = "holds when the source's OMES and MIG are both higher than the β-VAE's"
    if baseline is None:
        note = "not measured: no β-VAE baseline was trained (`disentkit quickstart --baseline` trains one)"
        return Finding("a", statement, rule, None, note=note)
    rows, wins = [], []
    ours_eval, theirs_eval = read_evaluation(source, "the source's evaluation"), read_evaluation(baseline)
    for label, metric in (("OMES", "omes"), ("MIG", "mig")):
        ours, theirs = score(ours_eval, metric, metric), score(theirs_eval, metric, metric)
        win = None if ours is None or theirs is None else ours > theirs
        wins.append(win)
        rows.append({"what": label, "source": ours, "β-VAE": theirs, "verdict": _word(win)})
    holds = None if None in wins else all(wins)
    return Finding("a", statement, rule, holds, rows)


def _judge(payload: dict, holds: bool | None) -> bool | None:
    """A fine-tune that collapsed before leaving anything to evaluate fails the claim."""
    if payload.get("after") is None and payload.get("status") == "collapsed":
        return False
    return holds


def explicitness_rises(payload: dict) -> Finding:
    """Claim (b) on one transfer: mean downstream accuracy after fine-tuning above before."""
    target = payload["target"]["name"]
    kind = downstream_kind(payload)
    statement = f"fine-tuning raises mean {kind.upper()} accuracy on {target}"
    rule = "holds when the mean test accuracy (full representation) after fine-tuning is above before"
    key = "mean_test_accuracy_full"
    before = accuracy(phase(payload, "before"), kind, key)
    after = accuracy(phase(payload, "after"), kind, key)
    holds = None if before is None or after is None else after > before
    row = {"what": f"mean {kind.upper()} accuracy", "before": before, "after": after}
    return Finding("b", statement, rule, _judge(payload, holds), [row], note=_after_note(payload))


def structure_kept(payload: dict) -> Finding:
    """Claim (c) on a target sharing the source's factors: OMES, OS, MES, DCI-D kept."""
    target = payload["target"]["name"]
    statement = f"on {target}, which shares the source's factors, fine-tuning keeps the structure"
    rule = f"holds when OMES, OS, MES and DCI-D after fine-tuning are each ≥ {1 - KEEP:.0%} of before"
    rows = []
    before_eval, after_eval = phase(payload, "before"), phase(payload, "after")
    for label, metric, key in (*STRUCTURE_SCORES, DCI_D):
        before, after = score(before_eval, metric, key), score(after_eval, metric, key)
        rows.append(
            {"what": label, "before": before, "after": after, "verdict": _kept_word(kept(before, after))}
        )
    verdicts = [kept(r["before"], r["after"]) for r in rows]
    holds = None if None in verdicts else all(verdicts)
    return Finding("c", statement, rule, _judge(payload, holds), rows, note=_after_note(payload))


def what_survived(payload: dict, source_factors: list[str] | None = None) -> Finding:
    """Claim (d) on a target with other factors: per-factor OMES and accuracy, kept or lost."""
    target = payload["target"]["name"]
    names = payload["target"]["factor_names"] or []
    kind = downstream_kind(payload)
    statement = f"on {target}, whose factors differ from the source's, some factors keep their structure"
    rule = f"per factor: kept when its OMES after fine-tuning is ≥ {1 - KEEP:.0%} of before; holds when any is kept"
    rows = []
    shared = set(source_factors or [])
    before_eval, after_eval = phase(payload, "before"), phase(payload, "after")
    for f, name in enumerate(names):
        before = score(before_eval, "omes", "omes_per_factor", f)
        after = score(after_eval, "omes", "omes_per_factor", f)
        rows.append(
            {
                "what": name + (" (also a source factor)" if name in shared else ""),
                "before": before,
                "after": after,
                f"{kind.upper()} before": accuracy(before_eval, kind, "test_accuracy_full", f),
                f"{kind.upper()} after": accuracy(after_eval, kind, "test_accuracy_full", f),
                "verdict": _kept_word(kept(before, after)),
            }
        )
    verdicts = [kept(r["before"], r["after"]) for r in rows]
    holds = None if not rows or None in verdicts else any(verdicts)
    survived = [r["what"] for r, v in zip(rows, verdicts, strict=True) if v]
    note = _after_note(payload) or (f"kept: {', '.join(survived)}" if survived else "no factor kept its OMES")
    return Finding("d", statement, rule, _judge(payload, holds), rows, note=note)


def shares_factors(source_factors: list[str] | None, target_factors: list[str] | None) -> bool:
    """Whether the target has every factor of the source (by name)."""
    return bool(source_factors) and set(source_factors) <= set(target_factors or [])


def transfer_findings(payload: dict) -> list[Finding]:
    """Claims (b) and (c) or (d) for one transfer (labelled targets; none for unlabelled ones)."""
    if not payload["target"].get("labelled"):
        return []
    source_factors = _get(payload, "source", "factor_names")
    structure = (
        structure_kept(payload)
        if shares_factors(source_factors, payload["target"]["factor_names"])
        else what_survived(payload, source_factors)
    )
    return [explicitness_rises(payload), structure]


def _after_note(payload: dict) -> str:
    if payload.get("after") is not None:
        step = _get(payload, "after_checkpoint", "step")
        return (
            f"after = the fine-tune's checkpoint of step {step}, before its posterior collapsed"
            if step
            else ""
        )
    if payload.get("status") == "collapsed":
        return "the fine-tune's posterior collapsed: no usable after (counted as not holding)"
    return "no after results"


def _word(win: bool | None) -> str:
    return {True: "higher", False: "not higher", None: "–"}[win]


def _kept_word(value: bool | None) -> str:
    return {True: "kept", False: "lost", None: "–"}[value]


def format_value(value) -> str:
    """Scores in [0, 1] as ×100 with one decimal, like the tables."""
    if isinstance(value, float):
        return f"{100 * value:.1f}" if math.isfinite(value) else "–"
    return "–" if value is None else str(value)


def finding_lines(finding: Finding) -> list[str]:
    """A finding as plain lines: the verdict, the rule, then one line per evidence row."""
    lines = [f"({finding.claim}) {finding.statement}: {finding.verdict.upper()}", f"    rule: {finding.rule}"]
    for row in finding.evidence:
        cells = [f"{k} {format_value(v)}" for k, v in row.items() if k != "what"]
        lines.append(f"    {row['what']}: " + ", ".join(cells))
    if finding.note:
        lines.append(f"    note: {finding.note}")
    return lines


def print_findings(findings: list[dict], console) -> None:
    """The findings with their verdicts, as plain lines on a Rich ``console``."""
    console.print("[bold]Findings[/] (the transfer paper's claims, judged on the numbers measured here)")
    for data in findings:
        finding = Finding(**data)
        colour = {True: "green", False: "red", None: "yellow"}[finding.holds]
        lines = finding_lines(finding)
        console.print(f"[{colour}]{lines[0]}[/]", highlight=False)
        for line in lines[1:]:
            console.print(line, highlight=False)
