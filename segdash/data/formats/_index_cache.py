"""A folder's scan (which files are images, by stem, with readable headers) kept on disk between runs.

    images = cached_readable_by_stem(split_dir / "images")          # {stem: path}, as readable_by_stem
    found = cached_scan(folder, "labelme", {".json"}, scan)         # any JSON-ready scan of a folder

Opening a folder of 20,000 images reads 20,000 file headers; the second time the scan is read back
from ``cache_dir("formats", "index")``. The key is the folder's path and every name in it with its
``segdash.cachekey.file_stamp`` (size, modification time and a hash of its first and last 4 KiB, or
of all of it when small: far cheaper than decoding a header): adding, removing, renaming or rewriting
a file scans the folder again, even when the new bytes kept the old size and times.
The warnings of the scan (unreadable files, shared stems) are kept and given again on every open.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from segdash.cachekey import cache_key, file_stamp
from segdash.data.formats.scan import readable_by_stem
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.imageio import IMAGE_EXTENSIONS
from segdash.fsutil import atomic_write_json, cache_dir

#: Bump when what a scan keeps changes: older files are then ignored.
INDEX_CACHE_VERSION = 2


def folder_key(folder: Path, kind: str, extensions: Iterable[str]) -> str | None:
    """The key of a folder's scan: its path and every name in it with its stamp (the files the scan
    reads are known by content too: one small read each, see ``segdash.cachekey``); None when the
    folder cannot be read (then it is not cached and the scan reports the problem)."""
    wanted = tuple(sorted({e.lower() for e in extensions}))
    listing = []
    try:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                st = entry.stat()
                read = entry.name.lower().endswith(wanted)
                listing.append([entry.name, file_stamp(entry.path, st) if read else [st.st_size, st.st_mtime_ns]])
    except OSError:
        return None
    return cache_key("folder-index", INDEX_CACHE_VERSION, str(folder.resolve()), kind, wanted, listing)


def cached_readable_by_stem(folder: Path, kind: str = "image",
                            extensions: Iterable[str] = IMAGE_EXTENSIONS) -> dict[str, Path]:
    """``readable_by_stem(folder, kind, extensions)``, read back from disk while the folder is unchanged."""
    folder, extensions = Path(folder), tuple(extensions)

    def scan() -> list[list[str]]:
        return [[stem, path.name] for stem, path in readable_by_stem(folder, kind, extensions).items()]

    return {stem: folder / name for stem, name in cached_scan(folder, kind, extensions, scan)}


def cached_scan(folder: Path, kind: str, extensions: Iterable[str], scan: Callable[[], Any]) -> Any:
    """``scan()`` (a JSON-ready value) read back from disk while ``folder`` is unchanged (``folder_key``),
    with the warnings it gave given again. ``kind`` tells apart two scans of one folder: LabelMe's scan
    of its JSON files ("labelme") reads more than the headers ``cached_readable_by_stem`` reads."""
    key = folder_key(Path(folder), kind, tuple(extensions))
    cache_file = cache_dir("formats", "index") / f"{key}.json" if key is not None else None
    cached = _read(cache_file) if cache_file is not None else None
    if cached is not None:
        for message in cached["warnings"]:
            warnings.warn(message, DatasetWarning, stacklevel=3)
        return cached["files"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = scan()
    for warning in caught:  # given again to the caller, as the scan gave them
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if cache_file is not None:
        atomic_write_json(cache_file, {"files": found, "warnings": [str(w.message) for w in caught]})
    return found


def _read(cache_file: Path) -> dict | None:
    """The cached scan, or None when there is none or it is damaged (then the folder is scanned again)."""
    if not cache_file.is_file():
        return None
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if "files" in cached and isinstance(cached.get("warnings"), list):
            return cached
    except (OSError, ValueError, AttributeError):
        pass
    return None
