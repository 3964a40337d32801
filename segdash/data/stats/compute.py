"""``class_statistics``: one split's statistics in one streaming pass, or several processes, cached.

One mask is read at a time (the imbalance statistics hold one batch of masks), so memory stays flat
however large the split. The on-disk cache (``segdash.data.stats.cache``) answers a second call
while the dataset's files are unchanged.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from segdash.data.base import SegDataset
from segdash.data.formats.skipping import warn_skipped_samples
from segdash.data.options import MAX_CLASSES
from segdash.data.stats import cache
from segdash.data.stats.accumulation import _Accumulator
from segdash.data.stats.merge import merge_stats
from segdash.data.stats.result import ClassStats
from segdash.errors import SegdashError
from segdash.progress import Progress
from segdash.sharding import shard_of


def class_statistics(
    ds: SegDataset,
    split: str,
    progress: Progress | None = None,
    use_cache: bool = True,
    extended: bool = True,
    strict: bool = False,
    shard: tuple[int, int] | None = None,
    workers: int = 1,
) -> ClassStats:
    """Pixel statistics of ``split`` in one pass over its masks (one mask in memory at a time).

    progress: called as ``progress(done, total)`` after each image.
    use_cache: read and write the on-disk cache (``cache_dir("stats")``).
    extended: also the imbalance statistics (co-occurrence, objects, spatial prior, top images).
    strict: stop at the first unreadable or mismatched sample; by default it is left out with a
    warning naming it, and listed in ``ClassStats.skipped``.
    shard: ``(rank, world_size)``, only this process's contiguous share of the split, for ``merge_stats``
    to put together (the cache, which holds whole splits, is then neither read nor written).
    workers: processes counting contiguous shards side by side, merged as ``merge_stats`` merges
    torchrun's (splits of at least ``MIN_IMAGES_PER_PROCESS`` images per process; one pass otherwise).
    """
    ds.check_split(split)
    if not ds.has_masks(split):
        raise SegdashError(f"split {split!r} of {ds.name!r} has no masks (predict-only); pick another split")
    if ds.num_classes > MAX_CLASSES:  # a (C, C) co-occurrence of more would take gigabytes
        raise SegdashError(f"{ds.name!r} has {ds.num_classes} classes; segdash counts at most {MAX_CLASSES}")
    identity = cache.identity(ds, split, extended) if use_cache and shard is None else None
    cache_file = cache.cache_file(ds, split, identity) if identity is not None else None
    cached = cache.read_cached(cache_file)
    if cached is not None:
        return cached

    ids = ds.ids(split) if shard is None else shard_of(ds.ids(split), *shard)
    if workers > 1 and shard is None and len(ids) >= workers * MIN_IMAGES_PER_PROCESS and _can_fork():
        stats = _in_processes(ds, split, workers, extended, strict, progress)
    else:
        stats = _one_pass(ds, split, ids, extended, strict, progress)
    if cache_file is not None:
        cache.write_cached(cache_file, identity, stats)
    return stats


def _one_pass(ds: SegDataset, split: str, ids: list[str], extended: bool, strict: bool,
              progress: Progress | None) -> ClassStats:
    """The statistics of ``ids`` in one pass, one mask at a time and in order."""
    start = time.perf_counter()
    totals = _Accumulator(ds.num_classes, ds.ignore_index, extended)
    skipped: list[tuple[str, str]] = []
    for done, sample_id in enumerate(ids, start=1):
        mask = _mask_or_error(ds, split, sample_id)
        try:
            if isinstance(mask, SegdashError):
                raise mask
            if mask is None:
                totals.without_mask += 1
            else:
                totals.add(mask, sample_id)  # raises before counting anything for labels outside the classes
        except SegdashError as exc:
            if strict:
                raise
            skipped.append((str(sample_id), str(exc)))
        if progress is not None:
            progress(done, len(ids))
    warn_skipped_samples(skipped)
    return dataclasses.replace(totals.result(ds, split, time.perf_counter() - start), skipped=tuple(skipped))


# --- several processes ------------------------------------------------------------------------------
#: below this many images per process, starting the processes costs more than it saves
MIN_IMAGES_PER_PROCESS = 256
#: the dataset the forked processes count (inherited, not pickled: built-ins hold their arrays in memory)
_FORKED: dict = {}


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _in_processes(ds: SegDataset, split: str, workers: int, extended: bool, strict: bool,
                  progress: Progress | None) -> ClassStats:
    """``workers`` forked processes each count a contiguous shard (decoding and counting side by side),
    put together by ``merge_stats`` as under torchrun: the same result as one pass.

    Threads did not pay: on 20,000 small PNGs two decoding threads ran 0.64x one pass, the counting
    being Python-bound work that holds the GIL. ``progress`` is called as the shards finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    total = len(ds.ids(split))
    _FORKED.update(ds=ds, split=split, extended=extended, strict=strict, world=workers)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts, done = [], 0
            for part in pool.map(_count_shard, range(workers)):
                parts.append(part)
                done += part.images + len(part.skipped)
                if progress is not None:
                    progress(min(done, total), total)
    finally:
        _FORKED.clear()
    return dataclasses.replace(merge_stats(parts), seconds=time.perf_counter() - start)


def _count_shard(rank: int) -> ClassStats:
    ds, split = _FORKED["ds"], _FORKED["split"]
    ids = shard_of(ds.ids(split), rank, _FORKED["world"])
    return _one_pass(ds, split, ids, _FORKED["extended"], _FORKED["strict"], None)


def _mask_or_error(ds: SegDataset, split: str, sample_id: str) -> np.ndarray | SegdashError | None:
    """``ds.load_mask`` (the mask file alone where the dataset can), with the user error returned rather
    than raised, so a worker thread hands it back in order."""
    try:
        return ds.load_mask(split, sample_id)
    except SegdashError as exc:
        return exc

