"""Plotly figures for the dashboard: pure functions from numpy/pandas to ``go.Figure``.

All figures share one look (``TEMPLATE``, readable fonts, titles on the left, legend on
top), draw classes in their class colours, and show undefined values (NaN) as gaps in
lines and as "n/a" labels on bars - never as 0::

    fig = confusion_matrix_figure(evaluation.confusion, ds.classes, normalize="true")
    fig = per_class_bar_figure(evaluation.scores.to_frame(), "iou", colors=ds.colors)
    fig = loss_curves_figure(steps_df, epochs_df)     # from a run's metrics.jsonl

Inputs: ``Scores.to_frame()`` frames have columns ``name, iou, dice, precision, recall,
specificity, support``; epoch frames (``metrics.jsonl`` epoch lines) have ``epoch,
train_loss, val_loss, val_mean_dice, val_mean_iou, val_dice`` (list per class), ``val_iou``,
``lr``, ``seconds``; step frames have ``step, epoch, train_loss``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from segdash.errors import SegdashError
from segdash.viz.palette import ColorLike, contrasting_text_color, hex_color, palette_for, visible_on_white

TEMPLATE = "plotly_white"
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13, color="#222")
#: Colours for things that are not classes (splits, runs, train/val curves).
SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
#: Bar patterns that tell splits (or weighting methods) apart while bars keep their class colour.
SPLIT_PATTERNS = ("", "/", ".", "x", "\\", "+", "-", "|")
POSITIVE_COLOR = "#2ca02c"
NEGATIVE_COLOR = "#d62728"

METRIC_LABELS = {
    "iou": "IoU",
    "dice": "Dice",
    "precision": "Precision",
    "recall": "Recall (sensitivity)",
    "specificity": "Specificity",
    "support": "Support (ground-truth pixels)",
    "pixel_accuracy": "Pixel accuracy",
    "mean_iou": "Mean IoU",
    "mean_dice": "Mean Dice",
    "hd95": "HD95 (pixels)",
    "assd": "ASSD (pixels)",
    "rad": "Relative area difference",
    "abs_rad": "Absolute relative area difference",
    "relative_area_difference": "Relative area difference",
    "train_loss": "Training loss",
    "val_loss": "Validation loss",
    "val_mean_dice": "Validation mean Dice",
    "val_mean_iou": "Validation mean IoU",
    "lr": "Learning rate",
    "seconds": "Seconds per epoch",
    "boundary_iou": "Boundary IoU",
    "object_recall": "Object recall",
    "ece": "Expected calibration error (ECE)",
    "auroc": "Entropy AUROC for errors",
    "overconfidence": "Overconfidence (mean confidence - accuracy)",
}
#: Metrics that live in 0..1 (axis fixed to that range so runs and classes compare at a glance).
UNIT_METRICS = {"iou", "dice", "precision", "recall", "specificity", "pixel_accuracy", "mean_iou", "mean_dice",
                "val_mean_dice", "val_mean_iou"}  # fmt: skip


# --- shared helpers -----------------------------------------------------------------------


def metric_label(metric: str) -> str:
    """Human label of a metric column name (``"iou"`` -> ``"IoU"``)."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


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


# --- dataset statistics ---------------------------------------------------------------------


def _per_split_class_bars(
    values_by_split: Mapping[str, np.ndarray],
    classes: Sequence[str],
    colors: Sequence[ColorLike] | None,
    hover_value: str,
    hover_columns: Mapping[str, Sequence[tuple[str, np.ndarray, str]]] | None = None,
) -> go.Figure:
    """Grouped bars: x = classes in their colours, one bar trace per split told apart by pattern.

    ``hover_columns``: per split, extra ``(label, values, d3 format)`` lines for the hover box.
    Patterned bars would give every legend swatch the first class's colour, so each split
    also gets a grey legend-only twin sharing its ``legendgroup`` and ``offsetgroup``.
    """
    fill = _class_colors(classes, colors)
    pattern_ink = [contrasting_text_color(c) for c in fill]
    fig = go.Figure()
    several = len(values_by_split) > 1
    for k, (split, values) in enumerate(values_by_split.items()):
        shape = SPLIT_PATTERNS[k % len(SPLIT_PATTERNS)] if several else ""
        hover_lines = [f"<b>%{{x}}</b> ({split})"] + ([hover_value] if hover_value else [])
        customdata = None
        columns = (hover_columns or {}).get(split, ())
        if columns:
            customdata = np.stack([_floats(values) for _, values, _ in columns], axis=1)
            hover_lines += [f"{label}: %{{customdata[{i}]:{fmt}}}" for i, (label, _, fmt) in enumerate(columns)]
        fig.add_trace(
            go.Bar(
                name=str(split), x=list(classes), y=_gaps(values), legendgroup=str(split), offsetgroup=str(split),
                showlegend=False, customdata=customdata,
                marker=dict(color=fill, line=dict(color="#444", width=0.6),
                            pattern=dict(shape=shape, fgcolor=pattern_ink, fillmode="overlay", solidity=0.3)),
                hovertemplate="<br>".join(hover_lines) + "<extra></extra>",
            )
        )  # fmt: skip
        if several:
            fig.add_trace(
                go.Bar(
                    name=str(split), x=[classes[0]], y=[None], legendgroup=str(split), offsetgroup=str(split),
                    showlegend=True, hoverinfo="skip",
                    marker=dict(color="#d9d9d9", line=dict(color="#444", width=0.6),
                                pattern=dict(shape=shape, fgcolor="#333", fillmode="overlay", solidity=0.3)),
                )
            )  # fmt: skip
    fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05)
    return fig


