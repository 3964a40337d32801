"""``segdash label-issues``: the masks of a split most likely wrong, by confident learning per pixel.

    segdash label-issues brain-mri --split test --checkpoint weights/brain-mri_unet_lite0_best --top 10
    segdash label-issues /data/roads -f folder --split val -c runs/roads/best --json issues.json --masks fixme/
    torchrun --nproc_per_node=2 -m segdash label-issues brain-mri --split test -c weights/... --device cpu

Prints the images ranked by label-quality score (lowest first: most likely mislabelled) with their
suspect pixels, the classes involved (given -> suggested) and, beside the rank, the image's rank by the
model's mean Dice (worst first). ``--json FILE``: ``{"classes", "thresholds", "images": [{"sample_id",
"rank", "score", "suspect_pixels", "suspect_share", "by_class": {class: {"pixels", "suspect", "share"}},
"suggested": {given: {suggested: pixels}}, "mean_dice", "dice_rank"}], "by_class", "note", ...}``, every
image, most suspect first. ``--masks DIR``: ``DIR/<sample_id>.png`` per image, 0 where the pixel is fine,
else 1 + the suggested class (a palette PNG in the class colours), and ``DIR/suggested_classes.csv``
naming the values, for an annotation tool to load beside the mask. Files are written whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segdash.cli.common import add_dataset_args

DEFAULT_TOP = 20


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "label-issues",
        help="rank a split's masks by how likely they are wrong; show and write the suspect pixels",
        description="Find label errors with a model: per class, the mean probability the model gives the class "
        "on the pixels labelled with it is its threshold (a first pass over the split); a pixel is suspect when "
        "another class reaches its threshold and beats the given label (a second pass), and each image gets a "
        "soft-min label-quality score (Lad & Mueller 2023). Use a split the model did not train on.",
    )
    add_dataset_args(parser)
    parser.add_argument("--split", "-s", help="split to check (default: test, else val)")
    parser.add_argument("--checkpoint", "-c", required=True, metavar="CKPT", help="checkpoint folder (holding "
                        "segdash.json)")  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE ('-' for stdout only)")
    parser.add_argument("--masks", metavar="DIR", help="write DIR/<sample_id>.png per image: 0 = fine, else 1 + the "
                        "suggested class")  # fmt: skip
    parser.add_argument("--top", "-t", type=int, default=DEFAULT_TOP, metavar="N",
                        help=f"images printed, most suspect first (default: {DEFAULT_TOP}; 0: all)")
    parser.add_argument("--temperature", type=float, default=None, metavar="T",
                        help="soft-min temperature of the image score (default: 0.1, as Lad & Mueller)")
    parser.add_argument("--batch-size", "-b", type=int, default=8, help="images per forward pass (default: 8)")
    parser.add_argument("--limit", "-n", type=int, metavar="N", help="check only N images, evenly spaced over the split")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unreadable sample (default: skip it with a warning)")
    from segdash.cli.predict import add_predictor_args

    add_predictor_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One process, or one of torchrun's: each checks its share; rank 0 prints and writes the whole."""
    from segdash.cli.torchrun import process_group

    with process_group(args.device) as info:
        return _run(args, info)


def _check_args(args: argparse.Namespace) -> None:
    from segdash.cli.datasets import check_json_target
    from segdash.errors import SegdashError

    if args.json:
        check_json_target(args.json)
    if args.top < 0:
        raise SegdashError(f"--top must be 0 (all) or more, got {args.top}")
    if args.batch_size < 1:
        raise SegdashError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.masks and Path(args.masks).expanduser().is_file():
        raise SegdashError(f"--masks {args.masks!r} is a file; give a folder (it is created if missing)")
    if args.temperature is not None:
        import numpy as np

        from segdash.metrics.label_quality import softmin_pool

        softmin_pool(np.ones(1), args.temperature)  # the temperature's check, before the model loads


