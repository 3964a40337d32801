"""Which of a model's classes is which of a dataset's, when the two lists differ.

    mapping = class_mapping(meta.classes, dataset.classes)                 # by name
    mapping = class_mapping(meta.classes, dataset.classes, "ade2city.csv") # from a file
    mapping.target        # per model class: the dataset class it counts as, or -1 (unmapped)
    mapping.describe()    # "by name: 12 of 150 model classes map onto 11 of the dataset's 19; ..."

By name: case, spaces and punctuation are ignored ("Traffic Light" = "traffic_light"), and a name that
lists synonyms (ADE20K's "building;edifice", "person;individual;someone") matches any of them. Several
model classes may map onto one dataset class (their probabilities are summed, ``segdash.infer.mapped``);
model classes that match nothing are unmapped, and the pixels predicted as them are counted apart.

A class map file is CSV, one row per model class: ``model class, dataset class`` or ``model class,
ignore``; classes are named (as above) or given by index, a first row naming the columns is skipped,
and model classes the file does not list are unmapped.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Sequence
from pathlib import Path

from segdash.errors import SegdashError

MAX_CLASS_MAP_BYTES = 1024 * 1024
IGNORE = "ignore"
_HEADER_WORDS = {"model", "modelclass", "from", "source"}


def fold(name: str) -> str:
    """A class name as names are compared: lower case, letters and digits only ("Traffic Light" -> "trafficlight")."""
    return re.sub(r"[\W_]+", "", str(name).casefold())


def synonyms(name: str) -> set[str]:
    """The folded names a class answers to: each ';'-separated synonym and the whole name."""
    names = {fold(part) for part in str(name).split(";")} | {fold(name)}
    return {n for n in names if n}


@dataclasses.dataclass(frozen=True)
class ClassMapping:
    """``target[m]``: the dataset class model class ``m`` counts as, or -1; ``how``: "identical", "by name" or
    "from <file>"."""

    model_classes: tuple[str, ...]
    dataset_classes: tuple[str, ...]
    target: tuple[int, ...]
    how: str

    @property
    def identity(self) -> bool:
        """The model's classes are the dataset's, in order: nothing to map."""
        return self.target == tuple(range(len(self.dataset_classes)))

    @property
    def unmapped(self) -> list[str]:
        """Model classes that count as no dataset class."""
        return [name for name, t in zip(self.model_classes, self.target) if t < 0]

    @property
    def unpredicted(self) -> list[str]:
        """Dataset classes no model class maps onto (the model never predicts them)."""
        reached = set(self.target)
        return [name for i, name in enumerate(self.dataset_classes) if i not in reached]

    def pairs(self) -> list[tuple[str, str]]:
        """(model class, dataset class) for every mapped model class whose name differs from its dataset class's."""
        return [(m, self.dataset_classes[t]) for m, t in zip(self.model_classes, self.target)
                if t >= 0 and fold(m) != fold(self.dataset_classes[t])]  # fmt: skip

    def describe(self) -> str:
        """One line: which mapping ran and what it leaves out."""
        if self.identity:
            return "the model's classes are the dataset's"
        mapped = len(self.model_classes) - len(self.unmapped)
        reached = len(self.dataset_classes) - len(self.unpredicted)
        text = (f"classes mapped {self.how}: {mapped} of the model's {len(self.model_classes)} classes count as "
                f"{reached} of the dataset's {len(self.dataset_classes)}")  # fmt: skip
        if self.unpredicted:
            text += f"; never predicted: {_preview(self.unpredicted)}"
        if self.unmapped:
            text += f"; pixels predicted as the {len(self.unmapped)} unmapped model classes are counted apart"
        return text

    def to_dict(self) -> dict:
        return {
            "how": self.how,
            "identity": self.identity,
            "model_classes": list(self.model_classes),
            "target": list(self.target),
            "unmapped": self.unmapped,
            "unpredicted": self.unpredicted,
        }


