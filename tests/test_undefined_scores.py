"""Undefined stays undefined: precision 0/0 is null, a class never predicted is "missed" (not n/a),
and the split's relative area difference comes from the split's total areas."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sklearn.metrics as skm

from segdash.infer.evaluate import Evaluation
from segdash.metrics.confusion import confusion_matrix
from segdash.metrics.distance import aggregate_distances, distance_metrics, split_area_difference
from segdash.metrics.scores import scores_from_confusion

CLASSES = ("background", "wall", "door")


def two_images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Image a: 3 true 'wall' pixels, 60 predicted; 'door' in the truth, never predicted.
    Image b: 1000 true 'wall' pixels, 800 predicted."""
    gt_a = np.zeros((40, 40), np.int64)
    gt_a[0, :3] = 1
    gt_a[20:30, 20:30] = 2
    pred_a = np.zeros((40, 40), np.int64)
    pred_a[0:3, 0:20] = 1
    gt_b = np.zeros((50, 50), np.int64)
    gt_b[:20, :] = 1
    pred_b = np.zeros((50, 50), np.int64)
    pred_b[:16, :] = 1
    return [gt_a, gt_b], [pred_a, pred_b]


def evaluation_of(gts, preds) -> Evaluation:
    matrices = np.stack([confusion_matrix(p, g, 3) for g, p in zip(gts, preds)])
    rows = [distance_metrics(p, g, 3) for g, p in zip(gts, preds)]
    distances = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return Evaluation("toy", "test", CLASSES, matrices.sum(0), ["a", "b"], matrices, per_image_distances=distances)


def test_precision_of_a_class_never_predicted_is_null_as_in_sklearn():
    gts, preds = two_images()
    y_true = np.concatenate([g.ravel() for g in gts])
    y_pred = np.concatenate([p.ravel() for p in preds])
    scores = scores_from_confusion(confusion_matrix(y_pred.reshape(1, -1), y_true.reshape(1, -1), 3), CLASSES)
    theirs = skm.precision_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=np.nan)
    assert math.isnan(theirs[2])  # 'door' never predicted: 0/0
    np.testing.assert_allclose(scores.precision, theirs, equal_nan=True)
    assert scores.recall[2] == 0.0 and scores.dice[2] == 0.0  # found none of it: that is a real 0
    assert scores.macro_precision == pytest.approx(
        skm.precision_score(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=np.nan))
    assert scores.to_dict()["per_class"][2]["precision"] is None


def test_a_class_in_the_truth_never_predicted_is_missed_not_na():
    gts, preds = two_images()
    doc = evaluation_of(gts, preds).to_json_dict()
    door = doc["per_class"][2]
    assert door["hd95"] is None and door["assd"] is None  # no distance to measure ...
    assert door["missed"] == 1 and door["spurious"] == 0  # ... because the model never found it
    assert doc["per_class"][1]["missed"] == 0
    assert "missed" in doc["note"]
    json.dumps(doc, allow_nan=False)


def test_split_relative_area_difference_is_from_total_areas():
    gts, preds = two_images()
    ev = evaluation_of(gts, preds)
    true_wall = sum(int((g == 1).sum()) for g in gts)  # 3 + 1000
    predicted_wall = sum(int((p == 1).sum()) for p in preds)  # 60 + 800
    doc = ev.to_json_dict()
    assert doc["per_class"][1]["rad"] == pytest.approx((predicted_wall - true_wall) / true_wall)  # about -14%
    assert doc["per_class"][1]["abs_rad"] == pytest.approx(abs((predicted_wall - true_wall) / true_wall))
    # the per-image values, +1900% and -20%, stay in the per-image table
    per_image = ev.per_image.set_index("sample_id")["rad/wall"]
    assert per_image["a"] == pytest.approx(57 / 3) and per_image["b"] == pytest.approx(-0.2)
    assert doc["per_class"][2]["rad"] == pytest.approx(-1.0)  # door: true area, nothing predicted


def test_split_area_difference_edge_cases():
    cm = np.array([[5, 2, 0], [0, 0, 0], [0, 0, 0]])  # class 1 predicted but never true; class 2 nowhere
    rad = split_area_difference(cm)
    assert rad[0] == pytest.approx(-2 / 7) and math.isinf(rad[1]) and math.isnan(rad[2])


def test_aggregate_without_confusion_keeps_the_per_image_mean():
    per_image = {"hd95": np.array([[1.0, np.inf]]), "assd": np.array([[0.5, np.inf]]), "rad": np.array([[0.1, -1.0]])}
    summary = aggregate_distances(per_image)
    assert summary["rad"][0] == pytest.approx(0.1) and summary["missed"].tolist() == [0, 1]


def test_distance_figure_says_missed():
    from segdash.viz.figures import distance_metrics_figure

    gts, preds = two_images()
    fig = distance_metrics_figure(evaluation_of(gts, preds).distances, list(CLASSES))
    missed = [t for t in fig.data if t.legendgroup == "missed"]  # a hatched bar per distance panel, not "n/a"
    assert missed and all(list(t.y) == ["door"] and "missed" in t.text[0] for t in missed)
    assert "n/a" not in [a.text for a in fig.layout.annotations]
