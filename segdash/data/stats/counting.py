"""Counting one mask's pixels: per class, and per class and cell of the spatial-prior grid.

    counts, ignored = count_mask(mask, num_classes=4, ignore_index=255)     # (C,) int64, int
    cells, ignored = cell_counts(mask, 4, 255)                               # (C, GRID * GRID) int64, int

Labels outside the classes (other than the ignore index) raise a ``SegdashError`` naming the label,
before anything is counted, so a bad mask is left out whole.
"""

from __future__ import annotations

import functools

import numpy as np

from segdash.data.labels import check_labels_within, label_counts
from segdash.data.stats.objects import compact_labels
from segdash.data.stats.result import GRID


def count_mask(mask: np.ndarray, num_classes: int, ignore_index: int | None) -> tuple[np.ndarray, int]:
    """HxW int mask -> ((C,) int64 pixels per class, number of ignored pixels); one bincount
    (``segdash.data.labels.label_counts``)."""
    counted = label_counts(mask, num_classes, ignore_index)
    check_labels_within(counted.outside, num_classes, ignore_index)
    return counted.pixels, counted.ignored


@functools.lru_cache(maxsize=8)
def _cell_index(height: int, width: int, grid: int) -> np.ndarray:
    """(H*W,) int64 read-only: the grid cell (row-major) of each pixel, by its relative position."""
    rows = np.arange(height) * grid // height
    cols = np.arange(width) * grid // width
    cells = (rows[:, None] * grid + cols[None, :]).ravel()
    cells.flags.writeable = False
    return cells


def cell_counts(mask: np.ndarray, num_classes: int, ignore_index: int | None,
                grid: int = GRID) -> tuple[np.ndarray, int]:
    """HxW int mask -> ((C, grid*grid) int64 pixels per class and cell, number of ignored pixels).

    Pixel (y, x) falls in cell ``(y * grid // H) * grid + x * grid // W``, so masks of any size map onto
    the same grid. One ``bincount`` of ``label * cells + cell``; labels outside the classes raise.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or grid == 1:  # one cell: the pixel counts themselves
        counts, ignored = count_mask(mask, num_classes, ignore_index)
        return counts[:, None], ignored
    flat, cells = mask.ravel(), _cell_index(mask.shape[0], mask.shape[1], grid)
    ignored, ignore = 0, ignore_index
    if ignore is not None and ignore < 0:  # bincount takes no negatives: drop them first
        keep = flat != ignore
        ignored = int(flat.size - np.count_nonzero(keep))
        flat, cells, ignore = flat[keep], cells[keep], None
    if flat.size and flat.min() < 0:
        check_labels_within(np.array([flat.min()]), num_classes, ignore_index)
    if flat.size and flat.max() >= num_classes:
        # The ignore index (or a bad label) would stretch the bincount to its row: fold them into row C.
        beyond = flat >= num_classes
        ignored_here = int(np.count_nonzero(flat == ignore)) if ignore is not None else 0
        if np.count_nonzero(beyond) != ignored_here:
            check_labels_within(np.array([flat[beyond & (flat != ignore)].min()]), num_classes, ignore_index)
        ignored += ignored_here
        keys = np.minimum(flat, num_classes, dtype=np.int64)
    else:
        keys = flat.astype(np.int64)  # a copy (labels may be unsigned or small): the keys are built in place
    keys *= grid * grid
    keys += cells
    counts = np.bincount(keys, minlength=(num_classes + 1) * grid * grid).reshape(-1, grid * grid)[:num_classes]
    if ignore is not None and 0 <= ignore < num_classes:  # an ignore index among the class labels
        ignored += int(counts[ignore].sum())
        counts[ignore] = 0
    return counts, ignored


@functools.lru_cache(maxsize=8)
def _cell_planes(height: int, width: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 grid row and (H, W) uint8 grid column of each pixel, read-only (see ``cell_counts``)."""
    rows = (np.arange(height) * grid // height).astype(np.uint8)
    cols = (np.arange(width) * grid // width).astype(np.uint8)
    planes = np.repeat(rows[:, None], width, axis=1), np.repeat(cols[None, :], height, axis=0)
    for plane in planes:
        plane.flags.writeable = False
    return planes


def labels_and_cells(
    mask: np.ndarray, num_classes: int, ignore_index: int | None, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """HxW int mask -> (HxW compact labels (``compact_labels``, into ``out`` when given), (C, G*G) cell
    counts (``cell_counts``'s, exact integers in float32 or int64), ignored pixels). Raises for labels
    outside the classes before writing anything.

    A mask holding class labels only (the common case) takes OpenCV's 8-bit histogram, a table look-up
    per pixel: one ``cv2.calcHist`` of (label, grid row, grid column), in float32, exact below 2**24 pixels.
    The others (ignore pixels, labels outside the classes, 255 classes or more) go through ``cell_counts``,
    which also says what is wrong.
    """
    ignore_is_a_class = ignore_index is not None and 0 <= ignore_index < num_classes
    if (mask.ndim == 2 and 0 < mask.size < 2**24 and num_classes < 255 and not ignore_is_a_class
            and _only_class_labels(mask, num_classes)):
        import cv2

        labels = compact_labels(mask, num_classes, ignore_index, False, out)
        rows, cols = _cell_planes(mask.shape[0], mask.shape[1], GRID)
        sizes, ranges = [num_classes, GRID, GRID], [0, num_classes, 0, GRID, 0, GRID]
        hist = cv2.calcHist([labels, rows, cols], [0, 1, 2], None, sizes, ranges)
        return labels, hist.reshape(num_classes, GRID * GRID), 0
    cells, ignored = cell_counts(mask, num_classes, ignore_index)
    return compact_labels(mask, num_classes, ignore_index, ignored > 0, out), cells, ignored


def _only_class_labels(mask: np.ndarray, num_classes: int) -> bool:
    """True when every pixel of an integer mask holds a class label 0..C-1: one max over the mask read as
    unsigned, where negative labels are huge."""
    if mask.dtype.kind not in "iu" or not mask.dtype.isnative:
        return False
    return int(mask.view(f"u{mask.dtype.itemsize}").max()) < num_classes

