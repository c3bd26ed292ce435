"""The metric registry and the two suite entry points used by the rest of disentkit.

* :func:`evaluate_representation` — array metrics on a fixed sample ``z`` (N × D), ``y`` (N × K);
* :func:`evaluate_model` — samples and encodes observations from a dataset, runs the array metrics
  and the interventional ones (OMES intervention mode, BetaVAE, FactorVAE).

Both return an :class:`~disentkit.metrics.evaluation.Evaluation` that carries every setting, the
dropped factors and the warnings.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from disentkit.errors import DisentkitError, unknown_name
from disentkit.metrics import (
    classifiers,
    infomec_metric,
    information,
    interventional,
    probes,
    review,
    review_probes,
)
from disentkit.metrics import omes_metric as omes
from disentkit.metrics._common import MetricWarning, json_safe, prepare
from disentkit.metrics.evaluation import Evaluation

#: name → (needs a dataset, one-line description)
METRICS: dict[str, tuple[bool, str]] = {
    "omes": (False, "OMES / OS / MES (matched-sample pairs; intervention pairs in evaluate_model)"),
    "dci": (False, "DCI disentanglement, completeness, informativeness (GBT importances)"),
    "downstream_gbt": (False, "GBT accuracy per factor, full and OMES-pruned representation"),
    "downstream_mlp": (False, "MLP (256, 256) accuracy per factor, full and OMES-pruned representation"),
    "mig": (False, "mutual information gap (20 bins)"),
    "sap": (False, "SAP score (LinearSVC C=0.01, balanced)"),
    "modularity": (False, "modularity and explicitness (Ridgeway & Zemel)"),
    "unsupervised": (False, "Gaussian total / Wasserstein correlation, mutual information score"),
    "mig_sup": (False, "MIG-sup: per code, gap between its two most informative factors"),
    "jemmig": (False, "JEMMIG (1 − normalised joint-entropy-minus-MI gap)"),
    "dcimig": (False, "DCIMIG: codes' MI gaps assigned to factors, over total factor entropy"),
    "irs": (False, "interventional robustness score (sample-based)"),
    "z_max_variance": (False, "Z-max variance (sample-based majority vote)"),
    "z_min_variance": (False, "Z-min variance (the FactorVAE score from the sample, the review's variant)"),
    "z_diff": (False, "Z-diff (the BetaVAE score from the sample, the review's variant)"),
    "infomec": (False, "InfoM, InfoC, InfoE (kNN normalised MI, logistic regression)"),
    "dci_es": (False, "DCI-ES: explicitness from random-forest loss-capacity curves, size"),
    "beta_vae": (True, "BetaVAE score (interventional)"),
    "factor_vae": (True, "FactorVAE score (interventional)"),
}
ARRAY_METRICS = tuple(name for name, (needs, _) in METRICS.items() if not needs)
#: DCI-ES fits 12 forests of 100 trees per factor: asked for by name, not run by default.
DEFAULT_ARRAY_METRICS = tuple(name for name in ARRAY_METRICS if name != "dci_es")
DEFAULT_MODEL_METRICS = tuple(name for name in METRICS if name != "dci_es")

#: Settings profiles: option defaults that reproduce a reference's conventions. Options given
#: explicitly win over the profile. The profile's name is recorded in every result.
PROFILES: dict[str, dict] = {
    "disentanglement_lib": {},
    # Zaidi et al.'s review (its experiments/config.py) with continuous_factors=False: min-max
    # scaling and 10 bins for codes, IRS over raw factor values with the max deviation, the
    # review's MIG and modularity, and its DCI formula for the regression probes.
    "zaidi2020": {
        "binning": "minmax",
        "n_bins": review.REVIEW_BINS,
        "irs_diff_quantile": 1.0,
        "irs_bin_factors": False,
        "dci_formula": "zaidi2020",
    },
}


@dataclass
class SuiteOptions:
    """Every setting of the suite (defaults = protocol / disentanglement_lib); recorded with results."""

    alpha: float = 0.5
    pooling: str = "avg"
    association: str = "product"
    omes_max_pairs: int = omes.MAX_PAIRS
    omes_n_pairs: int = omes.N_INTERVENTION_PAIRS
    omes_min_pairs: int = omes.MIN_PAIRS
    fast: bool = False
    n_jobs: int = -1
    gbt_params: dict | None = None
    mlp_params: dict | None = None
    n_bins: int = information.N_BINS
    n_train: int = 10_000
    n_test: int = 5_000
    sap_c: float = classifiers.SAP_C
    vote_batch_size: int = interventional.BATCH
    vote_n_train: int = interventional.N_TRAIN_POINTS
    vote_n_eval: int = interventional.N_EVAL_POINTS
    vote_n_variance: int = interventional.N_VARIANCE
    profile: str = "disentanglement_lib"
    binning: str = "histogram"  # MIG-sup / JEMMIG / DCIMIG discretiser: histogram or minmax
    irs_diff_quantile: float = 0.99
    irs_bin_factors: bool = True
    dci_probe: str = "gbt"  # gbt (exact, the published convention), lasso or random_forest
    dci_formula: str = "disentanglement_lib"  # D and C from regression-probe importances
    infomec_n_neighbors: int = 10
    dci_es_depths: tuple[int, ...] = (1, 2, 3, 4, 8, 10, 12, 14, 16, 18, 20, 32)
    dci_es_trees: int = 100
    dci_es_convention: str = "paper"  # E as the paper defines it, or "repository" (compute_explitcitness)

    @classmethod
    def from_kwargs(cls, **options) -> SuiteOptions:
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise DisentkitError(f"unknown metric option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        profile = options.get("profile", cls.profile)
        if profile not in PROFILES:
            raise unknown_name("profile", profile, PROFILES)
        if options.get("dci_probe", cls.dci_probe) not in probes.PROBES:
            raise unknown_name("DCI probe", options["dci_probe"], probes.PROBES)
        return cls(**{**PROFILES[profile], **options})

    def omes_settings(self, mode: str) -> omes.OMESSettings:
        return omes.OMESSettings(
            alpha=self.alpha,
            pooling=self.pooling,
            association=self.association,
            max_pairs=self.omes_max_pairs,
            n_pairs=self.omes_n_pairs,
            min_pairs=self.omes_min_pairs,
            mode=mode,
        ).validate()

    def intervention_settings(self) -> interventional.InterventionSettings:
        return interventional.InterventionSettings(
            batch_size=self.vote_batch_size,
            n_train=self.vote_n_train,
            n_eval=self.vote_n_eval,
            n_variance=self.vote_n_variance,
        )


def resolve_metrics(metrics: Iterable[str] | str, allow_interventional: bool) -> list[str]:
    """Validate metric names (a list or a comma-separated string); unknown names list the valid ones."""
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    names = [m for m in names if m]
    if not names:
        raise DisentkitError(f"no metric selected; valid metrics: {', '.join(METRICS)}")
    for name in names:
        if name not in METRICS:
            raise unknown_name("metric", name, METRICS)
        if METRICS[name][0] and not allow_interventional:
            raise DisentkitError(
                f"metric {name!r} renders observations and needs a dataset and an encoder; use "
                f"evaluate_model (CLI: --model RUN --data NAME) or drop it"
            )
    return list(dict.fromkeys(names))


class TimedResults(dict):
    """Results that record, per metric, the seconds since the previous result was stored.

    Work shared by several metrics (OMES for the pruned fits, the GBT fits of DCI and downstream
    accuracy) is charged to the first metric stored after it.
    """

    def __init__(self):
        super().__init__()
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __setitem__(self, name, result):
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self._last = now
        super().__setitem__(name, result)


def _run_array_metrics(z, y, names, wanted, opts: SuiteOptions, rng, omes_result=None) -> TimedResults:
    results = TimedResults()
    needs_pruned = any(m in wanted for m in ("downstream_gbt", "downstream_mlp"))
    if omes_result is None and ("omes" in wanted or needs_pruned):
        omes_result = omes.omes(z, y, names, rng=rng, settings=opts.omes_settings("matched"))
    if "omes" in wanted:
        results["omes"] = omes_result
    pruned = omes_result.pruned_dims if needs_pruned else None
    common = {"n_jobs": opts.n_jobs, "n_train": opts.n_train, "n_test": opts.n_test}
    gbt_dci = "dci" in wanted and opts.dci_probe == "gbt"
    if gbt_dci or "downstream_gbt" in wanted:
        kind = "hgb" if opts.fast else "gbt"
        dci, down = classifiers.classifier_scores(
            z, y, names, rng=rng, classifier=kind, params=opts.gbt_params,
            pruned_dims=pruned if "downstream_gbt" in wanted else None, **common,
        )  # fmt: skip
        if gbt_dci:
            results["dci"] = dci
        if "downstream_gbt" in wanted:
            results["downstream_gbt"] = down
    if "dci" in wanted and not gbt_dci:
        results["dci"] = probes.dci_regression(
            z, y, names, rng=rng, probe=opts.dci_probe, formula=opts.dci_formula, n_jobs=opts.n_jobs
        )
    if "downstream_mlp" in wanted:
        results["downstream_mlp"] = classifiers.classifier_scores(
            z, y, names, rng=rng, classifier="mlp", params=opts.mlp_params, pruned_dims=pruned, **common
        )[1]
    review_profile = opts.profile == "zaidi2020"
    if "mig" in wanted:
        mig = review.review_mig if review_profile else information.mig
        results["mig"] = mig(z, y, names, n_bins=opts.n_bins)
    if "sap" in wanted:
        if review_profile:
            results["sap"] = review_probes.review_sap(z, y, names, n_jobs=opts.n_jobs)
        else:
            results["sap"] = classifiers.sap(z, y, names, rng=rng, c=opts.sap_c, **common)
    if "modularity" in wanted:
        if review_profile:
            explicit = review_probes.review_explicitness(z, y, names)
            results["modularity"] = dataclasses.replace(
                review.review_modularity(z, y, names, n_bins=opts.n_bins),
                explicitness=explicit.explicitness,
                explicitness_settings=explicit.settings,
            )
        else:
            results["modularity"] = information.modularity_explicitness(
                z, y, names, rng=rng, n_bins=opts.n_bins, **common
            )
    if "unsupervised" in wanted:
        results["unsupervised"] = information.unsupervised_scores(z, n_bins=opts.n_bins)
    _run_new_metrics(results, z, y, names, wanted, opts, rng)
    return results


def _run_new_metrics(results: TimedResults, z, y, names, wanted, opts: SuiteOptions, rng) -> None:
    """The review's information metrics, IRS, Z-max variance, InfoMEC and DCI-ES, into ``results``."""
    binned = {"binning": opts.binning, "n_bins": opts.n_bins}
    for name, fn in (("mig_sup", review.mig_sup), ("jemmig", review.jemmig), ("dcimig", review.dcimig)):
        if name in wanted:
            results[name] = fn(z, y, names, **binned)
    if "irs" in wanted:
        results["irs"] = review.irs(
            z, y, names, diff_quantile=opts.irs_diff_quantile, bin_factors=opts.irs_bin_factors,
            n_bins=opts.n_bins,
        )  # fmt: skip
    if "z_max_variance" in wanted:
        results["z_max_variance"] = review.z_max_variance(z, y, names, rng=rng)
    if "z_min_variance" in wanted:
        results["z_min_variance"] = review.z_min_variance(z, y, names, rng=rng)
    if "z_diff" in wanted:
        results["z_diff"] = review_probes.z_diff(z, y, names, rng=rng)
    if "infomec" in wanted:
        results["infomec"] = infomec_metric.infomec(
            z, y, names, rng=rng, n_neighbors=opts.infomec_n_neighbors, n_jobs=opts.n_jobs
        )
    if "dci_es" in wanted:
        results["dci_es"] = probes.dci_es(
            z, y, names, rng=rng, depths=opts.dci_es_depths, n_estimators=opts.dci_es_trees,
            convention=opts.dci_es_convention,
            n_train=opts.n_train, n_test=opts.n_test, n_jobs=opts.n_jobs,
        )  # fmt: skip


