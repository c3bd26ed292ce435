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
