"""Which share of a split each process of a torchrun launch reads.

    shard_of(["a", "b", "c", "d", "e"], rank=1, world_size=2)   # ["d", "e"]

Shares are contiguous and in order (rank 0 first), so putting the processes' per-image
rows one after the other in rank order gives back the split's order. Sizes differ by at
most one; with more processes than items the last ones get nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from segdash.errors import SegdashError


def shard_bounds(count: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of process ``rank``'s share of ``count`` items; the first ``count % world_size`` get one more."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise SegdashError(f"process rank {rank} is outside 0..{world_size - 1}; check torchrun's RANK and WORLD_SIZE")
    base, extra = divmod(count, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def shard_of(items: Sequence, rank: int, world_size: int) -> list:
    """Process ``rank``'s contiguous share of ``items`` (see ``shard_bounds``)."""
    start, stop = shard_bounds(len(items), rank, world_size)
    return list(items[start:stop])
