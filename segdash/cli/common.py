"""Arguments and output shared by several commands."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from segdash.progress import Progress


def show_progress() -> bool:
    """Progress bars only on a terminal: in a log file or a pipe their redraws are fragments."""
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(description: str, total: int = 0, unit: str = "img", shown: bool = True) -> Iterator[Progress]:
    """A tqdm bar on stderr, fed through the one progress callback: ``progress(done, total, what)`` moves
    it to ``done`` of ``total`` (which may change, e.g. to this process's share under torchrun) and shows
    ``what`` after ``description``. Drawn only on a terminal and when ``shown``; gone once done.

        with progress_bar("stats train", total=len(ids), shown=is_main(info)) as progress:
            class_statistics(ds, "train", progress=progress)
    """
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit=unit, file=sys.stderr, leave=False,
              disable=not (shown and show_progress())) as bar:

        def progress(done: int, total: int, what: str = "") -> None:
            bar.total = total
            if what:
                bar.set_description(f"{description}: {what}")
            bar.update(done - bar.n)

        yield progress


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
    """The ``-o KEY=VALUE`` options (``segdash.data.options.parse_options``)."""
    from segdash.data.options import parse_options

    return parse_options(args.option)


def open_dataset_from_args(args: argparse.Namespace):
    from segdash.data import open_dataset

    return open_dataset(args.dataset, format=args.format, **dataset_options(args))


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