def _package(results: TimedResults, wanted, opts, names, dropped, z, caught) -> Evaluation:
    from disentkit.config import environment_info

    messages = list(dict.fromkeys(str(w.message) for w in caught))
    for message in messages:  # re-emit once each (every metric re-validates the same input)
        warnings.warn(message, MetricWarning, stacklevel=3)
    ordered = [name for name in wanted if name in results]
    return Evaluation(
        metrics={name: results[name].to_dict() for name in ordered},
        factor_names=list(names),
        dropped_factors=list(dropped),
        n_samples=int(z.shape[0]),
        n_dims=int(z.shape[1]),
        settings=json_safe(dataclasses.asdict(opts)),
        profile=opts.profile,
        comparable_with_published=not opts.fast,
        seconds={name: results.seconds[name] for name in ordered},
        warnings=messages,
        environment=environment_info(),
    )


def _setup(rng, metrics, options: dict, allow_interventional: bool) -> tuple[list[str], SuiteOptions]:
    """Checks shared by the suite's entry points: an explicit generator, known metric names, options."""
    if not isinstance(rng, np.random.Generator):
        raise DisentkitError("pass rng=np.random.default_rng(seed): metrics draw randomness only from it")
    return resolve_metrics(metrics, allow_interventional=allow_interventional), SuiteOptions.from_kwargs(
        **options
    )


