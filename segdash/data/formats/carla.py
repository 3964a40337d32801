"""CARLA semantic segmentation captures (the Lyft/Udacity challenge layout)::

    root/
      CameraRGB/{train,val,test}/*.png
      CameraSeg/{train,val,test}/*.png   (matched by stem; the class id sits in the red channel)

The label is the maximum over the mask's channels, so masks saved as RGB
(id, 0, 0) and as single-channel ids both work. Without split folders
(``CameraRGB/*.png``) a seeded 80/10/10 split is made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.scan import pair_by_stem, readable_by_stem
from segdash.data.formats.split_lists import indexed_split_dict, seeded_index
from segdash.data.imageio import list_images, read_raw_pixels
from segdash.data.options import as_seed
from segdash.data.registry import register_format
from segdash.errors import SegdashError

CARLA_CLASSES = (
    "unlabeled",
    "building",
    "fence",
    "other",
    "pedestrian",
    "pole",
    "road line",
    "road",
    "sidewalk",
    "vegetation",
    "vehicle",
    "wall",
    "traffic sign",
)
#: CARLA 0.8's own colours for its 13 semantic tags, in tag order (``image_converter.labels_to_cityscapes_palette``;
#: vehicles are (0, 0, 255) there, not Cityscapes' (0, 0, 142)). The street-synth built-in uses them too.
CARLA_COLORS = (
    (0, 0, 0),
    (70, 70, 70),
    (190, 153, 153),
    (72, 0, 90),
    (220, 20, 60),
    (153, 153, 153),
    (157, 234, 50),
    (128, 64, 128),
    (244, 35, 232),
    (107, 142, 35),
    (0, 0, 255),
    (102, 102, 156),
    (220, 220, 0),
)
LAYOUT = "CameraRGB/{train,val,test}/*.png and CameraSeg/{train,val,test}/*.png matched by file name"


@register_format("carla", "CARLA captures: CameraRGB/{split}/*.png + CameraSeg/{split}/*.png, 13 classes")
class Carla(FormatDataset):
    classes = CARLA_CLASSES
    colors = CARLA_COLORS
    ignore_index = 255
    in_channels = 3
    source = "CARLA simulator camera captures (RGB + semantic segmentation), read from a folder on disk"
    description = "13 CARLA 0.8 semantic tags; the tag id is stored in the red channel of CameraSeg PNGs."

    layout = LAYOUT
    options_help = {"seed": "seed of the 80/10/10 split when there are no split folders (default 0)"}

    def __init__(self, root: str | Path, seed: int = 0, **unknown):
        rgb_root, seg_root = self.open_root(root, unknown, "CameraRGB", "CameraSeg")
        split_dirs = sorted(p.name for p in rgb_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        index: dict[str, list[Entry]] = {}
        if split_dirs:
            for split in split_dirs:
                index[split] = list(self._pairs(rgb_root / split, seg_root / split).values())
        elif list_images(rgb_root):
            index = seeded_index(self._pairs(rgb_root, seg_root), seed=as_seed(seed))
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no image in {rgb_root} has a mask in {seg_root}; expected {LAYOUT}")
        super().__init__(index)

    def _pairs(self, image_dir: Path, mask_dir: Path) -> dict[str, Entry]:
        images = readable_by_stem(image_dir)
        masks = readable_by_stem(mask_dir, "mask") if mask_dir.is_dir() else {}
        return pair_by_stem(images, masks, f"image(s) in {image_dir.name}/ without a mask in {mask_dir} skipped")

    def read_mask(self, path: Path) -> np.ndarray:
        raw = read_raw_pixels(path)
        if raw.ndim == 3:  # max over colour channels (alpha, if any, is left out)
            raw = raw[:, :, : 3 if raw.shape[2] >= 3 else 1].max(axis=2)
        return raw.astype(np.int64)
