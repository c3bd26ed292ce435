"""Cars3D and SmallNORB loaders on tiny files written in the official formats, and bad files."""

import numpy as np
import pytest
import scipy.io

from disentkit.cli import main
from disentkit.data import get_dataset
from disentkit.data.study_files import NORB_CHUNKS, NORB_FILES
from disentkit.errors import DisentkitError

UBYTE, INT32 = 507333717, 507333716


def cli(args):
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


# ---------------------------------------------------------------------------- Cars3D
def car_views(car: int, side: int = 8) -> np.ndarray:
    """An official-layout ``im`` (side, side, 3, 24 azimuths, 4 elevations): every view is one flat
    colour that encodes (elevation, azimuth, car), so a resized view keeps it exactly."""
    im = np.zeros((side, side, 3, 24, 4), np.uint8)
    for elevation in range(4):
        for azimuth in range(24):
            im[:, :, :, azimuth, elevation] = (elevation * 24 + azimuth, 100 + car, 7)
    return im


def write_cars(root, cars=2, **override):
    folder = root / "cars"
    folder.mkdir(parents=True, exist_ok=True)
    for car in range(cars):
        scipy.io.savemat(folder / f"car_{car + 1:03d}_mesh.mat", {"im": car_views(car), **override})
    return folder


def test_cars3d_factors_follow_disentanglement_lib_and_views_land_where_they_belong(tmp_path, rng):
    write_cars(tmp_path, cars=3)
    ds = get_dataset("cars3d-file", data_dir=tmp_path)
    assert ds.factor_names == ("elevation", "azimuth", "object_type")
    assert ds.factor_sizes == (4, 24, 3) and ds.observation_shape == (64, 64, 3) and len(ds) == 288
    factors = ds.sample_factors(40, rng)
    images = ds.render(factors)
    assert images.shape == (40, 64, 64, 3) and images.dtype == np.uint8
    # every pixel of a view carries its (elevation, azimuth, car)
    expected = np.stack([factors[:, 0] * 24 + factors[:, 1], 100 + factors[:, 2], np.full(40, 7)], axis=1)
    np.testing.assert_array_equal(images, np.broadcast_to(expected[:, None, None, :], images.shape))
    assert get_dataset("cars3d-file", path=tmp_path / "cars").factor_sizes == (4, 24, 3)


def test_cars3d_bad_folders_and_files_get_one_clear_line(tmp_path):
    with pytest.raises(DisentkitError, match=r"folder .*cars not found.*car_001_mesh\.mat"):
        get_dataset("cars3d-file", data_dir=tmp_path)
    (tmp_path / "cars").mkdir()
    with pytest.raises(DisentkitError, match="no .mat files"):
        get_dataset("cars3d-file", data_dir=tmp_path)
    folder = write_cars(tmp_path, cars=2)
    first = folder / "car_001_mesh.mat"
    payload = first.read_bytes()
    first.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DisentkitError, match="car_001_mesh.mat: cannot read it as a .mat file") as err:
        get_dataset("cars3d-file", data_dir=tmp_path)
    assert "\n" not in str(err.value)
    scipy.io.savemat(first, {"im": car_views(0)[..., :3]})
    with pytest.raises(DisentkitError, match=r"'im' is uint8 \(8, 8, 3, 24, 3\), expected uint8"):
        get_dataset("cars3d-file", data_dir=tmp_path)
    scipy.io.savemat(first, {"images": car_views(0)})
    with pytest.raises(DisentkitError, match="no 'im' array"):
        get_dataset("cars3d-file", data_dir=tmp_path)
    # a bad file after the first is found when the images are first read, named as well
    scipy.io.savemat(first, {"im": car_views(0)})
    scipy.io.savemat(folder / "car_002_mesh.mat", {"im": car_views(1).astype(np.float64)})
    ds = get_dataset("cars3d-file", data_dir=tmp_path)
    with pytest.raises(DisentkitError, match="car_002_mesh.mat: 'im' is float64"):
        ds.render([[0, 0, 0]])


# ---------------------------------------------------------------------------- SmallNORB
def norb_bytes(magic: int, array: np.ndarray) -> bytes:
    """The NORB binary matrix format: magic, ndim, max(3, ndim) dims (padded with 1), data, little-endian."""
    dims = list(array.shape) + [1] * (3 - array.ndim)
    header = np.array([magic, array.ndim, *dims], "<i4").tobytes()
    return header + np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def norb_code(c, inst, e, a, li):
    return ((c * 2 + inst) * 2 + e) * 4 + a * 2 + li


