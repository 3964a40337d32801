"""Label errors in segmentation masks: confident learning per pixel, soft-min pooling per image.

    sums, counts = threshold_sums(labels, pred_probs, num_classes=K)          # pass 1, batch by batch
    thresholds = confident_thresholds(total_sums, total_counts)               # (K,), NaN for an empty class
    suggested = suspect_pixels(labels, pred_probs, thresholds)                # pass 2: (N, H, W), -1 = fine
    scores = label_quality_scores(labels, pred_probs)                         # (N,), lower = more suspect
    counts = suspect_counts(labels, suggested, K)                             # (N, K, K) given x suggested

The method is confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty
in Dataset Labels", JAIR 2021) applied to every pixel as Lad & Mueller do for semantic segmentation
("Estimating label quality and errors in semantic segmentation data via any model", 2023, the method of
cleanlab's ``segmentation`` module; this is a new implementation, cleanlab is not used):

- **Per-class threshold** ``t_k``: the mean probability the model gives class ``k`` on the pixels
  labelled ``k`` (confident learning's "per-class expected self-confidence"). The sums and counts
  behind it add up over batches and processes, so a first streaming pass over a split gives it.
  A class no pixel is labelled with has no threshold (NaN): no pixel is ever suspected of being it.
- **Suspect pixel**: a pixel labelled ``y`` is suspect when some other class ``j`` has
  ``p_j >= t_j`` (the model is as confident in ``j`` as it typically is on true ``j`` pixels) and
  ``p_j > p_y`` (it prefers ``j`` to the given label). The suggested class is the most probable such
  ``j`` (the lowest index on a tie). This is the off-diagonal of confident learning's confident joint,
  with the extra condition that ``j`` beats the given label, so a pixel whose label the model
  prefers is never flagged, however low that label's threshold.
- **Image score**: soft-min pooling of the pixels' given-label probabilities ``s_i = p_{y_i}``:
  ``sum_i s_i w_i`` with ``w = softmax((1 - s) / temperature)``. A temperature of 0.1 (Lad & Mueller's
  and cleanlab's default) lets a few confidently contradicted pixels pull the score down without one
  stray pixel deciding it (temperature -> 0: the worst pixel; -> infinity: the mean). Scores lie in
  [0, 1]; lower means the mask is more likely wrong.

Pixels whose label is ``ignore_index`` are left out of everything: they are never suspect, add nothing to
a threshold and carry no weight in a score (an image with no other pixel scores NaN). The probabilities
must be out-of-sample (a held-out split, or a model from cross-validation): on the images a model
trained on it has learnt the masks, errors included, and flags little.

Shapes and dtypes: ``labels`` (N, H, W) integer class indices 0..K-1 (or ``ignore_index``);
``pred_probs`` (N, K, H, W) float probabilities summing to 1 over K.
"""

from __future__ import annotations

import numpy as np

from segdash.errors import SegdashError

#: Soft-min temperature of the image score (Lad & Mueller 2023; cleanlab's default).
DEFAULT_TEMPERATURE = 0.1
#: Value of ``suspect_pixels`` where a pixel is fine.
FINE = -1
#: ``threshold_sums`` counts probability in units of 2**-24 (exact integer sums).
SUM_UNITS = float(2**24)


def _check(labels: np.ndarray, pred_probs: np.ndarray, ignore_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Shapes checked; (valid (N, H, W) bool, labels clipped to 0..K-1 where ignored) returned."""
    labels, pred_probs = np.asarray(labels), np.asarray(pred_probs)
    if labels.ndim != 3 or pred_probs.ndim != 4:
        raise SegdashError(f"labels must be (N, H, W) and pred_probs (N, K, H, W); got {labels.shape} and "
                           f"{pred_probs.shape}")  # fmt: skip
    if pred_probs.shape[:1] + pred_probs.shape[2:] != labels.shape:
        raise SegdashError(f"pred_probs {pred_probs.shape} do not fit labels {labels.shape}: expected "
                           f"(N, K, H, W) with labels (N, H, W)")  # fmt: skip
    if labels.dtype.kind not in "iu":
        raise SegdashError(f"labels must be integer class indices, got dtype {labels.dtype}")
    num_classes = pred_probs.shape[1]
    valid = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    outside = valid & ((labels < 0) | (labels >= num_classes))
    if outside.any():
        bad = np.unique(labels[outside])[:10].tolist()
        raise SegdashError(f"labels {bad} are outside the {num_classes} classes 0..{num_classes - 1}"
                           + ("" if ignore_index is None else f" and are not the ignore index {ignore_index}"))
    return valid, np.where(valid, labels, 0).astype(np.intp)


def given_label_probs(labels: np.ndarray, pred_probs: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """(N, H, W) float64: the probability of each pixel's given label (cleanlab's "pixel scores"); NaN where
    the label is ``ignore_index``."""
    valid, index = _check(labels, pred_probs, ignore_index)
    given = np.take_along_axis(np.asarray(pred_probs), index[:, None], axis=1)[:, 0].astype(np.float64)
    given[~valid] = np.nan
    return given


def threshold_sums(labels: np.ndarray, pred_probs: np.ndarray, ignore_index: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One batch's part of the per-class thresholds: (sums (K,) int64: ``p_k`` summed over the pixels
    labelled ``k``, in units of ``2**-24``; counts (K,) int64 of those pixels). Add both over batches (and
    processes), then ``confident_thresholds``.

    The sums are integers so that adding them is exact: the thresholds are then the same however a
    split is batched or sharded over processes (float sums would differ in the last bits with the order
    of the additions). A unit of 2**-24 is float32's resolution near 1, and int64 holds the sum of
    half a trillion pixels.
    """
    valid, index = _check(labels, pred_probs, ignore_index)
    num_classes = np.asarray(pred_probs).shape[1]
    given = np.take_along_axis(np.asarray(pred_probs), index[:, None], axis=1)[:, 0][valid]
    units = np.rint(given.astype(np.float64) * SUM_UNITS)
    # float64 adds integers exactly below 2**53: per batch that is 2**29 pixels of probability 1
    sums = np.bincount(index[valid], weights=units, minlength=num_classes)
    counts = np.bincount(index[valid], minlength=num_classes).astype(np.int64)
    return sums.astype(np.int64), counts


