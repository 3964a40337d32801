"""Evaluation figures: the confusion matrix, per-class scores, class frequency against a score, the change of a
score between two models, and a per-image score's distribution."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from segdash.errors import SegdashError
from segdash.viz.figures.base import (
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    SERIES_COLORS,
    _bar_labels,
    _class_colors,
    _empty,
    _floats,
    _fmt,
    _frame_column,
    _gaps,
    _na_annotations,
    _styled,
    metric_label,
    unit_range,
)
from segdash.viz.palette import ColorLike


def _shares(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row shares (of ground truth) and column shares (of prediction); NaN where the sum is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = cm / cm.sum(axis=1, keepdims=True)
        cols = cm / cm.sum(axis=0, keepdims=True)
    return rows, cols


def normalize_confusion(cm: np.ndarray, normalize: str | None) -> np.ndarray:
    """``None``: counts; ``"true"``: each row sums to 1 (recall view); ``"pred"``: each column (precision
    view); ``"all"``: the whole matrix sums to 1. Rows/columns with no pixels become NaN."""
    cm = np.asarray(cm, dtype=np.float64)
    rows, cols = _shares(cm)
    if normalize is None:
        return cm
    if normalize == "true":
        return rows
    if normalize == "pred":
        return cols
    if normalize == "all":
        total = cm.sum()
        return cm / total if total else np.full_like(cm, np.nan)
    raise SegdashError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")


def _si(count: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= limit:
            return f"{count / limit:.3g}{suffix}"
    return f"{count:.0f}"


def confusion_matrix_figure(
    cm: np.ndarray,
    classes: Sequence[str],
    normalize: str | None = None,
    annotate: bool | None = None,
    colorscale: str = "Blues",
    clickable: bool = True,
) -> go.Figure:
    """Confusion matrix heatmap: rows (y) = ground truth, columns (x) = prediction, class names on both.

    cm: ``(C, C)`` counts. ``normalize``: see ``normalize_confusion``; ``z`` is that matrix with
    undefined cells as ``None``. Hover shows the count, the share of the ground-truth class and
    the share of the predicted class. ``annotate`` writes values in cells (default: up to 12 classes).

    Plotly heatmaps emit no selection events (Streamlit's ``on_select`` returns nothing for
    them), so with ``clickable`` a second trace, ``fig.data[1]``, puts one invisible scatter
    point on each cell centre; it carries the hover text and ``customdata = [true_index,
    pred_index]`` (also ``point_index == true_index * C + pred_index``). A click selects that
    point: ``st.plotly_chart(fig, on_select="rerun", selection_mode="points")`` then reports it.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(classes):
        raise SegdashError(f"confusion matrix of shape {cm.shape} does not fit {len(classes)} classes")
    counts = cm.astype(np.float64)
    z = normalize_confusion(counts, normalize)
    rows, cols = _shares(counts)
    names = [str(c) for c in classes]
    n = len(names)
    hover = [
        [
            f"ground truth: <b>{names[i]}</b><br>predicted: <b>{names[j]}</b><br>pixels: {counts[i, j]:,.0f}"
            f"<br>of ground-truth {names[i]}: {_fmt(rows[i, j] * 100, '.2f')}%"
            f"<br>of predicted {names[j]}: {_fmt(cols[i, j] * 100, '.2f')}%"
            for j in range(n)
        ]
        for i in range(n)
    ]
    hover = [[line.replace("n/a%", "n/a") for line in row] for row in hover]
    if annotate is None:
        annotate = n <= 20  # Cityscapes' 19 classes still fit their numbers
    cell_text = [
        [_si(counts[i, j]) if normalize is None else _fmt(z[i, j] * 100, ".1f") for j in range(n)] for i in range(n)
    ]
    customdata = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), axis=-1)  # [i, j] per cell
    z_cells = [[v if math.isfinite(v) else None for v in row] for row in z.tolist()]
    colorbar_title = {None: "pixels", "true": "share of true class", "pred": "share of predicted",
                      "all": "share of all pixels"}[normalize]  # fmt: skip
    fig = go.Figure(
        go.Heatmap(
            z=z_cells, x=names, y=names, colorscale=colorscale, hovertext=hover, hoverinfo="text",
            customdata=customdata, text=cell_text, texttemplate="%{text}" if annotate else None,
            zmin=0, zmax=None if normalize is None else 1, xgap=1, ygap=1,
            colorbar=dict(title=dict(text=colorbar_title, side="right"), thickness=14),  # beside the bar, not over it
        )
    )  # fmt: skip
    if clickable:
        fig.data[0].hoverinfo = "skip"  # the cell points below answer hover and clicks
        true_index, pred_index = np.divmod(np.arange(n * n), n)
        fig.add_trace(
            go.Scatter(
                x=[names[j] for j in pred_index], y=[names[i] for i in true_index], mode="markers", name="cells",
                customdata=np.stack([true_index, pred_index], axis=1), showlegend=False,
                hovertext=[hover[i][j] for i, j in zip(true_index, pred_index)], hoverinfo="text",
                marker=dict(symbol="square", size=max(6, min(40, 400 // max(n, 1))), color="rgba(0,0,0,0)"),
                selected=dict(marker=dict(color="rgba(255,0,255,0.55)")), unselected=dict(marker=dict(opacity=0)),
            )
        )  # fmt: skip
        # Nearest cell centre wins everywhere in the plot, so every cell is clickable.
        fig.update_layout(hovermode="closest", hoverdistance=-1, clickmode="event+select", dragmode=False)
    title = {None: "Confusion matrix (pixels)", "true": "Confusion matrix (share of each ground-truth class)",
             "pred": "Confusion matrix (share of each predicted class)",
             "all": "Confusion matrix (share of all pixels)"}  # fmt: skip
    _styled(fig, title[normalize], "predicted class", "ground-truth class")
    # Explicit ranges (row 0 on top): marker padding of the cell points must not widen the axes.
    fig.update_yaxes(type="category", range=[n - 0.5, -0.5], autorange=False)
    fig.update_xaxes(type="category", range=[-0.5, n - 0.5], autorange=False, tickangle=-35 if n > 6 else 0)
    height = int(min(900, max(480, 32 * n + 220)))
    fig.update_layout(height=height, plot_bgcolor="#f4f4f4")
    if clickable:  # square click targets that nearly fill a cell (plotly draws squares at about 2/3 of "size")
        margin = fig.layout.margin
        plot_height = height - (margin.t or 0) - (margin.b or 0)
        fig.data[1].marker.size = int(max(8, min(160, 1.15 * plot_height / max(n, 1))))
    return fig


def confusion_cell_from_selection(point: Mapping[str, Any], classes: Sequence[str]) -> tuple[int, int] | None:
    """``(true_index, pred_index)`` of a clicked confusion-matrix cell, or ``None``.

    ``point`` is one entry of ``st.plotly_chart(...).selection.points`` (or a Plotly.js click
    point) on ``confusion_matrix_figure``'s cell trace. Streamlit hands ``customdata`` back as
    ``{"0": i, "1": j}``, Plotly.js as ``[i, j]``; ``point_index`` or the x/y class names are
    used when it is missing.
    """
    n = len(classes)
    custom = point.get("customdata")
    if isinstance(custom, Mapping) and {"0", "1"} <= set(map(str, custom)):
        custom = [custom.get("0", custom.get(0)), custom.get("1", custom.get(1))]
    if isinstance(custom, (list, tuple)) and len(custom) == 2:
        true_index, pred_index = int(custom[0]), int(custom[1])
    elif point.get("point_index", point.get("pointIndex")) is not None:
        true_index, pred_index = divmod(int(point.get("point_index", point.get("pointIndex"))), n)
    elif point.get("y") in classes and point.get("x") in classes:
        names = list(classes)
        true_index, pred_index = names.index(point["y"]), names.index(point["x"])
    else:
        return None
    return (true_index, pred_index) if 0 <= true_index < n and 0 <= pred_index < n else None


def per_class_bar_figure(
    frame: pd.DataFrame,
    metric: str = "iou",
    colors: Sequence[ColorLike] | None = None,
    classes: Sequence[str] | None = None,
) -> go.Figure:
    """One bar per class for a metric column of ``Scores.to_frame()``; undefined classes say "n/a".

    A dashed line marks the mean over the defined classes (undefined ones are left out).
    """
    names, values = _frame_column(frame, metric, classes)
    fig = go.Figure(
        go.Bar(
            x=names, y=_gaps(values),
            marker=dict(color=_class_colors(names, colors), line=dict(color="#444", width=0.6)),
            text=_bar_labels(values, ",.0f" if metric == "support" else ".3f"), textposition="outside",
            customdata=[_fmt(v, ",.0f" if metric == "support" else ".4f") for v in values], name=metric_label(metric),
            hovertemplate="<b>%{x}</b><br>" + metric_label(metric) + ": %{customdata}<extra></extra>",
        )
    )  # fmt: skip
    _na_annotations(fig, names, values)
    defined = values[np.isfinite(values)]
    title = f"{metric_label(metric)} per class"
    if metric != "support" and defined.size:
        mean = float(defined.mean())
        undefined = len(values) - defined.size
        note = f"mean {mean:.3f}" + (f", {undefined} n/a left out" if undefined else "")
        # the mean's value goes in the title: a label on the line would sit on the bars' own value labels
        fig.add_hline(y=mean, line=dict(color="#555", dash="dash", width=1), name=note)
        title += f" (dashed: {note})"
    _styled(fig, title, "class", metric_label(metric))
    fig.update_layout(uniformtext=dict(minsize=9, mode="hide"))
    if unit_range(metric):
        fig.update_yaxes(range=[0, 1.1])
    return fig


def _alternating_positions(x: np.ndarray) -> list[str]:
    """Label positions alternating above/below along x, so neighbouring labels overlap less."""
    positions = [""] * len(x)
    for rank, k in enumerate(np.argsort(x, kind="stable")):
        positions[k] = "top center" if rank % 2 == 0 else "bottom center"
    return positions


def frequency_vs_iou_figure(
    frequency: Sequence[float],
    iou: Sequence[float],
    classes: Sequence[str],
    colors: Sequence[ColorLike] | None = None,
    metric: str = "iou",
) -> go.Figure:
    """Class pixel frequency (log x) against a per-class score (y): imbalance joined to performance.

    Classes with no pixels (cannot sit on a log axis) or an undefined score are named in a note.
    """
    frequency, score = _floats(frequency), _floats(iou)
    if not len(frequency) == len(score) == len(classes):
        raise SegdashError(f"{len(frequency)} frequencies and {len(score)} scores for {len(classes)} classes")
    fill = _class_colors(classes, colors)
    placed = np.isfinite(frequency) & (frequency > 0) & np.isfinite(score)
    index = np.flatnonzero(placed)
    fig = go.Figure(
        go.Scatter(
            x=frequency[index].tolist(), y=score[index].tolist(), mode="markers+text",
            text=[classes[i] for i in index], textposition=_alternating_positions(frequency[index]),
            marker=dict(size=13, color=[fill[i] for i in index], line=dict(color="#333", width=1)),
            hovertemplate="<b>%{text}</b><br>pixel frequency: %{x:.3~%}<br>" + metric_label(metric)
            + ": %{y:.3f}<extra></extra>", name="classes",
        )
    )  # fmt: skip
    left_out = [
        f"{classes[i]} ({'no pixels' if not (np.isfinite(frequency[i]) and frequency[i] > 0) else 'n/a'})"
        for i in np.flatnonzero(~placed)
    ]
    if left_out:
        fig.add_annotation(text="not shown: " + ", ".join(left_out), x=0, y=-0.2, xref="paper", yref="paper",
                           showarrow=False, xanchor="left", yanchor="top",
                           font=dict(size=11, color="#666"))  # fmt: skip
    _styled(fig, f"Class frequency vs {metric_label(metric)}", "share of ground-truth pixels (log scale)",
            metric_label(metric))  # fmt: skip
    fig.update_xaxes(type="log", tickformat=".2~%", dtick=1)
    fig.update_yaxes(range=[-0.05, 1.1])
    fig.update_layout(showlegend=False, margin=dict(b=110 if left_out else 70))
    return fig


def metric_delta_figure(
    frame_a: pd.DataFrame,
    frame_b: pd.DataFrame,
    classes: Sequence[str] | None = None,
    metric: str = "iou",
    label_a: str = "A",
    label_b: str = "B",
) -> go.Figure:
    """Per-class change ``B - A`` of a metric (rows matched by class name): green up, red down, "n/a" undefined."""
    names = list(classes) if classes is not None else list(frame_a["name"] if "name" in frame_a else frame_a.index)
    _, values_a = _frame_column(frame_a, metric, names)
    _, values_b = _frame_column(frame_b, metric, names)
    delta = values_b - values_a
    fig = go.Figure(
        go.Bar(
            x=names, y=_gaps(delta), marker=dict(color=[POSITIVE_COLOR if d >= 0 else NEGATIVE_COLOR for d in
                                                        np.nan_to_num(delta)]),
            customdata=[[_fmt(a), _fmt(b), _fmt(d, "+.3f")] for a, b, d in zip(values_a, values_b, delta)],
            text=_bar_labels(delta, "+.3f"), textposition="outside", name=f"{label_b} - {label_a}",
            hovertemplate=f"<b>%{{x}}</b><br>{label_a}: %{{customdata[0]}}<br>{label_b}: %{{customdata[1]}}"
            "<br>change: %{customdata[2]}<extra></extra>",
        )
    )  # fmt: skip
    _na_annotations(fig, names, delta)
    fig.add_hline(y=0, line=dict(color="#333", width=1))
    _styled(fig, f"{metric_label(metric)} change per class: {label_b} vs {label_a}", "class",
            f"Δ {metric_label(metric)} ({label_b} − {label_a})")  # fmt: skip
    return fig



def per_image_histogram_figure(per_image: pd.DataFrame, metric: str = "mean_dice", bins: int = 30) -> go.Figure:
    """Distribution of a per-image score (``Evaluation.per_image``); undefined images are counted in the title."""
    values = _floats(per_image[metric].to_numpy()) if metric in per_image else np.array([])
    defined = values[np.isfinite(values)]
    if defined.size == 0:
        return _empty(f"{metric_label(metric)} per image", "no per-image scores")
    fig = go.Figure(go.Histogram(x=defined.tolist(), nbinsx=bins, marker=dict(color=SERIES_COLORS[0]),
                                 hovertemplate="%{x}: %{y} images<extra></extra>"))  # fmt: skip
    missing = values.size - defined.size
    title = f"{metric_label(metric)} per image ({defined.size} images" + (f", {missing} n/a)" if missing else ")")
    _styled(fig, title, metric_label(metric), "images")
    return fig
