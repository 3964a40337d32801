"""Distance and area metrics of one class in one image.

Overlap scores (IoU, Dice) say how much of a region was found; these say how far its outline is
from the true one and how far its size is off:

- ``hausdorff95``: the 95th percentile of the surface distances, both directions pooled (MedPy's
  ``hd95``): the distance that all but the worst 5% of the outline stays within.
- ``hausdorff95_max``: the larger of the two directed 95th percentiles, prediction to truth and truth
  to prediction (MONAI's ``compute_hausdorff_distance(percentile=95)``): an outline that misses a
  part of the other on one side only weighs more than when both directions are pooled. Both are
  computed so that a result compares with either library.
- ``assd``: average symmetric surface distance, the mean of the same pooled distances
  (``(sum d(a, B) + sum d(b, A)) / (|A| + |B|)``, the MICCAI 2007 challenge definition).
- ``relative_area_difference``: ``(|pred| - |gt|) / |gt|``, signed: > 0 over-segments, < 0 under.

Distances are in pixels, or in physical units with ``spacing`` = (row, column) pixel size. The
surface of a mask is its pixels with a 4-neighbour outside it (the image border counts as outside:
the same pixels as ``mask & ~binary_erosion(mask)``, MedPy's definition). Nearest-surface distances
are exact Euclidean distances from a k-d tree over the surface points (``scipy.spatial.cKDTree``),
which gives what ``distance_transform_edt`` of the other surface gives (the tests check that) in
less time, and, unlike the distance transform, releases the GIL: evaluation runs these in
threads beside the model without stalling it.

Empty masks (a class absent from an image):

- absent from both prediction and ground truth: every value is NaN (undefined, nothing to judge);
- present in only one of them: ``hausdorff95`` and ``assd`` are ``inf`` (a distance to nothing),
  ``relative_area_difference`` is -1 when the prediction is empty and ``inf`` when the truth is.
  ``aggregate_distances`` averages only finite values and counts these cases apart: ``missed``
  (in the truth, not predicted: the worst failure, not "not applicable") and ``spurious``
  (predicted, not in the truth), so one missed image shows up as a count instead of turning the
  mean into inf. A class never both present and predicted has no mean distance (NaN): its
  ``missed`` count says whether that is because the model never found it.

Over a split, the relative area difference is taken from the split's total areas
(``split_area_difference``: total predicted over total true pixels, minus 1), not averaged over
images: an image with 3 true pixels and 60 predicted would otherwise add +1900% to the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from segdash.data.labels import class_pixel_counts

#: What ``distance_metrics`` gives per class of one image, in the order tables show them (the keys of
#: their specs in ``segdash.metrics.specs``, family "distance").
DISTANCE_METRICS = ("hd95", "hd95_max", "assd", "rad")
#: Those of them that are surface distances (inf when the class is on one side only).
SURFACE_DISTANCES = ("hd95", "hd95_max", "assd")


def label_surfaces(labels: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels of a label map with a 4-neighbour of another label, or on the image border."""
    labels = np.asarray(labels)
    edge = np.zeros(labels.shape, dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    rows = labels[1:, :] != labels[:-1, :]
    edge[1:, :] |= rows
    edge[:-1, :] |= rows
    cols = labels[:, 1:] != labels[:, :-1]
    edge[:, 1:] |= cols
    edge[:, :-1] |= cols
    return edge


def surface(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W) outline of a boolean (H, W) mask: its pixels with a 4-neighbour outside it."""
    mask = np.asarray(mask, dtype=bool)
    return mask & label_surfaces(mask)


def _points(outline: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """(n, 2) float64 coordinates (row, column) of the True pixels, scaled by the pixel size."""
    return np.argwhere(outline) * np.asarray(spacing, dtype=np.float64)


def _directed_distances(pred_points: np.ndarray, gt_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pred -> nearest gt point, gt -> nearest pred point) distances of two non-empty (n, 2) point sets."""
    return cKDTree(gt_points).query(pred_points)[0], cKDTree(pred_points).query(gt_points)[0]


def surface_distances(
    pred_mask: np.ndarray, gt_mask: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each predicted surface pixel to the true surface, and back.

    pred_mask, gt_mask: (H, W) bool, both non-empty. Returns two 1-D float64 arrays
    (pred -> gt, gt -> pred) in the units of ``spacing``.
    """
    return _directed_distances(_points(surface(pred_mask), spacing), _points(surface(gt_mask), spacing))


def _empty_case(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float | None:
    """NaN if both masks are empty, inf if one is, None if neither (distances are defined)."""
    pred_any, gt_any = bool(pred_mask.any()), bool(gt_mask.any())
    if pred_any and gt_any:
        return None
    return math.inf if pred_any or gt_any else math.nan


def hausdorff95(pred_mask: np.ndarray, gt_mask: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)) -> float:
    """95th percentile of the pooled surface distances of two (H, W) masks (NaN / inf when empty)."""
    pred_mask, gt_mask = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    empty = _empty_case(pred_mask, gt_mask)
    if empty is not None:
        return empty
    return float(np.percentile(np.concatenate(surface_distances(pred_mask, gt_mask, spacing)), 95))


def hausdorff95_max(pred_mask: np.ndarray, gt_mask: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)) -> float:
    """The larger of the two directed 95th percentiles of the surface distances of two (H, W) masks
    (MONAI's symmetric HD95; NaN / inf when empty)."""
    pred_mask, gt_mask = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    empty = _empty_case(pred_mask, gt_mask)
    if empty is not None:
        return empty
    return float(max(np.percentile(d, 95) for d in surface_distances(pred_mask, gt_mask, spacing)))


def assd(pred_mask: np.ndarray, gt_mask: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)) -> float:
    """Average symmetric surface distance of two (H, W) masks (NaN / inf when empty)."""
    pred_mask, gt_mask = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    empty = _empty_case(pred_mask, gt_mask)
    if empty is not None:
        return empty
    return float(np.concatenate(surface_distances(pred_mask, gt_mask, spacing)).mean())


def relative_area_difference(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """``(|pred| - |gt|) / |gt|`` of two masks: signed, -1 when nothing was predicted, NaN when both empty."""
    pred_area = int(np.count_nonzero(pred_mask))
    gt_area = int(np.count_nonzero(gt_mask))
    if gt_area == 0:
        return math.inf if pred_area else math.nan
    return (pred_area - gt_area) / gt_area


def _points_by_class(labels: np.ndarray, num_classes: int, spacing: Sequence[float]) -> list[np.ndarray]:
    """Surface points of every class of a label map at once: [(n_c, 2) float64 for c in 0..C-1]."""
    outline = label_surfaces(labels)
    classes = labels[outline]
    points = _points(outline, spacing)
    keep = (classes >= 0) & (classes < num_classes)
    classes, points = classes[keep], points[keep]
    order = np.argsort(classes, kind="stable")
    bounds = np.searchsorted(classes[order], np.arange(num_classes + 1))
    return [points[order[bounds[c] : bounds[c + 1]]] for c in range(num_classes)]


def distance_metrics(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    num_classes: int,
    ignore_index: int | None = None,
    spacing: Sequence[float] = (1.0, 1.0),
) -> dict[str, np.ndarray]:
    """Per-class distance metrics of one image (every class's surface found in one pass).

    pred_labels, gt_labels: (H, W) integer label maps; pixels whose truth is ``ignore_index``
    belong to no class on either side. Returns {"hd95", "hd95_max", "assd", "rad": (C,) float64}.
    """
    pred_labels, gt_labels = np.asarray(pred_labels), np.asarray(gt_labels)
    if pred_labels.shape != gt_labels.shape or pred_labels.ndim != 2:
        raise ValueError(f"expected two (H, W) label maps of one size, got {pred_labels.shape} and {gt_labels.shape}")
    pred_labels = pred_labels.astype(np.int64, copy=False)
    gt_labels = gt_labels.astype(np.int64, copy=False)
    if ignore_index is not None:
        ignored = gt_labels == ignore_index
        if ignored.any():
            pred_labels = np.where(ignored, -1, pred_labels)
            gt_labels = np.where(ignored, -1, gt_labels)
    pred_area = class_pixel_counts(pred_labels, num_classes)
    gt_area = class_pixel_counts(gt_labels, num_classes)
    pred_points = _points_by_class(pred_labels, num_classes, spacing)
    gt_points = _points_by_class(gt_labels, num_classes, spacing)

    out = {name: np.full(num_classes, np.nan) for name in DISTANCE_METRICS}
    for c in range(num_classes):
        if gt_area[c]:
            out["rad"][c] = (pred_area[c] - gt_area[c]) / gt_area[c]
        elif pred_area[c]:
            out["rad"][c] = math.inf
        if pred_area[c] and gt_area[c]:
            to_gt, to_pred = _directed_distances(pred_points[c], gt_points[c])
            distances = np.concatenate([to_gt, to_pred])
            out["hd95"][c] = np.percentile(distances, 95)
            out["hd95_max"][c] = max(np.percentile(to_gt, 95), np.percentile(to_pred, 95))
            out["assd"][c] = distances.mean()
        elif pred_area[c] or gt_area[c]:
            for name in SURFACE_DISTANCES:
                out[name][c] = math.inf
    return out


def split_area_difference(confusion: np.ndarray) -> np.ndarray:
    """(C, C) split confusion counts (rows = truth) -> (C,) float64 ``(predicted - true) / true`` areas:
    inf for a class predicted but never true, NaN for one on neither side."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rad = (predicted - true) / true
    return np.where(true > 0, rad, np.where(predicted > 0, math.inf, np.nan))


def aggregate_distances(per_image: dict[str, np.ndarray], confusion: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-image values {"hd95", "hd95_max", "assd", "rad": (N, C)} -> per-class summaries over images.

    Returns {"hd95", "hd95_max", "assd": (C,) float64 mean over the images where the class is in both masks
    (NaN if none); "rad", "abs_rad": (C,) the signed and absolute relative area difference, from
    the split's total areas when ``confusion`` (C, C) is given, else the mean over images where it
    is finite; "missed": (C,) int64 images where the class is in the truth but not predicted,
    "spurious": images where it is predicted but not in the truth, "one_sided": their sum,
    "images": (C,) int64 images where it is in both}.
    """
    hd95 = np.asarray(per_image["hd95"], dtype=np.float64)
    num_classes = hd95.shape[1] if hd95.ndim == 2 else 0

    def finite_mean(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64).reshape(-1, num_classes)
        finite = np.isfinite(values)
        total = np.where(finite, values, 0.0).sum(axis=0)
        count = finite.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    rad = np.asarray(per_image["rad"], dtype=np.float64).reshape(-1, num_classes)
    one_sided = np.isinf(hd95.reshape(-1, num_classes))
    missed = (one_sided & (rad == -1)).sum(axis=0).astype(np.int64)  # true area > 0, predicted 0
    split_rad = split_area_difference(confusion) if confusion is not None else finite_mean(rad)
    # a file saved before a surface distance existed lacks its key: the others still aggregate
    surface_means = {name: finite_mean(per_image[name]) for name in SURFACE_DISTANCES if name in per_image}
    return {
        **surface_means,
        "rad": split_rad,
        "abs_rad": np.abs(split_rad) if confusion is not None else finite_mean(np.abs(rad)),
        "missed": missed,
        "spurious": one_sided.sum(axis=0).astype(np.int64) - missed,
        "one_sided": one_sided.sum(axis=0).astype(np.int64),
        "images": np.isfinite(hd95.reshape(-1, num_classes)).sum(axis=0).astype(np.int64),
    }
