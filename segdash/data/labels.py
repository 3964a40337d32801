"""Counting what a label map holds: pixels per class, in one place.

    class_pixel_counts(labels, num_classes=4, ignore_index=255)   # (C,) int64; ignored, outside: not counted
    image_class_pixel_counts(masks, num_classes=4)                # (N, C) int64, one row per image
    counted = label_counts(mask, 4, 255)       # .pixels (C,), .ignored, .outside (labels neither)
    check_labels_within(counted.outside, 4, 255)                  # raises, naming the first bad label

The statistics (``segdash.data.stats``), training's rare-class sampler, legends and metrics all
count through these.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from segdash.errors import SegdashError

#: labels up to this far above the classes are counted by one bincount over the labels themselves; maps
#: holding larger ones (a corrupt int64) are counted over their class pixels, with no table that long
_BINCOUNT_SPAN = 1 << 16
#: pixels per block of ``image_class_pixel_counts`` (its int64 keys take 8 bytes each)
_BLOCK_PIXELS = 1 << 22


@dataclasses.dataclass(frozen=True)
class LabelCounts:
    """What one label map holds."""

    #: (C,) int64 pixels of each class 0..C-1 (the ignore index not counted, even when it is a class)
    pixels: np.ndarray
    #: pixels equal to the ignore index
    ignored: int
    #: the distinct values that are neither a class nor the ignore index, sorted
    outside: np.ndarray


def label_counts(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> LabelCounts:
    """Pixels per class of a label map of any shape, the ignored pixels, and the labels outside.

    Integer maps whose labels are non-negative and not far above the classes (the usual case) take
    one ``bincount`` over the labels; others are counted over the pixels that hold a class.
    """
    flat = np.asarray(labels).reshape(-1)
    if flat.dtype.kind in "biu" and flat.size:
        low, high = (0, int(flat.max())) if flat.dtype.kind in "bu" else (int(flat.min()), int(flat.max()))
        if low >= 0 and high < num_classes + _BINCOUNT_SPAN:
            counts = np.bincount(flat, minlength=num_classes)
            ignored = 0
            if ignore_index is not None and 0 <= ignore_index < counts.size:
                ignored = int(counts[ignore_index])
                counts[ignore_index] = 0
            outside = np.flatnonzero(counts[num_classes:]) + num_classes
            return LabelCounts(counts[:num_classes].astype(np.int64, copy=False), ignored, outside)
    kept = np.ones(flat.shape, bool) if ignore_index is None else flat != ignore_index
    inside = kept & (flat >= 0) & (flat < num_classes)
    pixels = np.bincount(flat[inside].astype(np.intp), minlength=num_classes)[:num_classes].astype(np.int64)
    return LabelCounts(pixels, int(flat.size - np.count_nonzero(kept)), np.unique(flat[kept & ~inside]))


def class_pixel_counts(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Pixels per class in a label map (any shape): ``(num_classes,)`` int64; ignored and out-of-range
    values are not counted."""
    return label_counts(labels, num_classes, ignore_index).pixels


def image_class_pixel_counts(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """(N, ...) label maps -> (N, C) int64 pixels per image and class (``class_pixel_counts`` of each),
    one ``bincount`` per block of images."""
    labels = np.asarray(labels)
    flat = labels.reshape(len(labels), -1)
    out = np.zeros((len(flat), num_classes), np.int64)
    per_block = max(1, _BLOCK_PIXELS // max(1, flat.shape[1]))
    for start in range(0, len(flat), per_block):
        block = flat[start : start + per_block]
        valid = (block >= 0) & (block < num_classes)
        if ignore_index is not None:
            valid &= block != ignore_index
        keys = np.where(valid, block, num_classes).astype(np.int64)
        keys += (num_classes + 1) * np.arange(len(block))[:, None]  # one row of C + 1 bins per image
        counts = np.bincount(keys.ravel(), minlength=len(block) * (num_classes + 1))
        out[start : start + len(block)] = counts.reshape(len(block), num_classes + 1)[:, :num_classes]
    return out


def check_labels_within(outside: np.ndarray, num_classes: int, ignore_index: int | None) -> None:
    """Raise a ``SegdashError`` naming the smallest label of ``outside`` (``LabelCounts.outside``), if any."""
    if len(outside) == 0:
        return
    bad = int(outside[0])
    if bad < 0:
        raise SegdashError(f"mask holds negative label {bad} (ignore index {ignore_index})")
    raise SegdashError(f"mask holds label {bad} outside the {num_classes} classes (ignore index {ignore_index})")
