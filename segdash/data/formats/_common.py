"""Old home of the format helpers, now split by concern (scan, skipping, colors, classes, split_lists,
label_values). Kept only for the modules that still import from here: formats/folder.py,
data/stats.py and infer/evaluate.py; delete it once they import from the new modules."""

from segdash.data.formats.classes import ClassTable, find_classes_file, read_classes_file, rgb_to_labels
from segdash.data.formats.colors import default_colors
from segdash.data.formats.label_values import scan_label_values
from segdash.data.formats.scan import readable_by_stem
from segdash.data.formats.skipping import DatasetWarning, warn_skipped, warn_skipped_samples
from segdash.data.formats.split_lists import indexed_split_dict

__all__ = [
    "ClassTable",
    "DatasetWarning",
    "default_colors",
    "find_classes_file",
    "indexed_split_dict",
    "read_classes_file",
    "readable_by_stem",
    "rgb_to_labels",
    "scan_label_values",
    "warn_skipped",
    "warn_skipped_samples",
]
