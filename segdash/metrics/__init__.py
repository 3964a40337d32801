"""Scores of segmentations: confusion matrix, overlap scores, surface distances.

    from segdash.metrics import ConfusionMatrix, confusion_matrix, scores_from_confusion

``confusion``: one histogram per batch, rows = ground truth; ``scores``: IoU, Dice, precision,
recall, specificity from it (undefined = NaN, left out of means); ``distance``: HD95, ASSD and
relative area difference per class of one image.
"""

from segdash.metrics.confusion import ConfusionMatrix, confusion_matrix
from segdash.metrics.distance import aggregate_distances, assd, distance_metrics, hausdorff95, relative_area_difference
from segdash.metrics.scores import UNDEFINED_NOTE, Scores, scores_from_confusion

__all__ = [
    "UNDEFINED_NOTE",
    "ConfusionMatrix",
    "Scores",
    "aggregate_distances",
    "assd",
    "confusion_matrix",
    "distance_metrics",
    "hausdorff95",
    "relative_area_difference",
    "scores_from_confusion",
]
