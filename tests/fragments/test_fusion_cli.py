"""Fusion (agreement with the members, the circle demo) and the CLI."""

import json

import numpy as np
import pytest
import torch

from disentkit.cli import main as _main
from disentkit.errors import DisentkitError
from disentkit.fragments.fusion import (
    continuity,
    demo_config,
    fingerprint,
    fuse,
    layout_correlation,
    similarity_to_members,
)


def main(argv: list[str]) -> int:
    """The CLI's exit code: errors return it, success leaves through SystemExit (standalone Typer)."""
    try:
        return _main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_fusion_of_one_member_reproduces_its_fingerprint(rng):
    x = np.sort(rng.normal(size=(60, 1)), axis=0)
    member = (np.tanh(x) * 2, np.full((60, 1), np.log(0.05)))
    result = fuse([member], dims=1, steps=200, lr=0.05)
    assert result.history[-1] > 0.9 and result.history[-1] > result.history[0]
    assert result.vi[0] < 0.2


def test_fusion_favours_the_consensus(rng):
    """Two members agree, one is unrelated: the fused space is closer to the agreeing pair."""
    n = 80
    x = rng.normal(size=(n, 2))
    agree = [(x[:, :1] * 2 + 0.05 * rng.normal(size=(n, 1)), np.full((n, 1), np.log(0.05))) for _ in range(2)]
    other = (x[:, 1:] * 2, np.full((n, 1), np.log(0.05)))
    result = fuse([*agree, other], dims=1, steps=250, lr=0.05, objective="nmi")
    assert result.nmi[:2].min() > result.nmi[2] + 0.2


def test_similarity_of_a_fingerprint_with_itself(rng):
    mu = torch.as_tensor(rng.normal(size=(50, 1)))
    lv = torch.full((50, 1), -2.0, dtype=torch.float64)
    bc = fingerprint(mu, lv)
    sim = similarity_to_members(bc, bc[None])
    assert float(sim["vi"][0]) == pytest.approx(0.0, abs=1e-9)
    assert float(sim["nmi"][0]) == pytest.approx(1.0, abs=1e-9)


def test_continuity_prefers_a_circle_to_a_cut_line():
    angles = 2 * np.pi * np.arange(100) / 100
    circle = np.c_[np.cos(angles), np.sin(angles)]
    line = angles[:, None]  # the circle cut at angle 0
    lv2, lv1 = np.full((100, 2), -6.0), np.full((100, 1), -6.0)
    assert continuity(circle, lv2, angles) > 0.99
    assert continuity(line, lv1, angles) < 0.01
    assert layout_correlation(circle, angles) > 0.99 > layout_correlation(line, angles)


def test_bad_fusion_settings():
    with pytest.raises(DisentkitError, match="unknown fusion preset"):
        demo_config("huge")
    with pytest.raises(DisentkitError, match="objective"):
        fuse([(np.zeros((5, 1)), np.zeros((5, 1)))], objective="mse")
    with pytest.raises(DisentkitError, match="anneal"):
        fuse([(np.zeros((5, 1)), np.zeros((5, 1)))], anneal=0.0)
    with pytest.raises(DisentkitError, match="different numbers of points"):
        fuse([(np.zeros((5, 1)), np.zeros((5, 1))), (np.zeros((6, 1)), np.zeros((6, 1)))])


def test_cli_fuse_writes_json_and_figure(tmp_path):
    out = tmp_path / "fusion"
    args = [
        "fragments",
        "fuse",
        "--members",
        "1,2",
        "--train-steps",
        "15",
        "--points",
        "40",
        "--fuse-steps",
        "10",
    ]
    assert main([*args, "--out", str(out)]) == 0
    saved = json.loads((out / "fusion.json").read_text())
    assert [row["members"] for row in saved["rows"]] == [1, 2]
    assert saved["config"]["beta"] == 0.03
    assert (out / "fusion.png").exists()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["fragments", "analyze", str(tmp_path / "missing"), "--data", "dsprites"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    assert main(["fragments", "fuse", "--members", "two", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_ensemble_train_then_analyze_end_to_end(tmp_path):
    """The issue's 'done when': a small CPU ensemble of dSprites beta-VAEs, analysed by one command."""
    ens = tmp_path / "ens"
    # 400 steps: cpu-quick-ada's members dip to the prior around steps 75-275 and recover after
    # (docs/results/collapse-dips-2026-12-06.md); a run that ends in the dip is stopped as collapsed.
    train = "ensemble train --data dsprites --method beta-vae --beta 1 --members 2 --steps 400"
    assert main([*train.split(), "--preset", "cpu-quick-ada", "--device", "cpu", "--out", str(ens)]) == 0
    out = tmp_path / "frag"
    assert (
        main(["fragments", "analyze", str(ens), "--data", "dsprites", "--n", "200", "--out", str(out)]) == 0
    )
    saved = json.loads((out / "analysis.json").read_text())
    assert len(saved["census"]["names"]) == 20
    assert (out / "hotspots.png").exists()
