"""Class colours: one palette per dataset, hex strings for Plotly, legends with pixel shares.

A colour is an ``(r, g, b)`` tuple of ints in 0..255 (what ``SegDataset.colors``
holds); every function here also accepts ``"#rrggbb"`` strings::

    colors = palette_for(ds.classes, ds.colors)        # dataset colours, padded if short
    items = legend_items(ds.classes, colors, labels=prediction.labels, ignore_index=ds.ignore_index)
    # [{"index": 0, "name": "background", "color": "#12121c", "pixels": 30211, "share": 0.82}, ...]
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np

from segdash.data.labels import class_pixel_counts
from segdash.errors import SegdashError

RGB = tuple[int, int, int]
ColorLike = RGB | Sequence[int] | str

#: Hand-picked, mutually distinct colours (Kelly's and Tableau's, dark first colour
#: avoided so that class 0 is never mistaken for "no overlay").
_BASE_COLORS: tuple[RGB, ...] = (
    (31, 119, 180),  # blue
    (255, 127, 14),  # orange
    (44, 160, 44),  # green
    (214, 39, 40),  # red
    (148, 103, 189),  # purple
    (140, 86, 75),  # brown
    (227, 119, 194),  # pink
    (188, 189, 34),  # olive
    (23, 190, 207),  # cyan
    (255, 215, 0),  # gold
    (0, 128, 128),  # teal
    (128, 0, 0),  # maroon
    (170, 255, 195),  # mint
    (0, 0, 128),  # navy
    (255, 250, 200),  # beige
    (128, 128, 0),  # dark olive
    (230, 190, 255),  # lavender
    (250, 190, 212),  # light pink
    (70, 240, 240),  # light cyan
    (154, 99, 36),  # ochre
)


def default_palette(n: int) -> list[RGB]:
    """``n`` distinct colours for datasets that bring none: 20 hand-picked, then golden-ratio hues."""
    if n < 0:
        raise ValueError(f"palette size must be >= 0, got {n}")
    colors = list(_BASE_COLORS[:n])
    golden = 0.618033988749895
    k = 0
    while len(colors) < n:
        hue = (k * golden) % 1.0
        saturation = (0.85, 0.55, 0.95)[k % 3]
        value = (0.9, 0.7, 0.55)[(k // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
        k += 1
    return colors


def as_rgb(color: ColorLike) -> RGB:
    """``(r, g, b)`` ints from a tuple/list/array or a ``"#rrggbb"`` / ``"#rgb"`` string."""
    if isinstance(color, str):
        text = color.strip().lstrip("#")
        if len(text) == 3:
            text = "".join(c * 2 for c in text)
        if len(text) != 6:
            raise SegdashError(f"colour {color!r} is not a '#rrggbb' hex string")
        try:
            return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
        except ValueError:
            raise SegdashError(f"colour {color!r} is not a '#rrggbb' hex string") from None
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
