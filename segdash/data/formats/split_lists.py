"""Splits of an on-disk format: split list files, val/test shares, and ids -> entries per split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from segdash.data.base import Entry
from segdash.data.options import as_fraction
from segdash.data.splits import seeded_split
from segdash.errors import SegdashError

#: A split list names at most a few hundred thousand ids; a larger file is not one.
MAX_LIST_FILE_BYTES = 16 * 1024 * 1024


def read_split_list(path: Path) -> list[str]:
    """Ids from a split list (VOC's ImageSets, Oxford's trainval.txt): the first token of each
    non-empty, non-comment line. A file too large or not UTF-8 is one clear error."""
    if path.stat().st_size > MAX_LIST_FILE_BYTES:
        raise SegdashError(f"split list {str(path)!r} is larger than {MAX_LIST_FILE_BYTES // 2**20} MB; is it one?")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SegdashError(f"split list {str(path)!r} is not UTF-8 text") from None
    return [line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def indexed_split_dict(index: Mapping[str, list], order: Sequence[str] = ("train", "val", "test")) -> dict[str, list]:
    """Splits in the conventional order first, then any others by name; empty splits dropped."""
    names = [s for s in order if s in index] + sorted(s for s in index if s not in order)
    return {s: index[s] for s in names if index[s]}


def val_test_fractions(val_fraction: object, test_fraction: object) -> tuple[float, float]:
    """The ``-o val_fraction`` and ``-o test_fraction`` options as shares, checked to leave some for train."""
    val, test = as_fraction("val_fraction", val_fraction), as_fraction("test_fraction", test_fraction)
    if val + test >= 1:
        raise SegdashError("val_fraction + test_fraction must be below 1")
    return val, test


def seeded_index(
    entries: Mapping[str, Entry],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    names: Sequence[str] = ("train", "val", "test"),
    seed: int = 0,
) -> dict[str, list[Entry]]:
    """``{split: [Entry]}``: the entries (by sample id) split by ``seeded_split`` in those shares."""
    parts = seeded_split(entries, fractions, names, seed)
    return {split: [entries[sample_id] for sample_id in ids] for split, ids in parts.items()}