def _preview(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} (+{len(names) - limit} more)"


def class_mapping(model_classes: Sequence[str], dataset_classes: Sequence[str],
                  class_map: str | Path | None = None) -> ClassMapping:  # fmt: skip
    """The mapping from a model's classes onto a dataset's: identical, from ``class_map`` (a CSV file), or by
    name; ``SegdashError`` when no model class matches any dataset class."""
    model_classes, dataset_classes = tuple(map(str, model_classes)), tuple(map(str, dataset_classes))
    if class_map is not None:
        target = _read_class_map(Path(class_map), model_classes, dataset_classes)
        how = f"from {Path(class_map).name}"
    elif [fold(c) for c in model_classes] == [fold(c) for c in dataset_classes]:
        return ClassMapping(model_classes, dataset_classes, tuple(range(len(dataset_classes))), "identical")
    else:
        target, how = _by_name(model_classes, dataset_classes), "by name"
    if all(t < 0 for t in target):
        raise SegdashError(f"no class of the model ({len(model_classes)}: {_preview(model_classes)}) matches a dataset "
                           f"class ({len(dataset_classes)}: {_preview(dataset_classes)}) {how}; map them with "
                           "--class-map FILE (CSV rows: model class, dataset class or ignore)")  # fmt: skip
    return ClassMapping(model_classes, dataset_classes, tuple(target), how)


def _by_name(model_classes: tuple[str, ...], dataset_classes: tuple[str, ...]) -> list[int]:
    wanted = [synonyms(c) for c in dataset_classes]
    first = [fold(c.split(";")[0]) for c in dataset_classes]
    target = []
    for name in model_classes:
        names = synonyms(name)
        hits = [d for d, theirs in enumerate(wanted) if names & theirs]
        exact = [d for d in hits if first[d] == fold(name.split(";")[0])]
        target.append((exact or hits or [-1])[0])
    return target


def _index_of(cell: str, classes: tuple[str, ...], side: str, row: int, path: Path) -> int:
    """A class named in a class map (its name, any synonym, or its index) -> its index."""
    text = cell.strip()
    if re.fullmatch(r"\d+", text):
        if int(text) < len(classes):
            return int(text)
        raise SegdashError(f"{path.name} row {row}: {side} class index {text} is beyond its {len(classes)} classes")
    key = fold(text)
    whole = [i for i, c in enumerate(classes) if fold(c) == key]
    found = whole or [i for i, c in enumerate(classes) if key in synonyms(c)]
    if not found:
        raise SegdashError(f"{path.name} row {row}: no {side} class is called {text[:60]!r} "
                           f"({side} classes: {_preview(classes)})")  # fmt: skip
    return found[0]


def _read_class_map(path: Path, model_classes: tuple[str, ...], dataset_classes: tuple[str, ...]) -> list[int]:
    try:
        size = path.stat().st_size
        if size > MAX_CLASS_MAP_BYTES:
            raise SegdashError(f"class map {path.name} is {size:,} bytes, far larger than a class map")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SegdashError(f"cannot read the class map {path.name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SegdashError(f"class map {path.name} is not UTF-8 text (CSV: model class, dataset class)") from None
    target = [-1] * len(model_classes)
    seen: set[int] = set()
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    for number, cells in enumerate(rows, start=1):
        if number == 1 and fold(cells[0]) in _HEADER_WORDS:
            continue
        if len(cells) != 2:
            raise SegdashError(f"{path.name} row {number} has {len(cells)} cells; a row is: model class, dataset "
                               "class (or ignore)")  # fmt: skip
        model = _index_of(cells[0], model_classes, "model", number, path)
        if model in seen:
            raise SegdashError(f"{path.name} row {number} maps model class {model_classes[model]!r} a second time")
        seen.add(model)
        if fold(cells[1]) != IGNORE:
            target[model] = _index_of(cells[1], dataset_classes, "dataset", number, path)
    return target