def _run(args: argparse.Namespace, info) -> int:
    import json

    from tqdm import tqdm

    from segdash.cli.common import dataset_options, open_dataset_from_args, show_progress
    from segdash.cli.datasets import write_json
    from segdash.cli.evaluate import default_split
    from segdash.cli.predict import load_predictor
    from segdash.cli.torchrun import is_main, merged_on_main, shard
    from segdash.infer.label_issues import find_label_issues, in_sample_warning, merge_label_issues
    from segdash.metrics.label_quality import DEFAULT_TEMPERATURE
    from segdash.models.checkpoint import check_compatible, read_meta

    _check_args(args)
    ds = open_dataset_from_args(args)
    split = ds.check_split(args.split) if args.split else default_split(ds)
    meta = read_meta(args.checkpoint)
    check_compatible(meta, ds)  # fails fast, before the model loads
    warning = in_sample_warning(meta, str(args.dataset), split, args.format, dataset_options(args))
    if warning and is_main(info):
        print(f"segdash label-issues: warning: {warning}", file=sys.stderr)
    if info is not None:  # one GPU per process under torchrun
        args.device = str(info.device)
    predictor = load_predictor(args)
    writer = _MaskWriter(Path(args.masks).expanduser(), ds) if args.masks else None

    total = len(ds.ids(split)) if args.limit is None else min(args.limit, len(ds.ids(split)))
    with tqdm(total=2 * total, desc=f"label issues {split}", unit="img", file=sys.stderr, leave=False,
              disable=not (show_progress() and is_main(info))) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total  # both passes over this process's share
            bar.update(done - bar.n)

        temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
        issues = find_label_issues(ds, split, predictor, batch_size=args.batch_size, temperature=temperature,
                                   limit=args.limit, on_suggestions=writer, progress=progress, strict=args.strict,
                                   shard=shard(info), reduce_sums=_all_sum(info))  # fmt: skip
    issues = merged_on_main(issues, info, merge_label_issues)
    if issues is None:  # not rank 0: its share is in rank 0's results
        return 0
    if writer is not None:
        writer.write_legend()
    doc = issues.to_json_dict()
    doc.update(dataset=str(args.dataset), checkpoint=str(args.checkpoint), in_sample_warning=warning)
    if args.json == "-":
        print(json.dumps(doc, indent=2, allow_nan=False))
        return 0
    print(format_report(doc, args.top))
    if args.json:
        write_json(args.json, doc)
        print(f"wrote {args.json}", file=sys.stderr)
    if writer is not None:
        print(f"wrote {writer.written} suggestion map(s) to {writer.folder}", file=sys.stderr)
    return 0


