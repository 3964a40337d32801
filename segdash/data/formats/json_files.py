"""Annotation JSON files (COCO, LabelMe, Mapillary's config) read with their size checked before parsing.

    data = read_json(path, "COCO annotation file")

A JSON file is parsed whole, and its objects take several times the file's size in memory, so
the file's size is checked first against ``SEGDASH_MAX_JSON_MB`` (1024 MB by default: COCO's
``instances_train2017.json`` is 448 MB; 64 MB in public mode). Errors say where the file is broken
(line and column), never what it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from segdash.errors import SegdashError
from segdash.public import limit

JSON_LIMIT_ENV = "SEGDASH_MAX_JSON_MB"


def max_json_bytes() -> int | None:
    """The largest annotation JSON read (``SEGDASH_MAX_JSON_MB``), in bytes; None when unlimited."""
    value = limit(JSON_LIMIT_ENV, public=64, local=1024)
    return None if value is None else int(value * 2**20)


def read_json(path: Path, what: str, max_bytes: int | None = None) -> object:
    """The parsed content of ``path``; ``what`` names it in errors ("COCO annotation file").

    ``max_bytes`` (default ``max_json_bytes()``) bounds the file's size before anything is read.
    """
    path = Path(path)
    bound = max_bytes if max_bytes is not None else max_json_bytes()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SegdashError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if bound is not None and size > bound:
        raise SegdashError(
            f"{what} {str(path)!r} is {size / 2**20:,.1f} MB, larger than the limit of {bound / 2**20:,.0f} MB for "
            f"a JSON file; if you trust it, raise the limit with the environment variable {JSON_LIMIT_ENV}"
        )
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:  # its message gives a position, never the text
        raise SegdashError(
            f"{what} {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise SegdashError(f"{what} {str(path)!r} is not UTF-8 text") from None
    except RecursionError:
        raise SegdashError(f"{what} {str(path)!r} is nested too deeply to be an annotation file") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise SegdashError(f"{what} {str(path)!r} cannot be read ({type(exc).__name__})") from None
    except OSError as exc:
        raise SegdashError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None


def field(obj: object, key: str, kind: type | tuple[type, ...], where: str, default: object = ...) -> object:
    """``obj[key]`` checked to be of ``kind``; a ``SegdashError`` saying ``where`` (never the value) otherwise.

    Without ``default`` the key is required. ``bool`` never passes for ``int`` (JSON true is not a number).
    """
    if not isinstance(obj, dict):
        raise SegdashError(f"{where}: expected a JSON object")
    if key not in obj:
        if default is ...:
            raise SegdashError(f"{where}: the field {key!r} is missing")
        return default
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise SegdashError(f"{where}: the field {key!r} has the wrong type")
    if not isinstance(value, kinds):
        raise SegdashError(f"{where}: the field {key!r} has the wrong type")
    return value
