"""Imbalance statistics of masks counted in batches against the plain way, one mask at a time.

The batches stack masks and find their objects from their runs (``batch_objects``); noise-like masks take
the per-class OpenCV canvas (``canvas_objects``). Everything is checked against ``scipy.ndimage.label``
with a 3x3 structure of ones (8-connectivity), ``(mask == c).any()`` and a per-pixel grid-cell count,
with batches cut everywhere (tiny BATCH_PIXELS / RUN_BUDGET), masks of several widths, ignore index 255
and a negative one, empty and all-ignore masks.
"""

import numpy as np
import pytest
from scipy import ndimage

from segdash.data import stats as S
from segdash.data.base import Sample, SegDataset
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.stats import (
    AREA_EDGES,
    GRID,
    TOP_IMAGES,
    accumulation,
    batch_objects,
    cell_counts,
    class_statistics,
    counting,
    objects,
)
from segdash.errors import SegdashError

EIGHT = np.ones((3, 3), int)
CLASSES = 4


class Masks(SegDataset):
    """In-memory masks of one split, in order, with a chosen ignore index."""

    name = "batch-masks"
    classes = tuple(f"c{i}" for i in range(CLASSES))
    colors = ((0, 0, 0),) * CLASSES
    in_channels = 1

    def __init__(self, masks: dict[str, np.ndarray], ignore_index: int | None):
        self.masks, self.ignore_index = masks, ignore_index

    def splits(self):
        return ["train"]

    def ids(self, split):
        return list(self.masks)

    def load(self, split, sample_id):
        mask = self.masks[sample_id]
        return Sample(np.zeros(mask.shape + (1,), np.float32), mask, sample_id)


