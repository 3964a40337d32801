"""``segdash stats``: class pixel statistics and suggested class weights per split.

    segdash stats brain-mri
    segdash stats street-synth --split train --json stats.json
    segdash stats /data/pets --format oxford-pets

For each split with masks: pixels and frequency per class, the share of images
in which each class appears, and suggested loss weights (inverse frequency,
"balanced", and median frequency balancing); then where the imbalance lives:
which classes appear together, how many objects each class has and how small
they are, where in the frame each class sits, and how far each later split's
class frequencies drift from the first split's. One streaming pass per split,
then cached: a second run is instant until a file of the dataset changes.
JSON: ``{"dataset", "classes": [...], "splits": {split: {"images", "pixels": [...],
"frequency", "image_presence", "weights_inverse", "weights_median", ...,
"cooccurrence": CxC image counts, "objects": [{"count", "area_edges", "area_counts",
"small_share", "mostly_small"}] per class, "spatial_prior": per class 32x32 shares
(null for an absent class), "top_images": per class [[sample_id, pixels], ...],
"drift": {"reference", "js_divergence" (bits), "log_base": 2, "frequency_ratio",
"much_rarer"} (splits after the first only)}}}``. ``--basic`` skips the imbalance
statistics (faster on very large datasets).
"""

from __future__ import annotations

import argparse
import sys

from segdash.cli.common import add_dataset_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="class pixel statistics and suggested class weights",
        description="Per split: pixel count and frequency per class, share of images containing each class, "
        "and suggested class weights (inverse and median frequency). Classes absent from a split get weight 0. "
        "Results are cached and recomputed when the dataset's files change.",
    )
    add_dataset_args(parser)
    parser.add_argument(
        "--split", "-s", action="append", help="split(s) to count (repeatable); default: every split with masks"
    )
    parser.add_argument("--json", metavar="OUT", help="also write the statistics as JSON to OUT ('-' for stdout)")
    parser.add_argument("--no-cache", action="store_true", help="recount even when cached statistics exist")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unreadable or mismatched sample (default: skip it with a warning; "
                             "the JSON lists it under 'skipped')")
    from segdash.parallel import default_workers

    parser.add_argument("--workers", "-j", type=_workers, default=default_workers(), metavar="N",
                        help="processes counting shards of the split side by side, merged into one result "
                             "(default: the CPU count, at most 8; splits under 256 images per process: one pass)")
    parser.add_argument(
        "--basic", action="store_true",
        help="only pixel counts, image presence and weights: skip co-occurrence, objects, spatial priors and drift",
    )
    parser.set_defaults(func=run)


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"--workers must be between 1 and 64, got {value}")
    return value


def format_table(classes, stats) -> str:
    """Human-readable table of one split's ClassStats."""
    d = stats.to_dict()
    width = max(12, *(len(c) for c in classes))
    header = f"  {'class':<{width}} {'pixels':>12} {'freq %':>8} {'in images %':>12} {'w inverse':>10} {'w median':>9}"
    lines = [header]
    for i, name in enumerate(classes):
        lines.append(
            f"  {name:<{width}} {d['pixels'][i]:>12,} {100 * d['frequency'][i]:>8.3f} "
            f"{100 * d['image_presence'][i]:>12.1f} {d['weights_inverse'][i]:>10.3f} {d['weights_median'][i]:>9.3f}"
        )
    extra = f"{d['labeled_pixels']:,} labelled pixels"
    if d["ignored_pixels"]:
        extra += f", {d['ignored_pixels']:,} ignored"
    if d["images_without_mask"]:
        extra += f", {d['images_without_mask']} image(s) without mask skipped"
    if d["min_size"] and d["min_size"] != d["max_size"]:
        extra += f"; sizes (WxH) {d['min_size'][1]}x{d['min_size'][0]} .. {d['max_size'][1]}x{d['max_size'][0]}"
    elif d["min_size"]:
        extra += f"; size (WxH) {d['min_size'][1]}x{d['min_size'][0]}"
    lines.append(f"  {extra}")
    return "\n".join(lines)