def class_distribution_figure(
    stats_by_split: Mapping[str, Any],
    classes: Sequence[str],
    colors: Sequence[ColorLike] | None = None,
    value: str = "pixels",
    log: bool = False,
) -> go.Figure:
    """Pixels (or pixel frequency) per class, grouped by split.

    stats_by_split: ``{split: ClassStats or its to_dict()}`` with ``pixels`` (C,) and
    optionally ``frequency`` (C,). ``value``: ``"pixels"`` or ``"frequency"``; ``log``: log y axis
    (zero counts are then gaps, as log(0) has no place on the axis).
    """
    if value not in ("pixels", "frequency"):
        raise SegdashError(f"value must be 'pixels' or 'frequency', got {value!r}")
    if not stats_by_split:
        return _empty("Class pixel distribution", "no statistics yet")
    values, hover = {}, {}
    for split, stats in stats_by_split.items():
        pixels = _stat(stats, "pixels")
        if pixels is None:
            raise SegdashError(f"statistics of split {split!r} have no pixel counts")
        frequency = _stat(stats, "frequency")
        if frequency is None:
            total = np.nansum(pixels)
            frequency = pixels / total if total > 0 else np.full_like(pixels, np.nan)
        shown = pixels if value == "pixels" else frequency
        values[split] = np.where(shown > 0, shown, np.nan) if log else shown
        hover[split] = [("pixels", pixels, ","), ("share of pixels", frequency, ".3~%")]
    fig = _per_split_class_bars(values, classes, colors, "", hover)
    y_title = "pixels" if value == "pixels" else "share of labelled pixels"
    scale = " (log scale)" if log else ""
    _styled(fig, f"Class pixel distribution{scale}", "class", y_title + scale)
    fig.update_yaxes(type="log" if log else "linear", tickformat="~s" if value == "pixels" else ".2~%",
                     dtick=1 if log else None)  # log: one labelled tick per decade, no crowded minor labels
    return fig


def image_presence_figure(
    stats_by_split: Mapping[str, Any], classes: Sequence[str], colors: Sequence[ColorLike] | None = None
) -> go.Figure:
    """Share of images in which each class appears (``ClassStats.image_presence``), grouped by split."""
    if not stats_by_split:
        return _empty("Images containing each class", "no statistics yet")
    values = {}
    for split, stats in stats_by_split.items():
        presence = _stat(stats, "image_presence")
        if presence is None:
            raise SegdashError(f"statistics of split {split!r} have no image presence")
        values[split] = presence
    fig = _per_split_class_bars(values, classes, colors, "in %{y:.1%} of images")
    _styled(fig, "Images containing each class", "class", "share of images")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_layout(legend=_UNDER_THE_AXIS)  # in a half-width chart a legend above the plot covers the title
    return fig


def class_weights_figure(
    weights: Mapping[str, Sequence[float]] | Sequence[float],
    classes: Sequence[str],
    colors: Sequence[ColorLike] | None = None,
    log: bool = False,
) -> go.Figure:
    """Suggested loss weights per class; ``weights`` is one sequence or ``{method: sequence}``.

    A weight of 0 is what ``ClassStats.class_weights`` gives a class with no pixels in the
    split: such a class is labelled "no pixels". Non-finite weights are labelled "n/a".
    """
    by_method = dict(weights) if isinstance(weights, Mapping) else {"weight": weights}
    values = {method: _floats(w) for method, w in by_method.items()}
    for method, w in values.items():
        if len(w) != len(classes):
            raise SegdashError(f"{len(w)} {method} weights for {len(classes)} classes")
    fig = _per_split_class_bars(values, classes, colors, "weight: %{y:.3f}")
    _styled(fig, "Suggested class weights", "class", "loss weight" + (" (log scale)" if log else ""))
    fig.update_yaxes(type="log" if log else "linear", dtick=1 if log else None)
    fig.update_layout(legend=_UNDER_THE_AXIS)
    for k, name in enumerate(classes):
        undefined = [method for method, w in values.items() if not math.isfinite(w[k])]
        if all(w[k] == 0 for w in values.values()):
            text = "no pixels"
        elif undefined:
            text = "n/a" if len(undefined) == len(values) else "n/a: " + ", ".join(undefined)
        else:
            continue
        fig.add_annotation(x=name, y=0, text=text, showarrow=False, yanchor="bottom", font=dict(color="#888", size=11))
    return fig


# --- evaluation -------------------------------------------------------------------------------


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
    if metric in UNIT_METRICS:
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


#: Distance metrics shown by default, in this order, when present.
DISTANCE_COLUMNS = ("hd95", "assd", "rad")
_DISTANCE_COUNTS = ("one_sided", "images", "support", "predicted", "defined")


def _distance_frame(distances: Any, classes: Sequence[str] | None) -> pd.DataFrame:
    """Any distance result as a frame with a ``name`` column and one column per metric.

    Accepts ``aggregate_distances``' ``{metric: (C,) array}``, ``{class: {metric: value}}``, or a
    frame with a ``name`` column or class-name index.
    """
    if isinstance(distances, pd.DataFrame):
        frame = distances.copy()
        if "name" not in frame.columns:
            frame = frame.rename_axis("name").reset_index()
        return frame
    if not isinstance(distances, Mapping):
        raise SegdashError(f"cannot plot distance metrics given as {type(distances).__name__}")
    values = list(distances.values())
    if values and all(isinstance(v, Mapping) for v in values):
        return pd.DataFrame.from_dict(dict(distances), orient="index").rename_axis("name").reset_index()
    frame = pd.DataFrame({metric: _floats(v) for metric, v in distances.items()})
    names = list(classes) if classes is not None else [str(i) for i in range(len(frame))]
    if len(names) != len(frame):
        raise SegdashError(f"{len(frame)} distance values per metric for {len(names)} classes")
    frame.insert(0, "name", names)
    return frame


