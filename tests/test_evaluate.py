"""evaluate(): prediction folders and models, hand-computed counts, cancellation, save/load."""

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from segdash.data.base import Sample, SegDataset
from segdash.errors import SegdashError
from segdash.infer.evaluate import Evaluation, evaluate


class MemoryDataset(SegDataset):
    """A tiny in-memory dataset: images are (H, W, 3) uint8 whose red channel encodes a label map."""

    name = "memory"
    classes = ("background", "cat", "dog")
    colors = ((0, 0, 0), (255, 0, 0), (0, 255, 0))
    ignore_index = 255
    in_channels = 3

    def __init__(self, masks: dict[str, np.ndarray], hints: dict[str, np.ndarray]):
        self.masks, self.hints = masks, hints

    def splits(self):
        return ["test"]

    def ids(self, split):
        self.check_split(split)
        return list(self.masks)

    def load(self, split, sample_id):
        hint = self.hints[sample_id]
        image = np.stack([hint.astype(np.uint8), np.zeros_like(hint, np.uint8), np.zeros_like(hint, np.uint8)], -1)
        return Sample(image, self.masks[sample_id], sample_id)


class HintPredictor:
    """Stands in for segdash's Predictor: 'predicts' the label map hidden in the red channel."""

    device = torch.device("cpu")

    def __init__(self):
        self.calls = []

    def predict_labels(self, images):
        self.calls.append(len(images))
        return torch.from_numpy(np.stack([img[:, :, 0] for img in images]).astype(np.int64))


def make_case(seed=0):
    """5 images, two sizes (3 of 12x10, then 2 of 8x8); predictions ~70% right; some ignored pixels."""
    rng = np.random.default_rng(seed)
    masks, preds = {}, {}
    for i, shape in enumerate([(12, 10)] * 3 + [(8, 8)] * 2):
        mask = rng.integers(0, 3, shape)
        pred = np.where(rng.random(shape) < 0.7, mask, rng.integers(0, 3, shape))
        mask[0, :3] = 255
        masks[f"img{i}"], preds[f"img{i}"] = mask, pred
    masks["img4"][masks["img4"] == 2] = 0  # class 'dog' absent from the truth of img4 ...
    preds["img4"][preds["img4"] == 2] = 1  # ... and from its prediction
    return MemoryDataset(masks, preds), masks, preds


def reference_confusion(masks, preds, ids):
    truth = np.concatenate([masks[i].ravel() for i in ids])
    pred = np.concatenate([preds[i].ravel() for i in ids])
    keep = truth != 255
    return sk_confusion_matrix(truth[keep], pred[keep], labels=[0, 1, 2])


def write_predictions(folder, preds):
    from segdash.data.imageio import write_label_png

    folder.mkdir(parents=True, exist_ok=True)
    for sample_id, labels in preds.items():
        write_label_png(folder / f"{sample_id}.png", labels)


