"""Class statistics: hand-computed counts, weights, streaming memory, cache and its invalidation."""

import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segdash.data import open_dataset
from segdash.data.base import Entry, IndexedDataset, Sample, SegDataset
from segdash.data.imageio import write_label_png
from segdash.data.stats import class_statistics, count_mask
from segdash.errors import SegdashError

# Three 2x3 masks, 4 classes (class 3 never appears), 255 ignored.
MASKS = {
    "a": [[0, 0, 1], [1, 255, 0]],
    "b": [[0, 0, 0], [0, 0, 0]],
    "c": [[2, 2, 0], [255, 255, 1]],
}


class NpyDataset(IndexedDataset):
    """Masks stored as .npy files (one split "train"), images are blank."""

    name = "tiny-npy"
    classes = ("zero", "one", "two", "three")
    colors = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255))
    ignore_index = 255
    in_channels = 1

    def __init__(self, root: Path, with_test_without_masks: bool = False):
        self.root = root
        index = {"train": [Entry(p.stem, p, p) for p in sorted(root.glob("*.npy"))]}
        if with_test_without_masks:
            index["test"] = [Entry(p.stem, p) for p in sorted(root.glob("*.npy"))]
        super().__init__(index)

    def read_image(self, path: Path) -> np.ndarray:
        return np.zeros(np.load(path).shape + (1,), np.float32)

    def read_mask(self, path: Path) -> np.ndarray:
        return np.load(path)


@pytest.fixture
def tiny(tmp_path):
    for name, mask in MASKS.items():
        np.save(tmp_path / f"{name}.npy", np.asarray(mask, np.int64))
    return NpyDataset(tmp_path)


def test_counts_match_hand_computed_values(tiny):
    stats = class_statistics(tiny, "train")
    assert stats.images == 3 and stats.classes == ("zero", "one", "two", "three")
    assert stats.pixels.tolist() == [10, 3, 2, 0]
    assert stats.ignored_pixels == 3 and stats.labeled_pixels == 15
    np.testing.assert_allclose(stats.frequency, [10 / 15, 3 / 15, 2 / 15, 0])
    assert stats.images_with_class.tolist() == [3, 2, 1, 0]
    np.testing.assert_allclose(stats.image_presence, [1, 2 / 3, 1 / 3, 0])
    assert stats.min_size == stats.max_size == (2, 3)


def test_class_weights_by_hand(tiny):
    stats = class_statistics(tiny, "train")
    # inverse ("balanced"): total / (present classes * pixels); absent class -> 0
    np.testing.assert_allclose(stats.class_weights("inverse"), [15 / 30, 15 / 9, 15 / 6, 0])
    # median frequency: f_c = pixels_c / labelled pixels of the images containing c
    # labelled pixels per image: a 5, b 6, c 4
    f = np.array([10 / 15, 3 / 9, 2 / 4])
    np.testing.assert_allclose(stats.class_weights("median"), [*(np.median(f) / f), 0])
    # a floor raises the present classes' weights to it; the absent class stays 0
    np.testing.assert_allclose(stats.class_weights("median", floor=1.0), [1, *(np.median(f) / f[1:]), 0])
    assert np.median(f) / f[0] < 1 and np.median(f) / f[1] > 1  # the floor lifted the frequent class only
    with pytest.raises(SegdashError, match="inverse, median"):
        stats.class_weights("sqrt")


def test_balanced_split_gives_unit_weights(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[0, 1], [2, 3]]))
    stats = class_statistics(NpyDataset(tmp_path), "train")
    np.testing.assert_allclose(stats.class_weights("inverse"), 1.0)
    np.testing.assert_allclose(stats.class_weights("median"), 1.0)


def test_to_dict_is_json_ready(tiny):
    d = class_statistics(tiny, "train").to_dict()
    assert d["images"] == 3 and d["pixels"] == [10, 3, 2, 0]
    assert set(d) >= {"images", "pixels", "frequency", "image_presence", "weights_inverse", "weights_median"}
    assert all(isinstance(v, float) for v in d["frequency"] + d["weights_median"])
    assert class_statistics(tiny, "train").to_frame()["pixels"].tolist() == [10, 3, 2, 0]


