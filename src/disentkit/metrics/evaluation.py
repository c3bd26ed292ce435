"""The one result of an evaluation: every score of one representation on one sample.

Every evaluation in disentkit produces an :class:`Evaluation` (the metric suite, a transfer's before
and after, the quickstart's evaluation of a run on its own data) and every consumer reads one
(transfer tables and findings, sweep tables, ``sweep correlate``, the report). On disk it is a JSON
object tagged ``"schema": "disentkit.evaluation/1"``::

    schema          "disentkit.evaluation/1"
    summary         headline numbers {"omes": …, "dci.disentanglement": …} (derived, for readers)
    metrics         metric name → that metric's result (``to_dict()``): omes, dci, mig, sap,
                    downstream_gbt / downstream_mlp / downstream_hgb, unsupervised, …
    posterior       for a model evaluated on images: reconstruction (nats, summed over pixels), kl,
                    kl_per_dim, active_dims; None for a bare representation
    factor_names, dropped_factors, n_samples, n_dims
    settings, profile, comparable_with_published, seconds, warnings, environment, dataset
    context         what the caller adds: the run, its step and config, the sample sizes

:func:`read_evaluation` is the one reader: it loads this layout and the two layouts written before it
(the suite's, and a transfer's before/after with the scores at the top level), and refuses anything
else with one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from disentkit.errors import DisentkitError
from disentkit.metrics.headlines import DOWNSTREAM_COLUMNS, HEADLINES

SCHEMA = "disentkit.evaluation/1"
#: downstream classifiers, in the order a table picks the first present
CLASSIFIER_KINDS = ("gbt", "hgb", "mlp")
#: the posterior statistics of a model evaluated on images
POSTERIOR_KEYS = ("reconstruction", "kl", "kl_per_dim", "active_dims")
#: scores a transfer's evaluation wrote at the top level before this schema
_LEGACY_METRICS = ("omes", "mig", "dci", "unsupervised")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass
class Evaluation:
    """Every score of one representation on one sample (see the module docstring for the layout)."""

    metrics: dict[str, dict] = field(default_factory=dict)
    posterior: dict | None = None
    factor_names: list[str] | None = None
    dropped_factors: list[str] = field(default_factory=list)
    n_samples: int | None = None
    n_dims: int | None = None
    settings: dict = field(default_factory=dict)
    profile: str | None = None
    comparable_with_published: bool = True
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    dataset: dict | None = None
    context: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    def metric(self, name: str) -> dict | None:
        """One metric's result (``None`` when it was not computed)."""
        return self.metrics.get(name)

    def value(self, name: str, key: str, index: int | None = None) -> float | None:
        """``metrics[name][key]`` (its ``index``-th entry for per-factor lists); None when absent."""
        value = (self.metrics.get(name) or {}).get(key)
        if index is not None and value is not None:
            value = value[index] if index < len(value) else None
        return value

    @property
    def active_dims(self) -> int | None:
        """Latents whose KL to the prior exceeds ``ACTIVE_KL`` (models evaluated on images only)."""
        return None if self.posterior is None else self.posterior.get("active_dims")

    def downstream(self, kind: str | None = None) -> tuple[str | None, dict | None]:
        """``(classifier, result)`` of the downstream accuracies fit with ``kind`` (gbt, hgb, mlp),
        or of the first present in :data:`CLASSIFIER_KINDS` order when ``kind`` is None."""
        found = {}
        for name, result in self.metrics.items():
            if name.startswith("downstream_") and result:
                found.setdefault(str(result.get("classifier") or name.removeprefix("downstream_")), result)
        kinds = [kind] if kind is not None else [*CLASSIFIER_KINDS, *sorted(found)]
        for k in kinds:
            if k in found:
                return k, found[k]
        return None, None

    def summary(self) -> dict[str, float | None]:
        """Headline numbers ``{"omes": …, "dci.disentanglement": …}`` of every metric computed."""
        out = {}
        for name, result in self.metrics.items():
            for key in HEADLINES.get(name, {}):
                if key in (result or {}):  # a metric's variants report some of its headlines
                    out[name if key == name else f"{name}.{key}"] = result[key]
        return out

    def columns(self) -> dict[str, float]:
        """One flat ``{column: number}`` for tables: ``omes``, ``os``, ``mes`` (+ ``omes.<factor>``),
        ``dci_disentanglement``, ``mig``, ``betavae`` …, ``acc.<classifier>.<full|pruned>.<factor>``
        and ``.mean``, and the posterior's numbers (reconstruction, kl, active_dims)."""
        out: dict[str, float] = {k: float(v) for k, v in (self.posterior or {}).items() if _is_number(v)}
        for name, mapping in HEADLINES.items():
            result = self.metrics.get(name)
            if result and not name.startswith("downstream_"):
                out |= {
                    col: float(result[key]) for key, col in mapping.items() if _is_number(result.get(key))
                }
        omes = self.metrics.get("omes")
        if omes:
            _per_factor(out, "omes", omes.get("factor_names"), omes.get("omes_per_factor"))
        for name, result in self.metrics.items():
            if name.startswith("downstream_") and result:
                kind = str(result.get("classifier") or name.removeprefix("downstream_"))
                names = result.get("factor_names")
                _per_factor(out, f"acc.{kind}.full", names, result.get("test_accuracy_full"))
                _per_factor(out, f"acc.{kind}.pruned", names, result.get("test_accuracy_pruned"))
                for key, column in DOWNSTREAM_COLUMNS.items():
                    if _is_number(result.get(key)):
                        out[column.format(kind=kind)] = float(result[key])
        return out

    # ------------------------------------------------------------------ plain form
    def to_dict(self) -> dict:
        from disentkit.metrics._common import json_safe

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return json_safe({"schema": SCHEMA, "summary": self.summary(), **data})

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        """Read this schema, or one of the two layouts written before it; anything else is refused."""
        return read_evaluation(data)


