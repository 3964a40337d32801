"""Start, watch and stop training runs from another process (the dashboard), never blocking on them.

    run_dir = start_run(TrainConfig(epochs=5))   # spawns ``python -m segdash train --config ... --out RUN_DIR``
    state = read_run(run_dir)                    # RunState: status, is_alive, epochs (DataFrame), steps, ...
    request_stop(run_dir)                        # the run ends after its current step (status "stopped")
    for state in list_runs():                    # newest first; a refreshed page re-attaches this way
        ...

The files read here are described in ``segdash.train.rundir``. Runs are separate
processes (a new session: closing the dashboard does not kill them); liveness
comes from the pid and its start time in run.json or launch.json on this host (a
pid alone could be a later, unrelated process). ``start_run`` takes the run
folder's lock before it spawns the process and hands it over, so a second start
or resume of a live run is refused at once, even while the first is still starting;
``max_runs`` caps the runs alive under one root (checked and claimed under a lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_json, atomic_write_text
from segdash.train.config import TrainConfig
from segdash.train.rundir import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LAUNCH_FILE,
    LOCK_FD_ENV,
    LOG_FILE,
    METRICS_FILE,
    PREVIEW_INPUTS,
    PREVIEWS_DIR,
    RESUME_FILE,
    RUN_FILE,
    STOP_FILE,
    RunBusy,
    clean_leftovers,
    find_best,
    lock_run,
    process_alive,
    process_start_time,
    read_json,
    utc_now,
)

RUNS_ENV = "SEGDASH_RUNS"
#: Statuses that mean "the process should be alive".
_ACTIVE = ("starting", "running")


def default_runs_root() -> Path:
    """``$SEGDASH_RUNS`` or ``runs/`` (relative to the working directory; git-ignored)."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


