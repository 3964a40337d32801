"""Distance metrics on hand-made shapes and against a brute-force all-pairs reference."""

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from segdash.metrics.distance import (
    aggregate_distances,
    assd,
    distance_metrics,
    hausdorff95,
    hausdorff95_max,
    label_surfaces,
    relative_area_difference,
    surface,
)


def square(shape, top, left, size):
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def brute_force(pred, gt, spacing=(1.0, 1.0)):
    """All pairwise distances between the two outlines: (hd95, assd, max)."""
    a = np.argwhere(surface(pred)) * np.asarray(spacing)
    b = np.argwhere(surface(gt)) * np.asarray(spacing)
    pairwise = cdist(a, b)
    pooled = np.concatenate([pairwise.min(axis=1), pairwise.min(axis=0)])
    return np.percentile(pooled, 95), pooled.mean(), pooled.max()


def edt_reference(pred, gt, spacing=(1.0, 1.0)):
    """The textbook route (MedPy): outline = mask minus its erosion, distances from distance_transform_edt."""
    structure = ndimage.generate_binary_structure(2, 1)
    pred_outline = pred & ~ndimage.binary_erosion(pred, structure=structure, border_value=0)
    gt_outline = gt & ~ndimage.binary_erosion(gt, structure=structure, border_value=0)
    to_gt = ndimage.distance_transform_edt(~gt_outline, sampling=spacing)[pred_outline]
    to_pred = ndimage.distance_transform_edt(~pred_outline, sampling=spacing)[gt_outline]
    pooled = np.concatenate([to_gt, to_pred])
    return np.percentile(pooled, 95), pooled.mean()


def monai_hd95(pred, gt, spacing=(1.0, 1.0)):
    """MONAI's compute_hausdorff_distance(percentile=95, directed=False), written from its definition: the
    edges of a mask are mask XOR binary_erosion(mask) (scipy's cross structure, outside the image is
    background); each direction's distances are distance_transform_edt(~other edges, sampling=spacing) at one
    mask's edges; the result is the larger of the two 95th percentiles."""
    pred_edges = pred ^ ndimage.binary_erosion(pred)
    gt_edges = gt ^ ndimage.binary_erosion(gt)
    to_gt = ndimage.distance_transform_edt(~gt_edges, sampling=spacing)[pred_edges]
    to_pred = ndimage.distance_transform_edt(~pred_edges, sampling=spacing)[gt_edges]
    return max(np.percentile(to_gt, 95), np.percentile(to_pred, 95))


def test_surface_is_the_outline():
    mask = square((7, 7), 1, 1, 5)
    outline = surface(mask)
    assert outline.sum() == 16 and not outline[2:5, 2:5].any()
    assert surface(np.ones((3, 3), bool)).sum() == 8  # the image border counts as outside


@pytest.mark.parametrize("k", [1, 3, 6])
def test_squares_offset_by_k_pixels(k):
    gt = square((64, 64), 10, 10, 30)
    pred = square((64, 64), 10, 10 + k, 30)
    assert hausdorff95(pred, gt) == pytest.approx(k)
    reference_hd95, reference_assd, _ = brute_force(pred, gt)
    assert hausdorff95(pred, gt) == pytest.approx(reference_hd95)
    assert assd(pred, gt) == pytest.approx(reference_assd)
    assert 0 < assd(pred, gt) < k
    assert relative_area_difference(pred, gt) == 0.0


def test_identical_masks_are_zero_and_single_pixels_give_their_distance():
    gt = square((20, 20), 3, 4, 6)
    assert hausdorff95(gt, gt) == 0.0 and assd(gt, gt) == 0.0
    a, b = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    a[1, 1], b[4, 5] = True, True
    assert hausdorff95(a, b) == pytest.approx(5.0) and assd(a, b) == pytest.approx(5.0)
    assert hausdorff95(a, b, spacing=(2.0, 1.0)) == pytest.approx(math.hypot(6, 4))


def test_concentric_squares_and_area_difference():
    gt = square((40, 40), 10, 10, 20)
    pred = square((40, 40), 8, 8, 24)  # 2 px larger on every side
    # edges are 2 px apart, the corners sqrt(8); the few diagonal corner pixels form the top 5%
    reference_hd95, reference_assd, worst = brute_force(pred, gt)
    assert hausdorff95(pred, gt) == pytest.approx(reference_hd95)
    assert 2.0 < hausdorff95(pred, gt) < worst and worst == pytest.approx(math.sqrt(8))
    assert assd(pred, gt) == pytest.approx(reference_assd)
    assert relative_area_difference(pred, gt) == pytest.approx((24 * 24 - 400) / 400)
    assert relative_area_difference(np.zeros_like(gt), gt) == -1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_blobs_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :56]
    def blob():
        cy, cx, r = rng.uniform(12, 36), rng.uniform(12, 44), rng.uniform(4, 12)
        return ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) | (rng.random((48, 56)) < 0.01)
    pred, gt = blob(), blob()
    spacing = (1.5, 0.7)
    reference_hd95, reference_assd, _ = brute_force(pred, gt, spacing)
    assert hausdorff95(pred, gt, spacing) == pytest.approx(reference_hd95)
    assert assd(pred, gt, spacing) == pytest.approx(reference_assd)
    edt_hd95, edt_assd = edt_reference(pred, gt, spacing)
    assert hausdorff95(pred, gt, spacing) == pytest.approx(edt_hd95)
    assert assd(pred, gt, spacing) == pytest.approx(edt_assd)
    assert hausdorff95_max(pred, gt, spacing) == pytest.approx(monai_hd95(pred, gt, spacing))


