"""Label errors: the pure functions against a direct per-pixel NumPy implementation, the two streaming passes
(batch sizes, shards, flat memory), the honest-use warning, and the shipped brain model finding masks this
test corrupts."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from segdash.data.base import Sample, SegDataset
from segdash.errors import SegdashError
from segdash.infer.label_issues import find_label_issues, in_sample_warning, merge_label_issues
from segdash.metrics.label_quality import (
    FINE,
    confident_thresholds,
    label_quality_scores,
    softmin_pool,
    suggestion_codes,
    suspect_counts,
    suspect_pixels,
    threshold_sums,
)

IGNORE = 255


# --- the reference: confident learning written out pixel by pixel ----------------------------------------


def reference(labels: np.ndarray, probs: np.ndarray, ignore: int | None, temperature: float = 0.1):
    """(thresholds (K,), suggested (N, H, W) with -1 = fine, scores (N,)) computed one pixel at a time."""
    n, k, h, w = probs.shape
    valid = np.ones(labels.shape, bool) if ignore is None else labels != ignore
    thresholds = np.full(k, np.nan)
    for c in range(k):
        where = valid & (labels == c)
        if where.any():
            thresholds[c] = probs[:, c][where].mean()
    suggested = np.full(labels.shape, -1)
    scores = np.full(n, np.nan)
    for i in range(n):
        given = []
        for y in range(h):
            for x in range(w):
                if not valid[i, y, x]:
                    continue
                label = labels[i, y, x]
                p = probs[i, :, y, x]
                given.append(float(p[label]))
                best, best_p = -1, -np.inf
                for c in range(k):
                    if c != label and not np.isnan(thresholds[c]) and p[c] >= thresholds[c] and p[c] > p[label] \
                            and p[c] > best_p:
                        best, best_p = c, p[c]
                suggested[i, y, x] = best
        if given:
            s = np.array(given)
            weights = np.exp((1 - s) / temperature)
            scores[i] = float((s * weights).sum() / weights.sum())
    return thresholds, suggested, scores


def random_case(seed: int = 0, n: int = 5, k: int = 5, h: int = 9, w: int = 11):
    """Labels with ignored pixels, one image wholly ignored, class 4 never labelled (but often predicted);
    Dirichlet probabilities peaked on the label most of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k - 1, (n, h, w))  # class k-1 is empty
    labels[rng.random(labels.shape) < 0.1] = IGNORE
    labels[2] = IGNORE
    probs = rng.dirichlet(np.full(k, 0.4), size=(n, h, w))  # (n, h, w, k)
    peaked = rng.random((n, h, w)) < 0.6
    onehot = np.eye(k)[np.where(labels == IGNORE, 0, labels)]
    probs = np.where(peaked[..., None], 0.3 * probs + 0.7 * onehot, probs)
    return labels, np.ascontiguousarray(probs.transpose(0, 3, 1, 2)).astype(np.float32)


def test_thresholds_flags_and_scores_equal_the_reference():
    labels, probs = random_case()
    thresholds, suggested, scores = reference(labels, probs, IGNORE)
    sums, counts = threshold_sums(labels, probs, IGNORE)
    ours = confident_thresholds(sums, counts)
    np.testing.assert_allclose(ours, thresholds, rtol=0, atol=1e-7, equal_nan=True)
    assert np.isnan(ours[4]) and np.isfinite(ours[:4]).all()  # the empty class has no threshold
    flags = suspect_pixels(labels, probs, ours, IGNORE)
    np.testing.assert_array_equal(flags, suggested)
    assert (flags != FINE).sum() > 20 and not (flags == 4).any()  # never suspected of being the empty class
    assert (probs[:, 4] > 0.5).sum() > 10  # ... although the model often says it
    assert (flags[labels == IGNORE] == FINE).all()
    ours_scores = label_quality_scores(labels, probs, 0.1, IGNORE)
    np.testing.assert_allclose(ours_scores, scores, rtol=1e-12, equal_nan=True)
    assert np.isnan(ours_scores[2]) and np.isfinite(np.delete(ours_scores, 2)).all()


