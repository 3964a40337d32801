"""ADE20K scene parsing (MIT SceneParsing, ADEChallengeData2016.zip) as it unpacks::

    root/  (ADEChallengeData2016/, or a folder holding it)
      images/training/ADE_train_00000001.jpg      annotations/training/ADE_train_00000001.png
      images/validation/ADE_val_00000001.jpg      annotations/validation/ADE_val_00000001.png
      objectInfo150.txt (or the devkit's objectInfo150.csv): Idx, Ratio, Train, Val, Name

Annotations hold 0..150: 0 is "other objects" (unlabelled clutter), ignored; 1..150 are the 150 classes,
read as 0..149. Class names come from objectInfo150 (its Name column lists synonyms, "building, edifice"
in the .txt, "building;edifice" in the .csv): the first is shown, all are kept to match names in
``-o class_map``. Without the file, the names are SceneParsing's first synonyms. Colours are the
benchmark's palette. ``training`` is ``train``, ``validation`` is ``val``.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.option_files import resolve_option_file
from segdash.data.formats.scan import pair_by_stem
from segdash.data.formats.skipping import DatasetWarning
from segdash.data.formats.split_lists import MAX_LIST_FILE_BYTES, indexed_split_dict
from segdash.data.imageio import read_label_image
from segdash.data.registry import register_format
from segdash.errors import SegdashError

#: SceneParsing's 150 classes by their first synonym, in index order (1..150).
ADE_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
#: The benchmark's colours for the 150 classes, in index order.
ADE_COLORS = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245),
    (0, 61, 255), (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82),
    (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0),
    (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0),
    (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0),
    (25, 194, 194), (102, 255, 0), (92, 0, 255),
)
SPLIT_FOLDERS = {"train": "training", "val": "validation"}
INFO_FILES = ("objectInfo150.txt", "objectInfo150.csv")


def find_ade_root(root: Path) -> Path:
    """The folder holding images/ and annotations/: root itself or root/ADEChallengeData2016."""
    for candidate in (root, root / "ADEChallengeData2016"):
        if (candidate / "images").is_dir() and (candidate / "annotations").is_dir():
            return candidate
    return root


def read_object_info(path: Path) -> list[tuple[str, ...]]:
    """The synonyms of each class (in ``Idx`` order) from objectInfo150.txt (tab-separated, synonyms split
    by commas) or .csv (comma-separated, synonyms split by semicolons)."""
    if path.stat().st_size > MAX_LIST_FILE_BYTES:
        raise SegdashError(f"class list {str(path)!r} is too large to be objectInfo150")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SegdashError(f"class list {str(path)!r} is not UTF-8 text") from None
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0]][:1] != ["idx"]:
        raise SegdashError(f"class list {str(path)!r} does not start with objectInfo150's header (Idx, ..., Name)")
    name_column = [c.strip().lower() for c in rows[0]].index("name") if "name" in [
        c.strip().lower() for c in rows[0]] else len(rows[0]) - 1
    synonyms = []
    for number, row in enumerate(rows[1:], start=1):
        if len(row) <= name_column or row[0].strip() != str(number):
            raise SegdashError(f"class list {str(path)!r} row {number + 1}: expected Idx {number} and a Name")
        parts = row[name_column].split("," if "," in row[name_column] else ";")
        synonyms.append(tuple(p.strip() for p in parts if p.strip()) or (f"class_{number}",))
    if len(synonyms) != len(ADE_CLASSES):
        raise SegdashError(f"class list {str(path)!r} lists {len(synonyms)} classes; ADE20K has {len(ADE_CLASSES)}")
    return synonyms


def shown_name(index: int, synonyms: tuple[str, ...]) -> str:
    """The first synonym; the devkit's .csv also writes spaces as semicolons ("chest;of;drawers;chest"), so
    when the synonyms begin with the words of SceneParsing's own name, that name is shown."""
    words = ADE_CLASSES[index].split()
    return ADE_CLASSES[index] if [s.lower() for s in synonyms[: len(words)]] == words else synonyms[0]


@register_format("ade20k", "ADE20K SceneParsing: images/ + annotations/{training,validation}; 150 classes, 0 ignored")
class Ade20k(FormatDataset):
    colors = ADE_COLORS
    ignore_index = 255
    in_channels = 3
    source = "ADE20K SceneParsing benchmark (Zhou et al., 2017), read from a folder on disk"

    layout = "images/{training,validation}/*.jpg and annotations/{training,validation}/*.png (ADEChallengeData2016)"
    options_help = {"classes": "objectInfo150.txt/.csv to name the classes (default: the one in the folder)"}

    def __init__(self, root: str | Path, classes: str | Path | None = None, **unknown):
        self.open_root(root, unknown)
        self.root = find_ade_root(self.root)
        index = {split: self._entries(folder) for split, folder in SPLIT_FOLDERS.items()
                 if (self.root / "images" / folder).is_dir()}
        index = indexed_split_dict(index)
        if not index:
            raise self.layout_error()
        super().__init__(index)
        self.classes_file = self._info_file(classes)
        synonyms = [(name,) for name in ADE_CLASSES]
        if self.classes_file is not None:
            try:
                synonyms = read_object_info(self.classes_file)
            except SegdashError as exc:
                if classes:  # the file asked for must be read
                    raise
                warnings.warn(f"{exc}; SceneParsing's class names used instead", DatasetWarning, stacklevel=2)
                self.classes_file = None
        self.classes = tuple(shown_name(i, s) for i, s in enumerate(synonyms))
        self.class_aliases = tuple(tuple(dict.fromkeys((*s, ADE_CLASSES[i]))) for i, s in enumerate(synonyms))
        # annotation value -> class: 0 ("other objects") is ignored, 1..150 are 0..149
        self._lut = np.concatenate([[self.ignore_index], np.arange(len(ADE_CLASSES))]).astype(np.int64)
        self.description = (
            f"150 classes named from {self.classes_file.name if self.classes_file else 'SceneParsing'}; "
            "annotation 0 (other objects) is ignored."
        )

    def _info_file(self, given: str | Path | None) -> Path | None:
        if given:
            return resolve_option_file(given, self.root, "classes")
        for folder in (self.root, self.root.parent):
            for name in INFO_FILES:
                if (folder / name).is_file():
                    return folder / name
        return None

    def _entries(self, folder: str) -> list[Entry]:
        images = cached_readable_by_stem(self.root / "images" / folder)
        masks_dir = self.root / "annotations" / folder
        if not masks_dir.is_dir():  # a test release: images only
            return [Entry(stem, images[stem]) for stem in sorted(images)]
        masks = cached_readable_by_stem(masks_dir, "mask")
        return list(pair_by_stem(images, masks, f"image(s) in images/{folder}/ without an annotation skipped").values())

    def read_mask(self, path: Path) -> np.ndarray:
        values = read_label_image(path)
        if values.min(initial=0) < 0 or values.max(initial=0) > len(ADE_CLASSES):
            raise SegdashError(f"{path.name}: holds values above {len(ADE_CLASSES)}; ADE20K annotations hold 0..150")
        return self._lut[values]
