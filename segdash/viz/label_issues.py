"""Pictures and figures of suspected label errors: pure functions from arrays to images and ``go.Figure``.

    shown = suspect_overlay(image, codes, ds.colors)          # suspect pixels outlined in the suggested colour
    fig = suspect_confusion_figure(issues.suspect_matrix, ds.classes)
    fig = suspect_share_figure(frame["suspect_pixels"], frame["pixels"], ds.classes, ds.colors)
    fig = score_vs_dice_figure(issues.scores, issues.mean_dice, issues.sample_ids)

``codes`` is a suggestion map (``segdash.metrics.label_quality.suggestion_codes``): 0 where the pixel is
fine, else 1 + the suggested class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import plotly.graph_objects as go

from segdash.errors import SegdashError
from segdash.viz.figures import FONT, TEMPLATE
from segdash.viz.overlay import contour_thickness, region_borders, to_display_rgb
from segdash.viz.palette import ColorLike, as_rgb, contrasting_text_color, hex_color, luminance, palette_for

#: How much of the suggested colour fills a suspect region (its outline is opaque).
SUSPECT_FILL = 0.35
#: How much the picture under the outlines is darkened, so that the outlines stand out.
SUSPECT_DIM = 0.25


def _layout(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    """The dashboard's look (``segdash.viz.figures``' template and fonts, title on the left)."""
    fig.update_layout(template=TEMPLATE, font=FONT, title=dict(text=title, x=0.01, xanchor="left", font=dict(size=16)),
                      margin=dict(l=70, r=30, t=70, b=70), hoverlabel=dict(font_size=12))  # fmt: skip
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _halo_color(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever sets ``color`` off (a near-black class outline on a dark scan needs white)."""
    return (0, 0, 0) if contrasting_text_color(color) == "#000000" else (255, 255, 255)


def suspect_overlay(image: np.ndarray, codes: np.ndarray, colors: Sequence[ColorLike],
                    thickness: int | None = None) -> np.ndarray:  # fmt: skip
    """``HxWx3 uint8``: the image slightly darkened, each suspect region lightly filled and outlined in its
    suggested class's colour, the outline edged in black or white so it shows on any background.

    image: ``HxWxC`` (any dtype); codes: ``HxW`` suggestion map (0 fine, 1 + suggested class); colors: one
    per class. ``thickness``: outline width (default ``contour_thickness``).
    """
    base = to_display_rgb(image)
    codes = np.asarray(codes)
    if codes.shape != base.shape[:2]:
        raise SegdashError(f"the suggestion map is {codes.shape[1]}x{codes.shape[0]} but the image is "
                           f"{base.shape[1]}x{base.shape[0]}")  # fmt: skip
    palette = [as_rgb(c) for c in colors]
    if codes.size and int(codes.max()) > len(palette):
        raise SegdashError(f"the suggestion map names class {int(codes.max()) - 1}; there are {len(palette)} classes")
    width = contour_thickness(codes.shape) if thickness is None else int(thickness)
    out = (base.astype(np.float32) * (1 - SUSPECT_DIM)).round().astype(np.uint8)
    suspect = codes > 0
    if not suspect.any():
        return out
    table = np.zeros((len(palette) + 1, 3), np.uint8)
    table[1:] = palette
    paint = table[codes.astype(np.intp)]
    filled = cv2.addWeighted(out, 1 - SUSPECT_FILL, paint, SUSPECT_FILL, 0.0)
    out[suspect] = filled[suspect]
    # The outline: the inner border of each suspect region (against fine pixels or another suggestion),
    # and one ring outside it in the halo colour.
    borders = region_borders(codes, width) & suspect
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    ring = (cv2.dilate(suspect.astype(np.uint8), kernel) > 0) & ~suspect
    for c in np.unique(codes[suspect]):  # each suggestion's ring in the colour that sets it off
        near = ring & (cv2.dilate((codes == c).astype(np.uint8), kernel) > 0)
        out[near] = _halo_color(palette[int(c) - 1])
    out[borders] = paint[borders]
    return out


