"""The findings' rules on hand-made results: every verdict follows from the numbers, both ways."""

from disentkit.metrics.evaluation import Evaluation
from disentkit.transfer.findings import (
    explicitness_rises,
    kept,
    source_beats_baseline,
    structure_kept,
    transfer_findings,
    what_survived,
)


def scores(acc, omes, per_factor=(0.5, 0.5), dci=0.3, mig=None):
    metrics = {
        "downstream_hgb": {"mean_test_accuracy_full": acc, "test_accuracy_full": [acc, acc]},
        "omes": {"omes": omes, "os": omes, "mes": omes, "omes_per_factor": list(per_factor)},
        "dci": {"disentanglement": dci},
        "mig": {"mig": omes / 2 if mig is None else mig},
    }
    return Evaluation(metrics=metrics).to_dict()


def payload(target, names, before, after, status="complete", source_factors=("a", "b")):
    result = {
        "config": {"classifiers": ["hgb"]},
        "source": {"factor_names": list(source_factors)},
        "target": {"name": target, "labelled": True, "factor_names": list(names)},
        "before": before,
        "status": status,
    }
    return result | ({"after": after} if after is not None else {})


def test_the_keep_rule():
    assert kept(0.5, 0.4) and kept(0.5, 0.9) and not kept(0.5, 0.39)
    assert kept(None, 0.3) is None and kept(0.5, float("nan")) is None


def test_claim_a_needs_both_scores_higher():
    assert source_beats_baseline(scores(0.5, 0.6), scores(0.5, 0.3)).holds is True
    worse_mig = scores(0.5, 0.6, mig=0.01)
    assert source_beats_baseline(worse_mig, scores(0.5, 0.3)).holds is False
    assert source_beats_baseline(scores(0.5, 0.6), None).holds is None


def test_claim_b_follows_the_accuracies():
    rises = explicitness_rises(payload("t", "ab", scores(0.30, 0.4), scores(0.35, 0.4)))
    falls = explicitness_rises(payload("t", "ab", scores(0.30, 0.4), scores(0.29, 0.4)))
    assert rises.holds is True and falls.holds is False
    assert rises.evidence[0]["before"] == 0.30 and rises.evidence[0]["after"] == 0.35
    dead = explicitness_rises(payload("t", "ab", scores(0.30, 0.4), None, status="collapsed"))
    assert dead.holds is False and "collapsed" in dead.note


def test_claim_c_or_d_by_shared_factors():
    same = payload("noisy", "ab", scores(0.3, 0.5), scores(0.3, 0.45))
    assert [f.claim for f in transfer_findings(same)] == ["b", "c"]
    assert structure_kept(same).holds is True
    lost = payload("noisy", "ab", scores(0.3, 0.5), scores(0.3, 0.2))
    assert structure_kept(lost).holds is False
    other = payload("photos", "xy", scores(0.3, 0.5, (0.6, 0.4)), scores(0.4, 0.5, (0.1, 0.4)))
    findings = transfer_findings(other)
    assert [f.claim for f in findings] == ["b", "d"]
    verdicts = [row["verdict"] for row in findings[1].evidence]
    assert verdicts == ["lost", "kept"] and findings[1].holds is True and "kept: y" in findings[1].note
    none_kept = payload("photos", "xy", scores(0.3, 0.5, (0.6, 0.4)), scores(0.4, 0.5, (0.1, 0.1)))
    assert what_survived(none_kept).holds is False
