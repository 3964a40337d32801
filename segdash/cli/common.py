"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
import sys

from segdash.errors import SegdashError


def show_progress() -> bool:
    """Progress bars only on a terminal: in a log file or a pipe their redraws are fragments."""
    return sys.stderr.isatty()


def add_dataset_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset",
        help="a built-in dataset name (see 'segdash datasets') or a folder path given with --format",
    )
    parser.add_argument("--format", "-f", help="the folder's layout when DATASET is a path (see 'segdash datasets')")
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dataset option, repeatable; 'segdash datasets' lists each format's and built-in's options "
        "(e.g. -o label_map=cityscapes-19 for kitti)",
    )
    add_classes_outside_arg(parser)


def add_classes_outside_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classes-outside", action="store_true",
                        help="let -o options name files (classes=FILE and the like) outside the dataset folder "
                        "(refused otherwise)")


def dataset_options(args: argparse.Namespace) -> dict[str, str]:
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SegdashError(f"--option expects KEY=VALUE, got {item!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def open_dataset_from_args(args: argparse.Namespace):
    from segdash.data import open_dataset

    return open_dataset(args.dataset, format=args.format, **dataset_options(args))


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
