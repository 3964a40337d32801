"""Vector annotations (polygons, rectangles, circles) checked and drawn into label maps.

    points = checked_points(shape["points"], "sample 'a': shape 2", height, width)   # (N, 2) float64
    draw_shape(canvas, "polygon", points, value=3)                                  # PIL, as LabelMe draws

Point lists come from files a user (or a stranger) wrote, so they are bounded before anything is
drawn: at most ``MAX_POLYGON_POINTS`` points per shape and ``MAX_SAMPLE_POINTS`` per sample, finite
coordinates no further outside the image than its own size (a point a million pixels away is a broken
file, and rasterisers allocate by the distance covered), and a bounded outline length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from segdash.errors import SegdashError

#: Points in one polygon: a detailed outline of a large object has a few thousand.
MAX_POLYGON_POINTS = 100_000
#: Points over all shapes of one sample.
MAX_SAMPLE_POINTS = 1_000_000
#: An outline may run at most this many times around the image (height + width) in total length.
MAX_OUTLINE_TURNS = 100


def checked_points(points: object, where: str, height: int, width: int, flat: bool = False) -> np.ndarray:
    """``points`` as an (N, 2) float64 array, or a ``SegdashError`` saying ``where`` and why.

    ``flat``: COCO's ``[x0, y0, x1, y1, ...]`` instead of LabelMe's ``[[x0, y0], [x1, y1], ...]``.
    The count is checked before the list is converted, so a polygon of 10^7 points costs nothing here.
    """
    if not isinstance(points, (list, tuple)):
        raise SegdashError(f"{where}: the points are not a list")
    count = len(points) // 2 if flat else len(points)
    if count > MAX_POLYGON_POINTS:
        raise SegdashError(
            f"{where}: a polygon of {count:,} points, more than the limit of {MAX_POLYGON_POINTS:,} points per polygon"
        )
    if flat and len(points) % 2:
        raise SegdashError(f"{where}: a polygon with an odd number of coordinates")
    try:
        array = np.asarray(points, dtype=np.float64).reshape(-1, 2) if points else np.zeros((0, 2))
    except (TypeError, ValueError):
        raise SegdashError(f"{where}: the points are not pairs of numbers") from None
    if not flat and array.shape[0] != len(points):
        raise SegdashError(f"{where}: the points are not pairs of numbers")
    if not np.isfinite(array).all():
        raise SegdashError(f"{where}: a point is not a finite number")
    outside = (array[:, 0] < -width) | (array[:, 0] > 2 * width) | (array[:, 1] < -height) | (array[:, 1] > 2 * height)
    if outside.any():
        raise SegdashError(f"{where}: a point lies far outside the {width}x{height} image")
    if array.shape[0] > 1:
        steps = np.abs(np.diff(np.vstack([array, array[:1]]), axis=0)).max(axis=1).sum()
        if steps > MAX_OUTLINE_TURNS * (height + width) + 1000:
            raise SegdashError(
                f"{where}: the outline is {steps:,.0f} pixels long, too long for a {width}x{height} image"
            )
    return array


class PointBudget:
    """Counts the points of one sample's shapes; ``spend`` raises past ``MAX_SAMPLE_POINTS``."""

    def __init__(self, where: str, limit: int = MAX_SAMPLE_POINTS):
        self.where, self.limit, self.used = where, limit, 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise SegdashError(
                f"{self.where}: the shapes hold more than {self.limit:,} points in all, more than one image needs"
            )


def shape_mask(kind: str, points: np.ndarray, height: int, width: int) -> np.ndarray | None:
    """HxW bool mask of one shape drawn as LabelMe draws it (PIL, outline included); None for shapes with
    no area (lines, points) or too few points.

    ``polygon``: 3 or more points; ``rectangle``: two opposite corners (or four corners, their bounds);
    ``circle``: the centre and a point on the circle.
    """
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    xy = [(float(x), float(y)) for x, y in points]
    if kind == "polygon":
        if len(xy) < 3:
            return None
        draw.polygon(xy, outline=1, fill=1)
    elif kind == "rectangle":
        if len(xy) < 2:
            return None
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        draw.rectangle([float(x0), float(y0), float(x1), float(y1)], outline=1, fill=1)
    elif kind == "circle":
        if len(xy) != 2:
            return None
        (cx, cy), (px, py) = xy
        radius = float(np.hypot(cx - px, cy - py))
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=1, fill=1)
    else:
        return None
    return np.asarray(canvas, dtype=bool)


def paint(labels: np.ndarray, masks: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
    """``labels`` with each ``(mask, value)`` painted in order (later ones on top)."""
    for mask, value in masks:
        labels[mask] = value
    return labels
