"""Running sums of one split's statistics, one mask at a time (``_Accumulator``).

The pixel counts are added mask by mask. With the imbalance statistics, each mask costs one max
(its labels checked), one copy as uint8 into a stack of masks, and one ``cv2.calcHist`` of (label,
grid row, grid column) for its pixel counts and spatial prior; the stack's objects and
co-occurrence are counted together when it is full (``segdash.data.stats.objects``), so memory stays
a batch's worth however large the split.
"""

from __future__ import annotations

import heapq

import numpy as np

from segdash.data.base import SegDataset
from segdash.data.stats.counting import count_mask, labels_and_cells
from segdash.data.stats.objects import (
    AREA_EDGES,
    MaskStack,
    batch_objects,
    canvas_objects,
    count_runs,
    stackable,
)
from segdash.data.stats.result import GRID, TOP_IMAGES, ClassStats


class _Accumulator:
    """Running sums of one split's statistics: ``add`` one mask at a time, then ``result``.

    The pixel counts are added mask by mask. With the imbalance statistics, a mask's labels are written
    into a stack of masks of one width (``MaskStack``) whose objects and co-occurrence are counted when it
    is sent off (``_flush``): full (BATCH_PIXELS pixels or RUN_BUDGET runs), before a mask of another
    width, and at the end. Empty and noise-like masks are counted on their own at once.
    """

    def __init__(self, num_classes: int, ignore_index: int | None, extended: bool):
        c, bins = num_classes, len(AREA_EDGES) - 1
        self.num_classes, self.ignore_index, self.extended = num_classes, ignore_index, extended
        self.pixels = np.zeros(c, np.int64)
        self.images_with_class = np.zeros(c, np.int64)
        self.pixels_of_images_with_class = np.zeros(c, np.int64)
        self.ignored = self.images = self.without_mask = 0
        self.min_size: tuple[int, int] | None = None
        self.max_size: tuple[int, int] | None = None
        if extended:
            self.cooccurrence = np.zeros((c, c), np.int64)
            self.object_counts = np.zeros(c, np.int64)
            self.object_area_counts = np.zeros((c, bins), np.int64)
            self.cell_pixels = np.zeros((c, GRID * GRID))  # float64: exact integers, whatever the cells' type
            self.heaps: list[list[tuple[int, str]]] = [[] for _ in range(c)]
            #: the fewest pixels that may enter each class's top images: 1 until its heap is full
            self.top_floor = np.ones(c, np.int64)
            #: the stacked masks' labels, and per mask its (C,) pixels per class and its number of pixels
            self.stack = MaskStack(c)
            self.batch_counts: list[np.ndarray] = []
            self.batch_sizes: list[int] = []

    def add(self, mask: np.ndarray, sample_id: str) -> None:
        if self.extended:
            mask = np.asarray(mask)
            labels, cells, ignored = labels_and_cells(mask, self.num_classes, self.ignore_index, self._slot(mask))
            counts = cells.sum(1).astype(np.int64)  # exact: every partial sum is under the mask's pixels
        else:
            counts, ignored = count_mask(mask, self.num_classes, self.ignore_index)
        present = counts > 0
        self.pixels += counts
        self.images_with_class += present
        self.pixels_of_images_with_class[present] += counts.sum()
        self.ignored += ignored
        self.images += 1
        height, width = int(mask.shape[0]), int(mask.shape[1])
        small, large = self.min_size or (height, width), self.max_size or (height, width)
        self.min_size = (min(small[0], height), min(small[1], width))
        self.max_size = (max(large[0], height), max(large[1], width))
        if self.extended:
            self._add_imbalance(labels, sample_id, cells, counts, present)

    def _slot(self, mask: np.ndarray) -> np.ndarray | None:
        """Where the mask's labels go in the batch's stack (None for an empty mask: it has no objects); a
        mask that does not fit (full, or another width) first sends the batch off."""
        if mask.ndim != 2 or mask.size == 0:
            return None
        height, width = mask.shape
        if not self.stack.fits(height, width):
            self._flush()
            self.stack.reset(height, width)
        return self.stack.slot(height)

    def _add_imbalance(self, labels: np.ndarray, sample_id: str, cells: np.ndarray, counts: np.ndarray,
                       present: np.ndarray) -> None:
        self.cell_pixels += cells
        for k in np.flatnonzero(counts >= self.top_floor):  # (ties on pixels are settled by sample id)
            heap, entry = self.heaps[k], (int(counts[k]), sample_id)
            if len(heap) < TOP_IMAGES:
                heapq.heappush(heap, entry)
            else:
                heapq.heappushpop(heap, entry)
                self.top_floor[k] = heap[0][0]
        runs = count_runs(labels) if labels.size else 0
        if stackable(runs, labels.size):
            self.stack.keep(labels.shape[0], runs)
            self.batch_counts.append(counts)
            self.batch_sizes.append(labels.size)
            if self.stack.full():
                self._flush()
            return
        self.cooccurrence += np.outer(present, present)  # empty or noise-like: counted alone
        if runs:
            areas, classes = canvas_objects(labels, cells, counts)  # the slot is written over by the next mask
            self._add_objects(areas, classes, labels.size)

    def _flush(self) -> None:
        """Co-occurrence and objects of the stacked masks."""
        if not self.batch_counts:
            return
        presence = (np.stack(self.batch_counts) > 0).astype(np.int64)
        self.cooccurrence += presence.T @ presence  # (C, B) @ (B, C): images holding both i and j
        areas, image, classes = batch_objects(*self.stack.masks(), self.num_classes)
        self._add_objects(areas, classes, np.array(self.batch_sizes)[image])
        self.stack.clear()
        self.batch_counts, self.batch_sizes = [], []

    def _add_objects(self, areas: np.ndarray, classes: np.ndarray, image_pixels: np.ndarray | int) -> None:
        """Count (N,) objects of (N,) classes, each of (N,) areas in images of ``image_pixels`` pixels."""
        c, bins = self.num_classes, len(AREA_EDGES) - 1
        self.object_counts += np.bincount(classes, minlength=c)
        # side="right": an object of exactly 0.1% of the image is medium, as in the evaluation's buckets
        where = np.clip(np.searchsorted(AREA_EDGES, areas / image_pixels, side="right") - 1, 0, bins - 1)
        self.object_area_counts += np.bincount(classes * bins + where, minlength=c * bins).reshape(c, bins)

    def result(self, ds: SegDataset, split: str, seconds: float) -> ClassStats:
        extended = {}
        if self.extended:
            self._flush()
            top = tuple(tuple((i, n) for n, i in sorted(heap, key=lambda e: (-e[0], e[1]))) for heap in self.heaps)
            extended = {"cooccurrence": self.cooccurrence, "object_counts": self.object_counts,
                        "object_area_counts": self.object_area_counts,
                        "cell_pixels": self.cell_pixels.astype(np.int64), "top_images": top}
        return ClassStats(
            dataset=ds.name, split=split, classes=tuple(ds.classes), images=self.images, pixels=self.pixels,
            images_with_class=self.images_with_class, pixels_of_images_with_class=self.pixels_of_images_with_class,
            ignored_pixels=self.ignored, images_without_mask=self.without_mask, min_size=self.min_size,
            max_size=self.max_size, seconds=seconds, **extended,
        )

