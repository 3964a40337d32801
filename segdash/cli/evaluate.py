"""``segdash evaluate``: score a checkpoint, or a folder of predicted label PNGs, on a dataset split.

    segdash evaluate brain-mri --split test --checkpoint runs/brain/best --json eval.json
    segdash evaluate /data/pets --format oxford-pets --split test --pred-dir preds/

Prints a per-class table (a column per metric computed: IoU, Dice, precision, recall, specificity,
support, Boundary IoU, object recall and precision, ECE, HD95 pooled and max of directions, ASSD,
relative area difference; ``segdash.metrics.specs`` lists them) and the split's values. JSON:
``{"classes", "images", "confusion_matrix" (rows = ground truth, columns = prediction), "per_class":
[{"name", "iou", "dice", "precision", "recall", "specificity", "support", "hd95", "hd95_max",
"assd", "rad", "abs_rad", "missed", "boundary_iou", "objects": {"gt", "detected", "predicted",
"false", "recall", "precision", "by_size": {"small", "medium", "large"}}, ...}], "mean_iou",
"mean_dice", "mean_hd95", "mean_hd95_max", "mean_assd", "pixel_accuracy", "boundary_ratio",
"calibration": {"ece", "bins", "per_class_ece"}, "uncertainty": {"auroc", "flip_label_change"},
...}``, undefined values as null.
"""

from __future__ import annotations

import argparse
import math
import sys

from segdash.cli import class_map
from segdash.cli.class_map import add_class_map_arg
from segdash.cli.common import add_dataset_args
from segdash.cli.predict import add_predictor_args
from segdash.metrics.specs import FAMILIES, MetricSpec, is_metric, list_metrics, metric_spec, split_value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint or a folder of predicted label PNGs on a split",
        description="Score a model (--checkpoint) or predicted label maps (--pred-dir, <sample_id>.png as "
        "'segdash predict' writes them) against a split's masks: one confusion matrix over the split, per-class "
        "IoU, Dice, precision, recall, specificity and support, mean IoU / Dice, pixel accuracy, and per class "
        "the 95% Hausdorff distance, average symmetric surface distance and relative area difference; Boundary "
        "IoU, objects found / missed / false by size and, with a checkpoint, calibration (ECE) and how well the "
        "normalised entropy finds the wrong pixels (AUROC). "
        "Classes absent from both the masks and the predictions are undefined (null) and left out of the means.",
    )
    add_dataset_args(parser)
    parser.add_argument("--split", "-s", help="split to score (default: test, else val)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", "-c", metavar="CKPT", help="checkpoint folder (holding segdash.json)")
    source.add_argument("--pred-dir", metavar="DIR", help="folder of predicted label PNGs named <sample_id>.png")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT ('-' for stdout only)")
    parser.add_argument("--batch-size", "-b", type=int, default=8, help="images per forward pass (default: 8)")
    add_predictor_args(parser)
    add_class_map_arg(parser)
    parser.add_argument("--no-distances", action="store_true",
                        help="skip HD95 / ASSD / relative area difference (faster)")
    parser.add_argument("--boundary-ratio", type=float, default=0.02, metavar="R",
                        help="Boundary IoU band width as a share of the image diagonal (default: 0.02, as Cheng et "
                        "al. 2021)")
    parser.add_argument("--no-failure-metrics", action="store_true",
                        help="skip Boundary IoU, object counts, calibration and uncertainty (faster)")
    parser.add_argument("--limit", "-n", type=int, metavar="N",
                        help="score only N images, evenly spaced over the split (as the dashboard does)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unreadable or mismatched sample (default: skip it with a warning; "
                             "the JSON lists it under 'skipped')")  # fmt: skip
    parser.set_defaults(func=run)


def default_split(ds) -> str:
    """``test`` if it has masks, else ``val``; otherwise the user must choose."""
    from segdash.errors import SegdashError

    for split in ("test", "val"):
        if split in ds.splits() and ds.has_masks(split):
            return split
    raise SegdashError(f"say which split to score with --split ({', '.join(ds.splits()) or 'none available'})")


#: Where the lines of the split's values wrap.
LINE_WIDTH = 110