def test_the_two_hd95_differ_when_one_side_misses_part_of_the_outline():
    """A prediction with a thin spur: pooled with the truth's outline, the spur's distances are under 5% of all
    (MedPy's hd95 stays small); on the prediction's side alone they pass the 95th percentile (MONAI's max)."""
    gt = square((96, 96), 10, 10, 40)
    pred = gt.copy()
    pred[30, 50:70] = True  # a spur 1 px wide and 20 px long to the right
    pooled, directed_max = hausdorff95(pred, gt), hausdorff95_max(pred, gt)
    assert pooled == pytest.approx(edt_reference(pred, gt)[0])
    assert directed_max == pytest.approx(monai_hd95(pred, gt))
    assert pooled < 4 and directed_max > 11


def test_label_map_surfaces_equal_the_erosion_outlines():
    labels = np.random.default_rng(5).integers(0, 4, (23, 31))
    labels[5:15, 5:20] = 2
    edges = label_surfaces(labels)
    structure = ndimage.generate_binary_structure(2, 1)
    for c in range(4):
        mask = labels == c
        np.testing.assert_array_equal(edges & mask, mask & ~ndimage.binary_erosion(mask, structure, border_value=0))


@pytest.mark.parametrize("seed", [0, 1])
def test_distance_metrics_equal_the_per_class_functions(seed):
    """The all-classes-at-once path gives what the one-mask functions give, class by class."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((40, 50), np.int64)
    gt[5:30, 5:25], gt[10:35, 28:45], gt[0:4, :] = 1, 2, 255
    pred = np.where(rng.random(gt.shape) < 0.05, rng.integers(0, 4, gt.shape), np.roll(gt, (1, 2), (0, 1)))
    pred = np.where(pred == 255, 0, pred)
    out = distance_metrics(pred, gt, 4, ignore_index=255, spacing=(1.0, 0.5))
    valid = gt != 255
    for c in range(4):
        pred_mask, gt_mask = (pred == c) & valid, gt == c
        np.testing.assert_allclose(out["hd95"][c], hausdorff95(pred_mask, gt_mask, (1.0, 0.5)))
        np.testing.assert_allclose(out["hd95_max"][c], hausdorff95_max(pred_mask, gt_mask, (1.0, 0.5)))
        if pred_mask.any() and gt_mask.any():
            np.testing.assert_allclose(out["hd95_max"][c], monai_hd95(pred_mask, gt_mask, (1.0, 0.5)))
        np.testing.assert_allclose(out["assd"][c], assd(pred_mask, gt_mask, (1.0, 0.5)))
        np.testing.assert_allclose(out["rad"][c], relative_area_difference(pred_mask, gt_mask))


def test_empty_mask_conventions():
    empty = np.zeros((8, 8), bool)
    full = square((8, 8), 2, 2, 3)
    for metric in (hausdorff95, hausdorff95_max, assd):
        assert math.isnan(metric(empty, empty))
        assert metric(full, empty) == math.inf and metric(empty, full) == math.inf
    assert math.isnan(relative_area_difference(empty, empty))
    assert relative_area_difference(full, empty) == math.inf


def test_distance_metrics_per_class_and_aggregation():
    gt = np.zeros((32, 32), np.int64)
    gt[4:14, 4:14] = 1
    gt[20:30, 20:30] = 2
    pred = gt.copy()
    pred[4:14, 4:14] = 0
    pred[4:14, 6:16] = 1  # class 1 shifted right by 2
    pred[20:30, 20:30] = 0  # class 2 missed
    gt[0, :] = 255  # ignored row: predicted 3 there, which must not count
    pred[0, :] = 3
    out = distance_metrics(pred, gt, num_classes=4, ignore_index=255)
    assert set(out) == {"hd95", "hd95_max", "assd", "rad"}
    assert out["hd95"][1] == pytest.approx(2.0) and out["hd95_max"][1] == pytest.approx(2.0)
    assert out["hd95"][2] == math.inf and out["hd95_max"][2] == math.inf and out["rad"][2] == -1.0
    assert math.isnan(out["hd95"][3]) and math.isnan(out["rad"][3])  # class 3 only in the ignored row

    second = distance_metrics(gt.clip(0, 3) * (gt != 255), gt, num_classes=4, ignore_index=255)  # perfect
    summary = aggregate_distances({k: np.stack([out[k], second[k]]) for k in out})
    assert summary["hd95"][1] == pytest.approx(1.0)  # (2 + 0) / 2
    assert summary["hd95_max"][1] == pytest.approx(1.0)
    assert summary["hd95"][2] == 0.0 and summary["one_sided"][2] == 1 and summary["images"][2] == 1
    assert summary["abs_rad"][2] == pytest.approx(0.5) and summary["rad"][2] == pytest.approx(-0.5)
    assert math.isnan(summary["hd95"][3])