def test_every_class_and_no_ignore_index():
    labels, probs = random_case(seed=1, k=3)
    labels = np.where(labels == IGNORE, 0, labels)
    labels[0, 0, :3] = [0, 1, 2]
    thresholds, suggested, scores = reference(labels, probs, None, temperature=0.5)
    ours = confident_thresholds(*threshold_sums(labels, probs))
    np.testing.assert_allclose(ours, thresholds, atol=1e-7)
    np.testing.assert_array_equal(suspect_pixels(labels, probs, ours), suggested)
    np.testing.assert_allclose(label_quality_scores(labels, probs, 0.5), scores, rtol=1e-12)
    counts = suspect_counts(labels, suspect_pixels(labels, probs, ours), 3)
    for i in range(len(labels)):
        for y in range(3):
            for s in range(3):
                assert counts[i, y, s] == ((labels[i] == y) & (suggested[i] == s)).sum()
    assert (counts[:, range(3), range(3)] == 0).all()


def test_hand_made_pixels():
    """Two classes with thresholds 0.8 (class 0) and 0.6 (class 1): the rule on a row of hand-picked pixels."""
    labels = np.array([[[0, 0, 0, 1, 1]]])
    p1 = np.array([0.1, 0.9, 0.3, 0.7, 0.65])  # p(class 1)
    probs = np.stack([1 - p1, p1])[None, :, None, :]  # (1, 2, 1, 5)
    thresholds = np.array([0.8, 0.6])
    # pixel 1: p1 0.9 >= 0.6 and beats 0.1; pixel 2: 0.3 < 0.6; pixels 3-4 labelled 1: p0 0.3/0.35 < 0.8
    assert suspect_pixels(labels, probs, thresholds).tolist() == [[[-1, 1, -1, -1, -1]]]
    # p0 = 0.85 >= 0.8 and beats 0.15: suspect; p0 = 0.55 beats 0.45 but is under class 0's threshold: fine
    probs2 = np.stack([[0.85, 0.55], [0.15, 0.45]])[None, :, None, :]
    assert suspect_pixels(np.array([[[1, 1]]]), probs2, thresholds).tolist() == [[[0, -1]]]
    assert suggestion_codes(np.array([[-1, 0, 3]]), 4).tolist() == [[0, 1, 4]]


def test_softmin_runs_between_the_worst_pixel_and_the_mean():
    s = np.array([0.05] + [0.99] * 999)
    assert softmin_pool(s, 1e-3) == pytest.approx(0.05, abs=1e-6)
    assert softmin_pool(s, 1e6) == pytest.approx(s.mean(), rel=1e-5)
    assert 0.05 < softmin_pool(s, 0.1) < s.mean()
    assert np.isnan(softmin_pool(np.array([np.nan])))
    with pytest.raises(SegdashError, match="temperature"):
        softmin_pool(s, 0)


def test_bad_input_is_named():
    labels, probs = random_case()
    with pytest.raises(SegdashError, match="outside the 5 classes"):
        threshold_sums(np.where(labels == IGNORE, 7, labels), probs, IGNORE)
    with pytest.raises(SegdashError, match="do not fit"):
        suspect_pixels(labels[:, :4], probs, np.zeros(5), IGNORE)
    with pytest.raises(SegdashError, match="integer"):
        threshold_sums(labels.astype(float), probs, IGNORE)


# --- the streaming passes over a dataset ---------------------------------------------------------------


class StoredProbs(SegDataset):
    """The random case as a dataset; each image holds its own index so ``Lookup`` finds its probabilities."""

    name = "stored"
    classes = ("a", "b", "c", "d", "e")
    colors = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))
    ignore_index = IGNORE
    in_channels = 1

    def __init__(self, labels: np.ndarray):
        self.labels = labels

    def splits(self):
        return ["test"]

    def ids(self, split):
        return [f"s{i}" for i in range(len(self.labels))]

    def load(self, split, sample_id):
        i = int(sample_id[1:])
        return Sample(np.full(self.labels.shape[1:] + (1,), i, np.float32), self.labels[i], sample_id)


class Lookup:
    """A 'model' whose probabilities for an image are the stored ones of the image's index."""

    device = "cpu"

    def __init__(self, probs: np.ndarray):
        self.probs = probs

    def predict_probabilities(self, images):
        return torch.from_numpy(np.stack([self.probs[int(img[0, 0, 0])] for img in images])), None


