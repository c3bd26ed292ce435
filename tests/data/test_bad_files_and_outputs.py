"""Official files that are not what they claim give one line; `data show` / `data gallery` never
write over the user's files and name an unwritable path."""

import h5py
import numpy as np
import pytest

from disentkit.data import get_dataset
from disentkit.data.files import DSPRITES_FILE, SHAPES3D_FILE
from disentkit.errors import DisentkitError


def test_official_files_with_all_zero_labels_are_not_a_grid(tmp_path):
    np.savez(
        tmp_path / DSPRITES_FILE,
        imgs=np.zeros((4, 64, 64), np.uint8),
        latents_classes=np.zeros((4, 6), np.int64),
        latents_values=np.zeros((4, 6)),
    )
    with pytest.raises(DisentkitError, match="complete factor grid"):
        get_dataset("dsprites-file", data_dir=tmp_path)
    with h5py.File(tmp_path / SHAPES3D_FILE, "w") as h5:
        h5["images"] = np.zeros((3, 64, 64, 3), np.uint8)
        h5["labels"] = np.zeros((3, 6))
    with pytest.raises(DisentkitError, match="complete factor grid"):
        get_dataset("shapes3d-file", data_dir=tmp_path)


def test_an_npz_that_is_not_a_zip_is_named_corrupt_without_the_pickle_hint(tmp_path):
    (tmp_path / DSPRITES_FILE).write_text("garbage")
    with pytest.raises(DisentkitError, match="not a numpy .npz") as info:
        get_dataset("dsprites-file", data_dir=tmp_path)
    assert "pickle" not in str(info.value)


def test_data_show_out_that_is_a_folder_or_unwritable(tmp_path, cli, one_line_error):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    assert cli(["data", "show", "dsprites", "--out", blocker / "grid.png"]) == 2
    assert str(blocker / "grid.png") in one_line_error()
    assert cli(["data", "show", "dsprites", "--out", tmp_path]) == 2
    assert "is a folder" in one_line_error()
    assert blocker.read_text() == "keep"


def test_data_gallery_refuses_a_folder_of_other_files(tmp_path, cli, one_line_error, snapshot):
    (tmp_path / "thesis.tex").write_text("keep")
    before = snapshot(tmp_path)
    assert cli(["data", "gallery", "--out-dir", tmp_path]) == 2
    assert "not empty" in one_line_error()
    assert snapshot(tmp_path) == before
