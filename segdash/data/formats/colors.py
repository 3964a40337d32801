"""Class colours: the default palette and colours written as text."""

from __future__ import annotations

import re

Color = tuple[int, int, int]


def default_colors(count: int) -> tuple[Color, ...]:
    """The PASCAL VOC colour map (bit-interleaved): distinct, stable colours for class 0..count-1."""
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
    """'#ff8000', 'ff8000', '255 128 0', '255,128,0', '(255, 128, 0)' -> (255, 128, 0); else None."""
    text = text.strip()
    hex_match = re.fullmatch(r"#?([0-9a-fA-F]{6})", text)
    if hex_match and (text.startswith("#") or re.search(r"[a-fA-F]", text)):
        value = int(hex_match.group(1), 16)
        return (value >> 16) & 255, (value >> 8) & 255, value & 255
    numbers = re.findall(r"-?\d+", text)
    if len(numbers) == 3 and re.fullmatch(r"[\s\d,;()\[\]-]+", text):
        rgb = tuple(int(n) for n in numbers)
        if all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
    return None
