"""Class colours for drawing: one palette per dataset, hex strings for Plotly, legends with pixel shares.

A colour is an ``(r, g, b)`` tuple of ints in 0..255 (what ``SegDataset.colors``
holds); every function here also accepts ``"#rrggbb"`` strings. The default palette and the colour
parser are the data layer's (``segdash.data.formats.colors``), so a dataset and its drawings agree::

    colors = palette_for(ds.classes, ds.colors)        # dataset colours, padded if short
    items = legend_items(ds.classes, colors, labels=prediction.labels, ignore_index=ds.ignore_index)
    # [{"index": 0, "name": "background", "color": "#12121c", "pixels": 30211, "share": 0.82}, ...]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segdash.data.formats.colors import Color, default_colors, parse_color
from segdash.data.labels import class_pixel_counts
from segdash.errors import SegdashError

RGB = Color
ColorLike = RGB | Sequence[int] | str


def default_palette(n: int) -> list[RGB]:
    """``n`` distinct colours for datasets and models that bring none (``segdash.data.formats.colors``)."""
    return list(default_colors(n))


def as_rgb(color: ColorLike) -> RGB:
    """``(r, g, b)`` ints from a tuple/list/array or a colour string (``parse_color``: ``"#rrggbb"``,
    ``"#rgb"``, ``"255 128 0"``)."""
    if isinstance(color, str):
        parsed = parse_color(color)
        if parsed is None:
            raise SegdashError(f"colour {color!r} is not a '#rrggbb' hex string")
        return parsed
    values = [int(v) for v in color]
    if len(values) < 3 or any(not 0 <= v <= 255 for v in values[:3]):
        raise SegdashError(f"colour {color!r} must be three integers in 0..255")
    return (values[0], values[1], values[2])


def hex_color(color: ColorLike) -> str:
    """``"#rrggbb"`` for a colour (what Plotly and HTML legends want)."""
    r, g, b = as_rgb(color)
    return f"#{r:02x}{g:02x}{b:02x}"


def luminance(color: ColorLike) -> float:
    """Relative luminance in 0..1 (WCAG formula), to choose readable text or line colours."""
    channels = np.asarray(as_rgb(color), dtype=np.float64) / 255.0
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrasting_text_color(color: ColorLike) -> str:
    """``"#000000"`` or ``"#ffffff"``, whichever reads better on ``color``."""
    return "#000000" if luminance(color) > 0.179 else "#ffffff"


def visible_on_white(color: ColorLike, max_luminance: float = 0.75) -> str:
    """The colour as hex, darkened just enough to be seen as a line on a white chart."""
    rgb = np.asarray(as_rgb(color), dtype=np.float64)
    while luminance(tuple(int(v) for v in rgb)) > max_luminance:
        rgb = rgb * 0.85
    return hex_color(tuple(int(round(v)) for v in rgb))


def palette_for(classes: Sequence[str], colors: Sequence[ColorLike] | None = None) -> list[RGB]:
    """One colour per class: the dataset's own, padded with ``default_palette`` when missing or short."""
    given = [as_rgb(c) for c in (colors or [])][: len(classes)]
    if len(given) < len(classes):
        extra = [c for c in default_palette(len(classes) + len(given)) if c not in given]
        given += extra[: len(classes) - len(given)]
    return given


def legend_items(
    classes: Sequence[str],
    colors: Sequence[ColorLike] | None,
    labels: np.ndarray | None = None,
    ignore_index: int | None = None,
) -> list[dict]:
    """One dict per class for a legend: ``index``, ``name``, ``color`` (hex), ``text_color``, ``pixels``, ``share``.

    ``labels`` is an ``HxW`` integer label map; ``pixels`` counts each class in it and
    ``share`` divides by all counted (non-ignored) pixels. Without ``labels`` both are ``None``;
    with an all-ignored map the shares are ``None`` (undefined, not 0).
    """
    palette = palette_for(classes, colors)
    counts = None if labels is None else class_pixel_counts(labels, len(classes), ignore_index)
    total = None if counts is None else int(counts.sum())
    items = []
    for index, (name, color) in enumerate(zip(classes, palette)):
        pixels = None if counts is None else int(counts[index])
        share = None if not total else pixels / total
        items.append(
            {
                "index": index,
                "name": str(name),
                "color": hex_color(color),
                "text_color": contrasting_text_color(color),
                "pixels": pixels,
                "share": share,
            }
        )
    return items
