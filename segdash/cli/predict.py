"""``segdash predict``: label images with a checkpoint, write label PNGs and overlays.

    segdash predict --checkpoint runs/brain/best scans/ extra.png --out preds/
    segdash evaluate brain-mri --split test --pred-dir preds/   # scores what predict wrote

For every input image ``<stem>.<ext>`` it writes ``OUT/<stem>.png``, a palette PNG
whose pixel values are the class indices (readable as labels, shown in the class
colours), and unless ``--no-overlay`` ``OUT/overlays/<stem>.png``, the class colours
blended over the image. ``OUT/predictions.json`` lists what was done per image. With
``--uncertainty`` also ``OUT/uncertainty/<stem>.png``: an 8-bit grey PNG of the image's size,
round(255 * normalised entropy of the softmax), black where the model is sure, white where every
class is equally likely.

Pixel values are mapped to the checkpoint's training range (``segdash.data.pixels``): an
8-bit PNG, a 16-bit PNG or TIFF and a float ``.npy`` of one slice get the same labels; each
kind of conversion is noted once on stderr, and an image far from the training data's
intensities gets a warning.

Inputs are image files or folders (their images, not recursive). Unreadable files
inside a folder are skipped with a warning; an unreadable file named on the command
line makes the exit status 2 after the others are done; a missing path stops at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segdash.cli.common import add_device_arg


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="label image files or folders with a checkpoint; write label PNGs and overlays",
        description="Run a checkpoint on image files and folders. Writes OUT/<stem>.png (label indices as a "
        "palette PNG, what 'segdash evaluate --pred-dir' reads), OUT/overlays/<stem>.png and OUT/predictions.json.",
    )
    parser.add_argument("--checkpoint", "-c", required=True, help="checkpoint folder (holding segdash.json)")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    parser.add_argument("--out", "-O", required=True, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument(
        "--overlay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write colour overlays to DIR/overlays/ (default: yes)",
    )
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity, 0..1 (default: 0.5)")
    parser.add_argument("--uncertainty", action="store_true",
                        help="also write DIR/uncertainty/<stem>.png: 8-bit grey, round(255 * normalised entropy)")
    add_predictor_args(parser)
    parser.set_defaults(func=run)


def add_predictor_args(parser: argparse.ArgumentParser) -> None:
    """--device, --tta and --backend: how a checkpoint runs (shared with ``segdash evaluate``)."""
    add_device_arg(parser)
    parser.add_argument("--tta", action="store_true", help="flip test-time augmentation (average of 2 runs)")
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="auto: ONNX Runtime on CPU when it reproduces PyTorch, else PyTorch (default: auto)",
    )


def load_predictor(args: argparse.Namespace):
    """The ``Predictor`` that --checkpoint, --device, --tta and --backend ask for; how it runs goes to stderr."""
    from segdash.infer.predictor import predictor_for

    predictor = predictor_for(args.checkpoint, device=args.device, tta=args.tta, backend=args.backend)
    for note in predictor.notes:  # e.g. why ONNX Runtime is not used
        print(f"note: {note}", file=sys.stderr)
    return predictor


def collect_inputs(inputs: list[str]) -> tuple[list[tuple[Path, bool]], list[str]]:
    """``[(image path, named explicitly)]`` and warnings; raises ``SegdashError`` for a missing path."""
    from segdash.data.imageio import IMAGE_EXTENSIONS, list_images
    from segdash.errors import SegdashError

    found: list[tuple[Path, bool]] = []
    warnings: list[str] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if not path.exists():
            raise SegdashError(f"input {raw!r} does not exist")
        if path.is_dir():
            images = list_images(path)
            if not images and (path / "images").is_dir():  # a dataset-style folder: root/images/
                images = list_images(path / "images")
            if not images:
                warnings.append(f"{path}: no images found in this folder")
            found.extend((p, False) for p in images)
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append((path, True))
        else:
            extensions = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise SegdashError(f"input {raw!r} is not an image file (extensions: {extensions})")
    seen: dict[str, Path] = {}
    for path, _ in found:
        other = seen.setdefault(path.stem, path)
        if other != path:
            raise SegdashError(
                f"inputs {other} and {path} share the name {path.stem!r}, so both would be written to "
                f"{path.stem}.png; predict them into different --out folders"
            )
    return found, warnings


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from tqdm import tqdm

    from segdash.cli.common import show_progress
    from segdash.data.imageio import read_image
    from segdash.data.shape import check_image_shape
    from segdash.errors import SegdashError
    from segdash.fsutil import atomic_write_json
    from segdash.viz.palette import palette_for

    if not 0.0 <= args.alpha <= 1.0:
        raise SegdashError(f"--alpha must be between 0 and 1, got {args.alpha}")
    inputs, notes = collect_inputs(args.inputs)
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if not inputs:
        raise SegdashError("no images to predict in the given inputs")
    out = _output_folder(args.out)
    predictor = load_predictor(args)
    meta = predictor.meta
    read_mode = "native" if meta.in_channels == 1 else "rgb"
    colors = palette_for(meta.classes, meta.colors or None)
    records, failed_named, notes_seen = [], [], Counter()
    for path, named in tqdm(inputs, desc="predict", unit="img", file=sys.stderr, disable=not show_progress()):
        try:
            image = read_image(path, mode=read_mode)
            check_image_shape(path.name, image.shape)  # the dashboard's rule for uploads
        except SegdashError as exc:
            print(f"warning: skipped {exc}", file=sys.stderr)
            if named:
                failed_named.append(str(path))
            continue
        prediction = predictor.predict(image)
        notes_seen.update(prediction.notes)
        if prediction.hint:
            print(f"warning: {path.name}: {prediction.hint}", file=sys.stderr)
        records.append(_write_prediction(out, path, image, prediction, colors, meta.ignore_index, args))
    summary = {
        "checkpoint": str(args.checkpoint),
        "arch": meta.arch,
        "encoder": meta.encoder,
        "classes": meta.classes,
        "colors": [list(c) for c in meta.colors],
        "device": str(predictor.device),
        "backend": predictor.backend,
        "tta": predictor.tta,
        "predictor_notes": predictor.notes,
        "input_range": meta.input_range.to_dict(),
        "images": records,
    }
    atomic_write_json(out / "predictions.json", summary)
    for note, count in notes_seen.items():  # e.g. how pixel values were mapped to the model's range
        print(f"note: {note} ({count} image{'s' if count != 1 else ''})", file=sys.stderr)
    print(f"wrote {len(records)} label map(s) to {out}" + (" (overlays in overlays/)" if args.overlay else ""))
    if failed_named:
        raise SegdashError(f"{len(failed_named)} named file(s) could not be read: {', '.join(failed_named)}")
    if not records:
        raise SegdashError("none of the images could be read")
    return 0


def _output_folder(text: str) -> Path:
    """``--out`` made (with its parents) if missing; a one-line error when it cannot be."""
    from segdash.errors import SegdashError

    out = Path(text).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SegdashError(f"cannot use --out {str(out)!r} as the output folder: {exc.strerror or exc}") from None
    return out


def _write_prediction(out: Path, path: Path, image, prediction, colors, ignore_index, args) -> dict:
    """Write one image's label PNG (and overlay, uncertainty map when asked); its record in predictions.json."""
    from segdash.data.imageio import write_label_png
    from segdash.fsutil import atomic_write_bytes

    label_path = out / f"{path.stem}.png"
    write_label_png(label_path, prediction.labels, colors=colors)
    record = {
        "input": str(path),
        "labels": label_path.name,
        "height": int(prediction.labels.shape[0]),
        "width": int(prediction.labels.shape[1]),
        "seconds": round(prediction.seconds, 4),
        "notes": prediction.notes,
        "hint": prediction.hint,
    }
    if args.overlay:
        overlay_path = out / "overlays" / f"{path.stem}.png"
        atomic_write_bytes(overlay_path, _overlay_png(image, prediction.labels, colors, ignore_index, args.alpha))
        record["overlay"] = f"overlays/{overlay_path.name}"
    if args.uncertainty:
        record["uncertainty"] = _write_uncertainty(out, path.stem, prediction.probs)
    return record


def _write_uncertainty(out: Path, stem: str, probs) -> str:
    """OUT/uncertainty/<stem>.png from (K, H, W) probabilities; returns its path relative to OUT."""
    from segdash.fsutil import atomic_write_bytes
    from segdash.metrics.calibration import uncertainty_image
    from segdash.viz.overlay import encode_png

    atomic_write_bytes(out / "uncertainty" / f"{stem}.png", encode_png(uncertainty_image(probs)))
    return f"uncertainty/{stem}.png"


def _overlay_png(image, labels, colors, ignore_index: int | None, alpha: float) -> bytes:
    """The class colours blended over the image (HxWx3 uint8), as PNG bytes."""
    from segdash.viz.overlay import encode_png, overlay_mask

    return encode_png(overlay_mask(image, labels, colors, alpha=alpha, ignore_index=ignore_index))
