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


# --- the evaluation: everything in one pass, in the JSON, through save and load ------------------------


class _Dataset:
    """Images whose red channel is the label the fake model predicts and green channel its confidence."""

    name, classes, colors, ignore_index, in_channels, num_classes = "mem", ("bg", "a", "b"), None, 255, 3, 3

    def __init__(self, masks, images):
        self.masks, self.images = masks, images

    def check_split(self, split):
        return split

    def has_masks(self, split):
        return True

    def ids(self, split):
        return list(self.masks)

    def load(self, split, sample_id):
        return self.images[sample_id], self.masks[sample_id], sample_id


class _ProbabilityModel:
    device = torch.device("cpu")

    def predict_labels(self, images):  # pragma: no cover - the evaluation asks for probabilities
        raise AssertionError("predict_probabilities should be used")

    def predict_probabilities(self, images):
        hint = torch.from_numpy(np.stack([img[:, :, 0] for img in images]).astype(np.int64))
        top = torch.from_numpy(np.stack([img[:, :, 1] for img in images]).astype(np.float32)) / 255
        probs = ((1 - top) / 2).unsqueeze(1).repeat(1, 3, 1, 1)
        probs.scatter_(1, hint.unsqueeze(1), top.unsqueeze(1))
        return probs, hint % 2 == 1  # "flip changes" on class-1 pixels


def _evaluation_case(seed=0):
    rng = np.random.default_rng(seed)
    masks, images = {}, {}
    for i in range(5):
        mask = np.zeros((40, 48), np.int64)
        mask[5 : 5 + 3 * i, 10:30] = 1
        mask[30:33, 40:43] = 2
        mask[0, :] = 255
        hint = np.where(rng.random(mask.shape) < 0.85, np.where(mask == 255, 0, mask), rng.integers(0, 3, mask.shape))
        confidence = np.where(hint == np.where(mask == 255, 0, mask), 200, 130) + rng.integers(0, 50, mask.shape)
        images[f"s{i}"] = np.stack([hint, confidence, np.zeros_like(hint)], -1).astype(np.uint8)
        masks[f"s{i}"] = mask
    return _Dataset(masks, images)


def test_evaluation_json_matches_the_metrics_and_survives_save_load(tmp_path):
    from segdash.infer.evaluate import Evaluation, evaluate
    from segdash.metrics.boundary import boundary_counts
    from segdash.metrics.objects import object_counts

    ds = _evaluation_case()
    ev = evaluate(ds, "test", predictor=_ProbabilityModel(), batch_size=2, distances=False, boundary_ratio=0.05)
    doc = ev.to_json_dict()
    preds = {k: v[:, :, 0].astype(np.int64) for k, v in ds.images.items()}
    boundary = sum(boundary_counts(preds[k], ds.masks[k], 3, 255, 0.05) for k in ds.masks)
    objects = sum(object_counts(preds[k], ds.masks[k], 3, 255) for k in ds.masks)
    assert doc["boundary_ratio"] == 0.05
    for c, row in enumerate(doc["per_class"]):
        assert row["boundary_iou"] == pytest.approx(boundary[0, c] / boundary[1, c])
        assert row["objects"]["gt"] == objects[c, :, 0].sum()
        assert row["objects"]["recall"] == pytest.approx(objects[c, :, 1].sum() / objects[c, :, 0].sum())
        assert set(row["objects"]["by_size"]) == {"small", "medium", "large"}
        assert set(row["objects"]["by_size"]["large"]) == {"gt", "detected", "predicted", "false", "recall",
                                                           "precision", "iou"}
    # calibration and uncertainty against plain NumPy over every non-ignored pixel
    probs = torch.cat([_ProbabilityModel().predict_probabilities([ds.images[k]])[0] for k in ds.masks]).numpy()
    target = np.stack(list(ds.masks.values()))
    kept = target != 255
    confidence, labels = probs.max(1)[kept], probs.argmax(1)[kept]
    correct = labels == target[kept]
    assert doc["calibration"]["ece"] == pytest.approx(reference_ece(confidence.astype(np.float64), correct))
    assert len(doc["calibration"]["bins"]) == 15 and len(doc["calibration"]["per_class_ece"]) == 3
    ent = np.minimum(np.floor(scipy_entropy(probs, axis=1)[kept] / np.log(3) * 1000), 999)
    assert doc["uncertainty"]["auroc"] == pytest.approx(roc_auc_score(~correct, ent), abs=1e-9)
    assert doc["uncertainty"]["flip_label_change"] == pytest.approx((labels == 1).mean())
    assert {"boundary_iou", "object_recall", "ece", "auroc"} <= set(doc["per_image"][0])
    assert ev.worst(1, by="ece")["ece"].iloc[0] == pytest.approx(np.nanmax(ev.per_image["ece"]))
    loaded = Evaluation.load(ev.save(tmp_path / "ev"))
    again = loaded.to_json_dict()
    for key in ("per_class", "calibration", "uncertainty", "boundary_ratio", "per_image"):
        assert again[key] == doc[key]
    # the new metrics off: the keys are there, null
    plain = evaluate(ds, "test", predictor=_PlainModel(), distances=False,
                     failure_metrics=False).to_json_dict()
    assert plain["calibration"] is None and plain["uncertainty"] is None and plain["boundary_ratio"] is None
    assert plain["per_class"][1]["boundary_iou"] is None and plain["per_class"][1]["objects"] is None
    assert plain["mean_iou"] == pytest.approx(doc["mean_iou"])


