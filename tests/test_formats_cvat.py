"""cvat: a "Segmentation mask 1.1" export (labelmap.txt colours, SegmentationClass/ colour masks, subsets in
ImageSets/Segmentation/), and other VOC-style exports: colours outside the label map are named errors."""

import numpy as np
import pytest
from _layouts import CVAT_LABELS, H, W, make_cvat
from PIL import Image

from segdash.data import open_dataset
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError


def test_label_map_colours_and_subsets(tmp_path):
    root, expected = make_cvat(tmp_path)
    ds = open_dataset(root, format="cvat")
    assert ds.classes == tuple(CVAT_LABELS) and ds.colors == tuple(CVAT_LABELS.values())
    assert ds.splits() == ["train", "val"] and ds.ids("train") == ["frame_000000", "frame_000001"]
    for split in ds.splits():
        np.testing.assert_array_equal(class_statistics(ds, split, use_cache=False).pixels, expected[split])


def test_cvats_single_default_subset_is_split_by_seed(tmp_path):
    stems = [f"frame_{i:06d}" for i in range(10)]
    root, expected = make_cvat(tmp_path, {"default": stems})
    ds = open_dataset(root, format="cvat")
    assert ds.splits() == ["train", "val", "test"] and sorted(i for s in ds.splits() for i in ds.ids(s)) == stems
    total = sum(class_statistics(ds, s, use_cache=False).pixels for s in ds.splits())
    np.testing.assert_array_equal(total, expected["default"])


def test_a_colour_outside_the_label_map_names_the_sample_and_voc_border_is_ignored(tmp_path):
    root, _ = make_cvat(tmp_path)
    mask = np.zeros((H, W, 3), np.uint8)
    mask[0] = (224, 224, 192)  # VOC's border colour: ignored
    Image.fromarray(mask).save(root / "SegmentationClass" / "frame_000002.png")
    ds = open_dataset(root, format="cvat")
    stats = class_statistics(ds, "val", use_cache=False)
    assert stats.ignored_pixels == W and stats.pixels[0] == (H - 1) * W
    with pytest.raises(SegdashError, match=r"sample 'frame_000002'.*colour\(s\) \(224, 224, 192\) are not in"):
        open_dataset(root, format="cvat", ignore_color="none").load_mask("val", "frame_000002")


def test_without_a_label_map_or_its_colours(tmp_path):
    root, _ = make_cvat(tmp_path)
    (root / "labelmap.txt").write_text("background\ncar\n")
    with pytest.raises(SegdashError, match="gives no colours"):
        open_dataset(root, format="cvat")
    (root / "labelmap.txt").unlink()
    with pytest.raises(SegdashError, match="no labelmap.txt"):
        open_dataset(root, format="cvat")
