"""The headline numbers of each metric's result, and their column names in sweep tables.

A module of its own (no scikit-learn import) so the sweep's table code can read it cheaply.
"""

from __future__ import annotations

# Each metric's headline numbers: result key → column name in sweep tables
# (``Evaluation.columns``; ``{kind}`` is the classifier that was fit, so a fast
# suite's downstream_gbt lands in ``acc.hgb…``). ``summary`` names them ``metric.key``.
DOWNSTREAM_COLUMNS = {
    "mean_test_accuracy_full": "acc.{kind}.full.mean",
    "mean_test_accuracy_pruned": "acc.{kind}.pruned.mean",
}
HEADLINES: dict[str, dict[str, str]] = {
    "omes": {"omes": "omes", "os": "os", "mes": "mes"},
    "dci": {
        "disentanglement": "dci_disentanglement",
        "completeness": "dci_completeness",
        "informativeness_test": "dci_informativeness",
    },
    "downstream_gbt": DOWNSTREAM_COLUMNS,
    "downstream_mlp": DOWNSTREAM_COLUMNS,
    "mig": {"mig": "mig"},
    "sap": {"sap": "sap"},
    # explicitness_test: disentanglement_lib's; explicitness: the review's (zaidi2020 profile)
    "modularity": {
        "modularity": "modularity",
        "explicitness_test": "explicitness",
        "explicitness": "explicitness",
    },
    "unsupervised": {
        key: key
        for key in (
            "gaussian_total_correlation",
            "gaussian_wasserstein_correlation_norm",
            "mutual_info_score",
        )
    },
    "mig_sup": {"mig_sup": "mig_sup"},
    "jemmig": {"jemmig": "jemmig"},
    "dcimig": {"dcimig": "dcimig"},
    "irs": {"irs": "irs"},
    "z_max_variance": {"z_max_variance": "z_max_variance"},
    "z_min_variance": {"z_min_variance": "z_min_variance"},
    "z_diff": {"z_diff": "z_diff"},
    "infomec": {"infom": "infom", "infoc": "infoc", "infoe": "infoe"},
    "dci_es": {
        "disentanglement": "dci_es_disentanglement",
        "completeness": "dci_es_completeness",
        "informativeness": "dci_es_informativeness",
        "explicitness": "dci_es_explicitness",
        "size": "dci_es_size",
    },
    "beta_vae": {"eval_accuracy": "betavae"},
    "factor_vae": {"eval_accuracy": "factorvae"},
}
