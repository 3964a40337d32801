"""Files named by ``-o KEY=FILE`` options (a classes list, a class map, COCO's annotations), found the same way
for every format, and confined to the dataset's own folder.

A relative path starts at the dataset folder. The file must sit inside that folder (links resolved): a
dashboard shared on a network must not turn ``classes=/etc/passwd`` or the server's environment into a
table on the page. The command line's ``--classes-outside`` (``allow_files_outside``) lets an option name a
file elsewhere (a relative path then also from the working directory); the dashboard never does. Kernel
and device files (``/proc``, ``/sys``, ``/dev``) and anything but a regular file are refused either way.
"""

from __future__ import annotations

import stat
from pathlib import Path

from segdash.errors import SegdashError

#: Never a dataset's file, wherever a dataset claims it is.
SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))

_outside_allowed = False


def allow_files_outside(allowed: bool = True) -> None:
    """The command line's ``--classes-outside``: let ``-o KEY=FILE`` options name files outside the dataset
    folder, for this process. Off by default; the dashboard never turns it on."""
    global _outside_allowed
    _outside_allowed = bool(allowed)


def resolve_option_file(value: str | Path, root: Path | None, option: str) -> Path:
    """The file ``-o option=value`` names, links resolved, checked by ``confine`` (see the module docstring)."""
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and root is not None:
        inside = Path(root) / path
        path = path if _outside_allowed and not inside.exists() and path.exists() else inside
    if not path.exists():
        raise SegdashError(
            f"option {option}: file {str(value)!r} does not exist (a relative path starts at the dataset folder)"
        )
    return confine(path, root, f"option {option}: file {str(value)!r}")


def confine(path: Path, root: Path | None, shown: str) -> Path:
    """``path`` resolved; refused in one line (nothing read) when it is a system file, not a regular file, or,
    unless allowed, outside ``root`` (None: no folder to keep to). ``shown`` names it in the message."""
    resolved = Path(path).resolve()
    if any(resolved.is_relative_to(tree) for tree in SYSTEM_TREES):
        raise SegdashError(f"{shown} is a system file, not a dataset's file")
    if root is not None and not _outside_allowed and not resolved.is_relative_to(Path(root).resolve()):
        raise SegdashError(
            f"{shown} is outside the dataset folder; put it inside the folder "
            "(on the command line, --classes-outside allows a file elsewhere)"
        )
    try:
        regular = stat.S_ISREG(resolved.stat().st_mode)
    except OSError:
        regular = False
    if not regular:
        raise SegdashError(f"{shown} is not a regular file")
    return resolved
