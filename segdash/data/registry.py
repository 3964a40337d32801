"""Name -> adapter lookup for on-disk formats and built-in datasets.

Formats and built-ins register themselves with a decorator (timm's habit), so a
new one is one file plus an import in ``segdash/data/__init__.py``; every
registered entry is exercised by the tests that parametrise over the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from segdash.errors import SegdashError

#: format name -> (adapter factory taking (root, **options), one-line summary)
FORMATS: dict[str, tuple[Callable[..., Any], str]] = {}
#: built-in name -> (adapter factory taking (**options), one-line summary)
BUILTINS: dict[str, tuple[Callable[..., Any], str]] = {}

DEFAULT_DATASET = "brain-mri"


def register_format(name: str, summary: str):
    def deco(factory):
        FORMATS[name] = (factory, summary)
        return factory

    return deco


def register_builtin(name: str, summary: str):
    def deco(factory):
        BUILTINS[name] = (factory, summary)
        return factory

    return deco


def open_dataset(name_or_path: str | Path, format: str | None = None, **options):
    """Open a built-in dataset by name, or a folder on disk in the given format.

    >>> open_dataset("brain-mri")
    >>> open_dataset("/data/pets", format="oxford-pets")
    """
    key = str(name_or_path)
    if format is None and key in BUILTINS:
        factory, _ = BUILTINS[key]
        return factory(**options)
    path = Path(key).expanduser()
    if format is None:
        if not path.exists():
            raise SegdashError(
                f"{key!r} is neither a built-in dataset ({', '.join(sorted(BUILTINS))}) nor an existing path"
            )
        raise SegdashError(f"{key!r} is a path: say which format it is with --format ({', '.join(sorted(FORMATS))})")
    if format not in FORMATS:
        raise SegdashError(f"unknown format {format!r}; valid formats: {', '.join(sorted(FORMATS))}")
    if not path.exists():
        raise SegdashError(f"dataset path {str(path)!r} does not exist")
    if not path.is_dir():
        raise SegdashError(f"dataset path {str(path)!r} is not a folder")
    factory, _ = FORMATS[format]
    return factory(path, **options)
