"""The connected-components engine: the 8-connected objects of every class of label maps.

    labels = compact_labels(mask, num_classes, ignore_index, ignored=True)     # uint8/uint16, C outside
    objects = label_objects(labels, num_classes)        # per-pixel object ids, each object's class and area
    areas, images, classes = batch_objects(*stack_masks([labels, ...], num_classes), num_classes)

One engine for the dataset statistics (objects per class and size, ``segdash.data.stats``) and the
evaluation's object metrics (``segdash.metrics.objects``), with one definition of object sizes:
``SIZE_LIMITS``, shares of the image's pixels, small < 0.1%, medium 0.1% to 1%, large >= 1%.

Masks of ordinary content are cut into runs (a row's stretches of one label); each run finds the
run of its class it touches below and above its start (``_run_contacts``), and one
``scipy.sparse.csgraph.connected_components`` call joins the runs into the objects of every class
and every mask of a batch: a fixed number of NumPy calls however many masks and classes. Masks of
short runs (noise-like, under SHORT_RUN pixels per run on average) are labelled alone by one
``cv2.connectedComponents`` call over a canvas of one tile per class (``canvas_objects``): their
runs would cost more memory than their pixels. Both are checked against ``scipy.ndimage.label``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

SIZE_BUCKETS = ("small", "medium", "large")
#: Upper limits of the small and medium buckets, as shares of the image's pixels.
SIZE_LIMITS = (0.001, 0.01)
#: objects under this share of the image are small
SMALL_OBJECT = SIZE_LIMITS[0]
#: object areas as a share of the image's pixels, binned on half-decades (the same for every class
#: and split); the first bin holds everything under 1e-5. The SIZE_LIMITS are edges, so the bins add
#: up to the size buckets.
AREA_EDGES = np.concatenate([[0.0], np.logspace(-5, 0, 11)])


def size_bucket(pixels: np.ndarray, image_pixels: int) -> np.ndarray:
    """Object sizes in pixels -> bucket index (0 small, 1 medium, 2 large) by their share of the image."""
    return np.digitize(np.asarray(pixels, dtype=np.float64) / image_pixels, SIZE_LIMITS)


#: pixels of masks stacked before their objects are found together: a fixed number of NumPy calls and one
#: ``connected_components`` call per batch instead of per mask (on small masks the per-call costs outweigh
#: the pixels), while memory stays a batch's worth however large the split
BATCH_PIXELS = 1 << 19
#: runs (a row's stretches of one label) of a batch: ``batch_objects`` holds about 100 bytes per run
RUN_BUDGET = 1 << 15
#: a mask whose runs are shorter than this on average (noise-like) is labelled alone by ``canvas_objects``,
#: whose memory is a few masks' worth, rather than stacked: its runs would cost more than its pixels
SHORT_RUN = 8


def stackable(runs: int, pixels: int) -> bool:
    """Whether a mask of ``runs`` runs and ``pixels`` pixels goes to ``batch_objects`` (else ``canvas_objects``)."""
    return 0 < runs <= RUN_BUDGET and runs * SHORT_RUN <= pixels


def label_dtype(num_classes: int) -> type:
    """The smallest integer type holding the labels 0..C, C standing for any pixel outside the classes."""
    return np.uint8 if num_classes < 255 else np.uint16 if num_classes < 65535 else np.int64


def compact_labels(mask: np.ndarray, num_classes: int, ignore_index: int | None, ignored: bool,
                    out: np.ndarray | None = None) -> np.ndarray:
    """The mask in ``label_dtype`` (written into ``out`` when given), ignore pixels set to C: comparisons
    and copies of uint8 cost a fraction of int64's. The mask's labels must have been checked."""
    labels = np.empty(mask.shape, label_dtype(num_classes)) if out is None else out
    np.copyto(labels, mask, casting="unsafe")
    if ignored:
        labels[mask == ignore_index] = num_classes
    return labels


def connected_objects(
    mask: np.ndarray, cell_pixels: np.ndarray, ignore_index: int | None, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected objects of every class of an HxW mask: (areas (K,) int64 in pixels, classes (K,) int64).

    ``cell_pixels`` is the mask's ``cell_counts`` (C, G*G) and ``counts`` its sum per class (computed when
    not given): they give the number of classes and whether the mask has ignore pixels, which belong to
    no object. ``batch_objects`` of this one mask, or ``canvas_objects`` for a noise-like one (``stackable``).
    """
    num_classes = cell_pixels.shape[0]
    counts = cell_pixels.sum(1) if counts is None else counts
    if not counts.any():  # no class pixel (empty or all ignored): no object
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    labels = compact_labels(np.asarray(mask), num_classes, ignore_index, ignored=int(counts.sum()) < np.size(mask))
    if not stackable(count_runs(labels), labels.size):
        return canvas_objects(labels, cell_pixels, counts)
    areas, _, classes = batch_objects(*stack_masks([labels], num_classes), num_classes)
    return areas, classes


