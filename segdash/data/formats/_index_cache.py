"""A folder's scan (which files are images, by stem, with readable headers) kept on disk between runs.

    images = cached_readable_by_stem(split_dir / "images")          # {stem: path}, as readable_by_stem
    found = cached_scan(folder, "labelme", {".json"}, scan)         # any JSON-ready scan of a folder

Opening a folder of 20,000 images reads 20,000 file headers; the second time the scan is read back
from ``cache_dir("formats", "index")``. The key is the folder's path and every name in it with its
size and modification time (a ``stat`` per file, far cheaper than reading a header): adding, removing,
renaming or rewriting a file scans the folder again.
The warnings of the scan (unreadable files, shared stems) are kept and given again on every open.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from segdash.data.formats.scan import readable_by_stem
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.imageio import IMAGE_EXTENSIONS
from segdash.fsutil import atomic_write_json, cache_dir

#: Bump when what a scan keeps changes: older files are then ignored.
INDEX_CACHE_VERSION = 2


def folder_key(folder: Path, kind: str, extensions: Iterable[str]) -> str | None:
    """A digest of what the scan depends on: the folder's path and, for every name in it, size and
    modification time (one ``stat`` per file, milliseconds for thousands, against a header read each);
    None when the folder cannot be read (then it is not cached and the scan reports the problem)."""
    digest = hashlib.sha256(json.dumps([INDEX_CACHE_VERSION, str(folder.resolve()), kind,
                                        sorted(e.lower() for e in extensions)]).encode())  # fmt: skip
    try:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                stat = entry.stat()
                digest.update(f"{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(errors="surrogateescape"))
    except OSError:
        return None
    return digest.hexdigest()[:32]


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
