"""The imbalance statistics' cost: street-synth train with and without them, and memory as the split grows.

    python benchmarks/bench_stats_imbalance.py          # 9 interleaved rounds; synthetic 100 and 1,000 images
    python benchmarks/bench_stats_imbalance.py --quick

Project: ``segdash.data.stats.class_statistics(ds, "train", use_cache=False)`` with the imbalance statistics
(co-occurrence, 8-connected objects, 32x32 spatial priors, top images; the default) against
``extended=False`` (pixel counts, presence and weights: the statistics before them), both in this process,
interleaved. Bar: the full statistics cost at most 3x the basic ones. Memory: peak of Python + NumPy
allocations (tracemalloc) of the full statistics at 1x and 10x the images of a synthetic split; the
imbalance statistics hold one batch of masks (``BATCH_PIXELS`` pixels, ``RUN_BUDGET`` runs, recorded
in the parameters), so the peak should not move.
"""

from __future__ import annotations

import os
import sys

from bench_stats import synthetic_dataset
from common import MIB, Report, make_parser, mode_name, pick, repeats, time_interleaved, tracemalloc_peak

COST_BAR = 3.0
FLAT_BAR = 1.25


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    base_images = pick(args, 100, 20, 3)
    size = pick(args, 256, 256, 32)
    reps = repeats(args, full=9, quick=3)
    report = Report("stats_imbalance", {"repeats": reps, "synthetic_images_1x": base_images, "size": size,
                                        "mode": mode_name(args), "load_before": os.getloadavg()}, device="cpu")
    from segdash.data import open_dataset
    from segdash.data.stats import BATCH_PIXELS, RUN_BUDGET, class_statistics

    report.params.update(batch_pixels=BATCH_PIXELS, run_budget=RUN_BUDGET)

    ds = open_dataset("street-synth", **({"count": "12"} if args.smoke else {}))
    images = len(ds.ids("train"))
    timings = time_interleaved({
        "basic": lambda: class_statistics(ds, "train", use_cache=False, extended=False),
        "full": lambda: class_statistics(ds, "train", use_cache=False),
    }, reps)  # fmt: skip
    basic, full = timings["basic"], timings["full"]
    report.add_row(case=f"street-synth train ({images} images)", basic_s=basic.median, full_s=full.median,
                   ratio=full.median / basic.median, basic_min_s=basic.best, full_min_s=full.best,
                   ms_per_image_extra=1000 * (full.median - basic.median) / images)  # fmt: skip
    report.add_check("full / basic statistics time, street-synth train", full.median / basic.median, COST_BAR,
                     higher_is_better=False)  # fmt: skip

    peaks = {}
    for factor in (1, 10):
        synthetic = synthetic_dataset(base_images * factor, size)
        _, peaks[factor] = tracemalloc_peak(lambda ds=synthetic: class_statistics(ds, "train", use_cache=False))
        report.add_row(case=f"peak memory, {base_images * factor} synthetic images", peak_mib=peaks[factor] / MIB)
    report.add_check("full statistics peak memory 10x / 1x images (flat)", peaks[10] / peaks[1], FLAT_BAR,
                     higher_is_better=False)  # fmt: skip
    report.params["load_after"] = os.getloadavg()
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