def count_runs(labels: np.ndarray) -> int:
    """Runs (a row's stretches of one label) of a C-contiguous HxW mask: the label changes along the raveled
    mask (contiguous: faster than row by row), less those between one row's end and the next's start."""
    flat = labels.ravel()
    across_rows = np.count_nonzero(labels[1:, 0] != labels[:-1, -1])
    return labels.shape[0] + int(np.count_nonzero(flat[1:] != flat[:-1])) - int(across_rows)


def batch_objects(
    stacked: np.ndarray, first_rows: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-connected objects of every class of B masks: (areas, images, classes), each (N,) int64.

    stacked: (R, W) the B compact masks (classes 0..C-1, C for any other pixel, ``compact_labels``) one
    under the other, a row of C above each and below the last (``stack_masks``, ``MaskStack``);
    first_rows: (B,) the first row of each mask. See ``_join_runs``.
    """
    runs = _join_runs(stacked, num_classes)
    areas = np.bincount(runs.component, weights=runs.lengths, minlength=runs.count)
    object_start = np.empty(runs.count, np.int64)
    object_start[runs.component] = runs.start
    real = runs.object_class < num_classes  # the rows of C around the masks, ignore pixels
    image = np.searchsorted(first_rows * stacked.shape[1], object_start[real], side="right") - 1
    return areas[real].astype(np.int64), image, runs.object_class[real]


@dataclasses.dataclass(frozen=True)
class _Runs:
    """A stack's runs joined into objects: per run its first pixel, length and object; per object its class
    (C for the rows and pixels outside every class)."""

    start: np.ndarray
    lengths: np.ndarray
    component: np.ndarray
    object_class: np.ndarray

    @property
    def count(self) -> int:
        return len(self.object_class)


def _join_runs(stacked: np.ndarray, num_classes: int) -> _Runs:
    """The stack (``batch_objects``'s) cut into runs, each row's stretches of one label. Two runs of a class
    on consecutive rows belong to one object when they overlap or touch at a corner, and every such contact
    shows at the start of one of the two: the later starting run overlaps the other at its start column, or
    touches it diagonally there (``_run_contacts``).
    ``scipy.sparse.csgraph.connected_components`` then joins the runs into objects. Per pixel this costs
    a few passes over uint8; the rest is per run, a fixed number of NumPy calls per batch.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    width = stacked.shape[1]
    if (stacked[0] != num_classes).any() or (stacked[-1] != num_classes).any():
        raise ValueError("the stack must start and end with a row of C (stack_masks)")  # else contacts go astray
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
    object_class = np.empty(count, np.int64)
    object_class[component] = run_class
    return _Runs(start, np.diff(start, append=flat.size), component, object_class)


def _run_contacts(flat: np.ndarray, start: np.ndarray, run_class: np.ndarray, width: int) -> np.ndarray:
    """Runs of a stack of rows W wide (``flat``: the stack raveled; (R,) sorted run starts and their
    labels) -> (R, 2) int32: for each run, a run of its label that it touches on the row below, and one on
    the row above (the run itself when there is none).

    Seen from a run's start p: the run holding the pixel below (p + W) when that pixel has the run's
    label; otherwise, when the pixel below-left (p + W - 1) has it, the run before that one (the two pixels
    differ, so p + W starts a run). Likewise above. One searchsorted finds the runs below; the runs above
    follow by counting: the runs i whose pixel below comes before start j, or is start j (then p_j - W
    starts a run). The first and last rows must be one run each of a label no class has (``stack_masks``).
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


def canvas_objects(labels: np.ndarray, cell_pixels: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The objects of one HxW compact mask (``compact_labels``) by OpenCV: (areas (K,) int64, classes (K,) int64).

    For a mask of many short runs (noise-like), where ``batch_objects`` would hold ~100 bytes per pixel.
    ``cell_pixels`` (C, G*G) and ``counts`` (C,) are the mask's ``cell_counts`` and its sum per class: they say
    which classes are present and roughly where (``_canvas_labels``).
    """
    num_classes = cell_pixels.shape[0]
    present = np.flatnonzero(counts)
    if present.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = _class_rows(cell_pixels, present, labels.shape[0])
    object_of_pixel, count, objects_per_tile = _canvas_labels(labels, present, rows, int(counts.sum()), num_classes)
    flat = labels.ravel()
    if int(counts.sum()) < flat.size:
        object_of_pixel[flat == num_classes] = 0
    return _canvas_objects_of(object_of_pixel, count, objects_per_tile, flat, present, counts)


def _canvas_objects_of(object_of_pixel: np.ndarray, count: int, objects_per_tile: np.ndarray, flat: np.ndarray,
                       present: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(areas, classes) of the canvas's objects 1..count-1, from each pixel's object (0: none) and the
    present classes' pixel ``counts``."""
    areas = np.bincount(object_of_pixel, minlength=count)[1:].astype(np.int64, copy=False)
    classes = np.repeat(present, objects_per_tile) if (objects_per_tile > 0).all() else None
    if classes is None or not np.array_equal(np.bincount(classes, weights=areas, minlength=len(counts)), counts):
        # numbered otherwise after all: ask each object's pixels
        by_label = np.zeros(count, np.int64)
        by_label[object_of_pixel] = flat
        classes = by_label[1:]
    return areas, classes.astype(np.int64, copy=False)


def _canvas_labels(labels: np.ndarray, present: np.ndarray, rows: np.ndarray, labelled: int,
                   num_classes: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Each present class's rows ((K, 2) y0, y1) become one tile of a canvas as wide as the image, tiles
    stacked with a blank row between them, and one ``cv2.connectedComponents`` call labels them all; each
    pixel then reads its object at its place in the canvas. ``labelled``: the pixels of the present classes.

    Returns ((H*W,) each pixel's object 1..count-1, meaningful for the present classes' pixels only; the
    others point anywhere), the number of labels (background included), and (K,) the objects per tile.
    """
    import cv2

    width = labels.shape[1]
    canvas, offsets = _tile_canvas(labels, present, rows, blank=num_classes + 1)
    # an object has at least one pixel: 16-bit labels are enough below 65535 labelled pixels (half the memory)
    label_type = cv2.CV_16U if labelled < 65535 else cv2.CV_32S
    count, canvas_labels = cv2.connectedComponents(canvas, connectivity=8, ltype=label_type)
    # OpenCV numbers components in the raster order of their first pixel, so tile k holds the labels
    # after the previous tile's largest up to its own largest; the pixel totals per class confirm it.
    objects_per_tile = np.diff(np.maximum.reduceat(canvas_labels.max(1), offsets), prepend=0)
    del canvas  # memory stays a few masks' worth: the labels are the largest array here

    # Labelled pixel (y, x) of class c sits at canvas index base[c] + y * W + x; other pixels
    # point anywhere (clipped) and are sent to the background by the caller.
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
    return canvas_labels.ravel().take(at, mode="clip"), count, objects_per_tile


def _tile_canvas(labels: np.ndarray, present: np.ndarray, rows: np.ndarray,
                 blank: int) -> tuple[np.ndarray, np.ndarray]:
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


def stack_masks(labels: list[np.ndarray], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """B compact masks -> ((R, W) one array, W the widest mask, every mask below a row of C and padded
    with C on the right, a last row of C at the bottom; (B,) int64 the first row of each mask)."""
    heights = np.array([lab.shape[0] for lab in labels])
    first_rows = np.cumsum(heights + 1) - heights
    shape = (first_rows[-1] + heights[-1] + 1, max(lab.shape[1] for lab in labels))
    stacked = np.full(shape, num_classes, labels[0].dtype)
    for lab, top in zip(labels, first_rows):
        stacked[top : top + lab.shape[0], : lab.shape[1]] = lab
    return stacked, first_rows


class MaskStack:
    """Compact masks of one width one under the other in one array, kept from batch to batch, in the
    layout ``batch_objects`` reads (``stack_masks``'s, without the copy): a mask is written straight
    into its rows (``slot``), then kept (``keep``) once it proved readable."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.array = np.zeros((0, 0), label_dtype(num_classes))
        self.first_rows: list[int] = []
        self.used = 1  # row 0: the row of C above the first mask
        self.runs = 0

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
        self.first_rows, self.used, self.runs = [], 1, 0

    def full(self) -> bool:
        """True once the kept masks hold RUN_BUDGET runs (``batch_objects`` memory grows with runs)."""
        return self.runs >= RUN_BUDGET

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``batch_objects`` input: (R, W) the stacked masks, (B,) their first rows."""
        return self.array[: self.used], np.array(self.first_rows, np.int64)

    def slot(self, height: int) -> np.ndarray:
        """The (H, W) rows the next mask is written into."""
        return self.array[self.used : self.used + height]

    def keep(self, height: int, runs: int) -> None:
        """The mask written into ``slot(height)``, of ``runs`` runs, is one of the batch: a row of C below it."""
        self.array[self.used + height] = self.num_classes
        self.first_rows.append(self.used)
        self.used += height + 1
        self.runs += runs



# --- one label map, every pixel's object (the evaluation's object metrics) ---------------------------
#: canvas pixels one ``cv2.connectedComponents`` call of ``label_objects`` takes at most (5 bytes each)
CANVAS_PIXELS = 1 << 23


@dataclasses.dataclass(frozen=True)
class LabelledObjects:
    """The 8-connected objects of every class of one label map."""

    #: (H, W) int64: the object (0..K-1) each pixel belongs to; -1 for pixels outside every class
    ids: np.ndarray
    #: (K,) int64: the class of each object
    classes: np.ndarray
    #: (K,) int64: the pixels of each object
    areas: np.ndarray


def label_objects(labels: np.ndarray, num_classes: int) -> LabelledObjects:
    """The objects of every class of an (H, W) compact label map (classes 0..C-1, C for the pixels outside
    every class, ``compact_labels``), and the object of each pixel.

    As in the statistics: ordinary maps are joined run by run (``_join_runs``), noise-like ones (runs
    under SHORT_RUN pixels on average) by OpenCV over canvases of one full-height tile per class, as many
    classes per canvas as fit in CANVAS_PIXELS.
    """
    labels = np.ascontiguousarray(labels)
    if labels.size == 0:
        empty = np.zeros(0, np.int64)
        return LabelledObjects(np.full(labels.shape, -1, np.int64), empty, empty)
    if count_runs(labels) * SHORT_RUN <= labels.size:
        return _objects_by_runs(labels, num_classes)
    return _objects_by_canvas(labels, num_classes)


def _objects_by_runs(labels: np.ndarray, num_classes: int) -> LabelledObjects:
    runs = _join_runs(stack_masks([labels], num_classes)[0], num_classes)
    real = runs.object_class < num_classes  # the rows of C around the map, pixels outside every class
    index = np.where(real, np.cumsum(real) - 1, -1)
    width = labels.shape[1]
    pixel_run_object = np.repeat(runs.component, runs.lengths)[width : width + labels.size]  # below the row of C
    areas = np.bincount(runs.component, weights=runs.lengths, minlength=runs.count)[real].astype(np.int64)
    return LabelledObjects(index[pixel_run_object].reshape(labels.shape), runs.object_class[real], areas)


def _objects_by_canvas(labels: np.ndarray, num_classes: int) -> LabelledObjects:
    height, width = labels.shape
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=num_classes + 1)[:num_classes]
    present = np.flatnonzero(counts)
    ids = np.full(flat.size, -1, np.int64)
    found_classes, found_areas = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    per_canvas = max(1, CANVAS_PIXELS // ((height + 1) * width))
    for first in range(0, len(present), per_canvas):
        group = present[first : first + per_canvas]
        rows = np.tile(np.array([0, height]), (len(group), 1))
        object_of_pixel, count, per_tile = _canvas_labels(labels, group, rows, int(counts[group].sum()), num_classes)
        member = np.zeros(num_classes + 1, bool)
        member[group] = True
        in_group = member[flat]
        object_of_pixel = np.where(in_group, object_of_pixel, 0)
        group_counts = np.where(member[:num_classes], counts, 0)
        areas, classes = _canvas_objects_of(object_of_pixel, count, per_tile, flat, group, group_counts)
        ids[in_group] = object_of_pixel[in_group].astype(np.int64) - 1 + sum(len(a) for a in found_areas)
        found_classes.append(classes)
        found_areas.append(areas)
    return LabelledObjects(ids.reshape(height, width), np.concatenate(found_classes), np.concatenate(found_areas))
