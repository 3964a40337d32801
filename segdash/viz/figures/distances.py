"""Surface-distance figures: HD95, ASSD and relative area difference per class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from segdash.errors import SegdashError
from segdash.metrics.specs import list_metrics, spec_for_column
from segdash.viz.figures.base import (
    _class_colors,
    _empty,
    _floats,
    _fmt,
    _frame_column,
    _gaps,
    _styled,
    metric_label,
)
from segdash.viz.palette import ColorLike, contrasting_text_color

#: How a class without any distance (never predicted where it is) is named in the legend.
MISSED_LEGEND = "missed: in the ground truth, never predicted there (no distance)"
MISSED_COLOR = "#c0392b"
MISSED_TEXT = "#7b1a10"
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


def _span(values: np.ndarray, signed: bool) -> tuple[float, float]:
    """The axis range of one panel: its finite values with room for their labels (0 always in view)."""
    finite = values[np.isfinite(values)]
    high = float(max(finite.max(initial=0.0), 0.0))
    low = float(min(finite.min(initial=0.0), 0.0)) if signed else 0.0
    if high == low:
        high = 1.0 if not signed else max(high, 0.1)
    room = (0.5 if low < 0 else 0.3) * (high - low)  # a signed panel's labels sit on both sides
    return (low - room if low < 0 else 0.0), high + room


def distance_metrics_figure(
    distances: pd.DataFrame | Mapping[str, Any],
    classes: Sequence[str] | None = None,
    colors: Sequence[ColorLike] | None = None,
    metrics: Sequence[str] | None = None,
) -> go.Figure:
    """Surface-distance metrics per class (HD95 pooled and max of directions, ASSD, relative area difference),
    one panel each, two panels a row, classes down the side so that every class is labelled however many.

    distances: ``aggregate_distances(...)``'s ``{"hd95": (C,), "assd": (C,), "rad": (C,), "missed": (C,) ...}``,
    or ``{class: {metric: value}}``, or a frame (``name`` column or class-name index, e.g.
    ``Evaluation.distances``). ``metrics``: the columns to draw (default: every distance metric of the
    specs that the frame has). A class in the ground truth that was never predicted there (``missed`` > 0)
    has no distance: it is drawn as a hatched bar across the whole panel, labelled "missed", with its own
    legend entry (the worst failure, never a 0-length bar that would read as perfect); a class absent from
    both sides is labelled "n/a". Bars of classes missed in some images say how many; a ``one_sided``
    count (images where the class was on one side only) is shown on hover.
    """
    frame = _distance_frame(distances, classes)
    if metrics is None:
        metrics = [s.key for s in list_metrics(family="distance", tables=True) if s.key in frame.columns] or [
            c for c in frame.columns
            if c != "name" and c not in _DISTANCE_COUNTS and pd.api.types.is_numeric_dtype(frame[c])
        ]  # fmt: skip
    if not metrics or frame.empty:
        return _empty("Distance metrics per class", "no distance metrics computed")
    names = list(classes) if classes is not None else list(frame["name"])
    fill = _class_colors(names, colors)
    _, one_sided = _frame_column(frame, "one_sided", names) if "one_sided" in frame.columns else (None, None)
    _, missed = _frame_column(frame, "missed", names) if "missed" in frame.columns else (None, None)
    missed = np.nan_to_num(missed) if missed is not None else np.zeros(len(names))
    cols = min(2, len(metrics))
    rows = -(-len(metrics) // cols)
    panel, gap = 24 * len(names) + 30, 100  # pixels: a row of bars per class, room for the titles between
    plots = rows * panel + (rows - 1) * gap
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[metric_label(m) for m in metrics],
                        horizontal_spacing=0.2, vertical_spacing=gap / plots if rows > 1 else 0.0)  # fmt: skip
    legend_shown = False
    for k, metric in enumerate(metrics):
        row, col = k // cols + 1, k % cols + 1
        _, values = _frame_column(frame, metric, names)
        spec = spec_for_column(metric)
        fmt = spec.fmt if spec is not None else ".2f"
        signed = spec is not None and spec.low < 0
        low, high = _span(values, signed)
        surface = spec is not None and spec.high is None and not signed  # a distance: missed images have none
        texts = [(_fmt(v, fmt) + (f" · {m:.0f} missed" if m > 0 and surface else "")) if np.isfinite(v) else ""
                 for v, m in zip(values, missed)]  # fmt: skip
        hover = [f"{metric_label(metric)}: {_fmt(v, fmt)}" for v in values]
        if one_sided is not None:
            hover = [f"{line}<br>images with the class on one side only: {_fmt(count, '.0f')}"
                     for line, count in zip(hover, one_sided)]  # fmt: skip
        # a long bar carries its label inside (outside it would run into the next panel), a short one beside it
        inside = [np.isfinite(v) and abs(v) >= 0.45 * max(high, -low) for v in values]
        fig.add_trace(
            go.Bar(y=names, x=_gaps(values), orientation="h", marker=dict(color=fill, line=dict(color="#444", width=0.6)),
                   text=texts, textposition=["inside" if i else "outside" for i in inside], insidetextanchor="end",
                   textfont=dict(color=[contrasting_text_color(c) if i else "#222" for c, i in zip(fill, inside)]),
                   cliponaxis=False, name=metric_label(metric), showlegend=False, customdata=hover,
                   hovertemplate="<b>%{y}</b><br>%{customdata}<extra></extra>"),
            row=row, col=col,
        )  # fmt: skip
        lost = [i for i, (v, m) in enumerate(zip(values, missed)) if not np.isfinite(v) and m > 0]
        if lost:  # the whole panel's width, hatched: no distance exists, which is worse than any
            fig.add_trace(
                go.Bar(y=[names[i] for i in lost], x=[high] * len(lost), orientation="h", name=MISSED_LEGEND,
                       legendgroup="missed", showlegend=not legend_shown,
                       marker=dict(color="rgba(192,57,43,0.08)", line=dict(color=MISSED_COLOR, width=1),
                                   pattern=dict(shape="/", fgcolor="rgba(192,57,43,0.4)", solidity=0.2)),
                       text=[f"<b>missed</b> in {missed[i]:.0f} image(s)" for i in lost], textposition="inside",
                       insidetextanchor="middle", textfont=dict(color=MISSED_TEXT, size=12),
                       customdata=[f"{names[i]}: in the ground truth of {missed[i]:.0f} image(s), never predicted "
                                   "there: no distance" for i in lost],
                       hovertemplate="%{customdata}<extra></extra>"),
                row=row, col=col,
            )  # fmt: skip
            legend_shown = True
        for i, value in enumerate(values):
            if not np.isfinite(value) and missed[i] == 0:
                fig.add_annotation(x=0, y=names[i], text="n/a", showarrow=False, xanchor="left",
                                   font=dict(color="#888", size=11), row=row, col=col)  # fmt: skip
        fig.update_xaxes(range=[low, high], zeroline=True, zerolinecolor="#888", row=row, col=col,
                         tickformat=".0%" if spec is not None and spec.is_percent else None)  # fmt: skip
        # every class named on every panel, first class on top
        fig.update_yaxes(type="category", categoryorder="array", categoryarray=names, autorange="reversed",
                         tickmode="array", tickvals=names, ticktext=names, ticks="outside", ticklen=6,
                         tickcolor="rgba(0,0,0,0)", row=row, col=col)  # fmt: skip
    _styled(fig, "Distance metrics per class (closer to 0 is better)")
    fig.update_layout(barmode="overlay", showlegend=legend_shown, height=int(plots + 160))
    if legend_shown:  # above the panels, clear of the title
        fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
                          margin=dict(t=90))  # fmt: skip
    return fig
