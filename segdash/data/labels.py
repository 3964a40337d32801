"""Counting what a label map holds."""

from __future__ import annotations

import numpy as np


def class_pixel_counts(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Pixels per class in a label map (any shape): ``(num_classes,)`` int64; ignored and out-of-range
    values are not counted."""
    flat = np.asarray(labels).reshape(-1)
    valid = (flat >= 0) & (flat < num_classes)
    if ignore_index is not None:
        valid &= flat != ignore_index
    return np.bincount(flat[valid].astype(np.intp), minlength=num_classes)[:num_classes].astype(np.int64)
