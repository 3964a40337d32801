"""Class pixel statistics of a dataset split, in one streaming pass, cached on disk.

    stats = class_statistics(open_dataset("street-synth"), "train")
    stats.frequency          # (C,) float64, share of labelled pixels per class
    stats.image_presence     # (C,) float64, share of images in which the class appears
    stats.class_weights("median")
    stats.cooccurrence       # (C, C) int64, images holding both class i and class j
    stats.object_counts      # (C,) int64, 8-connected objects per class
    stats.spatial_prior      # (C, 32, 32) float64, where each class's pixels fall in the frame
    split_drift(train, test) # Jensen-Shannon divergence of the class frequencies, in bits

Pixels equal to the ignore index are counted apart (``ignored_pixels``) and take part in nothing
else. The imbalance statistics come from the same pass (``extended=False`` skips them) and cost
under 3x the basic counts (street-synth train on 2 cores: 2.35x-2.75x at load 0.8-1.1, 2.5x-3.2x
under load 1.6-4; 7-8x before the masks were batched).

One module per step:
- ``result``: ``ClassStats``, the result, its weights, shares, JSON and cache form;
- ``counting``: one mask's pixels per class and per cell of the spatial grid;
- ``objects``: the connected-components engine (shared with ``segdash.metrics.objects``);
- ``accumulation``: running sums over the masks of a split;
- ``compute``: ``class_statistics``, the pass (or passes in several processes);
- ``cache``: the on-disk cache and its key; ``merge``: shards put together; ``drift``: split drift.
"""

from segdash.data.stats.cache import STATS_VERSION
from segdash.data.stats.compute import MIN_IMAGES_PER_PROCESS, class_statistics
from segdash.data.stats.counting import cell_counts, count_mask
from segdash.data.stats.drift import MUCH_RARER, split_drift
from segdash.data.stats.merge import merge_stats
from segdash.data.stats.objects import (
    AREA_EDGES,
    BATCH_PIXELS,
    RUN_BUDGET,
    SIZE_BUCKETS,
    SIZE_LIMITS,
    SMALL_OBJECT,
    batch_objects,
    connected_objects,
    label_objects,
)
from segdash.data.stats.result import GRID, TOP_IMAGES, WEIGHT_METHODS, ClassStats
from segdash.progress import Progress

__all__ = [
    "AREA_EDGES",
    "BATCH_PIXELS",
    "GRID",
    "MIN_IMAGES_PER_PROCESS",
    "MUCH_RARER",
    "RUN_BUDGET",
    "SIZE_BUCKETS",
    "SIZE_LIMITS",
    "SMALL_OBJECT",
    "STATS_VERSION",
    "TOP_IMAGES",
    "WEIGHT_METHODS",
    "ClassStats",
    "Progress",
    "batch_objects",
    "cell_counts",
    "class_statistics",
    "connected_objects",
    "count_mask",
    "label_objects",
    "merge_stats",
    "split_drift",
]
