"""Paired-comparison figures: the forest plot of B - A per class, B against A per image, pixels fixed and broken."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from segdash.viz.figures.base import (
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    _floats,
    _fmt,
    _gaps,
    _styled,
    metric_label,
)

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
