"""Imbalance statistics (co-occurrence, objects, spatial priors, drift) against independent computations.

Every number is recomputed here the plain way: per-class ``(mask == c).any()`` for co-occurrence,
``scipy.ndimage.label`` with a 3x3 structure of ones (8-connectivity) and ``np.histogram`` for
objects, a per-pixel floor of the relative position for the spatial prior, and
``scipy.spatial.distance.jensenshannon`` for the drift.
"""

import json

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import jensenshannon

from segdash.data.base import Sample, SegDataset
from segdash.data.stats import (
    AREA_EDGES,
    GRID,
    SMALL_OBJECT,
    cell_counts,
    class_statistics,
    connected_objects,
    split_drift,
)

IGNORE = 255
EIGHT = np.ones((3, 3), int)

# 4 classes (class 3 never appears in train), 255 ignored; sizes differ; "empty" is all ignore.
TRAIN = {
    "a": np.array([
        [0, 0, 1, 1, 0, 2],
        [0, 1, 0, 0, 0, 2],
        [1, 0, 0, 255, 2, 0],
        [0, 0, 2, 2, 0, 0],
    ]),
    "b": np.array([
        [2, 2, 2, 255, 255],
        [0, 0, 0, 0, 1],
        [1, 0, 1, 0, 0],
    ]),
    "c": np.zeros((7, 5), np.int64),
    "empty": np.full((3, 3), 255),
}
TEST = {
    "d": np.array([[0, 3, 3], [0, 0, 1], [2, 0, 0]]),
    "e": np.array([[0, 0], [0, 255]]),
}


class Masks(SegDataset):
    """In-memory masks; counts every ``load`` so a second pass over the data would show."""

    name = "imbalance-masks"
    classes = ("zero", "one", "two", "three")
    colors = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255))
    ignore_index = IGNORE
    in_channels = 1

    def __init__(self, splits):
        self.data = splits
        self.loads = 0

    def splits(self):
        return list(self.data)

    def ids(self, split):
        return list(self.data[split])

    def load(self, split, sample_id):
        self.loads += 1
        mask = self.data[split][sample_id]
        return Sample(np.zeros(mask.shape + (1,), np.float32), mask.astype(np.int64), sample_id)


@pytest.fixture
def ds():
    return Masks({"train": TRAIN, "test": TEST})


# --- independent computations -------------------------------------------------------------


def expected_cooccurrence(masks, num_classes):
    co = np.zeros((num_classes, num_classes), int)
    for m in masks:
        present = np.array([(m == c).any() for c in range(num_classes)])
        co += np.outer(present, present)
    return co


def expected_objects(masks, num_classes):
    """(C,) object counts and (C, bins) histograms of object area / image pixels."""
    counts = np.zeros(num_classes, int)
    hist = np.zeros((num_classes, len(AREA_EDGES) - 1), int)
    for m in masks:
        for c in range(num_classes):
            labels, n = ndimage.label(m == c, structure=EIGHT)
            areas = np.bincount(labels.ravel())[1:]
            counts[c] += n
            hist[c] += np.histogram(areas / m.size, bins=AREA_EDGES)[0]
    return counts, hist


def expected_cells(masks, num_classes, grid=GRID):
    """(C, grid, grid) pixels per cell, one pixel at a time: cell = floor(relative position * grid)."""
    cells = np.zeros((num_classes, grid, grid), int)
    for m in masks:
        height, width = m.shape
        for y in range(height):
            for x in range(width):
                if m[y, x] != IGNORE:
                    cells[m[y, x], int(np.floor(y / height * grid)), int(np.floor(x / width * grid))] += 1
    return cells


# --- tests --------------------------------------------------------------------------------------


