"""`train --out` never writes into a folder that is not a run; `--resume` extends, refuses
contradicting options, never starts from nothing, and can start from another checkpoint."""

import dataclasses

import pytest
import torch

from disentkit.errors import DisentkitError
from disentkit.train import train
from disentkit.train.checkpoint import load_checkpoint
from disentkit.train.config import TrainConfig


def weights(run, name="latest"):
    return load_checkpoint(run / "checkpoints" / f"{name}.safetensors").model_state


QUICK = ["--method", "beta-vae", "--steps", "2", "--batch", "2", "--device", "cpu", "--log-every", "1"]


@pytest.mark.parametrize("first_column", ["10", "ten"])
def test_train_refuses_a_users_folder_and_changes_nothing(
    tmp_path, cli, one_line_error, snapshot, first_column
):
    user = tmp_path / "d"
    user.mkdir()
    (user / "config.yaml").write_text("mine\n")
    (user / "metrics.csv").write_text(f"step,value\n{first_column},1.5\n")
    before = snapshot(user)
    assert cli(["train", *QUICK, "--out", str(user)]) == 2
    assert "does not hold a training run" in one_line_error()
    assert snapshot(user) == before


def test_train_out_that_is_a_file_or_unwritable_is_one_line(tmp_path, cli, one_line_error):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    assert cli(["train", *QUICK, "--out", str(blocker)]) == 2
    assert "is a file" in one_line_error()
    assert cli(["train", *QUICK, "--out", str(blocker / "run")]) == 2  # a file where a folder must go
    assert str(blocker / "run") in one_line_error()
    assert blocker.read_text() == "keep"


def test_resume_with_more_steps_extends_and_equals_an_uninterrupted_run(tmp_path, squares, tiny_config):
    straight = train(tiny_config, tmp_path / "straight", dataset=squares, progress=False)
    short = dataclasses.replace(tiny_config, steps=3)
    run = train(short, tmp_path / "run", dataset=squares, progress=False)
    train(None, run, dataset=squares, resume=True, progress=False, changes={"steps": tiny_config.steps})
    assert load_checkpoint(run / "checkpoints" / "latest.safetensors").step == tiny_config.steps
    a, b = weights(straight), weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (run / "config.yaml").read_text() == (straight / "config.yaml").read_text()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "3", "4", "6"]


def test_resume_refuses_options_that_contradict_the_saved_config(tmp_path, squares, tiny_config, snapshot):
    run = train(tiny_config, tmp_path / "run", dataset=squares, progress=False)
    before = snapshot(run)
    for changes, flag in (({"lr": 0.01}, "--lr"), ({"steps": 3}, "--steps"), ({"beta": 2.0}, "--beta")):
        with pytest.raises(DisentkitError, match=flag):
            train(None, run, dataset=squares, resume=True, progress=False, changes=changes)
    assert snapshot(run) == before
    # The same values as saved are no contradiction.
    train(None, run, dataset=squares, resume=True, progress=False, changes={"lr": tiny_config.lr})


def test_cli_resume_names_the_flag_and_extends(tmp_path, cli, one_line_error):
    out = tmp_path / "run"
    assert cli(["train", *QUICK, "--out", str(out)]) == 0
    assert cli(["train", "--resume", "--out", str(out), "--steps", "3", "--lr", "0.01"]) == 2
    assert "--lr 0.01" in one_line_error()
    assert cli(["train", "--resume", "--out", str(out), "--steps", "3", "--device", "cpu"]) == 0
    assert load_checkpoint(out / "checkpoints" / "latest.safetensors").step == 3


def test_resume_without_a_checkpoint_fails_and_from_checkpoint_best_continues(
    tmp_path, squares, tiny_config, cli, one_line_error
):
    run = train(TrainConfig(**{**tiny_config.__dict__, "steps": 2}), tmp_path / "run", dataset=squares)
    run = tmp_path / "run"
    latest = run / "checkpoints" / "latest.safetensors"
    latest.write_bytes(b"corrupt")
    with pytest.raises(DisentkitError, match="--from-checkpoint best"):
        train(None, run, dataset=squares, resume=True, progress=False)
    best_step = load_checkpoint(run / "checkpoints" / "best.safetensors").step
    train(None, run, dataset=squares, resume=True, progress=False, from_checkpoint="best")
    assert load_checkpoint(latest).step == 2 and best_step <= 2
    latest.unlink()
    (run / "checkpoints" / "best.safetensors").unlink()
    assert cli(["train", "--resume", "--out", str(run)]) == 2
    assert "nothing to resume" in one_line_error()
    assert cli(["train", "--out", str(run), "--from-checkpoint", str(tmp_path / "nope.safetensors")]) == 2
    assert "checkpoint not found" in one_line_error()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["train", "--resume", "--out", str(empty)]) == 2
    assert "nothing to resume" in one_line_error()


def test_a_run_killed_before_its_first_checkpoint_starts_again_with_clean_logs(
    tmp_path, squares, tiny_config
):
    run = tmp_path / "run"
    train(tiny_config, run, dataset=squares, progress=False)
    for file in (run / "checkpoints").iterdir():
        file.unlink()  # as if killed before the first checkpoint: only logs and the config left
    (run / "metrics.csv").write_text("step,other\n2,1.0\n")
    other = dataclasses.replace(tiny_config, latent_dim=4)
    train(other, run, dataset=squares, progress=False)
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("step,loss") and "other" not in header


def test_visualize_refuses_a_folder_of_other_files(tmp_path, squares, tiny_config, snapshot):
    import numpy as np

    from disentkit.train import load_run
    from disentkit.train.visualize import visualize

    run = train(dataclasses.replace(tiny_config, steps=1), tmp_path / "run", dataset=squares, progress=False)
    user = tmp_path / "figs"
    user.mkdir()
    (user / "figure1.pdf").write_text("keep")
    before = snapshot(user)
    images = squares.sample_images(2, np.random.default_rng(0))
    with pytest.raises(DisentkitError, match="not empty"):
        visualize(load_run(run, device="cpu"), images, user)
    assert snapshot(user) == before
    visualize(load_run(run, device="cpu"), images, tmp_path / "vis")
    visualize(load_run(run, device="cpu"), images, tmp_path / "vis")  # its own folder: written again


def test_train_reads_an_official_file_from_data_dir(tmp_path, cli, one_line_error, monkeypatch):
    import numpy as np

    from disentkit.data.files import DSPRITES_FILE

    sizes = (1, 3, 2, 2, 2, 2)  # a tiny complete grid in the official layout
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 2, (len(classes), 64, 64), dtype=np.uint8)
    files = tmp_path / "files"
    files.mkdir()
    np.savez(files / DSPRITES_FILE, imgs=imgs, latents_classes=classes, latents_values=classes * 0.5)
    monkeypatch.delenv("DISENTKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./data here
    args = ["train", "--data", "dsprites-file", *QUICK, "--out", tmp_path / "run"]
    assert cli(args) == 2
    assert "not found" in one_line_error()
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert cli([*args, "--data-dir", files]) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors").step == 2
