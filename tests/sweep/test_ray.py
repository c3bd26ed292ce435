"""A real local Ray cluster (2 CPUs) runs a tiny plan of toy jobs, in place and shipping results."""

from __future__ import annotations

import json
import os

import pytest

from disentkit.sweep.plan import expand, plan_from_dict
from disentkit.sweep.scheduler import run_sweep
from disentkit.sweep.store import job_dir

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
