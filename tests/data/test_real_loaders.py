"""Loaders of real datasets' file layouts, on tiny fake files written in the same formats."""

import gzip
import struct

import numpy as np
import pytest

from disentkit.data import get_dataset
from disentkit.data.fashion_mnist import FashionMNIST, read_idx
from disentkit.errors import DisentkitError


def _write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


@pytest.fixture
def fashion_dir(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n, compress in (("train", 30, True), ("t10k", 10, False)):
        labels = np.arange(n) % 10
        images = (labels[:, None, None] * 20 + rng.integers(0, 5, (n, 28, 28))).astype(np.uint8)
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images, compress)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return tmp_path


def test_fashion_mnist_reads_idx_and_renders_by_category(fashion_dir, rng):
    ds = get_dataset("fashion-mnist", path=fashion_dir)
    assert len(ds) == 40 and ds.factor_names == ("category",) and ds.factor_sizes == (10,)
    images = ds.render(np.array([[3], [7], [7]]), rng)
    assert images.shape == (3, 64, 64, 1) and images.dtype == np.uint8
    # the category is the factor: each fake image's brightness encodes its label
    np.testing.assert_allclose(images.reshape(3, -1).mean(1), [62, 142, 142], atol=3)
    assert len(FashionMNIST(fashion_dir, split="test")) == 10
    assert read_idx(fashion_dir / "train-labels-idx1-ubyte").shape == (30,)


def test_fashion_mnist_hidden_factors_follow_rng(fashion_dir):
    ds = FashionMNIST(fashion_dir, split="train")
    f = np.zeros((20, 1), dtype=np.int64)
    a, b = ds.render(f, np.random.default_rng(1)), ds.render(f, np.random.default_rng(2))
    np.testing.assert_array_equal(a, ds.render(f, np.random.default_rng(1)))
    assert not np.array_equal(a, b)


