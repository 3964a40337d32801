"""Datasets: on-disk formats, built-in datasets, and class statistics."""

from segdash.data import builtin as _builtin  # noqa: F401,E402

# Importing the modules fills the registries.
from segdash.data import formats as _formats  # noqa: F401,E402
from segdash.data.base import Entry, IndexedDataset, Normalization, Sample, SegDataset
from segdash.data.formats.skipping import DatasetWarning  # noqa: E402  (skipped files while scanning a folder)
from segdash.data.registry import (
    BUILTINS,
    DEFAULT_DATASET,
    FORMATS,
    RegistryEntry,
    get_builtin,
    get_format,
    list_builtins,
    list_formats,
    open_dataset,
    register_builtin,
    register_format,
)

__all__ = [
    "BUILTINS",
    "DEFAULT_DATASET",
    "DatasetWarning",
    "FORMATS",
    "Entry",
    "IndexedDataset",
    "Normalization",
    "Sample",
    "SegDataset",
    "RegistryEntry",
    "get_builtin",
    "get_format",
    "list_builtins",
    "list_formats",
    "open_dataset",
    "register_builtin",
    "register_format",
]
