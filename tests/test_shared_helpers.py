"""Small shared helpers: NaN -> null for JSON, and pixels per class."""

import json
import math
from pathlib import Path

import numpy as np

from segdash.data.labels import class_pixel_counts
from segdash.jsonsafe import finite_or_none, json_number, json_tree


def test_finite_or_none():
    assert [finite_or_none(v) for v in (None, math.nan, math.inf, -np.inf, np.float32(0.5), 3)] == [
        None, None, None, None, 0.5, 3.0]  # fmt: skip
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
