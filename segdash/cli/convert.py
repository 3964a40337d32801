"""``segdash convert``: write any dataset segdash reads as the plain ``folder`` layout, for other tools.

    segdash convert /data/coco --format coco --out coco-folder
    segdash convert /data/cityscapes --format cityscapes -o class_map=categories.csv --out cs-7
    segdash convert street-synth --out street-folder --split train --split val

Writes ``OUT/classes.csv`` (index, name, colour) and, per split, ``OUT/<split>/images/`` (the image
files as they are) and ``OUT/<split>/masks/`` (index PNGs: pixel value = class, 255 = ignore), the
labels exactly as segdash reads them (rasterised COCO polygons, Cityscapes' train ids, merged
classes ...). The result opens with ``--format folder``. It is written into a temporary folder that
takes OUT's place at the end: an interrupted run leaves nothing half-written. A sample that cannot be
read is left out with a warning naming it (``--strict`` stops, writing nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segdash.cli.common import add_dataset_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="write a dataset as the plain folder layout (index PNG masks + classes.csv)",
        description="Write any dataset segdash reads (a built-in, or a folder in any --format) as images/ and "
        "index-PNG masks/ per split with a classes.csv, readable with --format folder and by other tools.",
    )
    add_dataset_args(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder to write (must not exist, see --force)")
    parser.add_argument("--split", "-s", action="append", help="split(s) to write (repeatable); default: all")
    parser.add_argument("--force", action="store_true", help="replace DIR when it exists")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first sample that cannot be read (default: leave it out with a warning)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segdash.cli.common import open_dataset_from_args, show_progress
    from segdash.data.formats.folder_export import write_folder_dataset
    from segdash.errors import SegdashError

    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise SegdashError(f"--out {args.out!r} is a file; give a folder name")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SegdashError(f"--out {args.out!r} exists and is not empty; give --force to replace it")
    ds = open_dataset_from_args(args)
    if out.resolve() == Path(getattr(ds, "root", out.parent)).resolve():
        raise SegdashError("--out is the dataset's own folder; give another one")
    bars: dict[str, tqdm] = {}

    def progress(split: str, done: int, total: int) -> None:
        if split not in bars:
            bars[split] = tqdm(total=total, desc=f"convert {split}", unit="img", file=sys.stderr, leave=False,
                               disable=not show_progress())
        bars[split].update(done - bars[split].n)

    try:
        result = write_folder_dataset(ds, out, args.split, strict=args.strict, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    counts = ", ".join(f"{split} {n}" for split, n in result.images.items())
    print(f"wrote {sum(result.images.values())} samples ({counts}) and classes.csv ({ds.num_classes} classes) to {out}")
    reopen = f"segdash stats {out} --format folder"
    if result.ignore_value != 255:
        reopen += f" -o ignore_index={result.ignore_value}"
    print(f"open it with: {reopen}")
    return 0
