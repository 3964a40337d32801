"""brain-mri: real MNI template slices, 4 classes, splits by slice position, cached."""

import os
import time

import numpy as np
import pytest

from segdash.data import DEFAULT_DATASET, open_dataset
from segdash.data.builtin.brain_mri import CUBE, BrainMRI, assign_splits
from segdash.errors import SegdashError


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    # Module fixtures run before conftest's per-test cache fixture: point at the same folder here.
    root = os.environ.get("SEGDASH_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "segdash-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGDASH_CACHE", root)
        yield open_dataset("brain-mri")


def test_is_the_default_and_has_the_promised_shape(ds):
    assert DEFAULT_DATASET == "brain-mri"
    assert ds.classes == ("background", "CSF", "grey matter", "white matter")
    assert len(ds.colors) == 4 and ds.in_channels == 1 and ds.ignore_index is None
    assert ds.splits() == ["train", "val", "test"]
    sizes = {s: len(ds.ids(s)) for s in ds.splits()}
    total = sum(sizes.values())
    assert total > 250
    assert 0.62 < sizes["train"] / total < 0.78
    assert 0.1 < sizes["val"] / total < 0.2 and 0.1 < sizes["test"] / total < 0.2
    image, mask, sample_id = ds.load("test", ds.ids("test")[0])
    assert image.shape == (CUBE, CUBE, 1) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert mask.shape == (CUBE, CUBE) and mask.dtype == np.int64
    assert set(np.unique(mask)) <= {0, 1, 2, 3}
    assert sample_id.split("_")[0] in ("axial", "coronal", "sagittal")
    assert "nilearn" in ds.source and "ICBM152" in ds.source


def test_every_class_present_and_labels_follow_the_brain(ds):
    counts = np.zeros(4, np.int64)
    for image, mask, _ in ds.iter_samples("val"):
        counts += np.bincount(mask.ravel(), minlength=4)
        # background exactly where the skull-stripped T1 is zero (the brain mask is hole-free)
        assert np.array_equal(mask == 0, image[:, :, 0] == 0)
    assert (counts > 0).all()
    assert counts[2] > counts[1] and counts[3] > counts[1]  # GM and WM outweigh CSF


def test_splits_never_hold_neighbouring_slices(ds):
    by_orientation: dict[str, list[tuple[int, str]]] = {}
    for split in ds.splits():
        for sample_id in ds.ids(split):
            orientation, _, coord = ds.position(sample_id)
            by_orientation.setdefault(orientation, []).append((coord, split))
    assert set(by_orientation) == {"axial", "coronal", "sagittal"}
    for orientation, items in by_orientation.items():
        coords = np.array([c for c, _ in items])
        splits = np.array([s for _, s in items])
        different = splits[:, None] != splits[None, :]
        gaps = np.abs(coords[:, None] - coords[None, :])
        assert gaps[different].min() > ds.guard, orientation
        assert set(splits) == {"train", "val", "test"}, orientation


def test_no_test_slice_is_a_near_copy_of_a_training_slice(ds):
    """The symmetric template makes mirrored sagittal slices identical: those must not cross splits."""
    train = {
        o: np.stack([ds.load("train", i).image[:, :, 0] for i in ds.ids("train") if i.startswith(o)])
        for o in ("axial", "coronal", "sagittal")
    }
    neighbour_gap = np.abs(train["axial"][1:] - train["axial"][:-1]).mean(axis=(1, 2)).min()
    for image, _, sample_id in ds.iter_samples("test"):
        stack = train[sample_id.split("_")[0]]
        nearest = np.abs(stack - image[None, :, :, 0]).mean(axis=(1, 2)).min()
        assert nearest > 2 * neighbour_gap, sample_id


def test_assign_splits_drops_guard_slices_between_blocks():
    coords = np.arange(100)
    blocks = (("train", 0.5), ("val", 0.25), ("test", 0.25))
    kept = assign_splits(coords, blocks, guard=3)
    assert kept[:47] == ["train"] * 47 and kept[47:50] == [None] * 3
    assert kept[50:72] == ["val"] * 22 and kept[72:75] == [None] * 3 and kept[75:] == ["test"] * 25


def test_deterministic_and_cached(ds, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGDASH_CACHE", str(tmp_path))
    fresh = BrainMRI()
    assert fresh.preparation_seconds is not None and fresh.preparation_seconds < 20
    start = time.perf_counter()
    cached = BrainMRI()
    assert time.perf_counter() - start < 0.5
    assert cached.preparation_seconds is None
    for split in ds.splits():
        assert fresh.ids(split) == cached.ids(split) == ds.ids(split)
    sample_id = ds.ids("train")[7]
    a, b = fresh.load("train", sample_id), cached.load("train", sample_id)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_options_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGDASH_CACHE", str(tmp_path))
    axial = open_dataset("brain-mri", orientations="axial", guard="2")
    assert all(i.startswith("axial_") for s in axial.splits() for i in axial.ids(s))
    with pytest.raises(SegdashError, match="orientations"):
        open_dataset("brain-mri", orientations="oblique")
    with pytest.raises(SegdashError, match="guard"):
        open_dataset("brain-mri", guard="many")
    with pytest.raises(SegdashError, match="no sample"):
        axial.load("test", axial.ids("train")[0])
