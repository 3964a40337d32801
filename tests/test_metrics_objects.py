"""Object-level counts against SciPy's 8-connected labelling and plain loops over the objects."""

import math

import numpy as np
import pytest
from scipy import ndimage

from segdash.metrics.objects import batch_object_counts, object_counts, object_scores

EIGHT = np.ones((3, 3), int)


def bucket_of(pixels, image_pixels):
    share = pixels / image_pixels
    return 0 if share < 0.001 else 1 if share < 0.01 else 2


def reference_counts(pred, target, num_classes, ignore_index):
    """(C, 3, 6) with one loop per object: gt, detected, predicted, false, intersection, union per size bucket."""
    kept = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    out = np.zeros((num_classes, 3, 6), np.int64)
    for c in range(num_classes):
        g, p = (target == c) & kept, (pred == c) & kept
        gt_ids, num_gt = ndimage.label(g, structure=EIGHT)
        pred_ids, num_pred = ndimage.label(p, structure=EIGHT)
        gt_bucket = {}
        for k in range(1, num_gt + 1):
            obj = gt_ids == k
            gt_bucket[k] = bucket_of(obj.sum(), target.size)
            out[c, gt_bucket[k], 0] += 1
            out[c, gt_bucket[k], 1] += (obj & p).sum() >= obj.sum() / 2
        pred_bucket = {}
        for k in range(1, num_pred + 1):
            obj = pred_ids == k
            # the most overlapped truth object; on a tie the larger one
            overlaps = [((obj & (gt_ids == j)).sum(), (gt_ids == j).sum(), j) for j in range(1, num_gt + 1)]
            best = max(overlaps) if overlaps else (0, 0, 0)
            pred_bucket[k] = gt_bucket[best[2]] if best[0] > 0 else bucket_of(obj.sum(), target.size)
            out[c, pred_bucket[k], 2] += 1
            out[c, pred_bucket[k], 3] += (obj & g).sum() < obj.sum() / 2
        for b in range(3):
            gb = np.isin(gt_ids, [k for k, v in gt_bucket.items() if v == b])
            pb = np.isin(pred_ids, [k for k, v in pred_bucket.items() if v == b])
            out[c, b, 4], out[c, b, 5] = (gb & pb).sum(), (gb | pb).sum()
    return out


def test_hand_built_objects():
    """100x100 image: small < 10 px, medium 10..99 px, large >= 100 px."""
    target = np.zeros((100, 100), np.int64)
    target[5, 5] = 1  # one-pixel object, found
    target[5, 50] = 1  # one-pixel object, missed
    target[20:23, 20:24] = 1  # 12 px (medium), half predicted: detected ("at least half")
    target[60:80, 60:80] = 1  # 400 px (large), missed
    target[40, 40] = target[41, 41] = 1  # diagonal neighbours: one object under 8-connectivity
    target[90, 0:3] = 255  # ignored
    pred = np.zeros_like(target)
    pred[5, 5] = 1
    pred[20:23, 20:22] = 1  # 6 of 12
    pred[40, 40] = 1  # 1 of 2: detected
    pred[90, 0:5] = 1  # 5 px, of which 3 are ignored: a 2-pixel false object (ignore removed first)
    pred[95:99, 95:99] = 1  # 16 px false object (medium by its own size)
    counts = object_counts(pred, target, 3, ignore_index=255)
    np.testing.assert_array_equal(counts, reference_counts(pred, target, 3, 255))
    cls = counts[1]
    assert cls[:, 0].tolist() == [3, 1, 1]  # gt objects: 3 small (two 1-px, one 2-px), 1 medium, 1 large
    assert cls[:, 1].tolist() == [2, 1, 0]  # detected
    assert cls[:, 2].tolist() == [3, 2, 0]  # predicted: 1-px, diagonal pair's pixel, 2-px false | 12-px part, 16-px
    assert cls[:, 3].tolist() == [1, 1, 0]  # false: the 2-px one (small), the 16-px one (medium)
    scores = object_scores(counts[1].sum(axis=0))
    assert scores["recall"] == pytest.approx(3 / 5)
    assert scores["precision"] == pytest.approx(1 - 2 / 5)
    assert counts[2].sum() == 0  # empty class: no objects, no pixels
    empty = object_scores(counts[2].sum(axis=0))
    assert all(math.isnan(v) for v in empty.values())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dense", [True, False])
