"""Object-level results: are the objects of a class found at all, and which sizes are missed?

    counts = object_counts(pred, target, num_classes=3, ignore_index=255)   # (C, 3 sizes, 6) int64
    object_scores(counts.sum(axis=1))                                      # recall, precision, iou per class

Objects are the 8-connected components (OpenCV ``connectedComponents``, connectivity 8) of each
class's mask in the ground truth and in the prediction of one image, ignored pixels removed from
both first (so they neither join nor belong to any object). A ground-truth object is *detected*
when at least half of its pixels are predicted as its class; a predicted object is *false* when
less than half of its pixels are that class in the ground truth. This is the lesion-wise view of
BraTS and the reason Cityscapes reports instance-level iIoU: a global IoU is dominated by large
objects, so a model that misses every small one can still score well.

Sizes are relative to the image (all its pixels): small < 0.1%, medium 0.1% to 1%, large >= 1%.
A ground-truth object is in the bucket of its own size; a predicted object in the bucket of the
ground-truth object it overlaps most (its own size when it overlaps none), so a false object is
counted where it is, and the IoU of a bucket is that of its objects' pixels: |G_b & P_b| / |G_b | P_b|
with G_b, P_b the pixels of the bucket's ground-truth and predicted objects.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE_BUCKETS = ("small", "medium", "large")
#: Upper limits of the small and medium buckets, as shares of the image's pixels.
SIZE_LIMITS = (0.001, 0.01)
#: Above this many (predicted, true) object pairs the overlaps are found by sorting instead of a dense table.
_DENSE_PAIRS = 1 << 20
#: The counts kept per class and size bucket, in this order along the last axis.
OBJECT_COUNTS = ("gt", "detected", "predicted", "false", "intersection", "union")


def size_bucket(pixels: np.ndarray, image_pixels: int) -> np.ndarray:
    """Object sizes in pixels -> bucket index (0 small, 1 medium, 2 large) by their share of the image."""
    return np.digitize(np.asarray(pixels, dtype=np.float64) / image_pixels, SIZE_LIMITS)


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a uint8 mask -> (count, (H, W) int32 ids with 0 = outside, (count,) sizes)."""
    count, ids, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
    return count - 1, ids, stats[1:, cv2.CC_STAT_AREA].astype(np.int64)


def _best_overlap(pred_ids: np.ndarray, gt_ids: np.ndarray, num_pred: int, gt_sizes: np.ndarray) -> np.ndarray:
    """(num_pred,) index of the ground-truth object each predicted object overlaps most, -1 when none.

    pred_ids, gt_ids: component ids (1-based) of the pixels in both masks; gt_sizes: (num_gt,) pixels.
    Ties go to the larger ground-truth object, so the choice does not depend on how objects are numbered.
    """
    best = np.full(num_pred, -1, dtype=np.int64)
    num_gt = len(gt_sizes)
    if pred_ids.size == 0:
        return best
    code = (pred_ids.astype(np.int64) - 1) * num_gt + (gt_ids - 1)
    if num_pred * num_gt <= _DENSE_PAIRS:  # the usual case: a small table, one bincount
        overlap = np.bincount(code, minlength=num_pred * num_gt).reshape(num_pred, num_gt)
        key = overlap * (int(gt_sizes.max()) + 1) + np.where(overlap > 0, gt_sizes, 0)
        return np.where(overlap.any(axis=1), key.argmax(axis=1), -1)
    pairs, counts = np.unique(code, return_counts=True)  # many objects on both sides: only the pairs that occur
    pred_of, gt_of = pairs // num_gt, pairs % num_gt
    order = np.lexsort((-gt_sizes[gt_of], -counts, pred_of))  # per predicted object, the largest overlap first
    first = np.ones(order.size, dtype=bool)
    first[1:] = pred_of[order][1:] != pred_of[order][:-1]
    best[pred_of[order][first]] = gt_of[order][first]
    return best


