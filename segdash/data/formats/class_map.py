"""Class merges for any format: ``-o class_map=FILE``, a CSV of ``source class, target class`` rows.

    # cityscapes_categories.csv: study Cityscapes' 19 classes as fewer
    source,target
    road,flat
    sidewalk,flat
    car,vehicle
    truck,vehicle
    pole,ignore
    sky,sky,#4682b4

``ignore`` sends a class to the ignore index; an optional third column gives the target's colour.

Classes the file does not name keep their own name. The merged classes are numbered in the order
their first source class has in the dataset, so a background class at 0 stays at 0; a target's colour
is the colour of its first source class unless the row gives one. Sources are matched by name without
regard to case, or by any alias the format keeps (ADE20K's synonyms, Mapillary's label ids).

The merge is applied where masks are loaded (``SegDataset.validate_mask``), after checking the mask
against the format's own classes, so statistics, evaluation, training and the Dataset page all see the
merged classes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segdash.data.formats.classes import MAX_CLASSES_FILE_BYTES
from segdash.data.formats.colors import Color, parse_color
from segdash.data.formats.option_files import resolve_option_file
from segdash.errors import SegdashError

IGNORE_WORDS = ("ignore", "ignored", "__ignore__")
HEADER_WORDS = ("source", "source class", "from")
DEFAULT_IGNORE_INDEX = 255


@dataclass(frozen=True)
class ClassMerge:
    """The lookup from a format's labels to merged labels (``lut[label]``), and what it was made from."""

    lut: np.ndarray
    source_count: int
    source_ignore: int | None

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """HxW int64 labels of the format (checked) -> HxW int64 merged labels."""
        return self.lut[mask]


def _key(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def _shown(text: str) -> str:
    """A name from the file in a message: printable, and short."""
    return ascii(text[:40] + ("..." if len(text) > 40 else ""))


def read_class_map(path: Path) -> list[tuple[str, str | None, Color | None]]:
    """The rows of a class-map CSV as ``(source, target or None for ignore, colour or None)``."""
    if path.stat().st_size > MAX_CLASSES_FILE_BYTES:
        raise SegdashError(f"class map {str(path)!r} is larger than {MAX_CLASSES_FILE_BYTES // 1024} KB; is it one?")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SegdashError(f"class map {str(path)!r} is not UTF-8 text") from None
    rows = []
    for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise SegdashError(f"class map {str(path)!r} row {number}: expected 'source class,target class'")
        if not rows and cells[0].casefold() in HEADER_WORDS:
            continue
        color = None
        if len(cells) > 2 and cells[2]:
            color = parse_color(cells[2])
            if color is None:
                raise SegdashError(f"class map {str(path)!r} row {number}: the third column is not a colour")
        target = None if cells[1].casefold() in IGNORE_WORDS else cells[1]
        rows.append((cells[0], target, color))
    if not rows:
        raise SegdashError(f"class map {str(path)!r} has no rows; expected 'source class,target class' lines")
    return rows


def merge_classes(ds, value: str | Path) -> None:
    """Apply the class map ``value`` (a CSV path) to the opened dataset ``ds`` in place.

    Sets ``ds.classes``, ``ds.colors``, ``ds.ignore_index`` to the merged ones, ``ds.class_map`` to the file
    (so the statistics cache knows the merge) and ``ds._class_merge`` to the lookup masks go through.
    """
    if getattr(ds, "_class_merge", None) is not None:
        raise SegdashError("the dataset's classes are merged already")
    path = resolve_option_file(value, getattr(ds, "root", None), "class_map")
    rows = read_class_map(path)
    index = _name_index(ds)
    targets: dict[int, tuple[str | None, Color | None]] = {}
    for number, (source, target, color) in enumerate(rows, start=1):
        found = index.get(_key(source))
        if found is None:
            raise SegdashError(f"class map {str(path)!r} row {number}: {ds.name!r} has no class {_shown(source)} "
                               f"(its classes: {', '.join(ds.classes[:8])}{', ...' if len(ds.classes) > 8 else ''})")
        if found == -1:
            raise SegdashError(f"class map {str(path)!r} row {number}: {_shown(source)} names several classes; "
                               "use the class's own name")
        if found in targets:
            raise SegdashError(f"class map {str(path)!r} row {number}: class {ds.classes[found]!r} is mapped twice")
        targets[found] = (target, color)

    names: list[str] = []
    colors: list[Color] = []
    ignore = ds.ignore_index if ds.ignore_index is not None else DEFAULT_IGNORE_INDEX
    lut = np.full(max(ds.num_classes, (ds.ignore_index or 0) + 1), ignore, dtype=np.int64)
    for source, name in enumerate(ds.classes):
        target, color = targets.get(source, (name, None))
        if target is None:
            continue
        key = _key(target)
        position = next((i for i, n in enumerate(names) if _key(n) == key), None)
        if position is None:
            position = len(names)
            names.append(target)
            colors.append(color or tuple(ds.colors[source]))
        elif color is not None:
            colors[position] = color
        lut[source] = position
    if not names:
        raise SegdashError(f"class map {str(path)!r} sends every class to ignore; keep at least one")
    if ignore < len(names):
        raise SegdashError(f"class map {str(path)!r}: the ignore index {ignore} is one of the merged classes")
    source_count, source_ignore = ds.num_classes, ds.ignore_index
    ds._class_merge = ClassMerge(lut, source_count, source_ignore)
    ds.classes, ds.colors, ds.ignore_index = tuple(names), tuple(colors), ignore
    ds.class_map = path
    ds.class_aliases = None
    note = f"classes merged by {path.name}: {source_count} -> {len(names)}."
    ds.description = f"{ds.description} {note}".strip()


def _name_index(ds) -> dict[str, int]:
    """name or alias (matching key) -> class index; -1 where an alias names several classes. A class's own
    name wins over another class's alias."""
    index = {_key(name): i for i, name in enumerate(ds.classes)}
    alias_hits: dict[str, set[int]] = {}
    for i, names in enumerate(getattr(ds, "class_aliases", None) or ()):
        for alias in names:
            alias_hits.setdefault(_key(alias), set()).add(i)
    for key, hits in alias_hits.items():
        if key not in index:
            index[key] = next(iter(hits)) if len(hits) == 1 else -1
    return index
