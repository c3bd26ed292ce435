"""The real-photo dataset: exact rendering from factors, visible rotation, binary variant."""

import numpy as np
import pytest
import torch

from disentkit.data import get_dataset
from disentkit.data.realphoto import RealPhoto, binarize
from disentkit.errors import DisentkitError


@pytest.fixture(scope="module")
def ds():
    return get_dataset("realphoto")


def _centred(ds, obj, rotation=0, scale=0):
    return np.array([[obj, rotation, scale, 2, 2]])


def test_factors_and_shape(ds, rng):
    assert ds.factor_names == ("object", "rotation", "scale", "pos_x", "pos_y")
    assert ds.factor_sizes == (8, 18, 9, 5, 5)
    images = ds.render(ds.sample_factors(5, rng))
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    np.testing.assert_allclose(ds.factor_values("rotation")[[0, -1]], [0, 340])
    np.testing.assert_allclose(ds.factor_values("scale")[[0, -1]], [1.0, 0.5])


def test_render_is_a_pure_function_of_factors(ds, rng):
    factors = ds.sample_factors(6, rng)
    first = ds.render(factors, np.random.default_rng(1))
    again = ds.render(factors[::-1], np.random.default_rng(2))[::-1]
    np.testing.assert_array_equal(first, again)
    on_torch = ds.render_torch(torch.from_numpy(factors))
    np.testing.assert_allclose(on_torch.permute(0, 2, 3, 1).numpy() * 255, first, atol=1)


def test_every_object_changes_with_rotation(ds):
    # Rotation must be visible for every object (no rotation-symmetric cut-outs).
    for obj in range(ds.factor_sizes[0]):
        upright = ds.render(_centred(ds, obj, 0)).astype(float)
        turned = ds.render(_centred(ds, obj, 4)).astype(float)  # 80°
        assert np.abs(upright - turned).mean() > 3.0, obj


def test_scale_and_position_move_the_object(ds):
    big = ds.render(_centred(ds, 0, 0, 0))[0].max(axis=2) > 0
    small = ds.render(_centred(ds, 0, 0, 8))[0].max(axis=2) > 0
    assert 0.15 < small.sum() / big.sum() < 0.4  # area ∝ zoom² = 0.25
    left = ds.render(np.array([[0, 0, 4, 0, 2]]))[0].max(axis=2) > 0
    right = ds.render(np.array([[0, 0, 4, 4, 2]]))[0].max(axis=2) > 0
    cols = np.arange(64)
    assert (cols * right.sum(0)).sum() / right.sum() - (cols * left.sum(0)).sum() / left.sum() > 10


def test_object_stays_inside_the_frame(ds):
    # Largest object, every rotation, extreme offset: nothing touches the border.
    factors = np.array([[o, r, 0, 4, 0] for o in range(8) for r in range(0, 18, 3)])
    images = ds.render(factors)
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.max() < 40


def test_binary_variant(rng):
    ds = get_dataset("realphoto-binary")
    images = ds.render(ds.sample_factors(8, rng))
    assert images.shape == (8, 64, 64, 1)
    assert set(np.unique(images)) <= {0, 255}
    assert (images > 0).mean() > 0.005


def test_binarize_recovers_a_disc():
    yy, xx = np.mgrid[:32, :32]
    disc = ((yy - 16) ** 2 + (xx - 16) ** 2 < 64) * 200
    noisy = disc + np.random.default_rng(0).integers(0, 30, disc.shape)
    out = binarize(noisy.astype(np.uint8)[None, :, :, None])[0, :, :, 0] > 0
    assert (out == (disc > 0)).mean() > 0.97


def test_backgrounds_and_resolution():
    ds = RealPhoto(resolution=128, backgrounds=3)
    assert ds.factor_names[-1] == "background" and ds.observation_shape == (128, 128, 3)
    black, grass = ds.render(np.array([[1, 0, 8, 2, 2, 0], [1, 0, 8, 2, 2, 1]]))
    assert black[:8, :8].max() == 0 and grass[:8, :8].std() > 10


@pytest.mark.parametrize(
    "kwargs", [{"resolution": 32}, {"backgrounds": 0}, {"binary": True, "backgrounds": 2}]
)
def test_bad_options(kwargs):
    with pytest.raises(DisentkitError):
        RealPhoto(**kwargs)
