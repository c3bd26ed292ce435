"""The documentation builds with warnings as errors (`make docs`), as CI runs it in `make test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(tmp_path)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    training = (tmp_path / "training" / "index.html").read_text(encoding="utf-8")
    assert "<!-- options:" not in training  # the hook replaced the marker with the generated table
    assert (tmp_path / "api" / "train" / "index.html").exists()
    assert (tmp_path / "index.html").exists()  # README.md as the home page


def _hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_options_marker_that_does_not_resolve_stops_the_build():
    hooks = _hooks()
    with pytest.raises(PluginError, match="no_such_module"):
        hooks.render_options("<!-- options: disentkit.no_such_module:Config -->\n", "page.md")
    with pytest.raises(PluginError, match="malformed"):
        hooks.render_options("text <!-- options: disentkit.train.config:TrainConfig -->\n", "page.md")
    assert hooks.render_options("no marker here\n") == "no marker here\n"
