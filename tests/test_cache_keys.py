"""Cache keys know files by content: a file rewritten with its old size and times misses every cache.

``cp -p``, ``touch -r``, rsync and tar put the old stamps on new bytes; here ``os.utime`` does it.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image

from segdash import cachekey
from segdash.cachekey import BLOCK_BYTES, FULL_HASH_BYTES, cache_key, content_digest, file_stamp
from segdash.data import open_dataset
from segdash.data.stats import class_statistics


def _rewrite_keeping_stamps(path, data: bytes) -> None:
    """Write ``data`` over ``path`` (same length), then set its access and modification times back."""
    before = os.stat(path)
    assert len(data) == before.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _folder(root, masks: dict[str, np.ndarray]):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, mask in masks.items():
        Image.fromarray(np.full(mask.shape, 60, np.uint8)).save(root / "images" / f"{name}.png")
        np.save(root / "masks" / f"{name}.npy", mask, allow_pickle=False)
    return root


def _open(root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(str(root), format="folder", val_fraction=0, test_fraction=0)
    return ds, [str(w.message) for w in caught]


MASKS = {
    "a": np.array([[0, 1, 1], [0, 0, 2]], np.uint8),
    "b": np.array([[1, 1, 1], [0, 2, 2]], np.uint8),
    "c": np.array([[0, 0, 0], [0, 0, 1]], np.uint8),
}


def test_a_mask_relabelled_in_place_with_the_old_stamps_gives_the_new_counts(tmp_path):
    root = _folder(tmp_path / "data", MASKS)
    first = class_statistics(_open(root)[0], "train")
    assert first.pixels.tolist() == [9, 6, 3]
    assert class_statistics(_open(root)[0], "train").from_cache  # unchanged: read back
    relabelled = np.where(MASKS["b"] == 1, 2, MASKS["b"]).astype(np.uint8)  # the 1s of b become 2s
    _rewrite_keeping_stamps(root / "masks" / "b.npy", _npy_bytes(relabelled))
    again = class_statistics(_open(root)[0], "train")
    assert not again.from_cache
    assert again.pixels.tolist() == [9, 3, 6]


def test_an_image_replaced_by_corrupt_bytes_with_the_old_stamps_is_skipped(tmp_path):
    root = _folder(tmp_path / "data", MASKS)
    ds, _ = _open(root)
    assert class_statistics(ds, "train").images == 3
    image = root / "images" / "b.png"
    _rewrite_keeping_stamps(image, bytes(os.path.getsize(image)))  # zeros: no PNG any more
    ds, messages = _open(root)
    assert any("unreadable or corrupt image" in m and "b.png" in m for m in messages), messages
    assert ds.ids("train") == ["a", "c"]
    stats = class_statistics(ds, "train")
    assert not stats.from_cache and stats.images == 2 and stats.pixels.tolist() == [8, 3, 1]


def test_a_folder_listing_key_changes_with_content_not_with_reading(tmp_path):
    from segdash.data.formats._index_cache import folder_key
    from segdash.data.imageio import IMAGE_EXTENSIONS

    root = _folder(tmp_path / "data", MASKS)
    key = folder_key(root / "masks", "mask", IMAGE_EXTENSIONS)
    assert folder_key(root / "masks", "mask", IMAGE_EXTENSIONS) == key
    _rewrite_keeping_stamps(root / "masks" / "a.npy", _npy_bytes(MASKS["a"][::-1].copy()))
    assert folder_key(root / "masks", "mask", IMAGE_EXTENSIONS) != key


def test_small_files_are_hashed_whole_large_ones_by_their_first_and_last_blocks(tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(bytes(FULL_HASH_BYTES))
    digest = content_digest(small)
    _rewrite_keeping_stamps(small, bytes(FULL_HASH_BYTES // 2) + b"\1" + bytes(FULL_HASH_BYTES // 2 - 1))
    assert content_digest(small) != digest  # a change anywhere in a small file

    large = tmp_path / "large.bin"
    size = 3 * FULL_HASH_BYTES
    large.write_bytes(bytes(size))
    digest = content_digest(large)
    for offset, seen in ((0, True), (size - 1, True), (BLOCK_BYTES - 1, True), (size // 2, False)):
        data = bytearray(size)
        data[offset] = 7
        _rewrite_keeping_stamps(large, bytes(data))
        assert (content_digest(large) != digest) is seen, offset
    whole = content_digest(large, whole=True)
    data = bytearray(size)
    data[size // 2] = 9
    _rewrite_keeping_stamps(large, bytes(data))
    assert content_digest(large, whole=True) != whole  # whole=True sees every byte (exact weights)


def test_a_large_file_costs_two_block_reads(tmp_path, monkeypatch):
    """The content check of a big file reads its first and last block, never the file."""
    path = tmp_path / "big.npy"
    with open(path, "wb") as f:
        f.truncate(256 * 2**20)  # 256 MiB (sparse)
    read = []
    real_read, real_pread = os.read, os.pread

    def counting_read(fd, size):
        data = real_read(fd, size)
        read.append(len(data))
        return data

    def counting_pread(fd, size, offset):
        data = real_pread(fd, size, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(cachekey.os, "read", counting_read)
    monkeypatch.setattr(cachekey.os, "pread", counting_pread)
    assert file_stamp(path)[2] is not None
    assert read == [BLOCK_BYTES, BLOCK_BYTES]


def test_cache_key_parts_bytes_and_missing_files(tmp_path):
    assert cache_key("x", 1, {"a": 1, "b": [2, 3]}) == cache_key("x", 1, {"b": [2, 3], "a": 1})
    assert cache_key("x", 1, "a") != cache_key("x", 2, "a") != cache_key("y", 1, "a")
    assert cache_key("x", 1, b"weights") != cache_key("x", 1, b"weightz")
    assert cache_key("x", 1, b"ab", b"c") != cache_key("x", 1, b"a", b"bc")  # bytes parts keep their bounds
    missing = tmp_path / "nope.bin"
    key = cache_key("x", 1, files=[missing])
    assert file_stamp(missing) is None and key == cache_key("x", 1, files=[missing])
    missing.write_bytes(b"now here")
    assert cache_key("x", 1, files=[missing]) != key
    assert file_stamp(tmp_path)[2] is None  # a folder has a stamp but no content digest


def test_builtin_statistics_are_read_back():
    """A built-in's statistics key is the same on the next open (the cache is used)."""
    first = class_statistics(open_dataset("street-synth", count="6"), "train")
    again = class_statistics(open_dataset("street-synth", count="6"), "train")
    assert again.from_cache and again.pixels.tolist() == first.pixels.tolist()
