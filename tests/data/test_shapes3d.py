"""Shapes3D: the official grid and values, a recognisable scene, torch path equal to numpy."""

import numpy as np
import pytest
import torch

from disentkit.data import get_dataset, shapes3d
from disentkit.data.shapes3d import FLOOR, OBJECT, WALL, scene_bank


def test_official_grid_and_values():
    ds = get_dataset("shapes3d")
    assert ds.factor_sizes == (10, 10, 10, 8, 4, 15) and len(ds) == 480_000
    assert ds.observation_shape == (64, 64, 3)
    np.testing.assert_allclose(ds.factor_values("floor_hue"), np.arange(10) / 10)
    np.testing.assert_allclose(ds.factor_values("scale")[[0, -1]], [0.75, 1.25])
    np.testing.assert_allclose(ds.factor_values("orientation")[[0, 7, -1]], [-30, 0, 30])


def test_scene_layout_floor_below_wall_object_in_the_middle():
    bank = scene_bank()
    weights = bank[(7 * 4 + 0) * 15 + 7].reshape(3, 64, 64).astype(int)  # large cube, azimuth 0
    label = weights.argmax(0)
    assert (label[:8] == WALL).all() and (label[-8:] == FLOOR).all()
    ys, xs = np.nonzero(label == OBJECT)
    assert 24 <= xs.mean() <= 40 and 20 <= ys.mean() <= 48  # the object stands in the middle
    assert (weights.sum(0) <= 255).all()


def test_hues_colour_only_their_surface():
    ds = get_dataset("shapes3d")
    base = np.array([0, 3, 6, 7, 2, 7])
    label = scene_bank()[(7 * 4 + 2) * 15 + 7].reshape(3, 64, 64).argmax(0)
    for k, surface in enumerate([FLOOR, WALL, OBJECT]):
        other = base.copy()
        other[k] = 8
        diff = (ds.render(base) != ds.render(other))[0].any(-1)
        assert diff[label == surface].mean() > 0.9
        assert diff[label != surface].mean() < 0.1  # only mixed edge pixels of the others


def test_torch_path_equals_numpy():
    ds = get_dataset("shapes3d")
    f = ds.sample_factors(300, np.random.default_rng(5))
    ref = torch.from_numpy(ds.render_float(f)).permute(0, 3, 1, 2)
    for out in (ds.render_torch(torch.from_numpy(f)), ds.render_device(torch.from_numpy(f), None, "cpu")):
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref, rtol=0, atol=0)


@pytest.mark.slow
def test_bank_disk_cache_rebuilds_a_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTKIT_CACHE", str(tmp_path))
    reference = shapes3d.scene_bank()
    shapes3d.scene_bank.cache_clear()
    try:
        shapes3d._cache_file().write_bytes(b"not an npy file")
        rebuilt = shapes3d.scene_bank()
        np.testing.assert_array_equal(rebuilt, reference)
        np.testing.assert_array_equal(np.load(shapes3d._cache_file()), reference)
    finally:
        shapes3d.scene_bank.cache_clear()