def test_cooccurrence_objects_and_prior_match_independent_counts(ds):
    stats = class_statistics(ds, "train", use_cache=False)
    masks = list(TRAIN.values())
    assert stats.images == 4 and stats.ignored_pixels == 1 + 2 + 9
    np.testing.assert_array_equal(stats.cooccurrence, expected_cooccurrence(masks, 4))
    np.testing.assert_array_equal(np.diag(stats.cooccurrence), stats.images_with_class)
    counts, hist = expected_objects(masks, 4)
    np.testing.assert_array_equal(stats.object_counts, counts)
    np.testing.assert_array_equal(stats.object_area_counts, hist)
    cells = expected_cells(masks, 4)
    np.testing.assert_array_equal(stats.cell_pixels.reshape(4, GRID, GRID), cells)
    prior = stats.spatial_prior
    for c in range(3):
        np.testing.assert_allclose(prior[c], cells[c] / cells[c].sum())
    assert np.isnan(prior[3]).all()  # class 3 never appears in train: undefined, not zeros


def test_hand_counted_objects():
    """Mask "a" by eye: class 1 has the diagonal (0,2)-(0,3)-(1,1)-(2,0): one 8-connected object of 4 pixels;
    class 2 has (0,5)-(1,5)-(2,4)-(3,3)-(3,2): one object of 5; class 0 is one object with the ignore pixel
    removed and the corner (2,5)-(3,4)-(3,5) joined by the diagonal to (1,4)."""
    mask = TRAIN["a"]
    cells, ignored = cell_counts(mask, 4, IGNORE)
    areas, classes = connected_objects(mask, cells, IGNORE)
    assert ignored == 1
    assert sorted(zip(classes.tolist(), areas.tolist())) == [(0, 14), (1, 4), (2, 5)]
    # with 4-connectivity class 1 would be 3 objects: the 8 in "8-connected" matters
    assert ndimage.label(mask == 1)[1] == 3


