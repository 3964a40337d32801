"""Does the model know when it is wrong? Calibration and uncertainty from softmax probabilities.

    stats = ConfidenceStats(num_classes=4, ignore_index=255, device=probs.device)
    per_image = stats.update(probs, target)          # probs (N, K, H, W) on any device; target (N, H, W)
    stats.ece(), stats.per_class_ece(), stats.auroc(), stats.bins()

Calibration (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017): the confidence of a
pixel is its winning class's probability; pixels fall in 15 equal-width bins on [0, 1]; the expected
calibration error is ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|, and per class over the
pixels predicted as that class.

Uncertainty: the normalised entropy H(p) / log(K) in [0, 1] of each pixel. How well it finds the
errors is the ROC AUC of entropy for telling wrong pixels from right ones (Hendrycks & Gimpel,
"A Baseline for Detecting Misclassified and Out-of-Distribution Examples", ICLR 2017), computed from
two 1,000-bin histograms (right, wrong), so it is exact for entropies rounded down to the bin
width (ties inside a bin count half) and costs nothing per image to keep.

Everything is counted per batch where the probabilities are (one ``torch.bincount`` per quantity,
on the model's device); the probabilities themselves are never kept. Ignored pixels are left out.
"""

from __future__ import annotations

import math

import numpy as np
import torch

CALIBRATION_BINS = 15
ENTROPY_BINS = 1000
#: The sums kept per (class, confidence bin), in this order along the last axis.
CALIBRATION_SUMS = ("pixels", "confidence", "correct")


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) probabilities -> (N, H, W) float32 entropy / log(K), in [0, 1].

    Summed one class at a time, so no second (N, K, H, W) tensor is made.
    """
    num_classes = probs.shape[1]
    entropy = torch.zeros(probs.shape[:1] + probs.shape[2:], dtype=torch.float32, device=probs.device)
    if num_classes < 2:
        return entropy
    for k in range(num_classes):
        entropy -= torch.special.xlogy(probs[:, k], probs[:, k]).float()
    return entropy.div_(math.log(num_classes)).clamp_(0.0, 1.0)


def entropy_map(probs: np.ndarray) -> np.ndarray:
    """One image's (K, H, W) probabilities -> (H, W) float32 normalised entropy in [0, 1]."""
    return normalized_entropy(torch.from_numpy(np.asarray(probs, dtype=np.float32))[None])[0].numpy()


def uncertainty_image(probs: np.ndarray) -> np.ndarray:
    """(K, H, W) probabilities -> (H, W) uint8 round(255 * normalised entropy): 0 certain, 255 uniform."""
    return np.rint(entropy_map(probs) * 255).astype(np.uint8)


def _bin_of(values: torch.Tensor, bins: int) -> torch.Tensor:
    """Values in [0, 1] -> int64 bin index 0..bins-1 (1.0 falls in the last bin)."""
    return (values.float() * bins).long().clamp_(0, bins - 1)


