"""CVAT's "Segmentation mask 1.1" export, and other VOC-style exports whose masks are coloured by a label map::

    root/
      labelmap.txt                      # label:color_rgb:parts:actions, e.g. "car:250,50,83::"
      ImageSets/Segmentation/default.txt  (one list per subset: default.txt, or train.txt, val.txt ...)
      SegmentationClass/frame_000001.png  (colour masks: one colour per label, background 0,0,0)
      SegmentationObject/...              (instance colours: not read)
      JPEGImages/frame_000001.jpg         (exported with "Save images")

Classes are the label map's rows in order, with their colours; a mask colour the label map does not list
is an error naming the sample (the sample is skipped with a warning, ``--strict`` stops), except VOC's
border colour 224,224,192, read as ignore (``-o ignore_color=``). Any classes file segdash reads
(``class_dict.csv``, ``classes.json``, ...) can stand for ``labelmap.txt`` (``-o classes=FILE``). Each
list file is a split; CVAT's single ``default`` subset, or no lists at all, is split 80/10/10 (seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.classes import find_classes_file, read_classes_file, rgb_to_labels
from segdash.data.formats.colors import parse_color
from segdash.data.formats.option_files import resolve_option_file
from segdash.data.formats.scan import pair_by_stem
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict, read_split_list, seeded_index, val_test_fractions
from segdash.data.imageio import read_image
from segdash.data.options import as_seed
from segdash.data.registry import register_format
from segdash.errors import SegdashError

#: PASCAL VOC draws object borders in this colour (index 255).
VOC_BORDER = (224, 224, 192)
UNNAMED_SUBSETS = ("default",)


@register_format("cvat", "CVAT Segmentation mask 1.1 / VOC-style: labelmap.txt colours + SegmentationClass/ masks")
class Cvat(FormatDataset):
    ignore_index = 255
    in_channels = 3
    source = "a CVAT (or other VOC-style) segmentation export, read from a folder on disk"

    layout = "labelmap.txt, SegmentationClass/*.png colour masks, JPEGImages/ (and ImageSets/Segmentation/*.txt)"
    options_help = {
        "classes": "the label map (default: labelmap.txt, or another classes file in the folder)",
        "ignore_color": "a mask colour read as ignore (default 224,224,192, VOC's border; none for no such colour)",
        "val_fraction": "share in val when the export has one subset (default 0.1)",
        "test_fraction": "share in test when the export has one subset (default 0.1)",
        "seed": "seed of that split (default 0)",
    }

    def __init__(self, root: str | Path, classes: str | Path | None = None, ignore_color: str = "224,224,192",
                 val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0, **unknown):
        image_dir, mask_dir = self.open_root(root, unknown, "JPEGImages", "SegmentationClass")
        table_file = resolve_option_file(classes, self.root, "classes") if classes else find_classes_file(self.root)
        if table_file is None:
            raise SegdashError(
                f"{str(self.root)!r} has no labelmap.txt (or other classes file); expected {self.layout}"
            )
        table = read_classes_file(table_file, self.ignore_index)
        if table.colors is None:
            raise SegdashError(f"label map {str(table_file)!r} gives no colours; expected 'name:r,g,b::' rows")
        self.classes, self.colors, self.classes_file = table.names, table.colors, table_file
        self._lookup = table.color_lookup(self.ignore_index)
        extra = table.ignore_color or self._ignore_color(ignore_color)
        if extra is not None:
            self._lookup.setdefault((extra[0] << 16) | (extra[1] << 8) | extra[2], self.ignore_index)
        self.description = f"{len(self.classes)} labels and colours from {table_file.name}."
        fractions = val_test_fractions(val_fraction, test_fraction)
        super().__init__(self._build_index(image_dir, mask_dir, fractions, as_seed(seed)))

    @staticmethod
    def _ignore_color(text: str) -> tuple[int, int, int] | None:
        if str(text).strip().lower() in ("", "none"):
            return None
        color = parse_color(str(text))
        if color is None:
            raise SegdashError(f"option ignore_color must be a colour such as 224,224,192 or none, got {text!r}")
        return color

    def _build_index(self, image_dir: Path, mask_dir: Path, fractions: tuple[float, float], seed: int):
        images = cached_readable_by_stem(image_dir)
        masks = cached_readable_by_stem(mask_dir, "mask")
        lists = self.root / "ImageSets" / "Segmentation"
        subsets = {p.stem: read_split_list(p) for p in sorted(lists.glob("*.txt"))} if lists.is_dir() else {}
        if {"train", "val"} <= set(subsets):
            subsets.pop("trainval", None)  # VOC lists the union too
        named = {name: ids for name, ids in subsets.items() if name not in UNNAMED_SUBSETS}
        if named:
            index = {name: self._listed(name, ids, images, masks) for name, ids in named.items()}
        else:
            listed = set().union(*subsets.values()) if subsets else None
            kept = {s: p for s, p in images.items() if listed is None or s in listed}
            paired = pair_by_stem(kept, masks, "image(s) in JPEGImages/ without a mask in SegmentationClass/ skipped")
            val, test = fractions
            index = seeded_index(paired, (1 - val - test, val, test), seed=seed)
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no image in {image_dir} has a mask in {mask_dir}; expected {self.layout}")
        return index

    @staticmethod
    def _listed(name: str, ids: list[str], images: dict[str, Path], masks: dict[str, Path]) -> list[Entry]:
        no_image = [i for i in ids if i not in images]
        warn_skipped(f"id(s) in {name}.txt without an image in JPEGImages/ skipped", no_image)
        present = [i for i in dict.fromkeys(ids) if i in images]
        if not any(i in masks for i in present):  # a subset exported without masks: predict-only
            return [Entry(i, images[i]) for i in present]
        warn_skipped(f"id(s) in {name}.txt without a mask in SegmentationClass/ skipped",
                     [i for i in present if i not in masks])
        return [Entry(i, images[i], masks[i]) for i in present if i in masks]

    def read_mask(self, path: Path) -> np.ndarray:
        return rgb_to_labels(read_image(path), self._lookup, f"sample {path.stem!r} ({path.parent.name}/{path.name})")