def format_imbalance(classes, stats, drift: dict | None = None) -> str:
    """A few lines on objects, co-occurrence and drift (empty when the statistics are basic)."""
    if not stats.extended:
        return ""
    lines = [f"  objects (8-connected): {int(stats.object_counts.sum()):,}"]
    small = [name for name, flag in zip(classes, stats.mostly_small) if flag]
    if small:
        lines[0] += f"; mostly small (over half under 0.1% of the image): {', '.join(small)}"
    pairs = _rarest_pairs(classes, stats)
    if pairs:
        lines.append(f"  classes always seen together: {pairs}")
    if drift is not None and drift["js_divergence"] is not None:
        text = f"  drift from '{drift['reference']}': Jensen-Shannon divergence {drift['js_divergence']:.4f} bits"
        rarer = [f"{classes[c]} ({drift['frequency_ratio'][c] or 0:.2f}x)" for c in drift["much_rarer"]]
        lines.append(text + (f"; much rarer here: {', '.join(rarer)}" if rarer else ""))
    return "\n".join(lines)


def _rarest_pairs(classes, stats, limit: int = 3) -> str:
    """Pairs (i, j) where every image with the rarer class i also holds j, j not being in every image:
    a context a model may lean on."""
    co = stats.cooccurrence
    found = []
    for i in range(len(classes)):
        for j in range(len(classes)):
            if i != j and 0 < co[i, i] < co[j, j] < stats.images and co[i, j] == co[i, i]:
                found.append((int(co[i, i]), f"{classes[i]} -> {classes[j]}"))
    return ", ".join(text for _, text in sorted(found)[:limit])


def run(args: argparse.Namespace) -> int:
    """One process, or one of torchrun's: then each counts its share and rank 0 prints and writes the whole."""
    from segdash.cli.torchrun import process_group

    with process_group("cpu") as info:  # masks are counted on the CPU: gloo
        return _run(args, info)


def _run(args: argparse.Namespace, info) -> int:
    import json

    from segdash.cli.common import open_dataset_from_args, progress_bar
    from segdash.cli.datasets import check_json_target, write_json
    from segdash.cli.torchrun import is_main, merged_on_main, shard
    from segdash.data.stats import class_statistics, merge_stats, split_drift
    from segdash.errors import SegdashError

    if args.json:
        check_json_target(args.json)
    ds = open_dataset_from_args(args)
    if args.split:
        splits = [ds.check_split(s) for s in args.split]
        no_masks = [s for s in splits if not ds.has_masks(s)]
        if no_masks:
            raise SegdashError(f"split(s) {', '.join(no_masks)} of {ds.name!r} have no masks; pick another split")
    else:
        splits = [s for s in ds.splits() if ds.has_masks(s)]
        skipped = [s for s in ds.splits() if s not in splits]
        if skipped and is_main(info):
            print(f"segdash stats: skipping split(s) without masks: {', '.join(skipped)}", file=sys.stderr)
        if not splits:
            raise SegdashError(f"{ds.name!r} has no split with masks")

    result = {"dataset": str(args.dataset), "classes": list(ds.classes), "splits": {}}
    first = None
    for split in splits:
        with progress_bar(f"stats {split}", total=len(ds.ids(split)), shown=is_main(info)) as progress:
            stats = class_statistics(ds, split, progress=progress, use_cache=not args.no_cache,
                                     extended=not args.basic, strict=args.strict, shard=shard(info),
                                     workers=args.workers)
        stats = merged_on_main(stats, info, merge_stats)
        if stats is None:  # not rank 0: its share is in rank 0's results
            continue
        result["splits"][split] = stats.to_dict()
        drift = None
        if first is None:
            first = stats
        elif not args.basic:
            drift = result["splits"][split]["drift"] = split_drift(first, stats)
        cached = " (cached)" if stats.from_cache else f" ({stats.seconds:.1f} s)"
        if args.json != "-":
            print(f"{ds.name} / {split}: {stats.images} image{'' if stats.images == 1 else 's'}{cached}")
            print(format_table(ds.classes, stats))
            imbalance = format_imbalance(ds.classes, stats, drift)
            if imbalance:
                print(imbalance)
            print()
    if not is_main(info):
        return 0
    if args.json == "-":
        print(json.dumps(result, indent=2))
    elif args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
