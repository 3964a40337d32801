"""COCO-format annotations (what CVAT, Label Studio, Roboflow and most labelling tools export) + images::

    root/                                        or  root/train/_annotations.coco.json + images (Roboflow)
      annotations/instances_train2017.json           root/result.json + images/ (Label Studio)
      annotations/instances_val2017.json             root/annotations/instances_default.json + images/ (CVAT)
      annotations/panoptic_val2017.json + annotations/panoptic_val2017/*.png
      train2017/*.jpg  val2017/*.jpg

Instances and stuff files (``-o annotations=FILE`` names one; else every ``instances_*``, ``panoptic_*``
or ``stuff_*`` file, ``-o kind=`` choosing when a split has several) are rasterised per image:

- classes: ``background`` (pixels no annotation covers), then the file's categories in category-id
  order (ids need not be contiguous: 1, 2, 3, 5, 90 become classes 1..5);
- polygons and RLE (crowd regions are RLE) are rasterised as pycocotools does (``annToMask``);
- overlaps, in a fixed order: crowd regions first, then the other annotations from the largest to the
  smallest (ties by annotation id), each painting over what is under it, so a small object on a large
  one stays visible;
- ``-o crowd=ignore`` (default) paints crowd regions with the ignore index, ``crowd=class`` with their
  category.

Panoptic files are read through their PNGs (segment id = R + 256 G + 256^2 B, ``segments_info`` gives
each segment's category): classes are the categories in id order, unlabelled pixels (id 0) ignored.
An image listed without annotations is all background (instances) or all ignored (panoptic); a file
with ``images`` but no ``annotations`` (``image_info_test2017.json``) is a predict-only split.
An annotation whose category the file does not list, a polygon of more points than
``shapes.MAX_POLYGON_POINTS`` or an RLE that is not its image's size makes that image's mask an error
naming it (skipped with a warning, ``--strict`` stops).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path, PurePosixPath

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.coco_masks import segmentation_mask
from segdash.data.formats.colors import default_colors
from segdash.data.formats.json_files import field, read_json
from segdash.data.formats.option_files import resolve_option_file
from segdash.data.formats.shapes import PointBudget
from segdash.data.formats.skipping import DatasetWarning, warn_skipped
from segdash.data.formats.split_lists import indexed_split_dict
from segdash.data.imageio import check_decoded_size, read_raw_pixels
from segdash.data.options import MAX_CLASSES, as_choice
from segdash.data.registry import register_format
from segdash.errors import SegdashError

KINDS = ("instances", "panoptic", "stuff")
CROWD = ("ignore", "class")
#: Export names that hold instances without saying so.
INSTANCE_FILES = ("_annotations.coco.json", "result.json")


def file_stem(path: Path) -> str:
    """A COCO file's name without its kind: instances_train2017.json -> train2017 (the images' folder name)."""
    stem = path.name[: -len(".json")]
    for prefix in (*KINDS, "image_info"):
        stem = stem.removeprefix(f"{prefix}_")
    return stem


def split_of(path: Path) -> str:
    """The split a COCO file holds, from its name: instances_train2017 -> train, Roboflow's
    valid/_annotations.coco.json -> val, CVAT's instances_default.json -> default."""
    stem = file_stem(path)
    if path.name in INSTANCE_FILES:
        stem = path.parent.name
    lowered = stem.lower()
    for split, words in (("train", ("train",)), ("val", ("val", "valid")), ("test", ("test",))):
        if any(w in lowered for w in words):
            return split
    return stem


def kind_of(path: Path) -> str:
    return next((k for k in KINDS if path.name.startswith(f"{k}_")), "instances")


def find_annotation_files(root: Path, kind: str | None) -> dict[str, Path]:
    """``{split: file}`` of the COCO files in ``root`` (``annotations/``, split folders, or root itself)."""
    candidates = [p for folder in (root / "annotations", root) if folder.is_dir()
                  for p in sorted(folder.glob("*.json")) if kind_of(p) != "instances"
                  or p.name.startswith(("instances_", "image_info_")) or p.name in INSTANCE_FILES]
    candidates += sorted(root.glob("*/" + INSTANCE_FILES[0]))
    by_split: dict[str, list[Path]] = defaultdict(list)
    for path in candidates:
        if kind is None or kind_of(path) == kind:
            by_split[split_of(path)].append(path)
    chosen = {}
    for split, paths in by_split.items():
        paths.sort(key=lambda p: KINDS.index(kind_of(p)))  # instances, then panoptic, then stuff
        chosen[split] = paths[0]
    return chosen