def suspect_confusion_figure(confusion: np.ndarray, classes: Sequence[str]) -> go.Figure:
    """Heat map of suspect pixels: rows (y) = the given label, columns (x) = the class the model suggests.

    confusion: ``(K, K)`` counts (``LabelIssues.suspect_matrix``; the diagonal is 0: a label is never its own
    suggestion, shown blank). Cells show the count; hover adds the share of the row's suspect pixels.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    names = [str(c) for c in classes]
    if cm.shape != (len(names), len(names)):
        raise SegdashError(f"a suspect-pixel matrix of shape {cm.shape} does not fit {len(names)} classes")
    rows = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, cm / np.maximum(rows, 1), np.nan)
    z = [[None if i == j else float(cm[i, j]) for j in range(len(names))] for i in range(len(names))]
    text = [["" if i == j else (f"{cm[i, j]:,.0f}" if cm[i, j] else "") for j in range(len(names))]
            for i in range(len(names))]  # fmt: skip
    hover = [[f"labelled <b>{names[i]}</b>, suggested <b>{names[j]}</b><br>{cm[i, j]:,.0f} suspect pixels"
              + ("" if math.isnan(share[i, j]) else f"<br>{share[i, j]:.1%} of the suspect {names[i]} pixels")
              for j in range(len(names))] for i in range(len(names))]  # fmt: skip
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", textfont={"size": 11}, colorscale="Oranges",
        zmin=0, hovertext=hover, hoverinfo="text", xgap=1, ygap=1,
        colorbar=dict(title=dict(text="suspect pixels", side="right"), thickness=14),
    ))  # fmt: skip
    _layout(fig, "Suspect pixels: given label vs the model's suggestion", "suggested class", "given label")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(380, 34 * len(names) + 170))
    return fig


def suspect_share_figure(suspect: Sequence[int], pixels: Sequence[int], classes: Sequence[str],
                         colors: Sequence[ColorLike] | None = None) -> go.Figure:  # fmt: skip
    """Bars per given class: the share of its labelled pixels that are suspect (count on the bar); a class
    with no labelled pixel shows "n/a"."""
    suspect, pixels = np.asarray(suspect, np.float64), np.asarray(pixels, np.float64)
    names = [str(c) for c in classes]
    if suspect.shape != (len(names),) or pixels.shape != (len(names),):
        raise SegdashError(f"{suspect.shape} suspect and {pixels.shape} pixel counts do not fit {len(names)} classes")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(pixels > 0, suspect / np.maximum(pixels, 1), np.nan)
    fill = [hex_color(c) for c in palette_for(names, colors)]
    line = ["#555" if luminance(c) > 0.8 else c for c in fill]  # a white class still has an edge
    fig = go.Figure(go.Bar(
        x=names, y=[None if math.isnan(v) else v for v in share], marker=dict(color=fill, line=dict(color=line, width=1)),
        text=["n/a" if math.isnan(v) else f"{int(n):,} px" for v, n in zip(share, suspect)], textposition="outside",
        customdata=np.stack([suspect, pixels], axis=-1),
        hovertemplate="<b>%{x}</b><br>%{customdata[0]:,.0f} of %{customdata[1]:,.0f} labelled pixels suspect "
                      "(%{y:.2%})<extra></extra>",
    ))  # fmt: skip
    _layout(fig, "Which classes are most often suspected", None, "share of the class's labelled pixels")
    top = np.nanmax(share) if np.isfinite(share).any() else 0.0
    fig.update_yaxes(tickformat=".1%", range=[0, max(top * 1.25, 1e-4)])
    fig.update_layout(height=380, showlegend=False)
    return fig


def score_vs_dice_figure(scores: Sequence[float], mean_dice: Sequence[float], sample_ids: Sequence[str],
                         suspect_share: Sequence[float] | None = None, marked: Sequence[str] = ()) -> go.Figure:  # fmt: skip
    """Each image as a point: the model's mean Dice (x) against the label-quality score (y). Low on both:
    the mask and the model disagree; low score with a fair Dice: a few confidently contradicted pixels,
    the typical label error; low Dice with a high score: the model is unsure, the image is hard.
    ``marked`` sample ids are drawn larger (the ones shown as pictures)."""
    scores, dice = np.asarray(scores, np.float64), np.asarray(mean_dice, np.float64)
    ids = [str(s) for s in sample_ids]
    if not (len(scores) == len(dice) == len(ids)):
        raise SegdashError(f"{len(scores)} scores, {len(dice)} Dice values and {len(ids)} ids do not match")
    share = np.zeros(len(ids)) if suspect_share is None else np.nan_to_num(np.asarray(suspect_share, np.float64))
    keep = np.isfinite(scores) & np.isfinite(dice)
    marked_set = set(marked)
    size = [11 if sid in marked_set else 7 for sid in ids]
    fig = go.Figure(go.Scatter(
        x=dice[keep], y=scores[keep], mode="markers", text=[ids[i] for i in np.flatnonzero(keep)],
        customdata=share[keep],
        marker=dict(size=[size[i] for i in np.flatnonzero(keep)], color=share[keep], colorscale="Oranges",
                    cmin=0, line=dict(color="#444", width=0.5), showscale=True,
                    colorbar=dict(title=dict(text="suspect share", side="right"), thickness=14, tickformat=".1%")),
        hovertemplate="<b>%{text}</b><br>mean Dice %{x:.3f}<br>label quality %{y:.3f}<br>"
                      "suspect pixels %{customdata:.2%}<extra></extra>",
    ))  # fmt: skip
    _layout(fig, "Label quality against the model's Dice, per image", "mean Dice (model vs mask)",
            "label-quality score (lower: more suspect)")  # fmt: skip
    fig.update_layout(height=420)
    return fig
