"""`disentkit train` / `disentkit visualize` end to end on a tiny run, and the visualisation files."""

import numpy as np
import pytest
from PIL import Image

from disentkit.cli import main
from disentkit.train import load_run, train
from disentkit.train.visualize import kl_order, traversal_rows, visualize


def cli(args):
    """Exit code of ``disentkit ARGS`` (typer's standalone mode exits through SystemExit)."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def test_cli_train_resume_and_errors(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", "dsprites", "--steps", "2", "--batch", "2", "--log-every", "1"]
    args += ["--checkpoint-every", "1", "--device", "cpu", "--preset", "cpu-quick", "--out", str(out)]
    assert cli(args) == 0
    config = load_run(out, device="cpu").config
    # the preset filled lr and clip, the typed options won
    assert (config.steps, config.batch, config.lr, config.clip, config.preset) == (
        2,
        2,
        5e-4,
        None,
        "cpu-quick",
    )
    assert cli(["train", "--resume", "--out", str(out)]) == 0
    assert cli(["train", "--method", "vae9", "--out", str(tmp_path / "x")]) == 2
    assert "valid methods" in capsys.readouterr().err
    quick = ["train", "--cpu-shards", "2", "--device", "cpu", "--steps", "1"]
    assert cli([*quick, "--method", "beta-tcvae", "--out", str(tmp_path / "tc")]) == 2
    assert "couples the batch" in capsys.readouterr().err
    assert cli([*quick, "--batch", "2", "--out", str(tmp_path / "sh")]) == 0
    assert load_run(tmp_path / "sh", device="cpu").config.cpu_shards == 2
    assert cli(["visualize", str(out), "--out", str(tmp_path / "vis"), "--n", "3"]) == 0
    assert (tmp_path / "vis" / "traversals.png").exists()


def test_visualize_files_and_kl_order(tmp_path, squares, tiny_config):
    run = train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    images = squares.sample_images(4, np.random.default_rng(0))
    files = visualize(load_run(run, device="cpu"), images, tmp_path / "vis", n_steps=5)
    gifs = sorted(p for p in files if p.suffix == ".gif")
    assert len(gifs) == 10
    with Image.open(gifs[0]) as gif:
        assert gif.size == (128, 128) and 2 <= gif.n_frames <= 8  # there and back, 5 + 3 frames
    with Image.open(tmp_path / "vis" / "reconstructions.png") as png:
        assert png.size[1] == 2 * 64 + 3 * 2  # originals and reconstructions
    mu = np.array([[0.0, 3.0, 1.0]])
    order, kl = kl_order(mu, np.zeros_like(mu))
    assert order.tolist() == [1, 2, 0] and kl[0] == pytest.approx(0.0)


def test_trained_run_plugs_into_disentkit_evaluate(tmp_path):
    """load_run's encode is what `disentkit evaluate --model RUN --data NAME` (intervention mode) uses."""
    import json

    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        "dsprites",
        "--steps",
        "1",
        "--batch",
        "2",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert cli(args) == 0
    report = tmp_path / "eval.json"
    args = ["evaluate", "--model", str(out), "--data", "dsprites", "--metrics", "mig,omes", "--n", "400"]
    assert cli([*args, "--pairs", "50", "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert {"mig", "omes"} <= set(result["metrics"]) and result["n_dims"] == 10
    assert result["context"]["inputs"]["model"] == str(out)


def test_traversal_rows_sweep_one_dimension_each_in_kl_order():
    decoded = []

    class Recorder:  # stands in for a TrainedModel: records the codes it is asked to decode
        def decode(self, z):
            decoded.append(z.copy())
            return np.zeros((len(z), 4, 4, 1), np.float32)

    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(3, 4)).astype(np.float32), np.zeros((3, 4), np.float32)
    rows, order, _ = traversal_rows(Recorder(), mu, logvar, n_steps=5, limit=2.0)
    assert len(decoded) == 1 and len(rows) == 4 and rows[0].shape == (5, 4, 4, 3)
    codes = decoded[0].reshape(4, 5, 4)
    for row, dim in enumerate(order):
        expected = np.repeat(mu[:1], 5, axis=0)
        expected[:, dim] = np.linspace(-2.0, 2.0, 5)
        np.testing.assert_allclose(codes[row], expected)
