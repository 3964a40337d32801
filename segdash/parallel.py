"""Work done ahead in threads, handed back in order, with a bounded number of items in flight.

    for item, result in ordered_map(decode, ids, workers=4):
        total.add(result)          # the consumer still sees one result at a time, in input order

Decoding a PNG or JPEG (Pillow, OpenCV) releases the GIL, so threads decode several masks at
once while the caller's single-pass accumulation keeps its order. At most ``window`` results
wait at a time, so memory stays a few items' worth however long the input.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers(limit: int = 8) -> int:
    """Decoding threads by default: one per CPU this process may use, at most ``limit``."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(limit, usable))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 1,
                window: int | None = None) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` in the order of ``items``; ``workers`` > 1 runs ``fn`` in that many threads,
    at most ``window`` (default ``2 * workers``) items ahead of the consumer. An exception from ``fn``
    is raised where its item comes up; closing the iterator early cancels what has not started."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    window = max(window or 2 * workers, 1)
    pending: deque[tuple[T, Future]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segdash-ordered")
    try:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                done_item, future = pending.popleft()
                yield done_item, future.result()
        while pending:
            done_item, future = pending.popleft()
            yield done_item, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