def write_norb(root, side=96):
    """Two categories, instance 1 in training and 0 in testing (the official split's shape),
    2 elevations, azimuths 0 and 2, 2 lightings; camera 0 shows 5·code, camera 1 is white."""
    folder = root / "small_norb"
    folder.mkdir(parents=True, exist_ok=True)
    for chunk, instance in zip(NORB_CHUNKS, (1, 0), strict=True):
        rows = [
            (c, instance, e, a, li) for c in range(2) for e in range(2) for a in (0, 2) for li in range(2)
        ]
        rows = rows[::-1]  # the files need not be in grid order
        dat = np.full((len(rows), 2, side, side), 255, np.uint8)
        for i, (c, inst, e, a, li) in enumerate(rows):
            dat[i, 0] = 5 * norb_code(c, inst, e, a // 2, li)
        cat = np.array([r[0] for r in rows], np.int32)
        info = np.array([r[1:] for r in rows], np.int32)
        for part, magic, array in (("dat", UBYTE, dat), ("cat", INT32, cat), ("info", INT32, info)):
            (folder / f"smallnorb-{chunk}-{part}.mat").write_bytes(norb_bytes(magic, array))
    return folder


def test_smallnorb_factors_camera_and_instance_drawn_from_the_generator(tmp_path, rng):
    write_norb(tmp_path)
    ds = get_dataset("smallnorb-file", data_dir=tmp_path)
    assert ds.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert ds.factor_sizes == (2, 2, 2, 2) and ds.instances == 2 and ds.observation_shape == (64, 64, 1)
    factors = ds.sample_factors(64, rng)
    images = ds.render(factors, np.random.default_rng(3))
    assert images.shape == (64, 64, 64, 1) and (images == images[:, :1, :1]).all()  # flat views, camera 0
    codes = images[:, 0, 0, 0].astype(int) // 5
    instance = (codes // 8) % 2
    c, e, a, li = factors.T
    np.testing.assert_array_equal(codes, [norb_code(*row) for row in zip(c, instance, e, a, li, strict=True)])
    assert set(instance) == {0, 1}  # both instances are drawn
    np.testing.assert_array_equal(ds.render(factors), ds.render(factors))  # rng None: fixed
    again = ds.render(factors, np.random.default_rng(3))
    np.testing.assert_array_equal(again, images)


def test_smallnorb_bad_files_get_one_clear_line(tmp_path):
    with pytest.raises(DisentkitError, match="6 of its 6 files missing") as err:
        get_dataset("smallnorb-file", data_dir=tmp_path)
    assert all(name in str(err.value) for name in NORB_FILES) and "\n" not in str(err.value)
    folder = write_norb(tmp_path)
    dat, cat, info = (folder / f"smallnorb-{NORB_CHUNKS[0]}-{part}.mat" for part in ("dat", "cat", "info"))
    good = {path: path.read_bytes() for path in (dat, cat, info)}

    def refused(path, payload, message):
        path.write_bytes(payload)
        with pytest.raises(DisentkitError, match=message) as err:
            get_dataset("smallnorb-file", data_dir=tmp_path)
        assert "\n" not in str(err.value)
        path.write_bytes(good[path])

    refused(dat, good[dat][:-100], r"-dat.mat: truncated \(\d+ bytes, its header \(16, 2, 96, 96\) needs")
    refused(cat, good[cat][:6], "truncated")
    refused(info, np.int32(1234).tobytes() + good[info][4:], "wrong magic number 1234")
    as_bytes = norb_bytes(UBYTE, np.frombuffer(good[cat][20:], "<i4").astype(np.uint8))
    refused(cat, as_bytes, "holds uint8 values, expected int32")
    info_3 = norb_bytes(INT32, np.zeros((16, 3), np.int32))
    refused(info, info_3, r"shape \(16, 3\), expected \(16, 4\)")
    refused(cat, good[cat] + b"\0\0\0\0", "4 bytes beyond")
    doubled = np.frombuffer(good[info][20:], "<i4").reshape(16, 4).copy()
    doubled[1] = doubled[0]
    refused(info, norb_bytes(INT32, doubled), "combination of .* exactly once")
    huge = doubled.copy()
    huge[1] = (10**8, 0, 0, 0)  # a corrupt instance number: refused before any grid is allocated
    refused(info, norb_bytes(INT32, huge), "exactly once")
    odd = np.frombuffer(good[info][20:], "<i4").reshape(16, 4).copy()
    odd[0, 2] = 1
    refused(info, norb_bytes(INT32, odd), "azimuths must be even")
    (folder / NORB_FILES[4]).unlink()
    with pytest.raises(DisentkitError, match=f"1 of its 6 files missing .*first: {NORB_FILES[4]}"):
        get_dataset("smallnorb-file", data_dir=tmp_path)


def test_data_list_names_the_files_to_provide_and_lists_present_ones(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert cli(["data", "list", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in NORB_FILES) and "car_001_mesh.mat" in text
    write_cars(tmp_path, cars=2)
    write_norb(tmp_path)
    assert cli(["data", "list", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "elevation 4, azimuth 24, object_type 2" in text
    assert "category 2, elevation 2, azimuth 2, lighting 2" in text


@pytest.mark.parametrize(("name", "method"), [("cars3d-file", "dip-vae-i"), ("smallnorb-file", "ada-gvae")])
def test_a_model_trains_on_each_dataset(tmp_path, name, method):
    from disentkit.train import TrainConfig, load_run, train

    write_cars(tmp_path, cars=2)
    write_norb(tmp_path)
    ds = get_dataset(name, data_dir=tmp_path)
    config = TrainConfig(data=name, method=method, steps=1, batch=4, checkpoint_every=1, device="cpu")
    run = train(config, tmp_path / "run", dataset=ds, progress=False)
    assert load_run(run, device="cpu").model.channels == ds.observation_shape[-1]
