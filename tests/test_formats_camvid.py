"""camvid: SegNet's train/ + trainannot/ layout, its 11 classes and colours, 11 (void) ignored or a class."""

import numpy as np
from _layouts import make_camvid

from segdash.data import open_dataset
from segdash.data.stats import class_statistics


def test_segnet_layout_with_void_ignored(tmp_path):
    root, expected = make_camvid(tmp_path)
    ds = open_dataset(root, format="camvid")  # train.txt & co. beside the folders are not needed
    assert ds.classes[:4] == ("sky", "building", "pole", "road") and len(ds.classes) == 11
    assert ds.colors[0] == (128, 128, 128) and ds.colors[10] == (0, 128, 192)
    assert ds.splits() == ["train", "val", "test"] and ds.ids("train") == ["0001TP_006690", "0001TP_006720"]
    for split in ds.splits():
        stats = class_statistics(ds, split, use_cache=False)
        np.testing.assert_array_equal(stats.pixels, expected[split])
        assert stats.ignored_pixels == expected[f"{split}:ignored"] > 0


def test_void_as_a_class_and_a_split_without_annotations(tmp_path):
    root, expected = make_camvid(tmp_path)
    ds = open_dataset(root, format="camvid", void="class")
    stats = class_statistics(ds, "train", use_cache=False)
    assert ds.classes[-1] == "void" and stats.pixels[11] == expected["train:ignored"] and stats.ignored_pixels == 0
    for path in (root / "testannot").iterdir():
        path.unlink()
    (root / "testannot").rmdir()
    assert not open_dataset(root, format="camvid").has_masks("test")
