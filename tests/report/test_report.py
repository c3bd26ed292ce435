"""The HTML report: self-contained, parses, and renders in headless Chromium to a non-blank page."""

import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from disentkit.errors import DisentkitError
from disentkit.report.html import build_report
from disentkit.transfer.core import TransferConfig, run_transfer

FAST = {"steps": 3, "batch": 8, "eval_size": 900, "omes_pairs": 20, "classifiers": ("hgb",), "device": "cpu"}


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.srcs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.srcs.append(attrs[key])


@pytest.fixture(scope="module")
def report(tiny_source, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    transfer = root / "noisy"
    run_transfer(
        TransferConfig(source=str(tiny_source), target="noisy-dsprites", **FAST), transfer, progress=False
    )
    return build_report([tiny_source, transfer], root / "report.html")


def test_report_is_self_contained_with_tables_and_images(report):
    page = report.read_text()
    parser = _Collect()
    parser.feed(page)
    assert parser.tags.count("table") >= 1 and parser.tags.count("img") >= 8
    assert all(src.startswith("data:image/png;base64,") for src in parser.srcs)  # no network
    assert not re.search(r"https?://", page)
    for heading in (
        "Before / after",
        "association matrix",
        "OMES / OS / MES",
        "traversals",
        "curves",
        "Versions",
    ):
        assert heading in page
    assert re.search(r"\d+\.\d \([+-]\d+\.\d\)", page)  # the paper's cell format


def test_report_bad_input(tmp_path):
    with pytest.raises(DisentkitError, match="neither"):
        build_report([tmp_path], tmp_path / "r.html")
    with pytest.raises(DisentkitError, match="at least one"):
        build_report([], tmp_path / "r.html")


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; `make setup` does it as root)")
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1600",
        f"--screenshot={shot}",
        report.resolve().as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # text, tables and images, not a blank page
    assert (pixels < 128).mean() > 0.02  # a real amount of dark ink (text, black image backgrounds)


def test_report_puts_collapses_findings_and_the_source_evaluation_first(report, tiny_source, tmp_path):
    import dataclasses
    import json

    from disentkit import load_run
    from disentkit.config import load_config, save_config
    from disentkit.data import get_dataset
    from disentkit.train.config import TrainConfig
    from disentkit.transfer.evaluate import evaluate_on_dataset

    source = tmp_path / "source"
    shutil.copytree(tiny_source, source)
    config = load_config(TrainConfig, source / "config.yaml")
    save_config(dataclasses.replace(config, sparsity=16.0), source / "config.yaml")
    evaluation = evaluate_on_dataset(
        load_run(source, device="cpu"),
        get_dataset("dsprites"),
        classifiers=("hgb",),
        eval_size=600,
        n_pairs=50,
    )
    (source / "evaluation.json").write_text(json.dumps(evaluation.to_dict()))
    collapsed = tmp_path / "collapsed"
    shutil.copytree(report.parent / "noisy", collapsed)
    result = json.loads((collapsed / "transfer.json").read_text())
    result |= {"status": "collapsed", "warnings": ["posterior collapse in finetune at step 20"]}
    (collapsed / "transfer.json").write_text(json.dumps(result))
    page = build_report([source, collapsed], tmp_path / "r.html").read_text()
    assert page.index("Posterior collapse") < page.index("<h2>Findings") < page.index("Training run")
    assert "sparsity 16" in page and "Not a paper" in page
    own = page.index("Evaluation on its own data")
    assert page.index("DCI-D", own) < page.index("OMES association matrix S", own) < page.index("Config", own)
    assert page.count("holds") + page.count("does not hold") >= 2
