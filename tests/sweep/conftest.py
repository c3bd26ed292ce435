"""Helpers shared by the sweep tests: toy plans written as YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

#: a train job's config that trains in about a second on the CPU
TINY_TRAIN = {"data": "dsprites", "method": "beta-vae", "steps": 4, "batch": 4, "checkpoint_every": 2}
TINY_TRAIN |= {"log_every": 2, "latent_dim": 4, "device": "cpu"}


def toy_plan(path: Path, jobs: list[dict], name: str = "toy") -> Path:
    """Write a plan of explicit jobs to ``path`` and return it."""
    path.write_text(yaml.safe_dump({"name": name, "jobs": jobs}, sort_keys=False))
    return path


def side_lines(side: Path) -> list[list[str]]:
    """Lines of a toy side file as [event, job folder, pid]."""
    return [line.split() for line in side.read_text().splitlines()] if side.exists() else []


@pytest.fixture
def toy_chain(tmp_path):
    """Five toy jobs: a → b, c (fails) → d, e; a side file counts executions."""
    side = tmp_path / "side.txt"
    jobs = [
        {"name": "a", "kind": "toy", "config": {"value": 1, "side_file": str(side)}},
        {"name": "b", "kind": "toy", "config": {"value": 2, "side_file": str(side)}, "after": ["a"]},
        {"name": "c", "kind": "toy", "config": {"value": 3, "fail": True, "side_file": str(side)}},
        {"name": "d", "kind": "toy", "config": {"value": 4, "side_file": str(side)}, "after": ["c"]},
        {"name": "e", "kind": "toy", "config": {"value": 5, "side_file": str(side)}},
    ]
    return toy_plan(tmp_path / "plan.yaml", jobs), side
