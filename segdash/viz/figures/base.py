"""The look every figure shares and the small helpers they use: one template, readable fonts, titles on
the left, legend on top, undefined values (NaN) as gaps or "n/a", never as 0; labels from the metric specs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from segdash.errors import SegdashError
from segdash.metrics.specs import column_label, spec_for_column
from segdash.viz.palette import ColorLike, hex_color, palette_for

TEMPLATE = "plotly_white"
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13, color="#222")
#: Colours for things that are not classes (splits, runs, train/val curves).
SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
#: Bar patterns that tell splits (or weighting methods) apart while bars keep their class colour.
SPLIT_PATTERNS = ("", "/", ".", "x", "\\", "+", "-", "|")
POSITIVE_COLOR = "#2ca02c"
NEGATIVE_COLOR = "#d62728"

#: Labels of the columns that are not metrics: training logs and counts (metrics have their spec's label).
SERIES_LABELS = {
    "support": "Support (ground-truth pixels)",
    "train_loss": "Training loss",
    "val_loss": "Validation loss",
    "lr": "Learning rate",
    "seconds": "Seconds per epoch",
}
#: The prefix of a training log's validation columns (``val_mean_dice``: the validation split's mean Dice).
VALIDATION_PREFIX = "val_"


# --- shared helpers -----------------------------------------------------------------------


def metric_label(metric: str) -> str:
    """Human label of a column: a metric's spec label (``"iou"`` -> ``"IoU"``, ``"mean_dice"`` -> ``"Mean Dice"``),
    a training log's (``"val_mean_dice"`` -> ``"Validation mean Dice"``), else the name with spaces."""
    label = column_label(metric)
    if label is not None:
        return label
    if metric in SERIES_LABELS:
        return SERIES_LABELS[metric]
    if metric.startswith(VALIDATION_PREFIX) and column_label(metric[len(VALIDATION_PREFIX):]) is not None:
        inner = column_label(metric[len(VALIDATION_PREFIX):])
        return "Validation " + (inner.replace("Mean ", "mean ", 1) if inner.startswith("Mean ") else inner)
    return metric.replace("_", " ")


def unit_range(metric: str) -> bool:
    """Whether a column's values live in 0..1 (its metric's spec says so), so its axis is fixed to that range
    and runs and classes compare at a glance; training logs' validation scores count too."""
    column = metric[len(VALIDATION_PREFIX):] if metric.startswith(VALIDATION_PREFIX) else metric
    spec = spec_for_column(column)
    return spec is not None and spec.unit_range


#: A legend under the x axis title, for curves whose legend wraps to several rows in a narrow chart.
_UNDER_THE_AXIS = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)


def _styled(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        font=FONT,
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=16)),
        margin=dict(l=70, r=30, t=70, b=70),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="right", x=1),
        hoverlabel=dict(font_size=12),
    )
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _floats(values: Any) -> np.ndarray:
    """Any list/array/Series (with ``None``) -> float64 array, ``None`` -> NaN."""
    return np.array([np.nan if v is None else v for v in np.asarray(values, dtype=object).reshape(-1)], np.float64)


def _gaps(values: Any) -> list[float | None]:
    """Float list for Plotly with NaN/inf as ``None``: lines break there, bars are absent."""
    return [float(v) if math.isfinite(v) else None for v in _floats(values)]


def _fmt(value: float, spec: str = ".3f") -> str:
    return format(value, spec) if value is not None and math.isfinite(value) else "n/a"


def _bar_labels(values: np.ndarray, spec: str = ".3f") -> list[str]:
    """Text on top of bars: formatted values, blank where undefined (``_na_annotations`` writes "n/a")."""
    return [format(v, spec) if math.isfinite(v) else "" for v in values]


def _na_annotations(fig: go.Figure, x: Sequence, values: np.ndarray, row: int | None = None, col: int | None = None,
                    texts: Sequence[str] | None = None):
    """Write "n/a" (or the matching ``texts`` entry, e.g. "missed") at the foot of bars whose value is undefined."""
    for i, (name, value) in enumerate(zip(x, values)):
        if not math.isfinite(value):
            text = texts[i] if texts is not None else "n/a"
            fig.add_annotation(
                x=name, y=0, text=text, showarrow=False, yanchor="bottom",
                font=dict(color="#c0392b" if text == "missed" else "#888", size=11), row=row, col=col,
            )  # fmt: skip


def _class_colors(classes: Sequence[str], colors: Sequence[ColorLike] | None) -> list[str]:
    return [hex_color(c) for c in palette_for(classes, colors)]


def _empty(title: str, message: str) -> go.Figure:
    fig = _styled(go.Figure(), title)
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _stat(stats: Any, name: str) -> np.ndarray | None:
    """A per-class statistic from a ``ClassStats``-like object or its ``to_dict()``."""
    value = stats.get(name) if isinstance(stats, Mapping) else getattr(stats, name, None)
    if callable(value):
        value = value()
    return None if value is None else _floats(value)


def _frame_column(frame: pd.DataFrame, column: str, classes: Sequence[str] | None = None) -> tuple[list, np.ndarray]:
    """(class names, float values) of one metric column of a per-class frame, reordered to ``classes``."""
    if column not in frame.columns:
        raise SegdashError(f"no column {column!r} in the table; it has {', '.join(map(str, frame.columns))}")
    names = list(frame["name"]) if "name" in frame.columns else [str(i) for i in frame.index]
    values = _floats(frame[column].to_numpy())
    if classes is None:
        return names, values
    by_name = dict(zip(names, values))
    return list(classes), np.array([by_name.get(c, np.nan) for c in classes], np.float64)
