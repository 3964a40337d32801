"""The folder format's scan is kept on disk: a second open reads no header, a changed folder is scanned again."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

import segdash.data.formats._index_cache as index_cache
from segdash.data import open_dataset


def _write_pair(root, stem: str, value: int = 1) -> None:
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 2:6] = value
    Image.fromarray(np.full((6, 8, 3), 40 * value, np.uint8)).save(root / "images" / f"{stem}.png")
    Image.fromarray(mask, mode="L").save(root / "masks" / f"{stem}.png")


@pytest.fixture()
def scans(monkeypatch):
    """The folders actually scanned (headers read), in order."""
    seen = []
    real = index_cache.readable_by_stem

    def counting(folder, *args, **kwargs):
        seen.append(folder.name)
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(index_cache, "readable_by_stem", counting)
    return seen


def _open(root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(str(root), format="folder", num_classes=2, val_fraction=0, test_fraction=0)
    return ds, [str(w.message) for w in caught]


def test_second_open_reads_no_header_and_a_change_is_seen(tmp_path, scans):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(5):
        _write_pair(root, f"s{i}")
    first, _ = _open(root)
    assert scans == ["images", "masks"]
    second, _ = _open(root)
    assert scans == ["images", "masks"]  # nothing read again
    assert second.ids("train") == first.ids("train") == [f"s{i}" for i in range(5)]
    assert second.entry("train", "s3").mask == root / "masks" / "s3.png"

    _write_pair(root, "s9")  # a new pair: both folders change
    third, _ = _open(root)
    assert scans[2:] == ["images", "masks"] and "s9" in third.ids("train")
    (root / "masks" / "s0.png").unlink()  # a removed mask: only that folder is scanned again
    fourth, messages = _open(root)
    assert scans[4:] == ["masks"] and "s0" not in fourth.ids("train")
    assert any("without a mask" in m and "s0" in m for m in messages)


def test_scan_warnings_are_given_again_from_the_cache(tmp_path, scans):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        _write_pair(root, f"s{i}")
    (root / "images" / "broken.png").write_bytes(b"\x89PNG not really")
    _, first = _open(root)
    _, second = _open(root)
    assert scans == ["images", "masks"]
    unreadable = [m for m in first if "unreadable" in m]
    assert unreadable and [m for m in second if "unreadable" in m] == unreadable


def test_a_rewritten_file_is_scanned_again(tmp_path, scans):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        _write_pair(root, f"s{i}")
    _open(root)
    (root / "masks" / "s1.png").write_bytes(b"\x89PNG garbage, not a mask")  # same name, new content
    ds, messages = _open(root)
    assert scans == ["images", "masks", "masks"] and "s1" not in ds.ids("train")
    assert any("unreadable" in m and "s1.png" in m for m in messages)
