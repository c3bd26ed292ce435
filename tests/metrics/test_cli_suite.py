"""The suite (registry, options, settings recorded) and `disentkit evaluate` on files written in tmp."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import disentkit
from disentkit.cli import app, main
from disentkit.errors import DisentkitError
from disentkit.metrics import METRICS, Evaluation, evaluate_model, evaluate_representation
from disentkit.metrics.suite import SuiteOptions

from .conftest import ToyDataset, identity_encoder

QUICK = "omes,mig,unsupervised"


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, [3, 4, 5], size=(300, 3))
    z = np.c_[y + 0.1 * rng.normal(size=y.shape), rng.normal(size=300)]
    return z, y


def test_registry_and_options(arrays):
    z, y = arrays
    with pytest.raises(DisentkitError, match="valid metrics: beta_vae"):
        evaluate_representation(z, y, metrics="omes,nope", rng=np.random.default_rng(0))
    with pytest.raises(DisentkitError, match="needs a dataset"):
        evaluate_representation(z, y, metrics=["factor_vae"], rng=np.random.default_rng(0))
    with pytest.raises(DisentkitError, match="unknown metric option"):
        evaluate_representation(z, y, metrics=QUICK, rng=np.random.default_rng(0), alpah=1)
    assert {"omes", "dci", "mig", "sap", "modularity", "beta_vae", "factor_vae"} <= set(METRICS)


def test_evaluate_representation_records_everything(arrays):
    z, y = arrays
    out = evaluate_representation(
        z, y, ["a", "b", "c"], metrics="omes,dci,downstream_gbt,mig,modularity", rng=np.random.default_rng(0),
        gbt_params={"n_estimators": 5}, n_jobs=1, alpha=1.0,
    ).to_dict()  # fmt: skip
    json.dumps(out, allow_nan=False)
    assert out["schema"] == "disentkit.evaluation/1"
    assert Evaluation.from_dict(json.loads(json.dumps(out))).summary() == out["summary"]  # round trip
    assert list(out["metrics"]) == ["omes", "dci", "downstream_gbt", "mig", "modularity"]
    assert out["metrics"]["modularity"]["settings"]["n_jobs"] == 1  # the suite's option reaches every metric
    assert out["settings"]["alpha"] == 1.0 and out["metrics"]["omes"]["settings"]["alpha"] == 1.0
    assert out["summary"]["omes"] == pytest.approx(out["summary"]["omes.os"])  # α = 1 → OMES = OS
    assert out["metrics"]["downstream_gbt"]["pruned_dims"] == out["metrics"]["omes"]["pruned_dims"]
    assert out["metrics"]["dci"]["settings"]["params"] == {"n_estimators": 5}
    assert {"numpy", "scikit-learn", "torch"} <= set(out["environment"])
    assert out["factor_names"] == ["a", "b", "c"]


def test_evaluate_model_uses_interventions():
    toy = ToyDataset((3, 4, 5))
    out = evaluate_model(
        identity_encoder, toy, n=600, rng=np.random.default_rng(0), metrics="omes,mig,factor_vae",
        omes_n_pairs=500, vote_n_train=200, vote_n_eval=100, vote_n_variance=300,
    ).to_dict()  # fmt: skip
    assert out["metrics"]["omes"]["settings"]["mode"] == "intervention"
    assert out["metrics"]["omes"]["association"] == [0, 1, 2]
    assert out["metrics"]["factor_vae"]["eval_accuracy"] > 0.9
    assert out["dataset"]["name"] == "toy"


def _write_release(tmp_path, z, y):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "representations.npz", mean=z, sampled=z + rng.normal(size=z.shape))
    header = "shape,scale,position"
    np.savetxt(tmp_path / "classes.csv", y, fmt="%d", delimiter=",", header=header, comments="")
    return tmp_path / "representations.npz", tmp_path / "classes.csv"


def test_cli_release_format_json_and_plots(tmp_path, arrays):
    z, y = arrays
    rep, classes = _write_release(tmp_path, z, y)
    out_json = tmp_path / "out.json"
    runner = CliRunner()
    args = ["evaluate", "--representation", str(rep), "--factors", str(classes), "--metrics", QUICK]
    result = runner.invoke(app, [*args, "--json", str(out_json), "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    assert "omes" in result.output and "shape" in result.output
    data = json.loads(out_json.read_text())
    assert data["factor_names"] == ["shape", "scale", "position"]
    assert len(data["metrics"]["omes"]["S"]) == 4 and len(data["metrics"]["omes"]["S"][0]) == 3
    assert data["context"]["inputs"]["which"] == "mean" and data["context"]["seed"] == 0
    assert data["settings"] == json.loads(json.dumps(dataclasses.asdict(SuiteOptions())))  # unset: defaults
    for name in ("association_matrix.png", "omes_per_factor.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000
    release = runner.invoke(
        app, [*args, "--association", "release", "--alpha", "1", "--json", str(tmp_path / "r.json")]
    )
    assert release.exit_code == 0, release.output
    r_data = json.loads((tmp_path / "r.json").read_text())
    assert r_data["metrics"]["omes"]["settings"]["association"] == "release"
    assert r_data["summary"]["omes"] == pytest.approx(r_data["summary"]["omes.os"])
    sampled = runner.invoke(app, [*args, "--which", "sampled", "--json", str(tmp_path / "s.json")])
    assert sampled.exit_code == 0
    s_data = json.loads((tmp_path / "s.json").read_text())
    assert s_data["summary"]["omes"] < data["summary"]["omes"]  # noisier code, lower score


def test_cli_plain_formats(tmp_path, arrays):
    z, y = arrays
    np.save(tmp_path / "z.npy", z)
    np.savez(tmp_path / "y.npz", labels=y)
    np.savetxt(tmp_path / "z.csv", z, delimiter=",")
    np.savetxt(tmp_path / "y.csv", y, fmt="%d", delimiter=",")  # no header
    runner = CliRunner()
    for rep, fac in (("z.npy", "y.npz"), ("z.csv", "y.csv")):
        out = tmp_path / f"{rep}.json"
        args = [
            "evaluate",
            "-r",
            str(tmp_path / rep),
            "-f",
            str(tmp_path / fac),
            "--metrics",
            "mig",
            "--json",
            str(out),
        ]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["factor_names"] == ["factor_0", "factor_1", "factor_2"]


def test_cli_bad_files_give_one_line_errors(tmp_path, arrays, capsys):
    z, y = arrays
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "short.npy", z[:10])
    np.savez(tmp_path / "two.npz", a=z, b=z)
    cases = [
        (["-r", str(tmp_path / "missing.npy"), "-f", str(tmp_path / "y.npy")], "not found"),
        (["-r", str(tmp_path / "broken.npy"), "-f", str(tmp_path / "y.npy")], "cannot read"),
        (["-r", str(tmp_path / "short.npy"), "-f", str(tmp_path / "y.npy")], "length mismatch"),
        (["-r", str(tmp_path / "two.npz"), "-f", str(tmp_path / "y.npy")], "expected one array"),
        (
            ["-r", str(tmp_path / "y.npy"), "-f", str(tmp_path / "y.npy"), "--metrics", "bogus"],
            "unknown metric",
        ),
    ]
    for args, message in cases:
        assert (
            main(["evaluate", *args, "--metrics", "mig"] if "--metrics" not in args else ["evaluate", *args])
            == 2
        )
        assert message in capsys.readouterr().err


def test_cli_model_mode(tmp_path, monkeypatch):
    toy = ToyDataset((3, 4, 5))

    class FakeRun:
        config = {}

        def encode(self, images):
            mu = identity_encoder(images).astype(np.float32)
            return mu, np.zeros_like(mu)

    monkeypatch.setattr(disentkit, "load_run", lambda path, device=None: FakeRun())
    monkeypatch.setattr("disentkit.data.registry.get_dataset", lambda name, **kw: toy)
    out = tmp_path / "m.json"
    args = [
        "evaluate",
        "--model",
        str(tmp_path),
        "--data",
        "toy",
        "--n",
        "400",
        "--metrics",
        "omes,mig",
        "--json",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["metrics"]["omes"]["settings"]["mode"] == "intervention"
    assert data["context"]["inputs"]["data"] == "toy"


@pytest.mark.slow
def test_cli_model_mode_with_a_trained_run(tmp_path, monkeypatch):
    """A real (2-step) run folder through disentkit.load_run, OMES in intervention mode."""
    from disentkit.train.config import TrainConfig
    from disentkit.train.loop import train

    toy = ToyDataset((3, 4, 5))
    toy.observation_shape = (64, 64, 1)

    def render(factors, rng=None):
        f = toy.validate_factors(factors)
        img = np.zeros((len(f), 64, 64, 1), np.uint8)
        for i, (a, b, c) in enumerate(f):
            img[i, 8 * b : 8 * b + 8 + 4 * a, 8 * c : 8 * c + 12] = 255
        return img

    toy.render = render
    config = TrainConfig(
        data="toy", method="beta-vae", steps=2, batch=8, checkpoint_every=1, log_every=1, device="cpu"
    )
    run = train(config, tmp_path / "run", dataset=toy, progress=False)
    monkeypatch.setattr("disentkit.data.registry.get_dataset", lambda name, **kw: toy)
    out = tmp_path / "model.json"
    args = ["evaluate", "--model", str(run), "--data", "toy", "--n", "300", "--pairs", "200"]
    result = CliRunner().invoke(app, [*args, "--metrics", "omes,mig", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["metrics"]["omes"]["n_pairs"] == [200, 200, 200]
    assert data["n_dims"] == config.latent_dim


NEW_METRICS = "mig,modularity,mig_sup,jemmig,dcimig,irs,z_max_variance,infomec"


def test_profiles_change_conventions_and_are_recorded(arrays):
    z, y = arrays
    run = {"metrics": NEW_METRICS, "rng": np.random.default_rng(0), "n_jobs": 1}
    lib = evaluate_representation(z, y, **run).to_dict()
    review = evaluate_representation(
        z, y, **{**run, "rng": np.random.default_rng(0)}, profile="zaidi2020"
    ).to_dict()
    assert lib["profile"] == "disentanglement_lib" and review["profile"] == "zaidi2020"
    assert review["settings"]["binning"] == "minmax" and review["settings"]["n_bins"] == 10
    assert review["metrics"]["mig_sup"]["settings"]["binning"] == "minmax"
    assert review["metrics"]["irs"]["settings"]["diff_quantile"] == 1.0
    assert "mig.py" in review["metrics"]["mig"]["settings"]["source"]
    assert lib["metrics"]["mig"]["settings"]["n_bins"] == 20
    assert lib["summary"]["mig_sup"] != review["summary"]["mig_sup"]
    # an explicit option wins over the profile
    mixed = evaluate_representation(
        z, y, metrics="mig_sup", rng=np.random.default_rng(0), profile="zaidi2020", n_bins=5
    ).to_dict()
    assert mixed["metrics"]["mig_sup"]["settings"]["n_bins"] == 5
    assert {"infomec.infom", "infomec.infoc", "infomec.infoe", "irs", "jemmig"} <= set(lib["summary"])
    assert list(lib["seconds"]) == list(lib["metrics"]) and all(t >= 0 for t in lib["seconds"].values())
    # sweeps, correlate and the report read these columns
    assert {"mig_sup", "jemmig", "dcimig", "irs", "z_max_variance", "infom", "infoc", "infoe"} <= set(
        Evaluation.from_dict(lib).columns()
    )
    with pytest.raises(DisentkitError, match="unknown profile"):
        evaluate_representation(z, y, metrics="mig", rng=np.random.default_rng(0), profile="nope")
    with pytest.raises(DisentkitError, match="unknown DCI probe"):
        evaluate_representation(z, y, metrics="dci", rng=np.random.default_rng(0), dci_probe="svm")


def test_cli_profile_and_dci_probe(tmp_path, arrays):
    z, y = arrays
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "p.json"
    args = ["evaluate", "-r", str(tmp_path / "z.npy"), "-f", str(tmp_path / "y.npy"), "--n-jobs", "1"]
    args += ["--metrics", "dci,jemmig", "--profile", "zaidi2020", "--dci-probe", "lasso", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "profile: zaidi2020" in result.output
    data = json.loads(out.read_text())
    assert data["metrics"]["dci"]["settings"]["probe"] == "lasso"
    assert data["metrics"]["dci"]["settings"]["formula"] == "zaidi2020"
    assert data["metrics"]["jemmig"]["settings"]["n_bins"] == 10