def _cell(value, spec: MetricSpec | None = None) -> str:
    """One value as the terminal shows it: the metric's format, "-" where undefined."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec.fmt if spec is not None else ".3f")


def format_table(evaluation, doc: dict) -> str:
    """The per-class table (a column per metric computed, as ``Evaluation.class_table`` and the metric specs
    give them) and the split's values, for a terminal."""
    table = evaluation.class_table()
    width = max(10, *(len(name) for name in table["name"]))
    columns = [c for c in table.columns if c != "name"]
    specs = {c: metric_spec(c) for c in columns if is_metric(c)}
    widths = {c: 12 if c == "support" else max(6, len(specs[c].short)) for c in columns}
    header = f"  {'class':<{width}}" + "".join(
        f" {(specs[c].short if c in specs else c):>{widths[c]}}" for c in columns)  # fmt: skip
    lines = [header]
    for _, row in table.iterrows():
        cells = [f"{int(row[c]):>{widths[c]},}" if c == "support" else f"{_cell(row[c], specs[c]):>{widths[c]}}"
                 for c in columns]  # fmt: skip
        lines.append(f"  {row['name']:<{width}} " + " ".join(cells))
    lines.append("")
    lines.extend(_split_lines(doc))
    lines.append(f"  {doc['note']}")
    return "\n".join(lines)


def _split_lines(doc: dict) -> list[str]:
    """The split's values, a line per family of metrics; those not computed are left out."""
    lines = []
    for family in FAMILIES:
        parts = []
        for spec in list_metrics(family=family, per_split=True):
            value = split_value(doc, spec)
            if value is None and family != "overlap":
                continue
            part = f"{spec.split_label} {_cell(value, spec)}"
            if spec.key == "boundary_iou" and doc.get("boundary_ratio") is not None:
                part += f" (band {doc['boundary_ratio']:g} of the diagonal)"
            parts.append(part)
        line = ""
        for part in parts:  # wrapped to a terminal's width
            if line and len(line) + 3 + len(part) > LINE_WIDTH:
                lines.append("  " + line)
                line = ""
            line = f"{line}   {part}" if line else part
        if line:
            lines.append("  " + line)
    return lines


def run(args: argparse.Namespace) -> int:
    """One process, or one of torchrun's: then each scores its share and rank 0 prints and writes the whole."""
    from segdash.cli.torchrun import process_group

    with process_group(args.device if args.checkpoint else "cpu") as info:
        return _run(args, info)


def _run(args: argparse.Namespace, info) -> int:
    import json

    from segdash.cli.common import open_dataset_from_args, progress_bar
    from segdash.cli.datasets import check_json_target, write_json
    from segdash.cli.torchrun import is_main, merged_on_main, shard
    from segdash.errors import SegdashError
    from segdash.infer.evaluate import check_boundary_ratio, evaluate, merge_evaluations

    if args.json:
        check_json_target(args.json)
    if args.batch_size < 1:
        raise SegdashError(f"--batch-size must be at least 1, got {args.batch_size}")
    check_boundary_ratio(args.boundary_ratio)
    ds = open_dataset_from_args(args)
    split = ds.check_split(args.split) if args.split else default_split(ds)

    predictor = None
    if args.checkpoint:
        from segdash.models.checkpoint import check_compatible, read_meta

        check_compatible(read_meta(args.checkpoint), ds, args.class_map)  # fails fast, before the model loads
        from segdash.cli.predict import load_predictor

        if info is not None:  # one GPU per process under torchrun
            args.device = str(info.device)
        predictor = class_map.for_dataset(load_predictor(args), ds, args)
    elif args.device not in (None, "auto", "cpu") or args.tta:
        print("segdash evaluate: --device and --tta are not used with --pred-dir", file=sys.stderr)

    total = len(ds.ids(split)) if args.limit is None else min(args.limit, len(ds.ids(split)))
    with progress_bar(f"evaluate {split}", total=total, shown=is_main(info)) as progress:
        evaluation = evaluate(ds, split, predictor=predictor, pred_dir=args.pred_dir, batch_size=args.batch_size,
                              progress=progress, distances=not args.no_distances, limit=args.limit,
                              failure_metrics=not args.no_failure_metrics,
                              boundary_ratio=args.boundary_ratio, strict=args.strict, shard=shard(info))  # fmt: skip
    evaluation = merged_on_main(evaluation, info, merge_evaluations)
    if evaluation is None:  # not rank 0: its share is in rank 0's results
        return 0
    doc = evaluation.to_json_dict()
    doc["dataset"] = str(args.dataset)
    if args.checkpoint:
        doc["checkpoint"] = str(args.checkpoint)
    if args.pred_dir:
        doc["pred_dir"] = str(args.pred_dir)
    class_map.report(predictor, doc)
    if args.json == "-":
        print(json.dumps(doc, indent=2, allow_nan=False))
        return 0
    speed = evaluation.images / evaluation.seconds if evaluation.seconds > 0 else float("nan")
    print(f"{ds.name} / {split}: {evaluation.images} images in {evaluation.seconds:.1f} s "
          f"({speed:.1f} img/s, {evaluation.device})")
    print(format_table(evaluation, doc))
    if args.json:
        write_json(args.json, doc)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