@dataclasses.dataclass
class RunState:
    """A snapshot of one run directory.

    ``status`` is what the run last wrote; ``state`` corrects it for a process
    that died without writing (``"died"``). ``epochs`` has one row per finished
    epoch (columns: epoch, step, train_loss, val_loss, val_mean_dice,
    val_mean_iou, val_pixel_accuracy, val_dice, val_iou (lists), lr, seconds,
    time, plus ``dice_<class>``/``iou_<class>`` per class); ``steps`` one row per
    logged step (step, epoch, train_loss, lr, time).
    """

    run_dir: Path
    info: dict[str, Any]
    config: dict[str, Any]
    epochs: Any  # pandas.DataFrame
    steps: Any  # pandas.DataFrame
    is_alive: bool

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def status(self) -> str:
        return str(self.info.get("status", "starting"))

    @property
    def state(self) -> str:
        """``status``, or ``"died"`` when it says starting/running but its process is gone."""
        if self.status in _ACTIVE and not self.is_alive:
            return "died"
        return self.status

    @property
    def error(self) -> str | None:
        if self.state == "died":
            return self.info.get("error") or f"the training process ended without a word; see {self.log_path}"
        return self.info.get("error")

    @property
    def stop_reason(self) -> str | None:
        return self.info.get("stop_reason")

    @property
    def epoch(self) -> int:
        return int(self.info.get("epoch") or 0)

    @property
    def total_epochs(self) -> int:
        return int(self.info.get("epochs") or self.config.get("epochs") or 0)

    @property
    def step(self) -> int:
        return int(self.info.get("step") or 0)

    @property
    def steps_per_epoch(self) -> int | None:
        value = self.info.get("steps_per_epoch")
        return int(value) if value else None

    @property
    def progress(self) -> float:
        """Share of planned steps done, 0..1."""
        total = (self.steps_per_epoch or 0) * self.total_epochs
        return min(1.0, self.step / total) if total else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Seconds to the planned end, from the training time so far and the share of steps done (None: unknown)."""
        seconds = float(self.info.get("seconds") or 0.0)
        if self.progress <= 0 or self.progress >= 1 or seconds <= 0:
            return None
        left = seconds * (1 - self.progress) / self.progress
        limit = self.config.get("max_minutes")
        return min(left, max(0.0, 60 * float(limit) - seconds)) if limit else left

    @property
    def can_resume(self) -> bool:
        """Not alive, has ``resume.pt``, and epochs (or steps of one) are left to run."""
        if self.state in _ACTIVE or not (self.run_dir / CHECKPOINTS_DIR / RESUME_FILE).is_file():
            return False
        return self.status != "finished" or self.epoch < self.total_epochs

    @property
    def stop_requested(self) -> bool:
        return (self.run_dir / STOP_FILE).exists()

    @property
    def best(self) -> dict[str, Any] | None:
        return self.info.get("best")

    @property
    def classes(self) -> list[str]:
        return list(self.info.get("classes") or [])

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_FILE

    @property
    def checkpoints(self) -> list[Path]:
        """Checkpoint folders of the run: ``epoch_K`` in epoch order, then ``best`` and ``last`` if present."""
        folder = self.run_dir / CHECKPOINTS_DIR
        if not folder.is_dir():
            return []
        epochs = sorted((p for p in folder.glob("epoch_*") if p.name[6:].isdigit() and p.is_dir()),
                        key=lambda p: int(p.name[6:]))
        best = find_best(folder)
        return epochs + ([best] if best else []) + ([folder / "last"] if (folder / "last").is_dir() else [])

    @property
    def best_checkpoint(self) -> Path | None:
        """``checkpoints/best`` (or, after a swap cut short by a kill, the old copy beside it)."""
        return find_best(self.run_dir / CHECKPOINTS_DIR)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of train.log (progress bars' carriage returns resolved)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines()]
        return "\n".join(rows[-lines:])

    def previews(self) -> dict[str, Any] | None:
        """Preview predictions: ``{"images", "masks", "ids", "sizes" ((N,2) H,W or None), "epochs": {K: labels}}``."""
        import numpy as np

        folder = self.run_dir / PREVIEWS_DIR
        try:
            with np.load(folder / PREVIEW_INPUTS, allow_pickle=False) as npz:
                out: dict[str, Any] = {"images": npz["images"], "masks": npz["masks"], "ids": [str(i) for i in npz["ids"]],
                                       "sizes": npz["sizes"] if "sizes" in npz.files else None}
        except (FileNotFoundError, OSError, ValueError, KeyError):
            return None
        out["epochs"] = {}
        for path in folder.glob("epoch_*.npz"):
            match = re.fullmatch(r"epoch_(\d+)\.npz", path.name)
            if not match:
                continue
            try:
                with np.load(path, allow_pickle=False) as npz:
                    out["epochs"][int(match.group(1))] = npz["labels"]
            except (OSError, ValueError, KeyError):
                continue
        out["epochs"] = dict(sorted(out["epochs"].items()))
        return out


def read_metrics(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(step records, epoch records) from metrics.jsonl; a line being written (no newline yet) is skipped."""
    steps, epochs = [], []
    try:
        data = (Path(run_dir) / METRICS_FILE).read_bytes()
    except FileNotFoundError:
        return steps, epochs
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is not a whole line yet
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        (epochs if record.get("kind") == "epoch" else steps).append(record)
    return steps, epochs


def read_run(run_dir: str | Path) -> RunState:
    """A snapshot of a run directory (works while the run writes it)."""
    import pandas as pd

    run_dir = Path(run_dir)
    info = read_json(run_dir / RUN_FILE)
    launch = read_json(run_dir / LAUNCH_FILE)
    if info is None:
        if launch is None:
            raise SegdashError(f"{run_dir} is not a training run (no {RUN_FILE} or {LAUNCH_FILE})")
        info = {"status": "starting", "pid": launch.get("pid"), "pid_start": launch.get("pid_start"),
                "host": launch.get("host"), "started": launch.get("started"), "name": run_dir.name}
    launched_alive = launch is not None and _is_alive(launch)
    if launched_alive and info.get("status") not in _ACTIVE and str(launch.get("started") or "") >= str(
        info.get("updated") or ""
    ):  # a resume spawned after the last write: its process has not written run.json yet
        info = {**info, "status": "starting", "error": None, "stop_reason": None}
    config = info.get("config") or read_json(run_dir / CONFIG_FILE) or {}
    steps, epochs = read_metrics(run_dir)
    epochs_frame = pd.DataFrame(epochs)
    classes = list(info.get("classes") or [])
    if len(epochs_frame) and classes:
        for key, prefix in (("val_dice", "dice_"), ("val_iou", "iou_")):
            if key in epochs_frame:
                for index, name in enumerate(classes):
                    epochs_frame[prefix + name] = [
                        (row[index] if isinstance(row, list) and index < len(row) else None) for row in epochs_frame[key]
                    ]
    steps_frame = pd.DataFrame(steps, columns=["step", "epoch", "train_loss", "lr", "time"]) if steps else pd.DataFrame(
        columns=["step", "epoch", "train_loss", "lr", "time"]
    )
    return RunState(run_dir, info, config, epochs_frame, steps_frame, _is_alive(info) or launched_alive)


