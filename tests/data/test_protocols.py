"""The data protocols: which sources satisfy which, the one-line refusal, and the lazy registry."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from disentkit.data import (
    DeviceRenderedSource,
    GroundTruthSource,
    ImageSource,
    PairSource,
    SourceView,
    get_dataset,
    list_datasets,
    register,
    require_source,
)
from disentkit.data import registry as registry_module
from disentkit.data.files import FileDataset
from disentkit.data.folders import ImageFolder, LabelledFolder
from disentkit.data.preview import preview_rows
from disentkit.errors import DisentkitError
from disentkit.train.data import BatchStream

PROTOCOLS = (ImageSource, GroundTruthSource, PairSource, DeviceRenderedSource)


class Shaped:
    """Half an image source: a name and a shape, no images."""

    name = "shaped"
    observation_shape = (8, 8, 1)


def _folder(path, labelled: bool):
    lines = ["file,a"]
    for i in range(3):
        Image.new("L", (8, 8), 60 * i).save(path / f"im{i}.png")
        lines.append(f"im{i}.png,{i}")
    if labelled:
        (path / "labels.csv").write_text("\n".join(lines) + "\n")
        return LabelledFolder(path, size=8, channels=1)
    return ImageFolder(path, size=8, channels=1)


def _satisfied(source) -> list[str]:
    return [p.__name__ for p in PROTOCOLS if isinstance(source, p)]


def test_sources_satisfy_their_protocols(tmp_path):
    everything = ["ImageSource", "GroundTruthSource", "PairSource", "DeviceRenderedSource"]
    assert _satisfied(get_dataset("dsprites")) == everything
    assert _satisfied(get_dataset("realphoto")) == everything
    files = FileDataset(
        "f", tmp_path, ("a",), (2,), [np.arange(2.0)], images=np.zeros((2, 4, 4, 1), np.uint8)
    )
    assert _satisfied(files) == everything
    (tmp_path / "plain").mkdir()
    (tmp_path / "labelled").mkdir()
    assert _satisfied(_folder(tmp_path / "plain", labelled=False)) == ["ImageSource"]
    assert _satisfied(_folder(tmp_path / "labelled", labelled=True)) == everything
    assert _satisfied(Shaped()) == []


def test_require_source_names_what_is_missing_in_one_line():
    with pytest.raises(DisentkitError) as caught:
        require_source(Shaped(), GroundTruthSource, "training data")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("training data: 'shaped' lacks ")
    assert "sample_images, factor_names, factor_sizes, sample_factors, render" in message
    assert "observation_shape" not in message  # only what is missing
    assert "disentkit.data.GroundTruthSource" in message and "add them to Shaped" in message
    dataset = get_dataset("dsprites")
    assert require_source(dataset, PairSource, "training data") is dataset


def test_data_entry_points_refuse_a_source_without_images(tmp_path):
    with pytest.raises(DisentkitError, match="training data: 'shaped' lacks sample_images"):
        BatchStream(Shaped(), False, 4, 0, 1, False, "cpu")
    with pytest.raises(
        DisentkitError, match="preview: 'object' lacks name, observation_shape, sample_images"
    ):
        preview_rows(object())
    with pytest.raises(DisentkitError, match="source: 'shaped' lacks sample_images"):
        SourceView(Shaped())


def test_preview_of_an_unlabelled_source_has_no_traversals(tmp_path):
    rows = preview_rows(_folder(tmp_path, labelled=False), n_samples=10)
    assert [label for label, _ in rows] == ["samples"]


def test_a_view_has_a_factor_grid_only_where_its_source_has(tmp_path):
    dataset = get_dataset("dsprites")
    view = SourceView(dataset)
    assert view.labelled and view.factor_sizes == dataset.factor_sizes and view.name == "dsprites"
    assert _satisfied(view) == ["ImageSource", "GroundTruthSource", "PairSource"]  # no device path
    rng = np.random.default_rng(0)
    assert view.render(view.sample_factors(3, rng)).shape == (3, 64, 64, 1)
    unlabelled = SourceView(_folder(tmp_path, labelled=False))
    assert not unlabelled.labelled and _satisfied(unlabelled) == ["ImageSource"]


def test_users_register_their_own_datasets(monkeypatch):
    monkeypatch.setattr(registry_module._DATASETS, "registered", {})
    register("My_Sprites")(lambda: get_dataset("dsprites"))
    register("broken")(Shaped)
    assert {"my-sprites", "broken", "dsprites"} <= set(list_datasets())
    assert get_dataset("my-sprites").name == "dsprites"
    with pytest.raises(DisentkitError, match="dataset 'broken': 'shaped' lacks sample_images"):
        get_dataset("broken")
    with pytest.raises(DisentkitError, match="unknown dataset 'nope'; valid datasets: .*dsprites"):
        get_dataset("nope")


def test_the_registry_imports_a_dataset_module_only_when_its_name_is_asked():
    code = (
        "import json, sys\n"
        "from disentkit.data.registry import get_dataset, list_datasets\n"
        "names = list_datasets()\n"
        "def loaded(): return sorted(m for m in sys.modules if m.startswith('disentkit.data.'))\n"
        "before, torch_before = loaded(), 'torch' in sys.modules\n"
        "get_dataset('dsprites')\n"
        "print(json.dumps([len(names), before, torch_before, loaded()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, before, torch_before, after = json.loads(out)
    assert count == len(list_datasets())
    assert before == ["disentkit.data.protocols", "disentkit.data.registry"] and not torch_before
    assert "disentkit.data.dsprites" in after and "disentkit.data.shapes3d" not in after
