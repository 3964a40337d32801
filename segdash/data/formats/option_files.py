"""Files named by ``-o KEY=FILE`` options (a classes list, a class map, COCO's annotations), found the same way
for every format: a path as given, or relative to the dataset folder."""

from __future__ import annotations

from pathlib import Path

from segdash.errors import SegdashError


def resolve_option_file(value: str | Path, root: Path | None, option: str) -> Path:
    """The file ``-o option=value`` names: ``value`` as given, or relative to the dataset folder ``root``."""
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and root is not None and (root / path).is_file():
        path = root / path
    if not path.is_file():
        raise SegdashError(
            f"option {option}: file {str(value)!r} does not exist (a relative path starts at the dataset folder)"
        )
    return path.resolve()
