"""Class tables: reading a classes file (names, colours, ignore colour) and colour masks -> labels.

A classes file is a dataset's own: one a ``classes=FILE`` option names is found and confined to the
dataset folder by ``segdash.data.formats.option_files``; one found in the folder by name must resolve
inside it too. What is read must be a regular file that parses as a classes file (class names of at most
``MAX_NAME_LENGTH`` printable characters, optional colours, at most ``MAX_CLASSES`` rows), and no error
quotes what the file holds: a dashboard shared on a network must not turn /etc/passwd or the server's
environment into a list of class names, nor into an error message.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segdash.data.formats.colors import Color, parse_color
from segdash.data.formats.option_files import confine
from segdash.data.options import MAX_CLASSES
from segdash.errors import SegdashError

#: A classes file names a few hundred classes at most; anything much larger is not one.
MAX_CLASSES_FILE_BYTES = 1024 * 1024
#: Longest class name ("chest of drawers, chest, bureau, dresser" has 40 characters).
MAX_NAME_LENGTH = 100

CLASSES_FILE_NAMES = (
    "classes.json",
    "classes.csv",
    "classes.txt",
    "class_dict.csv",
    "labelmap.txt",
    "labels.txt",
    "label_colors.txt",
)


@dataclass(frozen=True)
class ClassTable:
    """Class names in index order, their colours (or None), and the colour that means 'ignore'."""

    names: tuple[str, ...]
    colors: tuple[Color, ...] | None
    ignore_color: Color | None = None
    source: Path | None = None

    def color_lookup(self, ignore_index: int | None) -> dict[int, int]:
        """Packed ``r << 16 | g << 8 | b`` -> class index (ignore colour -> ignore_index)."""
        if self.colors is None:
            return {}
        lookup = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(self.colors)}
        if self.ignore_color is not None and ignore_index is not None:
            r, g, b = self.ignore_color
            lookup[(r << 16) | (g << 8) | b] = ignore_index
        return lookup


def find_classes_file(*folders: Path) -> Path | None:
    for folder in folders:
        for name in CLASSES_FILE_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def _row_to_class(cells: Sequence[str]) -> tuple[int | None, str, Color | None]:
    """One row of a csv/txt classes file -> (explicit index or None, name, colour or None)."""
    cells = [c.strip() for c in cells if c.strip()]
    color: Color | None = None
    words: list[str] = []
    numbers: list[int] = []
    for cell in cells:
        parsed = parse_color(cell) if not re.fullmatch(r"-?\d+", cell) else None
        if parsed is not None:
            color = parsed
        elif re.fullmatch(r"-?\d+", cell):
            numbers.append(int(cell))
        else:
            words.append(cell)
    if color is None and len(numbers) in (3, 4):
        color = tuple(numbers[-3:])  # type: ignore[assignment]
        numbers = numbers[:-3]
    index = numbers[0] if len(numbers) == 1 else None
    if len(numbers) > 1 or (color is not None and not all(0 <= v <= 255 for v in color)):
        raise ValueError("a row is neither 'name', 'index name', 'name r g b' nor 'index name r g b'")
    return index, " ".join(words), color


def _rows_from_text(path: Path, text: str) -> list[list[str]]:
    rows = []
    is_csv = path.suffix.lower() == ".csv"
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if is_csv:
            rows.extend(csv.reader(io.StringIO(line)))
        elif ":" in line:  # CVAT labelmap.txt: name:r,g,b:parts:actions
            name, _, rest = line.partition(":")
            color = rest.split(":")[0].strip()
            if color and parse_color(color) is None:
                raise ValueError("a line with ':' is not CVAT's 'name:r,g,b::'")
            rows.append([name, color])
        else:
            # "road line 157 234 50", "0 background", "64 128 64\tAnimal", "sky #4682b4"
            rows.append(re.split(r"[\t,;]+|\s+(?=[#\d])|(?<=\d)\s+", line.strip()))
    return rows


def _entries_from_json(data: object) -> list[tuple[int | None, str, Color | None]]:
    if isinstance(data, Mapping) and "classes" in data:
        data = data["classes"]
    elif isinstance(data, Mapping) and "labels" in data:  # Medical Segmentation Decathlon dataset.json
        data = data["labels"]
    entries: list[tuple[int | None, str, Color | None]] = []
    if isinstance(data, Mapping):  # {"road": [128, 64, 128]} or {"0": "background"}
        for key, value in data.items():
            if re.fullmatch(r"\d+", str(key)) and isinstance(value, str):
                entries.append((int(key), value, None))
            else:
                entries.append((None, str(key), _json_color(value)))
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, str):
                entries.append((None, item, None))
            elif isinstance(item, Mapping) and "name" in item:
                if not isinstance(item["name"], str):
                    raise ValueError(f"class {len(entries)}'s name is not text")
                index = item.get("index", item.get("id", item.get("value")))
                color = _json_color(item.get("color", item.get("colour", item.get("rgb"))))
                entries.append((None if index is None else _whole(index, "an index"), str(item["name"]), color))
            else:
                raise ValueError(f"class {len(entries)} is neither a name nor an object with a \"name\"")
    else:
        raise ValueError("expected a list of classes or a mapping")
    return entries


def _whole(value: object, what: str) -> int:
    """A JSON number or digit string as an int; anything else a ValueError that does not quote it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise ValueError(f"{what} is not a whole number")
    return int(value)


