"""Small tables for the dashboard built from per-class score frames (pandas in, pandas out)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from segdash.errors import SegdashError


def _with_name_column(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with class names in a ``name`` column (``Scores.to_frame()`` keeps them in the index)."""
    if "name" in frame.columns:
        return frame
    return frame.rename_axis("name").reset_index()


def metric_delta_frame(
    frame_a: pd.DataFrame,
    frame_b: pd.DataFrame,
    metrics: Sequence[str] = ("iou", "dice", "precision", "recall"),
    label_a: str = "A",
    label_b: str = "B",
) -> pd.DataFrame:
    """Per-class metrics of two models side by side with their change: one row per class.

    frame_a, frame_b: ``Scores.to_frame()`` tables (class names in a ``name`` column or the
    index, plus metric columns), matched by class name in ``frame_a``'s order (classes only
    in ``frame_b`` are appended).
    Columns: ``name``, then for each metric ``{metric} {label_a}``, ``{metric} {label_b}``,
    ``Δ {metric}`` (= B - A). Undefined values stay NaN (a delta with an undefined side is NaN).
    """
    frame_a, frame_b = _with_name_column(frame_a), _with_name_column(frame_b)
    for label, frame in ((label_a, frame_a), (label_b, frame_b)):
        missing = [m for m in ("name", *metrics) if m not in frame.columns]
        if missing:
            raise SegdashError(f"the scores of {label} lack the column(s) {', '.join(missing)}")
    names = list(frame_a["name"]) + [n for n in frame_b["name"] if n not in set(frame_a["name"])]
    a = frame_a.set_index("name").reindex(names)
    b = frame_b.set_index("name").reindex(names)
    table = pd.DataFrame({"name": names})
    for metric in metrics:
        values_a = a[metric].to_numpy(dtype=np.float64, na_value=np.nan)
        values_b = b[metric].to_numpy(dtype=np.float64, na_value=np.nan)
        table[f"{metric} {label_a}"] = values_a
        table[f"{metric} {label_b}"] = values_b
        table[f"Δ {metric}"] = values_b - values_a
    return table
