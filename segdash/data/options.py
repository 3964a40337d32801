"""Dataset options as they arrive from ``-o KEY=VALUE``: strings in, checked values out.

The one KEY=VALUE parser (the CLI's ``-o`` and the dashboard's options field read through it)::

    parse_options(["classes=c.csv", "ignore-index=0"])   # {"classes": "c.csv", "ignore_index": "0"}
    parse_option_text("label_map=cityscapes-19, seed=1")  # (("label_map", "cityscapes-19"), ("seed", "1"))

Every format and built-in dataset takes its options as keyword arguments and
runs them through these, so a wrong option is one clear ``SegdashError`` (never
a ``TypeError`` traceback)::

    def __init__(self, root, seed=0, **unknown):
        reject_unknown_options("format 'carla'", unknown, ["seed"])
        self.seed = as_int("seed", seed)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from segdash.errors import SegdashError

#: Bounds that keep a crafted option, classes file or checkpoint from allocating gigabytes:
#: the largest public label sets (ADE20K 150, COCO-Stuff 182, Mapillary 124) fit with room to spare.
MAX_CLASSES = 1024
MAX_CHANNELS = 16
MAX_SEED = 2**32 - 1


def parse_option(item: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> ``(key, value)``, both stripped, dashes in the key read as underscores
    (``ignore-index`` is ``ignore_index``)."""
    key, sep, value = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise SegdashError(f"a dataset option is KEY=VALUE (e.g. ignore_index=255); {item!r} is not")
    return key, value.strip()


def parse_options(items: Iterable[str]) -> dict[str, str]:
    """``-o`` items -> ``{key: value}`` (a key given twice: the last one counts)."""
    return dict(parse_option(item) for item in items)


def parse_option_text(text: str) -> tuple[tuple[str, str], ...]:
    """The dashboard's one field: items separated by commas or new lines -> ``(key, value)`` pairs in order
    (empty items skipped)."""
    items = (part.strip() for part in text.replace("\n", ",").split(","))
    return tuple(parse_option(item) for item in items if item)


def reject_unknown_options(owner: str, options: Mapping[str, object], valid: Iterable[str]) -> None:
    """Raise when ``options`` is not empty; ``owner`` names the dataset, e.g. ``"format 'voc'"``."""
    if options:
        valid_text = ", ".join(sorted(valid)) or "none"
        raise SegdashError(f"{owner} has no option(s) {', '.join(sorted(options))}; valid options: {valid_text}")


def as_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within ``minimum..maximum`` (both inclusive, either optional)."""
    text = str(value).strip()
    if len(text) > 20:  # int() of a 10^6-digit string takes seconds: no sane option is that long
        raise SegdashError(f"option {name} must be a whole number, got {len(text)} characters")
    try:
        number = int(text)
    except ValueError:
        raise SegdashError(f"option {name} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise SegdashError(f"option {name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise SegdashError(f"option {name} must be at most {maximum}, got {number}")
    return number


def as_optional_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """``None``, ``""``, ``"none"`` or ``"null"`` -> None; otherwise ``as_int``."""
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return None
    return as_int(name, value, minimum, maximum)


def as_seed(value: object) -> int:
    """The ``seed`` option: 0 .. 2^32 - 1 (what NumPy's generators accept)."""
    return as_int("seed", value, minimum=0, maximum=MAX_SEED)


def as_fraction(name: str, value: object) -> float:
    """A number in ``[0, 1)``."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise SegdashError(f"option {name} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number < 1.0:
        raise SegdashError(f"option {name} must be between 0 and 1 (exclusive), got {value!r}")
    return number


def as_choice(name: str, value: object, choices: Sequence[str]) -> str:
    text = str(value).strip()
    if text not in choices:
        raise SegdashError(f"option {name} must be one of {', '.join(choices)}; got {value!r}")
    return text
