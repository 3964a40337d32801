"""Where a model fails: objects found, missed and false by size; the reliability diagram."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from segdash.viz.figures.base import (
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    _empty,
    _floats,
    _fmt,
    _gaps,
    _styled,
)

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
