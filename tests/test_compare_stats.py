"""Paired statistics between models, checked against independent computations written here."""

import math
import time

import numpy as np
import pytest
from scipy.stats import wilcoxon

from segdash.metrics.paired import (
    compare_scores,
    fixed_broken_pixels,
    image_class_scores,
    net_fixed_pixels,
    paired_overall,
)

CLASSES = ["background", "lesion", "vessel"]


def loop_bootstrap(a, b, samples, seed):
    """A plain bootstrap: draw the same index matrix, then one resample at a time, defined pairs only."""
    index = np.random.default_rng(seed).integers(0, len(a), size=(samples, len(a)))
    means = []
    for row in index:
        d = b[row] - a[row]
        d = d[~np.isnan(d)]
        if len(d):
            means.append(d.mean())
    return np.percentile(means, 2.5), np.percentile(means, 97.5)


@pytest.fixture()
def hand_scores():
    """Two models on 8 images, 3 classes; 'vessel' undefined in some images (for one or both models)."""
    a = np.array([
        [0.90, 0.50, np.nan],
        [0.80, 0.40, 0.30],
        [0.85, np.nan, 0.20],
        [0.95, 0.70, np.nan],
        [0.70, 0.60, 0.10],
        [0.90, 0.55, 0.00],
        [0.88, 0.45, np.nan],
        [0.91, 0.52, 0.40],
    ])  # fmt: skip
    b = np.array([
        [0.92, 0.60, np.nan],
        [0.80, 0.55, 0.35],   # background tie
        [0.86, 0.30, 0.25],   # lesion undefined for A only
        [0.97, 0.75, 0.50],   # vessel undefined for A only
        [0.69, 0.70, 0.20],
        [0.93, 0.50, np.nan],  # vessel undefined for B only
        [0.90, 0.65, np.nan],
        [0.95, 0.58, 0.40],   # vessel tie
    ])  # fmt: skip
    return a, b


def test_means_wins_and_counts_equal_a_hand_count(hand_scores):
    a, b = hand_scores
    pair = compare_scores(np.stack([a, b]), CLASSES, samples=200, seed=1).pair(0, 1)
    background, lesion, vessel = pair.per_class
    assert background.images == 8 and (background.wins, background.ties, background.losses) == (6, 1, 1)
    assert background.mean_a == pytest.approx(a[:, 0].mean()) and background.mean_b == pytest.approx(b[:, 0].mean())
    assert background.diff == pytest.approx((b[:, 0] - a[:, 0]).mean())
    # lesion: image 2 is undefined for A, so 7 paired images; B loses only image 5
    assert lesion.images == 7 and (lesion.wins, lesion.ties, lesion.losses) == (6, 0, 1)
    assert lesion.mean_a == pytest.approx(np.mean([0.50, 0.40, 0.70, 0.60, 0.55, 0.45, 0.52]))
    # vessel: defined for both in images 1, 2, 4, 7 only
    assert vessel.images == 4 and (vessel.wins, vessel.ties, vessel.losses) == (3, 1, 0)
    assert vessel.diff == pytest.approx(np.mean([0.05, 0.05, 0.10, 0.0]))
    # overall: per image, the mean over the classes defined for both
    first = np.mean([0.92 - 0.90, 0.60 - 0.50])
    assert pair.overall.images == 8
    overall_a, overall_b = paired_overall(a, b)
    assert overall_b[0] - overall_a[0] == pytest.approx(first)
    assert overall_a[2] == pytest.approx(np.mean([0.85, 0.20]))


def test_interval_equals_a_plain_bootstrap_loop_with_the_same_draws(hand_scores):
    a, b = hand_scores
    comparison = compare_scores(np.stack([a, b]), CLASSES, samples=3000, seed=7)
    pair = comparison.pair(0, 1)
    for c, stat in enumerate(pair.per_class):
        low, high = loop_bootstrap(a[:, c], b[:, c], 3000, 7)
        assert (stat.ci_low, stat.ci_high) == pytest.approx((low, high), abs=1e-12)
    overall_a, overall_b = paired_overall(a, b)
    low, high = loop_bootstrap(overall_a, overall_b, 3000, 7)
    assert (pair.overall.ci_low, pair.overall.ci_high) == pytest.approx((low, high), abs=1e-12)
    again = compare_scores(np.stack([a, b]), CLASSES, samples=3000, seed=7).pair(0, 1)
    assert again.per_class[1].ci_low == pair.per_class[1].ci_low
    other = compare_scores(np.stack([a, b]), CLASSES, samples=3000, seed=8).pair(0, 1)
    assert other.per_class[1].ci_low != pair.per_class[1].ci_low


def test_p_values_equal_scipy_wilcoxon(hand_scores):
    a, b = hand_scores
    pair = compare_scores(np.stack([a, b]), CLASSES, samples=100).pair(0, 1)
    for c, stat in enumerate(pair.per_class):
        both = ~np.isnan(a[:, c]) & ~np.isnan(b[:, c])
        d = np.round(b[both, c] - a[both, c], 12)  # exact ties are zeros, as float noise must not count
        assert stat.p_value == pytest.approx(wilcoxon(d).pvalue, rel=1e-12)
    overall_a, overall_b = paired_overall(a, b)
    assert pair.overall.p_value == pytest.approx(wilcoxon(np.round(overall_b - overall_a, 12)).pvalue)


