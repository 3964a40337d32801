"""Deterministic train/val/test splits for folders that do not ship their own.

The order is decided by a hash of ``(seed, id)``, not by the order the ids come
in, so the same files always give the same split on any machine, and adding a
few files moves only a few old ones::

    seeded_split(["a", "b", "c", "d", "e"], fractions=(0.6, 0.2, 0.2))
    # {"train": [...3 ids...], "val": [1 id], "test": [1 id]}

``groups`` keeps related ids together (the slices of one volume, the frames of
one video): neighbouring samples are near copies and must never straddle splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from segdash.errors import SegdashError


def _rank_key(seed: int, key: str) -> str:
    return hashlib.sha1(f"{seed}\0{key}".encode()).hexdigest()


def split_counts(total: int, fractions: Sequence[float]) -> list[int]:
    """Integer sizes for ``total`` items in proportion to ``fractions`` (largest remainder).

    Every split with a positive fraction gets at least one item when there are
    enough items to go round.
    """
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise SegdashError(f"split fractions must be non-negative and not all zero, got {list(fractions)}")
    weights = [f / sum(fractions) for f in fractions]
    exact = [w * total for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (exact[i] - counts[i], weights[i]), reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    wanted = [i for i, w in enumerate(weights) if w > 0]
    if total >= len(wanted):
        for i in wanted:
            if counts[i] == 0:  # take one from the biggest split
                donor = max(range(len(counts)), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] += 1
    return counts


def seeded_split(
    ids: Iterable[str],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    names: Sequence[str] = ("train", "val", "test"),
    seed: int = 0,
    groups: Callable[[str], str] | None = None,
) -> dict[str, list[str]]:
    """Split ``ids`` into named parts in the given proportions, deterministically.

    Returns ``{name: sorted ids}`` for every name (possibly empty lists), in the
    order of ``names``. With ``groups``, ids mapping to the same group key land
    in the same split and the fractions apply to groups.
    """
    if len(fractions) != len(names):
        raise SegdashError(f"{len(fractions)} split fractions for {len(names)} split names {list(names)}")
    unique_ids = sorted(set(ids))
    group_of = groups or (lambda sample_id: sample_id)
    members: dict[str, list[str]] = {}
    for sample_id in unique_ids:
        members.setdefault(group_of(sample_id), []).append(sample_id)
    ordered_groups = sorted(members, key=lambda g: (_rank_key(seed, g), g))
    counts = split_counts(len(ordered_groups), fractions)
    result: dict[str, list[str]] = {}
    start = 0
    for name, count in zip(names, counts):
        chosen = ordered_groups[start : start + count]
        start += count
        result[name] = sorted(sample_id for g in chosen for sample_id in members[g])
    return result


# --- a subset of a split -----------------------------------------------------------------------------
def evenly_spaced_indices(total: int, count: int | None) -> list[int]:
    """``count`` indices spread evenly over ``range(total)``, first and last included; all of them when
    ``count`` is None or not smaller than ``total``.

    The one meaning of "a subset of N images" everywhere (``--limit``, the Evaluate page, training,
    previews): neighbouring slices of a volume or frames of a video are near copies, so the first N
    would show one part of the data; N spread over the whole split show all of it.
    """
    if count is None or count >= total:
        return list(range(total))
    if count <= 0:
        return []
    return [int(i) for i in np.linspace(0, total - 1, count).round()]


def evenly_spaced(ids: Sequence[str], count: int | None) -> list[str]:
    """``count`` of ``ids`` spread evenly over the list (see ``evenly_spaced_indices``)."""
    return [ids[i] for i in evenly_spaced_indices(len(ids), count)]
