"""Class pixel statistics of a dataset split, in one streaming pass, cached on disk.

    stats = class_statistics(open_dataset("street-synth"), "train")
    stats.frequency          # (C,) float64, share of labelled pixels per class
    stats.image_presence     # (C,) float64, share of images in which the class appears
    stats.class_weights("median")
    stats.cooccurrence       # (C, C) int64, images holding both class i and class j
    stats.object_counts      # (C,) int64, 8-connected objects per class
    stats.spatial_prior      # (C, 32, 32) float64, where each class's pixels fall in the frame
    split_drift(train, test) # Jensen-Shannon divergence of the class frequencies, in bits

One mask at a time is read, so memory stays flat however large the split is (the
imbalance statistics hold one batch of masks, see below). Results are cached as JSON in
``cache_dir("stats")`` under a key made of the dataset's identity (type, name,
classes, options) and a fingerprint of its content: file paths, sizes and
modification times for file-based datasets, or the dataset's own
``fingerprint(split)`` when it has one. Change a file and the cache misses.

Pixels equal to the ignore index are counted apart (``ignored_pixels``) and take
part in nothing else.

The imbalance statistics come from the same pass (``extended=False`` skips them) and
cost under 3x the basic counts at low load (street-synth train, issue 13: 2.35x-2.75x at
load 0.8-1.1 on 2 cores, 2.5x-3.2x under load 1.6-4; 7-8x before the batches). Per mask: one
max checks the labels, they are copied as uint8 into a stack of masks, and one
``cv2.calcHist`` of (label, grid row, grid column) gives the pixel counts and the spatial
prior. Per batch of stacked masks (BATCH_PIXELS pixels, RUN_BUDGET runs): the masks are
cut into runs (a row's stretches of one label), each run finds the run of its class it
touches below and above its start (``_run_contacts``), and one
``scipy.sparse.csgraph.connected_components`` call joins the runs into the 8-connected
objects of every class and mask, a fixed number of NumPy calls however many masks and
classes. Masks of short runs (noise-like, under SHORT_RUN pixels on average) are labelled
alone, one ``cv2.connectedComponents`` call over a canvas of one tile per class
(``_canvas_objects``): their runs would cost more memory than their pixels.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import heapq
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from segdash.data.base import IndexedDataset, SegDataset
from segdash.data.formats.skipping import warn_skipped_samples
from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_json, cache_dir
from segdash.jsonsafe import finite_or_none
from segdash.sharding import shard_of

#: Bump when the statistics change meaning: old cache files are then ignored.
STATS_VERSION = 2
WEIGHT_METHODS = ("inverse", "median")

#: side of the spatial-prior grid: each mask is mapped onto GRID x GRID cells by relative position
GRID = 32
#: object areas as a share of the image's pixels, binned on half-decades (the same for every class
#: and split); the first bin holds everything under 1e-5. 1e-3 and 1e-2 are edges, so the bins add
#: up to the evaluation's size buckets: small < 0.1%, medium 0.1% to 1%, large >= 1% of the image.
AREA_EDGES = np.concatenate([[0.0], np.logspace(-5, 0, 11)])
SMALL_OBJECT = 1e-3
#: images remembered per class for the rare-class finder (those with the most pixels of the class)
TOP_IMAGES = 50
#: a class is much rarer in a split when its share of pixels is under this fraction of the reference's
MUCH_RARER = 1 / 3

#: progress(done, total) after each image; total is the number of images in the split.
Progress = Callable[[int, int], None]


@dataclasses.dataclass
class ClassStats:
    """Pixel statistics of one split. Arrays are (C,) in class order."""

    dataset: str
    split: str
    classes: tuple[str, ...]
    #: images whose mask was read
    images: int
    #: pixels per class (ignored pixels excluded), int64
    pixels: np.ndarray
    #: number of images in which each class has at least one pixel, int64
    images_with_class: np.ndarray
    #: per class, the total labelled pixels of the images where the class appears (for median frequency)
    pixels_of_images_with_class: np.ndarray
    ignored_pixels: int = 0
    #: samples of the split that have no mask (skipped)
    images_without_mask: int = 0
    #: samples left out because they could not be read or did not fit: (sample id, why)
    skipped: tuple[tuple[str, str], ...] = ()
    #: smallest and largest mask (height, width) seen
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    seconds: float = 0.0
    #: True when read back from the on-disk cache
    from_cache: bool = False
    # --- imbalance statistics (None when computed with extended=False) ---
    #: (C, C) int64: images holding at least one pixel of class i and one of class j (diagonal: images_with_class)
    cooccurrence: np.ndarray | None = None
    #: (C,) int64: 8-connected objects of each class, summed over the images
    object_counts: np.ndarray | None = None
    #: (C, len(AREA_EDGES) - 1) int64: objects per area bin (area as a share of the image's pixels)
    object_area_counts: np.ndarray | None = None
    #: (C, GRID * GRID) int64: pixels of each class per grid cell (row-major)
    cell_pixels: np.ndarray | None = None
    #: per class, up to TOP_IMAGES (sample_id, pixels) with the most pixels of the class, most first
    top_images: tuple[tuple[tuple[str, int], ...], ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labeled_pixels(self) -> int:
        return int(self.pixels.sum())

    @property
    def frequency(self) -> np.ndarray:
        """(C,) float64: share of labelled pixels of each class (sums to 1; zeros when nothing is labelled)."""
        total = self.pixels.sum()
        return self.pixels / total if total else np.zeros(self.num_classes)

    @property
    def image_presence(self) -> np.ndarray:
        """(C,) float64: share of images in which each class appears."""
        return self.images_with_class / self.images if self.images else np.zeros(self.num_classes)

    @property
    def extended(self) -> bool:
        """True when the imbalance statistics (co-occurrence, objects, spatial prior) were computed."""
        return self.cooccurrence is not None

    @property
    def spatial_prior(self) -> np.ndarray | None:
        """(C, GRID, GRID) float64: share of each class's pixels per cell (each class sums to 1; NaN when absent)."""
        if self.cell_pixels is None:
            return None
        total = self.cell_pixels.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.cell_pixels / total).reshape(self.num_classes, GRID, GRID)

    @property
    def small_object_share(self) -> np.ndarray | None:
        """(C,) float64: share of each class's objects smaller than SMALL_OBJECT of the image (NaN: no objects)."""
        if self.object_area_counts is None:
            return None
        small = self.object_area_counts[:, : int(np.searchsorted(AREA_EDGES, SMALL_OBJECT))].sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return small / self.object_counts

    @property
    def mostly_small(self) -> np.ndarray | None:
        """(C,) bool: classes whose objects are mostly (over half) small."""
        share = self.small_object_share
        return None if share is None else np.nan_to_num(share) > 0.5

    def class_weights(self, method: str = "inverse", floor: float = 0.0) -> np.ndarray:
        """(C,) float64 suggested loss weights; classes with no pixels get weight 0.

        ``inverse``: ``total / (K * pixels_c)`` with K the number of classes present
        (scikit-learn's "balanced"): every present class then carries the same total
        weight, and a perfectly balanced split gives all ones.
        ``median``: median frequency balancing (Eigen & Fergus 2015):
        ``median(f) / f_c`` with ``f_c = pixels_c / pixels of the images where c
        appears``, the median taken over the present classes.
        ``floor``: every present class's weight is raised to at least this. Both methods
        damp the frequent classes (under ``median`` the most frequent weigh 1/18 of the
        median class on street-synth, which then paints over their edges); a floor keeps
        the rare classes' boost and damps the frequent ones less.
        A class that never appears cannot be learnt from this split, so it gets 0
        rather than an infinite weight.
        """
        present = self.pixels > 0
        weights = np.zeros(self.num_classes)
        if not present.any():
            return weights
        if method == "inverse":
            weights[present] = self.pixels.sum() / (present.sum() * self.pixels[present])
        elif method == "median":
            freq = self.pixels[present] / self.pixels_of_images_with_class[present]
            weights[present] = np.median(freq) / freq
        else:
            raise SegdashError(f"unknown class-weight method {method!r}; valid: {', '.join(WEIGHT_METHODS)}")
        weights[present] = np.maximum(weights[present], floor)
        return weights

    def to_dict(self) -> dict:
        """JSON-ready: per-class lists in class order, plus the split's totals."""
        return {
            "images": self.images,
            "pixels": [int(v) for v in self.pixels],
            "frequency": [float(v) for v in self.frequency],
            "image_presence": [float(v) for v in self.image_presence],
            "images_with_class": [int(v) for v in self.images_with_class],
            "weights_inverse": [float(v) for v in self.class_weights("inverse")],
            "weights_median": [float(v) for v in self.class_weights("median")],
            "labeled_pixels": self.labeled_pixels,
            "ignored_pixels": self.ignored_pixels,
            "images_without_mask": self.images_without_mask,
            "skipped": [{"sample_id": sid, "reason": why} for sid, why in self.skipped],
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
            **(self._imbalance_dict() if self.extended else {}),
        }

    def _imbalance_dict(self) -> dict:
        """The JSON of the imbalance statistics; undefined shares (a class that never appears) are null."""
        edges = [float(e) for e in AREA_EDGES]
        prior = self.spatial_prior
        return {
            "cooccurrence": self.cooccurrence.tolist(),
            "objects": [
                {"count": int(n), "area_edges": edges, "area_counts": [int(v) for v in row],
                 "small_share": finite_or_none(small), "mostly_small": bool(flag)}
                for n, row, small, flag in zip(self.object_counts, self.object_area_counts,
                                               self.small_object_share, self.mostly_small)
            ],
            "spatial_prior": [grid.tolist() if np.isfinite(grid).all() else None for grid in prior],
            "top_images": [[[sample_id, pixels] for sample_id, pixels in top] for top in self.top_images],
        }

    def to_frame(self):
        """pandas DataFrame, one row per class (for tables in the dashboard)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "class": list(self.classes),
                "pixels": self.pixels,
                "frequency": self.frequency,
                "image_presence": self.image_presence,
                "weight_inverse": self.class_weights("inverse"),
                "weight_median": self.class_weights("median"),
            }
        )

    def _to_cache(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "classes": list(self.classes),
            "images": self.images,
            "pixels": self.pixels.tolist(),
            "images_with_class": self.images_with_class.tolist(),
            "pixels_of_images_with_class": self.pixels_of_images_with_class.tolist(),
            "ignored_pixels": self.ignored_pixels,
            "images_without_mask": self.images_without_mask,
            "skipped": [list(pair) for pair in self.skipped],
            "min_size": list(self.min_size) if self.min_size else None,
            "max_size": list(self.max_size) if self.max_size else None,
            "seconds": self.seconds,
            **({
                "cooccurrence": self.cooccurrence.tolist(),
                "object_counts": self.object_counts.tolist(),
                "object_area_counts": self.object_area_counts.tolist(),
                "cell_pixels": self.cell_pixels.tolist(),
                "top_images": [list(map(list, top)) for top in self.top_images],
            } if self.extended else {}),
        }  # fmt: skip

    @classmethod
    def _from_cache(cls, d: dict) -> ClassStats:
        extended = {}
        if "cooccurrence" in d:
            extended = {
                "cooccurrence": np.asarray(d["cooccurrence"], np.int64),
                "object_counts": np.asarray(d["object_counts"], np.int64),
                "object_area_counts": np.asarray(d["object_area_counts"], np.int64),
                "cell_pixels": np.asarray(d["cell_pixels"], np.int64),
                "top_images": tuple(tuple((str(i), int(n)) for i, n in top) for top in d["top_images"]),
            }
        return cls(
            dataset=d["dataset"],
            split=d["split"],
            classes=tuple(d["classes"]),
            images=int(d["images"]),
            pixels=np.asarray(d["pixels"], np.int64),
            images_with_class=np.asarray(d["images_with_class"], np.int64),
            pixels_of_images_with_class=np.asarray(d["pixels_of_images_with_class"], np.int64),
            ignored_pixels=int(d["ignored_pixels"]),
            images_without_mask=int(d["images_without_mask"]),
            skipped=tuple((str(sid), str(why)) for sid, why in d.get("skipped", [])),
            min_size=tuple(d["min_size"]) if d["min_size"] else None,
            max_size=tuple(d["max_size"]) if d["max_size"] else None,
            seconds=float(d["seconds"]),
            from_cache=True,
            **extended,
        )


def count_mask(mask: np.ndarray, num_classes: int, ignore_index: int | None) -> tuple[np.ndarray, int]:
    """HxW int mask -> ((C,) int64 pixels per class, number of ignored pixels); one bincount."""
    counts, ignored = cell_counts(mask, num_classes, ignore_index, grid=1)
    return counts[:, 0].copy(), ignored


@functools.lru_cache(maxsize=8)
def _cell_index(height: int, width: int, grid: int) -> np.ndarray:
    """(H*W,) int64 read-only: the grid cell (row-major) of each pixel, by its relative position."""
    rows = np.arange(height) * grid // height
    cols = np.arange(width) * grid // width
    cells = (rows[:, None] * grid + cols[None, :]).ravel()
    cells.flags.writeable = False
    return cells


def cell_counts(mask: np.ndarray, num_classes: int, ignore_index: int | None, grid: int = GRID) -> tuple[np.ndarray, int]:
    """HxW int mask -> ((C, grid*grid) int64 pixels per class and cell, number of ignored pixels).

    Pixel (y, x) falls in cell ``(y * grid // H) * grid + x * grid // W``, so masks of any size map onto
    the same grid. One ``bincount`` of ``label * cells + cell``; labels outside the classes raise.
    """
    mask = np.asarray(mask)
    flat = mask.ravel()
    cells = _cell_index(mask.shape[0], mask.shape[1], grid) if mask.ndim == 2 and grid > 1 else None
    ignored = 0
    if ignore_index is not None and ignore_index < 0:  # bincount takes no negatives: drop them first
        keep = flat != ignore_index
        ignored = int(flat.size - np.count_nonzero(keep))
        flat, cells, ignore_index = flat[keep], None if cells is None else cells[keep], None
    if flat.size and flat.min() < 0:
        raise SegdashError(f"mask holds negative label {int(flat.min())} (ignore index {ignore_index})")
    if cells is None:  # one cell: count the labels themselves
        counts = np.bincount(flat, minlength=num_classes)
        if ignore_index is not None and ignore_index < counts.size:
            ignored += int(counts[ignore_index])
            counts[ignore_index] = 0
        _check_labels(np.flatnonzero(counts[num_classes:]), num_classes, ignore_index)
        return counts[:num_classes, None].astype(np.int64, copy=False), ignored
    if flat.size and flat.max() >= num_classes:
        # The ignore index (or a bad label) would stretch the bincount to its row: fold them into row C.
        beyond = flat >= num_classes
        ignored_here = int(np.count_nonzero(flat == ignore_index)) if ignore_index is not None else 0
        if np.count_nonzero(beyond) != ignored_here:
            _check_labels(flat[beyond & (flat != ignore_index)] - num_classes, num_classes, ignore_index)
        ignored += ignored_here
        keys = np.minimum(flat, num_classes, dtype=np.int64)
    else:
        keys = flat.astype(np.int64)  # a copy (labels may be unsigned or small): the keys are built in place
    keys *= grid * grid
    keys += cells
    counts = np.bincount(keys, minlength=(num_classes + 1) * grid * grid).reshape(-1, grid * grid)[:num_classes]
    if ignore_index is not None and 0 <= ignore_index < num_classes:  # an ignore index among the class labels
        ignored += int(counts[ignore_index].sum())
        counts[ignore_index] = 0
    return counts, ignored


def _check_labels(beyond: np.ndarray, num_classes: int, ignore_index: int | None) -> None:
    """Raise for the smallest label ``num_classes + min(beyond)`` when there is any."""
    if beyond.size:
        bad = int(num_classes + beyond.min())
        raise SegdashError(f"mask holds label {bad} outside the {num_classes} classes (ignore index {ignore_index})")


#: pixels of masks stacked before their objects are found together: a fixed number of NumPy calls and one
#: ``connected_components`` call per batch instead of per mask (on small masks the per-call costs outweigh
#: the pixels), while memory stays a batch's worth however large the split
BATCH_PIXELS = 1 << 19
#: runs (a row's stretches of one label) of a batch: ``batch_objects`` holds about 100 bytes per run
RUN_BUDGET = 1 << 15
#: a mask whose runs are shorter than this on average (noise-like) is labelled alone by ``_canvas_objects``,
#: whose memory is a few masks' worth, rather than stacked: its runs would cost more than its pixels
SHORT_RUN = 8


def _stackable(runs: int, pixels: int) -> bool:
    """Whether a mask of ``runs`` runs and ``pixels`` pixels goes to ``batch_objects`` (else ``_canvas_objects``)."""
    return 0 < runs <= RUN_BUDGET and runs * SHORT_RUN <= pixels


def _label_dtype(num_classes: int) -> type:
    """The smallest integer type holding the labels 0..C, C standing for any pixel outside the classes."""
    return np.uint8 if num_classes < 255 else np.uint16 if num_classes < 65535 else np.int64


def _compact_labels(mask: np.ndarray, num_classes: int, ignore_index: int | None, ignored: bool,
                    out: np.ndarray | None = None) -> np.ndarray:
    """The mask in ``_label_dtype`` (written into ``out`` when given), ignore pixels set to C: comparisons
    and copies of uint8 cost a fraction of int64's. The mask's labels must have been checked."""
    labels = np.empty(mask.shape, _label_dtype(num_classes)) if out is None else out
    np.copyto(labels, mask, casting="unsafe")
    if ignored:
        labels[mask == ignore_index] = num_classes
    return labels


@functools.lru_cache(maxsize=8)
def _cell_planes(height: int, width: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 grid row and (H, W) uint8 grid column of each pixel, read-only (see ``cell_counts``)."""
    rows = (np.arange(height) * grid // height).astype(np.uint8)
    cols = (np.arange(width) * grid // width).astype(np.uint8)
    planes = np.repeat(rows[:, None], width, axis=1), np.repeat(cols[None, :], height, axis=0)
    for plane in planes:
        plane.flags.writeable = False
    return planes


def _labels_and_cells(
    mask: np.ndarray, num_classes: int, ignore_index: int | None, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """HxW int mask -> (HxW compact labels (``_compact_labels``, into ``out`` when given), (C, G*G) cell
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

        labels = _compact_labels(mask, num_classes, ignore_index, False, out)
        rows, cols = _cell_planes(mask.shape[0], mask.shape[1], GRID)
        sizes, ranges = [num_classes, GRID, GRID], [0, num_classes, 0, GRID, 0, GRID]
        hist = cv2.calcHist([labels, rows, cols], [0, 1, 2], None, sizes, ranges)
        return labels, hist.reshape(num_classes, GRID * GRID), 0
    cells, ignored = cell_counts(mask, num_classes, ignore_index)
    return _compact_labels(mask, num_classes, ignore_index, ignored > 0, out), cells, ignored


def _only_class_labels(mask: np.ndarray, num_classes: int) -> bool:
    """True when every pixel of an integer mask holds a class label 0..C-1: one max over the mask read as
    unsigned, where negative labels are huge."""
    if mask.dtype.kind not in "iu" or not mask.dtype.isnative:
        return False
    return int(mask.view(f"u{mask.dtype.itemsize}").max()) < num_classes


def connected_objects(
    mask: np.ndarray, cell_pixels: np.ndarray, ignore_index: int | None, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected objects of every class of an HxW mask: (areas (K,) int64 in pixels, classes (K,) int64).

    ``cell_pixels`` is the mask's ``cell_counts`` (C, G*G) and ``counts`` its sum per class (computed when
    not given): they give the number of classes and whether the mask has ignore pixels, which belong to
    no object. ``batch_objects`` of this one mask, or ``_canvas_objects`` for a noise-like one (``_stackable``).
    """
    num_classes = cell_pixels.shape[0]
    counts = cell_pixels.sum(1) if counts is None else counts
    if not counts.any():  # no class pixel (empty or all ignored): no object
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    labels = _compact_labels(np.asarray(mask), num_classes, ignore_index, ignored=int(counts.sum()) < np.size(mask))
    if not _stackable(_count_runs(labels), labels.size):
        return _canvas_objects(labels, cell_pixels, counts)
    areas, _, classes = batch_objects(*_stack_masks([labels], num_classes), num_classes)
    return areas, classes


def _count_runs(labels: np.ndarray) -> int:
    """Runs (a row's stretches of one label) of a C-contiguous HxW mask: the label changes along the raveled
    mask (contiguous: faster than row by row), less those between one row's end and the next's start."""
    flat = labels.ravel()
    across_rows = np.count_nonzero(labels[1:, 0] != labels[:-1, -1])
    return labels.shape[0] + int(np.count_nonzero(flat[1:] != flat[:-1])) - int(across_rows)


def batch_objects(
    stacked: np.ndarray, first_rows: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-connected objects of every class of B masks: (areas, images, classes), each (N,) int64.

    stacked: (R, W) the B compact masks (classes 0..C-1, C for any other pixel, ``_compact_labels``) one
    under the other, a row of C above each and below the last (``_stack_masks``, ``_MaskStack``);
    first_rows: (B,) the first row of each mask.
    The stack is cut into runs, each row's stretches of one label. Two runs of a class on consecutive rows
    belong to one object when they overlap or touch at a corner, and every such contact shows at the start
    of one of the two: the later starting run overlaps the other at its start column, or touches it
    diagonally there (``_run_contacts``).
    ``scipy.sparse.csgraph.connected_components`` then joins the runs into objects. Per pixel this costs
    a few passes over uint8; the rest is per run, a fixed number of NumPy calls per batch.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    width = stacked.shape[1]
    if (stacked[0] != num_classes).any() or (stacked[-1] != num_classes).any():
        raise ValueError("the stack must start and end with a row of C (_stack_masks)")  # else contacts go astray
    flat = stacked.ravel()
    starts_run = np.empty(flat.size, bool)
    starts_run[0] = True
    np.not_equal(flat[1:], flat[:-1], out=starts_run[1:])
    starts_run[::width] = True  # every row starts a run
    start = np.flatnonzero(starts_run)
    del starts_run
    run_class = flat[start]
    neighbours = _run_contacts(flat, start, run_class, width).ravel()
    # two entries a row (the run below and the run above); float64 weights and int32 indices, as csgraph
    # keeps them, so that it copies nothing
    rows = np.arange(0, neighbours.size + 1, 2, dtype=np.int32)
    graph = csr_array((np.ones(neighbours.size), neighbours, rows), shape=(start.size, start.size))
    count, component = connected_components(graph, directed=False)
    areas = np.bincount(component, weights=np.diff(start, append=flat.size), minlength=count)
    object_class = np.empty(count, np.int64)
    object_class[component] = run_class
    object_start = np.empty(count, np.int64)
    object_start[component] = start
    real = object_class < num_classes  # the rows of C around the masks, ignore pixels
    image = np.searchsorted(first_rows * width, object_start[real], side="right") - 1
    return areas[real].astype(np.int64), image, object_class[real]


def _run_contacts(flat: np.ndarray, start: np.ndarray, run_class: np.ndarray, width: int) -> np.ndarray:
    """Runs of a stack of rows W wide (``flat``: the stack raveled; (R,) sorted run starts and their
    labels) -> (R, 2) int32: for each run, a run of its label that it touches on the row below, and one on
    the row above (the run itself when there is none).

    Seen from a run's start p: the run holding the pixel below (p + W) when that pixel has the run's
    label; otherwise, when the pixel below-left (p + W - 1) has it, the run before that one (the two pixels
    differ, so p + W starts a run). Likewise above. One searchsorted finds the runs below; the runs above
    follow by counting: the runs i whose pixel below comes before start j, or is start j (then p_j - W
    starts a run). The first and last rows must be one run each of a label no class has (``_stack_masks``).
    """
    runs = np.arange(start.size, dtype=np.int32)
    # a run starting a row has nothing to its left (a mask for widths that are powers of two: no division)
    not_first = (start & (width - 1) if width & (width - 1) == 0 else start % width) != 0
    offsets = np.array([width, width - 1, -width, -width - 1])[:, None]
    label = flat.take(start + offsets, mode="clip")  # (4, R): below, below-left, above, above-left
    below = np.searchsorted(start, start + width, side="right") - 1
    exactly_above = ~not_first | (label[2] != label[3])  # p - W starts a run
    above = np.cumsum(np.bincount(below + 1, minlength=start.size + 1)[: start.size]) + exactly_above - 1
    neighbours = np.empty((start.size, 2), np.int32)
    for column, (near, straight, diagonal) in enumerate([(below, label[0], label[1]), (above, label[2], label[3])]):
        same = straight == run_class
        neighbours[:, column] = np.where(same, near, runs)
        # rarer: the run holding the pixel below-left (above-left), the one before that pixel's neighbour
        corner = np.flatnonzero(~same & (diagonal == run_class) & not_first)
        neighbours[corner, column] = near[corner] - 1
    return neighbours


@functools.lru_cache(maxsize=4)
def _positions(size: int, dtype: type = np.int64) -> np.ndarray:
    """``np.arange(size)``, read-only and kept: every mask of a split needs the same one."""
    positions = np.arange(size, dtype=dtype)
    positions.flags.writeable = False
    return positions


def _class_rows(cell_pixels: np.ndarray, present: np.ndarray, height: int) -> np.ndarray:
    """(C, G*G) cell counts and the (K,) present classes -> (K, 2) int64 rows y0, y1 of each.

    Rows y0..y1-1 are the class's occupied grid rows in pixels, so they hold every pixel of the class:
    grid row r covers the pixel rows y with ``y * G // H == r``, from ceil(r * H / G) on.
    """
    grid = math.isqrt(cell_pixels.shape[1])
    occupied = cell_pixels[present].reshape(len(present), grid, grid).max(2) > 0  # (K, G); max: faster than any
    first = occupied.argmax(1)
    after_last = grid - occupied[:, ::-1].argmax(1)
    return -(-np.stack([first, after_last], axis=1) * height // grid)


def _canvas_objects(labels: np.ndarray, cell_pixels: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The objects of one HxW compact mask (``_compact_labels``) by OpenCV: (areas (K,) int64, classes (K,) int64).

    For a mask of many short runs (noise-like), where ``batch_objects`` would hold ~100 bytes per pixel.
    ``cell_pixels`` (C, G*G) and ``counts`` (C,) are the mask's ``cell_counts`` and its sum per class: they say
    which classes are present and roughly where. Each present class's rows become one tile of a canvas as
    wide as the image, tiles stacked with a blank row between them, and one ``cv2.connectedComponents``
    call labels them all; each labelled pixel then reads its object at its place in the canvas.
    """
    import cv2

    num_classes = cell_pixels.shape[0]
    present = np.flatnonzero(counts)
    if present.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    height, width = labels.shape
    rows = _class_rows(cell_pixels, present, height)
    labelled = int(counts.sum())
    canvas, offsets = _tile_canvas(labels, present, rows, blank=num_classes + 1)
    # an object has at least one pixel: 16-bit labels are enough below 65535 labelled pixels (half the memory)
    label_type = cv2.CV_16U if labelled < 65535 else cv2.CV_32S
    count, canvas_labels = cv2.connectedComponents(canvas, connectivity=8, ltype=label_type)
    # OpenCV numbers components in the raster order of their first pixel, so tile k holds the labels
    # after the previous tile's largest up to its own largest; the pixel totals per class confirm it.
    objects_per_tile = np.diff(np.maximum.reduceat(canvas_labels.max(1), offsets), prepend=0)
    del canvas  # memory stays a few masks' worth: the labels are the largest array here

    # Labelled pixel (y, x) of class c sits at canvas index base[c] + y * W + x; ignore pixels (label C)
    # point anywhere (clipped) and are sent to the background afterwards.
    flat = labels.ravel()
    if labels.dtype == np.uint8 and canvas_labels.size < 2**31:  # a 256-entry look-up table: OpenCV's LUT
        base = np.zeros(256, np.int32)
        base[present] = (offsets - rows[:, 0]) * width
        at = cv2.LUT(flat, base).ravel()
        at += _positions(flat.size, np.int32)
    else:
        base = np.zeros(num_classes + 1, np.int64)
        base[present] = (offsets - rows[:, 0]) * width
        at = base.take(flat)
        at += _positions(flat.size, np.int64)
    object_of_pixel = canvas_labels.ravel().take(at, mode="clip")
    del at, canvas_labels
    if labelled < flat.size:
        object_of_pixel[flat == num_classes] = 0
    areas = np.bincount(object_of_pixel, minlength=count)[1:].astype(np.int64, copy=False)
    classes = np.repeat(present, objects_per_tile) if (objects_per_tile > 0).all() else None
    if classes is None or not np.array_equal(np.bincount(classes, weights=areas, minlength=num_classes), counts):
        # numbered otherwise after all: ask each object's pixels
        by_label = np.zeros(count, np.int64)
        by_label[object_of_pixel] = flat
        classes = by_label[1:]
    return areas, classes.astype(np.int64, copy=False)


def _tile_canvas(labels: np.ndarray, present: np.ndarray, rows: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """(R, W) uint8 canvas: for each present class k the rows y0..y1-1 of ``labels == k``, then a blank
    row (compared with ``blank``, a value no pixel holds); and (K,) the first canvas row of each tile.
    Built by one row gather and one comparison."""
    heights = rows[:, 1] - rows[:, 0] + 1
    ends = np.cumsum(heights)
    source = np.arange(ends[-1]) - np.repeat(ends - heights - rows[:, 0], heights)  # canvas row -> image row
    wanted = np.repeat(present.astype(labels.dtype), heights)
    source[ends - 1] = 0
    wanted[ends - 1] = blank
    canvas = (np.take(labels, source, axis=0) == wanted[:, None]).view(np.uint8)
    return canvas, ends - heights


def _stack_masks(labels: list[np.ndarray], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """B compact masks -> ((R, W) one array, W the widest mask, every mask below a row of C and padded
    with C on the right, a last row of C at the bottom; (B,) int64 the first row of each mask)."""
    heights = np.array([lab.shape[0] for lab in labels])
    first_rows = np.cumsum(heights + 1) - heights
    stacked = np.full((first_rows[-1] + heights[-1] + 1, max(lab.shape[1] for lab in labels)), num_classes,
                      labels[0].dtype)  # fmt: skip
    for lab, top in zip(labels, first_rows):
        stacked[top : top + lab.shape[0], : lab.shape[1]] = lab
    return stacked, first_rows


class _MaskStack:
    """Compact masks of one width one under the other in one array, kept from batch to batch, in the
    layout ``batch_objects`` reads (``_stack_masks``'s, without the copy): a mask is written straight
    into its rows (``slot``), then kept (``keep``) once it proved readable."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.array = np.zeros((0, 0), _label_dtype(num_classes))
        self.first_rows: list[int] = []
        self.used = 1  # row 0: the row of C above the first mask

    def fits(self, height: int, width: int) -> bool:
        return width == self.array.shape[1] and self.used + height + 1 <= self.array.shape[0]

    def reset(self, height: int, width: int) -> None:
        """Empty, with room for a batch of masks this wide (at least this one)."""
        rows = max(BATCH_PIXELS // width, height) + 2
        if self.array.shape[1] != width or self.array.shape[0] < rows:
            self.array = np.empty((rows, width), self.array.dtype)
        self.array[0] = self.num_classes
        self.clear()

    def clear(self) -> None:
        self.first_rows, self.used = [], 1

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``batch_objects`` input: (R, W) the stacked masks, (B,) their first rows."""
        return self.array[: self.used], np.array(self.first_rows, np.int64)

    def slot(self, height: int) -> np.ndarray:
        """The (H, W) rows the next mask is written into."""
        return self.array[self.used : self.used + height]

    def keep(self, height: int) -> None:
        """The mask written into ``slot(height)`` is one of the batch: a row of C below it."""
        self.array[self.used + height] = self.num_classes
        self.first_rows.append(self.used)
        self.used += height + 1


class _Accumulator:
    """Running sums of one split's statistics: ``add`` one mask at a time, then ``result``.

    The pixel counts are added mask by mask. With the imbalance statistics, a mask's labels are written
    into a stack of masks of one width (``_MaskStack``) whose objects and co-occurrence are counted when it
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
            self.stack = _MaskStack(c)
            self.batch_counts: list[np.ndarray] = []
            self.batch_sizes: list[int] = []
            self.batch_runs = 0

    def add(self, mask: np.ndarray, sample_id: str) -> None:
        if self.extended:
            mask = np.asarray(mask)
            labels, cells, ignored = _labels_and_cells(mask, self.num_classes, self.ignore_index, self._slot(mask))
            counts = cells.sum(1).astype(np.int64)  # exact: every partial sum is under the mask's pixels
        else:
            counts, ignored = count_mask(mask, self.num_classes, self.ignore_index)
        present = counts > 0
        self.pixels += counts
        self.images_with_class += present
        self.pixels_of_images_with_class[present] += counts.sum()
        self.ignored += ignored
        self.images += 1
        size = (int(mask.shape[0]), int(mask.shape[1]))
        self.min_size = size if self.min_size is None else (min(self.min_size[0], size[0]), min(self.min_size[1], size[1]))
        self.max_size = size if self.max_size is None else (max(self.max_size[0], size[0]), max(self.max_size[1], size[1]))
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
        runs = _count_runs(labels) if labels.size else 0
        if _stackable(runs, labels.size):
            self.stack.keep(labels.shape[0])
            self.batch_counts.append(counts)
            self.batch_sizes.append(labels.size)
            self.batch_runs += runs
            if self.batch_runs >= RUN_BUDGET:
                self._flush()
            return
        self.cooccurrence += np.outer(present, present)  # empty or noise-like: counted alone
        if runs:
            areas, classes = _canvas_objects(labels, cells, counts)  # the slot is written over by the next mask
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
        self.batch_counts, self.batch_sizes, self.batch_runs = [], [], 0

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
                        "object_area_counts": self.object_area_counts, "cell_pixels": self.cell_pixels.astype(np.int64),
                        "top_images": top}  # fmt: skip
        return ClassStats(
            dataset=ds.name, split=split, classes=tuple(ds.classes), images=self.images, pixels=self.pixels,
            images_with_class=self.images_with_class, pixels_of_images_with_class=self.pixels_of_images_with_class,
            ignored_pixels=self.ignored, images_without_mask=self.without_mask, min_size=self.min_size,
            max_size=self.max_size, seconds=seconds, **extended,
        )  # fmt: skip


def class_statistics(
    ds: SegDataset,
    split: str,
    progress: Progress | None = None,
    use_cache: bool = True,
    extended: bool = True,
    strict: bool = False,
    shard: tuple[int, int] | None = None,
    workers: int = 1,
) -> ClassStats:
    """Pixel statistics of ``split`` in one pass over its masks (one mask in memory at a time).

    progress: called as ``progress(done, total)`` after each image.
    use_cache: read and write the on-disk cache (``cache_dir("stats")``).
    extended: also the imbalance statistics (co-occurrence, objects, spatial prior, top images).
    strict: stop at the first unreadable or mismatched sample; by default it is left out with a
    warning naming it, and listed in ``ClassStats.skipped``.
    shard: ``(rank, world_size)``, only this process's contiguous share of the split, for ``merge_stats``
    to put together (the cache, which holds whole splits, is then neither read nor written).
    workers: processes counting contiguous shards side by side, merged as ``merge_stats`` merges
    torchrun's (splits of at least ``MIN_IMAGES_PER_PROCESS`` images per process; one pass otherwise).
    """
    ds.check_split(split)
    if not ds.has_masks(split):
        raise SegdashError(f"split {split!r} of {ds.name!r} has no masks (predict-only); pick another split")
    identity = _identity(ds, split, extended) if use_cache and shard is None else None
    cache_file = _cache_file(ds, split, identity) if identity is not None else None
    if cache_file is not None and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text())
            return ClassStats._from_cache(cached["stats"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # damaged cache: recompute and overwrite

    ids = ds.ids(split) if shard is None else shard_of(ds.ids(split), *shard)
    if workers > 1 and shard is None and len(ids) >= workers * MIN_IMAGES_PER_PROCESS and _can_fork():
        stats = _in_processes(ds, split, workers, extended, strict, progress)
    else:
        stats = _one_pass(ds, split, ids, extended, strict, progress)
    if cache_file is not None:
        # The file name carries the identity's digest; the identity itself can be long (every file).
        summary = {"type": identity["type"], "options": identity["options"]}
        atomic_write_json(cache_file, {**summary, "stats": stats._to_cache()})
    return stats


def _one_pass(ds: SegDataset, split: str, ids: list[str], extended: bool, strict: bool,
              progress: Progress | None) -> ClassStats:
    """The statistics of ``ids`` in one pass, one mask at a time and in order."""
    start = time.perf_counter()
    totals = _Accumulator(ds.num_classes, ds.ignore_index, extended)
    skipped: list[tuple[str, str]] = []
    for done, sample_id in enumerate(ids, start=1):
        mask = _mask_or_error(ds, split, sample_id)
        try:
            if isinstance(mask, SegdashError):
                raise mask
            if mask is None:
                totals.without_mask += 1
            else:
                totals.add(mask, sample_id)  # raises before counting anything for labels outside the classes
        except SegdashError as exc:
            if strict:
                raise
            skipped.append((str(sample_id), str(exc)))
        if progress is not None:
            progress(done, len(ids))
    warn_skipped_samples(skipped)
    return dataclasses.replace(totals.result(ds, split, time.perf_counter() - start), skipped=tuple(skipped))


# --- several processes ------------------------------------------------------------------------------
#: below this many images per process, starting the processes costs more than it saves
MIN_IMAGES_PER_PROCESS = 256
#: the dataset the forked processes count (inherited, not pickled: built-ins hold their arrays in memory)
_FORKED: dict = {}


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _in_processes(ds: SegDataset, split: str, workers: int, extended: bool, strict: bool,
                  progress: Progress | None) -> ClassStats:
    """``workers`` forked processes each count a contiguous shard (decoding and counting side by side),
    put together by ``merge_stats`` as under torchrun: the same result as one pass.

    Threads did not pay: on 20,000 small PNGs two decoding threads ran 0.64x one pass, the counting
    being Python-bound work that holds the GIL. ``progress`` is called as the shards finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    total = len(ds.ids(split))
    _FORKED.update(ds=ds, split=split, extended=extended, strict=strict, world=workers)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts, done = [], 0
            for part in pool.map(_count_shard, range(workers)):
                parts.append(part)
                done += part.images + len(part.skipped)
                if progress is not None:
                    progress(min(done, total), total)
    finally:
        _FORKED.clear()
    return dataclasses.replace(merge_stats(parts), seconds=time.perf_counter() - start)


def _count_shard(rank: int) -> ClassStats:
    ds, split = _FORKED["ds"], _FORKED["split"]
    ids = shard_of(ds.ids(split), rank, _FORKED["world"])
    return _one_pass(ds, split, ids, _FORKED["extended"], _FORKED["strict"], None)


def split_drift(reference: ClassStats, other: ClassStats) -> dict:
    """How far ``other``'s class pixel frequencies are from ``reference``'s.

    ``js_divergence``: Jensen-Shannon divergence in bits (log base 2), so 0 for identical and 1 for
    disjoint distributions; null when either split has no labelled pixel. ``frequency_ratio``: per class
    other / reference (null when the class is absent from the reference). ``much_rarer``: classes whose
    share in ``other`` is under a third of their share in ``reference`` (absent ones included).
    """
    p, q = reference.frequency, other.frequency
    divergence = None
    if reference.labeled_pixels and other.labeled_pixels:
        m = (p + q) / 2
        divergence = float((_kl_bits(p, m) + _kl_bits(q, m)) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(p > 0, q / p, np.nan)
    return {
        "reference": reference.split,
        "js_divergence": divergence,
        "log_base": 2,
        "frequency_ratio": [finite_or_none(r) for r in ratio],
        "much_rarer": [int(c) for c in np.flatnonzero((p > 0) & (np.nan_to_num(ratio) < MUCH_RARER))],
    }


def _kl_bits(p: np.ndarray, q: np.ndarray) -> float:
    """Kullback-Leibler divergence sum p log2(p / q) over p > 0 (q > 0 wherever p > 0 here)."""
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / q[nz])))


def _mask_or_error(ds: SegDataset, split: str, sample_id: str) -> np.ndarray | SegdashError | None:
    """``ds.load_mask`` (the mask file alone where the dataset can), with the user error returned rather
    than raised, so a worker thread hands it back in order."""
    try:
        return ds.load_mask(split, sample_id)
    except SegdashError as exc:
        return exc


# --- cache key ---------------------------------------------------------------------


def _simple(value):
    """A JSON-ready copy of small option values, or None for anything else.

    A path to a file (a classes file) stands for its content: path, size and modification time.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return _file_fingerprint(value) if value.is_file() else str(value)
    if isinstance(value, (tuple, list)) and len(value) <= 64:
        items = [_simple(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    return None


def _file_fingerprint(path: Path | None) -> list | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), None, None]
    return [str(path), st.st_size, st.st_mtime_ns]


def _identity(ds: SegDataset, split: str, extended: bool = True) -> dict | None:
    """What the statistics depend on, or None when the dataset cannot say (then no caching).

    Type, name, classes, ignore index and simple option attributes, plus either
    the dataset's ``fingerprint(split)`` or, for ``IndexedDataset``, every
    sample's id and its files' path, size and modification time.
    """
    options = {k: _simple(v) for k, v in sorted(vars(ds).items()) if not k.startswith("_")}
    identity = {
        "version": STATS_VERSION,
        "extended": extended,
        "type": f"{type(ds).__module__}.{type(ds).__qualname__}",
        "name": ds.name,
        "split": split,
        "classes": list(ds.classes),
        "ignore_index": ds.ignore_index,
        "options": {k: v for k, v in options.items() if v is not None},
    }
    fingerprint = getattr(ds, "fingerprint", None)
    if callable(fingerprint):
        identity["content"] = fingerprint(split)
    elif isinstance(ds, IndexedDataset):
        identity["content"] = [
            [e.sample_id, _file_fingerprint(e.image), _file_fingerprint(e.mask)] for e in ds.index[split]
        ]
    else:
        return None
    return identity


def _cache_file(ds: SegDataset, split: str, identity: dict | None = None) -> Path | None:
    """The cache file for this dataset state (None when it cannot be identified)."""
    identity = identity if identity is not None else _identity(ds, split)
    if identity is None:
        return None
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return cache_dir("stats") / f"{ds.name}-{split}-{digest}.json".replace(os.sep, "_")


# --- putting shards together ------------------------------------------------------------------

#: ClassStats fields that are counts over the images, summed over shards.
_SUMMED_FIELDS = ("images", "pixels", "images_with_class", "pixels_of_images_with_class", "ignored_pixels",
                  "images_without_mask", "cooccurrence", "object_counts", "object_area_counts", "cell_pixels")


def merge_stats(parts: list[ClassStats]) -> ClassStats:
    """One split's ``ClassStats`` from those of its consecutive shards, given in shard order.

    Counts add up, skipped samples follow each other, sizes take the smallest and largest, and each
    class's top images are the TOP_IMAGES largest (pixels, sample id) of the shards' tops, as the
    single pass's heap keeps them, so the result equals the single-process one. ``seconds`` is the
    slowest shard's (they ran side by side).
    """
    if not parts:
        raise ValueError("merge_stats needs at least one ClassStats")
    first = parts[0]
    if any(p.classes != first.classes or p.extended != first.extended for p in parts):
        raise ValueError("the shards were counted with different classes or with and without --basic")
    summed = {key: sum(getattr(p, key) for p in parts) for key in _SUMMED_FIELDS if getattr(first, key) is not None}
    sized = [p for p in parts if p.min_size is not None]
    top = None
    if first.top_images is not None:
        top = tuple(_merge_top([p.top_images[c] for p in parts]) for c in range(first.num_classes))
    return dataclasses.replace(
        first, **summed, skipped=tuple(pair for p in parts for pair in p.skipped), top_images=top,
        min_size=(min(p.min_size[0] for p in sized), min(p.min_size[1] for p in sized)) if sized else None,
        max_size=(max(p.max_size[0] for p in sized), max(p.max_size[1] for p in sized)) if sized else None,
        seconds=max(p.seconds for p in parts), from_cache=False,
    )  # fmt: skip


def _merge_top(tops: list[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    """The TOP_IMAGES largest (pixels, sample id) of several shards' top lists, most pixels first."""
    entries = heapq.nlargest(TOP_IMAGES, ((n, i) for top in tops for i, n in top))
    return tuple((i, n) for n, i in sorted(entries, key=lambda e: (-e[0], e[1])))