def _class_counts(gt_mask: np.ndarray, pred_mask: np.ndarray, image_pixels: int) -> np.ndarray:
    """One class of one image: (H, W) uint8 masks -> (3 buckets, 6 counts) int64."""
    num_gt, gt_ids, gt_sizes = _components(gt_mask)
    num_pred, pred_ids, pred_sizes = _components(pred_mask)
    both = (gt_mask & pred_mask).view(bool)
    gt_both, pred_both = gt_ids[both], pred_ids[both]  # object ids of the pixels in both masks
    gt_hits = np.bincount(gt_both, minlength=num_gt + 1)[1:]  # pixels predicted as the class
    pred_hits = np.bincount(pred_both, minlength=num_pred + 1)[1:]  # pixels that are the class
    gt_bucket = size_bucket(gt_sizes, image_pixels)
    best = _best_overlap(pred_both, gt_both, num_pred, gt_sizes)
    pred_bucket = np.where(best >= 0, gt_bucket[np.maximum(best, 0)] if num_gt else 0,
                           size_bucket(pred_sizes, image_pixels))
    # a pixel in both masks counts in a bucket's intersection when its two objects share the bucket
    gt_pixel_bucket = gt_bucket[gt_both - 1]
    pred_pixel_bucket = pred_bucket[pred_both - 1]
    shared = gt_pixel_bucket[gt_pixel_bucket == pred_pixel_bucket]

    def per_bucket(bucket: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(bucket, weights=weights, minlength=len(SIZE_BUCKETS)).astype(np.int64)

    intersection = per_bucket(shared)
    return np.stack([
        per_bucket(gt_bucket),
        per_bucket(gt_bucket[2 * gt_hits >= gt_sizes]),
        per_bucket(pred_bucket),
        per_bucket(pred_bucket[2 * pred_hits < pred_sizes]),
        intersection,
        per_bucket(gt_bucket, gt_sizes) + per_bucket(pred_bucket, pred_sizes) - intersection,
    ], axis=1)  # fmt: skip


def object_counts(pred: np.ndarray, target: np.ndarray, num_classes: int,
                  ignore_index: int | None = None) -> np.ndarray:
    """Object counts of one image.

    pred, target: (H, W) integer label maps. Returns (C, 3, 6) int64: per class and size bucket
    (``SIZE_BUCKETS``) the counts ``OBJECT_COUNTS``: ground-truth objects, detected ones, predicted
    objects, false ones, and the intersection and union of the bucket's object pixels.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"expected two (H, W) label maps of one size, got {pred.shape} and {target.shape}")
    out = np.zeros((num_classes, len(SIZE_BUCKETS), len(OBJECT_COUNTS)), dtype=np.int64)
    kept = np.ones(target.shape, dtype=bool) if ignore_index is None else target != ignore_index
    for c in _present_classes(pred, target, kept, num_classes):
        gt_mask = ((target == c) & kept).view(np.uint8)
        pred_mask = ((pred == c) & kept).view(np.uint8)
        out[c] = _class_counts(gt_mask, pred_mask, target.size)
    return out


def _present_classes(pred: np.ndarray, target: np.ndarray, kept: np.ndarray, num_classes: int) -> np.ndarray:
    """Classes 0..C-1 found in the kept pixels of either map (a histogram: cheaper than sorting the pixels)."""
    seen = np.zeros(num_classes, dtype=bool)
    for labels in (target[kept], pred[kept]):
        inside = labels[(labels >= 0) & (labels < num_classes)].astype(np.intp, copy=False)
        seen |= np.bincount(inside, minlength=num_classes)[:num_classes] > 0
    return np.flatnonzero(seen)


def batch_object_counts(preds: np.ndarray, targets: np.ndarray, num_classes: int,
                        ignore_index: int | None = None) -> np.ndarray:
    """(N, H, W) label maps -> (N, C, 3, 6) int64 object counts per image."""
    return np.stack([object_counts(p, t, num_classes, ignore_index) for p, t in zip(preds, targets)])


def _share(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def object_scores(counts: np.ndarray) -> dict[str, np.ndarray]:
    """(..., 6) counts -> {"recall", "precision", "iou": (...) float64}, NaN where the denominator is 0.

    recall = detected / gt objects; precision = 1 - false / predicted objects; iou = intersection / union.
    """
    counts = np.asarray(counts)
    gt, detected, predicted, false, intersection, union = (counts[..., i] for i in range(len(OBJECT_COUNTS)))
    return {
        "recall": _share(detected, gt),
        "precision": 1.0 - _share(false, predicted),
        "iou": _share(intersection, union),
    }
