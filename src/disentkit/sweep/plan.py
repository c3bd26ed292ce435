"""Sweep plans: a typed description of the protocol, expanded into a DAG of hashed jobs.

A plan file (YAML) either names the protocol's grid (sources, targets, methods, β values,
seeds, steps, metrics) or lists explicit jobs (``jobs:``, any registered kind). Expansion yields
:class:`Job` objects whose key is the SHA-256 prefix of their canonical JSON config, so the same
job from two plans (or two runs of one plan) lands in the same folder and never runs twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from disentkit.config import from_dict
from disentkit.errors import DisentkitError

KEY_LENGTH = 16

DEFAULT_METHODS = ("ada-gvae", "ada-ml-vae", "beta-vae", "beta-tcvae", "gvae-labels", "ml-vae-labels")
# disentkit.metrics.METRICS' names (kept here so that toy plans need not import the metrics).
KNOWN_METRICS = (
    "omes",
    "dci",
    "downstream_gbt",
    "downstream_mlp",
    "mig",
    "sap",
    "modularity",
    "unsupervised",
    "mig_sup",
    "jemmig",
    "dcimig",
    "irs",
    "z_max_variance",
    "z_min_variance",
    "z_diff",
    "infomec",
    "dci_es",
    "beta_vae",
    "factor_vae",
)
DEFAULT_METRICS = ("omes", "dci", "downstream_gbt", "downstream_mlp", "mig", "beta_vae", "factor_vae")


@dataclass
class Resources:
    """What one job of a kind asks the executor for (Ray honours both; local uses one process)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass
class JobSpec:
    """An explicit job of a plan: ``after`` names the jobs (by ``name``) it waits for."""

    name: str
    kind: str
    config: dict = field(default_factory=dict)
    after: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """A sweep: the protocol's grid (train → transfer/evaluate) and/or explicit jobs.

    Parameters
    ----------
    name : str
        Label; the default results folder is ``runs/sweeps/<name>``.
    results : str or None
        Results folder (overridden by ``--results``).
    sources : list of str
        Datasets to train on.
    targets : dict of str to list of str
        Source → target datasets to transfer to (fine-tune and evaluate before/after).
    methods, betas, seeds : list
        The grid: one model per (source, method, β, seed).
    steps, transfer_steps : int
        Training steps of the source models and fine-tuning steps on each target.
    metrics : list of str
        Metrics computed by the evaluate and transfer jobs.
    train, transfer, evaluation : dict
        Extra options passed through to the training config, the transfer and the evaluation.
    train_per_source : dict of str to dict
        Training options for one source only (e.g. no β warm-up on Shapes3D).
    resources : dict of str to Resources
        Per job kind: ``{num_cpus, num_gpus}``.
    jobs : list of JobSpec
        Explicit jobs (any registered kind), for custom sweeps and tests.
    pack : int
        Model packs: up to this many ready jobs that can train as one model batch (train jobs equal
        apart from seed, β, β warm-up and clipping) run as one task of the kind's resources
        (``disentkit.sweep.kinds.PACKABLE``); 1 runs every job as its own task. Jobs are the same
        either way (``pack`` is not part of their keys).
    """

    name: str = "sweep"
    results: str | None = None
    sources: list[str] = field(default_factory=list)
    targets: dict = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: ["ada-gvae"])
    betas: list[float] = field(default_factory=lambda: [1.0])
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int = 1000
    transfer_steps: int = 1000
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    train: dict = field(default_factory=dict)
    train_per_source: dict = field(default_factory=dict)
    transfer: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    jobs: list[JobSpec] = field(default_factory=list)
    pack: int = 1


@dataclass(frozen=True)
class Job:
    """One unit of work: ``kind`` + ``config`` + the keys of the jobs it depends on (by role)."""

    kind: str
    config: dict
    deps: dict
    label: str
    resources: Resources

    @property
    def key(self) -> str:
        return job_key(self.kind, self.config, self.deps)

    @property
    def dirname(self) -> str:
        return f"{self.kind}-{self.key}"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) — the input of the job hash."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DisentkitError(f"job config is not plain JSON data: {exc}") from None


def job_key(kind: str, config: dict, deps: dict) -> str:
    """SHA-256 prefix of the job's full definition (dependencies enter through their own keys)."""
    text = canonical_json({"kind": kind, "config": config, "deps": deps})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


