"""``segdash train``: train a model into a run directory the dashboard can watch.

    segdash train brain-mri --out runs/brain                       # quick preset (default)
    segdash train brain-mri --preset full --seed 1 --out runs/full
    segdash train /data/pets --format oxford-pets --arch FPN --encoder resnet34 --img-size 256 --out runs/pets
    segdash train --resume runs/brain --epochs 20                   # continue a stopped or finished run
    torchrun --nproc_per_node=2 -m segdash train brain-mri --device cpu --out runs/ddp
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from segdash.cli.common import add_classes_outside_arg, dataset_options
from segdash.errors import SegdashError

DESCRIPTION = (
    "Train an smp model on a dataset. The run folder (--out) holds run.json (config, status), "
    "metrics.jsonl (one line per step and per epoch), checkpoints/epoch_K and checkpoints/best "
    "(highest val mean Dice). Create a file named STOP in it, or send SIGTERM, to stop cleanly. "
    "One process per run folder: a second start or --resume of a live run is refused. A NaN/inf "
    "loss ends the run as failed (\"diverged at epoch E, step S\"), keeping the earlier checkpoints."
)


def _flag_fields() -> list:
    """The TrainConfig fields that are command-line flags, in declaration order."""
    import dataclasses

    from segdash.train.config import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig) if f.metadata["option"].flag != ""]


def _add_option(parser, field, quick) -> None:
    """One TrainConfig field as an argument; its default is None, meaning "not given on the command line"."""
    described = field.metadata["option"]
    flag = described.flag or "--" + field.name.replace("_", "-")
    text = described.help.replace("%", "%%")  # argparse formats help with %
    default = getattr(quick, field.name)
    if described.show_default and default is not None and not isinstance(default, bool):
        text += f" (quick preset: {default})"
    kind = str(field.type).split(" | ")[0]
    if not flag.startswith("-"):
        parser.add_argument(flag, nargs="?", help=text)
    elif kind.startswith("dict"):  # KEY=VALUE pairs, read by dataset_options
        parser.add_argument(flag, described.short, action="append", default=[], metavar=described.metavar,
                            dest="option", help=text)
    elif kind == "bool":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, dest=field.name, help=text)
    else:
        names = [flag] + ([described.short] if described.short else [])
        extra = {"nargs": "?", "const": "offline"} if field.name == "pretrained" else {}  # bare --pretrained
        parser.add_argument(*names, dest=field.name, type={"int": int, "float": float}.get(kind),
                            choices=described.choices, metavar=described.metavar, help=text, **extra)


def register(subparsers) -> None:
    from segdash.train.config import PRESET_SUMMARIES, TrainConfig

    quick = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train a segmentation model; curves and checkpoints stream to a run folder",
        description=DESCRIPTION,
        epilog="presets: " + "; ".join(f"{k}: {v}" for k, v in PRESET_SUMMARIES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fields = _flag_fields()
    for field in fields:
        if field.metadata["option"].group is None:
            _add_option(p, field, quick)
    p.add_argument("--out", help="run folder to create (default: a new folder under $SEGDASH_RUNS or runs/)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (or in --out) from its last checkpoint")
    p.add_argument("--config", help="read the options from a JSON file (a config.json or run.json); flags override")
    p.add_argument("--preset", help=f"option set to start from ({', '.join(PRESET_SUMMARIES)}); default quick")
    groups = {}
    for field in fields:
        name = field.metadata["option"].group
        if name is not None:
            if name not in groups:
                groups[name] = p.add_argument_group(name)
            _add_option(groups[name], field, quick)
    groups["machine"].add_argument("--quiet", action="store_true", help="no per-epoch lines")
    add_classes_outside_arg(p)
    p.set_defaults(func=run)


def resumable_options() -> tuple[str, ...]:
    """Options a resumed run may change; the rest come from the run's config.json."""
    return tuple(f.name for f in _flag_fields() if f.metadata["option"].resumable)


def _flag_values(args: argparse.Namespace) -> dict:
    """The config fields given on the command line (None = not given)."""
    values = {f.name: getattr(args, f.name) for f in _flag_fields() if f.name != "options"}
    if args.option:
        values["options"] = dataset_options(args)
    return {k: v for k, v in values.items() if v is not None}


def build_config(args: argparse.Namespace):
    """TrainConfig from --config / --preset, then the flags given."""
    from segdash.train.config import TrainConfig

    flags = _flag_values(args)
    if args.config:
        if args.preset:
            raise SegdashError("give either --config or --preset, not both")
        return TrainConfig.from_dict({**TrainConfig.from_json_file(args.config).to_dict(), **flags})
    return TrainConfig.from_preset(args.preset, **flags)


def run(args: argparse.Namespace) -> int:
    from segdash.train.config import TrainConfig
    from segdash.train.rundir import remove_unstarted
    from segdash.train.runs import new_run_dir
    from segdash.train.trainer import train

    resume = args.resume is not None
    if resume:
        run_dir = Path(args.out if args.resume is True else args.resume)
        if args.resume is True and not args.out:
            raise SegdashError("--resume needs the run folder: --resume RUN_DIR (or --out RUN_DIR --resume)")
        if args.out and args.resume is not True and Path(args.out).resolve() != run_dir.resolve():
            raise SegdashError("--resume RUN_DIR and --out name different folders; give one of them")
        config_file = Path(args.config) if args.config else run_dir / "config.json"
        if not config_file.is_file():
            raise SegdashError(f"{run_dir} is not a training run (no config.json); nothing to resume")
        config = TrainConfig.from_json_file(config_file).to_dict()
        flags = _flag_values(args)
        resumable = resumable_options()
        changed = sorted(k for k in flags if k not in resumable and flags[k] != config.get(k))
        if changed:
            raise SegdashError(
                f"a resumed run keeps its options; {', '.join('--' + k.replace('_', '-') for k in changed)} "
                f"cannot change (only {', '.join('--' + k.replace('_', '-') for k in resumable)} can)"
            )
        config.update({k: v for k, v in flags.items() if k in resumable})
        config = TrainConfig.from_dict(config)
    else:
        config = build_config(args)
        run_dir = Path(args.out) if args.out else new_run_dir(config)
        if (run_dir / "run.json").exists():
            raise SegdashError(f"{run_dir} already holds a run; pick a new --out folder or continue it with --resume")
    created = not run_dir.exists() and int(os.environ.get("RANK", "0")) == 0  # rank 0 makes the folder
    try:
        result = train(config, run_dir, resume=resume, echo=not args.quiet)
    except BaseException:
        if created:  # a start refused before its first step leaves no folder behind
            remove_unstarted(run_dir)
        raise
    if not args.quiet:
        best = f", best val mean Dice {result.best_val_mean_dice:.4f} at epoch {result.best_epoch}" if result.best_epoch else ""
        why = f" ({result.stop_reason})" if result.stop_reason else ""
        print(f"{result.status}{why} after {result.seconds / 60:.1f} min{best}: {run_dir}", flush=True)
    return 0
