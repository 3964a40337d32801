"""Evaluation end to end: images/s over the brain-mri test split, time outside the forward pass, peak RSS.

    python benchmarks/bench_evaluate.py            # test split x5 repetitions; 1,000-image RSS run
    python benchmarks/bench_evaluate.py --quick    # 200-image RSS run

Project: ``segdash.infer.evaluate.evaluate(ds, "test", predictor)`` with the default model (the
shipped brain-mri checkpoint when weights/ has one, else a fresh Unet-lite0) and the default
settings (batch 8, distance metrics on), and once without distances. ``Evaluation.seconds`` is
the whole call; ``forward_seconds`` the time inside ``predictor.predict_labels``. Bars (issue 5):
the share outside the forward pass (loading, metrics, distances) < 20% of the total; peak resident
memory of a fresh process evaluating 1,000 images < 2 GB (a synthetic split of brain-mri-sized
slices generated on demand, so only the evaluation's own memory grows).
"""

from __future__ import annotations

import json
import sys

from common import (
    MIB,
    REPO_ROOT,
    Report,
    make_parser,
    mode_name,
    peak_rss_bytes,
    pick,
    project_missing,
    run_python_child,
)

SHARE_BAR = 0.20
RSS_BAR_GB = 2.0


def default_predictor(device: str = "auto"):
    """A Predictor for the default model on brain-mri: the shipped checkpoint, else a fresh one."""
    import torch
    from bench_inference import shipped_default_checkpoint

    from segdash.data import open_dataset
    from segdash.infer.predictor import Predictor
    from segdash.models.checkpoint import CheckpointMeta
    from segdash.models.registry import create_model

    checkpoint = shipped_default_checkpoint()
    if checkpoint is not None:
        return Predictor.from_checkpoint(checkpoint, device=device), str(checkpoint.relative_to(REPO_ROOT))
    ds = open_dataset("brain-mri")
    torch.manual_seed(0)  # the same fresh weights in every process: the ONNX export cache then hits
    model = create_model("Unet", "tu-tf_efficientnet_lite0", in_channels=ds.in_channels, num_classes=ds.num_classes)
    meta = CheckpointMeta(arch="Unet", encoder="tu-tf_efficientnet_lite0", classes=list(ds.classes),
                          colors=list(ds.colors), in_channels=ds.in_channels, normalization=ds.normalization,
                          ignore_index=ds.ignore_index, dataset="brain-mri")
    return Predictor(model, meta, device=device), "fresh Unet-lite0 (weights/ has no brain-mri checkpoint)"


def synthetic_split(images: int, size: int | None = None):
    """A dataset of ``images`` brain-mri-like samples made on demand from the real test slices (cycled)."""
    from segdash.data import open_dataset
    from segdash.data.base import Sample, SegDataset

    brain = open_dataset("brain-mri")
    pool = [brain.load("test", i) for i in brain.ids("test")]
    if size is not None:
        pool = [Sample(s.image[:size, :size].copy(), s.mask[:size, :size].copy(), s.sample_id) for s in pool]

    class ManySlices(SegDataset):
        name = "brain-mri-x"
        classes, colors = brain.classes, brain.colors
        ignore_index, in_channels = brain.ignore_index, brain.in_channels
        normalization = brain.normalization

        def splits(self) -> list[str]:
            return ["test"]

        def ids(self, split: str) -> list[str]:
            return [f"{i:05d}" for i in range(images)]

        def load(self, split: str, sample_id: str) -> Sample:
            source = pool[int(sample_id) % len(pool)]
            return Sample(source.image.copy(), source.mask.copy(), sample_id)  # fresh arrays, as a decoder's

    return ManySlices()


def child_rss(images: int, size: int | None, device: str) -> int:
    """In a fresh process: evaluate ``images`` synthetic slices; print one JSON line with peak RSS."""
    from segdash.infer.evaluate import evaluate

    predictor, source = default_predictor(device)
    before = peak_rss_bytes()
    evaluation = evaluate(synthetic_split(images, size), "test", predictor=predictor)
    print(json.dumps({"images": evaluation.images, "seconds": evaluation.seconds, "model": source,
                      "peak_rss_before_bytes": before, "peak_rss_bytes": peak_rss_bytes()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--child-rss", type=int, metavar="N", help=argparse_suppress())
    parser.add_argument("--child-size", type=int, default=None, help=argparse_suppress())
    args = parser.parse_args(argv)
    if args.child_rss:
        return child_rss(args.child_rss, args.child_size, args.device)

    reps = args.repeats or pick(args, 3, 2, 1)
    rss_images = pick(args, 1000, 200, 8)
    report = Report("evaluate", {"repeats": reps, "rss_images": rss_images, "mode": mode_name(args)})
    try:
        from segdash.data import open_dataset
        from segdash.infer.evaluate import evaluate

        predictor, source = default_predictor(args.device)
    except ImportError as exc:
        project_missing(report, "segdash.infer.evaluate / segdash.infer.predictor", exc)
        report.finish(args)
        return 0
    report.device = str(predictor.device)
    report.params.update(model=source, backend=getattr(predictor, "backend", "torch"))
    ds = open_dataset("brain-mri")
    limit = 8 if args.smoke else None

    for distances in (True,) if args.smoke else (True, False):
        runs = []
        for _ in range(reps):  # each repetition is a whole evaluation; the median run is reported
            runs.append(evaluate(ds, "test", predictor=predictor, distances=distances, limit=limit))
        median_run = sorted(runs, key=lambda e: e.seconds)[len(runs) // 2]
        share = 1.0 - median_run.forward_seconds / median_run.seconds
        report.add_row(case=f"brain-mri test, distances {'on' if distances else 'off'}",
                       images=median_run.images, seconds=median_run.seconds,
                       images_per_s=median_run.images / median_run.seconds,
                       forward_s=median_run.forward_seconds, outside_forward_share=share,
                       share_spread=f"{min(1 - e.forward_seconds / e.seconds for e in runs):.0%}-"
                                    f"{max(1 - e.forward_seconds / e.seconds for e in runs):.0%}",
                       mean_dice=median_run.scores.mean_dice)
        report.add_check(f"time outside forward, distances {'on (default)' if distances else 'off'}",
                         share * 100, SHARE_BAR * 100, higher_is_better=False, unit="%")

    child = run_python_child([str(REPO_ROOT / "benchmarks" / "bench_evaluate.py"), "--child-rss", str(rss_images),
                              "--device", args.device, *(["--child-size", "64"] if args.smoke else [])])
    peak_gb = child["peak_rss_bytes"] / 1024**3
    report.add_row(case=f"fresh process, {child['images']} synthetic slices", images=child["images"],
                   seconds=child["seconds"], images_per_s=child["images"] / child["seconds"],
                   peak_rss_mib=child["peak_rss_bytes"] / MIB,
                   rss_before_evaluate_mib=child["peak_rss_before_bytes"] / MIB)
    report.add_check(f"peak RSS evaluating {child['images']} images", peak_gb, RSS_BAR_GB, higher_is_better=False,
                     unit=" GB", note="" if child["images"] >= 1000 else "fewer than the 1,000 the bar names")
    report.finish(args)
    return 0


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
