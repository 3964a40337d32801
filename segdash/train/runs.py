"""Start, watch and stop training runs from another process (the dashboard), never blocking on them.

    run_dir = start_run(TrainConfig(epochs=5))   # spawns ``python -m segdash train --config ... --out RUN_DIR``
    state = read_run(run_dir)                    # RunState: status, is_alive, epochs (DataFrame), steps, ...
    request_stop(run_dir)                        # the run ends after its current step (status "stopped")
    for state in list_runs():                    # newest first; a refreshed page re-attaches this way
        ...

The files read here are described in ``segdash.train.rundir``. Runs are separate
processes (a new session: closing the dashboard does not kill them); liveness
comes from the pid in run.json (or launch.json while starting) on this host.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from segdash.errors import SegdashError
from segdash.fsutil import atomic_write_json, atomic_write_text
from segdash.train.config import TrainConfig
from segdash.train.rundir import (
    BEST_NAME,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LAUNCH_FILE,
    LOG_FILE,
    METRICS_FILE,
    PREVIEW_INPUTS,
    PREVIEWS_DIR,
    RUN_FILE,
    STOP_FILE,
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
        extra = [folder / n for n in (BEST_NAME, "last") if (folder / n).is_dir()]
        return epochs + extra

    @property
    def best_checkpoint(self) -> Path | None:
        path = self.run_dir / CHECKPOINTS_DIR / BEST_NAME
        return path if path.is_dir() else None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of train.log (progress bars' carriage returns resolved)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines()]
        return "\n".join(rows[-lines:])

    def previews(self) -> dict[str, Any] | None:
        """Preview predictions: ``{"images", "masks", "ids", "epochs": {K: labels (N,S,S)}}`` or None."""
        import numpy as np

        folder = self.run_dir / PREVIEWS_DIR
        try:
            with np.load(folder / PREVIEW_INPUTS, allow_pickle=False) as npz:
                out: dict[str, Any] = {"images": npz["images"], "masks": npz["masks"], "ids": [str(i) for i in npz["ids"]]}
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
    if info is None:
        launch = read_json(run_dir / LAUNCH_FILE)
        if launch is None:
            raise SegdashError(f"{run_dir} is not a training run (no {RUN_FILE} or {LAUNCH_FILE})")
        info = {"status": "starting", "pid": launch.get("pid"), "host": launch.get("host"),
                "started": launch.get("started"), "name": run_dir.name}
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
    return RunState(run_dir, info, config, epochs_frame, steps_frame, _is_alive(info))


def list_runs(root: str | Path | None = None) -> list[RunState]:
    """All runs under ``root`` (default ``default_runs_root()``), newest first."""
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and (
            (folder / RUN_FILE).is_file() or (folder / LAUNCH_FILE).is_file()
        ):
            try:
                runs.append(read_run(folder))
            except SegdashError:
                continue
    return sorted(runs, key=lambda r: (str(r.info.get("started") or ""), r.name), reverse=True)


def _is_alive(info: dict[str, Any]) -> bool:
    """True when the run's process still runs on this machine (a zombie counts as gone)."""
    pid = info.get("pid")
    if not pid or (info.get("host") and info.get("host") != socket.gethostname()):
        return False
    proc = Path("/proc")
    if (proc / "self" / "status").exists():  # Linux: also tells a zombie (exited, not yet reaped) apart
        try:
            text = (proc / str(int(pid)) / "status").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return False
        state = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("State:")), "")
        return not state.startswith(("Z", "X"))
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def start_run(
    config: TrainConfig,
    runs_root: str | Path | None = None,
    name: str | None = None,
    resume_dir: str | Path | None = None,
    python: str | None = None,
) -> Path:
    """Spawn ``python -m segdash train`` as a detached process; return the run folder at once.

    The process outlives the caller (own session), writes stdout and stderr to
    ``train.log`` in the run folder, and reads its options from ``config.json``
    there. With ``resume_dir`` it continues that run instead (``--resume``).
    """
    if resume_dir is not None:
        run_dir = Path(resume_dir)
        if not (run_dir / RUN_FILE).is_file():
            raise SegdashError(f"{run_dir} is not a training run (no {RUN_FILE}); nothing to resume")
        state = read_run(run_dir)
        if state.is_alive:
            raise SegdashError(f"run {run_dir.name} is still running; stop it before resuming")
        config_path = run_dir / CONFIG_FILE
        atomic_write_json(config_path, config.to_dict())
        extra = ["--resume"]
    else:
        run_dir = new_run_dir(config, runs_root, name)
        run_dir.mkdir(parents=True)
        config_path = run_dir / CONFIG_FILE
        atomic_write_json(config_path, config.to_dict())
        extra = []
    command = [python or sys.executable, "-m", "segdash", "train", "--config", str(config_path.resolve()),
               "--out", str(run_dir.resolve()), *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")] if p
    )
    with open(run_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=str(Path.cwd()), start_new_session=True,
        )
    atomic_write_json(run_dir / LAUNCH_FILE, {"pid": process.pid, "host": socket.gethostname(),
                                              "started": utc_now(), "command": command})
    return run_dir
