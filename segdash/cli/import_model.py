"""``segdash import``: another framework's model files become a segdash checkpoint folder.

    segdash import unet_folder/ --classes classes.txt                       # smp save_pretrained folder
    segdash import deeplab.pth --arch deeplabv3_resnet50 --classes voc.txt  # torchvision state dict
    segdash import model.onnx --classes classes.txt --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375

The folder goes to ``--out`` (default: ``runs/imported/<name>``, which the dashboard's model picker
lists). What the files cannot say comes from the flags; a missing one is a one-line error naming it.
(The module is ``import_model``: ``import`` is a Python keyword.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import",
        help="turn an smp folder, a torchvision state dict or an ONNX graph into a segdash checkpoint",
        description="Turn a plain segmentation-models-pytorch folder (save_pretrained), a torchvision segmentation "
        "state dict (.pth/.pt/.bin read as tensors only, or .safetensors; with --arch) or an ONNX graph from any "
        "producer into a segdash checkpoint folder. transformers folders need no import: --checkpoint opens them "
        "as they are.",
    )
    parser.add_argument("source", metavar="SRC", help="the smp folder, state dict file or .onnx file")
    parser.add_argument("--out", "-O", metavar="DIR", help="the checkpoint folder to write (default: runs/imported/<name>)")
    add_fact_args(parser)
    parser.add_argument("--force", action="store_true", help="replace DIR if it exists")
    parser.set_defaults(func=run)


def add_fact_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classes", metavar="FILE", help="class names: one a line, or a classes.csv/json as the "
                        "dataset formats read (colours too)")
    # the names are not imported here: segdash.models brings torch, and --help stays instant
    parser.add_argument("--arch", help="the torchvision model of a state dict: deeplabv3_resnet50, fcn_resnet50, "
                        "lraspp_mobilenet_v3_large, ... (a wrong name lists them all)")
    parser.add_argument("--input-range", metavar="LOW..HIGH",
                        help="the value range of the training images before normalisation (default 0..255: 8-bit)")
    parser.add_argument("--mean", help="per-channel means, comma-separated, for inputs scaled to 0..1 (0.485,0.456,"
                        "0.406) or in the input's units (123.675,116.28,103.53)")
    parser.add_argument("--std", help="per-channel standard deviations, as --mean")
    parser.add_argument("--input-size", type=int, metavar="N", help="images are fitted to NxN before the model")
    parser.add_argument("--dataset", default="", help="the dataset it was trained on (shown in the model picker)")


def facts_from_args(args: argparse.Namespace):
    from segdash.errors import SegdashError
    from segdash.models.importing import ImportFacts, parse_numbers, parse_range

    if args.input_size is not None and not 1 <= args.input_size <= 8192:
        raise SegdashError(f"--input-size must be 1 to 8192, got {args.input_size}")
    return ImportFacts(
        classes=args.classes, arch=args.arch,
        input_range=parse_range(args.input_range) if args.input_range else None,
        mean=parse_numbers(args.mean, "--mean") if args.mean else None,
        std=parse_numbers(args.std, "--std") if args.std else None,
        input_size=args.input_size, dataset=args.dataset,
    )  # fmt: skip


def default_out(source: str) -> Path:
    from segdash.train.runs import default_runs_root

    path = Path(source).expanduser()
    name = path.stem if path.is_file() else path.resolve().name
    return default_runs_root() / "imported" / (name or "model")


def run(args: argparse.Namespace) -> int:
    import warnings

    from segdash.models.importing import import_model

    out = Path(args.out).expanduser() if args.out else default_out(args.source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # smp's and torchvision's deprecation chatter
        result = import_model(args.source, out, facts_from_args(args), replace=args.force)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"imported the {result.kind} model {args.source} as {result.folder} (open it with --checkpoint {result.folder})")
    return 0