def _all_sum(info):
    """``reduce_sums`` for torchrun: the threshold sums and counts added over the processes; None alone."""
    if info is None:
        return None

    def reduce(sums, counts):
        import numpy as np
        import torch

        from segdash.train.distributed import all_sum

        both = all_sum(torch.from_numpy(np.stack([sums, counts]).astype(np.int64)).to(info.device), info)
        both = both.cpu().numpy()
        return both[0], both[1]

    return reduce


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_report(doc: dict, top: int = DEFAULT_TOP) -> str:
    """The terminal report of a ``--json`` document: thresholds, per-class summary, the ranked images."""
    from segdash.infer.label_issues import weak_classes_note
    lines = [f"{doc['dataset']} / {doc['split']}: {doc['images_scored']} images in {doc['seconds']:.1f} s "
             f"({doc['device']}), {doc['suspect_pixels']:,} suspect pixels of {doc['labelled_pixels']:,}"]
    if doc.get("cancelled"):
        lines.append(f"  cancelled: {doc['images_scored']} of {doc['total_images']} images scored")
    width = max(10, *(len(c) for c in doc["classes"]))
    lines.append(f"  {'class':<{width}} {'threshold':>9} {'Dice':>6} {'pixels':>12} {'suspect':>10} {'share':>7}  "
                 "most suggested")  # fmt: skip
    for name in doc["classes"]:
        entry = doc["by_class"][name]
        suggested = max(entry["suggested"].items(), key=lambda kv: kv[1], default=("", 0))
        share = "-" if entry["share"] is None else f"{entry['share']:.2%}"
        lines.append(f"  {name:<{width}} {_cell(doc['thresholds'][name], '.3f'):>9} "
                     f"{_cell(entry.get('model_dice'), '.3f'):>6} {entry['pixels']:>12,} {entry['suspect']:>10,} "
                     f"{share:>7}  {suggested[0]}")  # fmt: skip
    if doc.get("weak_classes"):
        lines.append(f"  warning: {weak_classes_note(doc['weak_classes'])}")
    images = doc["images"] if top == 0 else doc["images"][:top]
    lines.append("")
    lines.append(f"  {'rank':>4} {'dice rank':>9} {'score':>6} {'suspect':>9} {'share':>7}  sample / classes "
                 "(given → suggested)")  # fmt: skip
    for entry in images:
        share = "-" if entry["suspect_share"] is None else f"{entry['suspect_share']:.2%}"
        cells = sorted(((g, s, n) for g, row in entry["suggested"].items() for s, n in row.items()),
                       key=lambda cell: -cell[2])[:3]  # fmt: skip
        involved = ", ".join(f"{g} → {s} {n:,}" for g, s, n in cells) or "no suspect pixel"
        lines.append(f"  {entry['rank']:>4} {entry['dice_rank']:>9} {_cell(entry['score'], '.3f'):>6} "
                     f"{entry['suspect_pixels']:>9,} {share:>7}  {entry['sample_id']}: {involved}")  # fmt: skip
    if len(images) < len(doc["images"]):
        lines.append(f"  ... {len(doc['images']) - len(images)} more (--top 0 prints all; --json writes all)")
    lines.append("  score: soft-min of the pixels' given-label probabilities, lower = more likely mislabelled; "
                 "dice rank: the model's mean Dice, worst first (the JSON's 'note' says more)")
    return "\n".join(lines)


class _MaskWriter:
    """``on_suggestions`` for ``--masks``: one PNG per image, written atomically as it is computed."""

    def __init__(self, folder: Path, ds):
        from segdash.errors import SegdashError

        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SegdashError(f"cannot use --masks {str(folder)!r} as a folder: {exc.strerror or exc}") from None
        self.folder, self.classes, self.written = folder, list(ds.classes), 0
        colors = [(0, 0, 0), *(tuple(c) for c in ds.colors)] if ds.colors else None
        self.colors = colors if len(self.classes) < 255 else None  # a palette PNG holds 256 values

    def __call__(self, sample_id: str, codes) -> None:
        from segdash.data.imageio import write_label_png

        write_label_png(self.path(sample_id), codes, colors=self.colors)
        self.written += 1

    def path(self, sample_id: str) -> Path:
        """``folder/<sample_id>.png``; an id that would leave the folder (``..``, absolute) is flattened."""
        parts = Path(sample_id).parts
        if not parts or Path(sample_id).is_absolute() or any(p in ("..", ".", "") for p in parts):
            return self.folder / (sample_id.replace("/", "__").replace("\\", "__").lstrip(".") + ".png")
        return self.folder.joinpath(*parts[:-1], parts[-1] + ".png")

    def write_legend(self) -> None:
        import csv
        import io

        from segdash.fsutil import atomic_write_text

        buffer = io.StringIO()
        table = csv.writer(buffer, lineterminator="\n")
        table.writerow(["value", "meaning"])
        table.writerow([0, "fine"])
        table.writerows([[1 + c, f"suggested: {name}"] for c, name in enumerate(self.classes)])
        atomic_write_text(self.folder / "suggested_classes.csv", buffer.getvalue())