def test_hand_computed_counts_on_a_2x2_case(tmp_path):
    mask = np.array([[0, 1], [2, 255]])
    pred = np.array([[0, 2], [2, 1]])
    ds = MemoryDataset({"a": mask}, {"a": pred})
    write_predictions(tmp_path / "preds", {"a": pred})
    ev = evaluate(ds, "test", pred_dir=tmp_path / "preds", distances=False)
    np.testing.assert_array_equal(ev.confusion, [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    assert ev.scores.iou[1] == 0.0 and ev.scores.iou[2] == pytest.approx(0.5)
    assert ev.scores.pixel_accuracy == pytest.approx(2 / 3)


def test_pred_dir_gives_the_reference_counts(tmp_path):
    ds, masks, preds = make_case()
    write_predictions(tmp_path / "preds", preds)
    calls = []
    ev = evaluate(ds, "test", pred_dir=tmp_path / "preds", batch_size=2, progress=lambda d, t: calls.append((d, t)))
    ids = list(masks)
    np.testing.assert_array_equal(ev.confusion, reference_confusion(masks, preds, ids))
    assert ev.sample_ids == ids and ev.images == 5 and not ev.cancelled
    for k, sid in enumerate(ids):
        np.testing.assert_array_equal(ev.per_image_confusion[k], reference_confusion(masks, preds, [sid]))
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    # per-image table: img4 has no 'dog' anywhere, so its dog Dice is undefined and left out of its mean
    row = ev.per_image.set_index("sample_id").loc["img4"]
    assert math.isnan(row["dice/dog"])
    assert row["mean_dice"] == pytest.approx(np.mean([row["dice/background"], row["dice/cat"]]))
    assert list(ev.per_image.columns[:4]) == ["sample_id", "pixel_accuracy", "mean_iou", "mean_dice"]
    # distances: present, one row per class
    assert list(ev.distances.index) == list(ds.classes)
    assert set(ev.distances.columns) == {"hd95", "hd95_max", "assd", "rad", "missed", "spurious", "one_sided"}
    assert ev.per_image_distances["hd95"].shape == (5, 3)
    assert math.isnan(ev.per_image_distances["hd95"][4, 2])


def test_top_confusions_and_worst(tmp_path):
    ds, masks, preds = make_case(1)
    write_predictions(tmp_path / "p", preds)
    ev = evaluate(ds, "test", pred_dir=tmp_path / "p", distances=False)
    counts = {sid: int(((masks[sid] == 1) & (preds[sid] == 2)).sum()) for sid in masks}
    expected = sorted(((s, c) for s, c in counts.items() if c > 0), key=lambda x: -x[1])[:2]
    top = ev.top_confusions("cat", "dog", k=2)
    assert [c for _, c in top] == [c for _, c in expected]
    assert ev.top_confusions(1, 2, k=10) == ev.top_confusions("cat", "dog", k=10)
    worst = ev.worst(2)
    assert len(worst) == 2 and worst["mean_dice"].iloc[0] == ev.per_image["mean_dice"].min()


def test_predictor_path_batches_same_size_images_and_matches(tmp_path):
    ds, masks, preds = make_case(2)
    predictor = HintPredictor()
    ev = evaluate(ds, "test", predictor=predictor, batch_size=2)
    assert predictor.calls == [2, 1, 2]  # 3 images of one size (2 + 1), then 2 of another
    np.testing.assert_array_equal(ev.confusion, reference_confusion(masks, preds, list(masks)))
    assert 0 < ev.forward_seconds <= ev.seconds and ev.device == "cpu"


def test_should_stop_returns_a_partial_cancelled_evaluation():
    ds, masks, preds = make_case(3)
    predictor = HintPredictor()
    ev = evaluate(ds, "test", predictor=predictor, batch_size=2, should_stop=lambda: len(predictor.calls) >= 1)
    assert ev.cancelled and ev.images == 2 and ev.total_images == 5
    np.testing.assert_array_equal(ev.confusion, reference_confusion(masks, preds, ["img0", "img1"]))
    assert ev.per_image_distances["hd95"].shape == (2, 3)


def test_limit():
    ds, masks, preds = make_case(4)
    ev = evaluate(ds, "test", predictor=HintPredictor(), limit=3, distances=False)
    # evenly spaced over the split of five (indices 0, 2, 4): the meaning of a limit everywhere in segdash
    assert ev.sample_ids == ["img0", "img2", "img4"] and ev.per_image_distances is None and ev.distances.empty


def test_json_and_save_load_roundtrip(tmp_path):
    ds, masks, preds = make_case(5)
    ev = evaluate(ds, "test", predictor=HintPredictor())
    doc = ev.to_json_dict()
    json.dumps(doc, allow_nan=False)  # undefined values are null, never NaN
    for key in ("classes", "images", "confusion_matrix", "per_class", "mean_iou", "mean_dice", "pixel_accuracy"):
        assert key in doc
    assert doc["per_class"][0].keys() >= {"name", "iou", "dice", "precision", "recall", "specificity", "support", "hd95"}
    assert doc["confusion_matrix"] == ev.confusion.tolist()
    assert doc["per_class"][2]["hd95"] is None or math.isfinite(doc["per_class"][2]["hd95"])
    ev.save(tmp_path / "saved")
    back = Evaluation.load(tmp_path / "saved")
    np.testing.assert_array_equal(back.per_image_confusion, ev.per_image_confusion)
    assert back.sample_ids == ev.sample_ids and back.scores.mean_dice == pytest.approx(ev.scores.mean_dice)
    np.testing.assert_allclose(back.distances.to_numpy(), ev.distances.to_numpy(), equal_nan=True)
    assert back.to_json_dict()["per_class"] == doc["per_class"]


def test_pred_dir_errors(tmp_path):
    ds, masks, preds = make_case(6)
    with pytest.raises(SegdashError, match="does not exist"):
        evaluate(ds, "test", pred_dir=tmp_path / "nowhere")
    partial = dict(preds)
    partial.pop("img3")
    write_predictions(tmp_path / "missing", partial)
    with pytest.raises(SegdashError, match=r"1 of 5 predictions are missing.*img3\.png"):
        evaluate(ds, "test", pred_dir=tmp_path / "missing")
    wrong_size = dict(preds, img1=np.zeros((5, 5), np.int64))
    write_predictions(tmp_path / "size", wrong_size)
    with pytest.raises(SegdashError, match=r"img1\.png is 5x5 but the mask of 'img1' is 10x12"):
        evaluate(ds, "test", pred_dir=tmp_path / "size")
    bad_labels = dict(preds, img2=np.full((12, 10), 7))
    write_predictions(tmp_path / "labels", bad_labels)
    with pytest.raises(SegdashError, match=r"img2\.png holds label\(s\) \[7\]"):
        evaluate(ds, "test", pred_dir=tmp_path / "labels")
    with pytest.raises(SegdashError, match="exactly one"):
        evaluate(ds, "test")
    with pytest.raises(SegdashError, match="no split"):
        evaluate(ds, "train", predictor=HintPredictor())


@pytest.mark.slow
def test_with_the_real_predictor(tmp_path):
    """The real Predictor (tiny random smp model) agrees with predicting image by image."""
    from segdash.data.base import Normalization
    from segdash.infer.predictor import Predictor
    from segdash.models.checkpoint import CheckpointMeta
    from segdash.models.registry import create_model

    ds, masks, _ = make_case(7)
    torch.manual_seed(0)
    model = create_model("FPN", "mobilenet_v2", in_channels=3, num_classes=3)
    meta = CheckpointMeta(arch="FPN", encoder="mobilenet_v2", classes=list(ds.classes), colors=list(ds.colors),
                          in_channels=3, normalization=Normalization.imagenet())
    predictor = Predictor(model, meta, device="cpu", backend="torch")
    ev = evaluate(ds, "test", predictor=predictor, batch_size=4)
    expected = {sid: predictor.predict(ds.load("test", sid).image).labels for sid in masks}
    np.testing.assert_array_equal(ev.confusion, reference_confusion(masks, expected, list(masks)))
    assert ev.images == 5 and ev.forward_seconds > 0


def test_cancelled_before_the_first_batch_is_empty_but_valid():
    ds, _, _ = make_case(8)
    ev = evaluate(ds, "test", predictor=HintPredictor(), should_stop=lambda: True)
    assert ev.cancelled and ev.images == 0 and ev.total_images == 5
    assert ev.per_image.empty and math.isnan(ev.scores.mean_iou)
    json.dumps(ev.to_json_dict(), allow_nan=False)


class GeneratedDataset(MemoryDataset):
    """``n`` images of 128x128 made from their id on demand, so the dataset itself holds nothing."""

    name = "generated"

    def __init__(self, n: int):
        self.n = n

    def ids(self, split):
        return [f"g{i}" for i in range(self.n)]

    def load(self, split, sample_id):
        labels = np.random.default_rng(int(sample_id[1:])).integers(0, 3, (128, 128))
        image = np.zeros((128, 128, 3), np.uint8)
        image[:, :, 0] = np.where(labels == 1, 2, labels)  # predictions swap cat -> dog
        return Sample(image, labels, sample_id)


def test_evaluation_never_holds_all_predictions():
    """1,000 images: at most one batch of predictions is alive at any time, and the total is still exact."""
    import weakref

    class TrackingPredictor(HintPredictor):
        def __init__(self):
            super().__init__()
            self.alive: list[weakref.ref] = []
            self.most_alive = 0

        def predict_labels(self, images):
            self.most_alive = max(self.most_alive, sum(ref() is not None for ref in self.alive))
            labels = super().predict_labels(images)
            self.alive.append(weakref.ref(labels))
            return labels

    predictor = TrackingPredictor()
    ev = evaluate(GeneratedDataset(1000), "test", predictor=predictor, batch_size=8, distances=False)
    assert len(predictor.calls) == 125 and predictor.most_alive <= 1
    assert ev.images == 1000 and ev.per_image_confusion.shape == (1000, 3, 3)
    diagonal_and_swap = ev.confusion[[0, 2, 1], [0, 2, 2]]
    assert ev.confusion.sum() == 1000 * 128 * 128 and diagonal_and_swap.sum() == ev.confusion.sum()
