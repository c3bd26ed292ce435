"""`fragments analyze` / `fragments fuse` refuse, in one line and before computing, what used to be
accepted silently or end in a traceback: a run given twice, too few points, OPTICS' min_samples 1,
an --out that is a file, unwritable or somebody else's folder."""

import numpy as np
import pytest

from disentkit.errors import DisentkitError
from disentkit.fragments.analysis import find_hotspots


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "run"  # only has to exist: every check comes before a run is loaded
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n", "5"], "too few fingerprint points"),
        (["--min-samples", "1"], "--min-samples must be at least 2"),
        (["RUN"], "given twice"),
    ],
)
def test_analyze_refuses_bad_arguments(run, cli, one_line_error, extra, message):
    args = ["fragments", "analyze", run, "--data", "dsprites", "--out", run.parent / "frag"]
    assert cli([*args, *[run if a == "RUN" else a for a in extra]]) == 2
    assert message in one_line_error()
    assert not (run.parent / "frag").exists()


def test_analyze_out_that_is_a_file_unwritable_or_foreign(run, cli, one_line_error, snapshot):
    blocker = run.parent / "file"
    blocker.write_text("keep")
    args = ["fragments", "analyze", run, "--data", "dsprites", "--out"]
    assert cli([*args, blocker]) == 2
    assert "is a file" in one_line_error()
    assert cli([*args, blocker / "frag"]) == 2
    assert str(blocker / "frag") in one_line_error()
    user = run.parent / "user"
    user.mkdir()
    (user / "nmi.npy").write_text("mine")  # one of its names, beside a file that is not
    (user / "paper.pdf").write_text("mine")
    before = snapshot(user)
    assert cli([*args, user]) == 2
    assert "not empty" in one_line_error()
    assert snapshot(user) == before and blocker.read_text() == "keep"


def test_find_hotspots_min_samples_below_two_is_a_clear_error():
    dist = np.abs(np.subtract.outer(np.arange(8.0), np.arange(8.0)))
    with pytest.raises(DisentkitError, match="at least 2"):
        find_hotspots(dist, min_samples=1)


def test_fuse_refuses_a_foreign_folder_before_training(tmp_path, cli, one_line_error, snapshot):
    (tmp_path / "notes.txt").write_text("keep")
    before = snapshot(tmp_path)
    assert cli(["fragments", "fuse", "--members", "1", "--out", tmp_path]) == 2
    assert "not empty" in one_line_error()
    assert snapshot(tmp_path) == before