@register_format("coco", "COCO JSON (instances, stuff, panoptic) + images: polygons, RLE, crowd; category-id order")
class Coco(FormatDataset):
    ignore_index = 255
    in_channels = 3
    source = "COCO-format annotations (JSON) and their images, read from a folder on disk"

    layout = ("annotations/instances_{split}.json (or panoptic_/stuff_, or -o annotations=FILE) and the images "
              "it lists (train2017/, images/, or beside the JSON)")
    options_help = {
        "annotations": "one COCO JSON file to read (default: every instances_/panoptic_/stuff_*.json found)",
        "kind": "instances, panoptic or stuff: which files to read when a split has several (default instances)",
        "images": "folder of the images (default: found from the JSON's file names)",
        "crowd": "ignore (default: crowd regions are ignored) or class (painted with their category)",
    }

    def __init__(self, root: str | Path, annotations: str | Path | None = None, kind: str | None = None,
                 images: str | Path | None = None, crowd: str = "ignore", **unknown):
        self.open_root(root, unknown)
        self.crowd = as_choice("crowd", crowd, CROWD)
        self.kind = as_choice("kind", kind, KINDS) if kind is not None else None
        if annotations:
            path = resolve_option_file(annotations, self.root, "annotations")
            files = {split_of(path): path}
        else:
            files = find_annotation_files(self.root, self.kind)
        if not files:
            raise self.layout_error()
        image_root = self.root / str(images) if images else None
        if image_root is not None and not image_root.is_dir():
            raise SegdashError(f"option images: {str(image_root)!r} is not a folder")
        self.annotation_files = tuple(sorted(files.values()))
        self.panoptic: bool | None = None
        #: sample id -> its annotations (instances), or (file_name, segments_info) (panoptic)
        self._annotations: dict[str, object] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        index, categories = {}, None
        for split, path in files.items():
            entries, cats = self._read_file(path, image_root)
            if categories is not None and cats != categories:
                raise SegdashError(f"{path.name} lists other categories than {self.annotation_files[0].name}; "
                                   "a dataset's splits must share their classes")
            categories = cats
            index[split] = entries
        index = indexed_split_dict(index)
        if not index:
            raise SegdashError(f"no image listed in {', '.join(p.name for p in files.values())} was found")
        super().__init__(index)
        self._set_classes(categories)

    # --- reading the annotation file ---------------------------------------------------------
    def _read_file(self, path: Path, image_root: Path | None) -> tuple[list[Entry], list]:
        data = read_json(path, "COCO annotation file")
        where = f"COCO annotation file {path.name}"
        panoptic = kind_of(path) == "panoptic" or (isinstance(data, dict) and _is_panoptic(data))
        if self.panoptic is None:
            self.panoptic = panoptic
        elif self.panoptic != panoptic:
            raise SegdashError(f"{where}: panoptic and instance files cannot be mixed; pick one with -o kind=")
        categories = _categories(data, where)
        images = field(data, "images", list, where)
        annotations = field(data, "annotations", list, where, None)
        by_image = _group_annotations(annotations, where, panoptic) if annotations is not None else None
        folder = image_root or _image_folder(self.root, path, images, where)
        masks_dir = path.with_suffix("") if panoptic else None
        if panoptic and annotations is not None and not masks_dir.is_dir():
            raise SegdashError(f"{where}: its PNG folder {masks_dir.name}/ is not beside it")
        found = _readable_by_name(folder)
        by_base = _unique_base_names(found)
        entries, missing, repeated, unusable = [], [], [], []
        for number, image in enumerate(images):
            at = f"{where}, image {number}"
            try:
                image_id = field(image, "id", (int, str), at)
                file_name = field(image, "file_name", str, at).replace("\\", "/")
                size = (field(image, "height", int, at), field(image, "width", int, at))
                check_decoded_size(at, size)
            except SegdashError:
                unusable.append(f"image {number}")
                continue
            # the name as listed, else its base name (Label Studio lists "/data/upload/1/abc.jpg")
            located = found.get(PurePosixPath(file_name).as_posix()) or by_base.get(PurePosixPath(file_name).name)
            sample_id = PurePosixPath(file_name).stem
            if located is None:
                missing.append(file_name)
            elif sample_id in self._sizes:
                repeated.append(file_name)
            else:
                self._sizes[sample_id] = size
                entries.append(self._entry(sample_id, located, path, by_image, image_id, masks_dir))
        warn_skipped(f"image(s) in {path.name} without a whole id, file_name, height and width skipped", unusable)
        warn_skipped(f"image(s) listed in {path.name} not found in {folder.name}/ skipped", missing)
        warn_skipped(f"image(s) in {path.name} with the name of an earlier one skipped", repeated)
        return entries, categories

    def _entry(self, sample_id: str, image: Path, path: Path, by_image: dict | None, image_id: int | str,
               masks_dir: Path | None) -> Entry:
        """One listed image's entry; its annotations (or segments) kept for reading its mask."""
        if by_image is None:  # a file of images only: predict-only
            return Entry(sample_id, image)
        if masks_dir is None:
            self._annotations[sample_id] = by_image.get(image_id, [])
            return Entry(sample_id, image, path)
        own = by_image.get(image_id)
        if own is None:  # listed without a PNG: all unlabelled
            self._annotations[sample_id] = None
            return Entry(sample_id, image, path)
        self._annotations[sample_id] = own[1]
        return Entry(sample_id, image, masks_dir / PurePosixPath(own[0]).name)  # never outside its folder

    def _set_classes(self, categories: list[tuple[int, str, tuple[int, int, int] | None]]) -> None:
        """Background first (instances and stuff), then the categories in id order, with the file's colours
        when every category has one (panoptic files do), else the VOC colour map."""
        names = [name for _, name, _ in categories]
        colors = [color for _, _, color in categories]
        if not self.panoptic:
            names, colors = ["background", *names], [(0, 0, 0), *colors]
        if len(names) > MAX_CLASSES:
            raise SegdashError(f"COCO: {len(names)} categories; segdash handles at most {MAX_CLASSES}")
        self.classes = tuple(names)
        if len(names) > 255:  # LVIS-sized category lists: 255 is a class, the ignore index moves past them
            self.ignore_index = 65535
        if any(c is None for c in colors[0 if self.panoptic else 1:]):
            colors = [(0, 0, 0), *default_colors(len(names))[1:]]
        self.colors = tuple(colors)
        offset = 0 if self.panoptic else 1
        self._class_of = {cat_id: i + offset for i, (cat_id, _, _) in enumerate(categories)}
        kind = "panoptic segments" if self.panoptic else "instances"
        self.description = (f"{kind} from {', '.join(p.name for p in self.annotation_files)}: "
                            f"{len(categories)} categories in category-id order; crowd regions: {self.crowd}.")

    # --- masks -------------------------------------------------------------------------------------
    def read_entry_mask(self, entry: Entry) -> np.ndarray:
        height, width = self._sizes[entry.sample_id]
        where = f"sample {entry.sample_id!r}"
        if self.panoptic:
            return self._panoptic_mask(entry, height, width, where)
        labels = np.zeros((height, width), dtype=np.int64)
        budget = PointBudget(where)
        painted = []
        for ann in self._annotations[entry.sample_id]:
            at = f"{where}: annotation {ann.get('id')!s:.20}"
            category = field(ann, "category_id", int, at)
            if category not in self._class_of:
                raise SegdashError(f"{at} has category id {category}, which the file's categories do not list")
            segmentation = field(ann, "segmentation", (list, dict), at, [])
            mask = segmentation_mask(segmentation, height, width, at, budget)
            crowd = bool(field(ann, "iscrowd", (int, bool), at, 0))
            value = self.ignore_index if crowd and self.crowd == "ignore" else self._class_of[category]
            order_id = ann.get("id") if isinstance(ann.get("id"), int) else 0
            painted.append((not crowd, -int(mask.sum()), order_id, mask, value))
        for *_, mask, value in sorted(painted, key=lambda p: p[:3]):
            labels[mask] = value
        return labels

    def _panoptic_mask(self, entry: Entry, height: int, width: int, where: str) -> np.ndarray:
        segments = self._annotations[entry.sample_id]
        if segments is None:
            return np.full((height, width), self.ignore_index, dtype=np.int64)
        rgb = read_raw_pixels(entry.mask)
        if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
            raise SegdashError(f"{where}: {entry.mask.name} is not an 8-bit RGB panoptic PNG")
        channels = rgb[..., :3].astype(np.int64)
        ids = channels[..., 0] + 256 * channels[..., 1] + 65536 * channels[..., 2]
        table = {0: self.ignore_index}
        for number, segment in enumerate(segments):
            at = f"{where}: segment {number}"
            category = field(segment, "category_id", int, at)
            if category not in self._class_of:
                raise SegdashError(f"{at} has category id {category}, which the file's categories do not list")
            crowd = bool(field(segment, "iscrowd", (int, bool), at, 0))
            table[field(segment, "id", int, at)] = (self.ignore_index if crowd and self.crowd == "ignore"
                                                   else self._class_of[category])
        present, inverse = np.unique(ids, return_inverse=True)
        unknown = [int(v) for v in present if int(v) not in table]
        if unknown:
            raise SegdashError(
                f"{where}: {entry.mask.name} holds segment id(s) {unknown[:5]} its segments_info does not list"
            )
        return np.array([table[int(v)] for v in present], dtype=np.int64)[inverse.reshape(ids.shape)]


