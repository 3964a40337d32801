"""voc: VOCdevkit/VOC2012 layout, palette PNG masks read as indices, 255 border ignored."""

import numpy as np
import pytest
from PIL import Image

from segdash.data import open_dataset
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.formats.voc import VOC_CLASSES, VOC_COLORS
from segdash.errors import SegdashError

LABELS = np.zeros((4, 5), np.uint8)  # background: 20 - 6 - 6 - 1 = 7
LABELS[1:3, 1:4] = 15  # person: 6
LABELS[0, 1:4] = 255  # border (ignored): 3
LABELS[3, 1:4] = 255  # border: 3 more -> 6
LABELS[3, 0] = 1  # aeroplane: 1


def palette_png(path, labels):
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    palette = [c for color in VOC_COLORS for c in color] + [0] * (3 * (256 - len(VOC_COLORS)))
    palette[255 * 3 : 256 * 3] = [224, 224, 192]  # VOC's border colour
    img.putpalette(palette)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def make_voc(root):
    voc = root / "VOCdevkit" / "VOC2012"
    rgb = np.random.default_rng(2).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    (voc / "JPEGImages").mkdir(parents=True)
    for stem in ["2007_000032", "2007_000039", "2007_000063", "2007_000099", "2008_000001"]:
        Image.fromarray(rgb).save(voc / "JPEGImages" / f"{stem}.jpg")
    for stem in ["2007_000032", "2007_000039", "2007_000063"]:
        palette_png(voc / "SegmentationClass" / f"{stem}.png", LABELS)
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("2007_000032\n2007_000039\n")
    (lists / "val.txt").write_text("2007_000063\n2007_000099\n")
    (lists / "trainval.txt").write_text("2007_000032\n2007_000039\n2007_000063\n2007_000099\n")
    return root


def test_voc_reads_palette_indices_and_splits(tmp_path):
    with pytest.warns(DatasetWarning, match="2007_000099"):
        ds = open_dataset(make_voc(tmp_path), format="voc")
    assert ds.classes == VOC_CLASSES and len(ds.classes) == 21
    assert ds.colors[1] == (128, 0, 0) and ds.colors[15] == (192, 128, 128) and ds.ignore_index == 255
    assert {s: ds.ids(s) for s in ds.splits()} == {
        "train": ["2007_000032", "2007_000039"],
        "val": ["2007_000063"],
    }
    image, mask, _ = ds.load("val", "2007_000063")
    assert image.shape == (4, 5, 3)
    assert (mask == 0).sum() == 7 and (mask == 15).sum() == 6 and (mask == 1).sum() == 1 and (mask == 255).sum() == 6


def test_voc_test_release_is_predict_only(tmp_path):
    root = make_voc(tmp_path)
    (root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "test.txt").write_text("2008_000001\n")
    with pytest.warns(DatasetWarning):
        ds = open_dataset(root / "VOCdevkit" / "VOC2012", format="voc")
    assert ds.splits() == ["train", "val", "test"] and not ds.has_masks("test")
    assert ds.load("test", "2008_000001").mask is None


def test_voc_wrong_layout(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(SegdashError, match="ImageSets/Segmentation"):
        open_dataset(tmp_path, format="voc")
    with pytest.raises(SegdashError, match="JPEGImages"):
        open_dataset(tmp_path / "JPEGImages", format="voc")
