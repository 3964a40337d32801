"""Confusion matrix: equal to scikit-learn's on random and hand-made label maps, ignore index honoured."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from segdash.errors import SegdashError
from segdash.metrics.confusion import ConfusionMatrix, confusion_matrix


def sklearn_reference(target, pred, num_classes, ignore_index=None):
    target, pred = np.asarray(target).ravel(), np.asarray(pred).ravel()
    keep = target != ignore_index if ignore_index is not None else np.ones(target.shape, bool)
    return sk_confusion_matrix(target[keep], pred[keep], labels=np.arange(num_classes))


def random_maps(shape, num_classes, seed=0, ignore_index=None, ignore_share=0.1):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, num_classes, size=shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, num_classes, size=shape))
    if ignore_index is not None:
        target = np.where(rng.random(shape) < ignore_share, ignore_index, target)
    return target, pred


def test_hand_computed_table():
    target = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [2, 2, 0]])
    expected = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])  # rows = ground truth
    cm = confusion_matrix(pred, target, 3)  # torchmetrics' order, as in ConfusionMatrix.update
    assert cm.dtype == np.int64 and cm.shape == (3, 3)
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(confusion_matrix(target=target, pred=pred, num_classes=3), expected)


@pytest.mark.parametrize("num_classes", [2, 4, 13, 17, 300])  # uint8, uint16 and intp index paths
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.int32])
def test_equals_sklearn_on_random_maps(num_classes, dtype):
    if num_classes > 255 and dtype == np.uint8:
        pytest.skip("labels do not fit uint8")
    target, pred = random_maps((3, 61, 47), num_classes, seed=num_classes)
    cm = confusion_matrix(pred.astype(dtype), target.astype(dtype), num_classes)
    np.testing.assert_array_equal(cm, sklearn_reference(target, pred, num_classes))


@pytest.mark.parametrize("ignore_index", [255, -1, 4])
def test_ignore_index_drops_pixels(ignore_index):
    target, pred = random_maps((2, 70, 90), 4, seed=1, ignore_index=ignore_index)
    pred = np.where(pred == ignore_index, 0, pred)  # predictions are always real classes
    cm = confusion_matrix(pred, target, 4, ignore_index=ignore_index)
    np.testing.assert_array_equal(cm, sklearn_reference(target, pred, 4, ignore_index))
    assert cm.sum() == (target != ignore_index).sum()


def test_torch_and_numpy_inputs_agree_and_inputs_are_untouched():
    target, pred = random_maps((2, 33, 65), 5, seed=2, ignore_index=255)
    t8, p8 = torch.from_numpy(target.astype(np.uint8)), torch.from_numpy(pred.astype(np.uint8))
    before = t8.clone()
    cm_torch = confusion_matrix(p8, t8, 5, ignore_index=255)
    np.testing.assert_array_equal(cm_torch, confusion_matrix(pred, target, 5, ignore_index=255))
    assert torch.equal(t8, before)


def test_large_map_spans_many_chunks():
    target, pred = random_maps((1, 700, 500), 13, seed=3, ignore_index=255)
    np.testing.assert_array_equal(
        confusion_matrix(pred, target, 13, ignore_index=255), sklearn_reference(target, pred, 13, 255)
    )


def test_out_of_range_labels_raise_clear_errors():
    target = np.array([[0, 1], [255, 2]])
    pred = np.array([[0, 1], [1, 2]])
    with pytest.raises(SegdashError, match=r"ground truth holds label\(s\) \[255\].*ignore_index"):
        confusion_matrix(pred, target, 3)
    with pytest.raises(SegdashError, match=r"\[7\]"):
        confusion_matrix(pred=np.array([[0, 0]]), target=np.array([[7, 255]]), num_classes=3, ignore_index=255)
    with pytest.raises(SegdashError, match=r"prediction holds label\(s\) \[-1, 3\]"):
        confusion_matrix(pred=np.array([[-1, 3], [0, 0]]), target=np.zeros((2, 2), int), num_classes=3)
    with pytest.raises(SegdashError, match="differ in shape"):
        confusion_matrix(np.zeros((2, 3), int), np.zeros((2, 2), int), 3)
    with pytest.raises(SegdashError, match="integer"):
        confusion_matrix(pred=np.zeros((2, 2), int), target=np.zeros((2, 2)), num_classes=3)


def test_accumulator_total_and_per_image_matrices():
    acc = ConfusionMatrix(num_classes=6, ignore_index=255)
    batches = [random_maps((n, 20, 30), 6, seed=10 + n, ignore_index=255) for n in (3, 1, 4)]
    names = iter("abcdefgh")
    for target, pred in batches:
        acc.update(torch.from_numpy(pred), torch.from_numpy(target), ids=[next(names) for _ in target])
    acc.update(batches[0][1][0], batches[0][0][0])  # a single (H, W) numpy map; id defaults to its running number
    all_target = np.concatenate([t for t, _ in batches] + [batches[0][0][:1]])
    all_pred = np.concatenate([p for _, p in batches] + [batches[0][1][:1]])
    np.testing.assert_array_equal(acc.compute(), sklearn_reference(all_target, all_pred, 6, 255))
    per_image = acc.per_image_matrices()
    assert per_image.shape == (9, 6, 6) and per_image.dtype == np.int64
    np.testing.assert_array_equal(per_image.sum(0), acc.compute())
    for i in range(9):
        np.testing.assert_array_equal(per_image[i], sklearn_reference(all_target[i], all_pred[i], 6, 255))
    assert acc.per_image_ids == list("abcdefgh") + [8]
    acc.reset()
    assert acc.compute().sum() == 0 and acc.per_image_matrices().shape == (0, 6, 6)


def test_accumulator_without_per_image():
    acc = ConfusionMatrix(3, per_image=False)
    target, pred = random_maps((2, 8, 8), 3)
    acc.update(pred, target)
    np.testing.assert_array_equal(acc.compute(), sklearn_reference(target, pred, 3))
    with pytest.raises(ValueError):
        acc.per_image_matrices()


def test_torch_path_matches_cpu_path():
    """The accelerator kernel (one bincount with image offsets) run on CPU tensors."""
    from segdash.metrics.confusion import _count_pairs_torch

    for num_classes in (3, 13, 200):
        target, pred = random_maps((5, 17, 19), num_classes, seed=num_classes, ignore_index=255)
        counts = _count_pairs_torch(torch.from_numpy(target), torch.from_numpy(pred), num_classes, 255, per_image=True)
        counts = counts.view(5, num_classes, num_classes).numpy()
        assert counts.sum() == (target != 255).sum()
        for i in range(5):
            np.testing.assert_array_equal(counts[i], sklearn_reference(target[i], pred[i], num_classes, 255))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_accumulates_on_cuda():
    target, pred = random_maps((4, 64, 64), 13, seed=5, ignore_index=255)
    acc = ConfusionMatrix(13, ignore_index=255)
    acc.update(torch.from_numpy(pred).cuda(), torch.from_numpy(target).cuda())
    assert acc.device.type == "cuda"
    np.testing.assert_array_equal(acc.compute(), sklearn_reference(target, pred, 13, 255))


def test_torch_path_rejects_bad_labels_like_the_cpu_path():
    from segdash.metrics.confusion import _count_pairs_torch

    target = torch.tensor([[0, 1], [255, 9]])
    pred = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(SegdashError, match=r"ground truth holds label\(s\) \[9\]"):
        _count_pairs_torch(target, pred, 3, 255, per_image=False)
    with pytest.raises(SegdashError, match=r"prediction holds label\(s\) \[3\]"):
        _count_pairs_torch(torch.zeros(2, 2, dtype=torch.long), torch.tensor([[0, 3], [0, 0]]), 3, None, False)


def test_accumulator_on_a_requested_device_and_mixed_inputs():
    """Counts are moved to the accumulator's device; numpy and tensor batches mix freely."""
    target, pred = random_maps((2, 9, 7), 4, seed=9)
    acc = ConfusionMatrix(4, device="cpu", per_image=True)
    acc.update(torch.from_numpy(pred[:1]), target[:1])
    acc.update(pred[1].tolist(), torch.from_numpy(target[1]))
    np.testing.assert_array_equal(acc.compute(), sklearn_reference(target, pred, 4))
    assert acc.device == torch.device("cpu") and acc.images == 2
