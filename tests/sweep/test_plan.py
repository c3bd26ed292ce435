"""Plans: validation errors name the bad keys/values, expansion into a DAG of hashed jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from disentkit.errors import DisentkitError
from disentkit.sweep.plan import expand, job_key, load_plan, plan_from_dict, plan_summary

REPO = Path(__file__).resolve().parents[2]
GRID = {
    "sources": ["dsprites"],
    "targets": {"dsprites": ["noisy-dsprites", "color-dsprites"]},
    "betas": [1, 2],
    "seeds": [0, 1],
    "steps": 10,
    "transfer_steps": 5,
}


def test_unknown_key_is_named_with_valid_keys():
    with pytest.raises(DisentkitError, match=r"unknown key\(s\) colour, sedes; valid keys: .*seeds"):
        plan_from_dict({**GRID, "sedes": [1], "colour": 1})


@pytest.mark.parametrize(
    ("patch", "pattern"),
    [
        ({"sources": ["mnist"]}, r"unknown sources mnist; valid sources: .*dsprites"),
        ({"targets": {"dsprites": ["cifar"]}}, r"unknown targets of dsprites cifar; valid .*noisy-dsprites"),
        ({"targets": {"shapes3d": ["dsprites"]}}, r"unknown target sources .* shapes3d; valid .*: dsprites"),
        ({"methods": ["vae-gan"]}, r"unknown methods vae-gan; valid methods: .*ada-gvae"),
        ({"metrics": ["fid"]}, r"unknown metrics fid; valid metrics: .*omes"),
        ({"betas": [0]}, r"betas must be > 0"),
        ({"sources": "dsprites"}, r"sources: expected a list"),
        ({"resources": {"trian": {"num_cpus": 1}}}, r"unknown job kind 'trian'; valid kinds: .*train"),
        ({"resources": {"train": {"gpus": 1}}}, r"unknown key\(s\) gpus; valid keys: num_cpus, num_gpus"),
    ],
)
def test_bad_values_name_the_valid_ones(patch, pattern):
    with pytest.raises(DisentkitError, match=pattern):
        plan_from_dict({**GRID, **patch})


def test_bad_explicit_jobs():
    with pytest.raises(DisentkitError, match=r"unknown kind 'nope'; valid kinds: .*toy"):
        plan_from_dict({"jobs": [{"name": "a", "kind": "nope"}]})
    with pytest.raises(DisentkitError, match=r"unknown dependencies of job a zz; valid .*: a"):
        plan_from_dict({"jobs": [{"name": "a", "kind": "toy", "after": ["zz"]}]})
    cyc = [{"name": "a", "kind": "toy", "after": ["b"]}, {"name": "b", "kind": "toy", "after": ["a"]}]
    with pytest.raises(DisentkitError, match="cycle"):
        expand(plan_from_dict({"jobs": cyc}))
    with pytest.raises(DisentkitError, match="no work"):
        plan_from_dict({})


def test_load_plan_names_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("sources: [dsprites]\nbetaz: [1]\n")
    with pytest.raises(DisentkitError, match=r"plan .*p.yaml: .*unknown key\(s\) betaz"):
        load_plan(path)
    with pytest.raises(DisentkitError, match="plan file not found"):
        load_plan(tmp_path / "missing.yaml")


def test_grid_expands_into_train_evaluate_transfer_dag():
    jobs = expand(plan_from_dict(GRID))
    assert plan_summary(jobs) == {"train": 4, "evaluate": 4, "transfer": 8}
    keys = [job.key for job in jobs]
    assert len(set(keys)) == len(keys)
    position = {job.key: i for i, job in enumerate(jobs)}
    trains = {job.key: job for job in jobs if job.kind == "train"}
    for job in jobs:
        for dep in job.deps.values():
            assert position[dep] < position[job.key]  # dependencies first
        if job.kind != "train":
            model = trains[job.deps["model"]]
            assert (model.config["beta"], model.config["seed"]) == (job.config["beta"], job.config["seed"])
    targets = sorted(job.config["target"] for job in jobs if job.kind == "transfer")
    assert targets == ["color-dsprites"] * 4 + ["noisy-dsprites"] * 4


def test_keys_are_stable_and_sensitive_to_the_config():
    first = [job.key for job in expand(plan_from_dict(GRID))]
    again = [job.key for job in expand(plan_from_dict(dict(GRID)))]
    assert first == again
    changed = [job.key for job in expand(plan_from_dict({**GRID, "steps": 11}))]
    assert not set(first) & set(changed)  # a train change re-keys its dependents too
    assert job_key("toy", {"a": 1, "b": 2}, {}) == job_key("toy", {"b": 2, "a": 1}, {})
    assert job_key("toy", {"a": 1}, {}) != job_key("toy", {"a": 1}, {"x": "k"})


@pytest.mark.parametrize(("name", "counts"), [("cpu-small", None), ("paper", None)])
def test_presets_load_and_expand(name, counts):
    plan = load_plan(REPO / "plans" / f"{name}.yaml")
    summary = plan_summary(expand(plan))
    n_models = len(plan.sources) * len(plan.methods) * len(plan.betas) * len(plan.seeds)
    assert summary["train"] == summary["evaluate"] == n_models
    assert summary["transfer"] == sum(
        len(plan.targets.get(s, [])) * len(plan.methods) * len(plan.betas) * len(plan.seeds)
        for s in plan.sources
    )
    if name == "paper":
        assert n_models == 3 * 2 * 10 and plan.steps == 400_000 and plan.transfer_steps == 50_000


def test_plan_metric_names_are_the_metrics_suite_names():
    from disentkit.metrics import METRICS
    from disentkit.sweep.plan import KNOWN_METRICS

    assert set(KNOWN_METRICS) == set(METRICS)


def test_overrides_from_the_command_line(tmp_path):
    from disentkit.sweep.plan import apply_overrides

    data = apply_overrides(GRID, ["steps=200", "seeds=[3]", "train.batch=32", "train.preset=cpu-quick"])
    assert (
        data["steps"] == 200
        and data["seeds"] == [3]
        and data["train"] == {"batch": 32, "preset": "cpu-quick"}
    )
    assert GRID["steps"] == 10  # the input is not modified
    with pytest.raises(DisentkitError, match="expected KEY=VALUE"):
        apply_overrides(GRID, ["steps"])
    with pytest.raises(DisentkitError, match=r"unknown key\(s\) stepz"):
        plan_from_dict(apply_overrides(GRID, ["stepz=1"]))
