"""A large folder dataset: first scan, cached open, stats in 1 vs N processes, peak memory.

    python benchmarks/bench_large_folder.py                 # 20,000 image/mask pairs (64x64 PNGs)
    python benchmarks/bench_large_folder.py --count 2000    # any size
    python benchmarks/bench_large_folder.py --quick         # 2,000 pairs

Generates ``root/images/*.png`` and ``root/masks/*.png`` in a temporary folder (removed at the end),
with its own segdash cache folder, then measures:
- first scan: ``open_dataset(root, format="folder")`` with an empty cache (every file's header read);
- cached open: the same in this process with the scan cached (the Dataset page's open), and the
  command line ``segdash stats root -f folder --split train`` in a fresh process once the scan and
  the statistics are cached (Python's start and imports included): the issue's bar is under 2 s;
- stats, no cache: ``class_statistics(..., workers=1)`` against ``workers=N`` (interleaved), the ratio;
- peak RSS of a fresh process (the parent; each worker process streams its shard the same way) counting
  the statistics at a tenth of the pairs and at all of them
  (flat: the larger within 1.25x of the smaller).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import MIB, REPO_ROOT, Report, make_parser, mode_name, peak_rss_bytes, pick, time_interleaved

OPEN_BAR_S = 2.0
FLAT_BAR = 1.25
SIZE = 64
NUM_CLASSES = 5


def write_folder(root: Path, count: int, size: int = SIZE) -> None:
    """``count`` pairs of small PNGs: a grey image and a mask of a few rectangles of NUM_CLASSES classes."""
    import cv2

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        mask = np.zeros((size, size), np.uint8)
        for _ in range(3):
            y, x, h, w = rng.integers(0, size - 8, 4)
            mask[y : y + h // 2 + 4, x : x + w // 2 + 4] = rng.integers(1, NUM_CLASSES)
        image = (mask * 40 + rng.integers(0, 30, (size, size))).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{i:06d}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i:06d}.png"), mask)
    (root / "classes.csv").write_text("name\n" + "\n".join(f"class_{c}" for c in range(NUM_CLASSES)) + "\n")


def open_folder(root: Path):
    from segdash.data import open_dataset

    return open_dataset(str(root), format="folder", val_fraction=0, test_fraction=0)


def child_stats(root: Path, workers: int) -> int:
    """In a fresh process: open the folder and count its statistics; one JSON line with the peak RSS."""
    from segdash.data.stats import class_statistics

    ds = open_folder(root)
    stats = class_statistics(ds, "train", use_cache=False, workers=workers)
    print(json.dumps({"images": stats.images, "seconds": stats.seconds, "peak_rss_bytes": peak_rss_bytes()}))
    return 0


def _child(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=str(REPO_ROOT),
                          timeout=3600, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc


def measure_open(report: Report, root: Path, count: int, env: dict) -> None:
    """First scan, cached open in this process, and the command line with everything cached."""
    from segdash.data.stats import class_statistics

    start = time.perf_counter()
    ds = open_folder(root)
    first = time.perf_counter() - start
    assert len(ds.ids("train")) == count, "the generated folder did not open whole"
    start = time.perf_counter()
    open_folder(root)
    cached = time.perf_counter() - start
    class_statistics(ds, "train")  # fills the statistics cache for the command line
    cli = ["-m", "segdash", "stats", str(root), "-f", "folder", "--split", "train", "-o", "val_fraction=0",
           "-o", "test_fraction=0"]  # fmt: skip
    cli_seconds, proc = _child(cli, env)
    assert "(cached)" in proc.stdout, proc.stdout[-500:]
    report.add_row(measure="first scan (open_dataset, empty cache)", seconds=first, pairs=count)
    report.add_row(measure="cached open (open_dataset, scan cached)", seconds=cached, pairs=count)
    report.add_row(measure="segdash stats, fresh process, scan and stats cached", seconds=cli_seconds, pairs=count)
    report.add_check("cached open in this process", cached, OPEN_BAR_S, higher_is_better=False, unit=" s")
    report.add_check("segdash stats (cached) in a fresh process", cli_seconds, OPEN_BAR_S, higher_is_better=False,
                     unit=" s")  # fmt: skip


def measure_stats(report: Report, root: Path, count: int, workers: int, reps: int) -> None:
    """The statistics in one pass against ``workers`` processes, interleaved, no statistics cache."""
    from segdash.data.stats import class_statistics

    ds = open_folder(root)
    timings = time_interleaved({
        "1 worker": lambda: class_statistics(ds, "train", use_cache=False, workers=1),
        f"{workers} workers": lambda: class_statistics(ds, "train", use_cache=False, workers=workers),
    }, repeats=reps, warmup=0)  # fmt: skip
    one, many = timings["1 worker"], timings[f"{workers} workers"]
    for timing in (one, many):
        report.add_row(measure=f"stats, {timing.name}", seconds=timing.median, pairs=count,
                       masks_per_s=count / timing.median, **timing.summary())  # fmt: skip
    report.add_row(measure=f"stats, {workers} workers vs 1", speedup=one.median / many.median, pairs=count)


def measure_rss(report: Report, root: Path, count: int, workers: int, env: dict) -> None:
    """Peak RSS of a fresh process counting a tenth of the pairs (a copy of the folder) and all of them."""
    small_root = root.parent / "small"
    small = max(count // 10, 1)
    write_folder(small_root, small)
    peaks = {}
    for pairs, folder in ((small, small_root), (count, root)):
        _, proc = _child([str(Path(__file__)), "--child-stats", str(folder), "--child-workers", str(workers)], env)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        peaks[pairs] = result["peak_rss_bytes"]
        report.add_row(measure=f"peak RSS, stats over {pairs} pairs ({workers} workers)",
                       peak_rss_mib=result["peak_rss_bytes"] / MIB, seconds=result["seconds"], pairs=pairs)
    if all(peaks.values()):
        report.add_check(f"peak RSS at {count} pairs / at {small}", peaks[count] / peaks[small], FLAT_BAR,
                         higher_is_better=False, unit="")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=None, help="image/mask pairs (default 20,000; --quick 2,000)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes for the N-worker run")
    parser.add_argument("--child-stats", default=None, help=argparse_suppress())
    parser.add_argument("--child-workers", type=int, default=1, help=argparse_suppress())
    args = parser.parse_args(argv)
    if args.child_stats:
        return child_stats(Path(args.child_stats), args.child_workers)

    count = args.count or pick(args, 20000, 2000, 200)
    workers = args.workers or max(2, min(8, os.cpu_count() or 2))
    reps = args.repeats or pick(args, 3, 2, 1)
    report = Report("large_folder", {"pairs": count, "size": SIZE, "workers": workers, "repeats": reps,
                                     "mode": mode_name(args)})  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="segdash-bench-folder-"))
    previous_cache = os.environ.get("SEGDASH_CACHE")
    os.environ["SEGDASH_CACHE"] = str(work / "cache")  # an empty cache: the first scan is a first scan
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    try:
        start = time.perf_counter()
        write_folder(work / "data", count)
        report.note(f"wrote {count} pairs of {SIZE}x{SIZE} PNGs in {time.perf_counter() - start:.1f} s")
        measure_open(report, work / "data", count, env)
        measure_stats(report, work / "data", count, workers, reps)
        measure_rss(report, work / "data", count, workers, env)
    finally:
        if previous_cache is None:
            os.environ.pop("SEGDASH_CACHE", None)
        else:
            os.environ["SEGDASH_CACHE"] = previous_cache
        shutil.rmtree(work, ignore_errors=True)
    report.finish(args)
    return 0


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
