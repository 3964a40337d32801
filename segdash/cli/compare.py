"""``segdash compare``: is B really better than A? Paired statistics between models on one split.

    segdash compare brain-mri --split test --checkpoint weights/brain-mri_unet_lite0_epoch03 \\
        --checkpoint weights/brain-mri_unet_lite0_best --html report.html
    segdash compare /data/pets -f oxford-pets -s test --pred-dir preds_a/ --checkpoint runs/b/best --json cmp.json

Each model is evaluated once; then for every pair (B against A, in the order given) and every
class: the mean score of each, the mean paired difference with a 95% bootstrap interval over
images, the Wilcoxon signed-rank p-value, and wins / ties / losses. JSON: ``{"dataset", "split",
"classes", "metric", "bootstrap": {"samples", "seed"}, "models": [{"name", "source", ...}],
"pairs": [{"a", "b", "overall": {...}, "per_class": [{"name", "mean_a", "mean_b", "diff",
"ci_low", "ci_high", "p_value", "wins", "ties", "losses", "images"}], "pixels"}], "rank_first",
"ranking"}``, undefined values null.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from segdash.cli import class_map
from segdash.cli.common import add_dataset_args
from segdash.cli.predict import add_predictor_args
from segdash.metrics.specs import paired_metrics

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _checkpoint(path: str) -> tuple[str, str]:
    return ("checkpoint", path)


def _pred_dir(path: str) -> tuple[str, str]:
    return ("pred_dir", path)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="paired statistics between two or more checkpoints (is B really better than A?)",
        description="Evaluate each model once on a split, then for every pair (B against A, in the order given) "
        "and every class: mean scores, the mean per-image difference with a 95% percentile-bootstrap interval "
        "(images resampled with replacement), the Wilcoxon signed-rank p-value, and wins / ties / losses. A class's "
        "score in an image is undefined when the class is in neither the ground truth nor the prediction; pairs "
        "use the images where both are defined. With three or more models: a ranking and how often each ranks "
        "first over the resamples. A difference is called better or worse only when the interval excludes 0 "
        "and p < 0.05.",
    )
    add_dataset_args(parser)
    parser.add_argument("--split", "-s", help="split to compare on (default: test, else val)")
    parser.add_argument("--checkpoint", "-c", dest="models", action="append", type=_checkpoint, metavar="CKPT",
                        help="a checkpoint folder; repeat, mixed freely with --pred-dir (the first model is A)")
    parser.add_argument("--pred-dir", dest="models", action="append", type=_pred_dir, metavar="DIR",
                        help="a folder of predicted label PNGs named <sample_id>.png")
    parser.add_argument("--metric", "-m", choices=paired_metrics(), default="dice",
                        help="per-image score (default: dice)")
    parser.add_argument("--bootstrap", type=int, default=10_000, metavar="N", help="bootstrap resamples (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples (default: 0)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT ('-' for stdout only)")
    parser.add_argument("--html", metavar="OUT", help="write a self-contained HTML report to OUT (opens offline)")
    parser.add_argument("--batch-size", "-b", type=int, default=8, help="images per forward pass (default: 8)")
    parser.add_argument("--limit", "-n", type=int, metavar="N", help="compare on N images, evenly spaced over the split")
    add_predictor_args(parser)
    class_map.add_class_map_arg(parser)
    parser.set_defaults(func=run)


def command_line(args: argparse.Namespace, shown=None) -> str:
    """The command that reproduces this comparison, rebuilt from the parsed options. ``shown(path) -> str``
    rewrites the paths in it (the HTML report shows none of the machine's folders); default: as given."""
    def path(value: str) -> str:
        return value if shown is None else shown(value)

    def option(value: str) -> str:  # KEY=VALUE whose value names a file or folder
        key, _, rest = value.partition("=")
        return f"{key}={path(rest)}" if shown is not None and rest and Path(rest).expanduser().exists() else value

    dataset = str(args.dataset)
    words = ["segdash", "compare", path(dataset) if args.format or Path(dataset).expanduser().exists() else dataset]
    if args.format:
        words += ["--format", args.format]
    for value in args.option:
        words += ["--option", option(value)]
    words += ["--split", args.split_used]
    for kind, folder in args.models:
        words += ["--checkpoint" if kind == "checkpoint" else "--pred-dir", path(folder)]
    words += ["--metric", args.metric, "--bootstrap", str(args.bootstrap), "--seed", str(args.seed)]
    if args.limit is not None:
        words += ["--limit", str(args.limit)]
    if args.tta:
        words.append("--tta")
    if args.class_map:
        words += ["--class-map", args.class_map]
    if args.html:
        words += ["--html", path(args.html)]
    if args.json:
        words += ["--json", args.json if args.json == "-" else path(args.json)]
    return shlex.join(words)


def format_verdicts(doc: dict) -> str:
    """The verdict table of a ``--json`` document, one block per pair, for a terminal."""
    names = [m["name"] for m in doc["models"]]
    width = max(10, *(len(c) for c in doc["classes"]))
    lines = []
    for pair in doc["pairs"]:
        a, b = pair["a"], pair["b"]
        la, lb = LETTERS[a], LETTERS[b]
        lines.append(f"{lb} = {names[b]}  against  {la} = {names[a]}  ({doc['metric']}, {lb} - {la})")
        lines.append(f"  {'class':<{width}} {la:>6} {lb:>6}  verdict")
        for row in [pair["overall"], *pair["per_class"]]:
            lines.append(f"  {row['name']:<{width}} {_cell(row['mean_a']):>6} {_cell(row['mean_b']):>6}  "
                         f"{verdict_text(row, lb)}")  # fmt: skip
        lines.append("")
    if len(names) > 2:
        lines.append("ranking by overall mean (share of resamples where it ranks first):")
        for place, m in enumerate(doc["ranking"], start=1):
            share = doc["rank_first"][m]
            shown = "n/a" if share is None else f"{share:.0%}"
            lines.append(f"  {place}. {LETTERS[m]} = {names[m]}  {_cell(doc['models'][m]['mean'])}  first in {shown}")
        lines.append("")
    boot = doc["bootstrap"]
    lines.append(f"  95% CI: percentile bootstrap over images ({boot['samples']:,} resamples, seed {boot['seed']}); "
                 "p: Wilcoxon signed-rank; better / worse only when the CI excludes 0 and p < 0.05.")  # fmt: skip
    return "\n".join(lines)


def verdict_text(row: dict, label_b: str = "B") -> str:
    """A JSON row as its verdict line ("B better (+0.041, 95% CI ...)")."""
    from segdash.metrics.paired import PairedStat

    nan = float("nan")
    values = {k: (nan if row[k] is None else row[k]) for k in ("mean_a", "mean_b", "diff", "ci_low", "ci_high",
                                                               "p_value")}  # fmt: skip
    stat = PairedStat(name=row["name"], wins=row["wins"], ties=row["ties"], losses=row["losses"],
                      images=row["images"], **values)  # fmt: skip
    return stat.verdict(label_b)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _load_predictors(args: argparse.Namespace, ds) -> list:
    """Each checkpoint's predictor (checked against the dataset first, so a wrong one fails fast); None for folders."""
    from segdash.cli.predict import load_predictor
    from segdash.models.checkpoint import check_compatible, read_meta

    for kind, path in args.models:
        if kind == "checkpoint":
            check_compatible(read_meta(path), ds, args.class_map)
    predictors = []
    for kind, path in args.models:
        predictors.append(class_map.for_dataset(load_predictor(argparse.Namespace(**{**vars(args), "checkpoint": path})),
                                                ds, args, f"{path}: ") if kind == "checkpoint" else None)  # fmt: skip
    return predictors


def _check_args(args: argparse.Namespace) -> None:
    from segdash.cli.datasets import check_json_target
    from segdash.errors import SegdashError

    if not args.models or len(args.models) < 2:
        raise SegdashError("give at least two models to compare: --checkpoint CKPT and/or --pred-dir DIR, twice or more")
    if args.bootstrap < 1:
        raise SegdashError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    if args.batch_size < 1:
        raise SegdashError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.json:
        check_json_target(args.json)
    if args.html and Path(args.html).is_dir():
        raise SegdashError(f"--html {args.html!r} is a folder; give a file name such as "
                           f"{str(Path(args.html) / 'report.html')!r}")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import json

    from segdash.cli.common import open_dataset_from_args, progress_bar
    from segdash.cli.datasets import write_json
    from segdash.cli.evaluate import default_split
    from segdash.infer.compare import ModelSource, compare_models, unique_names

    _check_args(args)
    ds = open_dataset_from_args(args)
    args.split_used = ds.check_split(args.split) if args.split else default_split(ds)
    models = unique_names([ModelSource.checkpoint(p) if k == "checkpoint" else ModelSource.pred_dir(p)
                           for k, p in args.models])  # fmt: skip
    predictors = _load_predictors(args, ds)
    with progress_bar("compare") as progress:
        result = compare_models(ds, args.split_used, models, predictors, metric=args.metric, samples=args.bootstrap,
                                seed=args.seed, batch_size=args.batch_size, limit=args.limit, progress=progress)
    doc = result.to_json_dict()
    doc["dataset"] = str(args.dataset)
    doc["command"] = command_line(args)
    for model, predictor in zip(doc["models"], predictors):
        class_map.report(predictor, model, f"{model['name']}: ")
    if args.json == "-":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        print(f"{ds.name} / {args.split_used}: {doc['images']} images, {len(models)} models, {result.seconds:.1f} s")
        print(format_verdicts(doc))
    if args.json and args.json != "-":
        write_json(args.json, doc)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.html:
        _write_report(args, ds, result)
    return 0


def _write_report(args: argparse.Namespace, ds, result) -> None:
    """The HTML report, with every folder shown relative to segdash's, the runs' or the working folder (never an
    absolute path: a report is shared)."""
    from segdash.errors import SegdashError
    from segdash.fsutil import atomic_write_bytes
    from segdash.infer.compare import default_roots, report_facts, report_model, shown_path
    from segdash.viz.report import comparison_report

    roots = default_roots()
    models = [report_model(source, roots) for source in result.models]
    command = command_line(args, shown=lambda value: shown_path(value, roots))
    html = comparison_report(result, report_facts(result, ds, models, command))
    try:
        atomic_write_bytes(args.html, html.encode("utf-8"))
    except OSError as exc:
        raise SegdashError(f"cannot write {args.html!r}: {exc.strerror or exc}") from None
    print(f"wrote {args.html}", file=sys.stderr)
