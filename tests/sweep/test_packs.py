"""Model packs: compatible train jobs run as one task and leave the folders of solo jobs; a diverged
model fails its own job only; a pack's worker death and a killed sweep re-run its jobs correctly."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from concurrent.futures import Future

import pytest
import torch
import yaml

import disentkit.train.loop as loop
from disentkit.errors import DisentkitError
from disentkit.sweep.executors import LocalExecutor
from disentkit.sweep.kinds import train_pack_key, transfer_pack_key
from disentkit.sweep.plan import Resources, expand, load_plan, plan_from_dict
from disentkit.sweep.runner import execute_job
from disentkit.sweep.scheduler import run_sweep
from disentkit.sweep.store import hostname, job_dir, write_marker
from disentkit.train import TrainConfig, train
from disentkit.train.checkpoint import load_checkpoint

from .conftest import TINY_TRAIN as TRAIN


class WorkerDied(Exception):
    """What the fake executor's dead worker raises."""


def finished_outcome(task: dict) -> dict:
    """A done outcome, without running anything (for tests of what is submitted)."""
    if "pack" in task:
        return {"pack": [finished_outcome(job) for job in task["pack"]]}
    return {"key": task["key"], "status": "done", "error": None, "duration": 0.0}


class FakeExecutor:
    """Runs each task in this process as it is submitted and records it: its jobs' keys and resources.

    ``pack_deaths``: how many pack tasks die (their worker "killed") before any runs.
    """

    name, ship = "fake", False

    def __init__(self, run=execute_job, restart_on_death=False, pack_deaths=0):
        self.run, self.restart_on_death, self.pack_deaths = run, restart_on_death, pack_deaths
        self.submitted: list[tuple[list[str], Resources]] = []

    def submit(self, task: dict, resources: Resources) -> Future:
        jobs = task.get("pack", [task])
        self.submitted.append(([job["key"] for job in jobs], resources))
        future = Future()
        if len(jobs) > 1 and self.pack_deaths:
            self.pack_deaths -= 1
            future.set_exception(WorkerDied("killed"))
        else:  # print to fd 1 and 2, as in a worker, where the runner sends them to the jobs' logs
            with contextlib.redirect_stdout(sys.__stdout__), contextlib.redirect_stderr(sys.__stderr__):
                future.set_result(self.run(task))
        return future

    def tasks(self) -> list[list[str]]:
        return [keys for keys, _ in self.submitted]

    def is_worker_death(self, exc: BaseException) -> bool:
        return isinstance(exc, WorkerDied)

    def restart(self) -> None:
        pass

    shutdown = abort = restart


@pytest.fixture
def fake_executor(monkeypatch):
    """``install(**options)``: the FakeExecutor that every sweep of the test runs on."""

    def install(**options) -> FakeExecutor:
        executor = FakeExecutor(**options)
        monkeypatch.setattr("disentkit.sweep.executors.make_executor", lambda *args, **kwargs: executor)
        return executor

    return install


def train_jobs(configs: dict[str, dict], dependents: bool = False) -> list[dict]:
    """Explicit train jobs (``name → config over TRAIN``), each with a ``sleep`` job after it."""
    jobs = [{"name": name, "kind": "train", "config": TRAIN | config} for name, config in configs.items()]
    if dependents:
        jobs += [{"name": f"after-{name}", "kind": "sleep", "after": [name]} for name in configs]
    return jobs


def sweep_jobs(jobs: list[dict], **plan):
    expanded = expand(plan_from_dict({"jobs": jobs, **plan}))
    return expanded, {job.label: job.key for job in expanded}


def folder_of(results, jobs, name):
    return job_dir(results, next(job.dirname for job in jobs if job.label == name))


def files_under(folder) -> list[str]:
    """The files' paths; TensorBoard's event files are named by time and host, so by folder here."""
    paths = [p.relative_to(folder) for p in folder.rglob("*") if p.is_file()]
    return sorted(str(p.parent if p.name.startswith("events.out.tfevents") else p) for p in paths)


def weights(run):
    return load_checkpoint(run / "checkpoints" / "latest.safetensors")


