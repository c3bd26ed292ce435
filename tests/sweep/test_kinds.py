"""The protocol kinds' metric normalising: both layouts of the library map to the table columns."""

from __future__ import annotations

import pytest

from disentkit.metrics.evaluation import read_evaluation
from disentkit.sweep.kinds import _classifiers


def normalize_metrics(raw):  # the sweep's columns, through the one reader
    return read_evaluation(raw).columns()


NAMES = ["shape", "scale"]
OMES = {
    "omes": 0.5,
    "os": 0.4,
    "mes": 0.6,
    "factor_names": NAMES,
    "omes_per_factor": [0.3, 0.7],
    "pruned_dims": [1],
}
DOWN = {
    "classifier": "gbt",
    "factor_names": NAMES,
    "test_accuracy_full": [0.9, 0.8],
    "mean_test_accuracy_full": 0.85,
    "test_accuracy_pruned": [0.7, None],  # a NaN stored as None by json_safe
    "mean_test_accuracy_pruned": None,
}
DCI = {
    "disentanglement": 0.2,
    "completeness": 0.3,
    "informativeness_test": 0.85,
    "importance_matrix": [[1, 2]],
}


def test_evaluate_model_layout():
    raw = {
        "summary": {"omes": 0.5},
        "metrics": {
            "omes": OMES,
            "dci": DCI,
            "downstream_gbt": DOWN,
            "mig": {"mig": 0.1, "mig_per_factor": [0.1, 0.1]},
            "beta_vae": {"train_accuracy": 1.0, "eval_accuracy": 0.75},
            "factor_vae": {"train_accuracy": 1.0, "eval_accuracy": 0.65},
        },
        "n_samples": 3000,
    }
    flat = normalize_metrics(raw)
    assert flat["omes"] == 0.5 and flat["os"] == 0.4 and flat["mes"] == 0.6
    assert flat["omes.scale"] == 0.7
    assert (flat["dci_disentanglement"], flat["dci_completeness"], flat["dci_informativeness"]) == (
        0.2,
        0.3,
        0.85,
    )
    assert flat["mig"] == 0.1 and flat["betavae"] == 0.75 and flat["factorvae"] == 0.65
    assert flat["acc.gbt.full.shape"] == 0.9 and flat["acc.gbt.full.mean"] == 0.85
    assert flat["acc.gbt.pruned.shape"] == 0.7
    assert "acc.gbt.pruned.scale" not in flat and "acc.gbt.pruned.mean" not in flat
    assert "n_samples" not in flat  # only metrics, not the sample's metadata


def test_transfer_layout():
    raw = {
        "reconstruction": 120.5,
        "kl": 9.0,
        "omes": OMES,
        "dci": DCI,
        "mig": {"mig": 0.3},
        "downstream": {"mlp": dict(DOWN, classifier="mlp")},
    }
    flat = normalize_metrics(raw)
    assert flat["reconstruction"] == 120.5
    assert flat["omes"] == 0.5 and flat["mig"] == 0.3 and flat["dci_disentanglement"] == 0.2
    fast = normalize_metrics({"metrics": {"downstream_gbt": dict(DOWN, classifier="hgb")}})
    # named by what was fit
    assert "acc.hgb.full.shape" in fast and "acc.gbt.full.shape" not in fast
    assert flat["acc.mlp.full.scale"] == 0.8 and "acc.gbt.full.scale" not in flat


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [(["omes", "downstream_gbt", "downstream_mlp"], ("gbt", "mlp")), (["omes", "mig"], ("gbt",))],
)
def test_transfer_classifiers_follow_the_plan(metrics, expected):
    assert _classifiers(metrics) == expected
