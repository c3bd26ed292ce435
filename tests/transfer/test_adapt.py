"""The transfer's target views: the factor grid comes from the target, and only a labelled one has it."""

import numpy as np
import pytest
from PIL import Image

from disentkit.data import GroundTruthSource, ImageSource, PairSource, get_dataset
from disentkit.data.folders import ImageFolder
from disentkit.errors import DisentkitError
from disentkit.transfer.adapt import HeldOut, TargetAdapter


def test_adapter_of_a_labelled_target_keeps_its_grid():
    target = get_dataset("realphoto")
    adapter = TargetAdapter(target, channels=1)
    assert adapter.labelled and isinstance(adapter, PairSource) and adapter.target is target
    assert (adapter.name, adapter.factor_names, adapter.factor_sizes) == (
        target.name,
        target.factor_names,
        target.factor_sizes,
    )
    held = HeldOut(adapter, adapter.sample_factors(10, np.random.default_rng(0)))
    assert isinstance(held, GroundTruthSource) and held.factor_sizes == target.factor_sizes
    assert held.sample_images(2, np.random.default_rng(1)).shape == (2, 64, 64, 1)


def test_adapter_of_an_image_folder_has_no_grid(tmp_path):
    for i in range(3):
        Image.new("RGB", (64, 64), (80 * i, 0, 0)).save(tmp_path / f"{i}.png")
    adapter = TargetAdapter(ImageFolder(tmp_path), channels=1)
    assert not adapter.labelled and isinstance(adapter, ImageSource)
    assert not isinstance(adapter, GroundTruthSource)
    with pytest.raises(DisentkitError, match="only a labelled target"):
        HeldOut(adapter, np.zeros((1, 1), np.int64))


def test_a_target_without_images_is_refused_in_one_line():
    with pytest.raises(
        DisentkitError, match="transfer target: 'object' lacks name, observation_shape, sample_images"
    ):
        TargetAdapter(object(), channels=1)
