"""segdash commands under torchrun, and ``segdash torchrun``, a launcher that reports like segdash.

    torchrun --nproc_per_node=4 -m segdash evaluate cityscapes-folder -f folder --checkpoint runs/x/best --json e.json
    segdash torchrun --nproc_per_node=2 train brain-mri --device cpu --out runs/ddp   # the same, segdash's exits

Each process reads, predicts and counts its own contiguous share of the split's ids (one GPU per
process with NCCL, or CPU processes with gloo); the per-process results (counts and per-image
rows only) are gathered on rank 0, put together in split order and written once, equal to what
one process would write. The process group comes from ``segdash.train.distributed``, as training's.

A user error (``SegdashError``) is printed by rank 0 alone; every rank also leaves it in the error
file torchrun gives each worker. Plain ``torchrun`` then prints its own failure report and traceback;
``segdash torchrun`` takes the same options and command, runs torch's launcher in-process and, when a
worker stops on a user error, exits with status 2 after that one line (a rank other than 0 has its
message printed by the launcher), and after any other failure prints one line naming the rank.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # torch is imported only under torchrun: `segdash stats` alone never needs it
    from segdash.train.distributed import DistInfo

T = TypeVar("T")


def launched_by_torchrun() -> bool:
    """True when torchrun started this process as one of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def process_group(device_name: str | None) -> Iterator[DistInfo | None]:
    """The process group's ``DistInfo`` under torchrun (closed on exit), else None (one process, nothing set up)."""
    if not launched_by_torchrun():
        yield None
        return
    from segdash.train.distributed import setup, teardown

    info = setup(device_name)
    try:
        yield info
    finally:
        teardown(info)


def shard(info: DistInfo | None) -> tuple[int, int] | None:
    """``(rank, world_size)`` for ``evaluate(shard=...)`` / ``class_statistics(shard=...)``; None for one process."""
    return (info.rank, info.world_size) if info is not None else None


def is_main(info: DistInfo | None) -> bool:
    """True in the process that prints and writes: rank 0, or the only process."""
    return info is None or info.is_main


def merged_on_main(part: T, info: DistInfo | None, merge: Callable[[list[T]], T]) -> T | None:
    """``merge`` of every process's ``part`` in rank order on rank 0, None on the others; ``part`` alone
    for one process."""
    if info is None:
        return part
    from segdash.train.distributed import gather_to_main

    parts = gather_to_main(part, info)
    return merge(parts) if parts is not None else None


# --- user errors under torchrun ---------------------------------------------------------------------
#: What a worker exits with after a user error (as ``segdash COMMAND`` alone does).
USER_ERROR = 2


def rank() -> int:
    """This process's rank under torchrun, 0 for a process of its own."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def report_user_error(line: str) -> None:
    """Print a user error once per run: by rank 0 alone under torchrun. Every rank leaves the line in
    the error file torchrun gave it (``TORCHELASTIC_ERROR_FILE``), in torch's own format, so a launcher
    can tell a rank's user error from a crash."""
    printed = rank() == 0
    if printed:
        print(line, file=sys.stderr, flush=True)
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path and launched_by_torchrun():
        info = {"timestamp": str(int(time.time())), _USER_ERROR_KEY: "printed" if printed else "not printed"}
        try:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"message": {"message": line, "extraInfo": info}}, handle)
        except OSError:
            pass  # the launcher's report goes without it


_USER_ERROR_KEY = "segdash_user_error"


