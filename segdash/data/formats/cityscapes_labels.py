"""Cityscapes' label table (``cityscapesscripts/helpers/labels.py``): the 34 label ids its ``*_labelIds.png``
files hold, with their train ids, categories and colours. The ``cityscapes`` and ``kitti`` formats read it.

Train id 255 and ``ignore_in_eval`` mark the labels the benchmark does not score (void, and rare or
ambiguous ones such as parking, guard rail, caravan); license plate (id -1) never appears in a label image.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from segdash.errors import SegdashError


class CityscapesLabel(NamedTuple):
    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    ignore_in_eval: bool
    color: tuple[int, int, int]


LABELS = (
    CityscapesLabel("unlabeled", 0, 255, "void", 0, True, (0, 0, 0)),
    CityscapesLabel("ego vehicle", 1, 255, "void", 0, True, (0, 0, 0)),
    CityscapesLabel("rectification border", 2, 255, "void", 0, True, (0, 0, 0)),
    CityscapesLabel("out of roi", 3, 255, "void", 0, True, (0, 0, 0)),
    CityscapesLabel("static", 4, 255, "void", 0, True, (0, 0, 0)),
    CityscapesLabel("dynamic", 5, 255, "void", 0, True, (111, 74, 0)),
    CityscapesLabel("ground", 6, 255, "void", 0, True, (81, 0, 81)),
    CityscapesLabel("road", 7, 0, "flat", 1, False, (128, 64, 128)),
    CityscapesLabel("sidewalk", 8, 1, "flat", 1, False, (244, 35, 232)),
    CityscapesLabel("parking", 9, 255, "flat", 1, True, (250, 170, 160)),
    CityscapesLabel("rail track", 10, 255, "flat", 1, True, (230, 150, 140)),
    CityscapesLabel("building", 11, 2, "construction", 2, False, (70, 70, 70)),
    CityscapesLabel("wall", 12, 3, "construction", 2, False, (102, 102, 156)),
    CityscapesLabel("fence", 13, 4, "construction", 2, False, (190, 153, 153)),
    CityscapesLabel("guard rail", 14, 255, "construction", 2, True, (180, 165, 180)),
    CityscapesLabel("bridge", 15, 255, "construction", 2, True, (150, 100, 100)),
    CityscapesLabel("tunnel", 16, 255, "construction", 2, True, (150, 120, 90)),
    CityscapesLabel("pole", 17, 5, "object", 3, False, (153, 153, 153)),
    CityscapesLabel("polegroup", 18, 255, "object", 3, True, (153, 153, 153)),
    CityscapesLabel("traffic light", 19, 6, "object", 3, False, (250, 170, 30)),
    CityscapesLabel("traffic sign", 20, 7, "object", 3, False, (220, 220, 0)),
    CityscapesLabel("vegetation", 21, 8, "nature", 4, False, (107, 142, 35)),
    CityscapesLabel("terrain", 22, 9, "nature", 4, False, (152, 251, 152)),
    CityscapesLabel("sky", 23, 10, "sky", 5, False, (70, 130, 180)),
    CityscapesLabel("person", 24, 11, "human", 6, False, (220, 20, 60)),
    CityscapesLabel("rider", 25, 12, "human", 6, False, (255, 0, 0)),
    CityscapesLabel("car", 26, 13, "vehicle", 7, False, (0, 0, 142)),
    CityscapesLabel("truck", 27, 14, "vehicle", 7, False, (0, 0, 70)),
    CityscapesLabel("bus", 28, 15, "vehicle", 7, False, (0, 60, 100)),
    CityscapesLabel("caravan", 29, 255, "vehicle", 7, True, (0, 0, 90)),
    CityscapesLabel("trailer", 30, 255, "vehicle", 7, True, (0, 0, 110)),
    CityscapesLabel("train", 31, 16, "vehicle", 7, False, (0, 80, 100)),
    CityscapesLabel("motorcycle", 32, 17, "vehicle", 7, False, (0, 0, 230)),
    CityscapesLabel("bicycle", 33, 18, "vehicle", 7, False, (119, 11, 32)),
)
#: The largest label id a ``*_labelIds.png`` holds.
MAX_LABEL_ID = 33
#: The 19 train classes in train-id order.
TRAIN_LABELS = tuple(sorted((lab for lab in LABELS if lab.train_id != 255), key=lambda lab: lab.train_id))
#: The 7 categories of the scored labels, in category-id order (void is ignored).
CATEGORIES = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
#: A category's colour: its first train class's (flat = road's purple, vehicle = car's blue).
CATEGORY_COLORS = tuple(next(lab.color for lab in TRAIN_LABELS if lab.category == c) for c in CATEGORIES)

LABEL_MAPS = ("trainids", "categories-7", "full-34")


def label_map_classes(label_map: str) -> tuple[tuple[str, ...], tuple[tuple[int, int, int], ...]]:
    """Class names and colours of ``label_map`` (one of ``LABEL_MAPS``)."""
    if label_map == "trainids":
        return tuple(lab.name for lab in TRAIN_LABELS), tuple(lab.color for lab in TRAIN_LABELS)
    if label_map == "categories-7":
        return CATEGORIES, CATEGORY_COLORS
    return tuple(lab.name for lab in LABELS), tuple(lab.color for lab in LABELS)


def label_id_lookup(label_map: str, ignore_index: int = 255) -> np.ndarray:
    """(256,) int64 table: label id -> class of ``label_map``; ids a map does not score -> ``ignore_index``.

    ``trainids``: the 19 train ids. ``categories-7``: the category of each scored label (labels the
    benchmark ignores stay ignored, as in its category-level evaluation). ``full-34``: every id its own class.
    """
    table = np.full(256, ignore_index, dtype=np.int64)
    for lab in LABELS:
        if label_map == "full-34":
            table[lab.id] = lab.id
        elif label_map == "trainids" and lab.train_id != 255:
            table[lab.id] = lab.train_id
        elif label_map == "categories-7" and not lab.ignore_in_eval:
            table[lab.id] = lab.category_id - 1
    return table


def classes_of_label_ids(label_ids: np.ndarray, lut: np.ndarray, name: str, hint: str) -> np.ndarray:
    """HxW label ids -> HxW classes through ``lut`` (``label_id_lookup``); an id outside 0..33 is an error
    naming the file ``name``, with ``hint`` saying which files hold ids."""
    outside = (label_ids < 0) | (label_ids > MAX_LABEL_ID)
    if outside.any():
        shown = [int(v) for v in np.unique(label_ids[outside])[:5]]
        raise SegdashError(f"{name}: label id(s) {shown} are not Cityscapes label ids 0..{MAX_LABEL_ID}; {hint}")
    return np.take(lut, label_ids)
