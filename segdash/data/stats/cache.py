"""The statistics cache: one JSON file per dataset state in ``cache_dir("stats")``.

The key (``segdash.cachekey.cache_key``) is the dataset's identity: its type, name, classes, ignore
index and simple options, and its content: every sample's id and the ``file_stamp`` of its image and
mask (size, modification time and a hash of the file's content, see ``segdash.cachekey``) for
file-based datasets, or the dataset's own ``fingerprint(split)`` when it has one. A file rewritten
with other bytes misses the cache even when its size and times were kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from segdash.cachekey import cache_key, file_stamp
from segdash.data.base import IndexedDataset, SegDataset
from segdash.data.stats.result import ClassStats
from segdash.fsutil import atomic_write_json, cache_dir

#: Bump when the statistics change meaning: old cache files are then ignored.
STATS_VERSION = 2


def _simple(value):
    """A JSON-ready copy of small option values, or None for anything else.

    A path to a file (a classes file) stands for its content: its path and ``file_stamp``.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return [str(value), file_stamp(value)] if value.is_file() else str(value)
    if isinstance(value, (tuple, list)) and len(value) <= 64:
        items = [_simple(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value)) else None
    return None


def _file(path: Path | None) -> list | None:
    return None if path is None else [str(path), file_stamp(path)]


def identity(ds: SegDataset, split: str, extended: bool = True) -> dict | None:
    """What the statistics depend on, or None when the dataset cannot say (then no caching).

    Type, name, classes, ignore index and simple option attributes, plus either
    the dataset's ``fingerprint(split)`` or, for ``IndexedDataset``, every
    sample's id and the stamps of its files.
    """
    options = {k: _simple(v) for k, v in sorted(vars(ds).items()) if not k.startswith("_")}
    found = {
        "extended": extended,
        "type": f"{type(ds).__module__}.{type(ds).__qualname__}",
        "name": ds.name,
        "split": split,
        "classes": list(ds.classes),
        "ignore_index": ds.ignore_index,
        "options": {k: v for k, v in options.items() if v is not None},
    }
    fingerprint = getattr(ds, "fingerprint", None)
    if callable(fingerprint):
        found["content"] = fingerprint(split)
    elif isinstance(ds, IndexedDataset):
        found["content"] = [[e.sample_id, _file(e.image), _file(e.mask)] for e in ds.index[split]]
    else:
        return None
    return found


def cache_file(ds: SegDataset, split: str, found: dict | None = None) -> Path | None:
    """The cache file for this dataset state (None when it cannot be identified)."""
    found = found if found is not None else identity(ds, split)
    if found is None:
        return None
    key = cache_key("stats", STATS_VERSION, found)
    return cache_dir("stats") / f"{ds.name}-{split}-{key}.json".replace(os.sep, "_")


def read_cached(path: Path | None) -> ClassStats | None:
    """The statistics kept in ``path``, or None when there are none or the file is damaged."""
    if path is None or not path.is_file():
        return None
    try:
        return ClassStats._from_cache(json.loads(path.read_text())["stats"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged: recomputed and written over


def write_cached(path: Path, found: dict, stats: ClassStats) -> None:
    # The file name carries the identity's key; the identity itself can be long (every file).
    summary = {"type": found["type"], "options": found["options"]}
    atomic_write_json(path, {**summary, "stats": stats._to_cache()})
