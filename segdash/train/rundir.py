"""The run directory: what a training run writes, for any other process to read while it goes.

A run is a folder (``runs/<name>/`` by default; ``$SEGDASH_RUNS`` moves the root)::

    run.json            the run's state, rewritten atomically (write + rename) on every change
    metrics.jsonl       one JSON object per line, appended as whole lines (a reader never sees half a line)
    config.json         the TrainConfig as JSON (``segdash train --config`` input; same as run.json["config"])
    checkpoints/
        epoch_K/        checkpoint after epoch K (1-based), the core format (segdash.models.checkpoint),
                        written as a temporary folder then renamed: whole or absent
        best/           a copy of the epoch with the highest val mean Dice so far, swapped in with one
                        atomic exchange (never absent once written; leftovers are cleaned at the next start)
        last/           only after a stop in the middle of an epoch: the weights at that step
        resume.pt       optimizer, scheduler and counters for ``--resume`` (torch.save of tensors and
                        numbers, loaded with weights_only=True); names the checkpoint it belongs to
    previews/
        inputs.npz      fixed val images: ``images`` (N,C,S,S) as stored, ``masks`` (N,S,S) uint8/int64, ``ids`` (N,) str,
                        ``sizes`` (N,2) int64: each image's (H, W) before the square resize
        epoch_K.npz     the model's labels on them after epoch K: ``labels`` (N,S,S) uint8, ``ids`` (N,) str
    run.lock            held (flock) by the process that writes the run, for its whole life: one process
                        per run folder; the kernel lets go when the process ends, even on kill -9
    STOP                created by ``request_stop``: the run ends after the current step (status stopped)
    train.log           stdout and stderr of a run started by ``start_run``
    launch.json         written by ``start_run``: the spawned process id and command line

``run.json`` keys::

    format          1
    name            the folder name
    status          "starting" (launch.json only so far) | "running" | "finished" | "stopped" | "failed"
    error           why it failed (one line), else null; a NaN/inf loss: "diverged at epoch E, step S: ..."
    stop_reason     why it ended early: "stop requested", "SIGTERM", "time limit (M min)",
                    "early stopping (no val Dice gain in P epochs)", else null
    config          the full TrainConfig dict
    pid, host       the writing process (rank 0) and machine; readers test liveness with them
    pid_start       the process's start time (clock ticks since boot, /proc/PID/stat): a pid reused by
                    another process does not pass for the run
    started, updated, finished   ISO-8601 UTC timestamps (updated: at least every few seconds while running)
    epoch           epochs completed; epochs: total planned
    step            optimizer steps done; steps_per_epoch
    best            {"epoch", "val_mean_dice", "path"} or null
    phase           while running: "loading data" | "training" | "validating" | "saving"; null at the end
    classes, colors class names and RGB colours of the dataset
    device, world_size, train_images, val_images, seconds (training time so far, over resumes)
    in_memory, workers, precision, class_weights (list or null), normalization ({"mean","std","scale"})
    resumed_from    the checkpoint a resumed run continued from, else null

``metrics.jsonl`` lines::

    {"kind": "step",  "step": 12, "epoch": 1, "train_loss": 0.83, "lr": 0.0029, "time": 1763731234.5}
    {"kind": "epoch", "epoch": 1, "step": 14, "train_loss": 0.91, "val_loss": 0.62, "val_mean_dice": 0.71,
     "val_mean_iou": 0.58, "val_pixel_accuracy": 0.93, "val_dice": [per class, null if undefined],
     "val_iou": [per class], "lr": 0.0028, "seconds": 9.7, "time": 1763731240.1}

``epoch`` in a step line is the epoch in progress (1-based); ``step`` counts optimizer
steps from 1. A resumed run appends to the same file (steps keep counting) after dropping the
lines past its checkpoint (a kill -9 leaves some), so no step or epoch appears twice.
Mean Dice/IoU are over classes defined in the validation split (undefined: absent
from both ground truth and prediction), as in ``segdash.metrics.scores``.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import fcntl
import io
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from segdash.errors import SegdashError
from segdash.fsutil import append_line, atomic_write_bytes, atomic_write_json, atomic_write_text
from segdash.jsonsafe import json_tree

FORMAT_VERSION = 1
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_NAME = "best"
LAST_NAME = "last"
RESUME_FILE = "resume.pt"
PREVIEWS_DIR = "previews"
PREVIEW_INPUTS = "inputs.npz"
STOP_FILE = "STOP"
LOG_FILE = "train.log"
LAUNCH_FILE = "launch.json"
LOCK_FILE = "run.lock"
#: ``start_run`` takes the run's lock and hands the open file to the process it spawns under this variable.
LOCK_FD_ENV = "SEGDASH_RUN_LOCK_FD"
STATUSES = ("starting", "running", "finished", "stopped", "failed")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def epoch_dir_name(epoch: int) -> str:
    return f"epoch_{int(epoch)}"


class RunWriter:
    """Writes one run directory (only rank 0 of a distributed run holds one)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state: dict[str, Any] = {}
        self._last_write = 0.0

    # --- paths ------------------------------------------------------------------------
    @property
    def checkpoints(self) -> Path:
        return self.run_dir / CHECKPOINTS_DIR

    @property
    def previews(self) -> Path:
        return self.run_dir / PREVIEWS_DIR

    @property
    def stop_file(self) -> Path:
        return self.run_dir / STOP_FILE

    # --- run.json ---------------------------------------------------------------------
    def start(self, config: dict[str, Any], clear_stop: bool = False, **fields: Any) -> None:
        """Write the first ``run.json`` (status running) and ``config.json``; keeps counters of a resumed run.

        ``clear_stop`` (on resume) removes a STOP file left by the previous process, i.e. written
        before this one was launched; a stop asked for while this run was still starting (a new
        run or a resume) is kept and honoured.
        """
        previous = read_json(self.run_dir / RUN_FILE) or {}
        atomic_write_json(self.run_dir / CONFIG_FILE, config)
        self.state = {
            "format": FORMAT_VERSION,
            "name": self.run_dir.name,
            "status": "running",
            "error": None,
            "stop_reason": None,
            "config": config,
            "pid": os.getpid(),
            "pid_start": process_start_time(os.getpid()),
            "host": socket.gethostname(),
            "started": previous.get("started") or utc_now(),
            "updated": utc_now(),
            "finished": None,
            "epoch": previous.get("epoch", 0),
            "epochs": config.get("epochs"),
            "step": previous.get("step", 0),
            "best": previous.get("best"),
            "seconds": previous.get("seconds", 0.0),
        }
        self.state.update(fields)
        if clear_stop:
            with contextlib.suppress(FileNotFoundError):
                if self.stop_file.stat().st_mtime < self._launched_at():
                    self.stop_file.unlink()
        self.write()

    def _launched_at(self) -> float:
        """When this process was asked for: launch.json's time if ``start_run`` spawned it, else now."""
        launch = read_json(self.run_dir / LAUNCH_FILE) or {}
        if launch.get("pid") == os.getpid() and isinstance(launch.get("started"), str):
            with contextlib.suppress(ValueError):
                return _dt.datetime.fromisoformat(launch["started"]).timestamp()
        return time.time()

    def update(self, throttle_seconds: float = 0.0, **fields: Any) -> None:
        """Merge ``fields`` into run.json; with ``throttle_seconds`` skip the write if one happened recently."""
        self.state.update(fields)
        now = time.monotonic()
        if throttle_seconds and now - self._last_write < throttle_seconds:
            return
        self.write()

    def write(self) -> None:
        self.state["updated"] = utc_now()
        atomic_write_json(self.run_dir / RUN_FILE, json_tree(self.state))
        self._last_write = time.monotonic()

    def finish(self, status: str, error: str | None = None, stop_reason: str | None = None) -> None:
        assert status in STATUSES, status
        self.state.update(status=status, error=error, stop_reason=stop_reason, finished=utc_now(), phase=None)
        self.write()

    # --- metrics.jsonl ----------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        append_line(self.run_dir / METRICS_FILE, json.dumps(json_tree(record), allow_nan=False))

    # --- STOP -------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    # --- previews ---------------------------------------------------------------------
    def write_preview_inputs(self, images: np.ndarray, masks: np.ndarray, ids: list[str],
                             sizes: np.ndarray | None = None) -> None:
        """``sizes`` (N, 2): each image's (height, width) before the square resize, to show it at its aspect ratio."""
        extra = {} if sizes is None else {"sizes": np.asarray(sizes, dtype=np.int64).reshape(-1, 2)}
        write_npz(self.previews / PREVIEW_INPUTS, images=images, masks=masks, ids=np.asarray(ids, dtype=str), **extra)

    def write_preview(self, epoch: int, labels: np.ndarray, ids: list[str]) -> None:
        labels = labels.astype(np.uint8) if labels.max(initial=0) < 256 else labels
        write_npz(self.previews / f"epoch_{int(epoch)}.npz", labels=labels, ids=np.asarray(ids, dtype=str))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` into an atomically written file (no pickle: plain arrays and unicode strings)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when the file is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


# --- liveness and the run lock ---------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, field 22 of /proc/PID/stat); None if unknown."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rpartition(")")[2].split()  # the command name in (...) may hold spaces
    try:
        return int(fields[19])  # field 22 counted from 1; fields[0] is field 3 (the state)
    except (IndexError, ValueError):
        return None


def process_alive(pid: Any, start_time: Any = None) -> bool:
    """True when ``pid`` runs on this machine (not a zombie) and, if given, started at ``start_time``.

    A bare pid is not enough: after the run dies the number can go to any new process.
    """
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if Path("/proc/self/stat").exists():  # Linux: also tells a zombie (exited, not yet reaped) apart
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        return start_time is None or process_start_time(pid) == int(start_time)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunBusy(SegdashError):
    """Another process holds the run folder's lock."""


def lock_run(run_dir: str | Path, wait: float = 0.0) -> int:
    """Hold the run folder's lock (``run.lock``, flock): the open file descriptor, kept for the process's life.

    Raises ``RunBusy`` when another process holds it (a second start or resume), at once or after
    ``wait`` seconds: a process just killed reads as dead a moment before its last thread lets go.
    """
    run_dir = Path(run_dir)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
        os.close(fd)
        raise RunBusy(
            f"run {run_dir.name} is already running (another process holds {LOCK_FILE}); "
            "stop it or wait for it to end before starting or resuming it again"
        )


def adopt_or_lock_run(run_dir: str | Path) -> int:
    """The lock ``start_run`` handed to this process (``$SEGDASH_RUN_LOCK_FD``), else ``lock_run``."""
    raw = os.environ.pop(LOCK_FD_ENV, None)
    if raw and raw.isdigit():
        fd = int(raw)
        with contextlib.suppress(OSError):
            if _same_file(os.fstat(fd), os.stat(Path(run_dir) / LOCK_FILE)):
                os.set_inheritable(fd, False)  # ours alone from here: child processes must not keep it
                return fd
    return lock_run(run_dir, wait=2)  # a run killed a moment ago may still be letting go


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# --- leftovers, the best swap, and metrics after a resume ---------------------------------------

_OLD_COPY = re.compile(r"\.(?P<name>.+)\.old\.\d+")


def clean_leftovers(folder: Path) -> None:
    """Remove what a killed writer left in ``folder``: ``.NAME.*.tmp`` files and folders, ``.NAME.old.PID``.

    An old copy whose folder is missing (a kill between the two renames of a swap) is put back
    instead. Call only while holding the run's lock: a live writer's temporaries look the same.
    """
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        old = _OLD_COPY.fullmatch(path.name)
        if old and path.is_dir() and not (folder / old.group("name")).exists():
            os.replace(path, folder / old.group("name"))
        elif path.name.startswith(".") and (old or path.name.endswith(".tmp")):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def remove_unstarted(run_dir: str | Path) -> bool:
    """Remove a run folder whose run ended before it wrote anything worth keeping: no checkpoint, no
    metrics line (a refused start: bad options, a dataset that does not open, Ctrl-C while loading).

    Only the files a start writes are there to remove (run.json saying why it failed, config.json,
    run.lock, previews); a folder holding anything else, or whose lock another process holds, is left
    alone. True when it was removed. Call it for a folder this process created, after letting go of its lock.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    metrics = run_dir / METRICS_FILE
    checkpoints = run_dir / CHECKPOINTS_DIR
    if (metrics.is_file() and metrics.stat().st_size) or (checkpoints.is_dir() and any(checkpoints.iterdir())):
        return False
    written = {RUN_FILE, CONFIG_FILE, LOCK_FILE, METRICS_FILE, CHECKPOINTS_DIR, PREVIEWS_DIR, STOP_FILE}
    if any(p.name not in written and not p.name.startswith(".") for p in run_dir.iterdir()):
        return False
    try:
        fd = lock_run(run_dir)
    except (RunBusy, OSError):
        return False
    try:
        shutil.rmtree(run_dir)
    finally:
        os.close(fd)
    return True


def find_best(checkpoints: Path) -> Path | None:
    """``checkpoints/best``, or the old copy a swap cut short left aside (until the next start puts it back)."""
    best = checkpoints / BEST_NAME
    if best.is_dir():
        return best
    aside = sorted(checkpoints.glob(f".{BEST_NAME}.old.*"))
    return aside[-1] if aside and aside[-1].is_dir() else None


def rename_exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); OSError where unsupported."""
    libc = ctypes.CDLL(None, use_errno=True)
    exchange = getattr(libc, "renameat2", None)
    if exchange is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    at_fdcwd, rename_exchange_flag = -100, 2
    if exchange(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange_flag) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(b))


def swap_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``: at every instant ``target`` is the old or the new folder, whole.

    One atomic exchange where the file system allows it; else two renames, with the old folder
    put back if the second fails (and by ``clean_leftovers`` after a kill between them).
    """
    if not target.exists():
        os.replace(new, target)
        return
    try:
        rename_exchange(new, target)
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.replace(target, old)
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(old, target)
            raise
        new = old
    shutil.rmtree(new, ignore_errors=True)  # the old folder, now under the temporary name


def drop_metrics_after(run_dir: Path, last_step: int, first_epoch: int) -> None:
    """Keep metrics.jsonl's step lines up to ``last_step`` and epoch lines before ``first_epoch``.

    A resumed run repeats what came after its checkpoint; those lines (and a half-written last
    one) go first, so no step or epoch is logged twice. The file is rewritten only if needed.
    """
    path = run_dir / METRICS_FILE
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return
    kept = []
    for line in lines:
        try:
            record = json.loads(line) if line.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):
            continue
        if record.get("kind") == "epoch":
            keep = int(record.get("epoch") or 0) < first_epoch
        else:
            keep = int(record.get("step") or 0) <= last_step
        if keep:
            kept.append(line.decode("utf-8"))
    text = "".join(line + "\n" for line in kept)
    if text.encode("utf-8") != b"\n".join(lines):
        atomic_write_text(path, text)
