"""Class colours: the one default palette, the PASCAL VOC colour map, and colours written as text.

    default_colors(5)          # the palette of datasets and models that bring no colours
    voc_colormap(21)           # PASCAL VOC's own colours (its palette PNGs use them)
    parse_color("#ff8000")     # (255, 128, 0); also "ff8000", "#f80", "255 128 0", "(255, 128, 0)"

``segdash.viz.palette`` pads and converts with these; nothing else defines colours.
"""

from __future__ import annotations

import colorsys
import re

Color = tuple[int, int, int]

#: Hand-picked, mutually distinct colours (Kelly's and Tableau's, dark first colour
#: avoided so that class 0 is never mistaken for "no overlay").
_BASE_COLORS: tuple[Color, ...] = (
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
#: successive hues a golden-ratio turn apart never come back near each other
_GOLDEN = 0.618033988749895


def default_colors(count: int) -> tuple[Color, ...]:
    """``count`` distinct colours for classes 0..count-1 of a dataset or model that brings none: 20
    hand-picked, then golden-ratio hues; a longer palette starts with the shorter one."""
    if count < 0:
        raise ValueError(f"palette size must be >= 0, got {count}")
    colors = list(_BASE_COLORS[:count])
    for k in range(count - len(colors)):
        hue = (k * _GOLDEN) % 1.0
        saturation = (0.85, 0.55, 0.95)[k % 3]
        value = (0.9, 0.7, 0.55)[(k // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(colors)


def voc_colormap(count: int) -> tuple[Color, ...]:
    """The PASCAL VOC colour map (bit-interleaved) for labels 0..count-1: VOC's own class colours."""
    colors = []
    for index in range(count):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return tuple(colors)


def parse_color(text: str) -> Color | None:
    """A colour written as text -> ``(r, g, b)``, or None when it is not one.

    '#ff8000', 'ff8000' (without '#' only with a letter a-f, so that a number is never read as hex),
    '#f80', '255 128 0', '255,128,0', '(255, 128, 0)'. A three-digit hex needs its '#': class names
    such as "bed" are not colours.
    """
    text = text.strip()
    hex_match = re.fullmatch(r"#?([0-9a-fA-F]{6})", text) or re.fullmatch(r"#([0-9a-fA-F]{3})", text)
    if hex_match and (text.startswith("#") or re.search(r"[a-fA-F]", text)):
        digits = hex_match.group(1)
        digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
        value = int(digits, 16)
        return (value >> 16) & 255, (value >> 8) & 255, value & 255
    numbers = re.findall(r"-?\d+", text)
    if len(numbers) == 3 and re.fullmatch(r"[\s\d,;()\[\]-]+", text):
        rgb = tuple(int(n) for n in numbers)
        if all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
    return None