def distance_metrics_figure(
    distances: pd.DataFrame | Mapping[str, Any],
    classes: Sequence[str] | None = None,
    colors: Sequence[ColorLike] | None = None,
    metrics: Sequence[str] | None = None,
) -> go.Figure:
    """Surface-distance metrics per class (HD95, ASSD, relative area difference), one panel each.

    distances: ``aggregate_distances(...)``'s ``{"hd95": (C,), "assd": (C,), "rad": (C,), "one_sided": (C,)
    ...}``, or ``{class: {metric: value}}``, or a frame (``name`` column or class-name index).
    Undefined values show as "missed" where a ``missed`` count says the class is in the truth but was
    never predicted, else "n/a" (absent from both); a ``one_sided`` count (images where the class was
    only in the prediction or only in the truth) is shown on hover.
    """
    frame = _distance_frame(distances, classes)
    if metrics is None:
        metrics = [m for m in DISTANCE_COLUMNS if m in frame.columns] or [
            c for c in frame.columns
            if c != "name" and c not in _DISTANCE_COUNTS and pd.api.types.is_numeric_dtype(frame[c])
        ]  # fmt: skip
    if not metrics or frame.empty:
        return _empty("Distance metrics per class", "no distance metrics computed")
    names = list(classes) if classes is not None else list(frame["name"])
    fill = _class_colors(names, colors)
    _, one_sided = _frame_column(frame, "one_sided", names) if "one_sided" in frame.columns else (None, None)
    _, missed = _frame_column(frame, "missed", names) if "missed" in frame.columns else (None, None)
    # A class in the ground truth that was never predicted has no distance: the worst failure, not "n/a".
    blanks = ["missed" if m > 0 else "n/a" for m in np.nan_to_num(missed)] if missed is not None else None
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[metric_label(m) for m in metrics],
                        horizontal_spacing=0.08)  # fmt: skip
    for k, metric in enumerate(metrics, start=1):
        _, values = _frame_column(frame, metric, names)
        spec = "+.1%" if metric in ("rad", "relative_area_difference") else ".1%" if metric == "abs_rad" else ".2f"
        hover = [f"{metric_label(metric)}: {_fmt(v, spec)}" for v in values]
        if one_sided is not None:
            hover = [f"{line}<br>images with the class on one side only: {_fmt(count, '.0f')}"
                     for line, count in zip(hover, one_sided)]  # fmt: skip
        fig.add_trace(
            go.Bar(x=names, y=_gaps(values), marker=dict(color=fill, line=dict(color="#444", width=0.6)),
                   text=_bar_labels(values, spec), textposition="outside", name=metric_label(metric),
                   customdata=hover, hovertemplate="<b>%{x}</b><br>%{customdata}<extra></extra>"),
            row=1, col=k,
        )  # fmt: skip
        _na_annotations(fig, names, values, row=1, col=k, texts=blanks)
        if spec != ".2f":
            fig.update_yaxes(tickformat=".0%", row=1, col=k)
    _styled(fig, "Distance metrics per class (closer to 0 is better)")
    fig.update_layout(showlegend=False, uniformtext=dict(minsize=9, mode="hide"))
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


# --- training curves ----------------------------------------------------------------------------


def _column(frame: pd.DataFrame | None, name: str) -> np.ndarray:
    if frame is None or name not in frame.columns:
        return np.full(0 if frame is None else len(frame), np.nan)
    return _floats(frame[name].to_numpy())


def smooth(values: Sequence[float], weight: float) -> np.ndarray:
    """TensorBoard-style exponential moving average with debiasing; NaN entries stay NaN and are skipped."""
    values = _floats(values)
    out = np.full_like(values, np.nan)
    average, norm = 0.0, 0.0
    for k, v in enumerate(values):
        if math.isfinite(v):
            average = weight * average + (1 - weight) * v
            norm = weight * norm + (1 - weight)
            out[k] = average / norm
    return out


def _epoch_end_steps(epochs: np.ndarray, steps_df: pd.DataFrame) -> np.ndarray:
    """x position (training step) of each epoch's end: its last logged step, extrapolated when not logged."""
    ends = steps_df.dropna(subset=["epoch", "step"]).groupby("epoch")["step"].max()
    known = {float(e): float(s) for e, s in ends.items()}
    finite = epochs[np.isfinite(epochs)]
    if not known:  # no step says its epoch: spread the epochs evenly over the logged steps
        if not finite.size:
            return np.full(len(epochs), np.nan)
        last_step = float(np.nanmax(_floats(steps_df["step"].to_numpy())))
        return (epochs - finite.min() + 1) * last_step / (finite.max() - finite.min() + 1)
    if len(known) >= 2:
        keys = sorted(known)
        per_epoch = float(np.median(np.diff([known[k] for k in keys]) / np.diff(keys)))
    else:
        (epoch, step), = known.items()  # fmt: skip
        per_epoch = step / max(epoch, 1.0) if step else 1.0
    positions = []
    for e in epochs:
        if e in known:
            positions.append(known[e])
        elif math.isfinite(e):
            nearest = min(known, key=lambda k: abs(k - e))
            positions.append(known[nearest] + (e - nearest) * per_epoch)
        else:
            positions.append(np.nan)
    return np.array(positions, np.float64)




