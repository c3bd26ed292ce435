"""disentkit.metrics: OMES and the standard disentanglement metrics, as pure functions over arrays.

Array metrics take ``z`` (N × D float) and ``y`` (N × K int); interventional ones take a
:class:`~disentkit.data.base.GroundTruthDataset` and ``encode(images) -> z``. Each returns a small
dataclass with ``to_dict()``; randomness comes only from a passed ``numpy.random.Generator``.
See docs/metrics.md for every default and its source.
"""

from disentkit.metrics._common import MetricWarning
from disentkit.metrics.classifiers import DCIResult, DownstreamResult, SAPResult, classifier_scores, dci, sap
from disentkit.metrics.information import (
    MIGResult,
    ModularityResult,
    UnsupervisedResult,
    mig,
    modularity_explicitness,
    unsupervised_scores,
)
from disentkit.metrics.interventional import (
    BetaVAEResult,
    FactorVAEResult,
    InterventionSettings,
    beta_vae_score,
    factor_vae_score,
)
from disentkit.metrics.omes_metric import OMESResult, OMESSettings, matched_pairs, omes, omes_intervention
from disentkit.metrics.suite import (
    METRICS,
    SuiteOptions,
    evaluate_model,
    evaluate_representation,
    resolve_metrics,
)

__all__ = [
    "METRICS",
    "BetaVAEResult",
    "DCIResult",
    "DownstreamResult",
    "FactorVAEResult",
    "InterventionSettings",
    "MIGResult",
    "MetricWarning",
    "ModularityResult",
    "OMESResult",
    "OMESSettings",
    "SAPResult",
    "SuiteOptions",
    "UnsupervisedResult",
    "beta_vae_score",
    "classifier_scores",
    "dci",
    "evaluate_model",
    "evaluate_representation",
    "factor_vae_score",
    "matched_pairs",
    "mig",
    "modularity_explicitness",
    "omes",
    "omes_intervention",
    "resolve_metrics",
    "sap",
    "unsupervised_scores",
]
