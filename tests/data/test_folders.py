"""Image folders: unlabelled targets and labelled folders (images + CSV of factor classes)."""

import numpy as np
import pytest
from PIL import Image

from disentkit.data.folders import ImageFolder, LabelledFolder
from disentkit.errors import DisentkitError


def _save(path, value, size=(40, 20), mode="RGB"):
    Image.new(mode, size, value).save(path)


def test_unlabelled_folder_any_size_resized_grey_or_colour(tmp_path, rng):
    _save(tmp_path / "a.png", (255, 0, 0), (40, 20))
    _save(tmp_path / "b.jpg", (0, 0, 255), (17, 90))
    _save(tmp_path / "c.bmp", 128, (64, 64), mode="L")
    (tmp_path / "notes.txt").write_text("not an image")
    rgb = ImageFolder(tmp_path, size=32, channels=3)
    assert len(rgb) == 3 and rgb.observation_shape == (32, 32, 3)
    imgs = rgb.load([0, 1, 2])
    assert imgs.shape == (3, 32, 32, 3) and imgs.dtype == np.uint8
    assert tuple(imgs[0, 16, 16]) == (255, 0, 0) and imgs[0, 0, 0].sum() == 0  # padded with black
    assert imgs[1, 16, 16, 2] > 200 and imgs[1, 16, 0].sum() == 0
    grey = ImageFolder(tmp_path, size=16, channels=1)
    assert grey.sample_images(5, rng).shape == (5, 16, 16, 1)
    assert grey.load([2])[0, 8, 8, 0] == 128


def test_empty_folder_and_unreadable_image(tmp_path):
    with pytest.raises(DisentkitError, match="no images"):
        ImageFolder(tmp_path)
    with pytest.raises(DisentkitError, match="does not exist"):
        ImageFolder(tmp_path / "nowhere")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    folder = ImageFolder(tmp_path)
    with pytest.raises(DisentkitError, match="broken.png"):
        folder.load([0])


def _labelled(tmp_path, rows):
    lines = ["file,shape,size"]
    for i, (a, b) in enumerate(rows):
        _save(tmp_path / f"im{i}.png", (40 * a, 40 * b, 0), (8, 8))
        lines.append(f"im{i}.png,{a},{b}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return LabelledFolder(tmp_path, size=8)


def test_labelled_folder_factors_from_csv(tmp_path, rng):
    rows = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 2)]  # not a full grid
    ds = _labelled(tmp_path, rows)
    assert ds.factor_names == ("shape", "size") and ds.factor_sizes == (3, 3) and len(ds) == 5
    img = ds.render([[1, 2]])
    assert tuple(img[0, 4, 4]) == (40, 80, 0)
    f = ds.sample_factors(50, rng)
    assert {tuple(r) for r in f} <= set(rows)
    with pytest.raises(DisentkitError, match="not a full grid"):
        ds.render([[2, 0]])
    with pytest.raises(DisentkitError, match="out of range"):
        ds.render([[3, 0]])


def test_labelled_folder_pairs_are_listed_rows(tmp_path, rng):
    rows = [(a, b) for a in range(3) for b in range(2)]
    ds = _labelled(tmp_path, rows)
    pairs = ds.sample_pairs(20, 1, rng)
    np.testing.assert_array_equal(pairs.factors1 != pairs.factors2, pairs.changed)
    np.testing.assert_array_equal(pairs.x2, ds.render(pairs.factors2))


@pytest.mark.parametrize(
    ("csv", "match"),
    [
        ("file,a\nx.png,1\n", "not found"),
        ("file,a\n", "at least one row"),
        ("file,a\nim.png,big\n", "integer"),
    ],
)
def test_bad_label_files(tmp_path, csv, match):
    _save(tmp_path / "im.png", (0, 0, 0))
    (tmp_path / "labels.csv").write_text(csv)
    with pytest.raises(DisentkitError, match=match):
        LabelledFolder(tmp_path)
