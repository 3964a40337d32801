"""KITTI semantic segmentation (data_semantics.zip) as it unpacks::

    root/
      training/image_2/000000_10.png     training/semantic/000000_10.png  (Cityscapes label ids 0..33)
      testing/image_2/000000_10.png      (no masks: a predict-only split)

Two label maps (``-o label_map=...``), applied with one lookup table:

- ``grouped-12`` (default): void, road, sidewalk, construction, pole, traffic
  sign, vegetation, sky, human, vehicle, train, cycle (the course notes'
  grouping, with their off-by-one comments corrected); unlisted ids are void.
- ``cityscapes-19``: the standard 19 Cityscapes train ids, everything else 255 (ignored).

Splits: ``train`` and ``val`` (seeded, ``-o val_fraction=0.2``) from
``training``; ``test`` = ``testing`` (no masks, ``has_masks("test")`` is False).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.cityscapes_labels import classes_of_label_ids, label_id_lookup, label_map_classes
from segdash.data.formats.scan import pair_by_stem, readable_by_stem
from segdash.data.formats.split_lists import indexed_split_dict, seeded_index
from segdash.data.imageio import read_label_image
from segdash.data.options import as_choice, as_fraction, as_seed
from segdash.data.registry import register_format
from segdash.errors import SegdashError

LAYOUT = "training/image_2/*.png, training/semantic/*.png and (optionally) testing/image_2/*.png"

GROUPED_12_CLASSES = (
    "void",
    "road",
    "sidewalk",
    "construction",
    "pole",
    "traffic sign",
    "vegetation",
    "sky",
    "human",
    "vehicle",
    "train",
    "cycle",
)
GROUPED_12_COLORS = (
    (0, 0, 0),
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (153, 153, 153),
    (220, 220, 0),
    (107, 142, 35),
    (70, 130, 180),
    (220, 20, 60),
    (0, 0, 142),
    (0, 80, 100),
    (119, 11, 32),
)
#: group index -> the Cityscapes label ids it collects (all others are void = 0)
GROUPED_12_IDS = {
    1: (7,),
    2: (8, 9),
    3: (11, 12, 13, 14, 15, 16),
    4: (17, 18),
    5: (19, 20),
    6: (21, 22),
    7: (23,),
    8: (24, 25),
    9: (26, 27, 28, 29, 30),
    10: (31,),
    11: (32, 33),
}

LABEL_MAPS = ("grouped-12", "cityscapes-19")


def label_lookup_table(label_map: str, ignore_index: int = 255) -> np.ndarray:
    """(256,) int64 table: Cityscapes label id -> class index of ``label_map``."""
    if label_map == "grouped-12":
        table = np.zeros(256, dtype=np.int64)  # every unlisted id is void
        for group, ids in GROUPED_12_IDS.items():
            table[list(ids)] = group
        return table
    return label_id_lookup("trainids", ignore_index)


@register_format("kitti", "KITTI semantics: training/{image_2,semantic} + testing/image_2 (predict-only)")
class Kitti(FormatDataset):
    in_channels = 3
    ignore_index = 255
    source = "KITTI semantic segmentation benchmark (Geiger et al.), read from a folder on disk"

    layout = LAYOUT
    options_help = {
        "label_map": "grouped-12 (default) or cityscapes-19",
        "val_fraction": "share of training/ held out as val (default 0.2)",
        "seed": "seed of the random split (default 0)",
    }

    def __init__(
        self,
        root: str | Path,
        label_map: str = "grouped-12",
        val_fraction: float = 0.2,
        seed: int = 0,
        **unknown,
    ):
        self.open_root(root, unknown)
        self.label_map = as_choice("label_map", label_map, LABEL_MAPS)
        if self.label_map == "grouped-12":
            self.classes, self.colors = GROUPED_12_CLASSES, GROUPED_12_COLORS
        else:
            self.classes, self.colors = label_map_classes("trainids")
        self._lut = label_lookup_table(self.label_map, self.ignore_index)
        self.description = f"Cityscapes label ids mapped to {self.label_map}; testing/ has no masks (predict only)."
        super().__init__(self._build_index(as_fraction("val_fraction", val_fraction), as_seed(seed)))

    def _build_index(self, val_fraction: float, seed: int) -> dict[str, list[Entry]]:
        train_images, train_masks = self.root / "training" / "image_2", self.root / "training" / "semantic"
        if not train_images.is_dir() or not train_masks.is_dir():
            raise self.layout_error()
        paired = pair_by_stem(readable_by_stem(train_images), readable_by_stem(train_masks, "mask"),
                              "training image(s) without a semantic mask skipped")  # fmt: skip
        index = seeded_index(paired, (1 - val_fraction, val_fraction), ("train", "val"), seed)
        test_images = self.root / "testing" / "image_2"
        if test_images.is_dir():
            index["test"] = [Entry(stem, path) for stem, path in readable_by_stem(test_images).items()]
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no image in {train_images} has a mask in {train_masks}")
        return index

    def read_mask(self, path: Path) -> np.ndarray:
        hint = "training/semantic/ holds those ids (training/semantic_rgb/ holds colours, not ids)"
        return classes_of_label_ids(read_label_image(path), self._lut, str(path), hint)
