"""Boundary IoU: the one-pass bands of every class against the reference code's band, class by class."""

import math

import cv2
import numpy as np
import pytest

from segdash.metrics.boundary import band_width, batch_boundary_counts, boundary_counts, boundary_iou, mask_to_boundary


def reference_band(mask, ratio):
    """bowenc0221/boundary-iou-api ``mask_to_boundary``, written out again here."""
    mask = mask.astype(np.uint8)
    h, w = mask.shape
    dilation = max(1, round(ratio * math.sqrt(h**2 + w**2)))
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=dilation)[1 : h + 1, 1 : w + 1]
    return (mask - eroded).astype(bool)


def reference_counts(pred, target, num_classes, ignore_index, ratio):
    """(2, C) intersection and union, one class at a time, ignored pixels removed from both masks first."""
    kept = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    out = np.zeros((2, num_classes), np.int64)
    for c in range(num_classes):
        g = reference_band((target == c) & kept, ratio)
        p = reference_band((pred == c) & kept, ratio)
        out[:, c] = (g & p).sum(), (g | p).sum()
    return out


def test_hand_built_square_band():
    """A 4x4 square inside a 10x10 image: d = round(0.1 * 14.1) = 1, so the band is its 12 outer pixels."""
    target = np.zeros((10, 10), np.int64)
    target[3:7, 3:7] = 1
    pred = target.copy()
    pred[3, 3:7] = 0  # the top row of the square is missed
    assert band_width(10, 10, 0.1) == 1
    band = mask_to_boundary(target == 1, 0.1)
    assert band.sum() == 12 and not band[4:6, 4:6].any()
    counts = boundary_counts(pred, target, 2, ratio=0.1)
    # class 1: truth band 12 pixels; predicted 3x4 block's band = its 10 outer pixels, 8 of them shared
    # (the sides of rows 4..6 and the bottom row); union 12 + 10 - 8
    assert counts[:, 1].tolist() == [8, 14]
    assert boundary_iou(counts)[1] == pytest.approx(8 / 14)
    np.testing.assert_array_equal(counts, reference_counts(pred, target, 2, None, 0.1))


def test_image_edge_is_band_and_one_pixel_object():
    target = np.zeros((6, 7), np.int64)
    target[2, 3] = 1  # a one-pixel object is all band
    pred = np.zeros_like(target)
    counts = boundary_counts(pred, target, 3, ratio=0.02)
    assert counts[:, 1].tolist() == [0, 1]
    assert counts[:, 2].tolist() == [0, 0]  # class 2 in neither mask: union 0 ...
    assert math.isnan(boundary_iou(counts)[2])  # ... so undefined
    # background: d = 1, so its band is the image's outer ring plus the ring around the object
    np.testing.assert_array_equal(counts, reference_counts(pred, target, 3, None, 0.02))


@pytest.mark.parametrize("shape, ratio", [((32, 40), 0.02), ((17, 9), 0.05), ((64, 48), 0.1), ((5, 5), 1.0)])
def test_random_label_maps_match_the_reference(shape, ratio):
    rng = np.random.default_rng(sum(shape))
    for _ in range(3):
        # blobs rather than noise, so the bands are not the whole mask
        small = rng.integers(0, 4, (max(2, shape[0] // 4), max(2, shape[1] // 4)))
        target = cv2.resize(small.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST).astype(np.int64)
        pred = np.where(rng.random(shape) < 0.9, target, rng.integers(0, 4, shape))
        target[rng.random(shape) < 0.05] = 255
        target[target == 3] = 0  # class 3 only ever predicted, never true
        got = boundary_counts(pred, target, 5, ignore_index=255, ratio=ratio)
        np.testing.assert_array_equal(got, reference_counts(pred, target, 5, 255, ratio))


def test_batch_and_many_classes():
    rng = np.random.default_rng(3)
    targets = rng.integers(0, 300, (2, 20, 24))
    preds = np.where(rng.random(targets.shape) < 0.5, targets, rng.integers(0, 300, targets.shape))
    got = batch_boundary_counts(preds, targets, 300, ratio=0.1)  # uint16 path (more than 254 classes)
    assert got.shape == (2, 2, 300)
    for i in range(2):
        np.testing.assert_array_equal(got[i], reference_counts(preds[i], targets[i], 300, None, 0.1))
    assert boundary_counts(np.zeros((0, 0), int), np.zeros((0, 0), int), 3).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_cli_boundary_ratio_json_and_table(tmp_path, capsys):
    """``segdash evaluate --pred-dir --boundary-ratio``: JSON Boundary IoU equals the reference; table columns."""
    import json

    from PIL import Image

    from segdash.cli import main
    from segdash.data.imageio import write_label_png

    rng = np.random.default_rng(1)
    root, preds = tmp_path / "data", tmp_path / "preds"
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "masks").mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nbackground,0,0,0\nroad,128,64,128\ncar,0,0,142\n")
    total = np.zeros((2, 3), np.int64)
    for stem in ("a", "b"):
        mask = np.zeros((24, 32), np.int64)
        mask[4:14, 6:20] = 1
        mask[18:20, 25:27] = 2
        mask[0, :4] = 255
        pred = np.where(rng.random(mask.shape) < 0.9, np.where(mask == 255, 0, mask), rng.integers(0, 3, mask.shape))
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(root / "test" / "images" / f"{stem}.png")
        Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "test" / "masks" / f"{stem}.png")
        write_label_png(preds / f"{stem}.png", pred)
        total += reference_counts(pred, mask, 3, 255, 0.1)
    out = tmp_path / "eval.json"
    args = ["evaluate", str(root), "--format", "folder", "--split", "test", "--pred-dir", str(preds)]
    assert main(args + ["--boundary-ratio", "0.1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["boundary_ratio"] == 0.1
    assert [r["boundary_iou"] for r in doc["per_class"]] == pytest.approx((total[0] / total[1]).tolist())
    assert doc["calibration"] is None and doc["uncertainty"] is None  # label maps carry no probabilities
    header = capsys.readouterr().out.splitlines()[1]
    assert "BndIoU" in header and "objRec" in header
    assert main(args + ["--boundary-ratio", "0"]) == 2
    assert "boundary ratio" in capsys.readouterr().err
