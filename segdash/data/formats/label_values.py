"""The label values masks hold, read once and cached (when no classes file says how many classes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segdash.fsutil import atomic_write_json, cache_dir


def scan_label_values(paths: Sequence[Path], read_labels: Callable[[Path], np.ndarray]) -> set[int]:
    """The set of label values over all masks, read once and cached by file size and mtime.

    Used when no classes file says how many classes there are.
    """
    fingerprint = hashlib.sha1()
    for path in paths:
        stat = path.stat()
        fingerprint.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    cache_file = cache_dir("formats", "label-values") / f"{fingerprint.hexdigest()}.json"
    if cache_file.is_file():
        try:
            return set(json.loads(cache_file.read_text())["values"])
        except (ValueError, KeyError):
            pass
    values: set[int] = set()
    for path in paths:
        values.update(int(v) for v in np.unique(read_labels(path)))
    atomic_write_json(cache_file, {"values": sorted(values)})
    return values
