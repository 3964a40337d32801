"""Every image format: a corrupt mask found while scanning is skipped with one warning, never fatal.

The builders are those of each format's own test module (the real on-disk layouts).
"""

import warnings

import pytest

from segdash.data import open_dataset
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.stats import class_statistics

from test_formats_carla_kitti import make_carla, make_kitti
from test_formats_mri_npy import make_mri
from test_formats_oxford_pets import make_pets
from test_formats_voc import make_voc


def make_folder(root):
    from test_formats_folder import LABELS, RGB, save

    for stem in ("a", "b", "c"):
        save(root / "images" / f"{stem}.jpg", RGB)
        save(root / "masks" / f"{stem}.png", LABELS)
    return root


CASES = {
    "carla": (make_carla, "CameraSeg/train/02_00_000.png"),
    "kitti": (make_kitti, "training/semantic/000001_10.png"),
    "oxford-pets": (make_pets, "annotations/trimaps/Abyssinian_2.png"),
    "mri-npy": (make_mri, "Segmentations/segm_002.npy"),
    "voc": (make_voc, "VOCdevkit/VOC2012/SegmentationClass/2007_000039.png"),
    "folder": (make_folder, "masks/b.png"),
}


def open_recording(root, format_name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(root, format=format_name)
    return ds, [str(w.message) for w in caught if issubclass(w.category, DatasetWarning)]


def labelled_samples(ds) -> int:
    return sum(len(ds.ids(s)) for s in ds.splits() if ds.has_masks(s))


@pytest.mark.parametrize("format_name", sorted(CASES))
def test_corrupt_mask_is_skipped_with_a_warning(tmp_path, format_name):
    build, mask = CASES[format_name]
    root = build(tmp_path / "data")
    before, _ = open_recording(root, format_name)
    (root / mask).write_bytes(b"\x89PNG garbage, not a mask")
    after, messages = open_recording(root, format_name)
    assert any("unreadable or corrupt" in m and ("mask" in m or "trimap" in m) for m in messages), messages
    assert labelled_samples(after) == labelled_samples(before) - 1
    for split in after.splits():
        if after.has_masks(split):
            class_statistics(after, split, use_cache=False)  # every remaining mask reads