class _PlainModel:
    device = torch.device("cpu")

    def predict_labels(self, images):
        return torch.from_numpy(np.stack([img[:, :, 0] for img in images]).astype(np.int64))


# --- a real model: the uncertainty PNG of ``segdash predict``, flip TTA in the evaluation ------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from segdash.data.base import Normalization
    from segdash.models import CheckpointMeta, create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("Unet", "mobilenet_v2", in_channels=3, num_classes=3)
    meta = CheckpointMeta(arch="Unet", encoder="mobilenet_v2", classes=["bg", "a", "b"],
                          colors=[(0, 0, 0), (255, 0, 0), (0, 0, 255)], in_channels=3,
                          normalization=Normalization.imagenet())  # fmt: skip
    return save_checkpoint(model, meta, tmp_path_factory.mktemp("ck") / "unet")


def test_predict_writes_the_uncertainty_png(tiny_checkpoint, tmp_path, monkeypatch):
    from PIL import Image

    from segdash import cli
    from segdash.infer.predictor import Predictor

    monkeypatch.setattr(cli, "COMMANDS", ("predict",))
    image = np.random.default_rng(0).integers(0, 256, (33, 40, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "scan.png")
    out = tmp_path / "out"
    assert cli.main(["predict", "-c", str(tiny_checkpoint), str(tmp_path / "scan.png"), "--out", str(out),
                     "--uncertainty", "--backend", "torch", "--no-overlay"]) == 0  # fmt: skip
    written = Image.open(out / "uncertainty" / "scan.png")
    assert written.mode == "L" and written.size == (40, 33)
    probs = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", backend="torch").predict(image).probs
    want = np.rint(255 * scipy_entropy(probs.astype(np.float64), axis=0) / np.log(3))
    got = np.asarray(written).astype(int)
    assert np.abs(got - want).max() <= 1 and (got == want).mean() > 0.99  # float32 vs float64 at a .5
    import json

    assert json.loads((out / "predictions.json").read_text())["images"][0]["uncertainty"] == "uncertainty/scan.png"


def test_evaluation_with_a_model_and_flip_tta(tiny_checkpoint):
    from segdash.infer.evaluate import evaluate
    from segdash.infer.predictor import Predictor

    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", tta=True, backend="torch")
    ds = _evaluation_case()
    ev = evaluate(ds, "test", predictor=predictor, batch_size=4, distances=False)
    images = [ds.images[k] for k in ds.masks]
    probs, changed = predictor.predict_probabilities(images)
    probs = probs.numpy()
    unflipped = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", backend="torch")
    plain = np.stack([unflipped.predict(img).labels for img in images])
    flipped = np.stack([unflipped.predict(img[:, ::-1].copy()).labels[:, ::-1] for img in images])
    np.testing.assert_array_equal(changed.numpy(), plain != flipped)
    target = np.stack(list(ds.masks.values()))
    kept = target != 255
    np.testing.assert_array_equal(ev.confusion.diagonal().sum(), (probs.argmax(1) == target)[kept].sum())
    doc = ev.to_json_dict()
    assert doc["uncertainty"]["flip_label_change"] == pytest.approx((plain != flipped)[kept].mean())
    correct = (probs.argmax(1) == target)[kept]
    assert doc["calibration"]["ece"] == pytest.approx(reference_ece(probs.max(1)[kept].astype(np.float64), correct))
