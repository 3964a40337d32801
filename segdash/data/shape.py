"""Which images can be segmented at all: one policy for the dashboard's uploads and ``segdash predict``.

    check_image_shape("strip.png", image.shape)   # SegdashError: a 100000 x 1 image is too thin to segment

A side under ``MIN_SIDE`` pixels, or one side more than ``MAX_ASPECT`` times the other, leaves nothing a
model can segment or a page can draw (a 1 x 100000 strip, a 1 x 1 dot); such inputs are refused with a
message, before they are resized, padded or tiled into something meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence

from segdash.errors import SegdashError

MIN_SIDE, MAX_ASPECT = 8, 64


def check_image_shape(name: str, shape: Sequence[int]) -> None:
    """Refuse an image of ``shape`` (H, W, ...) too small or too thin to segment, naming it and the rule."""
    height, width = int(shape[0]), int(shape[1])
    if min(height, width) < MIN_SIDE or max(height, width) > MAX_ASPECT * min(height, width):
        raise SegdashError(
            f"{name}: a {width} x {height} image is too thin to segment (each side at least {MIN_SIDE} px, "
            f"at most {MAX_ASPECT}:1)"
        )
