"""What the failure metrics cost: Boundary IoU, objects, calibration and uncertainty on top of today's evaluation.

    python benchmarks/bench_failure_metrics.py            # brain-mri test x5 interleaved; memory at 49 and 490 images
    python benchmarks/bench_failure_metrics.py --quick    # x3; memory at 20 and 200 images

Project: ``evaluate(ds, "test", predictor, distances=True)`` with the new metrics on (the default) against
the same call with ``failure_metrics=False`` (the evaluation as it was before them), interleaved in one
process so load from other processes falls on both alike. Bar (the issue): at most 1.5x the time.
Memory: the peak of Python-tracked allocations (numpy included) while evaluating N and 10 N images of a
synthetic brain-mri split, and the bytes the result keeps per image; flat means the peak does not grow
with N beyond the small table per image. The load average is recorded with the figures.
"""

from __future__ import annotations

import os
import sys

from bench_evaluate import default_predictor, synthetic_split
from common import MIB, Report, make_parser, pick, time_interleaved, tracemalloc_peak

RATIO_BAR = 1.5


def kept_bytes(evaluation) -> int:
    """Bytes of the per-image arrays an Evaluation keeps (confusion, distances, boundary, objects, confidence)."""
    arrays = [evaluation.per_image_confusion, evaluation.per_image_boundary, evaluation.per_image_objects]
    arrays += list((evaluation.per_image_distances or {}).values())
    arrays += list((evaluation.per_image_confidence or {}).values())
    return sum(a.nbytes for a in arrays if a is not None)


def main(argv: list[str] | None = None) -> int:
    from segdash.data import open_dataset
    from segdash.infer.evaluate import evaluate

    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    reps = args.repeats or pick(args, 5, 3, 1)
    small = pick(args, 49, 20, 4)
    predictor, source = default_predictor(args.device)
    report = Report("failure_metrics", {"repeats": reps, "model": source, "load_before": os.getloadavg()},
                    device=str(predictor.device))  # fmt: skip
    ds = open_dataset("brain-mri")
    limit = 8 if args.smoke else None

    def run(on: bool):
        return lambda: evaluate(ds, "test", predictor=predictor, distances=True, failure_metrics=on, limit=limit)

    timings = time_interleaved({"before (failure_metrics=False)": run(False), "with the new metrics": run(True)},
                               repeats=reps)  # fmt: skip
    for timing in timings.values():
        report.add_row(case=f"brain-mri test, distances on, {timing.name}", **timing.summary())
    before, after = timings.values()
    report.add_check("time with / without the new metrics", after.median / before.median, RATIO_BAR,
                     higher_is_better=False, unit="x")  # fmt: skip

    for images in (small, 10 * small):
        evaluation, peak = tracemalloc_peak(lambda n=images: evaluate(synthetic_split(n), "test", predictor=predictor))
        report.add_row(case=f"memory, {images} synthetic slices, everything on", images=images,
                       traced_peak_mib=peak / MIB, kept_per_image_bytes=kept_bytes(evaluation) / images)
    report.params["load_after"] = os.getloadavg()
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
