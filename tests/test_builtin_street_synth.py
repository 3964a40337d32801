"""street-synth: deterministic procedural scenes with CARLA's classes and a driving-like imbalance."""

import hashlib
import os
import time

import numpy as np
import pytest

from segdash.data import open_dataset
from segdash.data.builtin.street_synth import CLASSES, HEIGHT, VERSION, WIDTH, StreetSynth, render_scene
from segdash.errors import SegdashError

CARLA_CLASSES = (
    "unlabeled", "building", "fence", "other", "pedestrian", "pole", "road line",
    "road", "sidewalk", "vegetation", "vehicle", "wall", "traffic sign",
)  # fmt: skip
RARE = ("fence", "other", "pedestrian", "pole", "road line", "traffic sign")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 40-scene version (rendering all 300 takes several seconds on this CPU)."""
    # Module fixtures run before conftest's per-test cache fixture: point at the same folder here.
    root = os.environ.get("SEGDASH_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "segdash-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGDASH_CACHE", root)
        yield open_dataset("street-synth", count="40")


def test_classes_shapes_and_splits(small):
    assert small.classes == CARLA_CLASSES == CLASSES and len(small.colors) == 13
    assert small.colors[7] == (128, 64, 128) and small.colors[10] == (0, 0, 255)  # CARLA road, vehicle
    assert small.in_channels == 3 and small.ignore_index is None
    assert {s: len(small.ids(s)) for s in small.splits()} == {"train": 28, "val": 6, "test": 6}
    image, mask, sample_id = small.load("val", small.ids("val")[0])
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.int64 and mask.max() < 13
    assert sample_id == "scene_0028"


def test_scene_depends_only_on_seed_and_index():
    a_image, a_mask = render_scene(0, 17)
    b_image, b_mask = render_scene(0, 17)
    assert np.array_equal(a_image, b_image) and np.array_equal(a_mask, b_mask)
    c_image, c_mask = render_scene(1, 17)
    assert not np.array_equal(a_mask, c_mask)
    other_count = StreetSynth(count=5)  # scene 3 is the same whatever the dataset size
    image, mask, _ = other_count.load("val" if "scene_0003" in other_count.ids("val") else "train", "scene_0003")
    assert np.array_equal(mask, render_scene(0, 3)[1]) and np.array_equal(image, render_scene(0, 3)[0])


def test_label_maps_are_pinned_so_the_cache_version_stays_honest():
    """The cache of rendered scenes is named by VERSION: a change to what the painters draw must bump it.

    The hash was taken from the scenes before the painters became a table of functions; the same
    labels mean the same draws from the generator, in the same order.
    """
    digest = hashlib.sha256()
    for seed, index in ((0, 0), (0, 5), (3, 11)):
        digest.update(render_scene(seed, index)[1].tobytes())
    assert VERSION == "2"
    assert digest.hexdigest() == "7e2952f23893f9c482ecfe76177bdd5e7aa2e10271a467a24e78029e9eeff7fe"


def test_strongly_imbalanced_like_driving_data(small):
    counts = np.zeros(13, np.int64)
    presence = np.zeros(13, np.int64)
    for split in small.splits():
        for _, mask, _ in small.iter_samples(split):
            c = np.bincount(mask.ravel(), minlength=13)
            counts += c
            presence += c > 0
    frequency = counts / counts.sum()
    by_name = dict(zip(CARLA_CLASSES, frequency))
    assert (counts > 0).all(), "every class appears somewhere"
    for name in RARE:
        assert by_name[name] < 0.01, (name, by_name[name])
    for name in ("road", "building", "unlabeled"):
        assert by_name[name] > 0.15, (name, by_name[name])
    assert frequency.max() / frequency.min() > 100


def test_image_is_rendered_not_the_label_palette(small):
    image, mask, _ = small.load("train", "scene_0001")
    palette = np.asarray(small.colors)[mask]
    assert np.abs(image.astype(int) - palette).mean() > 30
    road = image[mask == 7].astype(float)
    assert road.std(axis=0).mean() > 3  # textured, not flat


def test_cached_and_fast_to_reopen(small):
    assert small.preparation_seconds is None or small.preparation_seconds < 10
    start = time.perf_counter()
    again = open_dataset("street-synth", count="40")
    assert time.perf_counter() - start < 0.5 and again.preparation_seconds is None
    a, b = small.load("test", "scene_0039"), again.load("test", "scene_0039")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_bad_options():
    with pytest.raises(SegdashError, match="count"):
        open_dataset("street-synth", count="lots")
    with pytest.raises(SegdashError, match="at least 3"):
        open_dataset("street-synth", count="2")
