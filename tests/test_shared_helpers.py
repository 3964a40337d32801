"""Small shared helpers: NaN -> null for JSON, and pixels per class."""

import json
import math
from pathlib import Path

import numpy as np

from segdash.data.labels import class_pixel_counts
from segdash.jsonsafe import finite_or_none, json_number, json_tree


def test_finite_or_none():
    assert [finite_or_none(v) for v in (None, math.nan, math.inf, -np.inf, np.float32(0.5), 3)] == [
        None, None, None, None, 0.5, 3.0]
    assert type(finite_or_none(np.float64(1.25))) is float


def test_json_tree_is_strict_json():
    doc = {"a": np.float32("nan"), 1: [np.int64(2), np.array([1.0, np.inf])], "p": Path("x/y"), "s": "text"}
    safe = json_tree(doc)
    assert json.loads(json.dumps(safe, allow_nan=False)) == {"a": None, "1": [2, [1.0, None]], "p": "x/y", "s": "text"}
    assert type(json_number(np.int32(4))) is int and json_number("x") == "x"


def test_class_pixel_counts_matches_unique():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 6, (7, 9))
    labels[0, 0] = 255
    expected = np.zeros(4, np.int64)
    values, counts = np.unique(labels, return_counts=True)
    for v, n in zip(values, counts):
        if 0 <= v < 4 and v != 2:
            expected[v] = n
    got = class_pixel_counts(labels, 4, ignore_index=2)
    assert got.dtype == np.int64 and got.tolist() == expected.tolist()


def _unique_counts(labels, num_classes, ignore_index):
    """The reference: np.unique's counts of the values 0..C-1 other than the ignore index."""
    expected = np.zeros(num_classes, np.int64)
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    for v, n in zip(values, counts):
        if 0 <= v < num_classes and v != ignore_index:
            expected[int(v)] = n
    return expected


def test_label_counts_of_every_kind_of_map():
    """One counter for statistics, legends, metrics and training: the fast bincount and the general path agree
    with np.unique, and say what lies outside the classes (a huge int64 label allocates no table)."""
    from segdash.data.labels import label_counts

    rng = np.random.default_rng(1)
    cases = [
        (rng.integers(0, 5, (6, 7)).astype(np.uint8), 4, 255),
        (np.array([[0, 255, 3], [1, 1, 255]], np.uint8), 4, 255),
        (np.array([[0, -1, 3], [2**40, 1, -7]], np.int64), 4, -1),
        (np.array([[0, 60000, 2]], np.uint16), 3, None),
        (np.array([[True, False, True]]), 2, None),
        (np.array([[0.0, 1.0, 5.0]]), 2, None),
        (np.zeros((0, 3), np.int64), 2, 0),
    ]
    for labels, num_classes, ignore in cases:
        counted = label_counts(labels, num_classes, ignore)
        assert counted.pixels.tolist() == _unique_counts(labels, num_classes, ignore).tolist(), labels
        flat = labels.ravel()
        assert counted.ignored == int(np.count_nonzero(flat == ignore)) if ignore is not None else counted.ignored == 0
        outside = sorted({v for v in flat.tolist() if not 0 <= v < num_classes and v != ignore})
        assert counted.outside.tolist() == outside, labels


def test_image_class_pixel_counts_are_class_pixel_counts_per_image(monkeypatch):
    import segdash.data.labels as labels_module
    from segdash.data.labels import image_class_pixel_counts

    rng = np.random.default_rng(2)
    masks = rng.integers(-2, 7, (9, 5, 6))
    monkeypatch.setattr(labels_module, "_BLOCK_PIXELS", 61)  # blocks of two images
    for ignore in (None, 3, 255):
        got = image_class_pixel_counts(masks, 5, ignore)
        assert got.shape == (9, 5) and got.dtype == np.int64
        assert got.tolist() == [class_pixel_counts(m, 5, ignore).tolist() for m in masks]


def test_one_key_value_parser_for_the_cli_and_the_dashboard():
    import pytest

    from segdash.data.options import parse_option_text, parse_options
    from segdash.errors import SegdashError

    assert parse_options([" classes = c.csv", "ignore-index=0", "classes=d.csv"]) == {"classes": "d.csv",
                                                                                     "ignore_index": "0"}
    assert parse_option_text("label_map=cityscapes-19,\n seed = 1,, ") == (("label_map", "cityscapes-19"),
                                                                          ("seed", "1"))
    for bad in ("novalue", "=x", " = x"):
        with pytest.raises(SegdashError, match="KEY=VALUE"):
            parse_options([bad])
        with pytest.raises(SegdashError, match="KEY=VALUE"):
            parse_option_text(f"a=1, {bad}")


def test_one_default_palette_and_one_colour_parser():
    from segdash.data.formats.colors import default_colors, parse_color, voc_colormap
    from segdash.viz.palette import as_rgb, default_palette, palette_for

    assert default_palette(40) == list(default_colors(40)) and len(set(default_colors(300))) == 300
    assert palette_for(["a", "b"], None) == list(default_colors(2))  # a model without colours: the same palette
    assert voc_colormap(3) == ((0, 0, 0), (128, 0, 0), (0, 128, 0))  # VOC keeps its own colours
    for text, rgb in (("#ff8000", (255, 128, 0)), ("ff8000", (255, 128, 0)), ("#f80", (255, 136, 0)),
                      ("255 128 0", (255, 128, 0)), ("(255, 128, 0)", (255, 128, 0))):
        assert parse_color(text) == rgb and as_rgb(text) == rgb
    assert parse_color("bed") is None and parse_color("123456") is None and parse_color("256 0 0") is None
