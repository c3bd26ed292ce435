"""The DCI result and its disentanglement and completeness scores (Eastwood & Williams, ICLR 2018).

Shared by the classifier DCI (:mod:`disentkit.metrics.classifiers`) and the regression-probe DCI
(:mod:`disentkit.metrics.probes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.stats

from disentkit.metrics._common import MetricResult


@dataclass
class DCIResult(MetricResult):
    """Disentanglement, completeness, informativeness (classifier accuracy) of Eastwood & Williams."""

    disentanglement: float
    completeness: float
    informativeness_train: float
    informativeness_test: float
    factor_names: list[str]
    importance_matrix: np.ndarray  # D × K
    disentanglement_per_dim: list[float]
    completeness_per_factor: list[float]
    train_accuracy_per_factor: list[float]
    test_accuracy_per_factor: list[float]
    comparable_with_published: bool = True
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(disentanglement, completeness, per-dim, per-factor) exactly as disentanglement_lib's dci.py."""
    d, k = importance.shape
    per_dim = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=k)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=d)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    dis = float(np.sum(per_dim * weights.sum(axis=1) / weights.sum()))
    com = float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))
    return dis, com, per_dim, per_factor
