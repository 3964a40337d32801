"""nifti: volumes as 2-D slices, split by volume, canonical orientation keeps image and label aligned."""

import json

import nibabel as nib
import numpy as np
import pytest

from segdash.data import open_dataset
from segdash.data.formats.skipping import DatasetWarning
from segdash.errors import SegdashError

SHAPE = (4, 5, 3)  # x, y, z


def label_volume():
    """Slice z=k holds k + 1 voxels of class 1 and, in slice 2, 2 voxels of class 2."""
    labels = np.zeros(SHAPE, np.uint8)
    for k in range(3):
        labels[: k + 1, 0, k] = 1
    labels[3, 3:5, 2] = 2
    return labels


def save_nifti(path, data, affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), path)


def make_volumes(root, stems=("case01", "case02", "case03")):
    rng = np.random.default_rng(4)
    for i, stem in enumerate(stems):
        labels = label_volume()
        image = (labels * 100 + rng.uniform(0, 10, SHAPE)).astype(np.float32)
        affine = np.diag([-1.0, 1.0, 1.0, 1.0]) if i == 1 else None  # a flipped x axis
        save_nifti(root / "images" / f"{stem}.nii.gz", image, affine)
        save_nifti(root / "labels" / f"{stem}.nii.gz", labels, affine)
    save_nifti(root / "images" / "nolabel.nii", np.zeros(SHAPE, np.float32))
    (root / "images" / "._case01.nii.gz").write_bytes(b"\x00\x05")
    return root


def test_slices_split_by_volume_and_counts(tmp_path):
    with pytest.warns(DatasetWarning, match="nolabel.nii"):
        ds = open_dataset(make_volumes(tmp_path), format="nifti")
    assert ds.in_channels == 1 and ds.classes == ("class_0", "class_1", "class_2")
    assert ds.splits() == ["train", "val", "test"]
    volumes_per_split = {s: {i.rsplit("_", 1)[0] for i in ds.ids(s)} for s in ds.splits()}
    assert sorted(v for vols in volumes_per_split.values() for v in vols) == ["case01", "case02", "case03"]
    assert all(len(v) == 1 for v in volumes_per_split.values())  # one volume each, never split across
    for split in ds.splits():
        assert [i[-4:] for i in ds.ids(split)] == ["z000", "z001", "z002"]
        for image, mask, sample_id in ds.iter_samples(split):
            k = int(sample_id[-3:])
            assert image.shape == (5, 4, 1) and image.dtype == np.float32 and mask.shape == (5, 4)
            assert 0.0 <= image.min() and image.max() <= 1.0
            assert (mask == 1).sum() == k + 1 and (mask == 2).sum() == (2 if k == 2 else 0)
            assert image[mask > 0].min() > image[mask == 0].max()  # image and label stay aligned


def test_axis_option_and_classes_file(tmp_path):
    root = make_volumes(tmp_path)
    (root / "classes.txt").write_text("background\nlesion\nedema\n")
    with pytest.warns(DatasetWarning):
        ds = open_dataset(root, format="nifti", axis="sagittal", val_fraction=0, test_fraction=0)
    assert ds.classes == ("background", "lesion", "edema")
    assert ds.ids("train")[:4] == ["case01_x000", "case01_x001", "case01_x002", "case01_x003"]
    image, mask, _ = ds.load("train", "case01_x000")
    assert image.shape == (3, 5, 1) and (mask == 1).sum() == 3  # x=0 is labelled in all 3 z slices
    with pytest.raises(SegdashError, match="axis"):
        open_dataset(root, format="nifti", axis="w")


def test_decathlon_layout_with_dataset_json_and_unlabelled_test(tmp_path):
    labels = label_volume()
    save_nifti(tmp_path / "imagesTr" / "la_003_0000.nii.gz", labels.astype(np.float32))  # nnU-Net naming
    save_nifti(tmp_path / "labelsTr" / "la_003.nii.gz", labels)
    save_nifti(tmp_path / "imagesTr" / "la_004.nii.gz", labels.astype(np.float32))
    save_nifti(tmp_path / "labelsTr" / "la_004.nii.gz", labels)
    save_nifti(tmp_path / "imagesTs" / "la_010.nii.gz", np.zeros(SHAPE + (2,), np.float32))  # 4-D, 2 channels
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "atrium", "2": "wall"}}))
    ds = open_dataset(tmp_path, format="nifti")
    assert ds.classes == ("background", "atrium", "wall")
    assert ds.splits() == ["train", "val", "test"] and not ds.has_masks("test")
    image, mask, _ = ds.load("test", "la_010_z001")
    assert mask is None and image.shape == (5, 4, 1)
    with pytest.raises(SegdashError, match="labelsTr"):
        (tmp_path / "labelsTr" / "la_003.nii.gz").unlink()
        (tmp_path / "labelsTr" / "la_004.nii.gz").unlink()
        (tmp_path / "labelsTr").rmdir()
        open_dataset(tmp_path, format="nifti")
