"""Oxford-IIIT Pet, as the official tarballs unpack::

    root/
      images/Abyssinian_1.jpg ...          (also .mat files, and a few gray / CMYK / RGBA JPEGs)
      annotations/trimaps/Abyssinian_1.png (1 pet, 2 background, 3 border; also ._* resource forks)
      annotations/trainval.txt, test.txt   ("Abyssinian_100 1 1 1": the first token is the stem)

Classes are trimap value - 1: pet, background, border (``-o border=ignore``
turns the border into the ignore index instead). Splits come from
trainval.txt / test.txt, with a seeded ``val`` carved out of trainval; without
the lists, a seeded 80/10/10 split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.scan import pair_by_stem, readable_by_stem
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict, read_split_list
from segdash.data.imageio import read_label_image
from segdash.data.options import as_choice, as_fraction, as_seed
from segdash.data.registry import register_format
from segdash.data.splits import seeded_split
from segdash.errors import SegdashError

LAYOUT = "images/*.jpg and annotations/trimaps/*.png (the Oxford-IIIT Pet tarballs unpacked into one folder)"
PET_IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png"}  # the .mat files beside them are not images


@register_format("oxford-pets", "Oxford-IIIT Pet: images/*.jpg + annotations/trimaps/*.png (pet, background, border)")
class OxfordPets(FormatDataset):
    source = "Oxford-IIIT Pet Dataset (Parkhi et al., 2012), read from a folder on disk"

    layout = LAYOUT
    options_help = {
        "border": "class (default: the trimap border is a third class) or ignore",
        "val_fraction": "share of trainval.txt held out as val (default 0.1)",
        "seed": "seed of the random split (default 0)",
    }

    def __init__(self, root: str | Path, border: str = "class", val_fraction: float = 0.1, seed: int = 0, **unknown):
        self.open_root(root, unknown)
        nested = self.root / "oxford-iiit-pet"  # the tarballs unpacked one level up
        if not (self.root / "images").is_dir() and (nested / "images").is_dir():
            self.root, self.name = nested, nested.name
        self.border = as_choice("border", border, ("class", "ignore"))
        self.ignore_index = 255
        if self.border == "class":
            self.classes = ("pet", "background", "border")
            self.colors = ((255, 140, 0), (0, 0, 0), (255, 255, 255))
        else:
            self.classes = ("pet", "background")
            self.colors = ((255, 140, 0), (0, 0, 0))
        # trimap value -> class index; -1 marks invalid values (0, or above 3), rejected in read_mask
        self._lut = np.full(256, -1, dtype=np.int64)
        self._lut[1:4] = (0, 1, 2) if self.border == "class" else (0, 1, self.ignore_index)
        self.description = (
            "37 cat and dog breeds with pixel trimaps. Trimap 1/2/3 = pet/background/border; "
            f"border {'is its own class' if self.border == 'class' else 'is ignored'}."
        )
        super().__init__(self._build_index(as_fraction("val_fraction", val_fraction), as_seed(seed)))

    def _build_index(self, val_fraction: float, seed: int) -> dict[str, list[Entry]]:
        root = self.root
        if not (root / "images").is_dir() or not (root / "annotations" / "trimaps").is_dir():
            raise self.layout_error()
        images = readable_by_stem(root / "images", "image", PET_IMAGE_EXTENSIONS)
        trimaps = readable_by_stem(root / "annotations" / "trimaps", "trimap", {".png"})
        paired = pair_by_stem(images, trimaps, "image(s) without a trimap skipped")
        if not paired:
            raise SegdashError(f"no image in {root / 'images'} has a trimap in {root / 'annotations' / 'trimaps'}")

        trainval_file, test_file = root / "annotations" / "trainval.txt", root / "annotations" / "test.txt"
        if trainval_file.is_file() or test_file.is_file():
            trainval = read_split_list(trainval_file) if trainval_file.is_file() else []
            test = read_split_list(test_file) if test_file.is_file() else []
            listed = set(trainval) | set(test)
            warn_skipped(
                "stem(s) in trainval.txt/test.txt without an image and trimap skipped",
                sorted(s for s in listed if s not in paired),
            )
            warn_skipped("image(s) in neither trainval.txt nor test.txt left out", sorted(set(paired) - listed))
            carved = seeded_split(
                [s for s in trainval if s in paired], (1 - val_fraction, val_fraction), ("train", "val"), seed
            )
            split_ids = {**carved, "test": sorted(s for s in set(test) if s in paired)}
        else:
            split_ids = seeded_split(paired, (0.8, 0.1, 0.1), ("train", "val", "test"), seed)
        return indexed_split_dict({split: [paired[s] for s in ids] for split, ids in split_ids.items()})

    def read_mask(self, path: Path) -> np.ndarray:
        trimap = read_label_image(path)
        if trimap.min() < 0 or trimap.max() > 255:
            raise SegdashError(f"{path}: trimap values must be 1 (pet), 2 (background) or 3 (border)")
        mask = self._lut[trimap]
        if (mask < 0).any():
            bad = sorted(int(v) for v in np.unique(trimap[mask < 0]))
            raise SegdashError(f"{path}: trimap holds value(s) {bad}; Oxford-IIIT Pet trimaps hold only 1, 2 and 3")
        return mask
