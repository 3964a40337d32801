"""The generic layout users have: images and masks in two folders, matched by file stem::

    root/                               or   root/
      images/a.jpg   masks/a.png               train/images/  train/masks/
      classes.csv  (optional)                  val/images/    val/masks/
                                               test/images/   (no masks/: predict-only)
                                               classes.csv

Masks are single-channel index PNGs, palette PNGs (indices are read, not
colours), or RGB colour-coded masks mapped through a classes file beside them
(``classes.csv`` / ``classes.txt`` / ``classes.json`` / CamVid's
``class_dict.csv`` / CVAT's ``labelmap.txt``, or ``-o classes=PATH``). A mask
may also be named ``<stem>_mask.png`` (or ``_label``, ``_seg``, ``_gt``,
``_segmentation``). 255 is ignored by default (``-o ignore_index=none`` to
turn that off).

Without a classes file, class names are ``class_0`` .. up to the largest label
found in the masks (read once, cached), colours come from the masks' palette
or the VOC colour map; masks holding only 0 and 255 are read as binary
background/foreground. Without split folders, a seeded 80/10/10 split is made.

A folder with images and no masks at all is refused with a message (it would otherwise open as
a one-class dataset whose scores mean nothing); with a classes file or ``-o num_classes=N`` it
opens as a predict-only dataset.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from segdash.data.base import Entry, IndexedDataset
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.classes import (
    ClassTable,
    find_classes_file,
    read_classes_file,
    rgb_to_labels,
)
from segdash.data.formats.colors import default_colors
from segdash.data.formats.label_values import scan_label_values
from segdash.data.formats.option_files import resolve_option_file
from segdash.data.formats.skipping import DatasetWarning, warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict
from segdash.data.imageio import as_label_map, read_image, read_raw_pixels
from segdash.data.options import (
    MAX_CHANNELS,
    MAX_CLASSES,
    as_fraction,
    as_optional_int,
    as_seed,
    reject_unknown_options,
)
from segdash.data.registry import register_format
from segdash.data.splits import seeded_split
from segdash.errors import SegdashError

LAYOUT = "images/ and masks/ (matched by file stem), optionally inside train/, val/, test/"
MASK_DIR_NAMES = ("masks", "labels", "annotations")
#: Mask files in these formats have lost their exact label values to compression.
LOSSY_EXTENSIONS = {".jpg", ".jpeg"}
MASK_SUFFIXES = ("", "_mask", "_masks", "-mask", "_label", "_labels", "_seg", "_gt", "_segmentation")


def find_mask_dir(split_dir: Path, name: str | None) -> Path | None:
    names = (name,) if name else MASK_DIR_NAMES
    for candidate in names:
        if (split_dir / candidate).is_dir():
            return split_dir / candidate
    return None


def match_masks(images: dict[str, Path], masks: dict[str, Path]) -> tuple[dict[str, Path], list[str]]:
    """``{image stem: mask path}`` trying ``stem``, ``stem_mask`` ...; and the stems left without one."""
    matched, unmatched = {}, []
    for stem in images:
        for suffix in MASK_SUFFIXES:
            if stem + suffix in masks:
                matched[stem] = masks[stem + suffix]
                break
        else:
            unmatched.append(stem)
    return matched, unmatched


@register_format("folder", "Generic: images/ + masks/ by stem (optionally in train/ val/ test/), classes file optional")
class FolderDataset(IndexedDataset):
    in_channels = 3
    #: -o KEY=VALUE options, shown by ``segdash datasets``; their keys are the valid options.
    options_help = {
        "classes": "classes file (names, and colours for RGB masks); default: one found beside the data",
        "ignore_index": "mask value to ignore (default 255; none to count every value)",
        "num_classes": "number of classes when there is no classes file (default: from the masks)",
        "masks": "name of the masks folder (default: masks, labels or annotations)",
        "val_fraction": "share in val without split folders (default 0.1)",
        "test_fraction": "share in test without split folders (default 0.1)",
        "seed": "seed of the random split (default 0)",
        "channels": "input channels, 1 or 3 (default: 1 when the first image is single-channel or a 1-channel .npy)",
    }

    def __init__(
        self,
        root: str | Path,
        classes: str | Path | None = None,
        ignore_index: int | str | None = 255,
        num_classes: int | str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        masks: str | None = None,
        channels: int | str | None = None,
        **unknown,
    ):
        reject_unknown_options("format 'folder'", unknown, self.options_help)
        self.root = Path(root).expanduser().resolve()
        self.name = self.root.name
        self.ignore_index = as_optional_int("ignore_index", ignore_index, minimum=0, maximum=65535)
        self._binary_255 = False
        self._color_lookup: dict[int, int] = {}
        val, test = as_fraction("val_fraction", val_fraction), as_fraction("test_fraction", test_fraction)
        index = self._build_index(masks, val, test, as_seed(seed))
        super().__init__(index)
        self.in_channels = self._channels(as_optional_int("channels", channels, minimum=1, maximum=MAX_CHANNELS))
        self._set_classes(classes, as_optional_int("num_classes", num_classes, minimum=1, maximum=MAX_CLASSES))
        self.source = f"images and masks from the folder {self.root}"

    # --- layout ------------------------------------------------------------------------------
    def _build_index(self, mask_dir_name: str | None, val: float, test: float, seed: int) -> dict[str, list[Entry]]:
        if (self.root / "images").is_dir():
            split_dirs = {"": self.root}
        else:
            split_dirs = {
                p.name: p for p in sorted(self.root.iterdir()) if p.is_dir() and (p / "images").is_dir()
            } if self.root.is_dir() else {}
        if not split_dirs:
            raise SegdashError(f"{str(self.root)!r} does not look like a folder dataset: expected {LAYOUT}")
        index = {split: self._entries(folder, mask_dir_name) for split, folder in split_dirs.items()}
        if "" in index:  # no split folders: a seeded split
            if val + test >= 1:
                raise SegdashError("val_fraction + test_fraction must be below 1")
            entries = {e.sample_id: e for e in index.pop("")}
            parts = seeded_split(entries, (1 - val - test, val, test), seed=seed)
            index = {split: [entries[s] for s in ids] for split, ids in parts.items()}
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no image in {self.root} has a mask; expected {LAYOUT}")
        return index

    def _entries(self, split_dir: Path, mask_dir_name: str | None) -> list[Entry]:
        images = cached_readable_by_stem(split_dir / "images")  # 20,000 headers are read once, not per open
        mask_dir = find_mask_dir(split_dir, mask_dir_name)
        if mask_dir is None:  # predict-only split
            return [Entry(stem, images[stem]) for stem in sorted(images)]
        matched, unmatched = match_masks(images, cached_readable_by_stem(mask_dir, "mask"))
        warn_skipped(f"image(s) in {split_dir.name}/images without a mask in {mask_dir.name}/ skipped", unmatched)
        lossy = sorted(p.name for p in matched.values() if p.suffix.lower() in LOSSY_EXTENSIONS)
        if lossy:
            warnings.warn(
                f"{len(lossy)} mask(s) in {mask_dir.name}/ are JPEG files ({lossy[0]}, ...): JPEG compression changes "
                "label values along region borders; save masks as PNG",
                DatasetWarning,
                stacklevel=4,
            )
        return [Entry(stem, images[stem], matched[stem]) for stem in sorted(matched)]

    def _channels(self, asked: int | None) -> int:
        """1 or 3: as asked, else 1 when the first image is single-channel (grey PNG/TIFF, H x W or H x W x 1 .npy)."""
        if asked is not None:
            if asked not in (1, 3):
                raise SegdashError(f"option channels must be 1 or 3, got {asked}")
            return asked
        first = next((e.image for entries in self.index.values() for e in entries), None)
        if first is None:
            return 3
        if first.suffix.lower() == ".npy":
            shape = np.load(first, mmap_mode="r", allow_pickle=False).shape
            return 1 if len(shape) == 2 or 1 in (shape[0], shape[-1]) else 3
        with Image.open(first) as img:
            return 1 if img.mode in ("L", "I", "I;16", "I;16B", "I;16L", "F") else 3

    # --- classes -----------------------------------------------------------------------------
    def _mask_paths(self) -> list[Path]:
        return [e.mask for entries in self.index.values() for e in entries if e.mask is not None]

    def _set_classes(self, classes_path: str | Path | None, num_classes: int | None) -> None:
        mask_paths = self._mask_paths()
        table = self._class_table(classes_path, mask_paths)
        #: the classes file read (its size and time are part of the statistics cache key), or None
        self.classes_file = table.source if table is not None else None
        if table is not None and table.colors is not None:
            self._color_lookup = table.color_lookup(self.ignore_index)
        if table is not None:
            names: tuple[str, ...] = table.names
            self.description = f"classes from {table.source}"
        else:
            if not mask_paths and num_classes is None:
                raise SegdashError(self._no_masks_message())
            if mask_paths:
                self._check_not_colour_coded(mask_paths[0])
            count = num_classes if num_classes is not None else self._count_classes(mask_paths)
            names = ("background", "foreground") if self._binary_255 else tuple(f"class_{i}" for i in range(count))
            self.description = "class names not given (no classes file): numbered from the labels in the masks"
        self.classes = names
        if table is not None and table.colors is not None:
            self.colors = table.colors
        else:
            self.colors = self._palette_colors(mask_paths, len(names)) or default_colors(len(names))

    def _no_masks_message(self) -> str:
        """Why a folder of images alone is not opened as a dataset, and what to do instead."""
        images = next((e.image.parent for entries in self.index.values() for e in entries), self.root / "images")
        return (
            f"{str(self.root)!r} has images/ but no masks/ (or labels/, annotations/) folder, and no classes file: "
            "there is nothing to score or train on, and no class names. To label the images, run "
            f"'segdash predict --checkpoint CHECKPOINT {images} --out OUT' (or upload them on the "
            "Predict page); to use the folder as a dataset, add masks/ with one mask per image (same file name "
            "stem), or a classes file (or -o num_classes=N) to open it as a predict-only dataset"
        )

    def _class_table(self, classes_path: str | Path | None, mask_paths: list[Path]) -> ClassTable | None:
        if classes_path:  # inside the dataset folder (segdash.data.formats.classes says why)
            return read_classes_file(resolve_option_file(classes_path, self.root, "classes"), self.ignore_index)
        folders = [self.root] + sorted({p.parent for p in mask_paths}) + sorted({p.parent.parent for p in mask_paths})
        found = find_classes_file(*folders)
        return read_classes_file(found, self.ignore_index, root=self.root) if found else None

    def _check_not_colour_coded(self, mask_path: Path) -> None:
        raw = read_raw_pixels(mask_path)
        as_label_map(raw, str(mask_path))  # raises, naming the file, when it is an RGB colour mask

    def _count_classes(self, mask_paths: list[Path]) -> int:
        values = scan_label_values(mask_paths, self.read_mask, ignore_index=self.ignore_index)
        if self.ignore_index == 255 and values and values <= {0, 255} and 255 in values:
            self._binary_255 = True  # 0/255 masks: background / foreground, not "everything ignored"
            return 2
        labels = [v for v in values if v != self.ignore_index]
        if any(v < 0 for v in labels):
            raise SegdashError(f"masks in {self.root} hold negative labels {sorted(v for v in labels if v < 0)[:5]}")
        return max(labels, default=0) + 1

    @staticmethod
    def _palette_colors(mask_paths: list[Path], count: int) -> tuple[tuple[int, int, int], ...] | None:
        if not mask_paths:
            return None
        try:
            with Image.open(mask_paths[0]) as img:
                palette = img.getpalette() if img.mode == "P" else None
        except OSError:
            return None
        if not palette or len(palette) < 3 * count:
            return None
        return tuple(tuple(palette[3 * i : 3 * i + 3]) for i in range(count))  # type: ignore[misc]

    # --- reading -------------------------------------------------------------------------------
    def read_image(self, path: Path) -> np.ndarray:
        return read_image(path, mode="gray" if self.in_channels == 1 else "rgb")

    def read_mask(self, path: Path) -> np.ndarray:
        raw = read_raw_pixels(path)
        if raw.ndim == 3 and raw.shape[2] >= 3 and self._color_lookup:
            labels = rgb_to_labels(raw[:, :, :3], self._color_lookup, str(path))
        else:
            labels = as_label_map(raw, str(path))
        if self._binary_255:
            labels = np.where(labels == 255, 1, labels)
        return labels