def test_count_mask_edge_cases():
    counts, ignored = count_mask(np.array([[0, 1], [255, 1]]), 3, 255)
    assert counts.tolist() == [1, 2, 0] and ignored == 1
    counts, ignored = count_mask(np.array([[0, -1], [-1, 1]]), 2, -1)
    assert counts.tolist() == [1, 1] and ignored == 2
    with pytest.raises(SegdashError, match="label 7"):
        count_mask(np.array([[0, 7]]), 3, 255)
    counts, ignored = count_mask(np.array([[0, 1]]), 2, None)
    assert counts.tolist() == [1, 1] and ignored == 0


def test_progress_and_errors(tmp_path):
    for name, mask in MASKS.items():
        np.save(tmp_path / f"{name}.npy", np.asarray(mask, np.int64))
    ds = NpyDataset(tmp_path, with_test_without_masks=True)
    calls = []
    class_statistics(ds, "train", progress=lambda done, total: calls.append((done, total)), use_cache=False)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(SegdashError, match="no masks"):
        class_statistics(ds, "test")
    with pytest.raises(SegdashError, match="no split 'val'"):
        class_statistics(ds, "val")


class OnTheFly(SegDataset):
    """Masks generated on demand: nothing is held, so any growth in memory would be the statistics' fault."""

    name = "on-the-fly"
    classes = tuple(f"c{i}" for i in range(5))
    colors = ((0, 0, 0),) * 5
    ignore_index = 255
    in_channels = 1

    def __init__(self, images: int, size: int = 256):
        self.images, self.size = images, size

    def splits(self):
        return ["train"]

    def ids(self, split):
        return [str(i) for i in range(self.images)]

    def load(self, split, sample_id):
        rng = np.random.default_rng(int(sample_id))
        mask = rng.integers(0, 5, (self.size, self.size))
        mask[0] = 255
        return Sample(np.zeros((self.size, self.size, 1), np.float32), mask, sample_id)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_stays_flat():
    small = _peak_bytes(lambda: class_statistics(OnTheFly(4), "train"))
    large = _peak_bytes(lambda: class_statistics(OnTheFly(40), "train"))
    one_mask = 256 * 256 * 8
    threads = sorted(t.name for t in threading.enumerate())  # tracemalloc counts every thread's allocations
    assert large < 1.3 * small, (small, large, threads)
    assert large < 6 * one_mask  # a handful of masks' worth, never all 40
    stats = class_statistics(OnTheFly(40), "train")
    assert stats.labeled_pixels == 40 * 255 * 256 and stats.ignored_pixels == 40 * 256
    assert not stats.from_cache  # no fingerprint and not file-based: never cached


def _write_folder(root: Path, masks: dict[str, list]) -> None:
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "masks").mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nzero,0,0,0\none,255,0,0\ntwo,0,255,0\nthree,0,0,255\n")
    for name, mask in masks.items():
        mask = np.asarray(mask, np.uint8)
        write_label_png(root / "train" / "images" / f"{name}.png", (mask * 40).astype(np.uint8))
        write_label_png(root / "train" / "masks" / f"{name}.png", mask)


def test_folder_dataset_cached_then_invalidated_when_a_mask_changes(tmp_path):
    root = tmp_path / "data"
    _write_folder(root, MASKS)
    first = class_statistics(open_dataset(root, format="folder"), "train")
    assert first.pixels.tolist() == [10, 3, 2, 0] and not first.from_cache
    second = class_statistics(open_dataset(root, format="folder"), "train")
    assert second.from_cache and second.pixels.tolist() == [10, 3, 2, 0]
    assert second.to_dict() == first.to_dict()

    changed = root / "train" / "masks" / "b.png"
    write_label_png(changed, np.full((2, 3), 3, np.uint8))
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # coarse-mtime filesystems
    third = class_statistics(open_dataset(root, format="folder"), "train")
    assert not third.from_cache and third.pixels.tolist() == [4, 3, 2, 6]
    assert class_statistics(open_dataset(root, format="folder"), "train").from_cache