def _is_panoptic(data: dict) -> bool:
    anns = data.get("annotations")
    return isinstance(anns, list) and bool(anns) and isinstance(anns[0], dict) and "segments_info" in anns[0]


def _categories(data: object, where: str) -> list[tuple[int, str, tuple[int, int, int] | None]]:
    """``[(category id, name, colour or None)]`` in id order."""
    found = {}
    for number, cat in enumerate(field(data, "categories", list, where)):
        at = f"{where}, category {number}"
        cat_id = field(cat, "id", int, at)
        if cat_id in found:
            raise SegdashError(f"{at}: category id {cat_id} is listed twice")
        color = cat.get("color")
        valid = (isinstance(color, list) and len(color) == 3
                 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color))
        found[cat_id] = (field(cat, "name", str, at) or f"category_{cat_id}", tuple(color) if valid else None)
    if not found:
        raise SegdashError(f"{where}: lists no categories")
    return [(cat_id, name, color) for cat_id, (name, color) in sorted(found.items())]


def _group_annotations(annotations: list, where: str, panoptic: bool) -> dict:
    """image id -> its annotations (instances), or -> (PNG name, segments_info) (panoptic)."""
    grouped: dict = defaultdict(list) if not panoptic else {}
    for number, ann in enumerate(annotations):
        at = f"{where}, annotation {number}"
        image_id = field(ann, "image_id", (int, str), at)
        if panoptic:
            grouped[image_id] = (field(ann, "file_name", str, at), field(ann, "segments_info", list, at))
        else:
            grouped[image_id].append(ann)
    return grouped


