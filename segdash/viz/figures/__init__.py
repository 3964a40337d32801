"""Plotly figures for the dashboard: pure functions from numpy/pandas to ``go.Figure``, one module per family.

All figures share one look (``base``: ``TEMPLATE``, readable fonts, titles on the left, legend on
top), draw classes in their class colours, and show undefined values (NaN) as gaps in lines and
as "n/a" labels on bars - never as 0. Metric labels, ranges and formats come from the metric
specs (``segdash.metrics.specs``)::

    fig = confusion_matrix_figure(evaluation.confusion, ds.classes, normalize="true")
    fig = per_class_bar_figure(evaluation.scores.to_frame(), "iou", colors=ds.colors)
    fig = loss_curves_figure(steps_df, epochs_df)     # from a run's metrics.jsonl

Families: ``dataset`` (class distribution, presence, weights, imbalance), ``evaluation`` (confusion
matrix, per-class scores and their change), ``distances`` (HD95, ASSD, area), ``failures``
(objects by size, reliability), ``training`` (loss and score curves), ``paired`` (forest plot,
paired scatter, fixed and broken pixels). Every public name is importable from here.

Inputs: ``Scores.to_frame()`` frames have columns ``name, iou, dice, precision, recall,
specificity, support``; epoch frames (``metrics.jsonl`` epoch lines) have ``epoch,
train_loss, val_loss, val_mean_dice, val_mean_iou, val_dice`` (list per class), ``val_iou``,
``lr``, ``seconds``; step frames have ``step, epoch, train_loss``.
"""

from segdash.viz.figures.base import (
    FONT,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    SERIES_COLORS,
    SERIES_LABELS,
    SPLIT_PATTERNS,
    TEMPLATE,
    metric_label,
    unit_range,
)
from segdash.viz.figures.dataset import (
    PRIOR_SCALE,
    SIZE_BUCKET_EDGES,
    area_bin_labels,
    class_distribution_figure,
    class_weights_figure,
    cooccurrence_figure,
    frequency_ratio_figure,
    image_presence_figure,
    object_counts_figure,
    object_size_figure,
    spatial_prior_figure,
    spatial_prior_grid_figure,
)
from segdash.viz.figures.distances import distance_metrics_figure
from segdash.viz.figures.evaluation import (
    confusion_cell_from_selection,
    confusion_matrix_figure,
    frequency_vs_iou_figure,
    metric_delta_figure,
    normalize_confusion,
    per_class_bar_figure,
    per_image_histogram_figure,
)
from segdash.viz.figures.failures import SIZE_TITLES, objects_figure, reliability_figure
from segdash.viz.figures.paired import (
    UNCLEAR_COLOR,
    VERDICT_COLORS,
    fixed_broken_figure,
    forest_figure,
    paired_scatter_figure,
)
from segdash.viz.figures.training import dice_curves_figure, loss_curves_figure, runs_comparison_figure, smooth

__all__ = [
    "FONT",
    "NEGATIVE_COLOR",
    "POSITIVE_COLOR",
    "PRIOR_SCALE",
    "SERIES_COLORS",
    "SERIES_LABELS",
    "SIZE_BUCKET_EDGES",
    "SIZE_TITLES",
    "SPLIT_PATTERNS",
    "TEMPLATE",
    "UNCLEAR_COLOR",
    "VERDICT_COLORS",
    "area_bin_labels",
    "class_distribution_figure",
    "class_weights_figure",
    "confusion_cell_from_selection",
    "confusion_matrix_figure",
    "cooccurrence_figure",
    "dice_curves_figure",
    "distance_metrics_figure",
    "fixed_broken_figure",
    "forest_figure",
    "frequency_ratio_figure",
    "frequency_vs_iou_figure",
    "image_presence_figure",
    "loss_curves_figure",
    "metric_delta_figure",
    "metric_label",
    "normalize_confusion",
    "object_counts_figure",
    "object_size_figure",
    "objects_figure",
    "paired_scatter_figure",
    "per_class_bar_figure",
    "per_image_histogram_figure",
    "reliability_figure",
    "runs_comparison_figure",
    "smooth",
    "spatial_prior_figure",
    "spatial_prior_grid_figure",
    "unit_range",
]
