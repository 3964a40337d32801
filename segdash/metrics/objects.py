"""Object-level results: are the objects of a class found at all, and which sizes are missed?

    counts = object_counts(pred, target, num_classes=3, ignore_index=255)   # (C, 3 sizes, 6) int64
    object_scores(counts.sum(axis=1))                                      # recall, precision, iou per class

Objects are the 8-connected components of each class in the ground truth and in the prediction of
one image (``segdash.data.stats.objects.label_objects``, the engine of the dataset statistics),
ignored pixels removed from both first (so they neither join nor belong to any object). A
ground-truth object is *detected* when at least half of its pixels are predicted as its class; a
predicted object is *false* when less than half of its pixels are that class in the ground truth.
This is the lesion-wise view of BraTS and the reason Cityscapes reports instance-level iIoU: a
global IoU is dominated by large objects, so a model that misses every small one can still score
well.

Sizes are relative to the image (all its pixels): small < 0.1%, medium 0.1% to 1%, large >= 1%.
A ground-truth object is in the bucket of its own size; a predicted object in the bucket of the
ground-truth object it overlaps most (its own size when it overlaps none), so a false object is
counted where it is, and the IoU of a bucket is that of its objects' pixels: |G_b & P_b| / |G_b | P_b|
with G_b, P_b the pixels of the bucket's ground-truth and predicted objects.
"""

from __future__ import annotations

import numpy as np

from segdash.data.stats.objects import SIZE_BUCKETS, SIZE_LIMITS, label_dtype, label_objects, size_bucket

__all__ = ["OBJECT_COUNTS", "SIZE_BUCKETS", "SIZE_LIMITS", "batch_object_counts", "object_counts", "object_scores",
           "size_bucket"]

#: Above this many (predicted, true) object pairs the overlaps are found by sorting instead of a dense table.
_DENSE_PAIRS = 1 << 20
#: The counts kept per class and size bucket, in this order along the last axis.
OBJECT_COUNTS = ("gt", "detected", "predicted", "false", "intersection", "union")


def _best_overlap(pred_ids: np.ndarray, gt_ids: np.ndarray, num_pred: int, gt_sizes: np.ndarray) -> np.ndarray:
    """(num_pred,) index of the ground-truth object each predicted object overlaps most, -1 when none.

    pred_ids, gt_ids: object indices (0-based) of the pixels in both maps with the same class;
    gt_sizes: (num_gt,) pixels. Ties go to the larger ground-truth object, so the choice does not depend
    on how objects are numbered.
    """
    best = np.full(num_pred, -1, dtype=np.int64)
    num_gt = len(gt_sizes)
    if pred_ids.size == 0:
        return best
    code = pred_ids * num_gt + gt_ids
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


def _compact(labels: np.ndarray, kept: np.ndarray, num_classes: int) -> np.ndarray:
    """The label map with every pixel that is ignored or holds no class set to C (``label_objects``'s input)."""
    inside = kept & (labels >= 0) & (labels < num_classes)
    return np.where(inside, labels, num_classes).astype(label_dtype(num_classes))


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
    kept = np.ones(target.shape, dtype=bool) if ignore_index is None else target != ignore_index
    gt_labels, pred_labels = _compact(target, kept, num_classes), _compact(pred, kept, num_classes)
    gt, pr = label_objects(gt_labels, num_classes), label_objects(pred_labels, num_classes)
    both = (gt_labels == pred_labels) & (gt_labels < num_classes)  # pixels of one class in both maps
    gt_both, pred_both = gt.ids[both], pr.ids[both]  # the objects of those pixels, on either side
    gt_hits = np.bincount(gt_both, minlength=len(gt.areas))  # pixels predicted as the object's class
    pred_hits = np.bincount(pred_both, minlength=len(pr.areas))  # pixels that are the object's class
    gt_bucket = size_bucket(gt.areas, target.size)
    best = _best_overlap(pred_both, gt_both, len(pr.areas), gt.areas)
    pred_bucket = np.where(best >= 0, gt_bucket[np.maximum(best, 0)] if len(gt.areas) else 0,
                           size_bucket(pr.areas, target.size))
    # a pixel in both maps counts in a bucket's intersection when its two objects share the bucket
    gt_pixel_bucket, pred_pixel_bucket = gt_bucket[gt_both], pred_bucket[pred_both]
    shared = gt_pixel_bucket == pred_pixel_bucket
    buckets = len(SIZE_BUCKETS)

    def per_bucket(classes: np.ndarray, bucket: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        cells = np.bincount(classes * buckets + bucket, weights=weights, minlength=num_classes * buckets)
        return cells.astype(np.int64).reshape(num_classes, buckets)

    detected, false = 2 * gt_hits >= gt.areas, 2 * pred_hits < pr.areas
    intersection = per_bucket(gt.classes[gt_both[shared]], gt_pixel_bucket[shared])
    return np.stack([
        per_bucket(gt.classes, gt_bucket),
        per_bucket(gt.classes[detected], gt_bucket[detected]),
        per_bucket(pr.classes, pred_bucket),
        per_bucket(pr.classes[false], pred_bucket[false]),
        intersection,
        per_bucket(gt.classes, gt_bucket, gt.areas) + per_bucket(pr.classes, pred_bucket, pr.areas) - intersection,
    ], axis=2)


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