def test_the_two_passes_equal_the_reference_at_any_batch_size():
    labels, probs = random_case(n=7)
    thresholds, suggested, scores = reference(labels, probs, IGNORE)
    ds = StoredProbs(labels)
    results = [find_label_issues(ds, "test", Lookup(probs), batch_size=b, keep_maps=7) for b in (1, 3, 7)]
    for issues in results:
        np.testing.assert_allclose(issues.thresholds, thresholds, atol=1e-7, equal_nan=True)
        np.testing.assert_array_equal(issues.thresholds, results[0].thresholds)  # exact: integer sums
        np.testing.assert_allclose(issues.scores, scores, rtol=1e-12, equal_nan=True)
        for i, sid in enumerate(ds.ids("test")):
            np.testing.assert_array_equal(issues.maps[sid], suggested[i] + 1)
        assert issues.suspect.sum() == (suggested >= 0).sum()
        assert issues.labelled.sum() == (labels != IGNORE).sum()
    # the naive ranking's inputs: the model's labels against the masks (scikit-learn), per image and overall
    valid, predicted = labels != IGNORE, probs.argmax(axis=1)
    np.testing.assert_array_equal(results[0].model_confusion,
                                  confusion_matrix(labels[valid], predicted[valid], labels=range(5)))  # fmt: skip
    assert np.isnan(results[0].mean_dice[2])  # every pixel ignored
    for i in (0, 1, 3, 4, 5, 6):
        cm = confusion_matrix(labels[i][valid[i]], predicted[i][valid[i]], labels=range(5))
        tp, fp, fn = np.diag(cm), cm.sum(0) - np.diag(cm), cm.sum(1) - np.diag(cm)
        defined = (tp + fp + fn) > 0
        expected = (2 * tp / np.maximum(2 * tp + fp + fn, 1))[defined].mean()
        np.testing.assert_allclose(results[0].mean_dice[i], expected, equal_nan=True)
    doc = results[0].to_json_dict()
    assert doc["thresholds"]["e"] is None and doc["images"][-1]["sample_id"] == "s2"  # all ignored: NaN, last
    assert [e["rank"] for e in doc["images"]] == list(range(1, 8))
    order = np.argsort(scores[np.isfinite(scores)], kind="stable")
    assert [e["sample_id"] for e in doc["images"][:6]] == [f"s{i}" for i in np.flatnonzero(np.isfinite(scores))[order]]


def test_kept_maps_are_the_lowest_scores():
    labels, probs = random_case(n=7)
    issues = find_label_issues(StoredProbs(labels), "test", Lookup(probs), batch_size=2, keep_maps=3)
    assert list(issues.maps) == list(issues.ranking()["sample_id"][:3])


def test_shards_with_summed_thresholds_equal_one_process():
    """Two shards in two threads whose pass-1 sums meet at a barrier (as torchrun's all-reduce does)."""
    labels, probs = random_case(n=7)
    ds = StoredProbs(labels)
    whole = find_label_issues(ds, "test", Lookup(probs), batch_size=2, keep_maps=4)
    barrier, shared, parts = threading.Barrier(2), {}, [None, None]

    def reduce(rank):
        def add(sums, counts):
            shared[rank] = (sums, counts)
            barrier.wait()
            return shared[0][0] + shared[1][0], shared[0][1] + shared[1][1]
        return add

    def run(rank):
        parts[rank] = find_label_issues(ds, "test", Lookup(probs), batch_size=2, keep_maps=4, shard=(rank, 2),
                                        reduce_sums=reduce(rank))  # fmt: skip

    threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    merged = merge_label_issues(parts)
    drop = ("seconds",)
    assert {k: v for k, v in merged.to_json_dict().items() if k not in drop} == \
        {k: v for k, v in whole.to_json_dict().items() if k not in drop}
    assert list(merged.maps) == list(whole.maps)
    for sid in whole.maps:
        np.testing.assert_array_equal(merged.maps[sid], whole.maps[sid])


def test_progress_counts_both_passes_and_cancel_stops():
    labels, probs = random_case(n=6)
    calls = []
    find_label_issues(StoredProbs(labels), "test", Lookup(probs), batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 12) and calls[-1] == (12, 12) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    stopped = find_label_issues(StoredProbs(labels), "test", Lookup(probs), batch_size=2, should_stop=lambda: True)
    assert stopped.cancelled and stopped.images == 0 and stopped.to_json_dict()["images"] == []


class Generated(SegDataset):
    """Masks and images made on demand, so that any growth in memory would be the passes' fault."""

    name = "generated"
    classes = ("a", "b", "c")
    colors = ((0, 0, 0), (255, 0, 0), (0, 255, 0))
    ignore_index = IGNORE
    in_channels = 1

    def __init__(self, images: int, size: int = 96):
        self.count, self.size = images, size

    def splits(self):
        return ["test"]

    def ids(self, split):
        return [str(i) for i in range(self.count)]

    def load(self, split, sample_id):
        rng = np.random.default_rng(int(sample_id))
        mask = rng.integers(0, 3, (self.size, self.size))
        mask[0] = IGNORE
        return Sample(rng.random((self.size, self.size, 1), dtype=np.float32), mask, sample_id)


