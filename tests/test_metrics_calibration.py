"""Calibration (ECE, reliability bins) and entropy AUROC against NumPy loops, SciPy and scikit-learn."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import roc_auc_score

from segdash.metrics.calibration import (
    ConfidenceStats,
    calibration_bins,
    calibration_error,
    histogram_auroc,
    normalized_entropy,
)


def random_case(seed=0, n=3, k=4, h=9, w=11):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.6), size=(n, h, w)).astype(np.float32).transpose(0, 3, 1, 2)
    labels = probs.argmax(axis=1)
    target = np.where(rng.random((n, h, w)) < 0.7, labels, rng.integers(0, k, (n, h, w)))
    target[rng.random((n, h, w)) < 0.1] = 255
    return probs, target


def reference_ece(confidence, correct, bins=15):
    """Guo et al.'s ECE with a loop over 15 equal-width bins (a confidence of exactly 1 in the last)."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return ece if confidence.size else math.nan


def test_normalized_entropy_matches_scipy():
    probs, _ = random_case()
    got = normalized_entropy(torch.from_numpy(probs)).numpy()
    want = scipy_entropy(probs, axis=1) / np.log(probs.shape[1])
    np.testing.assert_allclose(got, want, atol=1e-5)
    one_hot = torch.zeros((1, 3, 2, 2))
    one_hot[:, 1] = 1
    assert normalized_entropy(one_hot).abs().max() == 0  # 0 log 0 counts as 0
    assert normalized_entropy(torch.full((1, 3, 2, 2), 1 / 3)).min() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
def test_ece_per_class_ece_bins_and_auroc(seed):
    probs, target = random_case(seed)
    stats = ConfidenceStats(4, ignore_index=255)
    per_image = stats.update(torch.from_numpy(probs[:2]), torch.from_numpy(target[:2]))
    stats.update(torch.from_numpy(probs[2:]), torch.from_numpy(target[2:]))
    labels = probs.argmax(axis=1)
    confidence = probs.max(axis=1).astype(np.float64)
    kept = target != 255
    correct = (labels == target)[kept]
    sums = stats.calibration()
    assert calibration_error(sums.sum(axis=0)) == pytest.approx(reference_ece(confidence[kept], correct))
    for c in range(4):
        mine = (labels == c)[kept]
        want = reference_ece(confidence[kept][mine], correct[mine]) if mine.any() else math.nan
        assert calibration_error(sums[c]) == pytest.approx(want, nan_ok=True)
    bins = calibration_bins(sums.sum(axis=0))
    assert len(bins) == 15 and bins[0]["low"] == 0 and bins[-1]["high"] == 1
    assert sum(b["pixels"] for b in bins) == kept.sum()
    in_bin = np.minimum((confidence[kept] * 15).astype(int), 14) == 14
    assert bins[14]["accuracy"] == pytest.approx(correct[in_bin].mean())
    assert bins[14]["confidence"] == pytest.approx(confidence[kept][in_bin].mean())
    # AUROC of normalised entropy for finding the wrong pixels: exact for entropies cut to the bin width
    ent = (scipy_entropy(probs, axis=1) / np.log(4))[kept]
    wrong = ~correct
    assert histogram_auroc(stats.entropy_histogram()) == pytest.approx(
        roc_auc_score(wrong, np.minimum(np.floor(ent * 1000), 999)), abs=1e-9)
    assert histogram_auroc(stats.entropy_histogram()) == pytest.approx(roc_auc_score(wrong, ent), abs=2e-3)
    for i in range(2):  # per image, from the first batch
        keep_i = target[i] != 255
        right_i = (labels[i] == target[i])[keep_i]
        assert per_image["ece"][i] == pytest.approx(reference_ece(confidence[i][keep_i], right_i))
        ent_i = np.minimum(np.floor(scipy_entropy(probs[i], axis=0)[keep_i] / np.log(4) * 1000), 999)
        assert per_image["auroc"][i] == pytest.approx(roc_auc_score(~right_i, ent_i), abs=1e-9)
        over = confidence[i][keep_i].mean() - right_i.mean()
        assert per_image["overconfidence"][i] == pytest.approx(over)


def test_undefined_values_and_flip_counts():
    probs, target = random_case(5, n=2)
    target[1] = 255  # the second image is all ignored
    labels = torch.from_numpy(probs.argmax(axis=1))
    changed = torch.zeros(labels.shape, dtype=torch.bool)
    changed[0, :3] = True  # 3 rows of 11 pixels changed between the flips, some of them ignored
    changed[1] = True  # ignored: not counted
    stats = ConfidenceStats(4, ignore_index=255)
    per_image = stats.update(torch.from_numpy(probs), torch.from_numpy(target), flip_changed=changed)
    assert math.isnan(per_image["ece"][1]) and math.isnan(per_image["auroc"][1])
    kept = target[0] != 255
    assert stats.flip_counts().tolist() == [int((changed[0].numpy() & kept).sum()), int(kept.sum())]
    assert ConfidenceStats(4).flip_counts() is None
    # all pixels right: AUROC undefined (no wrong pixel to find)
    perfect = ConfidenceStats(4, ignore_index=255)
    out = perfect.update(torch.from_numpy(probs[:1]), labels[:1])
    assert math.isnan(out["auroc"][0]) and math.isnan(histogram_auroc(perfect.entropy_histogram()))
    assert calibration_error(np.zeros((15, 3))) != calibration_error(np.zeros((15, 3)))  # NaN without pixels