def test_random_masks_match_the_reference(seed, dense, monkeypatch):
    if not dense:  # the path for images with very many objects on both sides
        monkeypatch.setattr("segdash.metrics.objects._DENSE_PAIRS", 0)
    rng = np.random.default_rng(seed)
    shape = (40, 55)
    target = np.where(rng.random(shape) < 0.15, rng.integers(1, 4, shape), 0)
    target = ndimage.grey_dilation(target, size=(2, 2))  # grow some noise into blobs
    pred = np.where(rng.random(shape) < 0.8, target, rng.integers(0, 4, shape))
    target[rng.random(shape) < 0.05] = 255
    got = object_counts(pred, target, 5, ignore_index=255)
    np.testing.assert_array_equal(got, reference_counts(pred, target, 5, 255))


def test_batch_and_no_ignore_index():
    rng = np.random.default_rng(9)
    targets = rng.integers(0, 3, (3, 16, 16))
    preds = rng.integers(0, 3, (3, 16, 16))
    got = batch_object_counts(preds, targets, 3)
    assert got.shape == (3, 3, 3, 6)
    for i in range(3):
        np.testing.assert_array_equal(got[i], reference_counts(preds[i], targets[i], 3, None))


def test_an_evaluation_without_the_new_metrics_saves_and_loads_with_null_keys(tmp_path):
    """A format-1 evaluation (saved before these metrics) loads; its new JSON keys are null, not missing."""
    import json

    from segdash.infer.evaluate import Evaluation

    cm = np.array([[5, 1], [2, 8]])
    old = Evaluation(dataset="d", split="test", classes=("a", "b"), confusion=cm, sample_ids=["x"],
                     per_image_confusion=cm[None])
    folder = old.save(tmp_path / "ev")
    doc = json.loads((folder / "evaluation.json").read_text())
    doc["format_version"] = 1
    for key in ("boundary_ratio", "calibration", "uncertainty", "mean_boundary_iou"):
        doc.pop(key)
    (folder / "evaluation.json").write_text(json.dumps(doc))
    again = Evaluation.load(folder).to_json_dict()
    assert again["boundary_ratio"] is None and again["calibration"] is None and again["uncertainty"] is None
    assert again["per_class"][0]["boundary_iou"] is None and again["per_class"][0]["objects"] is None
    assert again["mean_iou"] == pytest.approx(np.mean([5 / 8, 8 / 11]))


@pytest.mark.parametrize("canvas_pixels", [1 << 23, 1])  # one canvas for every class, or one class per canvas
@pytest.mark.parametrize("noise", [0.0, 0.9])  # ordinary maps are joined run by run, noise-like ones by OpenCV
def test_the_one_engine_labels_every_class_as_scipy_does(noise, canvas_pixels, monkeypatch):
    """``label_objects`` (the statistics' engine, which the object metrics use) against scipy.ndimage.label
    per class: the same objects, each pixel in its object, outside pixels in none."""
    from segdash.data.stats import objects as engine

    monkeypatch.setattr(engine, "CANVAS_PIXELS", canvas_pixels)
    rng = np.random.default_rng(int(noise * 10))
    labels = np.kron(rng.integers(0, 5, (6, 8)), np.ones((5, 12), int))
    labels = np.where(rng.random(labels.shape) < noise, rng.integers(0, 5, labels.shape), labels).astype(np.uint8)
    assert (engine.count_runs(labels) * engine.SHORT_RUN > labels.size) == (noise > 0)  # the path meant
    found = engine.label_objects(labels, 4)  # label 4 = outside every class
    assert (found.ids == -1).sum() == (labels == 4).sum()
    for c in range(4):
        scipy_ids, count = ndimage.label(labels == c, structure=EIGHT)
        mine = np.flatnonzero(found.classes == c)
        assert len(mine) == count
        assert sorted(found.areas[mine].tolist()) == sorted(np.bincount(scipy_ids.ravel())[1:].tolist())
        for k in range(1, count + 1):  # each scipy object is exactly one of ours
            assert len(np.unique(found.ids[scipy_ids == k])) == 1


def test_one_size_constant_for_the_statistics_and_the_metrics():
    from segdash.data.stats import objects as engine
    from segdash.metrics import objects as metrics

    assert metrics.SIZE_LIMITS is engine.SIZE_LIMITS and metrics.size_bucket is engine.size_bucket
    assert set(engine.SIZE_LIMITS) <= set(engine.AREA_EDGES.tolist()) and engine.SMALL_OBJECT == engine.SIZE_LIMITS[0]