def _valid(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor | None:
    return None if ignore_index is None else target != ignore_index


def _image_offsets(index: torch.Tensor, cells: int) -> torch.Tensor:
    """Adds ``image * cells`` to an (N, H, W) bin index, so one bincount counts every image apart."""
    return index.add_(torch.arange(index.shape[0], device=index.device).view(-1, 1, 1) * cells)


def _drop_ignored(index: torch.Tensor, target: torch.Tensor, ignore_index: int | None, overflow: int) -> torch.Tensor:
    """Ignored pixels sent to the bin ``overflow`` (cut off after counting): cheaper than selecting the others."""
    if ignore_index is not None:
        index.masked_fill_(target == ignore_index, overflow)
    return index.reshape(-1)


def calibration_sums(probs: torch.Tensor, target: torch.Tensor, labels: torch.Tensor | None = None,
                     ignore_index: int | None = None, bins: int = CALIBRATION_BINS,
                     confidence: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """(N, K, H, W) probs, (N, H, W) target -> (N, K, bins, 3) float64 sums per image, predicted class and bin.

    The last axis holds ``CALIBRATION_SUMS``: pixels, summed confidence, correctly labelled pixels.
    ``labels`` and ``confidence`` ((N, H, W): ``probs.max(dim=1)``) save recomputing them when the caller has them.
    """
    num_images, num_classes = probs.shape[:2]
    if labels is None:
        confidence, labels = probs.max(dim=1)  # on a CPU several times faster than argmax over dim 1
    elif confidence is None:
        confidence = probs.amax(dim=1)
    size = num_images * num_classes * bins
    index = _image_offsets(labels * bins + _bin_of(confidence, bins), num_classes * bins)
    index = _drop_ignored(index, target, ignore_index, size)
    confidence_sums = torch.bincount(index, weights=confidence.reshape(-1).double(), minlength=size + 1)[:size]
    # wrong and right pixels of a bin side by side: one histogram gives both the pixels and the right ones
    index.mul_(2).add_((labels == target).reshape(-1))
    right_wrong = torch.bincount(index, minlength=2 * size + 2)[: 2 * size].view(size, 2).double()
    sums = torch.stack([right_wrong.sum(dim=1), confidence_sums, right_wrong[:, 1]], dim=-1)
    return sums.view(num_images, num_classes, bins, len(CALIBRATION_SUMS))


def entropy_histograms(probs: torch.Tensor, target: torch.Tensor, labels: torch.Tensor | None = None,
                       ignore_index: int | None = None, bins: int = ENTROPY_BINS) -> torch.Tensor:
    """(N, K, H, W) probs, (N, H, W) target -> (N, 2, bins) int64: normalised-entropy counts of right (row 0)
    and wrong (row 1) pixels per image."""
    num_images = probs.shape[0]
    labels = probs.max(dim=1)[1] if labels is None else labels
    index = _bin_of(normalized_entropy(probs), bins)
    index += (labels != target).long() * bins
    size = num_images * 2 * bins
    index = _drop_ignored(_image_offsets(index, 2 * bins), target, ignore_index, size)
    return torch.bincount(index, minlength=size + 1)[:size].view(num_images, 2, bins)


def calibration_error(sums: np.ndarray) -> np.ndarray:
    """(..., bins, 3) sums -> (...) float64 ECE = sum_b n_b / n * |accuracy_b - confidence_b|; NaN without pixels."""
    sums = np.asarray(sums, dtype=np.float64)
    pixels, confidence, correct = sums[..., 0], sums[..., 1], sums[..., 2]
    total = pixels.sum(axis=-1)
    gap = np.abs(correct - confidence).sum(axis=-1)  # n_b * |acc_b - conf_b| = |correct_b - confidence_sum_b|
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, gap / np.where(total > 0, total, 1), np.nan)


def histogram_auroc(histograms: np.ndarray) -> np.ndarray:
    """(..., 2, bins) counts of right (row 0) and wrong (row 1) pixels by score -> (...) ROC AUC of the score
    for finding wrong pixels: P(wrong scores higher) + P(same bin) / 2; NaN without both kinds of pixel."""
    histograms = np.asarray(histograms, dtype=np.float64)
    right, wrong = histograms[..., 0, :], histograms[..., 1, :]
    right_below = np.cumsum(right, axis=-1) - right
    pairs = right.sum(axis=-1) * wrong.sum(axis=-1)
    above = (wrong * (right_below + 0.5 * right)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, above / np.where(pairs > 0, pairs, 1), np.nan)


def calibration_bins(sums: np.ndarray) -> list[dict]:
    """(bins, 3) sums -> [{"low", "high", "pixels", "confidence", "accuracy"}] (means None in an empty bin)."""
    sums = np.asarray(sums, dtype=np.float64)
    bins = sums.shape[0]
    rows = []
    for b, (pixels, confidence, correct) in enumerate(sums):
        rows.append({
            "low": b / bins, "high": (b + 1) / bins, "pixels": int(pixels),
            "confidence": float(confidence / pixels) if pixels else None,
            "accuracy": float(correct / pixels) if pixels else None,
        })  # fmt: skip
    return rows


class ConfidenceStats:
    """Accumulates calibration sums and entropy histograms over batches, on the probabilities' device.

    Keeps (C, 15, 3) sums, (2, 1000) counts and two flip-TTA counts, whatever the split's size.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, device: str | torch.device = "cpu"):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.device = torch.device(device)
        self.sums = torch.zeros((num_classes, CALIBRATION_BINS, len(CALIBRATION_SUMS)), dtype=torch.float64,
                                device=self.device)
        self.histogram = torch.zeros((2, ENTROPY_BINS), dtype=torch.int64, device=self.device)
        self.flip_changed = torch.zeros(2, dtype=torch.int64, device=self.device)  # changed, pixels
        self.flips_seen = False

    def update(self, probs: torch.Tensor, target: torch.Tensor, labels: torch.Tensor | None = None,
               flip_changed: torch.Tensor | None = None, confidence: torch.Tensor | None = None,
               ) -> dict[str, np.ndarray]:  # fmt: skip
        """Count one batch: probs (N, K, H, W), target (N, H, W); ``flip_changed`` (N, H, W) bool marks pixels
        whose label differs between flip-TTA runs; ``labels``, ``confidence``: ``probs.max(dim=1)`` when the
        caller has it. Returns per-image {"ece", "auroc", "overconfidence": (N,)}."""
        target = target.to(probs.device)
        if labels is None:
            confidence, labels = probs.max(dim=1)
        sums = calibration_sums(probs, target, labels, self.ignore_index, confidence=confidence)
        histograms = entropy_histograms(probs, target, labels, self.ignore_index)
        self.sums += sums.sum(dim=0).to(self.device)
        self.histogram += histograms.sum(dim=0).to(self.device)
        if flip_changed is not None:
            valid = _valid(target, self.ignore_index)
            changed = flip_changed if valid is None else flip_changed & valid
            pixels = target.numel() if valid is None else valid.sum()
            self.flip_changed += torch.stack([changed.sum(), torch.as_tensor(pixels, device=changed.device)]).to(
                self.device)
            self.flips_seen = True
        per_image = sums.sum(dim=1).cpu().numpy()  # (N, bins, 3)
        with np.errstate(divide="ignore", invalid="ignore"):
            totals = per_image.sum(axis=1)
            overconfidence = np.where(totals[:, 0] > 0, (totals[:, 1] - totals[:, 2]) / totals[:, 0], np.nan)
        return {
            "ece": calibration_error(per_image),
            "auroc": histogram_auroc(histograms.cpu().numpy()),
            "overconfidence": overconfidence,
        }

    def calibration(self) -> np.ndarray:
        """(C, 15, 3) float64 sums per predicted class and confidence bin."""
        return self.sums.cpu().numpy()

    def entropy_histogram(self) -> np.ndarray:
        """(2, 1000) int64 counts of right and wrong pixels by normalised entropy."""
        return self.histogram.cpu().numpy()

    def flip_counts(self) -> np.ndarray | None:
        """(2,) int64 [pixels whose label changed between the flips, pixels], None without flip TTA."""
        return self.flip_changed.cpu().numpy() if self.flips_seen else None
