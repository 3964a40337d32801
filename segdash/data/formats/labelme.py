"""A folder of LabelMe JSON files (``labelme`` 3.x to 5.x), one per image::

    root/                                   or   root/train/*.json, root/val/*.json (then splits)
      a.json  {"shapes": [{"label": "cat", "shape_type": "polygon", "points": [[x, y], ...]}, ...],
               "imagePath": "a.jpg", "imageData": "<base64>" or null, "imageHeight": 480, "imageWidth": 640}
      a.jpg   (when imageData is null)

Shapes are drawn as LabelMe draws them (``labelme.utils.shape_to_mask``: PIL, outline included), in
file order, later shapes over earlier ones: polygons, rectangles (two corners), circles (centre
and a point on the circle) and masks (a base64 PNG of the box at the first point); lines and points
have no area and are left out; any other shape type is an error naming the sample. The image is the
embedded ``imageData`` when there is one, else the file ``imagePath`` names (relative to the JSON,
inside the dataset folder). Classes: ``-o classes=FILE`` (labelme2voc's ``labels.txt`` works:
``__ignore__`` marks the ignored label, ``_background_`` the background), else ``background`` and
the labels found, sorted. Pixels no shape covers are background (ignored when the classes file has no
background). Without split folders, a seeded 80/10/10 split is made.

Each JSON is parsed when the folder is first opened (the result is cached, see ``_index_cache.cached_scan``) and
again when its mask is read; a file that is not valid JSON, holds a polygon of too many points or a
label outside the classes file is reported by name and skipped (``--strict`` stops).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_scan
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.classes import read_classes_file
from segdash.data.formats.colors import default_colors
from segdash.data.formats.json_files import field, max_json_bytes, read_json
from segdash.data.formats.option_files import resolve_option_file
from segdash.data.formats.shapes import PointBudget, checked_points, shape_mask
from segdash.data.formats.skipping import warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict, seeded_index, val_test_fractions
from segdash.data.imageio import IMAGE_EXTENSIONS, check_decoded_size, decode_image_bytes, read_image
from segdash.data.options import MAX_CLASSES, as_seed
from segdash.data.registry import register_format
from segdash.errors import SegdashError

#: One LabelMe file holds one image's shapes and at most one embedded image: 64 MB is a 40-megapixel PNG.
MAX_LABELME_BYTES = 64 * 2**20
IGNORE_LABELS = ("__ignore__",)
BACKGROUND_LABELS = ("_background_", "background")
DRAWN_SHAPES = ("polygon", "rectangle", "circle")
#: Shapes without an area: left out of the label map.
AREALESS_SHAPES = ("line", "linestrip", "point", "points")


def _labelme_json(path: Path) -> object:
    limit = min(MAX_LABELME_BYTES, max_json_bytes() or MAX_LABELME_BYTES)
    return read_json(path, "LabelMe file", limit)


def _size(data: object, where: str) -> tuple[int, int]:
    height = field(data, "imageHeight", int, where)
    width = field(data, "imageWidth", int, where)
    if height < 1 or width < 1:
        raise SegdashError(f"{where}: imageHeight and imageWidth must be positive")
    check_decoded_size(where, (height, width))
    return height, width


def scan_file(path: Path, root: Path) -> dict:
    """What opening needs from one LabelMe file: its labels, image (``None`` when embedded), size; or the
    reason it cannot be used (``{"error": ...}``; the sample is then skipped when read)."""
    where = f"sample {path.stem!r} ({path.name})"
    try:
        data = _labelme_json(path)
        height, width = _size(data, where)
        shapes = field(data, "shapes", list, where)
        labels = sorted({field(s, "label", str, f"{where}, shape {i}") for i, s in enumerate(shapes)})
        embedded = field(data, "imageData", (str, type(None)), where, None)
        image = None
        if not embedded:
            name = field(data, "imagePath", str, where)
            resolved = Path(os.path.normpath(path.parent / name.replace("\\", "/")))  # "..", not symlinks
            if not resolved.is_relative_to(root):
                raise SegdashError(f"{where}: imagePath points outside the dataset folder and there is no imageData")
            if not resolved.is_file():
                raise SegdashError(f"{where}: its image {name!r} does not exist and there is no imageData")
            image = str(resolved)
    except SegdashError as exc:
        return {"error": str(exc)}
    return {"labels": labels, "image": image, "height": height, "width": width}


def scan_folder(folder: Path, root: Path) -> dict[str, dict]:
    """``{json stem: scan_file(...)}`` for the LabelMe files directly in ``folder``."""
    files = sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))
    return {p.stem: {"file": p.name, **scan_file(p, root)} for p in files}


@register_format("labelme", "LabelMe: a folder of *.json (polygons, rectangles, circles; imageData or imagePath)")
class LabelMe(FormatDataset):
    ignore_index = 255
    in_channels = 3
    source = "LabelMe annotations (JSON shapes per image), read from a folder on disk"

    layout = "LabelMe *.json files (one per image), optionally in train/, val/, test/"
    options_help = {
        "classes": "classes file (e.g. labelme2voc's labels.txt; default: background + the labels found, sorted)",
        "val_fraction": "share in val without split folders (default 0.1)",
        "test_fraction": "share in test without split folders (default 0.1)",
        "seed": "seed of the random split (default 0)",
    }

    def __init__(self, root: str | Path, classes: str | Path | None = None, val_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 0, **unknown):
        self.open_root(root, unknown)
        fractions = val_test_fractions(val_fraction, test_fraction)
        folders = {"": self.root} if any(self.root.glob("*.json")) else {
            p.name: p for p in sorted(self.root.iterdir()) if p.is_dir() and any(p.glob("*.json"))}
        if not folders:
            raise self.layout_error()
        # the scan depends on the dataset folder too: an imagePath may leave it
        kind = f"labelme:{self.root}"
        scans = {split: cached_scan(folder, kind, {".json"}, lambda f=folder: scan_folder(f, self.root))
                 for split, folder in folders.items()}
        #: per LabelMe file: the size of its embedded image, or why it cannot be used
        self._sizes: dict[Path, tuple[int, int]] = {}
        self._errors: dict[Path, str] = {}
        index = {split: self._entries(folders[split], scan) for split, scan in scans.items()}
        if "" in index:
            val, test = fractions
            pool = {e.sample_id: e for e in index.pop("")}
            index = seeded_index(pool, (1 - val - test, val, test), seed=as_seed(seed))
        index = indexed_split_dict(index)
        if not index:
            raise self.layout_error()
        super().__init__(index)
        found = sorted({label for scan in scans.values() for item in scan.values() for label in item.get("labels", ())})
        self._set_classes(classes, found)

    def _entries(self, folder: Path, scan: dict[str, dict]) -> list[Entry]:
        entries, missing = [], []
        for stem, item in scan.items():
            json_path = folder / item["file"]
            if "error" in item:  # kept, so that passes report it by name (and --strict stops)
                self._errors[json_path] = item["error"]
                entries.append(Entry(stem, json_path, json_path))
                continue
            image = Path(item["image"]) if item["image"] else json_path
            if image != json_path and image.suffix.lower() not in IMAGE_EXTENSIONS:
                missing.append(stem)
                continue
            self._sizes[json_path] = (item["height"], item["width"])
            entries.append(Entry(stem, image, json_path))
        warn_skipped(f"LabelMe file(s) in {folder.name}/ whose image is not an image file skipped", missing)
        return entries

    def _set_classes(self, classes: str | Path | None, found: list[str]) -> None:
        if classes:
            self.classes_file = resolve_option_file(classes, self.root, "classes")
            table = read_classes_file(self.classes_file, ignore_index=None)
            names, colors = list(table.names), list(table.colors) if table.colors else None
        else:
            self.classes_file = None
            names = ["background"] + [n for n in found if n not in IGNORE_LABELS + BACKGROUND_LABELS]
            colors = None
        keep = [i for i, n in enumerate(names) if n not in IGNORE_LABELS]
        names = ["background" if n == "_background_" else n for n in (names[i] for i in keep)]
        if not names or len(names) > MAX_CLASSES:
            raise SegdashError(f"LabelMe: {len(names)} classes; expected 1 to {MAX_CLASSES}")
        self.classes = tuple(names)
        self.colors = tuple(colors[i] for i in keep) if colors else default_colors(len(names))
        self._label_of = {n: i for i, n in enumerate(names)}
        self._label_of["_background_"] = self._label_of.get("background", self.ignore_index)
        for label in IGNORE_LABELS:
            self._label_of[label] = self.ignore_index
        self._background = self._label_of["_background_"]
        where = self.classes_file.name if self.classes_file else "the labels found"
        self.description = f"{len(names)} classes from {where}; shapes drawn in file order, later on top."

    # --- reading -----------------------------------------------------------------------------
    def entry_size(self, entry: Entry) -> tuple[int, int]:
        if entry.image == entry.mask and entry.mask in self._sizes:  # embedded: the size the file declares
            return self._sizes[entry.mask]
        return super().entry_size(entry)

    def _usable(self, path: Path) -> None:
        """Raise the reason the scan found why the LabelMe file ``path`` cannot be used, if any."""
        if path in self._errors:
            raise SegdashError(self._errors[path])

    def read_image(self, path: Path) -> np.ndarray:
        if path.suffix.lower() != ".json":
            return read_image(path)
        self._usable(path)
        where = f"sample {path.stem!r} ({path.name})"
        data = _labelme_json(path)
        encoded = field(data, "imageData", str, where)
        try:
            raw = base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            raise SegdashError(f"{where}: imageData is not base64") from None
        return decode_image_bytes(raw, f"{where}: imageData")

    def read_entry_mask(self, entry: Entry) -> np.ndarray:
        path = entry.mask
        self._usable(path)
        where = f"sample {entry.sample_id!r} ({path.name})"
        data = _labelme_json(path)
        height, width = _size(data, where)
        labels = np.full((height, width), self._background, dtype=np.int64)
        budget = PointBudget(where)
        for number, shape in enumerate(field(data, "shapes", list, where)):
            at = f"{where}, shape {number}"
            kind = field(shape, "shape_type", (str, type(None)), at, "polygon") or "polygon"
            label = field(shape, "label", str, at)
            if label not in self._label_of:
                shown = ascii(label[:40])
                raise SegdashError(f"{at}: the label {shown} is not one of the {len(self.classes)} classes"
                                   + (f" of {self.classes_file.name}" if self.classes_file else ""))
            if kind in AREALESS_SHAPES:
                continue
            points = checked_points(field(shape, "points", list, at), at, height, width)
            budget.spend(len(points))
            if kind == "mask":
                mask = _mask_shape(field(shape, "mask", str, at), points, height, width, at)
            elif kind in DRAWN_SHAPES:
                mask = shape_mask(kind, points, height, width)
            else:
                raise SegdashError(f"{at}: a shape of type {ascii(kind[:20])}; LabelMe's types with an area are "
                                   f"{', '.join((*DRAWN_SHAPES, 'mask'))}")
            if mask is not None:
                labels[mask] = self._label_of[label]
        return labels


def _mask_shape(encoded: str, points: np.ndarray, height: int, width: int, where: str) -> np.ndarray:
    """HxW bool mask of a LabelMe ``mask`` shape: a base64 PNG of its bounding box, whose top-left corner is
    the first point."""
    if len(points) < 1:
        raise SegdashError(f"{where}: a mask shape without its corner points")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as img:
            check_decoded_size(where, (img.height, img.width))
            box = np.asarray(img.convert("L")) > 0
    except (binascii.Error, ValueError, OSError, SyntaxError):
        raise SegdashError(f"{where}: the mask is not a base64 PNG") from None
    x0, y0 = int(points[0][0]), int(points[0][1])
    if x0 < 0 or y0 < 0 or y0 + box.shape[0] > height or x0 + box.shape[1] > width:
        raise SegdashError(f"{where}: the mask's box lies outside the {width}x{height} image")
    mask = np.zeros((height, width), dtype=bool)
    mask[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]] = box
    return mask