def read_run_or_none(run_dir: Path, alive: bool = False) -> RunState | None:
    """``read_run``, or None for a folder that is not a run (yet); with ``alive``, None unless it is alive."""
    try:
        state = read_run(run_dir)
    except SegdashError:
        return None
    return state if not alive or state.is_alive else None


def _is_run_folder(folder: Path) -> bool:
    return folder.is_dir() and ((folder / RUN_FILE).is_file() or (folder / LAUNCH_FILE).is_file())


def list_runs(root: str | Path | None = None, nested: bool = False) -> list[RunState]:
    """All runs under ``root`` (default ``default_runs_root()``), newest first.

    A run is a visible folder right under ``root``; with ``nested`` also one inside a folder right under
    it that is not a run itself, hidden or not (the dashboard's per-visitor folders, ``runs/exp/a``).
    """
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    folders = [f for f in root.iterdir() if not f.name.startswith(".") and _is_run_folder(f)]
    if nested:
        for parent in root.iterdir():
            if parent.is_dir() and not _is_run_folder(parent):
                folders += [f for f in parent.iterdir() if not f.name.startswith(".") and _is_run_folder(f)]
    runs = []
    for folder in folders:
        try:
            runs.append(read_run(folder))
        except SegdashError:
            continue
    return sorted(runs, key=lambda r: (str(r.info.get("started") or ""), r.name), reverse=True)


def _is_alive(record: dict[str, Any]) -> bool:
    """True when the process a run.json / launch.json names still runs on this machine, as that process.

    The recorded start time must match; a record without one (older runs) must at least name a
    process running segdash, so a pid reused by an unrelated program never reads as "running".
    """
    pid = record.get("pid")
    if not pid or (record.get("host") and record.get("host") != socket.gethostname()):
        return False
    start = record.get("pid_start")
    if start is None and Path("/proc/self/cmdline").exists():
        try:
            if b"segdash" not in Path(f"/proc/{int(pid)}/cmdline").read_bytes():
                return False
        except (OSError, ValueError):
            return False
    return process_alive(pid, start)