def test_fewer_than_two_nonzero_differences_gives_null_p_and_undefined_class_is_null():
    a = np.array([[0.5, np.nan], [0.6, np.nan], [0.7, np.nan]])
    b = np.array([[0.5, np.nan], [0.6, np.nan], [0.9, np.nan]])
    pair = compare_scores(np.stack([a, b]), ["x", "y"], samples=50).pair(0, 1)
    assert math.isnan(pair.per_class[0].p_value) and pair.per_class[0].to_dict()["p_value"] is None
    assert pair.per_class[0].outcome == "no clear difference"
    assert pair.per_class[0].verdict().endswith("p n/a, wins 1/3, ties 2)")
    y = pair.per_class[1].to_dict()
    assert y["images"] == 0 and y["mean_a"] is None and y["ci_low"] is None and y["p_value"] is None
    assert pair.per_class[1].verdict() == "no image where both are defined"


def test_verdict_reads_like_a_decision():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 0.8, size=(40, 1))
    better = compare_scores(np.stack([a, a + rng.uniform(0.02, 0.06, size=a.shape)]), ["fg"], samples=2000)
    text = better.pair(0, 1).per_class[0].verdict()
    assert text.startswith("B better (+0.0") and "95% CI +0.0" in text and "p<0.001" in text and "wins 40/40" in text
    worse = compare_scores(np.stack([a, a - 0.03]), ["fg"], samples=2000).pair(0, 1).per_class[0]
    assert worse.outcome == "worse" and worse.verdict("C").startswith("C worse (-0.030")
    noise = compare_scores(np.stack([a, a + rng.normal(0, 0.05, size=a.shape)]), ["fg"], samples=2000)
    assert noise.pair(0, 1).per_class[0].outcome == "no clear difference"


def test_ranking_and_rank_first_from_the_same_resamples():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.4, 0.8, size=(30, 2))
    scores = np.stack([base, base + 0.10, base + rng.normal(0.02, 0.05, size=base.shape)])
    comparison = compare_scores(scores, ["a", "b"], samples=500, seed=2)
    assert comparison.ranking == [1, 2, 0]
    assert [(p.a, p.b) for p in comparison.pairs] == [(0, 1), (0, 2), (1, 2)]
    # independent: per resample, each model's mean over the drawn images; who is best
    index = np.random.default_rng(2).integers(0, 30, size=(500, 30))
    overall = scores.mean(axis=2)  # every class is defined, so the common mean is the plain mean
    best = np.array([np.argmax(overall[:, row].mean(axis=1)) for row in index])
    assert comparison.rank_first == pytest.approx(np.bincount(best, minlength=3) / 500)
    assert comparison.model_means == pytest.approx(overall.mean(axis=1))
    doc = comparison.to_dict()
    assert doc["rank_first"] == pytest.approx(list(comparison.rank_first)) and doc["bootstrap"] == {
        "samples": 500, "seed": 2}


def test_scores_from_confusion_leave_absent_classes_undefined():
    # image 0: class 2 absent from truth and prediction -> undefined; image 1: class 2 predicted only -> 0
    cm = np.array([
        [[5, 1, 0], [0, 4, 0], [0, 0, 0]],
        [[5, 0, 1], [2, 2, 0], [0, 0, 0]],
    ])  # fmt: skip
    dice = image_class_scores(cm, "dice")
    assert dice[0, 0] == pytest.approx(10 / 11) and dice[0, 1] == pytest.approx(8 / 9) and np.isnan(dice[0, 2])
    assert dice[1, 2] == 0.0 and dice[1, 1] == pytest.approx(4 / 6)
    assert image_class_scores(cm, "iou")[1, 1] == pytest.approx(2 / 4)
    with pytest.raises(ValueError):
        image_class_scores(cm, "hd95")


def test_fixed_and_broken_pixels_agree_with_the_confusion_matrices():
    from segdash.metrics.confusion import confusion_matrix

    rng = np.random.default_rng(5)
    target = rng.integers(0, 3, size=(20, 30))
    target[0, :5] = 255
    pred_a = np.where(rng.random(target.shape) < 0.6, np.where(target == 255, 0, target), rng.integers(0, 3, target.shape))
    pred_b = np.where(rng.random(target.shape) < 0.8, np.where(target == 255, 0, target), rng.integers(0, 3, target.shape))
    counts = fixed_broken_pixels(pred_a, pred_b, target, 3, ignore_index=255)
    valid = target != 255
    for c in range(3):
        truth = valid & (target == c)
        assert counts[0, c] == np.sum(truth & (pred_a != c) & (pred_b == c))
        assert counts[1, c] == np.sum(truth & (pred_a == c) & (pred_b != c))
    cm_a = confusion_matrix(pred_a, target, 3, ignore_index=255)[None]
    cm_b = confusion_matrix(pred_b, target, 3, ignore_index=255)[None]
    assert (net_fixed_pixels(cm_a, cm_b)[0] == counts[0] - counts[1]).all()


def test_ten_thousand_resamples_are_fast():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=(3, 500, 13))
    scores[rng.random(scores.shape) < 0.2] = np.nan
    start = time.perf_counter()
    compare_scores(scores, [str(c) for c in range(13)], samples=10_000)
    assert time.perf_counter() - start < 3.0  # well under a second on an idle core; slack for a busy machine
