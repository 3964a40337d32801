"""Dataset options as they arrive from ``-o KEY=VALUE``: strings in, checked values out.

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


def reject_unknown_options(owner: str, options: Mapping[str, object], valid: Iterable[str]) -> None:
    """Raise when ``options`` is not empty; ``owner`` names the dataset, e.g. ``"format 'voc'"``."""
    if options:
        raise SegdashError(
            f"{owner} has no option(s) {', '.join(sorted(options))}; valid options: {', '.join(sorted(valid)) or 'none'}"
        )


def as_int(name: str, value: object, minimum: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SegdashError(f"option {name} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise SegdashError(f"option {name} must be at least {minimum}, got {number}")
    return number


def as_optional_int(name: str, value: object) -> int | None:
    """``None``, ``""``, ``"none"`` or ``"null"`` -> None; otherwise ``as_int``."""
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return None
    return as_int(name, value)


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