def test_folder_cache_invalidated_when_the_classes_file_changes(tmp_path):
    """Names and colours unchanged, only the ignore colour moves: the cache must not hide the now-unknown colour."""
    root = tmp_path / "data"
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "masks").mkdir(parents=True)
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, :2] = (255, 0, 0)
    rgb[1, 2] = (255, 255, 255)  # 2 red, 3 black, 1 white (ignored)
    write_label_png(root / "train" / "images" / "a.png", np.zeros((2, 3), np.uint8))
    Image.fromarray(rgb).save(root / "train" / "masks" / "a.png")
    classes = root / "classes.csv"
    classes.write_text("index,name,r,g,b\n0,zero,0,0,0\n1,one,255,0,0\n255,ignore,255,255,255\n")
    first = class_statistics(open_dataset(root, format="folder"), "train")
    assert first.pixels.tolist() == [3, 2] and first.ignored_pixels == 1
    classes.write_text("index,name,r,g,b\n0,zero,0,0,0\n1,one,255,0,0\n255,ignore,250,250,250\n")
    stat = classes.stat()
    os.utime(classes, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    with pytest.raises(SegdashError, match=r"\(255, 255, 255\) are not in the classes file"):
        class_statistics(open_dataset(root, format="folder"), "train", strict=True)
    with pytest.warns(UserWarning, match="1 sample"):  # by default the sample is left out, and named
        skipped = class_statistics(open_dataset(root, format="folder"), "train", use_cache=False).skipped
    assert [sid for sid, _ in skipped] == ["a"] and "are not in the classes file" in skipped[0][1]


def test_cache_keys_differ_by_options_and_split(tmp_path):
    ds = open_dataset("street-synth", count="6")
    train, val = class_statistics(ds, "train"), class_statistics(ds, "val")
    assert train.images == 4 and val.images == 1
    again = class_statistics(open_dataset("street-synth", count="6"), "train")
    assert again.from_cache and again.pixels.tolist() == train.pixels.tolist()
    other_seed = class_statistics(open_dataset("street-synth", count="6", seed="1"), "train")
    assert not other_seed.from_cache and other_seed.pixels.tolist() != train.pixels.tolist()
    # against a plain per-image count
    expected = sum(np.bincount(m.ravel(), minlength=13) for _, m, _ in ds.iter_samples("train"))
    assert train.pixels.tolist() == expected.tolist()


def test_damaged_cache_file_is_recomputed(tiny):
    first = class_statistics(tiny, "train")
    from segdash.data.stats.cache import cache_file

    path = cache_file(tiny, "train")
    assert path is not None and path.is_file()
    path.write_text("{not json")
    again = class_statistics(tiny, "train")
    assert not again.from_cache and again.pixels.tolist() == first.pixels.tolist()


@pytest.mark.parametrize(
    "mask",
    [[[0, 3], [255, 3]], [[-1, 2]], [[1.0, 2.0]], [[True, False]], [[70000, 1]], np.zeros((0, 0), np.int64)],
)
def test_distinct_labels_equals_np_unique(mask):
    """The bincount fast path behind ``validate_mask`` (every mask a stats pass reads) agrees with np.unique."""
    from segdash.data.base import distinct_labels

    mask = np.asarray(mask)
    assert distinct_labels(mask).tolist() == np.unique(mask).tolist()


def test_file_datasets_decode_only_masks_but_still_check_sizes(tmp_path, monkeypatch):
    """Stats need the masks only: images are not decoded (their headers give the size check)."""
    root = tmp_path / "data"
    _write_folder(root, MASKS)
    ds = open_dataset(root, format="folder")

    def no_decoding(path):
        raise AssertionError(f"stats decoded the image {path}")

    monkeypatch.setattr(ds, "read_image", no_decoding)
    assert class_statistics(ds, "train", use_cache=False).pixels.tolist() == [10, 3, 2, 0]
    write_label_png(root / "train" / "images" / "b.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(SegdashError, match="'b' differ in size: image 3x3, mask 3x2"):
        class_statistics(ds, "train", use_cache=False, strict=True)
    with pytest.warns(UserWarning, match="differ in size"):
        assert [sid for sid, _ in class_statistics(ds, "train", use_cache=False).skipped] == ["b"]
