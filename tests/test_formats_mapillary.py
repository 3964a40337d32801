"""mapillary: Vistas v2.0 / v1.2 (config_v*.json labels and colours, palette label PNGs), labels not evaluated
(Unlabeled) ignored, testing/ predict-only, the config's label ids matching in a class map."""

import json

import numpy as np
import pytest
from _layouts import MAPILLARY_LABELS, make_mapillary

from segdash.data import open_dataset
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError


def test_v2_layout_readable_names_and_unlabeled_ignored(tmp_path):
    root, expected = make_mapillary(tmp_path)
    ds = open_dataset(root, format="mapillary")
    assert ds.version == "v2.0" and ds.classes == ("Bird", "Road", "Sky", "Car")
    assert ds.colors[1] == (128, 64, 128) and "Unlabeled ignored" in ds.description
    assert ds.splits() == ["train", "val", "test"] and not ds.has_masks("test")
    for split in ("train", "val"):
        stats = class_statistics(ds, split, use_cache=False)
        np.testing.assert_array_equal(stats.pixels, expected[split])
        assert stats.ignored_pixels == expected[f"{split}:ignored"]


def test_v1_2_folders_and_a_class_map_by_label_id(tmp_path):
    root, expected = make_mapillary(tmp_path)
    (root / "config_v1.2.json").write_text(json.dumps({"labels": MAPILLARY_LABELS}))
    for folder in ("training", "validation"):
        (root / folder / "v2.0").rename(root / folder / "v1.2")
    (root / "config_v2.0.json").unlink()
    (root / "merge.csv").write_text("object--vehicle--car,thing\nanimal--bird,thing\n")
    ds = open_dataset(root, format="mapillary", class_map="merge.csv")
    assert ds.version == "v1.2" and ds.classes == ("thing", "Road", "Sky")
    stats = class_statistics(ds, "train", use_cache=False)
    assert stats.pixels.tolist() == [expected["train"][0] + expected["train"][3], *expected["train"][1:3]]
    with pytest.raises(SegdashError, match="no config_v2.0.json"):
        open_dataset(root, format="mapillary", version="v2.0")


def test_a_config_with_a_bad_colour_says_which_label(tmp_path):
    root, _ = make_mapillary(tmp_path)
    labels = [dict(label) for label in MAPILLARY_LABELS]
    labels[2]["color"] = [0, 0, 999]
    (root / "config_v2.0.json").write_text(json.dumps({"labels": labels}))
    with pytest.raises(SegdashError, match="config_v2.0.json, label 2: the colour is not"):
        open_dataset(root, format="mapillary")
