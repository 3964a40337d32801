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

COMMANDS = ("datasets", "stats", "predict", "evaluate", "compare", "label-issues", "train", "export", "convert",
            "import_model", "pull", "torchrun")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segdash",
        description="Show, judge and compare semantic-segmentation models.",
        epilog="Run 'segdash COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"segdash {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"segdash.cli.{name.replace('-', '_')}").register(sub)  # label-issues: label_issues.py
    return parser


def _plain_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings for users (a skipped file) as one plain line, without source locations."""
    print(f"segdash: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    from segdash.cli.torchrun import report_user_error

    warnings.showwarning = _plain_warning
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["torchrun"] and not {"-h", "--help"} & set(words[1:2]):  # its options are torchrun's
        from segdash.cli.torchrun import launch

        try:
            return launch(words[1:])
        except SegdashError as exc:
            print(f"segdash torchrun: error: {exc}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "classes_outside", False):
        from segdash.data.formats.option_files import allow_files_outside

        allow_files_outside()
    try:
        return int(args.func(args) or 0)
    except SegdashError as exc:
        report_user_error(f"segdash {args.command}: error: {exc}")  # once, by rank 0 under torchrun
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly, like Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # disk full, permission denied, a file where a folder is expected
        where = f": {exc.filename}" if exc.filename else ""
        report_user_error(f"segdash {args.command}: error: {exc.strerror or exc}{where}")
        return 2
    except KeyboardInterrupt:
        print(f"segdash {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
