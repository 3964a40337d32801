"""A large, zoomable view of one picture with a hover read-out of the class and confidence under the cursor.

    fig = zoom_figure(overlay_rgb, labels, classes, confidence=prediction.probs.max(0))
    st.plotly_chart(fig)        # drag to zoom, double-click to reset, hover for "grey matter · 97%"

The picture is drawn as an image trace; the read-out comes from an invisible heat map over it,
sampled on a grid of at most ``max_hover_side`` cells a side so that a large image stays light
in the browser (every cell carries its text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from segdash.errors import SegdashError


def _hover_grid(height: int, width: int, max_side: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pixel rows and columns sampled for the read-out, and the step between them."""
    step = max(1, -(-max(height, width) // max_side))  # ceil: the grid never exceeds max_side
    return np.arange(step // 2, height, step), np.arange(step // 2, width, step), step


def hover_text(labels: np.ndarray, classes: Sequence[str], confidence: np.ndarray | None,
               truth: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """(h, w) label map (already sampled) -> (h, w) object array of read-outs: "grey matter · 97%".

    With ``truth`` (the ground truth at the same pixels) the read-out adds it when it differs:
    "CSF · 61% (truth: grey matter)".
    """
    names = np.array([str(c) for c in classes] + ["—"], dtype=object)
    index = np.where((labels >= 0) & (labels < len(classes)), labels, len(classes))
    text = names[index]
    if confidence is not None:
        percent = np.char.mod("%d%%", np.rint(100 * np.clip(confidence, 0, 1)).astype(int)).astype(object)
        text = text + " · " + percent
    if truth is not None:
        true_index = np.where((truth >= 0) & (truth < len(classes)), truth, len(classes))
        wrong = true_index != index
        text = np.where(wrong, text + " (truth: " + names[true_index] + ")", text)
    return text


def zoom_figure(
    picture: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    confidence: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    title: str = "",
    max_hover_side: int = 256,
    height: int = 640,
) -> go.Figure:
    """``picture`` (H, W, 3) uint8 as a zoomable image; hovering shows the class of ``labels`` (H, W) there,
    its ``confidence`` (H, W) in 0..1 and, with ``truth`` (H, W), the true class where it differs."""
    picture = np.asarray(picture)
    labels = np.asarray(labels)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.shape[:2] != labels.shape:
        raise SegdashError(f"picture {picture.shape} and label map {labels.shape} must be HxWx3 and HxW of one size")
    height_px, width_px = labels.shape
    rows, cols, step = _hover_grid(height_px, width_px, max_hover_side)
    sample = np.ix_(rows, cols)
    text = hover_text(labels[sample], classes, None if confidence is None else np.asarray(confidence)[sample],
                      None if truth is None else np.asarray(truth)[sample])  # fmt: skip
    fig = go.Figure(go.Image(z=picture, hoverinfo="skip"))
    fig.add_trace(
        go.Heatmap(
            z=np.zeros(text.shape), x=cols, y=rows, text=text, hovertemplate="x %{x}, y %{y}<br>%{text}<extra></extra>",
            showscale=False, opacity=0, colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
        )
    )  # fmt: skip
    fig.update_xaxes(visible=False, range=[-0.5, width_px - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x", constrain="domain")
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=14)), height=height, margin=dict(l=0, r=0, t=36 if title else 0, b=0),
        dragmode="zoom", hovermode="closest", plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
    )  # fmt: skip
    fig.layout.meta = {"hover_step": step}
    return fig