def loss_curves_figure(
    steps_df: pd.DataFrame | None, epochs_df: pd.DataFrame | None, smoothing: float = 0.6
) -> go.Figure:
    """Training loss per step (raw, faint, plus a smoothed line) and train/val loss per epoch.

    With step lines the x axis is the training step and epoch points sit at the epoch line's
    ``step`` (the global step at the epoch's end) or, when absent, at their epoch's last logged
    step; without step lines the x axis is the epoch. NaN losses are gaps.
    """
    have_steps = steps_df is not None and len(steps_df) > 0 and {"step", "train_loss"} <= set(steps_df.columns)
    have_epochs = epochs_df is not None and len(epochs_df) > 0 and "epoch" in epochs_df.columns
    if not have_steps and not have_epochs:
        return _empty("Loss", "no training data yet")
    fig = go.Figure()
    if have_steps:
        steps = steps_df.sort_values("step")
        x_steps = _floats(steps["step"].to_numpy())
        loss = _column(steps, "train_loss")
        fig.add_trace(go.Scatter(x=x_steps.tolist(), y=_gaps(loss), mode="lines", name="train loss (step)",
                                 line=dict(color=SERIES_COLORS[0], width=1), opacity=0.3))  # fmt: skip
        if smoothing > 0 and len(loss) > 2:
            fig.add_trace(go.Scatter(x=x_steps.tolist(), y=_gaps(smooth(loss, smoothing)), mode="lines",
                                     name="train loss (smoothed)",
                                     line=dict(color=SERIES_COLORS[0], width=2)))  # fmt: skip
    if have_epochs:
        epochs = epochs_df.sort_values("epoch")
        epoch_numbers = _floats(epochs["epoch"].to_numpy())
        if not have_steps:
            x_epochs = epoch_numbers
        else:  # epoch lines logged with their global step sit exactly there; older logs are placed by epoch
            x_epochs = _column(epochs, "step")
            if not np.isfinite(x_epochs).all() and "epoch" in steps_df:
                x_epochs = np.where(np.isfinite(x_epochs), x_epochs, _epoch_end_steps(epoch_numbers, steps_df))
        for column, name, color in (("train_loss", "train loss (epoch)", SERIES_COLORS[2]),
                                    ("val_loss", "val loss (epoch)", SERIES_COLORS[1])):  # fmt: skip
            values = _column(epochs, column)
            if np.isfinite(values).any():
                fig.add_trace(
                    go.Scatter(x=x_epochs.tolist(), y=_gaps(values), mode="lines+markers", name=name,
                               customdata=epoch_numbers.tolist(), line=dict(color=color, width=2),
                               hovertemplate="epoch %{customdata:.0f}<br>" + name + ": %{y:.4f}<extra></extra>")
                )  # fmt: skip
    _styled(fig, "Loss", "training step" if have_steps else "epoch", "loss")
    fig.update_layout(legend=_UNDER_THE_AXIS)  # four long names wrap in a half-width chart
    return fig


def _per_class_matrix(epochs: pd.DataFrame, column: str, num_classes: int) -> np.ndarray:
    """``(epochs, C)`` floats from a column holding one list per epoch; missing -> NaN."""
    rows = []
    for value in epochs[column] if column in epochs.columns else [None] * len(epochs):
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) == num_classes:
            rows.append(_floats(value))
        else:
            rows.append(np.full(num_classes, np.nan))
    return np.array(rows, np.float64).reshape(len(rows), num_classes)


def dice_curves_figure(
    epochs_df: pd.DataFrame | None,
    classes: Sequence[str],
    colors: Sequence[ColorLike] | None = None,
    metric: str = "dice",
) -> go.Figure:
    """Validation mean score (thick, dark) and per-class scores (class colours) per epoch.

    ``metric``: ``"dice"`` (columns ``val_mean_dice``, ``val_dice``) or ``"iou"``.
    Undefined per-class values are gaps.
    """
    title = f"Validation {metric_label(metric)}"
    if epochs_df is None or len(epochs_df) == 0 or "epoch" not in epochs_df.columns:
        return _empty(title, "no finished epoch yet")
    epochs = epochs_df.sort_values("epoch")
    x = _floats(epochs["epoch"].to_numpy()).tolist()
    per_class = _per_class_matrix(epochs, f"val_{metric}", len(classes))
    fig = go.Figure()
    for k, (name, color) in enumerate(zip(classes, _class_colors(classes, colors))):
        fig.add_trace(go.Scatter(x=x, y=_gaps(per_class[:, k]), mode="lines+markers", name=str(name),
                                 line=dict(color=visible_on_white(color), width=1.5), marker=dict(size=5)))  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=_gaps(_column(epochs, f"val_mean_{metric}")), mode="lines+markers",
                             name=f"mean {metric_label(metric)}",
                             line=dict(color="#111", width=3, dash="dash")))  # fmt: skip
    _styled(fig, title, "epoch", metric_label(metric))
    # one legend entry per class wraps to several rows in a half-width chart: above the plot those rows
    # would climb over the title, so the legend goes under the x axis (plotly grows the bottom margin)
    fig.update_layout(legend=_UNDER_THE_AXIS)
    fig.update_yaxes(range=[0, 1.02])
    fig.update_xaxes(dtick=1 if len(x) <= 20 else None)
    return fig


def runs_comparison_figure(runs: Mapping[str, pd.DataFrame], metric: str = "val_mean_dice") -> go.Figure:
    """One line per run (``{run name: epochs frame}``) for an epoch metric column."""
    title = f"{metric_label(metric)} by run"
    fig = go.Figure()
    for k, (name, epochs) in enumerate(runs.items()):
        if epochs is None or len(epochs) == 0 or metric not in epochs.columns:
            continue
        epochs = epochs.sort_values("epoch")
        fig.add_trace(go.Scatter(x=_floats(epochs["epoch"].to_numpy()).tolist(), y=_gaps(epochs[metric]),
                                 mode="lines+markers", name=str(name),
                                 line=dict(color=SERIES_COLORS[k % len(SERIES_COLORS)], width=2)))  # fmt: skip
    if not fig.data:
        return _empty(title, f"no run has logged {metric_label(metric)} yet")
    _styled(fig, title, "epoch", metric_label(metric))
    longest = max(len(trace.x) for trace in fig.data)
    fig.update_xaxes(dtick=1 if longest <= 20 else None)  # whole epochs only
    if metric in UNIT_METRICS:
        fig.update_yaxes(range=[0, 1.02])
    if metric == "lr":
        fig.update_yaxes(type="log")
    return fig


# --- paired comparisons -----------------------------------------------------------------------

#: Verdict colours of the forest plot: B better, B worse, no clear difference.
VERDICT_COLORS = {"better": POSITIVE_COLOR, "worse": NEGATIVE_COLOR}
UNCLEAR_COLOR = "#7f7f7f"


