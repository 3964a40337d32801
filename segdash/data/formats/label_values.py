"""The label values masks hold, read once and cached (when no classes file says how many classes).

    values = scan_label_values(mask_paths, read_mask, ignore_index=255)   # {0, 1, 4, 255}

A label at or above ``MAX_CLASSES`` (other than the ignore index) is refused here, naming the mask
that holds it, before anything allocates per class: without a classes file the class count is the
largest label plus one, and a 16-bit mask holding 60000 would otherwise ask for a 60001 x 60001
co-occurrence table (27 GiB).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segdash.cachekey import cache_key
from segdash.data.options import MAX_CLASSES
from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_json, cache_dir

#: Bump when what the cache keeps changes: older files are then ignored.
LABEL_VALUES_VERSION = 2


def scan_label_values(paths: Sequence[Path], read_labels: Callable[[Path], np.ndarray],
                      ignore_index: int | None = None) -> set[int]:
    """The set of label values over all masks, read once and cached by the masks' stamps
    (``segdash.cachekey``: size, time and content).

    Raises a ``SegdashError`` naming the first mask that holds a label of ``MAX_CLASSES`` or more other
    than ``ignore_index``: no class table is that long.
    """
    paths = [Path(p) for p in paths]
    key = cache_key("label-values", LABEL_VALUES_VERSION, files=[p.resolve() for p in paths])
    cache_file = cache_dir("formats", "label-values") / f"{key}.json"
    found = _read(cache_file)
    if found is None:
        values: set[int] = set()
        too_large: list = []  # [label, mask] of the first mask holding each label beyond the bound
        for path in paths:
            here = {int(v) for v in np.unique(read_labels(path))}
            too_large += [[v, str(path)] for v in sorted(here - values) if v >= MAX_CLASSES]
            values |= here
        found = {"values": sorted(values), "too_large": too_large}
        atomic_write_json(cache_file, found)
    _check_bound(found["too_large"], ignore_index)
    return set(found["values"])


def _check_bound(too_large: list, ignore_index: int | None) -> None:
    for value, path in too_large:
        if value != ignore_index:
            mask = Path(path)
            raise SegdashError(
                f"mask {mask.parent.name}/{mask.name} holds label {value}; without a classes file every label is a "
                f"class, and segdash handles at most {MAX_CLASSES}: give a classes file (-o classes=FILE) or "
                f"-o num_classes=N, or -o ignore_index={value} if it marks pixels to ignore"
            )


def _read(cache_file: Path) -> dict | None:
    """The cached scan, or None when there is none or it is damaged (then the masks are read again)."""
    try:
        found = json.loads(cache_file.read_text())
        if isinstance(found.get("values"), list) and isinstance(found.get("too_large"), list):
            return found
    except (OSError, ValueError, AttributeError):
        pass
    return None
