"""A real local Ray cluster (2 CPUs) runs a tiny plan of toy jobs, in place and shipping results."""

from __future__ import annotations

import json
import os

import pytest

from disentkit.sweep.executors import RayExecutor
from disentkit.sweep.plan import Resources, expand, plan_from_dict
from disentkit.sweep.scheduler import run_sweep
from disentkit.sweep.store import job_dir

from .conftest import TINY_TRAIN

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

PLAN = {
    "jobs": [
        {"name": "a", "kind": "toy", "config": {"value": 1}},
        {"name": "b", "kind": "toy", "config": {"value": 2}},
        {"name": "c", "kind": "toy", "config": {"value": 3}, "after": ["a", "b"]},
        {"name": "bad", "kind": "toy", "config": {"fail": True}},
    ],
    "resources": {"toy": {"num_cpus": 1}},
}


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_worker_niceness", "0")  # as the sweep does for clusters it starts
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("ship", [False, True], ids=["shared-storage", "ship-to-driver"])
def test_tiny_plan_on_a_local_ray_cluster(cluster, tmp_path, ship):
    jobs = expand(plan_from_dict(PLAN))
    report = run_sweep(jobs, tmp_path, executor="ray", progress=False, ship=ship)
    assert ray.is_initialized()  # a session the caller started is left running
    states = [report.states[job.key] for job in jobs]
    assert states == ["done", "done", "done", "failed"]
    folder = job_dir(tmp_path, jobs[2].dirname)
    assert json.loads((folder / "results.json").read_text())["total"] == 6.0
    assert {"config.json", "environment.json", "log.txt", "done"} <= {p.name for p in folder.iterdir()}
    assert "toy job asked to fail" in (job_dir(tmp_path, jobs[3].dirname) / "log.txt").read_text()
    again = run_sweep(jobs, tmp_path, executor="ray", progress=False, retry_failed=False)
    assert again.executed == 0


@pytest.mark.parametrize("ship", [False, True], ids=["shared-storage", "ship-to-driver"])
def test_a_model_pack_is_one_ray_task_with_the_kinds_resources(cluster, tmp_path, monkeypatch, ship):
    submitted = []
    submit = RayExecutor.submit

    def recorded(self, task, resources):
        submitted.append((len(task.get("pack", [task])), resources))
        return submit(self, task, resources)

    monkeypatch.setattr(RayExecutor, "submit", recorded)
    plan = {
        "jobs": [{"name": f"t{s}", "kind": "train", "config": TINY_TRAIN | {"seed": s}} for s in range(2)],
        "resources": {"train": {"num_cpus": 2}},
    }
    jobs = expand(plan_from_dict(plan))
    report = run_sweep(jobs, tmp_path, executor="ray", progress=False, ship=ship, pack=2)
    assert report.ok and submitted == [(2, Resources(num_cpus=2))]
    for job in jobs:
        folder = job_dir(tmp_path, job.dirname)
        assert (folder / "done").exists() and (folder / "run" / "checkpoints" / "latest.safetensors").exists()
        assert json.loads((folder / "results.json").read_text())["seed"] == job.config["seed"]