def forest_figure(rows: Sequence[Mapping[str, Any]], metric: str = "dice", label_a: str = "A",
                  label_b: str = "B") -> go.Figure:  # fmt: skip
    """Per class (and overall) the mean difference B - A with its 95% interval, a zero line between.

    ``rows``: dicts with ``name, diff, ci_low, ci_high, p_value, wins, images`` and ``outcome``
    ("better", "worse", other); None = undefined (the class is listed as "n/a"). First row on top.
    """
    names = [str(r["name"]) for r in rows]
    diff, low, high = (_floats([r.get(k) for r in rows]) for k in ("diff", "ci_low", "ci_high"))
    colors = [VERDICT_COLORS.get(r.get("outcome"), UNCLEAR_COLOR) for r in rows]
    hover = [f"<b>{r['name']}</b><br>{label_b} − {label_a}: {_fmt(d, '+.3f')}<br>95% CI {_fmt(lo, '+.3f')} .. "
             f"{_fmt(hi, '+.3f')}<br>p = {_fmt(r.get('p_value') if r.get('p_value') is not None else math.nan, '.3g')}"
             f"<br>wins {r.get('wins', 0)}/{r.get('images', 0)}"
             for r, d, lo, hi in zip(rows, diff, low, high)]  # fmt: skip
    fig = go.Figure(go.Scatter(
        x=_gaps(diff), y=names, mode="markers", marker=dict(size=11, color=colors, symbol="diamond"),
        error_x=dict(type="data", symmetric=False, array=_gaps(high - diff), arrayminus=_gaps(diff - low),
                     color="#555", thickness=2, width=6),
        hovertext=hover, hoverinfo="text", showlegend=False,
    ))  # fmt: skip
    for name, d in zip(names, diff):
        if not math.isfinite(d):
            fig.add_annotation(x=0, y=name, text="n/a", showarrow=False, xanchor="left", font=dict(color="#888"))
    fig.add_vline(x=0, line=dict(color="#333", width=1, dash="dash"))
    _styled(fig, f"{metric_label(metric)}: {label_b} − {label_a} per class, 95% bootstrap interval",
            f"mean paired difference ({label_b} − {label_a}); right of 0: {label_b} better", None)  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(height=max(260, 60 + 34 * len(names)), margin=dict(l=130))
    return fig


def paired_scatter_figure(score_a: Sequence[float], score_b: Sequence[float], sample_ids: Sequence[str],
                          metric: str = "dice", label_a: str = "A", label_b: str = "B",
                          title: str | None = None) -> go.Figure:  # fmt: skip
    """One point per image: A's score (x) against B's (y), with the diagonal; above it B did better.

    Images where either score is undefined are left out. Each point's ``customdata`` is its
    sample id, so a click (a Streamlit selection) names the image.
    """
    a, b = _floats(score_a), _floats(score_b)
    ids = np.asarray([str(s) for s in sample_ids], dtype=object)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b, ids = a[keep], b[keep], ids[keep]
    d = b - a
    colors = [POSITIVE_COLOR if v > 1e-9 else NEGATIVE_COLOR if v < -1e-9 else UNCLEAR_COLOR for v in d]
    low = float(min(a.min(initial=1.0), b.min(initial=1.0), 1.0))
    low = max(0.0, low - 0.05 * (1.0 - low) - 0.01)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[low, 1], y=[low, 1], mode="lines", line=dict(color="#999", dash="dash"),
                             hoverinfo="skip", showlegend=False))  # fmt: skip
    fig.add_trace(go.Scatter(
        x=a, y=b, mode="markers", customdata=ids, marker=dict(size=9, color=colors, line=dict(width=0.5, color="#333")),
        hovertemplate=f"<b>%{{customdata}}</b><br>{label_a}: %{{x:.3f}}<br>{label_b}: %{{y:.3f}}<extra></extra>",
        showlegend=False,
    ))  # fmt: skip
    label = metric_label(metric)
    _styled(fig, title or f"Per image {label}: {label_b} against {label_a} (above the diagonal: {label_b} better)",
            f"{label} of {label_a}", f"{label} of {label_b}")  # fmt: skip
    fig.update_xaxes(range=[low, 1.005], constrain="domain")
    fig.update_yaxes(range=[low, 1.005], scaleanchor="x", scaleratio=1)
    fig.update_layout(clickmode="event+select")
    return fig


def fixed_broken_figure(fixed: Sequence[int], broken: Sequence[int], classes: Sequence[str],
                        label_a: str = "A", label_b: str = "B") -> go.Figure:  # fmt: skip
    """Per true class: pixels B fixed (A wrong, B right) up in green, pixels B broke down in red."""
    fixed, broken = _floats(fixed), _floats(broken)
    names = list(classes)
    fig = go.Figure([
        go.Bar(x=names, y=fixed, name=f"fixed by {label_b}", marker_color=POSITIVE_COLOR,
               hovertemplate="<b>%{x}</b><br>fixed: %{y:,.0f} px<extra></extra>"),
        go.Bar(x=names, y=-broken, name=f"broken by {label_b}", marker_color=NEGATIVE_COLOR,
               customdata=broken, hovertemplate="<b>%{x}</b><br>broken: %{customdata:,.0f} px<extra></extra>"),
    ])  # fmt: skip
    fig.add_hline(y=0, line=dict(color="#333", width=1))
    _styled(fig, f"Pixels {label_b} fixed and broke against {label_a}, per true class, over the split", "class",
            "pixels (broken below 0)")  # fmt: skip
    fig.update_layout(barmode="relative")
    return fig


# --- where a model fails: objects by size, calibration ---------------------------------------

#: Colours of the object-level bars.
DETECTED_COLOR, MISSED_COLOR, FALSE_COLOR = POSITIVE_COLOR, NEGATIVE_COLOR, "#ff7f0e"
SIZE_TITLES = {"small": "small (< 0.1% of the image)", "medium": "medium (0.1% to 1%)", "large": "large (>= 1%)"}