# --- the launcher -------------------------------------------------------------------------------------
def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "torchrun", help="run a segdash command under torch's launcher, with segdash's error lines and exits",
        description="segdash torchrun [TORCHRUN OPTIONS] COMMAND [OPTIONS]: what 'torchrun [TORCHRUN OPTIONS] -m "
        "segdash COMMAND [OPTIONS]' does, but a user error is one line and exit status 2, and a failed process "
        "is one line instead of torchrun's traceback.",
    )  # fmt: skip
    parser.add_argument("rest", nargs=argparse.REMAINDER, metavar="...",
                        help="torchrun's options (--nproc_per_node=N, --nnodes, --rdzv_*), then the command")
    parser.set_defaults(func=lambda args: launch(args.rest))


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[--nproc_per_node=2, train, brain-mri]`` -> (torchrun's options, the segdash command and its options)."""
    from segdash.cli import COMMANDS

    for index, word in enumerate(argv):
        if word in COMMANDS and word != "torchrun" and not (index and argv[index - 1] in _OPTIONS_WITH_VALUES):
            return argv[:index], argv[index:]
    from segdash.errors import SegdashError

    raise SegdashError(f"name the segdash command to run ({', '.join(c for c in COMMANDS if c != 'torchrun')})")


#: torchrun options given as "--name VALUE" (two words), so their value is not taken for the command.
_OPTIONS_WITH_VALUES = {"--nproc_per_node", "--nproc-per-node", "--nnodes", "--node_rank", "--node-rank",
                        "--rdzv_backend", "--rdzv-backend", "--rdzv_endpoint", "--rdzv-endpoint", "--rdzv_id",
                        "--rdzv-id", "--rdzv_conf", "--rdzv-conf", "--master_addr", "--master-addr",
                        "--master_port", "--master-port", "--max_restarts", "--max-restarts",
                        "--monitor_interval", "--monitor-interval", "--log_dir", "--log-dir", "--redirects",
                        "--tee", "--local_addr", "--local-addr", "--role", "--start_method",
                        "--start-method"}  # fmt: skip


def launch(argv: list[str]) -> int:
    """Run ``torchrun OPTIONS -m segdash COMMAND ...`` in this process; the exit status a segdash command gives."""
    options, command = split_command(list(argv))
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as torchrun

    # its "closing signal" and "failed (exitcode: 2)" records repeat what the worker said
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    args = parse_args([*options, "-m", "segdash", *command])
    made_log_dir = _quiet_other_ranks(args)
    status = 1
    try:
        torchrun(args)
        status = 0
    except ChildFailedError as exc:
        status = _failure_status(exc, command[0], Path(args.log_dir) if args.log_dir else None)
    finally:
        if made_log_dir and status in (0, USER_ERROR):  # nothing in them worth keeping
            shutil.rmtree(args.log_dir, ignore_errors=True)
    return status


def _quiet_other_ranks(args) -> bool:
    """Send the output of local ranks other than 0 to log files, as ``--redirects 1:3,2:3,...`` would, unless
    the options already say where output goes: rank 0 speaks for the run, and a rank whose peer ended
    first (its collective fails with a connection error) does not print a traceback about it. The logs go
    to ``--log-dir``, else to a temporary folder (True returned: made here, removed unless a rank crashed)."""
    import tempfile

    try:
        count = int(args.nproc_per_node)
    except (TypeError, ValueError):  # "gpu", "auto": not known before the launch
        return False
    if count < 2 or args.redirects not in ("", "0") or args.tee not in ("", "0"):
        return False
    args.redirects = ",".join(f"{local_rank}:3" for local_rank in range(1, count))
    if args.log_dir:
        return False  # the user's folder: theirs to keep
    args.log_dir = tempfile.mkdtemp(prefix="segdash-torchrun-")
    return True


def _failure_status(exc, command: str, logs: Path | None = None) -> int:
    """The exit status for the failed workers in ``exc``; prints the one line rank 0 did not."""
    failures = dict(sorted(exc.failures.items()))  # global rank -> ProcessFailure
    user = {r: f.message for r, f in failures.items()
            if isinstance(f.message, dict) and _USER_ERROR_KEY in (f.message.get("extraInfo") or {})}  # fmt: skip
    if user:  # a rank stopped on a user error (the others were stopped by the launcher then)
        if not any(m["extraInfo"][_USER_ERROR_KEY] == "printed" for m in user.values()):
            print(next(iter(user.values()))["message"], file=sys.stderr)  # rank 0 said nothing: the first rank's line
        return USER_ERROR
    rank_, failure = exc.get_first_failure()
    how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit status {failure.exitcode}"
    found = sorted(logs.glob(f"**/{failure.local_rank}/stderr.log")) if logs is not None and failure.local_rank else []
    where = f"its output is in {found[-1]}" if found else "its output is above"
    print(f"segdash {command}: rank {rank_} failed ({how}); {where}", file=sys.stderr)
    return failure.exitcode if 0 < failure.exitcode < 256 else 1
