"""Scores of segmentations: confusion matrix, overlap scores, surface distances, and the metric table.

    from segdash.metrics import ConfusionMatrix, confusion_matrix, scores_from_confusion
    from segdash.metrics.specs import metric_spec, list_metrics     # what each metric is (cheap to import)

``confusion``: one histogram per batch, rows = ground truth; ``scores``: IoU, Dice, precision,
recall, specificity from it (undefined = NaN, left out of means); ``distance``: HD95 (pooled and
max of directions), ASSD and relative area difference per class of one image; ``specs``: one
``MetricSpec`` per metric, read by every table, figure and ranking.

The names below are imported on first use, so that ``segdash.metrics.specs`` (which the CLI's
argument parsers and the first screen read) does not pull in torch and scipy.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ConfusionMatrix": "confusion",
    "confusion_matrix": "confusion",
    "aggregate_distances": "distance",
    "assd": "distance",
    "distance_metrics": "distance",
    "hausdorff95": "distance",
    "hausdorff95_max": "distance",
    "relative_area_difference": "distance",
    "UNDEFINED_NOTE": "scores",
    "Scores": "scores",
    "scores_from_confusion": "scores",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segdash.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"segdash.metrics.{_EXPORTS[name]}"), name)