class PixelModel:
    """Probabilities from each pixel's value: instant, and independent of the batch."""

    device = "cpu"

    def predict_probabilities(self, images):
        x = torch.from_numpy(np.stack(images))[..., 0]  # (N, H, W)
        logits = torch.stack([4 * x, 4 * (1 - x), torch.full_like(x, 1.5)], dim=1)
        return logits.softmax(dim=1), None


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_from_50_to_500_images():
    found = []
    small = _peak_bytes(lambda: find_label_issues(Generated(50), "test", PixelModel()))
    large = _peak_bytes(lambda: found.append(find_label_issues(Generated(500), "test", PixelModel())))
    probs_batch = 8 * 3 * 96 * 96 * 4
    assert large < 1.3 * small, (small, large)
    assert large < 20 * probs_batch  # a few batches' worth, never 500 images' probabilities (62 batches)
    issues = found[0]
    assert issues.images == 500 and issues.labelled.sum() == 500 * 95 * 96


# --- honest use ----------------------------------------------------------------------------------------


def test_in_sample_warning_reads_the_training_config(tmp_path):
    from segdash.models.checkpoint import read_meta

    meta = read_meta("weights/brain-mri_unet_lite0_best")
    assert "in-sample" in in_sample_warning(meta, "brain-mri", "train")
    assert "chosen on 'val'" in in_sample_warning(meta, "brain-mri", "val")
    assert in_sample_warning(meta, "brain-mri", "test") is None
    assert in_sample_warning(meta, "street-synth", "train") is None
    assert in_sample_warning(meta, str(tmp_path), "train", format="folder") is None
    meta.train_config = {"dataset": str(tmp_path / "." / "data"), "format": "folder", "options": {},
                         "train_split": "train", "val_split": "val"}  # fmt: skip
    assert "in-sample" in in_sample_warning(meta, str(tmp_path / "data"), "train", format="folder")
    meta.train_config = {}
    assert "in-sample" in in_sample_warning(meta, "brain-mri", "train")  # no config: 'train' is the usual name


def test_weak_classes_are_those_the_model_gives_under_an_even_chance():
    from segdash.infer.label_issues import LabelIssues

    issues = LabelIssues(dataset="d", split="s", classes=("a", "b", "c"), thresholds=[0.9, 0.3, np.nan],
                         threshold_pixels=[5, 5, 0], sample_ids=[], scores=[], suspect=np.zeros((0, 3, 3)),
                         labelled=np.zeros((0, 3)), mean_dice=[])  # fmt: skip
    assert issues.weak_classes() == [1]  # the empty class has no threshold: not weak, never suggested
    doc = issues.to_json_dict()
    assert doc["weak_classes"] == ["b"] and doc["thresholds"]["c"] is None and doc["images"] == []


def test_kept_maps_are_held_compressed_and_read_back_whole():
    from segdash.infer.label_issues import SuggestionMaps

    codes = np.zeros((1024, 2048), np.uint8)
    codes[100:140, 200:260] = 3
    maps = SuggestionMaps([("a", codes), ("b", codes[:10, :10])])
    assert list(maps) == ["a", "b"] and len(maps) == 2
    np.testing.assert_array_equal(maps["a"], codes)
    assert len(maps._blobs["a"][0]) < 20_000  # a 2 MB map of a few suspect pixels, as the job board keeps it


def test_mask_files_stay_inside_the_folder(tmp_path):
    from segdash.cli.label_issues import _MaskWriter
    from segdash.data.imageio import read_label_image

    writer = _MaskWriter(tmp_path / "out", StoredProbs(np.zeros((1, 2, 2), np.int64)))
    assert writer.path("a") == tmp_path / "out" / "a.png"
    assert writer.path("city/frame_1") == tmp_path / "out" / "city" / "frame_1.png"
    for hostile in ("../evil", "/etc/evil", "a/../../evil"):
        assert writer.path(hostile).parent == tmp_path / "out", hostile
    writer("city/frame_1", np.array([[0, 2], [5, 0]], np.uint8))
    assert read_label_image(tmp_path / "out" / "city" / "frame_1.png").tolist() == [[0, 2], [5, 0]]
