"""Training figures: loss per step and epoch, validation scores per class, several runs on one chart."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from segdash.viz.figures.base import (
    _UNDER_THE_AXIS,
    SERIES_COLORS,
    _class_colors,
    _empty,
    _floats,
    _gaps,
    _styled,
    metric_label,
    unit_range,
)
from segdash.viz.palette import ColorLike, visible_on_white


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
    if unit_range(metric):
        fig.update_yaxes(range=[0, 1.02])
    if metric == "lr":
        fig.update_yaxes(type="log")
    return fig