def request_stop(run_dir: str | Path) -> None:
    """Ask a run to end after its current step: it saves a checkpoint and says ``stopped``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SegdashError(f"run folder {run_dir} does not exist")
    atomic_write_text(run_dir / STOP_FILE, utc_now() + "\n")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "run"


def new_run_dir(config: TrainConfig, root: str | Path | None = None, name: str | None = None) -> Path:
    """A fresh folder ``<root>/<UTC time>-<dataset>-<arch>`` (or ``name``), not yet existing."""
    root = Path(root) if root is not None else default_runs_root()
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = _slug(name) if name else f"{stamp}-{_slug(Path(config.dataset).name)}-{_slug(config.arch)}"
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}-{n}"
    return candidate


class RunsFull(SegdashError):
    """As many runs as ``max_runs`` allows are alive."""


def start_run(
    config: TrainConfig,
    runs_root: str | Path | None = None,
    name: str | None = None,
    resume_dir: str | Path | None = None,
    python: str | None = None,
    max_runs: int | None = None,
    slots_root: str | Path | None = None,
) -> Path:
    """Spawn ``python -m segdash train`` as a detached process; return the run folder at once.

    The process outlives the caller (own session), writes stdout and stderr to
    ``train.log`` in the run folder, and reads its options from ``config.json``
    there. With ``resume_dir`` it continues that run instead (``--resume``).
    Raises ``RunBusy`` when the run folder is locked by a live process, and
    ``RunsFull`` when ``max_runs`` runs are alive under ``slots_root`` (default: the runs root;
    the dashboard's public mode gives the root above its visitors' folders, so the cap is over all of them).
    """
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        if not (run_dir / RUN_FILE).is_file():
            raise SegdashError(f"{run_dir} is not a training run (no {RUN_FILE}); nothing to resume")
        if not (run_dir / CHECKPOINTS_DIR / RESUME_FILE).is_file():
            raise SegdashError(f"run {run_dir.name} has no checkpoint to resume from yet; start a new run")
        root = run_dir.parent
    else:
        root = Path(runs_root) if runs_root is not None else default_runs_root()
    root.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(root)
    with _claiming_a_slot(Path(slots_root) if slots_root is not None else root, max_runs):
        if resume_dir is None:
            run_dir = new_run_dir(config, root, name)
            run_dir.mkdir(parents=True)
        # RunBusy if alive (a run that reads as dead may still be letting go: wait a little for it);
        # the lock goes to the new process, which holds it to its end.
        lock_fd = lock_run(run_dir, wait=0 if read_run_or_none(run_dir, alive=True) else 5)
        try:
            config_path = run_dir / CONFIG_FILE
            atomic_write_json(config_path, config.to_dict())
            _spawn(run_dir, config_path, ["--resume"] if resume_dir is not None else [], lock_fd, python)
        finally:
            os.close(lock_fd)  # the child keeps its copy: the lock lasts as long as the run's process
    return run_dir


def _spawn(run_dir: Path, config_path: Path, extra: list[str], lock_fd: int, python: str | None) -> None:
    """Start the training process (own session, output to train.log) and write launch.json."""
    command = [python or sys.executable, "-m", "segdash", "train", "--config", str(config_path.resolve()),
               "--out", str(run_dir.resolve()), *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env[LOCK_FD_ENV] = str(lock_fd)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")] if p
    )
    with open(run_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=str(Path.cwd()), start_new_session=True, pass_fds=(lock_fd,),
        )
    atomic_write_json(run_dir / LAUNCH_FILE, {"pid": process.pid, "pid_start": process_start_time(process.pid),
                                              "host": socket.gethostname(), "started": utc_now(), "command": command})


def sweep_leftovers(root: str | Path) -> None:
    """Clean what killed runs left under ``root`` (temporary folders, a best/ swap cut short).

    Only runs whose lock is free are touched: a live run's temporaries are its work in progress.
    """
    for folder in Path(root).iterdir() if Path(root).is_dir() else []:
        if folder.name.startswith(".") or not (folder / RUN_FILE).is_file():
            continue
        try:
            fd = lock_run(folder)
        except (RunBusy, OSError):
            continue
        try:
            for part in (folder, folder / CHECKPOINTS_DIR, folder / PREVIEWS_DIR):
                clean_leftovers(part)
        finally:
            os.close(fd)


def alive_runs(root: str | Path | None = None) -> list[RunState]:
    """The runs under ``root`` (nested one folder deep, see ``list_runs``) whose process is alive."""
    return [run for run in list_runs(root, nested=True) if run.state in _ACTIVE]


def slot_message(alive: list[RunState], max_runs: int) -> str:
    """Why no run can start now, and when the first slot should free (the soonest planned end).

    In public mode it names neither the run (it may be another visitor's) nor the server's setting.
    """
    from segdash.public import is_public

    ends = sorted((run.seconds_left, run.name) for run in alive if run.seconds_left is not None)
    if ends:
        minutes = max(1, round(ends[0][0] / 60))
        whose = "" if is_public() else f" (when run {ends[0][1]} ends)"
        when = f"the slot frees in about {minutes} min{whose}"
    else:
        when = "the slot frees when one of them ends"
    if is_public():
        runs = "one run" if max_runs == 1 else f"{max_runs} runs"
        return f"This demo is busy: it trains {runs} at a time, and {when}; try again then"
    return (f"{len(alive)} training run(s) are running and at most {max_runs} may run at once "
            f"(SEGDASH_MAX_RUNS); {when}")


@contextlib.contextmanager
def _claiming_a_slot(root: Path, max_runs: int | None) -> Iterator[None]:
    """Count alive runs and start one under a lock on the root, so two starts cannot both take the last slot."""
    if max_runs is None:
        yield
        return
    with open(root / ".start.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held for the count and the spawn only: a fraction of a second
        alive = alive_runs(root)
        if len(alive) >= max_runs:
            raise RunsFull(slot_message(alive, max_runs))
        yield
