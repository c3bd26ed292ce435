"""Every failure the issue found, through the CLI: one line on stderr, exit code 2, no traceback,
and the user's files exactly as they were."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from disentkit.data.files import DSPRITES_FILE


@pytest.fixture
def world(tmp_path):
    """A user's folder of their own files, a file in the way of outputs, a run-looking folder with
    no checkpoint, inputs for evaluate, and an official-looking file that is not a grid."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.yaml").write_text("mine\n")
    (user / "metrics.csv").write_text("step,value\nten,1.5\n")
    (tmp_path / "file").write_text("keep")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": "dsprites", "steps": 4}))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "z.npy", rng.normal(size=(50, 3)))
    np.savetxt(tmp_path / "y.csv", rng.integers(0, 3, (50, 2)), delimiter=",", fmt="%d", header="a,b")
    (tmp_path / "garbage.npz").write_text("garbage")
    files = tmp_path / "official"
    files.mkdir()
    zeros = {"latents_classes": np.zeros((4, 6), np.int64), "latents_values": np.zeros((4, 6))}
    np.savez(files / DSPRITES_FILE, imgs=np.zeros((4, 64, 64), np.uint8), **zeros)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "p", "jobs": [{"name": "j", "kind": "toy", "config": {}}]}))
    return tmp_path


EVALUATE = ["evaluate", "-r", "{w}/z.npy", "-f", "{w}/y.csv", "--metrics", "mig"]
CASES = {
    "train into the user's folder": ["train", "--steps", "1", "--out", "{w}/user"],
    "train --out under a file": ["train", "--steps", "1", "--out", "{w}/file/run"],
    "train --resume without a checkpoint": ["train", "--resume", "--out", "{w}/run"],
    "train --from-checkpoint missing": ["train", "--out", "{w}/run", "--from-checkpoint", "{w}/none"],
    "ensemble train into the user's folder": ["ensemble", "train", "--data", "dsprites", "--out", "{w}/user"],
    "sweep run into the user's folder": ["sweep", "run", "{w}/plan.yaml", "--results", "{w}/user"],
    "data show --out under a file": ["data", "show", "dsprites", "--out", "{w}/file/grid.png"],
    "data gallery into the user's folder": ["data", "gallery", "--out-dir", "{w}/user"],
    "official file that is not a grid": ["data", "show", "dsprites-file", "--data-dir", "{w}/official"],
    "fragments analyze --out a file": [
        "fragments",
        "analyze",
        "{w}/run",
        "--data",
        "dsprites",
        "--out",
        "{w}/file",
    ],
    "fragments analyze into the user's folder": [
        *["fragments", "analyze", "{w}/run", "--data", "dsprites", "--out", "{w}/user"]
    ],
    "fragments analyze --min-samples 1": [
        *["fragments", "analyze", "{w}/run", "--data", "dsprites", "--min-samples", "1", "--out", "{w}/f"]
    ],
    "fragments analyze a run twice": [
        *["fragments", "analyze", "{w}/run", "{w}/run", "--data", "dsprites", "--out", "{w}/f"]
    ],
    "fragments analyze --n 5": [
        "fragments",
        "analyze",
        "{w}/run",
        "--data",
        "dsprites",
        "--n",
        "5",
        "--out",
        "{w}/f",
    ],
    "fragments fuse into the user's folder": ["fragments", "fuse", "--out", "{w}/user"],
    "evaluate --json under a file": [*EVALUATE, "--json", "{w}/file/scores.json"],
    "evaluate --plot into the user's folder": [*EVALUATE, "--metrics", "omes", "--plot", "{w}/user"],
    "report --out under a file": ["report", "{w}/run", "--out", "{w}/file/report.html"],
    "evaluate a garbage npz": ["evaluate", "-r", "{w}/garbage.npz", "-f", "{w}/y.csv"],
}


@pytest.mark.parametrize("case", CASES)
def test_each_failure_is_one_line_exit_2_and_loses_nothing(world, case, cli, one_line_error, snapshot):
    before = snapshot(world)
    args = [a.format(w=world) for a in CASES[case]]
    assert cli(args) == 2
    one_line_error()
    assert snapshot(world) == before