def _per_factor(out: dict, prefix: str, names, values) -> None:
    for name, value in zip(names or [], values or [], strict=False):
        if _is_number(value):
            out[f"{prefix}.{name}"] = float(value)


def read_evaluation(data: Any, where: str = "the evaluation") -> Evaluation:
    """An :class:`Evaluation` from its plain form; ``where`` names the file in the error."""
    if isinstance(data, Evaluation):
        return data
    if not isinstance(data, dict):
        raise DisentkitError(f"{where} is not an evaluation (a JSON object), got {type(data).__name__}")
    schema = data.get("schema")
    known = {f.name for f in fields(Evaluation)}
    if schema == SCHEMA:
        return Evaluation(**{k: v for k, v in data.items() if k in known})
    if schema is not None:
        raise DisentkitError(
            f"{where} has schema {schema!r}, which this disentkit ({SCHEMA}) cannot read: upgrade disentkit"
        )
    if isinstance(data.get("metrics"), dict):  # the suite's layout before the schema tag
        return Evaluation(**{k: v for k, v in data.items() if k in known})
    if set(data) & {*_LEGACY_METRICS, *POSTERIOR_KEYS, "downstream"}:  # a transfer's, before the tag
        metrics = {name: data[name] for name in _LEGACY_METRICS if data.get(name) is not None}
        metrics |= {f"downstream_{kind}": r for kind, r in (data.get("downstream") or {}).items()}
        names = (data.get("omes") or data.get("mig") or {}).get("factor_names")
        rest = set(data) - {*_LEGACY_METRICS, *POSTERIOR_KEYS, "downstream", "warnings", "dataset"}
        return Evaluation(
            metrics=metrics,
            posterior={k: data[k] for k in POSTERIOR_KEYS if k in data} or None,
            factor_names=names,
            warnings=list(data.get("warnings", [])),
            dataset={"name": data["dataset"]}
            if isinstance(data.get("dataset"), str)
            else data.get("dataset"),
            context={k: data[k] for k in sorted(rest)},
        )
    raise DisentkitError(
        f"{where} is not a disentkit evaluation (no schema, no metrics): re-run the evaluation that wrote it"
    )
