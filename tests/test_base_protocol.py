"""The dataset protocol on a tiny grid: factors, indices, weak pairs."""

import numpy as np
import pytest

from disentkit.config import from_dict, load_config, save_config
from disentkit.data.base import GroundTruthDataset
from disentkit.errors import DisentkitError


class Bars(GroundTruthDataset):
    """Factor k sets the brightness of bar k; a constant factor of one value at the end."""

    name = "bars"
    factor_names = ("a", "b", "c", "const")
    factor_sizes = (3, 4, 5, 1)
    observation_shape = (4, 4, 1)

    def render(self, factors, rng=None):
        f = self.validate_factors(factors)
        img = np.zeros((len(f), 4, 4, 1), np.uint8)
        for k in range(3):
            img[:, k, :, 0] = (f[:, k, None] * 50).astype(np.uint8)
        return img


def test_grid_and_index_roundtrip(rng):
    ds = Bars()
    assert len(ds) == 60
    f = ds.sample_factors(100, rng)
    assert f.shape == (100, 4) and (f < np.array(ds.factor_sizes)).all()
    np.testing.assert_array_equal(ds.index_to_factors(ds.factors_to_index(f)), f)
    assert ds.factors_to_index([0, 0, 1, 0])[0] == 1  # row-major, last factor fastest


@pytest.mark.parametrize("k", [1, 2, 3, "random"])
def test_pairs_differ_exactly_where_they_say(k, rng):
    ds = Bars()
    pairs = ds.sample_pairs(500, k, rng)
    changed = pairs.factors1 != pairs.factors2
    np.testing.assert_array_equal(changed, pairs.changed)  # new values always differ by default
    assert not pairs.changed[:, 3].any()  # the single-valued factor is never changed
    counts = pairs.changed.sum(1)
    if k == "random":
        assert counts.min() == 1 and counts.max() <= 2  # K=3 variable → k' in 1..2
    else:
        assert (counts == k).all()
    # the images differ exactly in the bars of the changed factors
    img_diff = (pairs.x1 != pairs.x2)[..., 0].any(axis=2)[:, :3]
    np.testing.assert_array_equal(img_diff, pairs.changed[:, :3])


def test_allow_equal_lets_values_coincide(rng):
    ds = Bars()
    f1, f2, changed = ds.sample_factor_pairs(2000, 1, rng, allow_equal=True)
    same = (f1 == f2) & changed
    assert same.any()  # about 1/4 of the changes coincide on a 3..5-valued factor


def test_pairs_same_seed_same_numbers():
    a = Bars().sample_pairs(50, "random", np.random.default_rng(3))
    b = Bars().sample_pairs(50, "random", np.random.default_rng(3))
    np.testing.assert_array_equal(a.factors2, b.factors2)
    np.testing.assert_array_equal(a.x2, b.x2)


def test_bad_factors_are_clear_errors():
    ds = Bars()
    with pytest.raises(DisentkitError, match="out of range"):
        ds.render([[0, 9, 0, 0]])
    with pytest.raises(DisentkitError, match="shape"):
        ds.render(np.zeros((2, 3), int))
    with pytest.raises(DisentkitError, match="k must be"):
        ds.sample_pairs(2, 4, np.random.default_rng(0))


def test_torch_path_matches_numpy(rng):
    import torch

    ds = Bars()
    f = ds.sample_factors(8, rng)
    t = ds.render_torch(torch.from_numpy(f))
    np.testing.assert_allclose(t.permute(0, 2, 3, 1).numpy(), ds.render_float(f), atol=1e-6)


def test_config_roundtrip(tmp_path):
    from dataclasses import dataclass, field

    @dataclass
    class Inner:
        sizes: tuple[int, ...] = (1, 2)

    @dataclass
    class Outer:
        name: str = "x"
        lr: float = 1e-4
        k: int | str = "random"
        inner: Inner = field(default_factory=Inner)

    cfg = Outer(name="y", k=2, inner=Inner((3, 4)))
    for suffix in (".yaml", ".json"):
        path = save_config(cfg, tmp_path / f"c{suffix}")
        assert load_config(Outer, path) == cfg
    with pytest.raises(DisentkitError, match="unknown key"):
        from_dict(Outer, {"nme": "typo"})
