"""kill -9 at random moments of `train`, `ensemble train` and `sweep run`, then the user's re-run:
nothing finished is lost or redone, and the result equals an uninterrupted run's, bit for bit."""

from __future__ import annotations

import csv
import time

import torch
import yaml

from disentkit.train.checkpoint import load_checkpoint

TRAIN = ["train", "--data", "dsprites", "--method", "beta-vae", "--steps", "8", "--batch", "4"]
TRAIN += ["--checkpoint-every", "2", "--log-every", "2", "--device", "cpu", "--seed", "3"]


def timed(call) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def same_weights(a, b) -> bool:
    wa = load_checkpoint(a / "checkpoints" / "latest.safetensors").model_state
    wb = load_checkpoint(b / "checkpoints" / "latest.safetensors").model_state
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def losses(run) -> list[tuple[str, str]]:
    with (run / "metrics.csv").open() as handle:
        return [(row["step"], row["loss"]) for row in csv.DictReader(handle)]


def test_train_killed_at_random_moments_resumes_to_the_uninterrupted_run(tmp_path, cli, killer):
    reference = tmp_path / "reference"
    work = timed(lambda: cli([*TRAIN, "--out", reference]))
    out = tmp_path / "run"

    def next_attempt():  # what a user does: resume when there is a checkpoint, else start again
        if (out / "checkpoints" / "latest.safetensors").exists():
            return ["train", "--resume", "--out", out]
        return [*TRAIN, "--out", out]

    kills = killer(work)
    kills.run(next_attempt)
    assert same_weights(out, reference), kills.log
    assert losses(out) == losses(reference), kills.log
    assert yaml.safe_load((out / "config.yaml").read_text()) == yaml.safe_load(
        (reference / "config.yaml").read_text()
    )


def test_ensemble_killed_at_random_moments_keeps_finished_members(tmp_path, cli, killer, snapshot):
    args = ["ensemble", "train", "--data", "dsprites", "--method", "beta-vae", "--members", "3"]
    args += ["--steps", "4", "--batch", "4", "--checkpoint-every", "2", "--device", "cpu"]
    reference = tmp_path / "reference"
    work = timed(lambda: cli([*args, "--out", reference]))
    out = tmp_path / "ens"
    finished: dict = {}

    def next_attempt():  # the same command again; members finished so far must stay as they are
        for member in out.glob("member*"):
            if (member / "done.json").exists():
                finished.setdefault(member.name, snapshot(member))
        return [*args, "--out", out]

    kills = killer(work)
    kills.run(next_attempt, kills=1)
    for name, files in finished.items():
        assert snapshot(out / name) == files, f"{name} changed after it had finished; {kills.log}"
    for name in ("member00", "member01", "member02"):
        assert same_weights(out / name, reference / name), f"{name}; {kills.log}"


def test_sweep_killed_at_random_moments_finishes_every_job_once(tmp_path, killer, snapshot):
    from disentkit.sweep.plan import expand, load_plan
    from disentkit.sweep.scheduler import run_sweep
    from disentkit.sweep.store import job_dir

    config = {"data": "dsprites", "method": "beta-vae", "steps": 4, "batch": 4, "checkpoint_every": 2}
    config |= {"log_every": 2, "device": "cpu"}
    jobs = [
        {"name": f"t{s}", "kind": "train", "config": {**config, "seed": s}} for s in range(2)
    ]  # two jobs: one may finish before a kill
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "faults", "jobs": jobs}, sort_keys=False))
    expanded = expand(load_plan(plan))
    reference = tmp_path / "reference"
    work = timed(lambda: run_sweep(expanded, reference, workers=1, progress=False))
    assert all((job_dir(reference, job.dirname) / "done").exists() for job in expanded)
    results = tmp_path / "results"
    finished: dict = {}

    def next_attempt():
        for job in expanded:
            folder = job_dir(results, job.dirname)
            if (folder / "done").exists():
                finished.setdefault(job.dirname, snapshot(folder / "run" / "checkpoints"))
        return ["sweep", "run", plan, "--results", results, "--workers", "1", "--no-progress"]

    kills = killer(work)
    kills.run(next_attempt, kills=1)
    for job in expanded:
        folder = job_dir(results, job.dirname)
        assert (folder / "done").exists(), kills.log
        if job.dirname in finished:
            assert snapshot(folder / "run" / "checkpoints") == finished[job.dirname], kills.log
        assert same_weights(folder / "run", job_dir(reference, job.dirname) / "run"), kills.log
