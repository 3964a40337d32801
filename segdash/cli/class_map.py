"""``--class-map``: scoring a model whose classes differ from the dataset's (shared by evaluate and compare).

Without the flag, a model of other classes is mapped by name (``segdash.models.class_mapping``); with it,
by the file's rows. The mapping that ran and the pixels predicted as unmapped classes are printed and
go into the JSON (``class_mapping``).
"""

from __future__ import annotations

import argparse
import sys


def add_class_map_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--class-map", metavar="FILE",
                        help="CSV rows 'model class, dataset class' (or 'ignore') for a model of other classes; "
                             "without it such a model is mapped by name (case and punctuation ignored, any "
                             "';'-separated synonym counts)")  # fmt: skip


def for_dataset(predictor, dataset, args: argparse.Namespace, label: str = ""):
    """The predictor in the dataset's classes (itself when they are the same), the mapping said on stderr."""
    from segdash.infer.mapped import for_dataset as mapped_for_dataset
    from segdash.infer.mapped import mapping_notes

    for note in mapping_notes(predictor.meta, dataset, args.class_map):
        print(f"note: {label}{note}", file=sys.stderr)
    return mapped_for_dataset(predictor, dataset, args.class_map)


def report(predictor, doc: dict, label: str = "") -> None:
    """The mapping and its unmapped pixels into ``doc["class_mapping"]`` and on stderr (nothing without one)."""
    from segdash.infer.mapped import mapping_summary, summary_line

    summary = mapping_summary(predictor)
    if summary is not None:
        doc["class_mapping"] = summary
        print(f"note: {label}{summary_line(summary)}", file=sys.stderr)