def confident_thresholds(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(K,) float64 per-class thresholds: the mean probability of class ``k`` on the pixels labelled ``k``
    (``threshold_sums`` added up); NaN for a class with no labelled pixel (no threshold:
    ``suspect_pixels`` never suggests it)."""
    sums, counts = np.asarray(sums, np.float64) / SUM_UNITS, np.asarray(counts, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def suspect_pixels(labels: np.ndarray, pred_probs: np.ndarray, thresholds: np.ndarray,
                   ignore_index: int | None = None) -> np.ndarray:  # fmt: skip
    """(N, H, W) int16: the suggested class of each suspect pixel, ``FINE`` (-1) elsewhere.

    A pixel labelled ``y`` is suspect when a class ``j != y`` has ``p_j >= thresholds[j]`` and
    ``p_j > p_y``; the suggestion is the most probable such ``j``. NaN thresholds never qualify;
    ignored pixels are never suspect.
    """
    valid, index = _check(labels, pred_probs, ignore_index)
    probs = np.asarray(pred_probs)
    thresholds = np.asarray(thresholds, np.float64).reshape(1, -1, 1, 1)
    if thresholds.shape[1] != probs.shape[1]:
        raise SegdashError(f"{thresholds.shape[1]} thresholds for {probs.shape[1]} classes")
    with np.errstate(invalid="ignore"):
        eligible = probs >= thresholds  # NaN (no threshold) compares False
    np.put_along_axis(eligible, index[:, None], False, axis=1)  # the given label is not a suggestion
    candidates = np.where(eligible, probs, -1.0)
    best = candidates.argmax(axis=1)
    best_prob = np.take_along_axis(candidates, best[:, None], axis=1)[:, 0]
    given = np.take_along_axis(probs, index[:, None], axis=1)[:, 0]
    suspect = valid & (best_prob > given)
    return np.where(suspect, best, FINE).astype(np.int16)


def softmin_pool(pixel_scores: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> float:
    """One image's score from its pixels' given-label probabilities (any shape; NaN pixels left out):
    ``sum(s * softmax((1 - s) / temperature))``; NaN when no pixel is left."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise SegdashError(f"the soft-min temperature must be a positive number, got {temperature}")
    s = np.asarray(pixel_scores, np.float64).reshape(-1)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return float("nan")
    logits = (1.0 - s) / temperature
    weights = np.exp(logits - logits.max())  # shifted: exp never overflows
    return float(np.dot(s, weights) / weights.sum())


def label_quality_scores(labels: np.ndarray, pred_probs: np.ndarray, temperature: float = DEFAULT_TEMPERATURE,
                         ignore_index: int | None = None) -> np.ndarray:  # fmt: skip
    """(N,) float64 per-image label-quality scores in [0, 1] (``softmin_pool`` of ``given_label_probs``);
    lower = more likely mislabelled; NaN for an image whose every pixel is ignored."""
    given = given_label_probs(labels, pred_probs, ignore_index)
    return np.array([softmin_pool(image, temperature) for image in given], np.float64)


def suspect_counts(labels: np.ndarray, suggested: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, K, K) int64 per image: ``[i, y, j]`` = suspect pixels labelled ``y`` suggested as ``j`` (the
    diagonal is always 0). ``suggested`` is ``suspect_pixels``' output for the same ``labels``."""
    labels, suggested = np.asarray(labels), np.asarray(suggested)
    if labels.shape != suggested.shape or labels.ndim != 3:
        raise SegdashError(f"labels {labels.shape} and suggestions {suggested.shape} must be the same (N, H, W)")
    images = labels.shape[0]
    image, rows, cols = np.nonzero(suggested != FINE)
    cells = num_classes * num_classes
    flat = image * cells + labels[image, rows, cols].astype(np.int64) * num_classes + suggested[image, rows, cols]
    return np.bincount(flat, minlength=images * cells).astype(np.int64).reshape(images, num_classes, num_classes)


def labelled_pixels(labels: np.ndarray, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """(N, K) int64: pixels labelled with each class per image (the denominators of the suspect shares)."""
    labels = np.asarray(labels)
    valid = np.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    image = np.broadcast_to(np.arange(labels.shape[0]).reshape(-1, 1, 1), labels.shape)
    flat = image[valid].astype(np.int64) * num_classes + labels[valid].astype(np.int64)
    return np.bincount(flat, minlength=labels.shape[0] * num_classes).astype(np.int64).reshape(-1, num_classes)


def suggestion_codes(suggested: np.ndarray, num_classes: int) -> np.ndarray:
    """``suspect_pixels`` output as a label map an annotation tool can load beside the mask: 0 where the
    pixel is fine, else 1 + the suggested class (uint8 up to 254 classes, else uint16)."""
    dtype = np.uint8 if num_classes < 255 else np.uint16
    return (np.asarray(suggested).astype(np.int32) + 1).astype(dtype)
