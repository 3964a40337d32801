"""Class statistics over a split: megapixels/s in one pass, and peak memory flat as the split grows.

    python benchmarks/bench_stats.py          # brain-mri train split; synthetic 100 and 1,000 images
    python benchmarks/bench_stats.py --quick

Project: ``segdash.data.stats.class_statistics(ds, split, use_cache=False)``. For context, the
way seed 000 counts "número de píxeles medio por clase": stack every mask of the split into
one array (``np.concatenate`` per batch) and then ``np.sum(labels == c)`` per class.
Peak memory of Python + NumPy allocations (tracemalloc) at 1x and 10x the images: flat means
the 10x peak stays within 1.25x of the 1x peak (the issue's "memory flat as the split grows").
"""

from __future__ import annotations

import sys

import numpy as np
from common import (
    MIB,
    Report,
    make_parser,
    mode_name,
    pick,
    project_missing,
    repeats,
    speedup,
    time_interleaved,
    tracemalloc_peak,
)

FLAT_BAR = 1.25
POOL = 8


def synthetic_dataset(images: int, size: int, num_classes: int = 13):
    """A SegDataset whose samples are generated on demand from the sample id (nothing held in memory)."""
    from segdash.data.base import Sample, SegDataset

    rng = np.random.default_rng(0)
    # imbalanced labels as in street scenes: class c drawn with weight ~ 1/(c+1)^2; a small pool of
    # masks reused by id keeps generation out of the timing and the memory held constant.
    weights = 1.0 / np.arange(1, num_classes + 1) ** 2
    pool_masks = rng.choice(num_classes, size=(POOL, size, size), p=weights / weights.sum()).astype(np.int64)
    pool_masks[:, :2] = 255  # an ignored border, as in VOC
    pool_images = rng.integers(0, 256, (POOL, size, size, 3), dtype=np.uint8)

    class SyntheticStreets(SegDataset):
        name = "benchmark-synthetic"
        classes = tuple(f"class {i}" for i in range(num_classes))
        colors = tuple((i * 19 % 256, i * 67 % 256, i * 131 % 256) for i in range(num_classes))
        ignore_index = 255
        in_channels = 3

        def splits(self) -> list[str]:
            return ["train"]

        def ids(self, split: str) -> list[str]:
            return [f"{i:05d}" for i in range(images)]

        def load(self, split: str, sample_id: str) -> Sample:
            # a fresh copy per sample, as a decoder would allocate one
            index = int(sample_id) % POOL
            return Sample(pool_images[index].copy(), pool_masks[index].copy(), sample_id)

    return SyntheticStreets()


def seed000_mean_pixels_per_class(ds, split: str) -> np.ndarray:
    """Seed 000's way: gather all masks into one float64 array, then one comparison per class."""
    first = ds.load(split, ds.ids(split)[0]).mask
    all_labels = np.empty(shape=[0, *first.shape])
    for _, mask, _ in ds.iter_samples(split):
        all_labels = np.concatenate((all_labels, mask[None]), axis=0)
    return np.array([np.sum(all_labels == c) for c in range(ds.num_classes)]) / len(all_labels)


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    base_images = pick(args, 100, 20, 3)
    size = pick(args, 256, 256, 32)
    reps = repeats(args, full=5, quick=3)
    report = Report("stats", {"synthetic_images_1x": base_images, "synthetic_images_10x": 10 * base_images,
                              "size": size, "repeats": reps, "mode": mode_name(args)}, device="cpu")
    try:
        from segdash.data.stats import class_statistics
    except ImportError as exc:
        project_missing(report, "segdash.data.stats.class_statistics", exc)
        report.finish(args)
        return 0

    # 1) Throughput on the built-in brain-mri train split and on the synthetic 1x split.
    datasets = [("synthetic 256x256, 13 classes", synthetic_dataset(base_images, size), "train")]
    if not args.smoke:
        from segdash.data import open_dataset

        datasets.insert(0, ("brain-mri", open_dataset("brain-mri"), "train"))
    for label, ds, split in datasets:
        megapixels = sum(ds.load(split, i).mask.size for i in ds.ids(split)) / 1e6
        timings = time_interleaved({
            "segdash class_statistics": lambda ds=ds, split=split: class_statistics(ds, split, use_cache=False),
            "seed 000 concatenate + per-class sum": lambda ds=ds, split=split: seed000_mean_pixels_per_class(ds, split),
        }, reps)
        project, seed = timings["segdash class_statistics"], timings["seed 000 concatenate + per-class sum"]
        stats = class_statistics(ds, split, use_cache=False)
        assert np.allclose(stats.pixels / stats.images, seed000_mean_pixels_per_class(ds, split)[: ds.num_classes])
        report.add_row(dataset=label, images=len(ds.ids(split)), megapixels=megapixels,
                       project_s=project.median, project_mp_per_s=megapixels / project.median,
                       seed000_s=seed.median, seed000_mp_per_s=megapixels / seed.median,
                       speedup=speedup(seed, project))

    # 2) Peak memory at 1x and 10x the images: the project streams, the seed's way holds every mask.
    peaks = {}
    for factor in (1, 10):
        ds = synthetic_dataset(base_images * factor, size)
        _, peaks[factor] = tracemalloc_peak(lambda ds=ds: class_statistics(ds, "train", use_cache=False))
    seed_peak = tracemalloc_peak(lambda: seed000_mean_pixels_per_class(synthetic_dataset(base_images, size),
                                                                       "train"))[1]
    report.add_row(dataset=f"peak memory, {base_images} images", project_peak_mib=peaks[1] / MIB,
                   seed000_peak_mib=seed_peak / MIB)
    report.add_row(dataset=f"peak memory, {10 * base_images} images", project_peak_mib=peaks[10] / MIB,
                   seed000_peak_mib=None)
    report.note(f"seed 000's way at {10 * base_images} images not run (quadratic concatenation); it holds every "
                f"mask as float64: {10 * base_images * size * size * 8 / MIB:.0f} MiB at least")
    report.add_check("class_statistics peak memory 10x / 1x images (flat)", peaks[10] / peaks[1], FLAT_BAR,
                     higher_is_better=False)
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
