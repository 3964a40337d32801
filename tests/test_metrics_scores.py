"""Scores from the confusion matrix: equal to scikit-learn and smp.metrics; undefined classes are NaN."""

import math

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
from sklearn import metrics as skm

from segdash.metrics.confusion import confusion_matrix
from segdash.metrics.scores import UNDEFINED_NOTE, per_image_scores, scores_from_confusion

CLASSES = ["background", "a", "b", "c", "d", "e"]


def random_case(seed, num_classes=6, shape=(4, 24, 32), absent=(4,), ignore_index=None):
    """Label maps where the classes in ``absent`` never occur (in truth or prediction)."""
    rng = np.random.default_rng(seed)
    present = [c for c in range(num_classes) if c not in absent]
    target = rng.choice(present, size=shape)
    pred = np.where(rng.random(shape) < 0.55, target, rng.choice(present, size=shape))
    if ignore_index is not None:
        target = np.where(rng.random(shape) < 0.1, ignore_index, target)
    return target, pred


def hand_3x3():
    # rows = truth: class 0 has 4 px, class 1 has 2 px, class 2 is absent everywhere
    return np.array([[3, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_hand_computed_3x3_with_an_absent_class():
    s = scores_from_confusion(hand_3x3(), ["bg", "fg", "none"])
    np.testing.assert_allclose(s.iou[:2], [3 / 5, 1 / 3])
    np.testing.assert_allclose(s.dice[:2], [6 / 8, 2 / 4])
    np.testing.assert_allclose(s.precision[:2], [3 / 4, 1 / 2])
    np.testing.assert_allclose(s.recall[:2], [3 / 4, 1 / 2])
    np.testing.assert_allclose(s.specificity[:2], [1 / 2, 3 / 4])
    for metric in ("iou", "dice", "precision", "recall"):
        assert math.isnan(getattr(s, metric)[2])
    np.testing.assert_array_equal(s.defined, [True, True, False])
    np.testing.assert_array_equal(s.support, [4, 2, 0])
    assert s.mean_iou == pytest.approx((3 / 5 + 1 / 3) / 2)  # the absent class is left out
    assert s.mean_dice == pytest.approx((6 / 8 + 2 / 4) / 2)
    assert s.pixel_accuracy == pytest.approx(4 / 6)
    assert s.frequency_weighted_iou == pytest.approx(4 / 6 * 3 / 5 + 2 / 6 * 1 / 3)
    assert s.mean_over("dice", exclude=["bg"]) == pytest.approx(2 / 4)
    assert s.mean_over("iou", classes=["none"]) != s.mean_over("iou", classes=["none"])  # NaN: nothing defined


def test_missed_and_invented_classes_score_zero_and_their_0_by_0_stays_undefined():
    # class 1 is in the truth but never predicted; class 2 is predicted but not in the truth
    cm = np.array([[5, 0, 1], [2, 0, 0], [0, 0, 0]])
    s = scores_from_confusion(cm)
    assert math.isnan(s.precision[1]) and s.recall[1] == 0.0 and s.iou[1] == 0.0  # precision 0/0: undefined
    assert math.isnan(s.recall[2]) and s.precision[2] == 0.0 and s.dice[2] == 0.0  # recall 0/0: undefined
    assert s.defined.all()
    assert s.macro_precision == pytest.approx((5 / 7 + 0.0) / 2)  # the undefined precision is left out
    row = s.to_dict()["per_class"][1]
    assert row["precision"] is None and row["recall"] == 0.0


def test_to_dict_uses_null_for_undefined_and_carries_the_note():
    d = scores_from_confusion(hand_3x3(), ["bg", "fg", "none"]).to_dict()
    assert d["classes"] == ["bg", "fg", "none"]
    assert d["confusion_matrix"] == hand_3x3().tolist()
    row = d["per_class"][2]
    assert row["name"] == "none" and row["iou"] is None and row["dice"] is None and row["support"] == 0
    assert set(d["per_class"][0]) >= {"name", "iou", "dice", "precision", "recall", "specificity", "support"}
    assert d["note"] == UNDEFINED_NOTE
    import json

    json.dumps(d, allow_nan=False)  # no NaN anywhere


def test_to_frame():
    frame = scores_from_confusion(hand_3x3(), ["bg", "fg", "none"]).to_frame()
    assert list(frame.index) == ["bg", "fg", "none"]
    assert frame.loc["fg", "dice"] == pytest.approx(0.5) and np.isnan(frame.loc["none", "iou"])
    assert frame["support"].tolist() == [4, 2, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_per_class_scores_equal_sklearn(seed, ignore_index):
    target, pred = random_case(seed, ignore_index=ignore_index)
    cm = confusion_matrix(pred, target, 6, ignore_index=ignore_index)
    s = scores_from_confusion(cm, CLASSES)
    keep = (target != ignore_index).ravel() if ignore_index is not None else slice(None)
    y_true, y_pred = target.ravel()[keep], pred.ravel()[keep]
    labels = list(range(6))
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=labels))
    defined = s.defined
    assert not defined[4] and defined[[0, 1, 2, 3, 5]].all()
    for ours, theirs in [
        (s.iou, skm.jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)),
        (s.dice, skm.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)),
        (s.precision, skm.precision_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)),
        (s.recall, skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)),
    ]:
        np.testing.assert_allclose(ours[defined], theirs[defined], equal_nan=True)
        assert np.isnan(ours[~defined]).all()
    assert s.pixel_accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    present = [c for c in labels if defined[c]]
    assert s.mean_iou == pytest.approx(skm.jaccard_score(y_true, y_pred, labels=present, average="macro"))
    assert s.mean_dice == pytest.approx(skm.f1_score(y_true, y_pred, labels=present, average="macro"))
    assert s.macro_precision == pytest.approx(
        skm.precision_score(y_true, y_pred, labels=present, average="macro", zero_division=np.nan))
    assert s.frequency_weighted_iou == pytest.approx(
        skm.jaccard_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0))