def objects_figure(objects: np.ndarray, classes: Sequence[str], buckets: Sequence[str] = ("small", "medium", "large"),
                   shown: Sequence[int] | None = None) -> go.Figure:  # fmt: skip
    """Objects per class and size bucket: detected (green) and missed (red) ground-truth objects stacked up,
    false predicted objects (orange) below 0; one panel per size.

    objects: (C, 3, >= 4) counts per class and size bucket: gt, detected, predicted, false (the first four of
    ``segdash.metrics.objects.OBJECT_COUNTS``); ``shown``: class indices to draw (default all).
    """
    objects = np.asarray(objects)
    shown = list(range(len(classes))) if shown is None else list(shown)
    if objects.size == 0 or not shown or objects[shown][:, :, [0, 2]].sum() == 0:
        return _empty("Objects per class by size", "no objects in the ground truth or the prediction")
    names = [str(classes[c]) for c in shown]
    fig = make_subplots(rows=1, cols=len(buckets), subplot_titles=[SIZE_TITLES.get(b, b) for b in buckets],
                        shared_yaxes=True, horizontal_spacing=0.04)  # fmt: skip
    for b in range(len(buckets)):
        gt, detected, predicted, false = (objects[shown, b, i].astype(np.float64) for i in range(4))
        recall = [_fmt(d / g if g else math.nan, ".1%") for d, g in zip(detected, gt)]
        for values, name, color, hover in (
            (detected, "detected", DETECTED_COLOR, [f"detected {d:,.0f} of {g:,.0f} (recall {r})"
                                                    for d, g, r in zip(detected, gt, recall)]),
            (gt - detected, "missed", MISSED_COLOR, [f"missed {g - d:,.0f} of {g:,.0f}" for d, g in zip(detected, gt)]),
            (-false, "false", FALSE_COLOR, [f"false {f:,.0f} of {p:,.0f} predicted" for f, p in zip(false, predicted)]),
        ):  # fmt: skip
            fig.add_trace(go.Bar(x=names, y=values, name=name, marker_color=color, legendgroup=name,
                                 showlegend=b == 0, customdata=hover,
                                 hovertemplate="<b>%{x}</b><br>%{customdata}<extra></extra>"), row=1, col=b + 1)
    fig.add_hline(y=0, line=dict(color="#333", width=1))
    _styled(fig, "Objects per class by size: found, missed, and false ones (below 0)")
    fig.update_yaxes(title_text="objects", row=1, col=1)
    # the legend under the panels: on top it would cover the last panel's title
    fig.update_layout(barmode="relative", legend=dict(yanchor="top", y=-0.16, xanchor="left", x=0))
    return fig


def reliability_figure(bins: Sequence[Mapping[str, Any]], ece: float | None = None,
                       title: str = "Reliability diagram") -> go.Figure:  # fmt: skip
    """Accuracy against confidence per confidence bin, with the diagonal of perfect calibration, and the
    share of pixels per bin below. bins: ``[{"low", "high", "pixels", "confidence", "accuracy"}]``."""
    if not bins or sum(int(b["pixels"]) for b in bins) == 0:
        return _empty(title, "no pixels with a confidence")
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = [b["high"] - b["low"] for b in bins]
    accuracy = _floats([b["accuracy"] for b in bins])
    confidence = _floats([b["confidence"] for b in bins])
    pixels = _floats([b["pixels"] for b in bins])
    share = pixels / pixels.sum()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.06)
    fig.add_trace(go.Bar(x=centres, y=_gaps(accuracy), width=width, name="accuracy", marker_color="#1f77b4",
                         marker_line=dict(color="#fff", width=1),
                         customdata=np.stack([confidence, pixels], -1),
                         hovertemplate="confidence %{customdata[0]:.3f}<br>accuracy %{y:.3f}<br>"
                         "%{customdata[1]:,.0f} pixels<extra></extra>"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(x=centres, y=_gaps(confidence - accuracy), base=_gaps(accuracy), width=width,
                         name="gap to the diagonal",
                         marker=dict(color="rgba(214,39,40,0.12)", line=dict(color="#d62728", width=1),
                                     pattern=dict(shape="/", fgcolor="#d62728", solidity=0.25)),
                         hoverinfo="skip"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(color="#333", dash="dash")), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(x=centres, y=share, width=width, name="share of pixels", marker_color="#7f7f7f",
                         showlegend=False, hovertemplate="%{y:.1%} of the pixels<extra></extra>"), row=2, col=1)
    _styled(fig, title + (f" · ECE {_fmt(ece)}" if ece is not None else ""))
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(range=[0, 1], title_text="confidence (probability of the predicted class)", row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="pixels", tickformat=".0%", row=2, col=1)
    fig.update_layout(barmode="overlay", height=560)
    return fig


# --- dataset imbalance: where classes live, which go together, how small, do the splits agree -------------

#: Size buckets of objects as a share of the image's pixels (the evaluation's): edges between them.
SIZE_BUCKET_EDGES = {"small": (0.0, 1e-3), "medium": (1e-3, 1e-2), "large": (1e-2, 1.0)}
PRIOR_SCALE = "Viridis"


def _share_label(value: float) -> str:
    """0.0000316 -> '0.0032%', 1.0 -> '100%' (area edges read as a share of the image)."""
    percent = 100 * value
    return f"{percent:.2g}%" if percent < 100 else f"{percent:.0f}%"


def area_bin_labels(edges: Sequence[float]) -> list[str]:
    """Bin labels for object areas: '< 0.001%', '0.001%-0.003%', ..., '32%-100%'."""
    low, high = edges[:-1], edges[1:]
    return [f"< {_share_label(b)}" if a == 0 else f"{_share_label(a)}-{_share_label(b)}" for a, b in zip(low, high)]


def _prior_heatmap(prior: np.ndarray, name: str, scale_max: float | None = None, **kwargs) -> go.Heatmap:
    """One class's (G, G) spatial prior as a heatmap trace (shares of the class's pixels per cell)."""
    grid = prior.shape[0]
    return go.Heatmap(
        z=_floats(prior).reshape(grid, grid), zmin=0, zmax=scale_max, colorscale=PRIOR_SCALE, name=name,
        hovertemplate=f"<b>{name}</b><br>cell row %{{y}}, column %{{x}}<br>%{{z:.3%}} of its pixels<extra></extra>",
        **kwargs,
    )  # fmt: skip


def spatial_prior_figure(prior: np.ndarray | None, class_name: str, aspect: float = 1.0) -> go.Figure:
    """Where one class's pixels fall in the frame: (G, G) shares of its pixels per cell, top of the image on top.

    aspect: the images' width / height, so the grid is drawn with the frame's shape.
    """
    title = f"Where '{class_name}' pixels fall in the frame"
    if prior is None or not np.isfinite(_floats(prior)).any():
        return _empty(title, f"no pixel of '{class_name}' in this split")
    fig = go.Figure(_prior_heatmap(np.asarray(prior), class_name, colorbar={"title": "share", "tickformat": ".1%"}))
    _styled(fig, title, "left → right of the image", "top → bottom")
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1 / aspect, showgrid=False, showticklabels=False)
    fig.update_xaxes(showgrid=False, showticklabels=False, constrain="domain")
    fig.update_layout(height=460)
    return fig


