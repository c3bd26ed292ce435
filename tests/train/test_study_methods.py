"""FactorVAE, DIP-VAE and AnnealedVAE in the training loop: the discriminator and its Adam are
checkpointed and resumed bit for bit, the CLI trains/resumes/evaluates them, ensembles accept them."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from disentkit.cli import main
from disentkit.errors import DisentkitError
from disentkit.fragments.ensemble import train_ensemble
from disentkit.train import TrainConfig, load_run, train
from disentkit.train.checkpoint import load_checkpoint

STUDY_METHODS = ["factor-vae", "dip-vae-i", "dip-vae-ii", "annealed-vae"]


def cli(args):
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def study_config(tiny_config, method, **changes):
    # capacity_steps 4: C moves during the 6 steps, so a resume that lost the step would differ.
    options = {"capacity_steps": 4, "capacity_max": 5.0} if method == "annealed-vae" else {}
    return dataclasses.replace(tiny_config, **{"method": method, "cpu_shards": None, **options, **changes})


@pytest.mark.parametrize("method", ["factor-vae", "annealed-vae", "dip-vae-ii"])
def test_resume_is_bit_identical_with_every_extra_state(tmp_path, squares, tiny_config, method):
    config = study_config(tiny_config, method)
    straight = train(config, tmp_path / "straight", dataset=squares, progress=False)
    # A run stopped at its step-3 checkpoint, then continued to step 6 from that checkpoint alone.
    stopped = train(
        dataclasses.replace(config, steps=3), tmp_path / "stopped", dataset=squares, progress=False
    )
    saved = (stopped / "config.yaml").read_text()
    (stopped / "config.yaml").write_text(saved.replace("steps: 3\n", "steps: 6\n"))
    resumed = train(None, stopped, dataset=squares, resume=True, progress=False)
    a = load_checkpoint(straight / "checkpoints" / "latest.safetensors")
    b = load_checkpoint(resumed / "checkpoints" / "latest.safetensors")
    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)
    assert (a.companion_state is None) == (method != "factor-vae")
    if method == "factor-vae":
        assert a.companion_state.keys() == b.companion_state.keys() and a.companion_state
        assert all(torch.equal(a.companion_state[k], b.companion_state[k]) for k in a.companion_state)
        moments = a.companion_optimizer_state["state"], b.companion_optimizer_state["state"]
        assert all(
            torch.equal(moments[0][i][key], moments[1][i][key]) for i in moments[0] for key in moments[0][i]
        )
        # the discriminator's Adam is its own: β₁ 0.5, β₂ 0.9, and it stepped every step
        group = a.companion_optimizer_state["param_groups"][0]
        assert tuple(group["betas"]) == (0.5, 0.9) and float(moments[0][0]["step"]) == 6
        # its terms are logged; a fresh discriminator is near chance, −log ½ ≈ 0.693
        columns = metrics_columns(straight)
        assert "tc" in columns and abs(columns["discriminator"][0] - np.log(2)) < 0.1
    assert a.step == b.step == 6
    # the runs read back as a plain VAE (what the fragments pipeline and evaluate load)
    assert load_run(resumed, device="cpu").model.latent_dim == config.latent_dim


def test_a_discriminator_that_was_not_saved_cannot_be_resumed(tmp_path, squares, tiny_config):
    run = train(
        study_config(tiny_config, "beta-vae", steps=3), tmp_path / "run", dataset=squares, progress=False
    )
    config = (run / "config.yaml").read_text().replace("method: beta-vae", "method: factor-vae")
    (run / "config.yaml").write_text(config.replace("steps: 3", "steps: 6"))
    with pytest.raises(DisentkitError, match="no companion network"):
        train(None, run, dataset=squares, resume=True, progress=False)


def metrics_columns(run) -> dict[str, np.ndarray]:
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    return dict(zip(header.split(","), np.array([r.split(",") for r in rows], float).T, strict=True))


def test_logged_terms_and_the_capacity_schedule_reach_metrics_csv(tmp_path, squares, tiny_config):
    columns = {}
    for method in ("dip-vae-i", "dip-vae-ii", "annealed-vae"):
        run = train(study_config(tiny_config, method), tmp_path / method, dataset=squares, progress=False)
        columns[method] = metrics_columns(run)
    assert {"cov_offdiag", "cov_diag"} <= columns["dip-vae-i"].keys() & columns["dip-vae-ii"].keys()
    # logged at steps 2, 4, 6 as means over steps (0,1), (2,3), (4,5) of C = min(5, 5·s/4)
    np.testing.assert_allclose(columns["annealed-vae"]["capacity"], [0.625, 3.125, 5.0], rtol=1e-6)


def test_the_new_methods_refuse_settings_they_cannot_honour(tiny_config):
    from disentkit.train.step import cpu_shard_count

    for method in STUDY_METHODS:
        with pytest.raises(DisentkitError, match="couples the batch"):
            cpu_shard_count(study_config(tiny_config, method, cpu_shards=2), torch.device("cpu"))
    for method in ("factor-vae", "annealed-vae"):
        with pytest.raises(DisentkitError, match="cuda_graphs"):
            study_config(tiny_config, method, cuda_graphs=True).validate()
    with pytest.raises(DisentkitError, match="leave beta 1"):
        study_config(tiny_config, "annealed-vae", beta=4.0).validate()
    with pytest.raises(DisentkitError, match="lambda_od is an option of dip-vae-i, dip-vae-ii"):
        TrainConfig(method="factor-vae", lambda_od=3.0).validate()


def test_cli_trains_resumes_and_evaluates_each_method(tmp_path, capsys):
    base = ["train", "--data", "dsprites", "--steps", "2", "--batch", "4", "--log-every", "1"]
    base += ["--checkpoint-every", "1", "--device", "cpu", "--latent-dim", "4"]
    extra = {
        "factor-vae": ["--gamma", "20", "--disc-lr", "2e-4"],
        "dip-vae-i": ["--lambda-od", "5"],
        "dip-vae-ii": ["--lambda-od", "2", "--lambda-d-factor", "3"],
        "annealed-vae": ["--capacity-max", "10", "--capacity-steps", "50", "--gamma", "100"],
    }
    for method, options in extra.items():
        out = tmp_path / method
        assert cli([*base, "--method", method, *options, "--out", str(out)]) == 0
        config = load_run(out, device="cpu").config
        given = dict(zip(options[::2], options[1::2], strict=True))
        for flag, value in given.items():
            assert getattr(config, flag[2:].replace("-", "_")) == pytest.approx(float(value))
        text = (out / "config.yaml").read_text().replace("steps: 2\n", "steps: 3\n")
        (out / "config.yaml").write_text(text)
        assert cli(["train", "--resume", "--out", str(out)]) == 0
        assert load_checkpoint(out / "checkpoints" / "latest.safetensors").step == 3
    report = tmp_path / "eval.json"
    args = ["evaluate", "--model", str(tmp_path / "factor-vae"), "--data", "dsprites", "--n", "200"]
    assert cli([*args, "--metrics", "mig", "--json", str(report)]) == 0
    assert "mig" in json.dumps(json.loads(report.read_text()))
    assert cli([*base, "--method", "beta-vae", "--gamma", "3", "--out", str(tmp_path / "x")]) == 2
    assert "gamma is an option of" in capsys.readouterr().err


def test_ensemble_train_accepts_each_method_and_its_options(tmp_path, squares, monkeypatch):
    from disentkit.data import registry

    monkeypatch.setattr(registry, "get_dataset", lambda name, **kw: squares)
    trained = {}
    for method, options in {"dip-vae-i": {"lambda_od": 3.0}, "factor-vae": {"gamma": 15.0}}.items():
        out = tmp_path / method
        members = 2 if method == "factor-vae" else 1
        folders = train_ensemble("squares", method, 1.0, members, 2, out, device="cpu", options=options)
        config = load_run(folders[0], device="cpu").config
        trained[method] = config
        assert json.loads((out / "ensemble.json").read_text())["method"] == method
    assert trained["dip-vae-i"].lambda_od == 3.0 and trained["factor-vae"].gamma == 15.0
    # the fragments pipeline reads FactorVAE runs (checkpoints that also hold a discriminator) as any
    from disentkit.fragments.fingerprint import FingerprintSample
    from disentkit.fragments.pipeline import encode_runs, load_runs

    runs = load_runs(sorted((tmp_path / "factor-vae").glob("member*")), "squares", device="cpu")
    posteriors = encode_runs(runs, squares, FingerprintSample.from_dataset(squares, 30, 0))
    assert [mu.shape for mu, _ in posteriors] == [(30, 10), (30, 10)]
    assert not np.array_equal(posteriors[0][0], posteriors[1][0])  # two seeds, two members
    args = ["ensemble", "train", "--data", "dsprites", "--method", "annealed-vae", "--members", "1"]
    args += ["--steps", "1", "--device", "cpu", "--out", str(tmp_path / "cli")]
    options = ["--option", "capacity_max=7", "--option", "capacity-steps=10"]
    assert cli([*args, *options]) == 0
    config = load_run(tmp_path / "cli" / "member00", device="cpu").config
    assert (config.capacity_max, config.capacity_steps) == (7.0, 10)
    assert cli([*args, "--option", "gama=3"]) == 2