def _image_folder(root: Path, annotation_file: Path, images: list, where: str) -> Path:
    """Where the images a file lists are: the folder named like the split (train2017/), images/ (CVAT,
    Label Studio), the JSON's own folder (Roboflow) or the dataset folder; the first holding the first
    listed image."""
    stem = file_stem(annotation_file)
    candidates = [root / stem, root / "images" / stem, root / "images", annotation_file.parent, root]
    first = next((i.get("file_name") for i in images if isinstance(i, dict) and isinstance(i.get("file_name"), str)),
                 None)
    for folder in candidates:
        if folder.is_dir() and first is not None and (folder / first).is_file():
            return folder
    if first is None:
        return annotation_file.parent
    shown = ", ".join(f"{c.relative_to(root).as_posix()}/" for c in candidates[:3])
    warnings.warn(f"{where}: none of {shown} holds its images; "
                  "give the folder with -o images=DIR", DatasetWarning, stacklevel=3)
    return annotation_file.parent


def _unique_base_names(found: dict[str, Path]) -> dict[str, Path]:
    """``{file name: path}`` for the names only one found image has."""
    counts: dict[str, int] = defaultdict(int)
    for path in found.values():
        counts[path.name] += 1
    return {path.name: path for path in found.values() if counts[path.name] == 1}


def _readable_by_name(folder: Path) -> dict[str, Path]:
    """``{relative posix name: path}`` of the readable images under ``folder`` and its direct subfolders
    (Label Studio writes ``images/abc.jpg`` relative to the JSON), from the cached scan."""
    found = {path.name: path for path in cached_readable_by_stem(folder).values()}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name in ("annotations",) or sub.name.startswith("panoptic"):
            continue
        for path in cached_readable_by_stem(sub).values():
            found[f"{sub.name}/{path.name}"] = path
    return found
