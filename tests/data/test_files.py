"""Loaders of the official files, on tiny files written in the same formats, and bad input."""

import hashlib

import h5py
import numpy as np
import pytest

from disentkit.data import get_dataset
from disentkit.data.files import DSPRITES_FILE, SHAPES3D_FILE
from disentkit.errors import DisentkitError

DS_SIZES = (1, 3, 2, 2, 2, 2)  # colour, shape, scale, orientation, x, y: a tiny complete grid
S3_SIZES = (2, 2, 2, 2, 2, 3)
MPI_SIZES = (1, 2, 1, 1, 1, 2, 2)


def _grid(sizes):
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def write_dsprites(directory, rng, **override):
    classes = _grid(DS_SIZES)
    arrays = {
        "imgs": rng.integers(0, 2, (len(classes), 64, 64), dtype=np.uint8),
        "latents_classes": classes,
        "latents_values": classes * 0.25 + 1,
    }
    arrays.update(override)
    np.savez_compressed(directory / DSPRITES_FILE, **arrays)
    return arrays


def write_shapes3d(directory, rng, images=None, labels=None):
    classes = _grid(S3_SIZES)
    labels = classes * 0.1 if labels is None else labels
    images = rng.integers(0, 256, (len(classes), 64, 64, 3), dtype=np.uint8) if images is None else images
    with h5py.File(directory / SHAPES3D_FILE, "w") as h5:
        h5["images"] = images
        h5["labels"] = labels
    return images, labels


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dsprites_file_grid_values_and_images(tmp_path, rng):
    arrays = write_dsprites(tmp_path, rng)
    before = digest(tmp_path / DSPRITES_FILE)
    ds = get_dataset("dsprites-file", data_dir=tmp_path)
    assert ds.factor_sizes == DS_SIZES[1:] and ds.observation_shape == (64, 64, 1)
    np.testing.assert_allclose(ds.factor_values("shape"), [1.0, 1.25, 1.5])
    f = ds.sample_factors(10, rng)
    index = np.ravel_multi_index((np.zeros(10, int), *f.T), DS_SIZES)
    np.testing.assert_array_equal(ds.render(f)[..., 0], arrays["imgs"][index] * 255)
    assert digest(tmp_path / DSPRITES_FILE) == before  # the user's file is untouched
    with pytest.raises(DisentkitError, match="out of range"):
        ds.render([[3, 0, 0, 0, 0]])


def test_data_dir_from_environment(tmp_path, rng, monkeypatch):
    write_dsprites(tmp_path, rng)
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    assert len(get_dataset("dsprites-file")) == 48


def test_missing_file_names_it_and_says_where_to_get_and_put_it(tmp_path):
    with pytest.raises(DisentkitError) as err:
        get_dataset("dsprites-file", data_dir=tmp_path)
    msg = str(err.value)
    assert DSPRITES_FILE in msg and "deepmind/dsprites-dataset" in msg and str(tmp_path) in msg
    for name, source in [("shapes3d-file", "deepmind/3d-shapes"), ("mpi3d-file", "rr-learning")]:
        with pytest.raises(DisentkitError, match=source):
            get_dataset(name, data_dir=tmp_path)


def test_corrupt_files_are_clear_errors(tmp_path):
    (tmp_path / DSPRITES_FILE).write_bytes(b"PK\x03\x04 this is not a zip")
    (tmp_path / SHAPES3D_FILE).write_bytes(b"\x89HDF garbage")
    with pytest.raises(DisentkitError, match="corrupt"):
        get_dataset("dsprites-file", data_dir=tmp_path)
    with pytest.raises(DisentkitError, match="corrupt"):
        get_dataset("shapes3d-file", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"imgs": np.zeros((48, 32, 32), np.uint8)}, "shape"),
        ({"imgs": np.zeros((48, 64, 64), np.float32)}, "dtype"),
        ({"latents_classes": _grid(DS_SIZES)[::-1]}, "grid"),
        ({"latents_values": np.zeros((48, 5))}, "shape"),
    ],
)
def test_dsprites_bad_arrays(tmp_path, rng, override, match):
    write_dsprites(tmp_path, rng, **override)
    with pytest.raises(DisentkitError, match=match):
        get_dataset("dsprites-file", data_dir=tmp_path)


def test_dsprites_missing_key(tmp_path):
    np.savez(tmp_path / DSPRITES_FILE, imgs=np.zeros((1, 64, 64), np.uint8))
    with pytest.raises(DisentkitError, match="latents_classes"):
        get_dataset("dsprites-file", data_dir=tmp_path)


def test_shapes3d_file_labels_become_classes(tmp_path, rng):
    images, labels = write_shapes3d(tmp_path, rng)
    before = digest(tmp_path / SHAPES3D_FILE)
    ds = get_dataset("shapes3d-file", data_dir=tmp_path)
    assert ds.factor_sizes == S3_SIZES and ds.observation_shape == (64, 64, 3)
    np.testing.assert_allclose(ds.factor_values("orientation"), [0, 0.1, 0.2])
    f = np.array([[1, 0, 1, 0, 1, 2], [0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 2]])  # repeats, unsorted
    np.testing.assert_array_equal(ds.render(f), images[ds.factors_to_index(f)])
    assert digest(tmp_path / SHAPES3D_FILE) == before


def test_shapes3d_wrong_dtype_and_incomplete_grid(tmp_path, rng):
    n = int(np.prod(S3_SIZES))
    write_shapes3d(tmp_path, rng, images=np.zeros((n, 64, 64, 3), np.float32))
    with pytest.raises(DisentkitError, match="uint8"):
        get_dataset("shapes3d-file", data_dir=tmp_path)
    write_shapes3d(tmp_path, rng, labels=_grid(S3_SIZES)[::-1] * 0.1)
    with pytest.raises(DisentkitError, match="grid"):
        get_dataset("shapes3d-file", data_dir=tmp_path)


def test_mpi3d_file_with_a_tiny_grid(tmp_path, rng):
    images = rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    np.savez(tmp_path / "mpi3d_toy.npz", images=images)
    ds = get_dataset("mpi3d-file", data_dir=tmp_path, factor_sizes=MPI_SIZES)
    assert ds.factor_sizes == MPI_SIZES and ds.num_factors == 7
    np.testing.assert_array_equal(ds.render([[0, 1, 0, 0, 0, 1, 0]])[0], images[6])
    with pytest.raises(DisentkitError, match="1036800"):
        get_dataset("mpi3d-file", data_dir=tmp_path)  # the official grid needs all images
    with pytest.raises(DisentkitError, match="variant"):
        get_dataset("mpi3d-file", data_dir=tmp_path, variant="nope")


def test_unknown_name_lists_valid_names():
    with pytest.raises(DisentkitError, match="dsprites.*shapes3d"):
        get_dataset("dspritez")
