"""Dataset figures: pixels and images per class and split, suggested weights, where classes live, which go
together, how small their objects are, and whether the splits agree."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from segdash.errors import SegdashError
from segdash.viz.figures.base import (
    _UNDER_THE_AXIS,
    NEGATIVE_COLOR,
    SERIES_COLORS,
    SPLIT_PATTERNS,
    _class_colors,
    _empty,
    _floats,
    _fmt,
    _gaps,
    _stat,
    _styled,
)
from segdash.viz.palette import ColorLike, contrasting_text_color


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