def test_a_pack_is_one_task_and_leaves_the_folders_of_solo_jobs(tmp_path, fake_executor, monkeypatch):
    monkeypatch.setattr("disentkit.train.batch.CPU_BATCH_MAX_IMAGES", 0)  # solo runs: bitwise equal
    seeds = {f"t{s}": {"seed": s, "beta": 1.0 + s} for s in range(3)}
    resources = {"train": {"num_cpus": 2, "num_gpus": 1}}
    jobs, key = sweep_jobs(train_jobs(seeds, dependents=True), resources=resources)
    solo_executor = fake_executor()
    solo = run_sweep(jobs, tmp_path / "solo", progress=False)
    packed_executor = fake_executor()
    packed = run_sweep(jobs, tmp_path / "packed", progress=False, pack=2)
    assert solo.ok and packed.ok and solo.executed == packed.executed == 6

    trains = [
        (keys, res) for keys, res in packed_executor.submitted if key["t0"] in keys or key["t2"] in keys
    ]
    assert trains == [([key["t0"], key["t1"]], Resources(2, 1)), ([key["t2"]], Resources(2, 1))]
    assert len(packed_executor.submitted) == 5 and len(solo_executor.submitted) == 6
    for name in seeds:
        a, b = folder_of(tmp_path / "solo", jobs, name), folder_of(tmp_path / "packed", jobs, name)
        assert (
            files_under(a) == files_under(b)
            and (b / "done").exists()
            and (b / "run" / "config.yaml").exists()
        )
        results_a, results_b = (json.loads((f / "results.json").read_text()) for f in (a, b))
        assert results_b.pop("run") == str((b / "run").resolve()) and results_a.pop("run")
        job_a, job_b = results_a.pop("_job"), results_b.pop("_job")
        assert results_a == results_b and job_a["key"] == job_b["key"] == key[name]
        assert ("pack" in job_b) == (name != "t2") and "pack" not in job_a
        wa, wb = weights(a / "run"), weights(b / "run")
        assert wa.step == wb.step == 4 and all(
            torch.equal(wa.model_state[k], wb.model_state[k]) for k in wa.model_state
        )
    # The pack's output (here: why its models train one after another) is in each of its jobs' logs.
    for name in ("t0", "t1"):
        log = (folder_of(tmp_path / "packed", jobs, name) / "log.txt").read_text()
        assert f"pack of 2: {key['t0']}, {key['t1']}" in log and "one after another" in log
    assert run_sweep(jobs, tmp_path / "packed", progress=False, pack=2).executed == 0


def test_a_pack_runs_in_a_process_pool_worker_and_logs_into_each_job(tmp_path, monkeypatch):
    submitted = []
    submit = LocalExecutor.submit

    def recorded(self, task, resources):
        submitted.append(len(task.get("pack", [task])))
        return submit(self, task, resources)

    monkeypatch.setattr(LocalExecutor, "submit", recorded)
    # 16 images per model step: more than a model batch pays for on the CPU (in the worker process)
    jobs, _ = sweep_jobs(train_jobs({"t0": {"seed": 0, "batch": 16}, "t1": {"seed": 1, "batch": 16}}))
    assert run_sweep(jobs, tmp_path, workers=1, progress=False, pack=2).ok and submitted == [2]
    for name in ("t0", "t1"):
        log = (folder_of(tmp_path, jobs, name) / "log.txt").read_text()  # the worker's fds 1 and 2, teed
        assert (
            "(pack of 2: " in log
            and "training the 2 models one after another" in log
            and "=== done in" in log
        )


def test_only_compatible_jobs_share_a_pack(tmp_path, fake_executor):
    configs = {
        "a0": {"seed": 0},
        "a1": {"seed": 1, "beta": 4.0, "clip": None, "warmup_steps": 2, "beta_start": 0.5},
        "a2": {"seed": 2},
        "steps": {"seed": 0, "steps": 6},
        "method": {"seed": 0, "method": "ada-gvae"},
        "f0": {"seed": 0, "method": "factor-vae"},  # no model batch for FactorVAE's discriminator
        "f1": {"seed": 1, "method": "factor-vae"},
    }
    jobs, key = sweep_jobs(train_jobs(configs) + [{"name": "toy", "kind": "toy"}])
    executor = fake_executor(run=finished_outcome)
    assert run_sweep(jobs, tmp_path / "r2", progress=False, pack=2).ok
    assert executor.tasks() == [
        [key["a0"], key["a1"]], [key["a2"]], [key["steps"]], [key["method"]], [key["f0"]], [key["f1"]], [key["toy"]]
    ]  # fmt: skip
    executor = fake_executor(run=finished_outcome)
    run_sweep(jobs, tmp_path / "r4", progress=False, pack=4)
    assert executor.tasks()[0] == [key["a0"], key["a1"], key["a2"]]


