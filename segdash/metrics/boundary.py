"""Boundary IoU (Cheng et al., "Boundary IoU: Improving Object-Centric Image Segmentation Evaluation", CVPR 2021).

    counts = boundary_counts(pred, target, num_classes=4, ignore_index=255)   # (2, C): intersection, union
    boundary_iou(counts)                                                      # (C,) NaN where union is 0

The band of a binary mask M (H x W) is the reference code's (``mask_to_boundary`` in
bowenc0221/boundary-iou-api): d = max(1, round(ratio * sqrt(H^2 + W^2))); pad M with one pixel of
0, erode it d times with a 3x3 kernel of ones, crop the padding; band(M) = M minus the eroded mask.
A pixel of M is in the band exactly when the (2d+1) x (2d+1) square around it leaves M or leaves
the image, so the bands of every class of a label map come from one erosion and one dilation of
the whole map (a pixel is in its class's band where the two disagree, or within d pixels of the
edge) instead of two erosions per class; ``mask_to_boundary`` below is the reference, kept for
the tests and for one-off masks.

Ignored pixels belong to no class on either side before the band is taken (as in the distance
metrics), so a class's band also runs along an ignored region.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: The reference code's default: the band is 2% of the image diagonal wide.
DEFAULT_BOUNDARY_RATIO = 0.02
#: 3x3 square of ones: one step of erosion reaches the 8 neighbours.
_KERNEL = np.ones((3, 3), dtype=np.uint8)


def band_width(height: int, width: int, ratio: float = DEFAULT_BOUNDARY_RATIO) -> int:
    """d = max(1, round(ratio * image diagonal)): how many pixels deep the band reaches into a mask."""
    return max(1, round(ratio * math.sqrt(height**2 + width**2)))


def mask_to_boundary(mask: np.ndarray, ratio: float = DEFAULT_BOUNDARY_RATIO) -> np.ndarray:
    """(H, W) binary mask -> (H, W) bool band, exactly as the Boundary IoU reference code computes it."""
    mask = np.asarray(mask).astype(np.uint8)
    height, width = mask.shape
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, _KERNEL, iterations=band_width(height, width, ratio))[1 : height + 1, 1 : width + 1]
    return (mask - eroded).astype(bool)


def _label_bands(labels: np.ndarray, d: int) -> np.ndarray:
    """(H, W) label map -> (H, W) bool: the pixel lies in the band of its own label.

    Within d pixels of the edge every pixel is (the zero padding reaches it); elsewhere a pixel is
    where the square of radius d around it holds another label (its min and max differ there).
    """
    low = cv2.erode(labels, _KERNEL, iterations=d)
    high = cv2.dilate(labels, _KERNEL, iterations=d)
    band = low != high
    band[:d], band[-d:], band[:, :d], band[:, -d:] = True, True, True, True
    return band


def _without_ignored(labels: np.ndarray, ignored: np.ndarray | None, outside: int, dtype: np.dtype) -> np.ndarray:
    """Labels in a type OpenCV's morphology takes, ignored pixels set to ``outside`` (no class)."""
    out = labels.astype(dtype)
    if ignored is not None:
        out[ignored] = outside
    return out


def boundary_counts(
    pred: np.ndarray,
    target: np.ndarray,
    num_classes: int,
    ignore_index: int | None = None,
    ratio: float = DEFAULT_BOUNDARY_RATIO,
) -> np.ndarray:
    """Boundary intersection and union per class of one image.

    pred, target: (H, W) integer label maps; target pixels equal to ``ignore_index`` are removed
    from both masks before the bands are taken. Returns (2, C) int64: row 0 = |band(G) & band(P)|,
    row 1 = |band(G) | band(P)| per class (sum these over images for the split's Boundary IoU).
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"expected two (H, W) label maps of one size, got {pred.shape} and {target.shape}")
    if target.size == 0:
        return np.zeros((2, num_classes), dtype=np.int64)
    ignored = (target == ignore_index) if ignore_index is not None else None
    if ignored is not None and not ignored.any():
        ignored = None
    dtype = np.dtype(np.uint8) if num_classes < 255 else np.dtype(np.uint16)
    gt = _without_ignored(target, ignored, num_classes, dtype)
    pr = _without_ignored(pred, ignored, num_classes, dtype)
    d = band_width(*target.shape, ratio)
    gt_band, pred_band = _label_bands(gt, d), _label_bands(pr, d)
    bins = num_classes + 1  # the last bin collects ignored pixels
    gt_sizes = np.bincount(gt[gt_band], minlength=bins)[:num_classes]
    pred_sizes = np.bincount(pr[pred_band], minlength=bins)[:num_classes]
    both = gt_band & pred_band & (gt == pr)
    intersection = np.bincount(gt[both], minlength=bins)[:num_classes]
    return np.stack([intersection, gt_sizes + pred_sizes - intersection]).astype(np.int64)


def batch_boundary_counts(preds: np.ndarray, targets: np.ndarray, num_classes: int, ignore_index: int | None = None,
                          ratio: float = DEFAULT_BOUNDARY_RATIO) -> np.ndarray:
    """(N, H, W) label maps -> (N, 2, C) int64 intersection and union per image and class."""
    return np.stack([boundary_counts(p, t, num_classes, ignore_index, ratio) for p, t in zip(preds, targets)])


def boundary_iou(counts: np.ndarray) -> np.ndarray:
    """(..., 2, C) intersection and union -> (..., C) float64 Boundary IoU, NaN where the union is 0."""
    counts = np.asarray(counts, dtype=np.float64)
    intersection, union = counts[..., 0, :], counts[..., 1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1), np.nan)
