"""`disentkit data list`, `data show` and the picture they write."""

import numpy as np
import pytest
from PIL import Image

from disentkit.cli import main as cli_main
from disentkit.data import get_dataset
from disentkit.data.commands import write_gallery
from disentkit.data.preview import preview_rows


def main(argv):
    """The CLI's exit code: user errors return 2, success exits through SystemExit(0)."""
    try:
        return cli_main(argv)
    except SystemExit as exc:
        return exc.code or 0


def test_data_list_shows_names_factors_and_sources(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for text in ("dsprites", "shapes3d", "noisy-color-dsprites", "floor_hue 10", "procedural", "file"):
        assert text in out


def test_data_show_writes_samples_and_one_row_per_factor(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["data", "show", "dsprites", "--out", str(out), "--seed", "3"]) == 0
    width, height = Image.open(out).size
    assert height == (2 + 5) * 66 and width > 10 * 64
    rows = preview_rows(get_dataset("dsprites"), seed=3)
    assert [label for label, _ in rows][2:] == [
        f"{n} ({s})"
        for n, s in zip(("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32), strict=True)
    ]
    # the traversal row of a factor varies only that factor: its images are all different
    scale_row = rows[3][1]
    assert len({img.tobytes() for img in scale_row}) == 6


def test_data_show_folder_and_errors(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.full((30, 50, 3), 200, np.uint8)).save(folder / "a.png")
    assert main(["data", "show", str(folder), "--out", str(tmp_path / "f.png")]) == 0
    assert main(["data", "show", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "valid datasets" in capsys.readouterr().err
    assert main(["data", "show", "dsprites-file", "--data-dir", str(tmp_path)]) == 2
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in capsys.readouterr().err


@pytest.mark.slow
def test_gallery_writes_a_picture_per_builtin_dataset(tmp_path):
    paths, skipped = write_gallery(tmp_path)
    names = {p.stem for p in paths}
    builtin = {
        "dsprites",
        "color-dsprites",
        "noisy-dsprites",
        "noisy-color-dsprites",
        "shapes3d",
        "realphoto",
    }
    assert builtin <= names
    assert all(p.stat().st_size > 1000 for p in paths)
    assert "dsprites-file" in skipped and "dsprites_ndarray" in skipped["dsprites-file"]
