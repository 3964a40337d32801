"""IndexedDataset.load_mask: the mask alone for plain image + mask datasets, ``load`` for those that override it."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segdash.data import Entry, IndexedDataset, Sample
from segdash.errors import SegdashError

MASK = np.array([[0, 1, 1], [2, 0, 255]], np.uint8)


class Pngs(IndexedDataset):
    """Two-class PNG pairs that count how often each file kind is decoded."""

    classes = ("a", "b", "c")

    def __init__(self, index):
        super().__init__(index)
        self.images_read = self.masks_read = 0

    def read_image(self, path: Path) -> np.ndarray:
        self.images_read += 1
        return np.asarray(Image.open(path))

    def read_mask(self, path: Path) -> np.ndarray:
        self.masks_read += 1
        return np.asarray(Image.open(path)).astype(np.int64)


class Flipped(Pngs):
    """A dataset that changes what a sample is in ``load``: its masks come flipped."""

    def load(self, split: str, sample_id: str) -> Sample:
        image, mask, sid = super().load(split, sample_id)
        return Sample(image[:, ::-1], None if mask is None else mask[:, ::-1], sid)


def make(tmp_path, cls=Pngs, mask=MASK, image_size=(3, 2)):
    Image.fromarray(np.zeros((*image_size[::-1], 3), np.uint8)).save(tmp_path / "x.png")
    Image.fromarray(mask).save(tmp_path / "x_mask.png")
    return cls({"train": [Entry("x", tmp_path / "x.png", tmp_path / "x_mask.png"), Entry("y", tmp_path / "x.png")]})


def test_load_mask_reads_the_mask_alone(tmp_path):
    ds = make(tmp_path)
    np.testing.assert_array_equal(ds.load_mask("train", "x"), MASK)
    assert (ds.images_read, ds.masks_read) == (0, 1)
    assert ds.load_mask("train", "y") is None
    np.testing.assert_array_equal(ds.load_mask("train", "x"), ds.load("train", "x").mask)


def test_load_mask_goes_through_an_overridden_load(tmp_path):
    ds = make(tmp_path, Flipped)
    np.testing.assert_array_equal(ds.load_mask("train", "x"), MASK[:, ::-1])
    assert ds.images_read == 1


def test_load_mask_checks_labels_and_size_like_load(tmp_path):
    with pytest.raises(SegdashError, match="outside the 3 classes"):
        make(tmp_path, mask=np.full((2, 3), 7, np.uint8)).load_mask("train", "x")
    with pytest.raises(SegdashError, match="differ in size: image 4x2, mask 3x2"):
        make(tmp_path, image_size=(4, 2)).load_mask("train", "x")
