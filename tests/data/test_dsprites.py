"""dSprites and its variants: official grid, values, deterministic fast rendering, torch path."""

import numpy as np
import pytest
import torch

from disentkit.data import get_dataset
from disentkit.data.colors import husl_palette, husl_to_rgb
from disentkit.errors import DisentkitError

SPRITES = ["dsprites", "color-dsprites", "noisy-dsprites", "noisy-color-dsprites"]


def test_official_grid_and_values():
    ds = get_dataset("dsprites")
    assert ds.factor_sizes == (3, 6, 40, 32, 32) and len(ds) == 737_280
    assert ds.observation_shape == (64, 64, 1)
    np.testing.assert_allclose(ds.factor_values("scale"), [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    orient = ds.factor_values("orientation")
    assert len(orient) == 40 and orient[0] == 0 and orient[-1] == pytest.approx(2 * np.pi)
    np.testing.assert_allclose(ds.factor_values("pos_x")[[0, -1]], [0, 1])
    color = get_dataset("color-dsprites")
    assert color.factor_names[0] == "color" and len(color) == 7 * 737_280
    assert color.observation_shape == (64, 64, 3)


def test_binary_and_positions_span_the_frame():
    ds = get_dataset("dsprites")
    f = np.array([[0, 5, 0, 0, 0], [0, 5, 0, 31, 31]])
    img = ds.render(f)[..., 0]
    assert set(np.unique(img)) <= {0, 255}
    for im, (lo, hi) in zip(img, [(0, 20), (44, 64)], strict=True):
        ys, xs = np.nonzero(im)
        centre = ((ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2)
        assert lo <= centre[0] < hi and lo <= centre[1] < hi


def test_scale_grows_area_and_shapes_differ():
    ds = get_dataset("dsprites")
    areas = [(ds.render([[2, s, 0, 16, 16]]) > 0).sum() for s in range(6)]
    assert np.all(np.diff(areas) > 0)
    shapes = ds.render([[s, 5, 0, 16, 16] for s in range(3)])
    assert len({im.tobytes() for im in shapes}) == 3
    # orientation 0 and 2π are the same angle, as in the official file
    np.testing.assert_array_equal(ds.render([[2, 5, 0, 16, 16]]), ds.render([[2, 5, 39, 16, 16]]))


@pytest.mark.parametrize("name", SPRITES)
def test_render_deterministic_for_a_seed(name):
    ds = get_dataset(name)
    f = ds.sample_factors(32, np.random.default_rng(1))
    a = ds.render(f, np.random.default_rng(7))
    b = ds.render(f, np.random.default_rng(7))
    assert a.dtype == np.uint8 and a.shape == (32, *ds.observation_shape)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ds.render(f), ds.render(f))  # rng=None: a fixed seed


def test_noise_is_fresh_per_image_and_under_the_sprite_saturated():
    ds = get_dataset("noisy-dsprites")
    f = np.repeat([[2, 5, 0, 16, 16]], 2, axis=0)
    img = ds.render(f, np.random.default_rng(0))
    assert not np.array_equal(img[0], img[1])
    mask = get_dataset("dsprites").render(f[:1])[0, ..., 0] > 0
    assert (img[:, mask] == 255).all() and img[:, ~mask].std() > 50


@pytest.mark.parametrize("name", ["dsprites", "color-dsprites"])
def test_torch_path_equals_numpy(name):
    ds = get_dataset(name)
    f = ds.sample_factors(200, np.random.default_rng(3))
    ref = ds.render_float(f).transpose(0, 3, 1, 2)
    for out in (ds.render_torch(torch.from_numpy(f)), ds.render_device(torch.from_numpy(f), None, "cpu")):
        assert out.dtype == torch.float32 and tuple(out.shape) == ref.shape
        np.testing.assert_array_equal(out.numpy(), ref)


@pytest.mark.parametrize("path", ["render_torch", "render_device"])
def test_torch_noisy_sprite_pixels_match_and_noise_follows_generator(path):
    ds = get_dataset("noisy-color-dsprites")
    f = torch.from_numpy(ds.sample_factors(8, np.random.default_rng(3)))
    render = getattr(ds, path)
    a = render(f, torch.Generator().manual_seed(1), "cpu")
    b = render(f, torch.Generator().manual_seed(1), "cpu")
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, render(f, torch.Generator().manual_seed(2), "cpu"))
    mask = torch.from_numpy(get_dataset("dsprites").render(f[:, 1:].numpy())[..., 0] > 0)
    ref = torch.from_numpy(ds.render_float(f.numpy())).permute(0, 3, 1, 2)
    sel = mask[:, None].expand_as(a)
    torch.testing.assert_close(a[sel], ref[sel])


def test_out_of_range_factor_is_a_clear_error():
    ds = get_dataset("dsprites")
    with pytest.raises(DisentkitError, match="scale"):
        ds.render([[0, 6, 0, 0, 0]])
    with pytest.raises(DisentkitError, match="scale"):
        ds.render_torch(torch.tensor([[0, 6, 0, 0, 0]]))
    with pytest.raises(DisentkitError, match="scale"):
        ds.render_device(torch.tensor([[0, 6, 0, 0, 0]]), None, "cpu")


def test_husl_palette_white_plus_six_distinct_hues():
    pal = husl_palette(6, s=0.7, l=0.7, white=True)
    assert pal.shape == (7, 3) and (pal[0] == 255).all()
    assert len({tuple(c) for c in pal}) == 7
    # HSLuv reference values (hsluv.org): hue 0, saturation 100, lightness 50 is #ea0064
    np.testing.assert_array_equal(np.rint(husl_to_rgb(0, 100, 50) * 255), [0xEA, 0x00, 0x64])
