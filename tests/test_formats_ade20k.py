"""ade20k: ADEChallengeData2016's images/ + annotations/, 0 (other objects) ignored, 1..150 read as 0..149, names
from objectInfo150 (.csv or .txt): the first synonym shown, every synonym matching in a class map."""

import numpy as np
import pytest
from _layouts import H, W, make_ade20k
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats.ade20k import ADE_CLASSES
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError


@pytest.mark.parametrize("info", ["csv", "txt"])
def test_names_from_object_info_first_synonym_shown(tmp_path, info):
    root, expected = make_ade20k(tmp_path, info)
    ds = open_dataset(root.parent, format="ade20k")  # the folder holding ADEChallengeData2016/ works too
    assert len(ds.classes) == 150 and ds.splits() == ["train", "val"]
    assert ds.classes[1] == "building" and ds.classes[12] == "person" and ds.classes[44] == "chest of drawers"
    assert ds.classes[0] == "thing1" and ds.classes_file.name == f"objectInfo150.{info}"
    assert "edifice" in ds.class_aliases[1] and "soul" in ds.class_aliases[12]
    assert ds.colors[0] == (120, 120, 120) and ds.colors[149] == (92, 0, 255)
    stats = class_statistics(ds, "train", use_cache=False)
    np.testing.assert_array_equal(stats.pixels, expected["train"])
    assert stats.ignored_pixels == expected["train:ignored"] >= 3 * (H // 2) * W  # the "other objects" half


def test_without_object_info_the_benchmark_names(tmp_path):
    root, _ = make_ade20k(tmp_path)
    (root / "objectInfo150.csv").unlink()
    ds = open_dataset(root, format="ade20k")
    assert ds.classes == ADE_CLASSES and ds.classes_file is None


def test_a_class_map_matches_synonyms(tmp_path):
    root, expected = make_ade20k(tmp_path)
    (root / "ten.csv").write_text("edifice,structure\nsoul,people\nchest,furniture\n")
    ds = open_dataset(root, format="ade20k", class_map="ten.csv")
    assert ds.classes[:3] == ("thing1", "structure", "thing3") and ds.classes[12] == "people"
    assert ds.classes[44] == "furniture" and len(ds.classes) == 150
    np.testing.assert_array_equal(class_statistics(ds, "train", use_cache=False).pixels, expected["train"])


def test_a_broken_object_info_falls_back_with_a_warning_and_a_given_one_is_an_error(tmp_path):
    root, _ = make_ade20k(tmp_path)
    (root / "objectInfo150.csv").write_text("Idx,Ratio,Train,Val,Name\n1,0.1,1,1,wall\n")
    with pytest.warns(UserWarning, match="lists 1 classes.*SceneParsing's class names used"):
        assert open_dataset(root, format="ade20k").classes == ADE_CLASSES
    with pytest.raises(SegdashError, match="lists 1 classes"):
        open_dataset(root, format="ade20k", classes="objectInfo150.csv")


def test_an_annotation_above_150_is_an_error_naming_it(tmp_path):
    root, _ = make_ade20k(tmp_path)
    Image.fromarray(np.full((H, W), 151, np.uint8)).save(root / "annotations" / "validation" / "ADE_val_00000001.png")
    ds = open_dataset(root, format="ade20k")
    with pytest.raises(SegdashError, match="ADE_val_00000001.png: holds values above 150"):
        ds.load_mask("val", "ADE_val_00000001")
