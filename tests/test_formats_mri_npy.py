"""mri-npy: MRIs/*.npy + Segmentations/segm_<last '_' part of the name, extension included>."""

import numpy as np
import pytest

from segdash.data import Normalization, open_dataset
from segdash.data.formats.mri_npy import mask_name_for
from segdash.data.formats.skipping import DatasetWarning
from segdash.errors import SegdashError

MASK = np.full((5, 4), 2, np.int64)  # background 20 - 6 - 4 = 10
MASK[1:3, :3] = 0  # white matter: 6
MASK[3, :] = 1  # grey matter: 4


def make_mri(root, count=5):
    (root / "MRIs").mkdir(parents=True)
    (root / "Segmentations").mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, count + 1):
        np.save(root / "MRIs" / f"img_{i:03d}.npy", rng.standard_normal((5, 4)).astype(np.float32))
        np.save(root / "Segmentations" / f"segm_{i:03d}.npy", MASK.astype(np.uint8))
    np.save(root / "MRIs" / "brain_scan_777.npy", np.ones((5, 4), np.float32))  # mask: segm_777.npy
    np.save(root / "Segmentations" / "segm_777.npy", MASK.astype(np.float32))  # float mask, integer values
    np.save(root / "MRIs" / "img_999.npy", np.ones((5, 4), np.float32))  # no mask
    (root / "MRIs" / "._img_001.npy").write_bytes(b"\x00\x05\x16\x07")
    return root


def test_mask_name_keeps_the_extension():
    assert mask_name_for("img_001.npy") == "segm_001.npy"
    assert mask_name_for("brain_scan_777.npy") == "segm_777.npy"
    assert mask_name_for("single.npy") == "segm_single.npy"


def test_mri_npy_samples_and_split(tmp_path):
    with pytest.warns(DatasetWarning, match="img_999.npy"):
        ds = open_dataset(make_mri(tmp_path), format="mri-npy")
    assert ds.classes == ("white matter", "grey matter", "background")
    assert ds.in_channels == 1 and ds.normalization == Normalization.identity(1)
    ids = sorted(i for s in ds.splits() for i in ds.ids(s))
    assert ids == ["brain_scan_777", "img_001", "img_002", "img_003", "img_004", "img_005"]
    assert [len(ds.ids(s)) for s in ds.splits()] == [4, 1, 1]
    for split in ds.splits():
        for image, mask, _ in ds.iter_samples(split):
            assert image.shape == (5, 4, 1) and image.dtype == np.float32
            assert np.bincount(mask.ravel(), minlength=3).tolist() == [6, 4, 10]
    stored = np.load(tmp_path / "MRIs" / "img_002.npy")
    split = next(s for s in ds.splits() if "img_002" in ds.ids(s))
    np.testing.assert_array_equal(ds.load(split, "img_002").image[:, :, 0], stored)
    with pytest.warns(DatasetWarning):
        again = open_dataset(tmp_path, format="mri-npy", seed="0")
    assert {s: again.ids(s) for s in again.splits()} == {s: ds.ids(s) for s in ds.splits()}


def test_mri_npy_errors(tmp_path):
    root = make_mri(tmp_path / "d", count=2)
    bad = MASK.copy()
    bad[0, 0] = 3
    np.save(root / "Segmentations" / "segm_001.npy", bad)
    with pytest.warns(DatasetWarning, match="img_999"):
        ds = open_dataset(root, format="mri-npy", val_fraction=0, test_fraction=0)
    assert ds.splits() == ["train"]
    with pytest.raises(SegdashError, match=r"img_001.*\[3\]"):
        ds.load("train", "img_001")
    (tmp_path / "e" / "MRIs").mkdir(parents=True)
    with pytest.raises(SegdashError, match="Segmentations/segm_"):
        open_dataset(tmp_path / "e", format="mri-npy")
