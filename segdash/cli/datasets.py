"""``segdash datasets``: the on-disk formats segdash reads and the built-in datasets.

    segdash datasets            # tables on stdout
    segdash datasets --json     # the same as JSON on stdout (or --json FILE)
    segdash datasets --no-open  # names and summaries only, without preparing the built-ins

Listing a built-in's sizes opens it, which prepares and caches it on first use
(seconds); a built-in that cannot be opened here (e.g. ``nuclei`` without
stardist) is listed with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list dataset formats and built-in datasets",
        description="List the on-disk dataset formats (for --format) and the built-in datasets with their "
        "classes, split sizes and where the data comes from.",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="OUT",
        help="write JSON instead of tables: to stdout, or to the file OUT",
    )
    parser.add_argument(
        "--no-open",
        action="store_true",
        help="do not open the built-ins (no sizes or classes, but instant even before their first preparation)",
    )
    parser.set_defaults(func=run)


def describe_builtin(name: str, open_it: bool = True) -> dict:
    """JSON-ready summary of one built-in: its ``info()`` when it opens, else the reason it does not."""
    from segdash.data import DEFAULT_DATASET, get_builtin
    from segdash.errors import SegdashError

    builtin = get_builtin(name)
    entry = {"name": name, "summary": builtin.summary, "default": name == DEFAULT_DATASET, **_options_of(builtin)}
    if not open_it:
        return entry
    try:
        ds = builtin.factory()
    except SegdashError as exc:
        entry["available"] = False
        entry["error"] = str(exc)
        return entry
    info = ds.info()
    info.pop("name", None)
    entry.update(available=True, **info)
    return entry


def _options_of(entry) -> dict:
    """``{"options": {key: help}}`` for a format or built-in (a RegistryEntry) that takes ``-o`` options, else ``{}``."""
    return {"options": entry.options_help} if entry.options_help else {}


def collect(open_builtins: bool = True) -> dict:
    """``{"formats": [{"name", "summary", "options"?}], "builtins": [describe_builtin(...)]}``."""
    from tqdm import tqdm

    from segdash.data import list_builtins, list_formats

    # Opening a built-in the first time prepares it (seconds): show progress on stderr.
    names = tqdm([b.name for b in list_builtins()], desc="opening built-ins", file=sys.stderr, leave=False,
                 disable=not (open_builtins and sys.stderr.isatty()))
    return {
        "formats": [
            {"name": fmt.name, "summary": fmt.summary, **_options_of(fmt)}
            for fmt in list_formats()
        ],
        "builtins": [describe_builtin(name, open_builtins) for name in names],
    }


def _option_lines(entry: dict) -> list[str]:
    return [f"      -o {key}=...  {text}" for key, text in entry.get("options", {}).items()]


def format_tables(listing: dict) -> str:
    lines = ["Dataset formats (segdash COMMAND PATH --format NAME [-o KEY=VALUE ...]):"]
    width = max((len(f["name"]) for f in listing["formats"]), default=0)
    for fmt in listing["formats"]:
        lines.append(f"  {fmt['name']:<{width}}  {fmt['summary']}")
        lines += _option_lines(fmt)
    lines += ["", "Built-in datasets (segdash COMMAND NAME [-o KEY=VALUE ...]):"]
    for b in listing["builtins"]:
        title = f"  {b['name']}{'  (default)' if b['default'] else ''}  - {b['summary']}"
        lines.append(title)
        lines += _option_lines(b)
        if "available" not in b:
            continue
        if not b["available"]:
            lines.append(f"      unavailable: {b['error']}")
            continue
        splits = ", ".join(f"{split} {n}" for split, n in b["splits"].items())
        height_width = b.get("image_size")
        size = f"{height_width[1]}x{height_width[0]}" if height_width else "varies"
        lines.append(f"      images: {splits}; size {size} (WxH), {b['in_channels']} channel(s)")
        lines.append(f"      classes ({len(b['classes'])}): {', '.join(b['classes'])}")
        lines.append(f"      source: {b['source']}")
    return "\n".join(lines)


def check_json_target(path: str) -> None:
    """Fail before any work when ``--json PATH`` names a folder (a common slip)."""
    from pathlib import Path

    from segdash.errors import SegdashError

    if path != "-" and Path(path).is_dir():
        raise SegdashError(f"--json {path!r} is a folder; give a file name such as {str(Path(path) / 'out.json')!r}")


def write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically; unwritable paths are user errors."""

    from segdash.errors import SegdashError
    from segdash.fsutil import atomic_write_json

    check_json_target(path)
    try:
        atomic_write_json(path, obj)
    except OSError as exc:
        raise SegdashError(f"cannot write {path!r}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    listing = collect(open_builtins=not args.no_open)
    if args.json == "-":
        print(json.dumps(listing, indent=2))
    elif args.json:
        write_json(args.json, listing)
        print(f"wrote {args.json}", file=sys.stderr)
    else:
        print(format_tables(listing))
    return 0