def test_pack_key_is_the_config_but_the_per_model_fields():
    assert train_pack_key(TRAIN | {"seed": 1, "beta": 2.0, "clip": None}) == train_pack_key(TRAIN)
    assert train_pack_key(TRAIN | {"lr": 1e-3}) != train_pack_key(TRAIN)
    assert train_pack_key(TRAIN | {"cuda_graphs": True}) not in (None, train_pack_key(TRAIN))
    assert train_pack_key(TRAIN | {"head_decay": 0.1}) is None
    assert train_pack_key(TRAIN | {"steps": 0}) is None  # invalid: runs alone and fails there


@pytest.mark.parametrize("path", ["one after another", "model batch"])
def test_a_diverged_model_fails_its_own_job_and_the_others_finish(tmp_path, fake_executor, monkeypatch, path):
    batched = 10**6 if path == "model batch" else 0  # images per model step up to which the CPU batches
    monkeypatch.setattr("disentkit.train.batch.CPU_BATCH_MAX_IMAGES", batched)
    configs = {"t0": {"seed": 0}, "nan": {"seed": 1, "beta": 1e39}, "t2": {"seed": 2, "beta": 2.0}}
    jobs, key = sweep_jobs(train_jobs(configs, dependents=True))  # β 1e39 is inf in float32
    executor = fake_executor()
    report = run_sweep(jobs, tmp_path, progress=False, pack=3)
    assert executor.tasks()[0] == [key["t0"], key["nan"], key["t2"]]
    states = {name: report.states[k] for name, k in key.items()}
    assert states == {
        "t0": "done", "nan": "failed", "t2": "done", "after-t0": "done", "after-nan": "blocked", "after-t2": "done"
    }  # fmt: skip
    assert report.errors[key["nan"]].startswith("TrainingDiverged: training diverged")
    failed = folder_of(tmp_path, jobs, "nan")
    assert json.loads((failed / "failed.json").read_text())["type"] == "TrainingDiverged"
    assert (failed / "run" / loop.DIVERGED_FILE).exists() and not (failed / "done").exists()
    assert "TrainingDiverged" in (failed / "log.txt").read_text()
    for name in ("t0", "t2"):
        log = (folder_of(tmp_path, jobs, name) / "log.txt").read_text()
        assert weights(folder_of(tmp_path, jobs, name) / "run").step == 4 and "TrainingDiverged" not in log
        assert ("one after another" in log) == (path == "one after another")


class Killed(BaseException):
    """The sweep's process killed (nothing in the sweep catches it)."""


def test_a_sweep_killed_mid_pack_repacks_and_resumes_every_model(tmp_path, fake_executor, monkeypatch):
    monkeypatch.setattr("disentkit.train.batch.CPU_BATCH_MAX_IMAGES", 0)  # solo runs: bitwise equal
    jobs, key = sweep_jobs(train_jobs({"t0": {"seed": 0}, "t1": {"seed": 1}}))
    checkpoint = loop.RunRecord.checkpoint

    def killed_at_step_2(record, done, *args, **kwargs):
        checkpoint(record, done, *args, **kwargs)
        if done == 2:
            raise Killed

    monkeypatch.setattr(loop.RunRecord, "checkpoint", killed_at_step_2)
    fake_executor()
    with pytest.raises(Killed):
        run_sweep(jobs, tmp_path, progress=False, pack=2)
    monkeypatch.setattr(loop.RunRecord, "checkpoint", checkpoint)
    t0, t1 = folder_of(tmp_path, jobs, "t0"), folder_of(tmp_path, jobs, "t1")
    assert weights(t0 / "run").step == 2 and not (t0 / "done").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for folder in (t0, t1):  # what a SIGKILL leaves: the dead worker's markers
        write_marker(folder / "running", {"pid": dead.pid, "host": hostname()})

    executor = fake_executor()
    report = run_sweep(jobs, tmp_path, progress=False, pack=2)
    assert report.ok and report.requeued_stale == 2 and executor.tasks() == [[key["t0"], key["t1"]]]
    assert "resuming the killed attempt's run" in (t0 / "log.txt").read_text()
    reference = train(TrainConfig(**(TRAIN | {"seed": 0})), tmp_path / "reference", progress=False)
    resumed, uninterrupted = weights(t0 / "run"), weights(reference)
    assert resumed.step == 4 and weights(t1 / "run").step == 4
    assert all(torch.equal(resumed.model_state[k], uninterrupted.model_state[k]) for k in resumed.model_state)


