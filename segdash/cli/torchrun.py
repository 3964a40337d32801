"""``segdash evaluate`` and ``segdash stats`` under torchrun: each process takes its share of the split.

    torchrun --nproc_per_node=4 -m segdash evaluate cityscapes-folder -f folder --checkpoint runs/x/best --json e.json

Each process reads, predicts and counts its own contiguous share of the split's ids (one GPU per
process with NCCL, or CPU processes with gloo); the per-process results (counts and per-image
rows only) are gathered on rank 0, put together in split order and written once, equal to what
one process would write. The process group comes from ``segdash.train.distributed``, as training's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # torch is imported only under torchrun: `segdash stats` alone never needs it
    from segdash.train.distributed import DistInfo

T = TypeVar("T")


def launched_by_torchrun() -> bool:
    """True when torchrun started this process as one of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def process_group(device_name: str | None) -> Iterator[DistInfo | None]:
    """The process group's ``DistInfo`` under torchrun (closed on exit), else None (one process, nothing set up)."""
    if not launched_by_torchrun():
        yield None
        return
    from segdash.train.distributed import setup, teardown

    info = setup(device_name)
    try:
        yield info
    finally:
        teardown(info)


def shard(info: DistInfo | None) -> tuple[int, int] | None:
    """``(rank, world_size)`` for ``evaluate(shard=...)`` / ``class_statistics(shard=...)``; None for one process."""
    return (info.rank, info.world_size) if info is not None else None


def is_main(info: DistInfo | None) -> bool:
    """True in the process that prints and writes: rank 0, or the only process."""
    return info is None or info.is_main


def merged_on_main(part: T, info: DistInfo | None, merge: Callable[[list[T]], T]) -> T | None:
    """``merge`` of every process's ``part`` in rank order on rank 0, None on the others; ``part`` alone
    for one process."""
    if info is None:
        return part
    from segdash.train.distributed import gather_to_main

    parts = gather_to_main(part, info)
    return merge(parts) if parts is not None else None
