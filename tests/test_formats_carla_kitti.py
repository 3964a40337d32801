"""carla and kitti: the real folder layouts, CARLA's red-channel ids, KITTI's two label maps."""

import warnings

import numpy as np
import pytest
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats.carla import CARLA_CLASSES
from segdash.data.formats.kitti import label_lookup_table
from segdash.data.formats.skipping import DatasetWarning
from segdash.errors import SegdashError

RGB = np.random.default_rng(1).integers(0, 255, (4, 6, 3), dtype=np.uint8)


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def carla_mask_rgb(ids):
    """CARLA stores the tag id in the red channel; green and blue are 0."""
    return np.dstack([ids.astype(np.uint8), np.zeros_like(ids, np.uint8), np.zeros_like(ids, np.uint8)])


CARLA_IDS = np.zeros((4, 6), np.uint8)
CARLA_IDS[2:, :] = 7  # road: 12 pixels
CARLA_IDS[0, :4] = 10  # vehicle: 4 pixels
CARLA_IDS[1, 5] = 12  # traffic sign: 1 pixel -> unlabeled: 7 pixels


def make_carla(root, flat=False):
    splits = {"train": ["02_00_000", "02_00_001"], "val": ["02_00_002"], "test": ["02_00_003"]}
    for split, stems in splits.items():
        for stem in stems:
            sub = "" if flat else split
            save(root / "CameraRGB" / sub / f"{stem}.png", RGB)
            if stem != "02_00_001":
                save(root / "CameraSeg" / sub / f"{stem}.png", carla_mask_rgb(CARLA_IDS))
    return root


def test_carla_splits_and_red_channel_labels(tmp_path):
    with pytest.warns(DatasetWarning, match="02_00_001"):
        ds = open_dataset(make_carla(tmp_path), format="carla")
    assert ds.classes == CARLA_CLASSES and len(ds.classes) == 13 and len(ds.colors) == 13
    assert {s: ds.ids(s) for s in ds.splits()} == {
        "train": ["02_00_000"],
        "val": ["02_00_002"],
        "test": ["02_00_003"],
    }
    image, mask, _ = ds.load("train", "02_00_000")
    assert image.shape == (4, 6, 3) and mask.dtype == np.int64
    counts = np.bincount(mask.ravel(), minlength=13)
    assert counts[[0, 7, 10, 12]].tolist() == [7, 12, 4, 1] and counts.sum() == 24


def test_carla_single_channel_masks_and_bad_ids(tmp_path):
    root = make_carla(tmp_path)
    save(root / "CameraSeg" / "val" / "02_00_002.png", CARLA_IDS)  # saved as 'L'
    bad = CARLA_IDS.copy()
    bad[0, 0] = 13
    save(root / "CameraSeg" / "test" / "02_00_003.png", carla_mask_rgb(bad))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        ds = open_dataset(root, format="carla")
    np.testing.assert_array_equal(ds.load("val", "02_00_002").mask, CARLA_IDS)
    # Saved through OpenCV (BGR), the ids land in the blue channel: the maximum over channels still finds them.
    save(root / "CameraSeg" / "val" / "02_00_002.png", carla_mask_rgb(CARLA_IDS)[:, :, ::-1].copy())
    np.testing.assert_array_equal(ds.load("val", "02_00_002").mask, CARLA_IDS)
    with pytest.raises(SegdashError, match=r"02_00_003.*\[13\]"):
        ds.load("test", "02_00_003")


