"""``segdash`` command line: ``python -m segdash COMMAND ...``.

Each command lives in its own module with ``register(subparsers)``; heavy
imports (torch, smp) happen inside the command so ``--help`` stays instant.
User errors (``SegdashError``) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from segdash import __version__
from segdash.errors import SegdashError

COMMANDS = ("datasets", "stats", "predict", "evaluate", "compare", "train", "export", "import_model", "pull")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segdash",
        description="Show, judge and compare semantic-segmentation models.",
        epilog="Run 'segdash COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"segdash {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"segdash.cli.{name}").register(sub)
    return parser


def _plain_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings for users (a skipped file) as one plain line, without source locations."""
    print(f"segdash: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _plain_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SegdashError as exc:
        print(f"segdash {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly, like Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # disk full, permission denied, a file where a folder is expected
        where = f": {exc.filename}" if exc.filename else ""
        print(f"segdash {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"segdash {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