# ----------------------------------------------------------------------------------------- loading

_LIST_FIELDS = ("sources", "methods", "betas", "seeds", "metrics", "jobs")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``["steps=200", "train.batch=32", "seeds=[0, 1]"]`` applied to plan data (values are YAML)."""
    data = dict(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise DisentkitError(f"override {item!r}: expected KEY=VALUE, e.g. steps=200 or train.batch=32")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DisentkitError(f"override {item!r}: bad value: {exc}") from None
        *parents, leaf = key.strip().split(".")
        node = data
        for part in parents:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[leaf] = value
    return data


def load_plan(path: str | Path, overrides: list[str] | None = None) -> Plan:
    """Read and validate a plan file (plus ``KEY=VALUE`` overrides); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DisentkitError(f"plan file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DisentkitError(f"cannot read plan {path}: {exc}") from None
    try:
        return plan_from_dict(apply_overrides(data if data is not None else {}, overrides or []))
    except DisentkitError as exc:
        raise DisentkitError(f"plan {path}: {exc}") from None


def plan_from_dict(data: dict) -> Plan:
    """Build and validate a :class:`Plan` from plain data (unknown keys/values name the valid ones)."""
    if not isinstance(data, dict):
        raise DisentkitError(f"a plan is a mapping of keys, got {type(data).__name__}")
    data = dict(data)
    resources = data.pop("resources", {}) or {}
    check_pack(data.get("pack", 1))  # before int() would turn 2.5 into 2 or "two" into a bare ValueError
    for name in _LIST_FIELDS:
        if name in data and not isinstance(data[name], list):
            raise DisentkitError(f"{name}: expected a list, got {data[name]!r}")
    try:
        plan = from_dict(Plan, data)
    except (TypeError, ValueError) as exc:
        raise DisentkitError(f"bad value in plan: {exc}") from None
    plan.resources = _parse_resources(resources)
    validate_plan(plan)
    return plan


def check_pack(pack: Any) -> int:
    """``pack`` (plan key, ``--pack``, ``run_sweep``): a whole number ≥ 1, else one line saying so."""
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise DisentkitError(
            f"pack must be a whole number ≥ 1 (jobs per model pack; 1: no packs), got {pack!r}"
        )
    return pack


def _parse_resources(raw: Any) -> dict[str, Resources]:
    from disentkit.sweep.jobs import list_job_kinds

    if not isinstance(raw, dict):
        raise DisentkitError("resources: expected a mapping kind → {num_cpus, num_gpus}")
    kinds = list_job_kinds()
    out = {}
    for kind, spec in raw.items():
        if kind not in kinds:
            raise DisentkitError(f"resources: unknown job kind {kind!r}; valid kinds: {', '.join(kinds)}")
        out[kind] = spec if isinstance(spec, Resources) else from_dict(Resources, spec or {})
    return out


def _check_names(what: str, names, valid) -> None:
    unknown = sorted({str(n) for n in names} - set(valid))
    if unknown:
        raise DisentkitError(f"unknown {what} {', '.join(unknown)}; valid {what}: {', '.join(sorted(valid))}")


def valid_datasets() -> list[str]:
    """The registered datasets' names (the registry's table: no dataset module is imported)."""
    from disentkit.data.registry import list_datasets

    return sorted(list_datasets())


def valid_methods() -> list[str]:
    """Training methods offered by the models package (its METHODS), else the known ones."""
    try:
        from disentkit.models.objectives import METHODS

        return sorted(METHODS)
    except Exception:
        return sorted(DEFAULT_METHODS)


def validate_plan(plan: Plan) -> None:
    """Check names and values; raises DisentkitError naming the bad ones and the valid ones."""
    from disentkit.sweep.jobs import list_job_kinds

    datasets = valid_datasets() if plan.sources or plan.targets else []
    _check_names("sources", plan.sources, datasets)
    if not isinstance(plan.targets, dict):
        raise DisentkitError("targets: expected a mapping source → list of target datasets")
    _check_names("target sources (keys of targets; list them under sources too)", plan.targets, plan.sources)
    for source, targets in plan.targets.items():
        if not isinstance(targets, list):
            raise DisentkitError(f"targets.{source}: expected a list of datasets, got {targets!r}")
        _check_names(f"targets of {source}", targets, datasets)
    _check_names("sources of train_per_source", plan.train_per_source, plan.sources)
    _check_names("methods", plan.methods, valid_methods())
    _check_names("metrics", plan.metrics, KNOWN_METRICS)
    if any(b <= 0 for b in plan.betas):
        raise DisentkitError(f"betas must be > 0, got {plan.betas}")
    if plan.sources and (not plan.betas or not plan.seeds or not plan.methods):
        raise DisentkitError("betas, seeds and methods must each list at least one value")
    for name in ("steps", "transfer_steps"):
        if getattr(plan, name) < 1:
            raise DisentkitError(f"{name} must be >= 1, got {getattr(plan, name)}")
    names = [spec.name for spec in plan.jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DisentkitError(f"jobs: duplicate names {', '.join(dupes)}")
    kinds = list_job_kinds()
    for spec in plan.jobs:
        if spec.kind not in kinds:
            raise DisentkitError(
                f"jobs.{spec.name}: unknown kind {spec.kind!r}; valid kinds: {', '.join(kinds)}"
            )
        _check_names(f"dependencies of job {spec.name}", spec.after, names)
    if not plan.sources and not plan.jobs:
        raise DisentkitError("the plan has no work: give sources (the protocol grid) or jobs")


# --------------------------------------------------------------------------------------- expansion


def expand(plan: Plan) -> list[Job]:
    """All jobs of the plan in dependency order (every job after the jobs it needs)."""
    return _expand_grid(plan) + _expand_explicit(plan)


def _resources(plan: Plan, kind: str) -> Resources:
    return plan.resources.get(kind, Resources())


def _expand_grid(plan: Plan) -> list[Job]:
    jobs: list[Job] = []
    for source in plan.sources:
        for method in plan.methods:
            for beta in plan.betas:
                for seed in plan.seeds:
                    jobs += _model_jobs(plan, source, method, float(beta), int(seed))
    return jobs


def _model_jobs(plan: Plan, source: str, method: str, beta: float, seed: int) -> list[Job]:
    """train on the source → evaluate it there, and transfer it to each target (before/after)."""
    tag = f"{source}/{method}/b{beta:g}/s{seed}"
    train_cfg = {
        **plan.train,
        **plan.train_per_source.get(source, {}),
        "data": source,
        "method": method,
        "beta": beta,
        "seed": seed,
        "steps": plan.steps,
    }
    train = Job("train", train_cfg, {}, f"train {tag}", _resources(plan, "train"))
    model = {"model": train.key}
    meta = {"source": source, "method": method, "beta": beta, "seed": seed}
    eval_cfg = {**plan.evaluation, **meta, "dataset": source, "metrics": sorted(plan.metrics)}
    jobs = [train, Job("evaluate", eval_cfg, model, f"evaluate {tag}", _resources(plan, "evaluate"))]
    for target in plan.targets.get(source, []):
        cfg = {
            **plan.transfer,
            **meta,
            "target": target,
            "steps": plan.transfer_steps,
            "metrics": sorted(plan.metrics),
        }
        jobs.append(Job("transfer", cfg, model, f"transfer {tag} → {target}", _resources(plan, "transfer")))
    return jobs


def _expand_explicit(plan: Plan) -> list[Job]:
    by_name: dict[str, Job] = {}
    specs = {spec.name: spec for spec in plan.jobs}
    visiting: set[str] = set()

    def build(name: str) -> Job:
        if name in by_name:
            return by_name[name]
        if name in visiting:
            raise DisentkitError(f"jobs: dependency cycle through {name!r}")
        visiting.add(name)
        spec = specs[name]
        deps = {dep: build(dep).key for dep in spec.after}
        job = Job(spec.kind, dict(spec.config), deps, spec.name, _resources(plan, spec.kind))
        by_name[name] = job
        return job

    for spec in plan.jobs:
        build(spec.name)
    order = []
    for name in by_name:  # insertion order is already dependency-first
        order.append(by_name[name])
    return order


def plan_summary(jobs: list[Job]) -> dict[str, int]:
    """Count of jobs per kind."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.kind] = counts.get(job.kind, 0) + 1
    return counts


def plan_to_dict(plan: Plan) -> dict:
    return dataclasses.asdict(plan)