def test_fashion_mnist_missing_and_corrupt(tmp_path, fashion_dir):
    with pytest.raises(DisentkitError, match="dataset-fashion-mnist"):
        FashionMNIST(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DisentkitError, match="not found"):
        FashionMNIST(tmp_path / "empty")
    (fashion_dir / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(DisentkitError, match="header says"):
        FashionMNIST(fashion_dir, split="test")


# ------------------------------------------------------------------------------------ COIL-100
@pytest.fixture
def coil_dir(tmp_path):
    from PIL import Image

    for obj in (1, 2):
        for angle in (0, 5, 10):
            image = np.zeros((128, 128, 3), np.uint8)
            image[40:90, 56:72] = (obj * 100, angle * 20, 50)  # an upright bar: rotation shows
            Image.fromarray(image).save(tmp_path / f"obj{obj}__{angle}.png")
    (tmp_path / "readme.txt").write_text("not an image")
    return tmp_path


def test_coil100_layout(coil_dir, rng):
    ds = get_dataset("coil100", path=coil_dir)
    assert ds.factor_sizes == (2, 3) and list(ds.factor_values("pose")) == [0, 5, 10]
    image = ds.render(np.array([[1, 2]]))[0]
    assert image.shape == (128, 128, 3) and tuple(image[60, 60]) == (200, 200, 50)


def test_coil100_augmented_rotation_scale_and_binary(coil_dir):
    ds = get_dataset("coil100-augmented", path=coil_dir)
    assert ds.factor_names == ("object", "pose", "rotation", "scale") and ds.factor_sizes == (2, 3, 18, 9)
    upright, turned, small = ds.render(np.array([[0, 0, 0, 0], [0, 0, 9, 0], [0, 0, 0, 8]]))
    mask = upright.max(2) > 0
    np.testing.assert_array_equal(turned.max(2) > 0, np.flip(mask, (0, 1)) | (turned.max(2) > 0))
    assert 0.2 < (small.max(2) > 0).sum() / mask.sum() < 0.3  # zoom 0.5: a quarter of the area
    rotated90 = ds.render(np.array([[0, 0, 4, 0]]))[0].max(2) > 0  # 80°: the bar lies nearly flat
    assert np.ptp(np.nonzero(rotated90)[1]) > np.ptp(np.nonzero(rotated90)[0])
    binary = get_dataset("coil100-augmented-binary", path=coil_dir).render(np.array([[1, 1, 3, 2]]))
    assert binary.shape == (1, 128, 128, 1) and set(np.unique(binary)) == {0, 255}


def _record_calls(monkeypatch, owner, name) -> list:
    """Replace ``owner.name`` by a wrapper that appends each call's first argument to the list returned."""
    calls, real = [], getattr(owner, name)

    def wrapper(first, *args, **kwargs):
        calls.append(first)
        return real(first, *args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def test_coil100_decodes_each_file_once(coil_dir, monkeypatch):
    from PIL import Image

    from disentkit.data import coil

    # the cache holds the whole release: a full pass over COIL-100 never evicts a file
    assert coil._read_png.cache_info().maxsize >= 100 * 72
    coil._read_png.cache_clear()
    opened = _record_calls(monkeypatch, Image, "open")
    grid = np.array([[o, p] for o in range(2) for p in range(3)])
    for _ in range(2):
        get_dataset("coil100", path=coil_dir).render(grid)
        get_dataset("coil100-augmented", path=coil_dir).render(np.c_[grid, grid])
    assert len(opened) == len(set(opened)) == 6


def test_coil100_errors(tmp_path, coil_dir):
    with pytest.raises(DisentkitError, match="path="):
        get_dataset("coil100")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DisentkitError, match="no obj"):
        get_dataset("coil100", path=tmp_path / "empty")
    (coil_dir / "obj2__10.png").unlink()
    with pytest.raises(DisentkitError, match="incomplete grid"):
        get_dataset("coil100", path=coil_dir)


def test_coil100_unreadable_image(coil_dir):
    (coil_dir / "obj1__5.png").write_bytes(b"not a png")
    ds = get_dataset("coil100", path=coil_dir)
    with pytest.raises(DisentkitError, match="cannot read image"):
        ds.render(np.array([[0, 1]]))


# ------------------------------------------------------------------------------------ RGB-D Objects
@pytest.fixture
def rgbd_dir(tmp_path):
    from PIL import Image

    for category in ("apple", "food_box"):
        for instance in (1, 2):
            folder = tmp_path / category / f"{category}_{instance}"
            folder.mkdir(parents=True)
            for video in (1, 2):
                for frame in (1, 5):
                    stem = folder / f"{category}_{instance}_{video}_{frame}"
                    crop = np.full((30, 20, 3), 40 * instance + (100 if category == "apple" else 0), np.uint8)
                    mask = np.zeros((30, 20), np.uint8)
                    mask[5:25, 4:16] = 255
                    depth = np.full((30, 20), 1000 + 10 * frame, np.uint16)
                    depth[5:15] += 200
                    Image.fromarray(crop).save(f"{stem}_crop.png")
                    Image.fromarray(mask).save(f"{stem}_maskcrop.png")
                    Image.fromarray(depth).save(f"{stem}_depthcrop.png")
    return tmp_path


def test_rgbd_layout_masks_and_pose(rgbd_dir, rng):
    ds = get_dataset("rgbd-objects", path=rgbd_dir)
    assert ds.categories == ["apple", "food_box"] and ds.factor_sizes == (2, 2) and len(ds) == 16
    assert sorted(set(map(tuple, ds.pose()))) == [(1, 1), (1, 5), (2, 1), (2, 5)]
    images = ds.render(ds.sample_factors(6, rng), rng)
    assert images.shape == (6, 64, 64, 3)
    apple = ds.render(np.array([[0, 0]]), rng)[0]
    assert apple[:, :8].max() == 0  # masked and padded: black outside the object
    assert apple[32, 32, 0] in (140, 180)  # an apple instance's colour inside


@pytest.mark.parametrize("name", ["rgbd-objects", "rgbd-objects-depth"])
def test_rgbd_decodes_each_file_once(rgbd_dir, rng, monkeypatch, name):
    from disentkit.data import rgbd

    read = _record_calls(monkeypatch, rgbd, "_read")
    ds = get_dataset(name, path=rgbd_dir)
    factors = ds.sample_factors(200, rng)
    first = ds.render(factors, np.random.default_rng(1))
    np.testing.assert_array_equal(ds.render(factors, np.random.default_rng(1)), first)
    assert len(read) == len(set(read)) == 2 * len(ds)  # every record drawn; its two files read once


def test_rgbd_depth_modality(rgbd_dir, rng):
    ds = get_dataset("rgbd-objects-depth", path=rgbd_dir)
    image = ds.render(np.array([[1, 1]]), rng)[0, :, :, 0]
    assert image.shape == (64, 64) and image[:, :8].max() == 0
    assert image[20, 32] < image[45, 32]  # the nearer (smaller depth) lower half is brighter


def test_rgbd_errors(tmp_path):
    with pytest.raises(DisentkitError, match="path="):
        get_dataset("rgbd-objects")
    with pytest.raises(DisentkitError, match="does not exist"):
        get_dataset("rgbd-objects", path=tmp_path / "nope")
    with pytest.raises(DisentkitError, match="holds no .*_crop.png"):
        get_dataset("rgbd-objects", path=tmp_path)
