"""Name -> adapter lookup for on-disk formats and built-in datasets.

Formats and built-ins register themselves with a decorator (timm's habit), so a
new one is one file plus an import in ``segdash/data/__init__.py``; every
registered entry is exercised by the tests that parametrise over the registry.

>>> [f.name for f in list_formats()]
>>> get_format("voc").factory(root)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segdash.errors import SegdashError


@dataclass(frozen=True)
class RegistryEntry:
    """One registered format or built-in: its name, the factory that opens it, and a one-line summary.

    A format's factory takes ``(root, **options)``; a built-in's takes ``(**options)``.
    """

    name: str
    factory: Callable[..., Any]
    summary: str
    #: options ``open_dataset`` handles for every entry of its kind (``class_map`` for formats)
    shared_options: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def options_help(self) -> dict[str, str]:
        """``{option: help}`` for the ``-o KEY=VALUE`` options it takes (empty when none)."""
        return {**(getattr(self.factory, "options_help", None) or {}), **self.shared_options}


#: Options every on-disk format takes, applied by ``open_dataset`` after the format has opened the folder.
FORMAT_OPTIONS = {
    "class_map": "CSV of 'source class,target class' rows (target may be 'ignore'): merge classes",
}


#: format name -> entry
FORMATS: dict[str, RegistryEntry] = {}
#: built-in name -> entry
BUILTINS: dict[str, RegistryEntry] = {}

DEFAULT_DATASET = "brain-mri"


def register_format(name: str, summary: str):
    """Class decorator: register ``factory`` as format ``name``; a FormatDataset learns its name from it."""

    def deco(factory):
        if hasattr(factory, "format_name"):
            factory.format_name = name
        FORMATS[name] = RegistryEntry(name, factory, summary, FORMAT_OPTIONS)
        return factory

    return deco


def register_builtin(name: str, summary: str):
    def deco(factory):
        BUILTINS[name] = RegistryEntry(name, factory, summary)
        return factory

    return deco


def list_formats() -> list[RegistryEntry]:
    """Every registered on-disk format, sorted by name."""
    return [FORMATS[name] for name in sorted(FORMATS)]


def list_builtins() -> list[RegistryEntry]:
    """Every registered built-in dataset, the default first, then by name."""
    return [BUILTINS[name] for name in sorted(BUILTINS, key=lambda n: (n != DEFAULT_DATASET, n))]


def is_builtin(name: str) -> bool:
    return name in BUILTINS


def get_format(name: str) -> RegistryEntry:
    """The entry of format ``name``; a SegdashError listing the valid ones when there is none."""
    if name not in FORMATS:
        raise SegdashError(f"unknown format {name!r}; valid formats: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def get_builtin(name: str) -> RegistryEntry:
    """The entry of built-in ``name``; a SegdashError listing the valid ones when there is none."""
    if name not in BUILTINS:
        raise SegdashError(f"unknown built-in dataset {name!r}; valid built-ins: {', '.join(sorted(BUILTINS))}")
    return BUILTINS[name]


def open_dataset(name_or_path: str | Path, format: str | None = None, **options):
    """Open a built-in dataset by name, or a folder on disk in the given format.

    >>> open_dataset("brain-mri")
    >>> open_dataset("/data/pets", format="oxford-pets")
    """
    key = str(name_or_path)
    if format is None and is_builtin(key):
        return get_builtin(key).factory(**options)
    path = Path(key).expanduser()
    if format is None:
        if not path.exists():
            raise SegdashError(
                f"{key!r} is neither a built-in dataset ({', '.join(sorted(BUILTINS))}) nor an existing path"
            )
        raise SegdashError(f"{key!r} is a path: say which format it is with --format ({', '.join(sorted(FORMATS))})")
    entry = get_format(format)
    if not path.exists():
        raise SegdashError(f"dataset path {str(path)!r} does not exist")
    if not path.is_dir():
        raise SegdashError(f"dataset path {str(path)!r} is not a folder")
    class_map = options.pop("class_map", None)
    dataset = entry.factory(path, **options)
    if class_map not in (None, ""):
        from segdash.data.formats.class_map import merge_classes

        merge_classes(dataset, class_map)
    return dataset
