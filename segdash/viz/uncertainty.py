"""Uncertainty pictures: a heat map of per-pixel uncertainty with the pixels above a threshold outlined.

    heat = uncertainty_heatmap(entropy_u8, threshold=0.5)    # (H, W, 3) uint8, inferno, cyan outline
    uncertainty_vs_errors(entropy_u8, pred, target, 0.5)     # how much of the error the outline catches

Maps are (H, W) uint8 in 0..255 standing for 0..1 (``segdash.metrics.calibration.uncertainty_image``,
what ``segdash predict --uncertainty`` writes): 1 byte a pixel is all a page needs to keep.
"""

from __future__ import annotations

import cv2
import numpy as np

from segdash.metrics.calibration import histogram_auroc

#: Outline colour: cyan stands out on every colour of the inferno map (black -> purple -> yellow).
OUTLINE_COLOR = (0, 255, 255)


def above(values: np.ndarray, threshold: float) -> np.ndarray:
    """(H, W) bool: pixels whose 0..255 value stands for more than ``threshold`` in 0..1."""
    return np.asarray(values) > round(255 * threshold)


def outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """(H, W) bool: the inner border of a mask (its pixels with a neighbour outside it, or on the image edge)."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    inner = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=thickness)[1:-1, 1:-1]
    return (mask > 0) & (inner == 0)


def uncertainty_heatmap(values: np.ndarray, threshold: float | None = None, thickness: int = 1) -> np.ndarray:
    """(H, W) uint8 values -> (H, W, 3) uint8 RGB inferno heat map; with ``threshold`` the pixels above it
    are outlined in cyan."""
    values = np.ascontiguousarray(values, dtype=np.uint8)
    rgb = cv2.applyColorMap(values, cv2.COLORMAP_INFERNO)[:, :, ::-1].copy()
    if threshold is not None:
        rgb[outline(above(values, threshold), thickness)] = OUTLINE_COLOR
    return rgb


def uncertainty_vs_errors(values: np.ndarray, pred: np.ndarray, target: np.ndarray, threshold: float,
                          ignore_index: int | None = None) -> dict[str, float | None]:  # fmt: skip
    """How well the pixels above ``threshold`` find the wrong ones, in one image.

    Returns {"flagged": share of pixels above, "errors": share wrong, "caught": share of the wrong pixels
    that are above, "precision": share of the pixels above that are wrong, "auroc": ROC AUC of the value
    for wrong pixels (256 levels)}; None where undefined. Ignored pixels are left out.
    """
    kept = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    wrong = (pred != target)[kept]
    flagged = above(values, threshold)[kept]
    levels = np.asarray(values)[kept].astype(np.int64)
    histograms = np.stack([np.bincount(levels[~wrong], minlength=256), np.bincount(levels[wrong], minlength=256)])

    def share(part: np.ndarray, whole: np.ndarray) -> float | None:
        return float(part.sum() / whole.sum()) if whole.sum() else None

    auroc = float(histogram_auroc(histograms))
    return {
        "flagged": share(flagged, np.ones_like(flagged)),
        "errors": share(wrong, np.ones_like(wrong)),
        "caught": share(flagged & wrong, wrong),
        "precision": share(flagged & wrong, flagged),
        "auroc": auroc if np.isfinite(auroc) else None,
    }