def random_masks(seed: int, ignore: int | None, count: int = 24) -> dict[str, np.ndarray]:
    """Blobs (few large objects, long runs) and noise (one-pixel objects, diagonal contacts everywhere) of
    a few sizes, widths changing now and then (each change sends a batch off), ignore pixels sprinkled."""
    rng = np.random.default_rng(seed)
    sizes = [(17, 23), (17, 23), (40, 23), (1, 23), (9, 1), (30, 64), (30, 64), (1, 1), (5, 31)]
    masks = {}
    for i in range(count):
        height, width = sizes[i % len(sizes)]
        if i % 3:
            coarse = rng.integers(0, CLASSES, (4, 4))
            mask = np.kron(coarse, np.ones((height // 4 + 1, width // 4 + 1), int))[:height, :width]
        else:
            mask = rng.integers(0, CLASSES, (height, width))
        if ignore is not None and i % 2:
            mask[rng.random(mask.shape) < 0.1] = ignore
        masks[f"m{i:02d}"] = mask.astype(np.int64)
    masks["all-ignore"] = np.full((6, 23), ignore if ignore is not None else 0, np.int64)
    return masks


def expected(masks: dict[str, np.ndarray]) -> dict:
    """Every imbalance statistic, one mask and one class at a time."""
    counts = np.zeros(CLASSES, int)
    hist = np.zeros((CLASSES, len(AREA_EDGES) - 1), int)
    co = np.zeros((CLASSES, CLASSES), int)
    cells = np.zeros((CLASSES, GRID, GRID), int)
    pixels = {}
    for name, m in masks.items():
        present = np.array([(m == c).any() for c in range(CLASSES)])
        co += np.outer(present, present)
        pixels[name] = [int((m == c).sum()) for c in range(CLASSES)]
        for c in range(CLASSES):
            labels, n = ndimage.label(m == c, structure=EIGHT)
            counts[c] += n
            hist[c] += np.histogram(np.bincount(labels.ravel())[1:] / m.size, bins=AREA_EDGES)[0]
        ys, xs = np.nonzero((m >= 0) & (m < CLASSES))
        np.add.at(cells, (m[ys, xs], ys * GRID // m.shape[0], xs * GRID // m.shape[1]), 1)
    top = [sorted(((p[c], n) for n, p in pixels.items() if p[c]), key=lambda e: (-e[0], e[1]))[:TOP_IMAGES]
           for c in range(CLASSES)]
    return {"counts": counts, "hist": hist, "co": co, "cells": cells.reshape(CLASSES, -1), "top": top}


# tiny budgets cut batches after every mask or two and send every mask with over 8 runs to the canvas
BUDGETS = [(S.BATCH_PIXELS, S.RUN_BUDGET), (600, 300), (64, 8)]


@pytest.mark.parametrize("budget", BUDGETS, ids=["default", "small-batches", "canvas"])
@pytest.mark.parametrize("ignore", [None, 255, -1])
def test_batched_statistics_match_one_mask_at_a_time(monkeypatch, budget, ignore):
    monkeypatch.setattr(objects, "BATCH_PIXELS", budget[0])
    monkeypatch.setattr(objects, "RUN_BUDGET", budget[1])
    masks = random_masks(3 if ignore is None else ignore + 10, ignore)
    stats = class_statistics(Masks(masks, ignore), "train", use_cache=False)
    want = expected(masks)
    np.testing.assert_array_equal(stats.object_counts, want["counts"])
    np.testing.assert_array_equal(stats.object_area_counts, want["hist"])
    np.testing.assert_array_equal(stats.cooccurrence, want["co"])
    np.testing.assert_array_equal(stats.cell_pixels, want["cells"])
    assert [[(n, p) for p, n in top] for top in want["top"]] == [list(top) for top in stats.top_images]
    ignored = sum(int((m == ignore).sum()) for m in masks.values()) if ignore is not None else 0
    assert stats.ignored_pixels == ignored and stats.images == len(masks)
    np.testing.assert_array_equal(stats.pixels, want["cells"].sum(1))


def test_batch_objects_of_masks_of_different_widths_match_scipy():
    """One stack of masks of several widths (padded with C), every mask's objects found apart."""
    masks = list(random_masks(5, 255).values())
    labels = [objects.compact_labels(m, CLASSES, 255, True) for m in masks]
    areas, images, classes = batch_objects(*objects.stack_masks(labels, CLASSES), CLASSES)
    for b, m in enumerate(masks):
        for c in range(CLASSES):
            scipy_labels, _ = ndimage.label(m == c, structure=EIGHT)
            want = sorted(np.bincount(scipy_labels.ravel())[1:].tolist())
            assert sorted(areas[(images == b) & (classes == c)].tolist()) == want, (b, c)


def test_runs_touching_only_at_a_corner_join_and_rows_do_not_wrap():
    """Diagonal contacts both ways join, even where two classes cross at a corner (top left: 1s on one
    diagonal, 0s on the other); a run ending a row does not touch the next row's first run."""
    mask = np.array([
        [1, 0, 0, 1],
        [0, 1, 1, 0],
        [1, 0, 0, 1],
        [0, 0, 0, 1],
    ])
    areas, images, classes = batch_objects(*objects.stack_masks([mask.astype(np.uint8)], 2), 2)
    # by eye: the seven 1s are one object through corners, and so are the nine 0s
    assert sorted(zip(classes.tolist(), areas.tolist())) == [(0, 9), (1, 7)]
    assert ndimage.label(mask == 1)[1] == 5  # with 4-connectivity: five objects
    # (0, 3) and (1, 0) would be neighbours in the raveled stack: they are not joined
    ends = np.array([[0, 0, 0, 1], [1, 0, 0, 0]], np.uint8)
    areas, _, classes = batch_objects(*objects.stack_masks([ends], 2), 2)
    assert sorted(areas[classes == 1].tolist()) == [1, 1]


def test_fast_cells_equal_cell_counts():
    """The histogram of masks holding class labels only equals cell_counts, for sizes under and over the grid."""
    rng = np.random.default_rng(1)
    for height, width in [(1, 1), (7, 300), (300, 5), (33, 64), (192, 256)]:
        mask = rng.integers(0, CLASSES, (height, width))
        labels, cells, ignored = counting.labels_and_cells(mask, CLASSES, 255)
        np.testing.assert_array_equal(cells, cell_counts(mask, CLASSES, 255)[0])
        np.testing.assert_array_equal(labels, mask) and ignored == 0
        assert labels.dtype == np.uint8


@pytest.mark.parametrize("bad", [CLASSES, 256 + 1, -3])
def test_labels_outside_the_classes_are_refused_even_when_uint8_would_wrap_them(bad):
    """257 reads as 1 and -3 as 253 in uint8: the check is on the mask as given."""
    mask = np.zeros((4, 5), np.int64)
    mask[2, 3] = bad
    with pytest.raises(SegdashError, match=str(bad)):
        counting.labels_and_cells(mask, CLASSES, 255)
    masks = {"good": np.ones((4, 5), np.int64), "bad": mask, "after": np.full((4, 5), 2, np.int64)}
    with pytest.warns(DatasetWarning, match="bad"):
        stats = class_statistics(Masks(masks, 255), "train", use_cache=False)
    assert [sid for sid, _ in stats.skipped] == ["bad"]  # counted nowhere, the batch goes on
    assert stats.object_counts.tolist() == [0, 1, 1, 0] and stats.images == 2
    assert stats.cooccurrence.sum() == 2 and stats.cell_pixels.sum() == 40


def test_memory_is_a_batch_whatever_the_split(monkeypatch):
    """A split of many masks keeps at most one stack: its array is reused, never grown past a batch."""
    masks = {f"m{i}": np.kron(np.arange(4).reshape(2, 2), np.ones((32, 32), int)) for i in range(200)}
    seen = []
    flush = accumulation._Accumulator._flush

    def spy(self):
        seen.append((len(self.batch_counts), self.stack.array.nbytes))
        flush(self)

    monkeypatch.setattr(accumulation._Accumulator, "_flush", spy)
    stats = class_statistics(Masks(masks, None), "train", use_cache=False)
    assert stats.object_counts.tolist() == [200] * 4
    batches = [n for n, _ in seen if n]
    assert len(batches) >= 200 * 64 * 64 // S.BATCH_PIXELS and max(batches) <= S.BATCH_PIXELS // (64 * 64)
    assert max(nbytes for _, nbytes in seen) <= S.BATCH_PIXELS + 3 * 64


def test_top_images_keep_the_most_pixels_ties_by_sample_id(monkeypatch):
    """With room for 3, masks that cannot enter a full top list are not pushed. Kept: the largest
    (pixels, sample id), as merge_stats keeps them; listed by pixels, most first, then by id."""
    monkeypatch.setattr(accumulation, "TOP_IMAGES", 3)
    rng = np.random.default_rng(2)
    masks = {f"s{i:02d}": (rng.random((6, 7)) < rng.choice([0.2, 0.5, 0.8])).astype(np.int64) for i in range(30)}
    masks["tie-a"] = masks["tie-b"] = np.ones((6, 7), np.int64)  # as many pixels of class 1 as can be
    stats = class_statistics(Masks(masks, None), "train", use_cache=False)
    for c in (0, 1):
        kept = sorted(((int((m == c).sum()), n) for n, m in masks.items() if (m == c).any()), reverse=True)[:3]
        assert list(stats.top_images[c]) == [(n, p) for p, n in sorted(kept, key=lambda e: (-e[0], e[1]))]
    assert [n for n, _ in stats.top_images[1][:2]] == ["tie-a", "tie-b"]


def test_connected_objects_of_masks_without_class_pixels():
    for mask in (np.zeros((0, 5), np.int64), np.full((3, 4), 255)):
        cells, _ = cell_counts(mask, CLASSES, 255)
        areas, classes = S.connected_objects(mask, cells, 255)
        assert areas.size == 0 and classes.size == 0


def test_many_classes_take_16_bit_labels():
    """300 classes: labels in uint16, the cells by cell_counts; objects and cells still match."""
    rng = np.random.default_rng(4)
    masks = {f"m{i}": np.kron(rng.integers(0, 300, (4, 5)), np.ones((6, 5), int)) for i in range(3)}
    masks["m0"][0, :3] = 299  # a class touching another block of itself diagonally or not at all

    class Many(Masks):
        classes = tuple(f"c{i}" for i in range(300))
        colors = ((0, 0, 0),) * 300

    stats = class_statistics(Many(masks, 65535), "train", use_cache=False)
    for c in range(300):
        want = sum(ndimage.label(m == c, structure=EIGHT)[1] for m in masks.values())
        assert stats.object_counts[c] == want, c
    cells = sum(cell_counts(m, 300, 65535)[0] for m in masks.values())
    np.testing.assert_array_equal(stats.cell_pixels, cells)
    assert objects.compact_labels(masks["m1"], 300, 65535, False).dtype == np.uint16


def test_more_classes_than_any_table_is_refused_before_counting(monkeypatch):
    """A dataset of 60001 classes (a format that numbered them from a 16-bit label): one error, before any
    (C, C) co-occurrence is allocated."""

    class Huge(Masks):
        classes = tuple(f"c{i}" for i in range(60001))
        colors = ((0, 0, 0),) * 60001

    def no_accumulator(*args, **kwargs):
        raise AssertionError("the per-class sums were allocated")

    from segdash.data.stats import compute

    monkeypatch.setattr(compute, "_Accumulator", no_accumulator)
    with pytest.raises(SegdashError, match="60001 classes; segdash counts at most 1024"):
        class_statistics(Huge({"a": np.zeros((2, 2), np.int64)}, None), "train", use_cache=False)
