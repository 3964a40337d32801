"""Putting the statistics of consecutive shards of a split together (torchrun, ``--workers``)."""

from __future__ import annotations

import dataclasses
import heapq

from segdash.data.stats.result import TOP_IMAGES, ClassStats

# --- putting shards together ------------------------------------------------------------------

#: ClassStats fields that are counts over the images, summed over shards.
_SUMMED_FIELDS = ("images", "pixels", "images_with_class", "pixels_of_images_with_class", "ignored_pixels",
                  "images_without_mask", "cooccurrence", "object_counts", "object_area_counts", "cell_pixels")


def merge_stats(parts: list[ClassStats]) -> ClassStats:
    """One split's ``ClassStats`` from those of its consecutive shards, given in shard order.

    Counts add up, skipped samples follow each other, sizes take the smallest and largest, and each
    class's top images are the TOP_IMAGES largest (pixels, sample id) of the shards' tops, as the
    single pass's heap keeps them, so the result equals the single-process one. ``seconds`` is the
    slowest shard's (they ran side by side).
    """
    if not parts:
        raise ValueError("merge_stats needs at least one ClassStats")
    first = parts[0]
    if any(p.classes != first.classes or p.extended != first.extended for p in parts):
        raise ValueError("the shards were counted with different classes or with and without --basic")
    summed = {key: sum(getattr(p, key) for p in parts) for key in _SUMMED_FIELDS if getattr(first, key) is not None}
    sized = [p for p in parts if p.min_size is not None]
    top = None
    if first.top_images is not None:
        top = tuple(_merge_top([p.top_images[c] for p in parts]) for c in range(first.num_classes))
    return dataclasses.replace(
        first, **summed, skipped=tuple(pair for p in parts for pair in p.skipped), top_images=top,
        min_size=(min(p.min_size[0] for p in sized), min(p.min_size[1] for p in sized)) if sized else None,
        max_size=(max(p.max_size[0] for p in sized), max(p.max_size[1] for p in sized)) if sized else None,
        seconds=max(p.seconds for p in parts), from_cache=False,
    )


def _merge_top(tops: list[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    """The TOP_IMAGES largest (pixels, sample id) of several shards' top lists, most pixels first."""
    entries = heapq.nlargest(TOP_IMAGES, ((n, i) for top in tops for i, n in top))
    return tuple((i, n) for n, i in sorted(entries, key=lambda e: (-e[0], e[1])))
