"""Distance and area metrics of one class in one image (seed 000's third family of metrics).

Overlap scores (IoU, Dice) say how much of a region was found; these say how far its outline is
from the true one and how far its size is off:

- ``hausdorff95``: the 95th percentile of the surface distances, both directions pooled (MedPy's
  ``hd95``): the distance that all but the worst 5% of the outline stays within.
- ``assd``: average symmetric surface distance, the mean of the same pooled distances
  (``(sum d(a, B) + sum d(b, A)) / (|A| + |B|)``, the MICCAI 2007 challenge definition).
- ``relative_area_difference``: ``(|pred| - |gt|) / |gt|``, signed: > 0 over-segments, < 0 under.

Distances are in pixels, or in physical units with ``spacing`` = (row, column) pixel size. The
surface of a mask is the mask minus its erosion by the 4-neighbourhood (the image border counts
as background), and distances come from ``scipy.ndimage.distance_transform_edt`` computed only
over the bounding box of the two masks (every surface point lies inside it, so nothing changes
but the time).

Empty masks (a class absent from an image):

- absent from both prediction and ground truth: every value is NaN (undefined, nothing to judge);
- present in only one of them: ``hausdorff95`` and ``assd`` are ``inf`` (a distance to nothing),
  ``relative_area_difference`` is -1 when the prediction is empty and ``inf`` when the truth is.
  ``aggregate_distances`` averages only finite values and counts these cases apart
  (``one_sided``), so one missed image shows up as a count instead of turning the mean into inf.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Names of the per-class distance metrics, in the order tables show them.
DISTANCE_METRICS = ("hd95", "assd", "rad")

_FOUR_NEIGHBOURS = ndimage.generate_binary_structure(2, 1)


def surface(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W) outline of a boolean (H, W) mask: its pixels with a 4-neighbour outside it."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, structure=_FOUR_NEIGHBOURS, border_value=0)


def _union_box(pred_mask: np.ndarray, gt_mask: np.ndarray) -> tuple[slice, ...]:
    """Slices of the bounding box of both masks, one pixel wider where the image allows."""
    union = pred_mask | gt_mask
    box = []
    for axis in range(union.ndim):
        hits = np.flatnonzero(union.any(axis=tuple(a for a in range(union.ndim) if a != axis)))
        box.append(slice(max(hits[0] - 1, 0), min(hits[-1] + 2, union.shape[axis])))
    return tuple(box)


def surface_distances(
    pred_mask: np.ndarray, gt_mask: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each predicted surface pixel to the true surface, and back.

    pred_mask, gt_mask: (H, W) bool, both non-empty. Returns two 1-D float64 arrays
    (pred -> gt, gt -> pred) in the units of ``spacing``.
    """
    pred_mask = np.asarray(pred_mask, dtype=bool)
    gt_mask = np.asarray(gt_mask, dtype=bool)
    box = _union_box(pred_mask, gt_mask)
    pred_surface, gt_surface = surface(pred_mask[box]), surface(gt_mask[box])
    to_gt = ndimage.distance_transform_edt(~gt_surface, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)
    return to_gt[pred_surface], to_pred[gt_surface]


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


def distance_metrics(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    num_classes: int,
    ignore_index: int | None = None,
    spacing: Sequence[float] = (1.0, 1.0),
) -> dict[str, np.ndarray]:
    """Per-class distance metrics of one image.

    pred_labels, gt_labels: (H, W) integer label maps; pixels whose truth is ``ignore_index``
    belong to no class on either side. Returns {"hd95", "assd", "rad": (C,) float64}.
    """
    pred_labels, gt_labels = np.asarray(pred_labels), np.asarray(gt_labels)
    if pred_labels.shape != gt_labels.shape or pred_labels.ndim != 2:
        raise ValueError(f"expected two (H, W) label maps of one size, got {pred_labels.shape} and {gt_labels.shape}")
    if ignore_index is not None:
        ignored = gt_labels == ignore_index
        if ignored.any():
            pred_labels = np.where(ignored, -1, pred_labels)
    out = {name: np.full(num_classes, np.nan) for name in DISTANCE_METRICS}
    for c in range(num_classes):
        pred_mask, gt_mask = pred_labels == c, gt_labels == c
        out["rad"][c] = relative_area_difference(pred_mask, gt_mask)
        empty = _empty_case(pred_mask, gt_mask)
        if empty is not None:
            out["hd95"][c] = out["assd"][c] = empty
            continue
        distances = np.concatenate(surface_distances(pred_mask, gt_mask, spacing))
        out["hd95"][c] = np.percentile(distances, 95)
        out["assd"][c] = distances.mean()
    return out


def aggregate_distances(per_image: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-image values {"hd95", "assd", "rad": (N, C)} -> per-class summaries over images.

    Returns {"hd95", "assd", "rad", "abs_rad": (C,) float64 mean over the images where the value
    is finite (NaN if none), "one_sided": (C,) int64 images where the class was only in the
    prediction or only in the truth, "images": (C,) int64 images where it was in both}.
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

    rad = np.asarray(per_image["rad"], dtype=np.float64)
    return {
        "hd95": finite_mean(hd95),
        "assd": finite_mean(per_image["assd"]),
        "rad": finite_mean(rad),
        "abs_rad": finite_mean(np.abs(rad)),
        "one_sided": np.isinf(hd95.reshape(-1, num_classes)).sum(axis=0).astype(np.int64),
        "images": np.isfinite(hd95.reshape(-1, num_classes)).sum(axis=0).astype(np.int64),
    }