def spatial_prior_grid_figure(priors: np.ndarray, classes: Sequence[str], aspect: float = 1.0,
                              columns: int = 5) -> go.Figure:  # fmt: skip
    """Small multiples: every class's spatial prior, each scaled to its own peak (the shapes compare, not the
    amounts); a class absent from the split is an empty panel marked 'absent'."""
    priors = np.asarray(priors, dtype=np.float64)
    rows = max(1, -(-len(classes) // columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(classes),
                        horizontal_spacing=0.02, vertical_spacing=0.06)  # fmt: skip
    for c, name in enumerate(classes):
        row, col = c // columns + 1, c % columns + 1
        prior = priors[c]
        if np.isfinite(prior).all() and prior.max() > 0:
            fig.add_trace(_prior_heatmap(prior / prior.max(), name, scale_max=1.0, coloraxis="coloraxis"), row, col)
        else:
            fig.add_annotation(text="absent", x=0.5, y=0.5, showarrow=False, font={"color": "#888"},
                               xref=f"x{c + 1 if c else ''} domain", yref=f"y{c + 1 if c else ''} domain")
    _styled(fig, "Where each class lives (each panel scaled to its own peak)")
    fig.update_xaxes(showticklabels=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed")
    for c in range(rows * columns):
        fig.update_yaxes(scaleanchor=f"x{c + 1 if c else ''}", scaleratio=1 / aspect, row=c // columns + 1,
                         col=c % columns + 1)
    fig.update_layout(coloraxis={"colorscale": PRIOR_SCALE, "cmin": 0, "cmax": 1,
                                     "colorbar": {"title": "of peak", "tickformat": ".0%"}},
                      height=max(320, 190 * rows))  # fmt: skip
    return fig


def cooccurrence_figure(cooccurrence: np.ndarray, classes: Sequence[str], normalize: str = "counts") -> go.Figure:
    """Which classes appear together: (C, C) image counts, or ``normalize="conditional"``: row i, column j =
    P(j present | i present) = count(i and j) / count(i). Rows of classes never present are blank."""
    if normalize not in ("counts", "conditional"):
        raise SegdashError(f"normalize must be 'counts' or 'conditional', got {normalize!r}")
    co = np.asarray(cooccurrence, dtype=np.float64)
    if co.size == 0 or not co.any():
        return _empty("Classes appearing together", "no labelled image")
    images = np.diag(co)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditional = co / images[:, None]
    z = conditional if normalize == "conditional" else co
    text = [[_fmt(v, ".0%") if normalize == "conditional" else (f"{v:,.0f}" if math.isfinite(v) else "")
             for v in row] for row in z]  # fmt: skip
    custom = np.stack([co, conditional], axis=-1)
    fig = go.Figure(go.Heatmap(
        z=[_gaps(row) for row in z], x=list(classes), y=list(classes), text=text, texttemplate="%{text}",
        textfont={"size": 10}, colorscale="Blues", zmin=0, zmax=1 if normalize == "conditional" else None,
        customdata=custom, colorbar={"title": "P(col | row)" if normalize == "conditional" else "images"},
        hovertemplate="<b>%{y}</b> and <b>%{x}</b><br>together in %{customdata[0]:,.0f} images<br>"
                      "P(%{x} | %{y}) = %{customdata[1]:.1%}<extra></extra>",
    ))  # fmt: skip
    title = "P(column class present | row class present)" if normalize == "conditional" else \
        "Images holding both classes (diagonal: images holding the class)"
    _styled(fig, title, "class j", "class i")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(420, 34 * len(classes) + 160))
    return fig


def object_size_figure(area_counts_by_split: Mapping[str, Sequence[int]], edges: Sequence[float], class_name: str,
                       recall: Mapping[str, float | None] | None = None, recall_label: str = "") -> go.Figure:  # fmt: skip
    """How small one class's objects are: the share of its objects per area bin (area as a share of the image),
    one bar per split, the evaluation's size buckets shaded; with ``recall`` ({"small", "medium", "large"}:
    object recall of a model), the recall per bucket as a line on the right axis."""
    labels = area_bin_labels(edges)
    title = f"Object sizes of '{class_name}'"
    if not area_counts_by_split or not any(np.sum(v) for v in area_counts_by_split.values()):
        return _empty(title, f"no object of '{class_name}'")
    fig = make_subplots(specs=[[{"secondary_y": recall is not None}]])
    for k, (split, counts) in enumerate(area_counts_by_split.items()):
        counts = _floats(counts)
        total = counts.sum()
        fig.add_trace(go.Bar(
            x=labels, y=counts / total if total else counts, name=f"{split} ({total:,.0f} objects)",
            marker_color=SERIES_COLORS[k % len(SERIES_COLORS)], customdata=counts,
            hovertemplate=f"<b>%{{x}}</b> of the image ({split})<br>%{{customdata:,.0f}} objects, "
                          "%{y:.1%} of them<extra></extra>",
        ), secondary_y=False)  # fmt: skip
    for bucket, (low, high) in SIZE_BUCKET_EDGES.items():
        inside = [i for i in range(len(edges) - 1) if edges[i] >= low and edges[i + 1] <= high]
        if inside:
            fig.add_vrect(x0=inside[0] - 0.5, x1=inside[-1] + 0.5, fillcolor="#888", opacity=0.06 if bucket != "medium"
                          else 0.14, line_width=0, annotation_text=bucket, annotation_position="top left")  # fmt: skip
            if recall is not None:
                value = recall.get(bucket)
                fig.add_trace(go.Scatter(
                    x=[labels[inside[0]], labels[inside[-1]]], y=[value, value] if value is not None else [None, None],
                    mode="lines+markers+text", line={"color": NEGATIVE_COLOR, "width": 3},
                    text=[f"{bucket}: {_fmt(value, '.0%')} found" if value is not None else "", ""],
                    textposition="top right", textfont={"color": NEGATIVE_COLOR}, name=f"object recall {recall_label}",
                    legendgroup="recall", showlegend=bucket == "small",
                    hovertemplate=f"{bucket} objects found: %{{y:.1%}}<extra>{recall_label}</extra>",
                ), secondary_y=True)  # fmt: skip
    _styled(fig, title, "object area (share of the image's pixels)", "share of the objects")
    fig.update_yaxes(tickformat=".0%", secondary_y=False)
    if recall is not None:
        fig.update_yaxes(title_text=f"object recall {recall_label}".strip(), range=[0, 1.1], tickformat=".0%",
                         tickvals=[0, 0.25, 0.5, 0.75, 1], secondary_y=True, showgrid=False)  # fmt: skip
        fig.update_layout(legend_title_text="")
    fig.update_layout(barmode="group")
    return fig


def object_counts_figure(counts_by_split: Mapping[str, Sequence[int]], classes: Sequence[str],
                         colors: Sequence[ColorLike] | None = None,
                         flagged: Sequence[bool] | None = None) -> go.Figure:  # fmt: skip
    """Objects (8-connected components) per class, grouped by split, log scale; ``flagged`` classes (objects
    mostly small) are marked with a red triangle above their bars."""
    if not counts_by_split:
        return _empty("Objects per class", "no statistics yet")
    values = {split: np.where(_floats(v) > 0, _floats(v), np.nan) for split, v in counts_by_split.items()}
    fig = _per_split_class_bars(values, classes, colors, "%{y:,.0f} objects")
    if flagged is not None and any(flagged):
        top = np.nan_to_num(np.stack(list(values.values()))).max(axis=0)  # 0 where no split has objects
        marked = [c for c, f in enumerate(flagged) if f and top[c] > 0]
        fig.add_trace(go.Scatter(
            x=[classes[c] for c in marked], y=[top[c] * 1.8 for c in marked], mode="markers",
            marker={"symbol": "triangle-down", "size": 11, "color": NEGATIVE_COLOR}, name="mostly small objects",
            hovertemplate="<b>%{x}</b>: over half of its objects are under 0.1% of the image<extra></extra>",
        ))  # fmt: skip
    _styled(fig, "Objects per class (8-connected components)", "class", "objects (log scale)")
    fig.update_yaxes(type="log", dtick=1)
    return fig


def frequency_ratio_figure(ratios_by_split: Mapping[str, Sequence[float | None]], classes: Sequence[str],
                           reference: str, colors: Sequence[ColorLike] | None = None,
                           threshold: float = 1 / 3) -> go.Figure:  # fmt: skip
    """Each class's share of the pixels in a split divided by its share in ``reference``, log scale: 1 = the
    same share; below the dashed ``threshold`` line a class is much rarer than in the reference."""
    if not ratios_by_split:
        return _empty(f"Class shares compared with '{reference}'", "only one split")
    values = {split: np.where(_floats(r) > 0, _floats(r), np.nan) for split, r in ratios_by_split.items()}
    fig = _per_split_class_bars(values, classes, colors, f"%{{y:.2f}}x its share in {reference}")
    for split, ratio in ratios_by_split.items():
        absent = [c for c, r in enumerate(_floats(ratio)) if r == 0]
        if absent:
            fig.add_trace(go.Scatter(x=[classes[c] for c in absent], y=[threshold / 2] * len(absent), mode="markers",
                                     marker={"symbol": "x", "size": 10, "color": NEGATIVE_COLOR},
                                     name=f"absent from {split}"))  # fmt: skip
    fig.add_hline(y=1, line={"color": "#333", "width": 1})
    fig.add_hline(y=threshold, line={"color": NEGATIVE_COLOR, "width": 1, "dash": "dash"})
    # placed by hand: on a log axis an annotation's y is the exponent (add_hline's own label lands elsewhere)
    fig.add_annotation(x=1, xref="paper", y=math.log10(threshold), text=f"much rarer (< {threshold:.2g}x)",
                       showarrow=False, xanchor="right", yanchor="top", font={"color": NEGATIVE_COLOR, "size": 11})
    shown = np.concatenate([v[np.isfinite(v)] for v in values.values()] + [np.array([threshold / 2, 2.0])])
    ticks = [t for t in (0.01, 0.03, 0.1, 0.2, threshold, 0.5, 1, 2, 5, 10, 30, 100)
             if shown.min() / 1.3 <= t <= shown.max() * 1.3]
    _styled(fig, f"Share of pixels compared with '{reference}' (1 = the same)", "class", "ratio (log scale)")
    fig.update_yaxes(type="log", range=[math.log10(shown.min() / 1.3), math.log10(shown.max() * 1.3)],
                     tickvals=ticks, ticktext=[f"{t:.2g}x" for t in ticks])
    return fig