def _json_color(value: object) -> Color | None:
    if value is None:
        return None
    if isinstance(value, str):
        color = parse_color(value)
    elif isinstance(value, Sequence) and len(value) == 3:
        color = tuple(_whole(v, "a colour value") for v in value)  # type: ignore[assignment]
    else:
        color = None
    if color is None or not all(0 <= v <= 255 for v in color):
        raise ValueError("a colour is not [r, g, b] with values 0..255 or '#rrggbb'")
    return color


def _read_regular_file(path: Path, shown: str) -> bytes:
    """The bytes of a regular file of at most MAX_CLASSES_FILE_BYTES; a FIFO, device or folder is refused
    without blocking (opened non-blocking, checked on the open file, so a swap after the check changes nothing)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SegdashError(f"classes file {shown!r} does not exist") from None
    except OSError as exc:
        raise SegdashError(f"classes file {shown!r} cannot be opened ({exc.strerror or type(exc).__name__})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SegdashError(f"classes file {shown!r} is not a regular file")
        if info.st_size > MAX_CLASSES_FILE_BYTES:
            raise SegdashError(
                f"classes file {shown!r} is larger than {MAX_CLASSES_FILE_BYTES // 1024} KB; is it really a classes file?"
            )
        chunks, left = [], MAX_CLASSES_FILE_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CLASSES_FILE_BYTES:  # grew while being read
        raise SegdashError(f"classes file {shown!r} is larger than {MAX_CLASSES_FILE_BYTES // 1024} KB")
    return data


def read_classes_file(path: str | Path, ignore_index: int | None = 255, root: str | Path | None = None) -> ClassTable:
    """Read class names (and colours) from a .json, .csv or .txt file.

    Accepted: JSON ``[{"name", "color", "index"?}]``, ``{"classes": [...]}``,
    ``{"name": [r, g, b]}``, ``{"labels": {"0": "background"}}`` (Decathlon);
    CSV/TXT rows like ``name,r,g,b`` (header allowed, e.g. CamVid's
    class_dict.csv), ``index name r g b``, ``r g b name``, ``name #rrggbb``,
    ``name`` alone, or CVAT's ``name:r,g,b::``. A row whose index equals
    ``ignore_index`` gives the ignore colour instead of a class.

    ``root``: the dataset folder the file must sit in (see the module docstring); None for a file the
    caller chose itself (system files are refused all the same).
    """
    path = Path(path)
    if not path.exists():
        raise SegdashError(f"classes file {str(path)!r} does not exist")
    data = _read_regular_file(confine(path, None if root is None else Path(root), f"classes file {str(path)!r}"),
                              str(path))  # fmt: skip
    try:
        text = data.decode("utf-8-sig")
        if "\x00" in text:
            raise ValueError("it holds NUL bytes, so it is not a text file")
        if path.suffix.lower() == ".json":
            entries = _entries_from_json(json.loads(text))
        else:
            rows = _rows_from_text(path, text)
            entries = []
            for number, row in enumerate(rows):
                try:
                    entries.append(_row_to_class(row))
                except ValueError as exc:
                    if number == 0:  # a header like "name,r,g,b"
                        continue
                    raise ValueError(f"row {number + 1}: {exc}") from None
            if entries and entries[0][2] is None and any(e[2] is not None for e in entries[1:]):
                entries = entries[1:]  # header row without numbers
    except UnicodeDecodeError:
        raise SegdashError(f"classes file {str(path)!r} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:  # its message gives a position, never the text
        raise SegdashError(f"classes file {str(path)!r} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except (ValueError, TypeError, RecursionError) as exc:
        # Our own messages say where, never what the file holds: the file may not be the user's.
        reason = str(exc) if isinstance(exc, ValueError) else "unexpected structure (nested lists or objects?)"
        raise SegdashError(f"classes file {str(path)!r} cannot be read: {reason}") from None
    if len(entries) > MAX_CLASSES:
        raise SegdashError(f"classes file {str(path)!r} lists {len(entries)} classes; segdash handles at most {MAX_CLASSES}")
    for number, (_, name, _) in enumerate(entries):
        if len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise SegdashError(
                f"classes file {str(path)!r} cannot be read: class {number} is not a class name "
                f"(at most {MAX_NAME_LENGTH} printable characters)"
            )
    return _class_table(entries, path, ignore_index)


def _class_table(
    entries: list[tuple[int | None, str, Color | None]], path: Path, ignore_index: int | None
) -> ClassTable:
    if not entries:
        raise SegdashError(f"classes file {str(path)!r} lists no classes")
    ignore_color = None
    if any(index is not None for index, _, _ in entries):
        if any(index is None for index, _, _ in entries):
            raise SegdashError(f"classes file {str(path)!r}: give an index for every class or for none")
        kept = []
        for index, name, color in entries:
            if ignore_index is not None and index == ignore_index:
                ignore_color = color
            else:
                kept.append((index, name, color))
        kept.sort(key=lambda e: e[0])
        indices = [e[0] for e in kept]
        if indices != list(range(len(kept))):
            raise SegdashError(f"classes file {str(path)!r}: class indices must be 0..{len(kept) - 1} without gaps")
        entries = kept
    names = tuple(name or f"class_{i}" for i, (_, name, _) in enumerate(entries))
    colors = [color for _, _, color in entries]
    if all(c is None for c in colors):
        return ClassTable(names, None, ignore_color, path)
    if any(c is None for c in colors):
        raise SegdashError(f"classes file {str(path)!r}: give a colour for every class or for none")
    if len(set(colors)) != len(colors):
        raise SegdashError(f"classes file {str(path)!r}: two classes share a colour")
    return ClassTable(names, tuple(colors), ignore_color, path)  # type: ignore[arg-type]


def rgb_to_labels(rgb: np.ndarray, lookup: Mapping[int, int], name: str) -> np.ndarray:
    """H x W x 3 colour mask -> H x W int64 via packed colour lookup; unknown colours raise naming the file."""
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colours, inverse = np.unique(packed, return_inverse=True)
    unknown = [int(c) for c in colours if int(c) not in lookup]
    if unknown:
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown[:5])
        raise SegdashError(
            f"{name}: mask colour(s) {shown} are not in the classes file; add them to it "
            f"(or give the ignore colour index 255)"
        )
    table = np.array([lookup[int(c)] for c in colours], dtype=np.int64)
    return table[inverse.reshape(packed.shape)]