def test_carla_flat_layout_gets_a_seeded_split(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        ds = open_dataset(make_carla(tmp_path, flat=True), format="carla")
    assert sorted(i for s in ds.splits() for i in ds.ids(s)) == ["02_00_000", "02_00_002", "02_00_003"]


def test_carla_wrong_layout(tmp_path):
    save(tmp_path / "images" / "a.png", RGB)
    with pytest.raises(SegdashError, match="CameraRGB"):
        open_dataset(tmp_path, format="carla")


# --- KITTI --------------------------------------------------------------------------------------
KITTI_IDS = np.array([[7, 8, 9, 26, 33, 0], [23, 24, 25, 31, 12, 5]], np.uint8)
GROUPED = [[1, 2, 2, 9, 11, 0], [7, 8, 8, 10, 3, 0]]
CITYSCAPES = [[0, 1, 255, 13, 18, 255], [10, 11, 12, 16, 3, 255]]


def make_kitti(root):
    for stem in ["000000_10", "000001_10", "000002_10"]:
        save(root / "training" / "image_2" / f"{stem}.png", RGB[:2])
        save(root / "training" / "semantic" / f"{stem}.png", KITTI_IDS)
    save(root / "training" / "semantic_rgb" / "000000_10.png", RGB[:2])  # present in the real zip, unused
    for stem in ["000000_10", "000001_10"]:
        save(root / "testing" / "image_2" / f"{stem}.png", RGB[:2])
    return root


def test_kitti_grouped_12_default(tmp_path):
    ds = open_dataset(make_kitti(tmp_path), format="kitti")
    assert ds.classes[:3] == ("void", "road", "sidewalk") and len(ds.classes) == 12
    assert ds.splits() == ["train", "val", "test"]
    assert len(ds.ids("train")) == 2 and len(ds.ids("val")) == 1
    assert ds.has_masks("train") and not ds.has_masks("test")
    sample = ds.load(ds.splits()[0], ds.ids("train")[0])
    np.testing.assert_array_equal(sample.mask, GROUPED)
    image, mask, sample_id = ds.load("test", "000001_10")
    assert mask is None and image.shape == (2, 6, 3) and sample_id == "000001_10"


def test_kitti_cityscapes_19(tmp_path):
    ds = open_dataset(make_kitti(tmp_path), format="kitti", label_map="cityscapes-19", val_fraction="0")
    assert len(ds.classes) == 19 and ds.classes[13] == "car" and ds.ignore_index == 255
    assert ds.splits() == ["train", "test"] and len(ds.ids("train")) == 3
    np.testing.assert_array_equal(ds.load("train", "000002_10").mask, CITYSCAPES)


def test_kitti_grouped_table_matches_the_issue_for_every_id():
    expected = {7: 1, 8: 2, 9: 2, 19: 5, 20: 5, 21: 6, 22: 6, 23: 7, 24: 8, 25: 8, 31: 10, 32: 11, 33: 11}
    expected.update({i: 3 for i in range(11, 17)} | {17: 4, 18: 4} | {i: 9 for i in range(26, 31)})
    table = label_lookup_table("grouped-12")
    assert [int(table[i]) for i in range(34)] == [expected.get(i, 0) for i in range(34)]


def test_kitti_errors(tmp_path):
    root = make_kitti(tmp_path)
    with pytest.raises(SegdashError, match="label_map.*grouped-12"):
        open_dataset(root, format="kitti", label_map="cityscapes")
    with pytest.raises(SegdashError, match="training/image_2"):
        open_dataset(root / "testing", format="kitti")


@pytest.mark.parametrize("bad_id", [34, 200, 255])
def test_kitti_mask_with_an_id_above_33_is_a_clear_error(tmp_path, bad_id):
    """KITTI masks hold Cityscapes label ids 0..33 only; a larger value is not a class, so it is never mapped silently."""
    root = make_kitti(tmp_path)
    ids = KITTI_IDS.copy()
    ids[0, 0] = bad_id
    save(root / "training" / "semantic" / "000002_10.png", ids)
    ds = open_dataset(root, format="kitti", val_fraction="0")
    with pytest.raises(SegdashError, match=rf"label id\(s\) \[{bad_id}\] are not Cityscapes label ids 0\.\.33"):
        ds.load("train", "000002_10")
    ds.load("train", "000001_10")  # the other masks still load
