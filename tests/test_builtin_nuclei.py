"""nuclei: tiles of the stardist wheel's sample image, read without importing stardist."""

import importlib.util
import sys

import numpy as np
import pytest
from PIL import Image

from segdash.data import BUILTINS, open_dataset
from segdash.data.builtin.nuclei import TILE, TILE_ORIGINS
from segdash.data.stats import class_statistics
from segdash.errors import SegdashError


@pytest.fixture
def fake_stardist(tmp_path, monkeypatch):
    """A package laid out like the stardist wheel (data files only; importing it would fail loudly)."""
    package = tmp_path / "site" / "stardist"
    images = package / "data" / "images"
    images.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('segdash must not import stardist')\n")
    rng = np.random.default_rng(0)
    intensity = rng.integers(0, 236, (512, 512)).astype(np.uint16)
    instances = np.zeros((512, 512), np.uint16)
    for k, (r, c) in enumerate(rng.integers(10, 500, (60, 2)), start=1):
        instances[max(r - 6, 0) : r + 6, max(c - 6, 0) : c + 6] = k
    Image.fromarray(intensity).save(images / "img2d.tif")
    Image.fromarray(instances).save(images / "mask2d.tif")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "stardist", raising=False)
    return intensity, instances


def test_tiles_from_the_wheel_layout_without_importing_stardist(fake_stardist):
    intensity, instances = fake_stardist
    ds = open_dataset("nuclei")
    assert "stardist" not in sys.modules
    assert ds.classes == ("background", "nucleus") and ds.in_channels == 1 and ds.ignore_index is None
    assert {s: len(ds.ids(s)) for s in ds.splits()} == {"train": 35, "val": 2, "test": 2}
    image, mask, sample_id = ds.load("test", "test_r384_c272")
    assert image.shape == (TILE, TILE, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image[:, :, 0], intensity[384:512, 272:400] / 255.0, rtol=1e-6)
    assert mask.dtype == np.int64
    assert np.array_equal(mask, (instances[384:512, 272:400] > 0).astype(np.int64))
    assert np.array_equal(ds.instances("test", sample_id), instances[384:512, 272:400])
    # statistics over all tiles of a split equal a direct count on the source mask
    stats = class_statistics(ds, "val")
    expected = sum(int((instances[r : r + TILE, c : c + TILE] > 0).sum()) for r, c in TILE_ORIGINS["val"])
    assert stats.pixels.tolist() == [2 * TILE * TILE - expected, expected]


def test_splits_cover_disjoint_regions():
    covered = {}
    for split, origins in TILE_ORIGINS.items():
        area = np.zeros((512, 512), bool)
        for r, c in origins:
            assert r + TILE <= 512 and c + TILE <= 512
            area[r : r + TILE, c : c + TILE] = True
        covered[split] = area
    for a in covered:
        for b in covered:
            if a < b:
                assert not (covered[a] & covered[b]).any(), (a, b)


def test_missing_stardist_is_a_clear_error(monkeypatch):
    real_find_spec = importlib.util.find_spec
    def find_spec(name, *args):
        return None if name == "stardist" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert "nuclei" in BUILTINS
    with pytest.raises(SegdashError, match="pip install stardist"):
        open_dataset("nuclei")


@pytest.mark.skipif(importlib.util.find_spec("stardist") is None, reason="stardist wheel not installed")
def test_real_wheel_image():
    ds = open_dataset("nuclei")
    stats = class_statistics(ds, "train")
    assert 0.05 < stats.frequency[1] < 0.5  # nuclei cover about a fifth of the image