@pytest.mark.parametrize("ignore", [None, 255, -1, 4])
def test_connected_objects_match_scipy_on_random_masks(ignore):
    rng = np.random.default_rng(0 if ignore is None else ignore + 7)
    for trial in range(40):
        height, width = rng.integers(1, 30, 2)
        if trial % 2:  # blobs: a few large objects
            coarse = rng.integers(0, 4, (5, 5))
            mask = np.kron(coarse, np.ones((height // 5 + 1, width // 5 + 1), int))[:height, :width]
        else:  # noise: many one-pixel objects, diagonal contacts everywhere
            mask = rng.integers(0, 4, (height, width))
        if ignore is not None:
            mask[rng.random(mask.shape) < 0.15] = ignore
        cells, _ = cell_counts(mask, 4, ignore)
        areas, classes = connected_objects(mask, cells, ignore)
        for c in range(4):
            labels, _ = ndimage.label(mask == c, structure=EIGHT)
            assert sorted(areas[classes == c].tolist()) == sorted(np.bincount(labels.ravel())[1:].tolist())


def test_spatial_prior_maps_any_size_by_relative_position():
    """A class in the top-left quarter lands in the top-left 16x16 cells whatever the image size."""
    for height, width in [(64, 64), (40, 100), (7, 9), (300, 33)]:
        mask = np.zeros((height, width), int)
        mask[: height // 2, : width // 2] = 1
        cells, _ = cell_counts(mask, 2, None)
        grid = cells[1].reshape(GRID, GRID)
        expected = expected_cells([mask], 2)[1]
        np.testing.assert_array_equal(grid, expected)
        assert grid.sum() == (height // 2) * (width // 2)
        if height % 2 == 0 and width % 2 == 0 and height >= GRID and width >= GRID:
            assert grid[:16, :16].all() and not grid[16:].any() and not grid[:, 16:].any()


def test_area_edges_are_fixed_half_decades_aligned_with_size_buckets():
    np.testing.assert_allclose(AREA_EDGES[1:], 10.0 ** np.arange(-5, 0.25, 0.5))
    assert AREA_EDGES[0] == 0 and SMALL_OBJECT in AREA_EDGES and 1e-2 in AREA_EDGES
    # an object of exactly 0.1% of the image is not small (the evaluation's buckets: small < 0.1%)
    mask = np.zeros((100, 10), int)
    mask[0, 0] = 1
    cells, _ = cell_counts(mask, 2, None)
    areas, classes = connected_objects(mask, cells, None)
    share = areas[classes == 1][0] / mask.size
    assert share == SMALL_OBJECT
    ds = Masks({"train": {"x": mask}})
    stats = class_statistics(ds, "train", use_cache=False)
    bins = stats.object_area_counts[1]
    assert bins[np.searchsorted(AREA_EDGES, SMALL_OBJECT)] == 1 and stats.small_object_share[1] == 0


def test_mostly_small_and_top_images(ds):
    stats = class_statistics(ds, "train", use_cache=False)
    counts, hist = expected_objects(list(TRAIN.values()), 4)
    small = hist[:, : np.searchsorted(AREA_EDGES, SMALL_OBJECT)].sum(1)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(stats.small_object_share, small / counts)
    # these masks are tiny, so every object is over 0.1% of its image
    assert not stats.mostly_small.any()
    # top images: by pixels of the class, most first; an image without the class is not listed
    pixels = {name: [(m == c).sum() for c in range(4)] for name, m in TRAIN.items()}
    for c in range(4):
        expected = sorted(((int(p[c]), n) for n, p in pixels.items() if p[c]), key=lambda e: (-e[0], e[1]))
        assert list(stats.top_images[c]) == [(n, p) for p, n in expected]


def test_drift_is_jensen_shannon_in_bits(ds):
    train, test = class_statistics(ds, "train", use_cache=False), class_statistics(ds, "test", use_cache=False)
    drift = split_drift(train, test)
    expected = jensenshannon(train.frequency, test.frequency, base=2) ** 2  # scipy gives the distance
    assert drift["js_divergence"] == pytest.approx(expected, rel=1e-12)
    assert drift["log_base"] == 2 and drift["reference"] == "train"
    assert split_drift(train, train)["js_divergence"] == pytest.approx(0, abs=1e-15)
    # class 3: absent from train, so no ratio; classes under a third of their train share are flagged
    ratio = test.frequency / np.where(train.frequency > 0, train.frequency, np.nan)
    assert drift["frequency_ratio"][3] is None
    np.testing.assert_allclose(drift["frequency_ratio"][:3], ratio[:3])
    assert drift["much_rarer"] == [c for c in range(3) if ratio[c] < 1 / 3]
    # disjoint distributions: exactly one bit
    a = Masks({"x": {"p": np.zeros((2, 2), int)}, "y": {"q": np.ones((2, 2), int)}})
    assert split_drift(class_statistics(a, "x", use_cache=False),
                       class_statistics(a, "y", use_cache=False))["js_divergence"] == pytest.approx(1.0)


def test_one_pass_and_the_same_totals_as_the_basic_statistics(ds):
    stats = class_statistics(ds, "train", use_cache=False)
    assert ds.loads == len(TRAIN)  # every sample read once for everything
    basic = class_statistics(ds, "train", use_cache=False, extended=False)
    assert not basic.extended and basic.spatial_prior is None
    np.testing.assert_array_equal(stats.pixels, basic.pixels)
    np.testing.assert_array_equal(stats.cell_pixels.sum(1), stats.pixels)
    assert stats.ignored_pixels == basic.ignored_pixels
    assert set(stats.to_dict()) - set(basic.to_dict()) == {
        "cooccurrence", "objects", "spatial_prior", "top_images"}


def test_json_is_finite_with_nulls_for_absent_classes(ds):
    d = class_statistics(ds, "train", use_cache=False).to_dict()
    text = json.dumps(d, allow_nan=False)  # no NaN anywhere
    assert d["spatial_prior"][3] is None and len(d["spatial_prior"][0]) == GRID
    assert d["objects"][3] == {"count": 0, "area_edges": list(AREA_EDGES), "area_counts": [0] * 11,
                               "small_share": None, "mostly_small": False}
    assert json.loads(text)["cooccurrence"] == expected_cooccurrence(list(TRAIN.values()), 4).tolist()


def test_cache_round_trip_keeps_the_imbalance_statistics(tmp_path):
    """A file dataset (cached on disk): the second call reads everything back."""
    from segdash.data import open_dataset
    from segdash.data.imageio import write_label_png

    root = tmp_path / "data"
    for sub in ("images", "masks"):
        (root / "train" / sub).mkdir(parents=True)
    (root / "classes.csv").write_text("name,r,g,b\nzero,0,0,0\none,255,0,0\ntwo,0,255,0\nthree,0,0,255\n")
    for name, mask in TRAIN.items():
        if name != "empty":
            write_label_png(root / "train" / "images" / f"{name}.png", np.zeros(mask.shape, np.uint8))
            labels = np.where(mask == IGNORE, 0, mask).astype(np.uint8)
            write_label_png(root / "train" / "masks" / f"{name}.png", labels)
    first = class_statistics(open_dataset(root, format="folder"), "train")
    second = class_statistics(open_dataset(root, format="folder"), "train")
    assert not first.from_cache and second.from_cache
    assert second.to_dict() == first.to_dict()
    assert second.top_images == first.top_images
    basic = class_statistics(open_dataset(root, format="folder"), "train", extended=False)
    assert not basic.from_cache and not basic.extended  # its own cache entry, not the extended one


def test_cli_json_has_the_new_keys_and_drift(tmp_path, capsys, monkeypatch):
    import segdash.cli
    from segdash.cli import main

    monkeypatch.setattr(segdash.cli, "COMMANDS", ("datasets", "stats"))
    out = tmp_path / "stats.json"
    assert main(["stats", "street-synth", "-o", "count=8", "--json", str(out), "--no-cache"]) == 0
    printed = capsys.readouterr().out
    assert "objects (8-connected)" in printed and "Jensen-Shannon divergence" in printed
    result = json.loads(out.read_text())
    first, *later = list(result["splits"])
    assert "drift" not in result["splits"][first] and later
    for split in later:
        drift = result["splits"][split]["drift"]
        assert drift["reference"] == first and drift["log_base"] == 2 and 0 <= drift["js_divergence"] <= 1
    train = result["splits"][first]
    assert len(train["cooccurrence"]) == 13 and len(train["objects"]) == 13 and len(train["spatial_prior"]) == 13
    assert main(["stats", "street-synth", "-o", "count=8", "--basic", "--json", "-"]) == 0
    basic = json.loads(capsys.readouterr().out)
    assert "cooccurrence" not in basic["splits"][first] and "drift" not in basic["splits"][later[0]]


def test_object_recall_by_size_read_from_an_evaluation_json():
    """The Dataset page reads per_class[i]["objects"]["by_size"] when the evaluation has it, skips it when not."""
    from segdash.ui.dataset_page import recall_by_size

    doc = {"per_class": [
        {"iou": 0.9},  # an evaluation without object results for this class
        {"objects": {"gt": 4, "recall": 0.5, "by_size": {"small": {"recall": 0.25}, "medium": {"recall": None},
                                                          "large": {"recall": 1.0}}}},
    ]}
    assert recall_by_size(doc) == {1: {"small": 0.25, "medium": None, "large": 1.0}}
    assert recall_by_size({"per_class": [{"iou": 0.5}]}) == {} and recall_by_size({}) == {}


def test_imbalance_figures_draw_the_statistics(ds):
    from segdash.viz import figures

    train, test = class_statistics(ds, "train", use_cache=False), class_statistics(ds, "test", use_cache=False)
    names = list(ds.classes)
    prior = figures.spatial_prior_figure(train.spatial_prior[1], "one")
    np.testing.assert_allclose(np.asarray(prior.data[0].z, float), train.spatial_prior[1])
    assert "no pixel" in figures.spatial_prior_figure(train.spatial_prior[3], "three").layout.annotations[0].text
    grid = figures.spatial_prior_grid_figure(train.spatial_prior, names)
    assert len(grid.data) == 3 and any(a.text == "absent" for a in grid.layout.annotations)  # class 3
    co = figures.cooccurrence_figure(train.cooccurrence, names, normalize="conditional")
    z = np.array([[np.nan if v is None else v for v in row] for row in co.data[0].z])
    expected = train.cooccurrence[:3] / np.diag(train.cooccurrence)[:3, None]
    np.testing.assert_allclose(z[:3], expected)
    assert np.isnan(z[3]).all()  # class 3 never present: P(j | 3) undefined
    sizes = figures.object_size_figure({"train": train.object_area_counts[0], "test": test.object_area_counts[0]},
                                       AREA_EDGES, "zero", recall={"small": 0.5, "medium": None, "large": 1.0})
    bars = [t for t in sizes.data if t.type == "bar"]
    assert [b.name.split(" ")[0] for b in bars] == ["train", "test"]
    np.testing.assert_allclose(bars[0].y, train.object_area_counts[0] / train.object_counts[0])
    lines = [t for t in sizes.data if t.type == "scatter"]  # one recall line per size bucket
    assert [t.y[0] for t in lines] == [0.5, None, 1.0] and lines[0].text[0] == "small: 50% found"
    drift = split_drift(train, test)
    ratio = figures.frequency_ratio_figure({"test": drift["frequency_ratio"]}, names, "train")
    assert ratio.layout.yaxis.type == "log"
    counts = figures.object_counts_figure({"train": train.object_counts}, names, flagged=[True, False, False, False])
    assert any(t.name == "mostly small objects" for t in counts.data)


class IgnoreZero(Masks):
    """The same masks with class 0 declared the ignore index (an ignore index inside the class range)."""

    ignore_index = 0


def test_an_ignore_index_inside_the_class_range_is_ignored_by_every_statistic():
    masks = [m for m in TRAIN.values() if not (m == IGNORE).any()]  # labels 0..2 only
    ds = IgnoreZero({"train": dict(enumerate(masks))})
    full = class_statistics(ds, "train", use_cache=False)
    basic = class_statistics(ds, "train", use_cache=False, extended=False)
    zeros = sum(int((m == 0).sum()) for m in masks)
    assert full.ignored_pixels == basic.ignored_pixels == zeros
    np.testing.assert_array_equal(full.pixels, basic.pixels)
    assert full.pixels[0] == 0 and full.object_counts[0] == 0 and full.cell_pixels[0].sum() == 0
    counts, _ = expected_objects(masks, 4)
    np.testing.assert_array_equal(full.object_counts[1:], counts[1:])  # the other classes' objects unchanged
    present = [np.array([c != 0 and (m == c).any() for c in range(4)]) for m in masks]
    np.testing.assert_array_equal(full.cooccurrence, sum(np.outer(p, p) for p in present))


def test_worker_processes_give_the_one_pass_result():
    from segdash.data.stats import MIN_IMAGES_PER_PROCESS

    rng = np.random.default_rng(5)
    count = 2 * MIN_IMAGES_PER_PROCESS + 7
    masks = {f"m{i:04d}": rng.integers(0, 4, (6 + i % 5, 9)) for i in range(count)}
    masks["m0003"] = np.full((4, 4), IGNORE)
    ds = Masks({"train": masks})
    calls = []
    one = class_statistics(ds, "train", use_cache=False)
    two = class_statistics(ds, "train", use_cache=False, workers=2, progress=lambda d, t: calls.append((d, t)))
    assert ds.loads == count  # the one pass read every mask here; the two processes read theirs in their own copies
    keep = lambda d: {k: v for k, v in d.items() if k != "seconds"}  # noqa: E731
    assert keep(two._to_cache()) == keep(one._to_cache())
    assert calls[-1] == (count, count)
