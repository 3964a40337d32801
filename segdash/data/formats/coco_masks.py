"""COCO segmentations (polygons, uncompressed and compressed RLE) -> HxW bool masks, checked first.

    mask = segmentation_mask(ann["segmentation"], height, width, "sample 'a': annotation 7")

Polygons are rasterised by pycocotools, so the pixels are COCO's own (``COCO.annToMask``). Run-length
encodings are decoded here, after checking them: pycocotools' decoder writes as many pixels as the
counts say, with no check against the image's size, so a crafted RLE would write past its buffer.
An RLE must declare the image's own size and its counts must add up to exactly its pixels.
"""

from __future__ import annotations

import numpy as np

from segdash.data.formats.shapes import PointBudget, checked_points
from segdash.errors import SegdashError


def segmentation_mask(segmentation: object, height: int, width: int, where: str,
                      budget: PointBudget | None = None) -> np.ndarray:
    """HxW bool mask of one COCO ``segmentation`` (a list of polygons, or an RLE object)."""
    if isinstance(segmentation, list):
        return _polygons_mask(segmentation, height, width, where, budget)
    if isinstance(segmentation, dict):
        return rle_mask(segmentation, height, width, where)
    raise SegdashError(f"{where}: the segmentation is neither a list of polygons nor an RLE object")


def _polygons_mask(polygons: list, height: int, width: int, where: str, budget: PointBudget | None) -> np.ndarray:
    from pycocotools import mask as mask_utils

    checked = []
    for polygon in polygons:
        points = checked_points(polygon, where, height, width, flat=True)
        if budget is not None:
            budget.spend(len(points))
        if len(points) >= 3:  # fewer points enclose no area (and pycocotools would read 4 numbers as a box)
            checked.append(points.ravel().tolist())
    if not checked:
        return np.zeros((height, width), dtype=bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(checked, height, width))
    return mask_utils.decode(rle).astype(bool)


def rle_mask(rle: dict, height: int, width: int, where: str) -> np.ndarray:
    """HxW bool mask of a COCO RLE ``{"size": [h, w], "counts": [...] or "compressed"}`` (column-major runs,
    starting with a run of 0s)."""
    size = rle.get("size")
    if (not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in size)):
        raise SegdashError(f"{where}: the RLE has no [height, width] size")
    if size != [height, width]:
        raise SegdashError(f"{where}: the RLE is {size[1]}x{size[0]} but its image is {width}x{height}")
    counts = rle.get("counts")
    if isinstance(counts, list):
        runs = _uncompressed_counts(counts, height * width, where)
    elif isinstance(counts, str):
        runs = _compressed_counts(counts, height * width, where)
    else:
        raise SegdashError(f"{where}: the RLE counts are neither a list nor a string")
    if int(runs.sum()) != height * width:
        raise SegdashError(
            f"{where}: the RLE covers {int(runs.sum()):,} pixels, but its {width}x{height} image has {height * width:,}"
        )
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(width, height).T.copy()


def _uncompressed_counts(counts: list, pixels: int, where: str) -> np.ndarray:
    if len(counts) > pixels + 1:
        raise SegdashError(f"{where}: the RLE has more runs than its image has pixels")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        raise SegdashError(f"{where}: the RLE counts are not whole numbers")
    runs = np.asarray(counts, dtype=object)
    if len(runs) and (min(counts) < 0 or max(counts) > pixels):
        raise SegdashError(f"{where}: an RLE run is negative or longer than the image")
    return runs.astype(np.int64) if len(runs) else np.zeros(0, np.int64)


def _compressed_counts(text: str, pixels: int, where: str) -> np.ndarray:
    """The runs of COCO's compressed RLE string: each count in 5-bit groups (ASCII 48 + value, bit 5 says
    "more follows", bit 4 of the last group is the sign), counts after the second stored as differences
    from the count two before."""
    if len(text) > 7 * (pixels + 1):  # a run takes at most 7 characters
        raise SegdashError(f"{where}: the RLE string is longer than any RLE of its image")
    runs: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text) or shift > 30:
                raise SegdashError(f"{where}: the RLE string is cut off or malformed")
            code = ord(text[position]) - 48
            if not 0 <= code < 64:
                raise SegdashError(f"{where}: the RLE string holds a character outside COCO's alphabet")
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if not 0 <= value <= pixels:
            raise SegdashError(f"{where}: an RLE run is negative or longer than the image")
        runs.append(value)
        if len(runs) > pixels + 1:
            raise SegdashError(f"{where}: the RLE has more runs than its image has pixels")
    return np.asarray(runs, dtype=np.int64)
