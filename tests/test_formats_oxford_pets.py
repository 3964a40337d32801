"""oxford-pets: the real tarball layout with its quirks (.mat files, ._ forks, gray/CMYK/RGBA 'JPEGs')."""

import warnings

import numpy as np
import pytest
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats.skipping import DatasetWarning
from segdash.errors import SegdashError

H, W = 6, 8
TRIMAP = np.full((H, W), 2, np.uint8)  # background
TRIMAP[1:5, 2:6] = 1  # pet: 16 pixels
TRIMAP[0, :] = 3  # border: 8 pixels -> background 48 - 16 - 8 = 24


def make_pets(root, lists=True):
    images, trimaps = root / "images", root / "annotations" / "trimaps"
    images.mkdir(parents=True)
    trimaps.mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(images / "Abyssinian_1.jpg")
    Image.fromarray(rgb).convert("L").save(images / "Abyssinian_2.jpg")
    Image.fromarray(rgb).convert("CMYK").save(images / "Bengal_3.jpg")
    Image.fromarray(np.dstack([rgb, np.full((H, W), 255, np.uint8)])).save(images / "Bengal_4.jpg", format="PNG")
    Image.fromarray(rgb).save(images / "Persian_9.jpg")  # no trimap
    (images / "Broken_1.jpg").write_bytes(b"\xff\xd8 truncated")  # corrupt, has a trimap
    (images / "Abyssinian_1.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    (images / "._Abyssinian_1.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    for stem in ["Abyssinian_1", "Abyssinian_2", "Bengal_3", "Bengal_4", "Broken_1"]:
        Image.fromarray(TRIMAP).save(trimaps / f"{stem}.png")
    (trimaps / "._Abyssinian_1.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    if lists:
        (root / "annotations" / "trainval.txt").write_text(
            "Abyssinian_1 1 1 1\nAbyssinian_2 1 1 1\nBengal_3 6 1 3\nBroken_1 2 1 1\n"
        )
        (root / "annotations" / "test.txt").write_text("Bengal_4 6 1 3\n")
    return root


def open_quietly(root, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(root, format="oxford-pets", **options)
    return ds, [str(w.message) for w in caught if issubclass(w.category, DatasetWarning)]


def test_splits_from_lists_with_val_carved_from_trainval(tmp_path):
    ds, messages = open_quietly(make_pets(tmp_path))
    assert ds.classes == ("pet", "background", "border")
    assert ds.splits() == ["train", "val", "test"]
    trainval = sorted(ds.ids("train") + ds.ids("val"))
    assert trainval == ["Abyssinian_1", "Abyssinian_2", "Bengal_3"] and len(ds.ids("val")) == 1
    assert ds.ids("test") == ["Bengal_4"]
    assert any("without a trimap" in m and "Persian_9" in m for m in messages)
    assert any("corrupt" in m and "Broken_1.jpg" in m for m in messages)
    # deterministic
    assert open_quietly(tmp_path)[0].ids("val") == ds.ids("val")


@pytest.mark.parametrize("stem", ["Abyssinian_1", "Abyssinian_2", "Bengal_3", "Bengal_4"])
def test_every_odd_jpeg_becomes_rgb_and_trimap_becomes_classes(tmp_path, stem):
    ds, _ = open_quietly(make_pets(tmp_path))
    split = next(s for s in ds.splits() if stem in ds.ids(s))
    image, mask, sample_id = ds.load(split, stem)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert mask.dtype == np.int64 and sample_id == stem
    assert np.bincount(mask.ravel(), minlength=3).tolist() == [16, 24, 8]


def test_border_as_ignore(tmp_path):
    ds, _ = open_quietly(make_pets(tmp_path), border="ignore")
    assert ds.classes == ("pet", "background")
    _, mask, _ = ds.load("test", "Bengal_4")
    assert (mask == 255).sum() == 8 and (mask == 0).sum() == 16 and (mask == 1).sum() == 24


def test_seeded_split_without_lists(tmp_path):
    ds, _ = open_quietly(make_pets(tmp_path, lists=False))
    all_ids = sorted(i for s in ds.splits() for i in ds.ids(s))
    assert all_ids == ["Abyssinian_1", "Abyssinian_2", "Bengal_3", "Bengal_4"]
    assert ds.splits() == ["train", "val", "test"]  # 4 images: 2 / 1 / 1


def test_bad_trimap_value_and_wrong_layout(tmp_path):
    root = make_pets(tmp_path / "pets")
    bad = TRIMAP.copy()
    bad[0, 0] = 0
    Image.fromarray(bad).save(root / "annotations" / "trimaps" / "Bengal_4.png")
    ds, _ = open_quietly(root)
    with pytest.raises(SegdashError, match=r"Bengal_4.png.*\[0\]"):
        ds.load("test", "Bengal_4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SegdashError, match="annotations/trimaps"):
        open_dataset(tmp_path / "empty", format="oxford-pets")
    with pytest.raises(SegdashError, match="no option.*colour"):
        open_dataset(root, format="oxford-pets", colour="x")