def smp_stats(target, pred, ignore_index=None):
    return smp.metrics.get_stats(torch.from_numpy(pred), torch.from_numpy(target), mode="multiclass",
                                 num_classes=6, ignore_index=ignore_index)


@pytest.mark.parametrize("ignore_index", [None, 255])
def test_scores_equal_smp_metrics(ignore_index):
    target, pred = random_case(7, ignore_index=ignore_index)
    if ignore_index is not None:
        pred = np.where(target == ignore_index, 0, pred)
    tp, fp, fn, tn = smp_stats(target, pred, ignore_index)  # (N, C) each
    s = scores_from_confusion(confusion_matrix(pred, target, 6, ignore_index=ignore_index), CLASSES)
    stats = [x.sum(0, keepdim=True) for x in (tp, fp, fn, tn)]
    nan = float("nan")
    for ours, fn_smp in [(s.iou, smp.metrics.iou_score), (s.dice, smp.metrics.f1_score),
                         (s.precision, smp.metrics.precision), (s.recall, smp.metrics.recall),
                         (s.specificity, smp.metrics.specificity)]:
        theirs = fn_smp(*stats, reduction="none", zero_division=nan)[0].numpy()
        # an absent class has specificity tn / tn = 1 for smp; we call every score of it undefined
        np.testing.assert_allclose(ours[s.defined], theirs[s.defined], rtol=1e-6)
        assert np.isnan(ours[~s.defined]).all()

    # per image: our (N, C, C) matrices against smp's image-wise stats
    per_image = np.stack([confusion_matrix(p, t, 6, ignore_index) for t, p in zip(target, pred)])
    ours = per_image_scores(per_image)
    smp_dice = smp.metrics.f1_score(tp, fp, fn, tn, reduction="none", zero_division=nan)
    np.testing.assert_allclose(ours["dice"], smp_dice.numpy(), equal_nan=True, rtol=1e-6)
    smp_iou = smp.metrics.iou_score(tp, fp, fn, tn, reduction="none", zero_division=nan)
    np.testing.assert_allclose(ours["iou"], smp_iou.numpy(), equal_nan=True, rtol=1e-6)
    np.testing.assert_allclose(ours["mean_iou"], torch.nanmean(smp_iou, dim=1).numpy(), rtol=1e-6)
    # smp's 'macro-imagewise' mean, with absent classes left out instead of set to 1
    assert np.mean(ours["mean_iou"]) == pytest.approx(float(torch.nanmean(smp_iou, dim=1).mean()))
    # smp's 'micro' IoU pools all classes: correct / (correct + 2 * wrong), from the same matrix
    micro = smp.metrics.iou_score(tp, fp, fn, tn, reduction="micro")
    correct, wrong = s.confusion.trace(), s.confusion.sum() - s.confusion.trace()
    assert float(micro) == pytest.approx(correct / (correct + 2 * wrong), rel=1e-6)


def test_empty_matrix_is_all_undefined():
    s = scores_from_confusion(np.zeros((3, 3), int))
    assert math.isnan(s.mean_iou) and math.isnan(s.pixel_accuracy) and not s.defined.any()
    assert s.to_dict()["mean_dice"] is None


def test_shape_errors():
    with pytest.raises(ValueError):
        scores_from_confusion(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        scores_from_confusion(np.zeros((2, 2)), ["only one"])
