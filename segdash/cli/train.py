"""``segdash train``: train a model into a run directory the dashboard can watch.

    segdash train brain-mri --out runs/brain                       # quick preset (default)
    segdash train brain-mri --preset full --seed 1 --out runs/full
    segdash train /data/pets --format oxford-pets --arch FPN --encoder resnet34 --img-size 256 --out runs/pets
    segdash train --resume runs/brain --epochs 20                   # continue a stopped or finished run
    torchrun --nproc_per_node=2 -m segdash train brain-mri --device cpu --out runs/ddp
"""

from __future__ import annotations

import argparse
from pathlib import Path

from segdash.cli.common import add_device_arg, dataset_options
from segdash.errors import SegdashError

#: Options a resumed run may change; the rest come from the run's config.json.
RESUMABLE_OVERRIDES = ("epochs", "max_minutes", "device", "threads", "patience", "workers", "precision", "keep_checkpoints")


def register(subparsers) -> None:
    from segdash.train.config import CLASS_WEIGHTS, LOSSES, PRECISIONS, PRESET_SUMMARIES, SCHEDULES, TrainConfig

    quick = TrainConfig()

    def default(field: str) -> str:
        return f" (quick preset: {getattr(quick, field)})"

    p = subparsers.add_parser(
        "train",
        help="train a segmentation model; curves and checkpoints stream to a run folder",
        description=(
            "Train an smp model on a dataset. The run folder (--out) holds run.json (config, status), "
            "metrics.jsonl (one line per step and per epoch), checkpoints/epoch_K and checkpoints/best "
            "(highest val mean Dice). Create a file named STOP in it, or send SIGTERM, to stop cleanly. "
            "One process per run folder: a second start or --resume of a live run is refused. A NaN/inf "
            "loss ends the run as failed (\"diverged at epoch E, step S\"), keeping the earlier checkpoints."
        ),
        epilog="presets: " + "; ".join(f"{k}: {v}" for k, v in PRESET_SUMMARIES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", nargs="?", help="built-in dataset name or folder (with --format); default brain-mri")
    p.add_argument("--format", "-f", help="the folder's layout when DATASET is a path (see 'segdash datasets')")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset format option, repeatable")
    p.add_argument("--limit", type=int, help="use at most N images of each split (evenly spaced), to try a setup")
    p.add_argument("--out", help="run folder to create (default: a new folder under $SEGDASH_RUNS or runs/)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (or in --out) from its last checkpoint")
    p.add_argument("--config", help="read the options from a JSON file (a config.json or run.json); flags override")
    p.add_argument("--preset", help=f"option set to start from ({', '.join(PRESET_SUMMARIES)}); default quick")
    g = p.add_argument_group("model")
    g.add_argument("--arch", help="architecture, e.g. Unet, FPN, DeepLabV3Plus, Segformer (default Unet)")
    g.add_argument("--encoder", help="encoder, e.g. tu-tf_efficientnet_lite0, resnet34 (default tu-tf_efficientnet_lite0)")
    g.add_argument("--pretrained", nargs="?", const="offline", choices=["offline", "imagenet", "none"],
                   help="ImageNet encoder weights: offline (shipped in a package; EfficientNet-Lite0 only), "
                        "imagenet (download), none (random init). Default: offline for the quick preset")
    g.add_argument("--freeze-encoder", action=argparse.BooleanOptionalAction, default=None, help="train the decoder only")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, help="passes over the training split" + default("epochs"))
    g.add_argument("--batch-size", type=int, help="images per step (per process under torchrun)" + default("batch_size"))
    g.add_argument("--lr", type=float, help="peak learning rate of AdamW" + default("lr"))
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay" + default("weight_decay"))
    g.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule per step (cosine has a warm-up)" + default("schedule"))
    g.add_argument("--img-size", type=int, help="train on SxS resized images (multiple of 32)" + default("img_size"))
    g.add_argument("--loss", choices=LOSSES, help="training loss" + default("loss"))
    g.add_argument("--class-weights", choices=CLASS_WEIGHTS, help="weight the cross-entropy by class frequency")
    g.add_argument("--rare-oversample", type=float, metavar="STRENGTH",
                   help="draw images holding classes under 1%% of the training pixels more often: weight 1 + "
                        "STRENGTH x the image's rare content relative to the average image's (0: off)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="flips, small affine scale/rotate, brightness/contrast, blur (same geometry for the mask)")
    g.add_argument("--augment-orientation", action=argparse.BooleanOptionalAction, default=None,
                   help="with --augment: also vertical flips and 90-degree turns (no natural up/down)")
    g.add_argument("--patience", type=int, help="early stopping: epochs without val Dice gain (0: off)")
    g.add_argument("--max-minutes", type=float, help="stop after this much training time (validates and saves first)")
    g.add_argument("--seed", type=int, help="seed for weights init, shuffling and augmentation" + default("seed"))
    g = p.add_argument_group("machine")
    add_device_arg(g)
    g.add_argument("--precision", choices=PRECISIONS, help="auto: mixed precision on CUDA, fp32 on CPU")
    g.add_argument("--threads", type=int, help="CPU threads for the model (default: one per core)")
    g.add_argument("--workers", type=int, help="DataLoader worker processes (default: chosen for the device)")
    g.add_argument("--cache", choices=["auto", "on", "off"], help="keep resized samples in memory (auto: when they fit in 2 GB)")
    g.add_argument("--keep-checkpoints", type=int, help="newest epoch checkpoints to keep (0: all)")
    g.add_argument("--log-every", type=int, help="write a step line every N steps")
    g.add_argument("--preview-images", type=int, help="val images whose predictions are saved each epoch")
    g.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=run, device=None)  # None: not given (the preset's or the resumed run's value holds)


def _flag_values(args: argparse.Namespace) -> dict:
    """The config fields given on the command line (None = not given)."""
    values = {
        "dataset": args.dataset, "format": args.format, "limit": args.limit, "arch": args.arch, "encoder": args.encoder,
        "freeze_encoder": args.freeze_encoder, "epochs": args.epochs, "batch_size": args.batch_size,
        "lr": args.lr, "weight_decay": args.weight_decay, "schedule": args.schedule, "img_size": args.img_size,
        "loss": args.loss, "class_weights": args.class_weights, "rare_oversample": args.rare_oversample,
        "augment": args.augment,
        "augment_orientation": args.augment_orientation, "patience": args.patience,
        "max_minutes": args.max_minutes, "seed": args.seed, "device": args.device, "threads": args.threads, "precision": args.precision,
        "workers": args.workers, "cache": args.cache, "keep_checkpoints": args.keep_checkpoints,
        "log_every": args.log_every, "preview_images": args.preview_images, "pretrained": args.pretrained,
    }
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
        changed = sorted(k for k in flags if k not in RESUMABLE_OVERRIDES and flags[k] != config.get(k))
        if changed:
            raise SegdashError(
                f"a resumed run keeps its options; {', '.join('--' + k.replace('_', '-') for k in changed)} "
                f"cannot change (only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE_OVERRIDES)} can)"
            )
        config.update({k: v for k, v in flags.items() if k in RESUMABLE_OVERRIDES})
        config = TrainConfig.from_dict(config)
    else:
        config = build_config(args)
        run_dir = Path(args.out) if args.out else new_run_dir(config)
        if (run_dir / "run.json").exists():
            raise SegdashError(f"{run_dir} already holds a run; pick a new --out folder or continue it with --resume")
    result = train(config, run_dir, resume=resume, echo=not args.quiet)
    if not args.quiet:
        best = f", best val mean Dice {result.best_val_mean_dice:.4f} at epoch {result.best_epoch}" if result.best_epoch else ""
        why = f" ({result.stop_reason})" if result.stop_reason else ""
        print(f"{result.status}{why} after {result.seconds / 60:.1f} min{best}: {run_dir}", flush=True)
    return 0
