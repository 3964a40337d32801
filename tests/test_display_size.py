"""Large images are drawn at the size shown: label maps sampled nearest, the image area-averaged."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segdash.viz.overlay import (
    DISPLAY_MAX_SIDE,
    display_shape,
    error_map,
    for_display,
    nearest_resize,
    overlay_mask,
)


@pytest.mark.parametrize(("shape", "expected"), [
    ((1024, 2048), (512, 1024)),
    ((4096, 4096), (1024, 1024)),
    ((600, 800), (600, 800)),      # small enough: unchanged
    ((1024, 1024), (1024, 1024)),
    ((3000, 10), (1024, 3)),
])  # fmt: skip
def test_display_shape_fits_the_longer_side(shape, expected):
    assert display_shape(shape) == expected
    assert max(expected) <= DISPLAY_MAX_SIDE or expected == shape


def test_nearest_resize_matches_pillow_and_keeps_values():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 19, (301, 517)).astype(np.int32)
    small = nearest_resize(labels, (97, 203))
    reference = np.asarray(Image.fromarray(labels, mode="I").resize((203, 97), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(small, reference)
    assert set(np.unique(small)) <= set(np.unique(labels))
    assert nearest_resize(labels, labels.shape) is labels


def test_for_display_area_averages_the_image_and_samples_the_maps():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
    labels = np.repeat(np.repeat(rng.integers(0, 13, (512, 1024)), 2, axis=0), 2, axis=1)  # 2x2 blocks
    picture, (small_labels, none) = for_display(image, labels, None)
    assert picture.shape == (512, 1024, 3) and none is None
    blocks = image.reshape(512, 2, 1024, 2, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(picture.astype(np.float64) - blocks).max() <= 1  # a 2x2 mean, rounded
    np.testing.assert_array_equal(small_labels, labels[::2, ::2])


def test_panels_drawn_small_equal_the_full_panels_shrunk_where_labels_are_blocks():
    """Drawing at display size is the same picture as drawing at full size and then shrinking it, for a label
    map made of 2x2 blocks (where nearest sampling loses nothing): fills and error maps."""
    rng = np.random.default_rng(2)
    image = np.repeat(np.repeat(rng.integers(0, 256, (512, 1024, 3), dtype=np.uint8), 2, 0), 2, 1)
    labels = np.repeat(np.repeat(rng.integers(0, 13, (512, 1024)), 2, 0), 2, 1)
    truth = np.repeat(np.repeat(rng.integers(0, 13, (512, 1024)), 2, 0), 2, 1)
    colors = [(i * 19 % 256, i * 67 % 256, i * 131 % 256) for i in range(13)]
    picture, (small_labels, small_truth) = for_display(image, labels, truth)
    np.testing.assert_array_equal(overlay_mask(picture, small_labels, colors), overlay_mask(image, labels, colors)[::2, ::2])
    np.testing.assert_array_equal(error_map(small_labels, small_truth, image=picture),
                                  error_map(labels, truth, image=image)[::2, ::2])
