"""A folder scan of any kind kept on disk between runs, keyed as the folder format's scan is.

    found = cached_folder_scan(folder, "labelme", {".json"}, lambda: scan(folder))   # JSON-ready result

The key is ``_index_cache.folder_key``: the folder's path and every name in it with its size and
modification time, so adding, removing or rewriting a file scans the folder again. The warnings the
scan gave are kept and given again on every open. ``cached_readable_by_stem`` (the image scan) keeps
its own files; a format whose scan reads more than headers (LabelMe's JSON files) uses this one.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from segdash.data.formats._index_cache import folder_key
from segdash.data.formats.skipping import DatasetWarning
from segdash.fsutil import atomic_write_json, cache_dir


def cached_folder_scan(folder: Path, kind: str, extensions: Iterable[str], scan: Callable[[], object]) -> object:
    """``scan()`` (a JSON-ready value), read back from disk while ``folder`` is unchanged.

    ``kind`` and ``extensions`` are part of the key: two scans of one folder do not share a file.
    """
    key = folder_key(Path(folder), f"scan:{kind}", tuple(extensions))
    cache_file = cache_dir("formats", "scans") / f"{key}.json" if key is not None else None
    cached = _read(cache_file) if cache_file is not None else None
    if cached is not None:
        for message in cached["warnings"]:
            warnings.warn(message, DatasetWarning, stacklevel=3)
        return cached["result"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = scan()
    for warning in caught:  # given again to the caller, as the scan gave them
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if cache_file is not None:
        atomic_write_json(cache_file, {"result": result, "warnings": [str(w.message) for w in caught]})
    return result


def _read(cache_file: Path) -> dict | None:
    """The cached scan, or None when there is none or it is damaged (then the folder is scanned again)."""
    if not cache_file.is_file():
        return None
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and "result" in cached and isinstance(cached.get("warnings"), list):
            return cached
    except (OSError, ValueError):
        pass
    return None
