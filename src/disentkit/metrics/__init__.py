"""disentkit.metrics: OMES and the standard disentanglement metrics, as pure functions over arrays.

Array metrics take ``z`` (N × D float) and ``y`` (N × K int); interventional ones take a
:class:`~disentkit.data.base.GroundTruthDataset` and ``encode(images) -> z``. Each returns a small
dataclass with ``to_dict()``; randomness comes only from a passed ``numpy.random.Generator``.
See docs/metrics.md for every default and its source. Names are imported on first use.
"""

from disentkit._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "_common": "MetricWarning",
        "evaluation": "Evaluation read_evaluation",
        "classifiers": "DownstreamResult SAPResult classifier_scores dci sap",
        "dci_result": "DCIResult",
        "information": "MIGResult ModularityResult UnsupervisedResult mig modularity_explicitness "
        "unsupervised_scores",
        "infomec_metric": "InfoMECResult infomec",
        "probes": "DCIESResult dci_es dci_regression",
        "review": "DCIMIGResult IRSResult JEMMIGResult MIGSupResult ZMaxVarianceResult dcimig irs jemmig "
        "mig_sup review_mig review_modularity z_max_variance z_min_variance ZMinVarianceResult",
        "interventional": "BetaVAEResult FactorVAEResult InterventionSettings beta_vae_score "
        "factor_vae_score",
        "omes_metric": "OMESResult OMESSettings matched_pairs omes omes_intervention",
        "review_probes": "ReviewExplicitnessResult ReviewSAPResult ZDiffResult review_explicitness review_sap "
        "z_diff",
        "suite": "METRICS PROFILES SuiteOptions evaluate_model evaluate_representation resolve_metrics",
    },
)
