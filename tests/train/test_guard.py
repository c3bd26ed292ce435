"""The posterior-collapse guard: the rule, and a real collapse caught while training."""

import csv
import dataclasses

import pytest

from disentkit.train.checkpoint import load_checkpoint
from disentkit.train.guard import CollapseGuard, PosteriorCollapsed, count_active, is_collapse, read_collapse
from disentkit.train.loop import train


def test_the_collapse_rule():
    assert count_active([0.5, 0.02, 0.009, 0.0]) == 2
    assert not is_collapse(2, 3) and is_collapse(1, 3) and is_collapse(0, 1)
    assert not is_collapse(0, 0)  # nothing was active to lose
    scratch = CollapseGuard()
    assert scratch.check(10, [0.0, 0.0], None)[1] is None  # a fresh encoder sits near the prior
    assert scratch.check(20, [2.0, 0.0], 10)[1] is None  # pruning down to one latent is no collapse
    assert scratch.check(30, [2.0, 0.0], 20)[1] is None
    active, collapse = scratch.check(40, [0.001, 0.0], 30)
    assert active == 0 and collapse.reference == 1 and collapse.last_checkpoint_step == 30
    patient = CollapseGuard(patience=50, last_step=1000)
    assert patient.check(100, [2.0, 0.0], 50)[1] is None
    assert patient.check(300, [0.0, 0.0], 250)[1] is None and patient.suspect  # a dip: wait
    assert patient.check(325, [0.0, 0.0], 250)[1] is None
    assert patient.check(340, [0.5, 0.0], 250)[1] is None and not patient.suspect  # it recovered
    assert patient.check(400, [0.0, 0.0], 250)[1] is None
    collapse = patient.check(450, [0.0, 0.0], 250)[1]
    assert (
        collapse.step == 450 and collapse.dead_since == 400 and "none since step 400" in collapse.message("r")
    )
    ending = CollapseGuard(patience=500, last_step=60)
    ending.check(20, [1.0], None)
    assert ending.check(40, [0.0], 20)[1] is None and ending.check(60, [0.0], 20)[1].step == 60
    tuned = CollapseGuard(reference=4)
    assert tuned.check(5, [1, 1, 0, 0], None)[1] is None
    assert tuned.check(10, [1, 0, 0, 0], 5)[1].active == 1


@pytest.mark.parametrize("patience", [0, 20])
def test_a_real_collapse_stops_training_before_a_dead_checkpoint(tmp_path, squares, tiny_config, patience):
    # The latents wake up within 15 steps at β 1; β then rises to a weight no reconstruction pays for.
    config = dataclasses.replace(
        tiny_config,
        method="beta-vae",
        beta_start=1.0,
        beta=100.0,
        warmup_steps=40,
        steps=100,
        batch=8,
        log_every=5,
        checkpoint_every=5,
        collapse_patience=patience,
    )
    run = tmp_path / "run"
    with pytest.raises(PosteriorCollapsed, match="posterior collapse") as caught:
        train(config, run, dataset=squares, progress=False)
    collapse = caught.value.collapse
    assert collapse.active == 0 and collapse.reference > 0 and collapse.step < 100
    assert collapse.step - collapse.dead_since == patience  # dead at every log row of the patience
    assert read_collapse(run) == collapse
    latest = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    # Nothing saved once no latent was active (checkpoints every 5 steps, as log rows).
    assert latest.step == collapse.last_checkpoint_step == collapse.dead_since - 5
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert max(int(r["active_dims"]) for r in rows) > 0 and int(rows[-1]["active_dims"]) == 0
    assert int(rows[-1]["step"]) == collapse.step


def test_fine_tuning_collapse_is_judged_against_the_source(tmp_path, squares, tiny_config):
    source_config = dataclasses.replace(tiny_config, method="beta-vae", steps=15, batch=8, log_every=5)
    source = train(source_config, tmp_path / "src", dataset=squares, progress=False)
    # Fine-tuning that keeps the source's latents passes; one told the source had more fires.
    tuned = dataclasses.replace(tiny_config, method="beta-vae", steps=10, log_every=5, checkpoint_every=5)
    train(tuned, tmp_path / "ok", dataset=squares, init_from=source, progress=False, active_reference=1)
    with pytest.raises(PosteriorCollapsed):
        train(tuned, tmp_path / "bad", dataset=squares, init_from=source, progress=False, active_reference=99)
