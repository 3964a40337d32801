"""-o class_map=FILE on any format: classes merged or ignored where masks are loaded, so statistics (and their
cache), evaluation and training see the merged classes; a map that does not fit the dataset is one clear error."""

import json

import numpy as np
import pytest
from PIL import Image

from segdash.cli import main
from segdash.data import open_dataset
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError

CLASSES = "index,name,r,g,b\n0,background,0,0,0\n1,car,0,0,142\n2,truck,0,0,70\n3,tree,107,142,35\n4,bush,0,200,0\n"


@pytest.fixture
def folder(tmp_path):
    """A folder dataset of 5 classes; mask i holds one row per class and a row of 255."""
    for split in ("train", "val"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "masks").mkdir()
        for i in range(2):
            mask = np.repeat(np.array([0, 1, 2, 3, 4, 255, 1, 3], np.uint8)[:, None], 6, axis=1)
            Image.fromarray(np.full((8, 6, 3), 9 * i, np.uint8)).save(tmp_path / split / "images" / f"s{i}.png")
            Image.fromarray(mask).save(tmp_path / split / "masks" / f"s{i}.png")
    (tmp_path / "classes.csv").write_text(CLASSES)
    return tmp_path


def test_merge_ignore_and_colour(folder):
    (folder / "map.csv").write_text("source,target\nCar,vehicle\ntruck,vehicle,#102030\ntree,plant\nbush,ignore\n")
    ds = open_dataset(folder, format="folder", class_map="map.csv")
    assert ds.classes == ("background", "vehicle", "plant") and ds.colors == ((0, 0, 0), (16, 32, 48), (107, 142, 35))
    stats = class_statistics(ds, "train")
    assert stats.pixels.tolist() == [2 * 6, 2 * 18, 2 * 12] and stats.ignored_pixels == 2 * 12  # bush + 255
    assert "classes merged by map.csv: 5 -> 3" in ds.description
    plain = class_statistics(open_dataset(folder, format="folder"), "train")  # cached apart from the merged one
    assert plain.pixels.tolist() == [12, 24, 12, 24, 12] and not plain.from_cache


@pytest.mark.parametrize(("text", "words"), [
    ("lorry,vehicle\n", r"row 1: '.*' has no class 'lorry' \(its classes: background, car"),
    ("car,vehicle\ncar,other\n", "row 2: class 'car' is mapped twice"),
    ("background,ignore\ncar,ignore\ntruck,ignore\ntree,ignore\nbush,ignore\n", "sends every class to ignore"),
    ("car\n", "row 1: expected 'source class,target class'"),
    ("car,vehicle,notacolour\n", "row 1: the third column is not a colour"),
])
def test_a_map_that_does_not_fit_is_one_error(folder, text, words):
    (folder / "map.csv").write_text(text)
    with pytest.raises(SegdashError, match=words):
        open_dataset(folder, format="folder", class_map="map.csv")


def test_missing_map_and_built_ins(folder):
    with pytest.raises(SegdashError, match="option class_map: file 'nope.csv' does not exist"):
        open_dataset(folder, format="folder", class_map="nope.csv")
    with pytest.raises(SegdashError, match="has no option.*class_map"):
        open_dataset("brain-mri", class_map="x.csv")


def test_evaluation_follows_the_merged_classes(folder, tmp_path, capsys):
    """A prediction folder holding merged labels scores against the merged ground truth."""
    (folder / "map.csv").write_text("car,vehicle\ntruck,vehicle\ntree,plant\nbush,plant\n")
    preds = tmp_path / "preds"
    preds.mkdir()
    merged_truth = np.repeat(np.array([0, 1, 1, 2, 2, 255, 1, 2], np.uint8)[:, None], 6, axis=1)
    for i in range(2):
        Image.fromarray(np.where(merged_truth == 255, 0, merged_truth).astype(np.uint8)).save(preds / f"s{i}.png")
    out = tmp_path / "eval.json"
    code = main(["evaluate", str(folder), "-f", "folder", "-o", "class_map=map.csv", "-s", "val", "--pred-dir",
                 str(preds), "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["classes"] == ["background", "vehicle", "plant"]
    np.testing.assert_array_equal(np.asarray(doc["confusion_matrix"]), np.diag([12, 36, 36]))
