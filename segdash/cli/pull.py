"""``segdash pull``: download a model folder from the Hugging Face Hub (the only command that uses the network).

    segdash pull hf:nvidia/segformer-b0-finetuned-ade-512-512
    segdash predict --checkpoint runs/hub/nvidia--segformer-b0-finetuned-ade-512-512 photo.jpg --out preds/

Only JSON and safetensors files are fetched (never code, never pickle). Offline, it says so.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pull",
        help="download a segmentation model folder from the Hugging Face Hub (JSON and safetensors only)",
        description="Download a transformers segmentation model (config.json, preprocessor_config.json, "
        "model.safetensors) from the Hugging Face Hub. Nothing but JSON and safetensors files is fetched; the "
        "folder is kept only if segdash opens it. This is the only segdash command that uses the network.",
    )
    parser.add_argument("source", metavar="hf:ORG/NAME", help="the model on the Hub, e.g. hf:nvidia/segformer-b0-finetuned-ade-512-512")
    parser.add_argument("--out", "-O", metavar="DIR", help="where to put it (default: runs/hub/ORG--NAME)")
    parser.add_argument("--revision", help="a branch, tag or commit (default: main)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segdash.models.hub import pull

    result = pull(args.source, args.out, revision=args.revision, replace=args.force)
    print(f"pulled hf:{result.repo} ({result.revision}, {len(result.files)} files) into {result.folder}")
    print(f"open it with --checkpoint {result.folder}, or pick it in the dashboard's sidebar")
    return 0