def evaluate_representation(
    z,
    y,
    factor_names=None,
    metrics: Iterable[str] | str = DEFAULT_ARRAY_METRICS,
    *,
    rng: np.random.Generator,
    **options,
) -> Evaluation:
    """Run array metrics on a labelled sample.

    Parameters
    ----------
    z : array-like (N, D)
        Representation (posterior means).
    y : array-like (N, K)
        Integer factor classes.
    factor_names : sequence of str, optional
    metrics : iterable of str or comma-separated str
        Names from :data:`METRICS` (not the interventional ones).
    rng : numpy.random.Generator
        The only source of randomness.
    **options
        Fields of :class:`SuiteOptions` (``alpha``, ``fast``, ``n_jobs``, ``gbt_params`` …).

    Returns
    -------
    Evaluation
        ``metrics`` (each result's ``to_dict()``), ``settings``, ``warnings``, ``environment`` and
        more; ``to_dict()`` is JSON-safe (NaN → ``None``).
    """
    wanted, opts = _setup(rng, metrics, options, allow_interventional=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetricWarning)
        z, y, names, dropped = prepare(z, y, factor_names)
        results = _run_array_metrics(z, y, names, wanted, opts, rng)
    return _package(results, wanted, opts, names, dropped, z, caught)


def evaluate_model(
    encode: Callable[[np.ndarray], np.ndarray],
    dataset,
    n: int = 15_000,
    *,
    rng: np.random.Generator,
    metrics: Iterable[str] | str = DEFAULT_MODEL_METRICS,
    batch_size: int = 1000,
    **options,
) -> Evaluation:
    """Evaluate an encoder on a ground-truth dataset.

    Samples ``n`` factor vectors, renders and encodes them (``encode(images uint8 (n,H,W,C)) ->
    (n, D)``) for the array metrics; OMES uses the intervention mode; ``beta_vae`` and
    ``factor_vae`` render their own batches. Same return value as :func:`evaluate_representation`
    plus ``dataset``.
    """
    wanted, opts = _setup(rng, metrics, options, allow_interventional=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetricWarning)
        factors = dataset.sample_factors(n, rng)
        z = omes.encode_factors(dataset, encode, factors, rng, batch_size)
        z, y, names, dropped = prepare(z, factors, dataset.factor_names)
        omes_result = None
        if "omes" in wanted or any(m.startswith("downstream") for m in wanted):
            omes_result = omes.omes_intervention(
                dataset, encode, rng=rng, settings=opts.omes_settings("intervention"), batch_size=batch_size
            )
        results = _run_array_metrics(
            z, y, names, [m for m in wanted if m in ARRAY_METRICS], opts, rng, omes_result
        )
        st = opts.intervention_settings()
        if "beta_vae" in wanted:
            results["beta_vae"] = interventional.beta_vae_score(dataset, encode, rng=rng, settings=st)
        if "factor_vae" in wanted:
            results["factor_vae"] = interventional.factor_vae_score(dataset, encode, rng=rng, settings=st)
    out = _package(results, wanted, opts, names, dropped, z, caught)
    out.dataset = json_safe(dataset.describe())
    return out
