"""``segdash export``: a checkpoint as an ONNX file, checked against PyTorch.

    segdash export --checkpoint runs/brain/best --onnx brain.onnx

The graph's input ``image`` is (N, C, H, W) float32, normalised as the checkpoint's
``segdash.json`` says (also stored in the ONNX metadata under ``segdash``); H and W
must be multiples of the encoder's stride (32 for most encoders). Batch, height and
width are dynamic. Output ``logits``: (N, K, H, W).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX (dynamic batch and size), verified with ONNX Runtime",
        description="Export a checkpoint folder to an ONNX file with dynamic batch, height and width. The file "
        "is written only after ONNX Runtime reproduces PyTorch's output at two shapes other than the traced one; "
        "the largest logit difference is printed.",
    )
    parser.add_argument("--checkpoint", "-c", required=True, help="checkpoint folder (holding segdash.json)")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx", help="where to write the ONNX file")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    parser.set_defaults(func=run)


#: Model families segdash does not export, and what to do instead.
NOT_EXPORTED = {
    "onnx": "{checkpoint} is an ONNX graph already: its model.onnx is the file",
    "transformers": "segdash does not export transformers models (their image processor runs in Python); "
                    "transformers' own exporter (optimum) does",
    "mask_classification": "segdash does not export transformers models (their image processor runs in Python); "
                           "transformers' own exporter (optimum) does",
}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import os
    import warnings
    from pathlib import Path

    from segdash.errors import SegdashError
    from segdash.infer.onnx import export_checkpoint

    out = Path(args.onnx)
    if out.is_dir():
        raise SegdashError(f"--onnx {out} is a folder; give a file name such as {out / 'model.onnx'}")
    if not 11 <= args.opset <= 20:
        raise SegdashError(f"--opset {args.opset} is not supported; use 11..20 (default 17)")
    try:  # fail before the slow export, not after it
        out.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(out.parent, os.W_OK)
    except OSError as exc:
        raise SegdashError(f"cannot write --onnx {str(out)!r}: {exc.strerror or exc}") from None
    if not writable:
        raise SegdashError(f"cannot write --onnx {str(out)!r}: the folder {str(out.parent)!r} is not writable")
    from segdash.models.checkpoint import read_meta

    refused = NOT_EXPORTED.get(read_meta(args.checkpoint).family)
    if refused:
        raise SegdashError(refused.format(checkpoint=args.checkpoint))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check = export_checkpoint(args.checkpoint, out, opset=args.opset)
    size_mb = out.stat().st_size / 1e6
    print(f"wrote {out} ({size_mb:.1f} MB, opset {args.opset}, dynamic batch/height/width)")
    print(
        f"ONNX Runtime vs PyTorch: max abs logit difference {check.max_abs_diff:.2e}, "
        f"labels equal on {check.label_agreement:.4%} of pixels"
    )
    return 0
