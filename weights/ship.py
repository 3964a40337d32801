"""Copy trained checkpoints from runs/ into weights/ in half precision, check and score them.

    python weights/ship.py --runs runs          # after weights/train_all.sh trained the runs

For each shipped checkpoint: load the run's fp32 checkpoint, save it with
``save_checkpoint(..., half=True)``, reload the fp16 copy (it loads as fp32) and
check that its labels on the test split equal the fp32 model's on >= 99.9% of the
pixels, then score it on the test split with ``segdash.infer.evaluate`` (the
same code as ``segdash evaluate``). The test scores go into the checkpoint's
metadata (``metrics["test_..."]``) and into ``weights/metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent

#: shipped name -> (run folder under --runs, checkpoint inside its checkpoints/, dataset)
SHIPPED = {
    "brain-mri_unet_lite0_best": ("weights-brain-unet", "best", "brain-mri"),
    "brain-mri_unet_lite0_epoch03": ("weights-brain-unet", "epoch_3", "brain-mri"),
    "brain-mri_deeplabv3plus_lite0": ("weights-brain-deeplab", "best", "brain-mri"),
    "street-synth_unet_lite0": ("weights-street-unet", "best", "street-synth"),
    "street-synth_unet_lite0_balanced": ("weights-street-remedy", "best", "street-synth"),
}


def ship(name: str, source: Path, dataset_name: str) -> dict:
    from segdash.data import open_dataset
    from segdash.infer.evaluate import evaluate
    from segdash.infer.predictor import Predictor
    from segdash.models.checkpoint import load_checkpoint, read_meta, save_checkpoint

    target = WEIGHTS / name
    model, meta = load_checkpoint(source)
    save_checkpoint(model, meta, target, half=True)
    curves = source.parent.parent / "metrics.jsonl"  # the run's curves, for the Compare page's curves tab
    if curves.is_file():
        shutil.copyfile(curves, target / "metrics.jsonl")

    dataset = open_dataset(dataset_name)
    full, half = Predictor(model, meta, device="cpu"), Predictor.from_checkpoint(target, device="cpu")
    agree = total = 0
    for sample_id in dataset.ids("test"):
        image = dataset.load("test", sample_id).image
        a, b = full.predict_labels([image]), half.predict_labels([image])
        agree += int((a == b).sum())
        total += a.numel()
    agreement = agree / total
    if agreement < 0.999:
        raise SystemExit(f"{name}: fp16 copy agrees with fp32 on only {agreement:.5f} of test pixels")

    start = time.perf_counter()
    result = evaluate(dataset, "test", predictor=half, distances=False)
    scores = result.scores
    per_class = {c: (None if np.isnan(d) else round(float(d), 4)) for c, d in zip(dataset.classes, scores.dice)}
    foreground = [float(d) for c, d in zip(dataset.classes, scores.dice) if c not in ("background", "unlabeled")]
    figures = {
        "checkpoint": f"weights/{name}",
        "source": str(source),
        "dataset": dataset_name,
        "epoch": meta.epoch,
        "test_images": result.images,
        "test_mean_dice": round(float(scores.mean_dice), 4),
        "test_mean_iou": round(float(scores.mean_iou), 4),
        "test_pixel_accuracy": round(float(scores.pixel_accuracy), 4),
        "test_mean_dice_foreground": round(float(np.nanmean(foreground)), 4),
        "test_dice": per_class,
        "fp16_label_agreement": round(agreement, 6),
        "size_mb": round(sum(p.stat().st_size for p in target.iterdir()) / 2**20, 2),
        "train_seconds": _train_seconds(source, meta.epoch),
        "eval_seconds": round(time.perf_counter() - start, 1),
    }
    meta = read_meta(target)
    meta.metrics.update({k: v for k, v in figures.items() if k.startswith("test_")})
    (target / "segdash.json").write_text(meta.to_json() + "\n", encoding="utf-8")
    return figures


def _train_seconds(checkpoint: Path, epoch: int | None) -> float | None:
    """Wall time of the run's epochs up to ``epoch`` (training + validation), from metrics.jsonl."""
    from segdash.train.runs import read_metrics

    _, epochs = read_metrics(checkpoint.parent.parent)
    seconds = [e["seconds"] for e in epochs if epoch is None or e["epoch"] <= epoch]
    return round(float(sum(seconds)), 1) if seconds else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs", help="folder holding the weights-* runs")
    parser.add_argument("names", nargs="*", help=f"only these ({', '.join(SHIPPED)})")
    args = parser.parse_args(argv)
    metrics_path = WEIGHTS / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    for name in args.names or SHIPPED:
        run, checkpoint, dataset = SHIPPED[name]
        source = Path(args.runs) / run / "checkpoints" / checkpoint
        if not source.is_dir():
            print(f"skip {name}: {source} does not exist (train it with weights/train_all.sh)", file=sys.stderr)
            continue
        metrics[name] = ship(name, source, dataset)
        print(json.dumps(metrics[name]), flush=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
