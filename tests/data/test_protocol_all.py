"""Properties every built-in procedural dataset must have: traversals, pairs, determinism."""

import numpy as np
import pytest
import torch

from disentkit.data import get_dataset, list_datasets

PROCEDURAL = ["dsprites", "color-dsprites", "noisy-dsprites", "noisy-color-dsprites", "shapes3d"]


def test_all_builtins_registered():
    assert set(PROCEDURAL) <= set(list_datasets())


def _base(ds):
    """A factor vector away from symmetric cases (heart, mid values) to traverse from."""
    base = np.array(ds.factor_sizes) // 2
    if "shape" in ds.factor_names and "dsprites" in ds.name:
        base[ds.factor_index("shape")] = 2  # the heart has no rotational symmetry
    if "orientation" in ds.factor_names and "dsprites" in ds.name:
        base[ds.factor_index("orientation")] = 5
    return base


@pytest.mark.parametrize("name", PROCEDURAL)
def test_each_factor_traversal_changes_the_image_and_only_that(name):
    ds = get_dataset(name)
    base = _base(ds)
    for k, size in enumerate(ds.factor_sizes):
        traversal = np.repeat(base[None], size, axis=0)
        traversal[:, k] = np.arange(size)
        # the same noise for both batches: any difference comes from the factors alone
        moved = ds.render(traversal, np.random.default_rng(9))
        still = ds.render(np.repeat(base[None], size, axis=0), np.random.default_rng(9))
        differs = (moved != still).reshape(size, -1).any(1)
        same_angle = np.isclose(ds.factor_values(k) % (2 * np.pi), ds.factor_values(k)[base[k]] % (2 * np.pi))
        expected = np.arange(size) != base[k]
        if ds.factor_names[k] == "orientation" and "dsprites" in name:
            expected &= ~same_angle  # 0 and 2π are one angle
        np.testing.assert_array_equal(differs, expected, err_msg=f"{name}: factor {ds.factor_names[k]}")


@pytest.mark.parametrize("name", PROCEDURAL)
@pytest.mark.parametrize("k", [1, 2, "random"])
def test_pairs_differ_exactly_in_the_changed_factors(name, k):
    ds = get_dataset(name)
    pairs = ds.sample_pairs(64, k, np.random.default_rng(4))
    np.testing.assert_array_equal(pairs.factors1 != pairs.factors2, pairs.changed)
    assert pairs.x1.shape == (64, *ds.observation_shape) and pairs.x1.dtype == np.uint8
    if k != "random":
        assert (pairs.changed.sum(1) == k).all()
    # re-rendering the factors gives the same sprite content (noise-free variants: same pixels)
    if "noisy" not in name:
        np.testing.assert_array_equal(pairs.x2, ds.render(pairs.factors2))


@pytest.mark.parametrize("name", PROCEDURAL)
def test_same_seed_same_pairs(name):
    ds = get_dataset(name)
    a = ds.sample_pairs(16, 1, np.random.default_rng(2))
    b = ds.sample_pairs(16, 1, np.random.default_rng(2))
    np.testing.assert_array_equal(a.x1, b.x1)
    np.testing.assert_array_equal(a.x2, b.x2)
    np.testing.assert_array_equal(a.changed, b.changed)


def test_torch_pairs_on_cpu_device():
    ds = get_dataset("dsprites")
    pairs = ds.sample_pairs(32, 1, np.random.default_rng(0), device="cpu")
    np.testing.assert_array_equal(pairs.x1.numpy()[:, 0] * 255, ds.render(pairs.factors1)[..., 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["dsprites", "color-dsprites", "shapes3d"])
def test_cuda_path_equals_numpy(name):
    ds = get_dataset(name)
    f = ds.sample_factors(500, np.random.default_rng(1))
    out = ds.render_torch(torch.from_numpy(f).cuda())
    assert out.device.type == "cuda"
    ref = torch.from_numpy(ds.render_float(f)).permute(0, 3, 1, 2)
    torch.testing.assert_close(out.cpu(), ref, rtol=0, atol=0)
