"""Cityscapes, as leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip unpack::

    root/
      leftImg8bit/{train,val,test}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
      gtFine/{train,val,test}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png
                                     ... _gtFine_color.png, _instanceIds.png, _polygons.json (and the
                                     _labelTrainIds.png of createTrainIdLabelImgs): beside them, not read

The ``*_labelIds.png`` files hold the 34 label ids; ``-o label_map=`` says what they become:
``trainids`` (default: the benchmark's 19 classes, every other id ignored as 255), ``categories-7``
(flat, construction, object, nature, sky, human, vehicle; void and the ids the benchmark ignores stay
ignored) or ``full-34`` (every id its own class). The test split's public annotations are placeholders,
so ``test`` is predict-only. ``-o annotations=gtCoarse`` reads the coarse annotations instead
(``gtCoarse/{train,train_extra,val}``, images of train_extra in ``leftImg8bit/train_extra``).
Sample ids are the files' common prefix, ``{city}_{seq}_{frame}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.cityscapes_labels import LABEL_MAPS, classes_of_label_ids, label_id_lookup, label_map_classes
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict
from segdash.data.imageio import read_label_image
from segdash.data.options import as_choice
from segdash.data.registry import register_format
from segdash.errors import SegdashError

IMAGE_SUFFIX = "_leftImg8bit"
#: The split folders each annotation set has; a test split is never scored.
SPLITS = {"gtFine": ("train", "val", "test"), "gtCoarse": ("train", "train_extra", "val")}
PREDICT_ONLY = ("test",)


@register_format("cityscapes", "Cityscapes: leftImg8bit/{split}/{city}/ + gtFine/ *_labelIds.png; 19 train ids")
class Cityscapes(FormatDataset):
    ignore_index = 255
    in_channels = 3
    source = "Cityscapes (Cordts et al., 2016), read from a folder on disk"

    layout = "leftImg8bit/{train,val,test}/{city}/*_leftImg8bit.png and gtFine/{split}/{city}/*_gtFine_labelIds.png"
    options_help = {
        "label_map": "trainids (default: 19 classes, other ids ignored), categories-7 or full-34",
        "annotations": "gtFine (default) or gtCoarse",
    }

    def __init__(self, root: str | Path, label_map: str = "trainids", annotations: str = "gtFine", **unknown):
        images, = self.open_root(root, unknown, "leftImg8bit")
        self.label_map = as_choice("label_map", label_map, LABEL_MAPS)
        self.annotations = as_choice("annotations", annotations, tuple(SPLITS))
        labels = self.root / self.annotations
        if not labels.is_dir():
            raise SegdashError(f"{str(self.root)!r} has no {self.annotations}/ folder; expected {self.layout}")
        self.classes, self.colors = label_map_classes(self.label_map)
        self._lut = label_id_lookup(self.label_map, self.ignore_index)
        self.description = (
            f"{self.annotations} label ids mapped to {self.label_map} ({len(self.classes)} classes); "
            "the test split has no public annotations (predict only)."
        )
        index = {split: self._entries(images / split, labels / split, split in PREDICT_ONLY)
                 for split in SPLITS[self.annotations] if (images / split).is_dir()}
        index = indexed_split_dict(index)
        if not index:
            raise self.layout_error()
        super().__init__(index)

    def _entries(self, image_split: Path, label_split: Path, predict_only: bool) -> list[Entry]:
        entries, unmatched = [], []
        suffix = f"_{self.annotations}_labelIds"
        for city in sorted(p for p in image_split.iterdir() if p.is_dir() and not p.name.startswith(".")):
            images = {stem[: -len(IMAGE_SUFFIX)]: path for stem, path in cached_readable_by_stem(city).items()
                      if stem.endswith(IMAGE_SUFFIX)}
            label_city = label_split / city.name
            labels = {} if predict_only or not label_city.is_dir() else {
                stem[: -len(suffix)]: path for stem, path in cached_readable_by_stem(label_city, "mask").items()
                if stem.endswith(suffix)
            }
            for sample_id in sorted(images):
                if predict_only:
                    entries.append(Entry(sample_id, images[sample_id]))
                elif sample_id in labels:
                    entries.append(Entry(sample_id, images[sample_id], labels[sample_id]))
                else:
                    unmatched.append(sample_id)
        warn_skipped(f"image(s) in leftImg8bit/{image_split.name}/ without a {suffix[1:]}.png skipped", unmatched)
        return entries

    def read_mask(self, path: Path) -> np.ndarray:
        hint = "a *_labelIds.png holds ids (*_color.png colours and *_instanceIds.png instance ids are not read)"
        return classes_of_label_ids(read_label_image(path), self._lut, path.name, hint)
