"""examples/quickstart.ipynb runs top to bottom on a tiny budget (DISENTKIT_NB_STEPS) in CI."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "clear the notebook's outputs"


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    # A kernel spec of this interpreter, found before any system-wide one.
    spec = tmp_path / "jupyter" / "kernels" / "disentkit-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "disentkit", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("DISENTKIT_NB_STEPS", "20")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's run folder
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="disentkit-test", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    assert time.perf_counter() - start < 60, "the notebook must stay under a minute on 2 cores"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "display_data" and "image/png" in o.get("data", {}) for o in outputs)