@pytest.mark.parametrize("pool", [False, True], ids=["ray-like", "process-pool"])
def test_a_pack_whose_worker_died_reruns_its_jobs_alone_uncounted(tmp_path, fake_executor, pool):
    jobs, key = sweep_jobs(train_jobs({f"t{s}": {"seed": s} for s in range(3)}))
    executor = fake_executor(run=finished_outcome, restart_on_death=pool, pack_deaths=1)
    report = run_sweep(jobs, tmp_path, progress=False, pack=2, max_retries=0)
    # Any job of the pack may have killed it: each re-runs by itself, where a death is its own.
    assert report.ok and executor.tasks()[0] == [key["t0"], key["t1"]]
    assert sorted(executor.tasks()[1:]) == sorted([[key["t0"]], [key["t1"]], [key["t2"]]])


def test_pack_from_the_plan_and_the_flag(tmp_path, cli, fake_executor, one_line_error, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump({"name": "p", "pack": 3, "jobs": train_jobs({f"t{s}": {"seed": s} for s in range(3)})})
    )
    assert load_plan(plan).pack == 3
    sizes = {}
    for flag in ([], ["--pack", "2"], ["--pack", "1"]):
        executor = fake_executor(run=finished_outcome)
        args = ["sweep", "run", plan, "--results", tmp_path / f"r{len(sizes)}", "--no-progress", *flag]
        assert cli(args) == 0
        sizes[" ".join(flag)] = [len(keys) for keys in executor.tasks()]
        assert ("packs of" in capsys.readouterr().err) == (flag != ["--pack", "1"])
    assert sizes == {"": [3], "--pack 2": [2, 1], "--pack 1": [1, 1, 1]}
    assert cli(["sweep", "run", plan, "--results", tmp_path / "r", "--pack", "0"]) == 2
    assert "pack must be a whole number ≥ 1" in one_line_error()


@pytest.mark.parametrize("value", [0, -2, 2.5, "two", True])
def test_a_pack_that_is_not_a_whole_number_from_1_is_refused_in_one_line(tmp_path, value):
    with pytest.raises(DisentkitError, match="pack must be a whole number ≥ 1") as refused:
        plan_from_dict({"pack": value, "jobs": [{"name": "a", "kind": "toy"}]})
    assert "\n" not in str(refused.value)
    jobs = expand(plan_from_dict({"jobs": [{"name": "a", "kind": "toy"}]}))
    with pytest.raises(DisentkitError, match="pack must be a whole number ≥ 1"):
        run_sweep(jobs, tmp_path, progress=False, pack=value)


def test_transfer_jobs_to_one_target_run_as_one_pack(tmp_path, fake_executor):
    plan = {
        "sources": ["dsprites"],
        "targets": {"dsprites": ["noisy-dsprites"]},
        "methods": ["ada-gvae"],
        "seeds": [0, 1],
        "steps": 12,  # a source with awake latents (one with none active is refused)
        "transfer_steps": 2,
        "metrics": ["omes", "mig"],
        "train": {"batch": 8, "checkpoint_every": 3, "log_every": 2, "lr": 1e-3, "device": "cpu"},
        "transfer": {"eval_size": 900, "omes_pairs": 20, "classifiers": ["hgb"], "device": "cpu"},
    }
    jobs = [job for job in expand(plan_from_dict(plan)) if job.kind != "evaluate"]
    executor = fake_executor()
    assert run_sweep(jobs, tmp_path, progress=False, pack=2).ok
    kinds = {job.key: job.kind for job in jobs}
    assert sorted([kinds[k] for k in keys] for keys in executor.tasks()) == [["train"] * 2, ["transfer"] * 2]
    for job in jobs:
        if job.kind == "transfer":
            folder = job_dir(tmp_path, job.dirname)
            results = json.loads((folder / "results.json").read_text())
            saved = json.loads((folder / "transfer" / "transfer.json").read_text())
            assert (folder / "done").exists() and results["status"] == saved["status"] == "complete"
            assert (
                saved["config"]["seed"] == job.config["seed"] and results["evaluations"]["after"]["omes"] >= 0
            )


def test_transfer_pack_key_is_the_target_and_settings():
    base = {"source": "dsprites", "method": "ada-gvae", "beta": 1.0, "seed": 0, "target": "noisy-dsprites"}
    base |= {"steps": 2, "metrics": ["omes"]}
    assert transfer_pack_key(base | {"seed": 3, "beta": 2.0, "method": "beta-vae"}) == transfer_pack_key(base)
    assert transfer_pack_key(base | {"target": "color-dsprites"}) != transfer_pack_key(base)
    assert transfer_pack_key(base | {"steps": 3}) != transfer_pack_key(base)
