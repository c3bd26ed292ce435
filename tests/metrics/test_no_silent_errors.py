"""Inputs that used to give wrong scores or tracebacks: a pandas index column in the factors CSV,
MIG on a handful of rows, files that are not numpy archives, unwritable --json/--plot paths."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import disentkit.metrics.commands as commands
from disentkit.metrics._common import MetricWarning
from disentkit.metrics.information import mig


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, (600, 3))
    z = y + 0.3 * rng.normal(size=y.shape)
    np.save(tmp_path / "z.npy", z)
    pd.DataFrame(y, columns=["a", "b", "c"]).to_csv(tmp_path / "y.csv", index=False)
    return tmp_path


def scores(cli, capsys, files, factors, *extra):
    out = files / f"{factors}.json"
    assert cli(["evaluate", "-r", files / "z.npy", "-f", files / factors, "--json", out, *extra]) == 0
    capsys.readouterr()
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "write, named",
    [
        (lambda frame, path: frame.to_csv(path), "''"),  # DataFrame.to_csv() keeps its unnamed index
        (lambda frame, path: frame.to_csv(path, index_label="index"), "'index'"),
        (lambda frame, path: frame.to_csv(path, header=False), "\\(running row numbers\\)"),
    ],
)
def test_a_pandas_index_column_is_dropped_with_a_warning(files, cli, capsys, write, named):
    clean = scores(cli, capsys, files, "y.csv", "--metrics", "mig,omes")
    write(pd.read_csv(files / "y.csv"), files / "y_idx.csv")
    with pytest.warns(MetricWarning, match=f"first column {named}.*dropped"):
        indexed = scores(cli, capsys, files, "y_idx.csv", "--metrics", "mig,omes")
    assert indexed["summary"] == clean["summary"]
    if "running" not in named:  # written with a header: the names survive
        assert indexed["metrics"]["omes"]["factor_names"] == ["a", "b", "c"]


def test_a_factor_column_that_is_data_is_kept(tmp_path):
    values = np.array([[3, 0], [1, 1], [2, 0], [0, 1]])
    np.savetxt(tmp_path / "y.csv", values, delimiter=",", fmt="%d", header="f,g", comments="")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read, header = commands.load_array(tmp_path / "y.csv", role="factors")
    np.testing.assert_array_equal(read, values)
    assert header == ["f", "g"]


def test_mig_on_a_handful_of_rows_warns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (5, 2))
    with pytest.warns(MetricWarning, match="MIG on 5 rows"):
        mig(y + 0.01 * rng.normal(size=y.shape), y)
    y = rng.integers(0, 3, (400, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricWarning)
        mig(y + 0.01 * rng.normal(size=y.shape), y)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_a_file_that_is_not_a_numpy_archive_says_so(files, cli, one_line_error, suffix):
    bad = files / f"garbage{suffix}"
    bad.write_text("garbage")
    assert cli(["evaluate", "-r", bad, "-f", files / "y.csv"]) == 2
    err = one_line_error()
    assert "is not a numpy" in err and "pickle" not in err


def test_unwritable_json_and_plot_are_refused_before_computing(files, cli, one_line_error, monkeypatch):
    blocker = files / "blocker"
    blocker.write_text("keep")
    monkeypatch.setattr(commands, "_from_files", lambda *a: pytest.fail("computed for a bad path"))
    base = ["evaluate", "-r", files / "z.npy", "-f", files / "y.csv", "--metrics", "mig"]
    assert cli([*base, "--json", blocker / "out.json"]) == 2
    assert str(blocker / "out.json") in one_line_error()
    assert cli([*base, "--plot", blocker]) == 2
    assert "--plot" in one_line_error()
    user = files / "plots"
    user.mkdir()
    (user / "mine.txt").write_text("keep")
    assert cli([*base, "--plot", user]) == 2
    assert "not empty" in one_line_error()
    assert blocker.read_text() == "keep" and [p.name for p in user.iterdir()] == ["mine.txt"]


def test_a_write_that_fails_after_computing_prints_the_scores_first(files, cli, capsys, monkeypatch):
    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("disentkit.config.atomic_write_text", disk_full)
    target = files / "out.json"
    args = ["evaluate", "-r", files / "z.npy", "-f", files / "y.csv", "--metrics", "mig", "--json", target]
    assert cli(args) == 2
    captured = capsys.readouterr()
    assert "mig" in captured.out and any(ch.isdigit() for ch in captured.out)
    err = captured.err.strip()
    assert "\n" not in err and str(target) in err and "No space left" in err
