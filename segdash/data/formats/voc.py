"""PASCAL VOC 2012 segmentation, as VOCtrainval_11-May-2012.tar unpacks::

    root/  (VOC2012/, or a folder holding VOCdevkit/VOC2012/)
      JPEGImages/2007_000032.jpg
      SegmentationClass/2007_000032.png        palette PNG: index = class, 255 = border/ignore
      ImageSets/Segmentation/train.txt, val.txt (and test.txt in the test release)

21 classes with the VOC palette. ``-o mask_dir=SegmentationClassAug`` reads
the augmented (SBD) masks instead. A split whose masks are all absent (the
test release) is predict-only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.colors import voc_colormap
from segdash.data.formats.scan import readable_images
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict, read_split_list
from segdash.data.imageio import read_image, read_label_image
from segdash.data.registry import register_format
from segdash.errors import SegdashError

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
VOC_COLORS = voc_colormap(len(VOC_CLASSES))
LAYOUT = "JPEGImages/, SegmentationClass/ (palette PNGs) and ImageSets/Segmentation/{train,val}.txt"
SPLIT_FILES = ("train", "val", "test")


def find_voc_root(root: Path) -> Path:
    """The folder that holds JPEGImages/: root itself, root/VOC2012 or root/VOCdevkit/VOC2012."""
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            return candidate
    raise SegdashError(f"{str(root)!r} does not look like a voc dataset: expected {LAYOUT}")


@register_format("voc", "PASCAL VOC: JPEGImages/ + SegmentationClass/ palette PNGs + ImageSets/Segmentation/*.txt")
class Voc(FormatDataset):
    classes = VOC_CLASSES
    colors = VOC_COLORS
    ignore_index = 255
    in_channels = 3
    source = "PASCAL VOC 2012 segmentation (Everingham et al.), read from a folder on disk"
    description = "20 object classes + background; 255 marks object borders and is ignored."

    layout = LAYOUT
    options_help = {"mask_dir": "folder of the masks (default SegmentationClass; e.g. SegmentationClassAug)"}

    def __init__(self, root: str | Path, mask_dir: str = "SegmentationClass", **unknown):
        self.open_root(root, unknown)
        self.root = find_voc_root(self.root)
        image_dir, masks = self.root / "JPEGImages", self.root / str(mask_dir)
        lists = self.root / "ImageSets" / "Segmentation"
        if not lists.is_dir():
            raise SegdashError(f"{str(self.root)!r} has no ImageSets/Segmentation/ folder; expected {LAYOUT}")
        if not masks.is_dir():
            raise SegdashError(f"{str(self.root)!r} has no {mask_dir}/ folder of masks; expected {LAYOUT}")
        index: dict[str, list[Entry]] = {}
        for split in SPLIT_FILES:
            list_file = lists / f"{split}.txt"
            if list_file.is_file():
                index[split] = self._entries(list_file, image_dir, masks)
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no usable train.txt / val.txt / test.txt in {lists}; expected {LAYOUT}")
        super().__init__(index)

    @staticmethod
    def _entries(list_file: Path, image_dir: Path, mask_dir: Path) -> list[Entry]:
        stems = read_split_list(list_file)
        images = [image_dir / f"{s}.jpg" for s in stems]
        no_image = [p.stem for p in images if not p.is_file()]
        warn_skipped(f"id(s) in {list_file.name} without JPEGImages/<id>.jpg skipped", no_image)
        with_image = [p.stem for p in readable_images(p for p in images if p.is_file())]
        mask_files = [mask_dir / f"{s}.png" for s in with_image if (mask_dir / f"{s}.png").is_file()]
        with_mask = [p.stem for p in readable_images(mask_files, "mask")]
        if not mask_files:  # a predict-only split (VOC's test release)
            return [Entry(s, image_dir / f"{s}.jpg") for s in with_image]
        no_mask = [s for s in with_image if s not in with_mask]
        warn_skipped(f"id(s) in {list_file.name} without a {mask_dir.name}/<id>.png mask skipped", no_mask)
        return [Entry(s, image_dir / f"{s}.jpg", mask_dir / f"{s}.png") for s in with_mask]

    def read_image(self, path: Path) -> np.ndarray:
        return read_image(path)

    def read_mask(self, path: Path) -> np.ndarray:
        return read_label_image(path)
