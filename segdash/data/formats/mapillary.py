"""Mapillary Vistas v1.2 / v2.0, as the research release unpacks::

    root/
      config_v1.2.json, config_v2.0.json    {"labels": [{"name": "construction--flat--road", "readable": "Road",
                                             "color": [128, 64, 128], "instances": false, "evaluate": true}, ...]}
      training/images/*.jpg                 training/v2.0/labels/*.png  (training/v1.2/labels/ for v1.2)
      validation/images/*.jpg               validation/v2.0/labels/*.png
      testing/images/*.jpg                  (no labels: predict-only)

The label PNGs are palette images whose index is the label's position in the config's ``labels`` list
(the older v1.0 release keeps them in ``training/labels/`` beside a ``config.json``). ``-o version=``
picks the config (default: the newest present). Labels the config marks ``"evaluate": false``
(Unlabeled) are ignored; the others are the classes, in config order, named by their ``readable``
name (the ``name`` id also matches in ``-o class_map``), with the config's colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdash.data.base import Entry
from segdash.data.formats._index_cache import cached_readable_by_stem
from segdash.data.formats.base import FormatDataset
from segdash.data.formats.json_files import field, read_json
from segdash.data.formats.scan import pair_by_stem
from segdash.data.formats.split_lists import indexed_split_dict
from segdash.data.imageio import read_label_image
from segdash.data.options import MAX_CLASSES, as_choice
from segdash.data.registry import register_format
from segdash.errors import SegdashError

VERSIONS = ("v2.0", "v1.2", "v1.0")
SPLIT_FOLDERS = {"train": "training", "val": "validation", "test": "testing"}
#: A config names a few hundred labels: a few hundred KB at most.
MAX_CONFIG_BYTES = 4 * 2**20


def config_path(root: Path, version: str) -> Path:
    return root / ("config.json" if version == "v1.0" else f"config_{version}.json")


def read_config(path: Path) -> list[tuple[str, str, tuple[int, int, int], bool]]:
    """``(readable, name, colour, evaluate)`` of each label, in label-id order."""
    where = f"Mapillary config {path.name}"
    labels = field(read_json(path, "Mapillary config", MAX_CONFIG_BYTES), "labels", list, where)
    if not labels or len(labels) > MAX_CLASSES:
        raise SegdashError(f"{where}: expected 1 to {MAX_CLASSES} labels, found {len(labels)}")
    parsed = []
    for number, label in enumerate(labels):
        at = f"{where}, label {number}"
        name = field(label, "name", str, at, "")
        readable = field(label, "readable", str, at, "") or name or f"label_{number}"
        color = field(label, "color", list, at)
        if len(color) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color):
            raise SegdashError(f"{at}: the colour is not [r, g, b] with values 0..255")
        evaluate = field(label, "evaluate", bool, at, True)
        parsed.append((readable, name, tuple(color), evaluate))
    return parsed


@register_format("mapillary", "Mapillary Vistas v1.2/v2.0: config_v*.json + {training,validation}/images, labels")
class Mapillary(FormatDataset):
    ignore_index = 255
    in_channels = 3
    source = "Mapillary Vistas (Neuhold et al., 2017), read from a folder on disk"

    layout = "config_v2.0.json (or config_v1.2.json), training/images/*.jpg and training/v2.0/labels/*.png"
    options_help = {"version": "v2.0 or v1.2 (default: the newest config in the folder; v1.0 reads config.json)"}

    def __init__(self, root: str | Path, version: str | None = None, **unknown):
        self.open_root(root, unknown)
        if version is None:
            version = next((v for v in VERSIONS if config_path(self.root, v).is_file()), None)
            if version is None:
                raise self.layout_error()
        self.version = as_choice("version", version, VERSIONS)
        self.classes_file = config_path(self.root, self.version)
        if not self.classes_file.is_file():
            raise SegdashError(f"{str(self.root)!r} has no {self.classes_file.name}; expected {self.layout}")
        labels = read_config(self.classes_file)
        scored = [i for i, (_, _, _, evaluate) in enumerate(labels) if evaluate]
        self.classes = tuple(labels[i][0] for i in scored)
        self.colors = tuple(labels[i][2] for i in scored)
        self.class_aliases = tuple((labels[i][1],) for i in scored)
        # label id -> class; the ids the config does not evaluate are ignored
        self._lut = np.full(len(labels), self.ignore_index, dtype=np.int64)
        self._lut[scored] = np.arange(len(scored))
        ignored = [labels[i][0] for i in sorted(set(range(len(labels))) - set(scored))]
        self.description = (f"Mapillary Vistas {self.version}: {len(scored)} labels"
                            + (f"; {', '.join(ignored)} ignored." if ignored else "."))
        index = indexed_split_dict({split: self._entries(folder) for split, folder in SPLIT_FOLDERS.items()
                                    if (self.root / folder / "images").is_dir()})
        if not index:
            raise self.layout_error()
        super().__init__(index)

    def _entries(self, folder: str) -> list[Entry]:
        split_dir = self.root / folder
        images = cached_readable_by_stem(split_dir / "images")
        labels = next((d for d in (split_dir / self.version / "labels", split_dir / "labels") if d.is_dir()), None)
        if labels is None:  # testing/: images only
            return [Entry(stem, images[stem]) for stem in sorted(images)]
        masks = cached_readable_by_stem(labels, "mask")
        return list(pair_by_stem(images, masks, f"image(s) in {folder}/images/ without a label PNG skipped").values())

    def read_mask(self, path: Path) -> np.ndarray:
        ids = read_label_image(path)
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= len(self._lut):
            raise SegdashError(
                f"{path.name}: holds label ids above {len(self._lut) - 1}, more than {self.classes_file.name} lists"
            )
        return self._lut[ids]
