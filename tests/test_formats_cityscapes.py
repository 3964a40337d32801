"""cityscapes: leftImg8bit/ + gtFine/ by city, *_labelIds.png read (not the colour, instance, train-id and polygon
files beside them), the three label maps, test predict-only, gtCoarse; counts against Cityscapes' own table."""

import numpy as np
import pytest
from _layouts import CITYSCAPES_CATEGORY, CITYSCAPES_IGNORED_IN_EVAL, H, W, _image, make_cityscapes
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError

TRAIN_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
               "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")


def counts_of(ids_list, table, n):
    counts = np.zeros(n, np.int64)
    for ids in ids_list:
        for value, count in zip(*np.unique(ids, return_counts=True)):
            if int(value) in table:
                counts[table[int(value)]] += count
    return counts


def test_train_ids_from_label_ids_alone_and_test_is_predict_only(tmp_path):
    root, expected = make_cityscapes(tmp_path)
    with pytest.warns(DatasetWarning, match="without a gtFine_labelIds.png skipped: aachen_000000_000099"):
        ds = open_dataset(root, format="cityscapes")
    assert ds.classes == TRAIN_NAMES and ds.colors[0] == (128, 64, 128) and ds.colors[18] == (119, 11, 32)
    assert ds.ids("train") == ["aachen_000000_000000", "aachen_000000_000001", "bochum_000001_000000"]
    assert ds.splits() == ["train", "val", "test"] and not ds.has_masks("test") and ds.has_masks("val")
    assert ds.load("test", "berlin_000000_000000").mask is None
    for split in ("train", "val"):
        np.testing.assert_array_equal(class_statistics(ds, split, use_cache=False).pixels, expected[split])


@pytest.mark.parametrize("label_map", ["categories-7", "full-34"])
def test_other_label_maps(tmp_path, label_map):
    root, expected = make_cityscapes(tmp_path)
    ds = open_dataset(root, format="cityscapes", label_map=label_map)
    if label_map == "full-34":
        table, n = {i: i for i in range(34)}, 34
        assert ds.classes[7] == "road" and ds.classes[0] == "unlabeled" and len(ds.classes) == 34
    else:  # the scored ids by category; void and the ids Cityscapes ignores stay ignored
        table = {i: CITYSCAPES_CATEGORY[i] - 1 for i in range(34) if i not in CITYSCAPES_IGNORED_IN_EVAL}
        n = 7
        assert ds.classes == ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
    stats = class_statistics(ds, "train", use_cache=False)
    np.testing.assert_array_equal(stats.pixels, counts_of(expected["train:ids"], table, n))
    assert stats.pixels.sum() + stats.ignored_pixels == 3 * H * W


def test_a_class_map_onto_categories_equals_the_categories_label_map(tmp_path):
    from test_formats_dataset_page import CATEGORY_MAP

    root, _ = make_cityscapes(tmp_path)
    (root / "categories.csv").write_text(CATEGORY_MAP)
    merged = open_dataset(root, format="cityscapes", class_map="categories.csv")
    categories = open_dataset(root, format="cityscapes", label_map="categories-7")
    assert merged.classes == categories.classes
    for split in ("train", "val"):
        expected = class_statistics(categories, split).pixels
        np.testing.assert_array_equal(class_statistics(merged, split).pixels, expected)


def test_coarse_annotations_with_train_extra(tmp_path):
    root, _ = make_cityscapes(tmp_path)
    ids = np.full((H, W), 26, np.uint8)  # car
    ids[:4] = 0
    _image(root / "leftImg8bit" / "train_extra" / "erlangen" / "erlangen_000000_000001_leftImg8bit.png", 5)
    coarse = root / "gtCoarse" / "train_extra" / "erlangen"
    coarse.mkdir(parents=True)
    Image.fromarray(ids).save(coarse / "erlangen_000000_000001_gtCoarse_labelIds.png")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(coarse / "erlangen_000000_000001_gtCoarse_color.png")
    ds = open_dataset(root, format="cityscapes", annotations="gtCoarse")
    assert ds.splits() == ["train_extra"]  # train and val have no gtCoarse files here: left out with warnings
    stats = class_statistics(ds, "train_extra", use_cache=False)
    assert stats.pixels[13] == (H - 4) * W and stats.ignored_pixels == 4 * W


def test_no_ground_truth_folder_says_what_is_expected(tmp_path):
    (tmp_path / "leftImg8bit" / "train").mkdir(parents=True)
    with pytest.raises(SegdashError, match="no gtFine/ folder"):
        open_dataset(tmp_path, format="cityscapes")
