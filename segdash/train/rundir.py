"""The run directory: what a training run writes, for any other process to read while it goes.

A run is a folder (``runs/<name>/`` by default; ``$SEGDASH_RUNS`` moves the root)::

    run.json            the run's state, rewritten atomically (write + rename) on every change
    metrics.jsonl       one JSON object per line, appended as whole lines (a reader never sees half a line)
    config.json         the TrainConfig as JSON (``segdash train --config`` input; same as run.json["config"])
    checkpoints/
        epoch_K/        checkpoint after epoch K (1-based), the core format (segdash.models.checkpoint),
                        written as a temporary folder then renamed: whole or absent
        best/           a copy of the epoch with the highest val mean Dice so far
        last/           only after a stop in the middle of an epoch: the weights at that step
        resume.pt       optimizer, scheduler and counters for ``--resume`` (torch.save of tensors and
                        numbers, loaded with weights_only=True); names the checkpoint it belongs to
    previews/
        inputs.npz      fixed val images: ``images`` (N,C,S,S) as stored, ``masks`` (N,S,S) uint8/int64, ``ids`` (N,) str
        epoch_K.npz     the model's labels on them after epoch K: ``labels`` (N,S,S) uint8, ``ids`` (N,) str
    STOP                created by ``request_stop``: the run ends after the current step (status stopped)
    train.log           stdout and stderr of a run started by ``start_run``
    launch.json         written by ``start_run``: the spawned process id and command line

``run.json`` keys::

    format          1
    name            the folder name
    status          "starting" (launch.json only so far) | "running" | "finished" | "stopped" | "failed"
    error           why it failed (one line), else null
    stop_reason     why it ended early: "stop requested", "SIGTERM", "time limit (M min)",
                    "early stopping (no val Dice gain in P epochs)", else null
    config          the full TrainConfig dict
    pid, host       the writing process (rank 0) and machine; readers test liveness with them
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
steps from 1. A resumed run appends to the same file (steps keep counting).
Mean Dice/IoU are over classes defined in the validation split (undefined: absent
from both ground truth and prediction), as in ``segdash.metrics.scores``.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from segdash.fsutil import append_line, atomic_write_bytes, atomic_write_json

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
STATUSES = ("starting", "running", "finished", "stopped", "failed")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def json_number(value: Any) -> Any:
    """floats for JSON: NaN/inf -> None (JSON has no NaN); numpy scalars -> Python."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_number(v) for v in value]
    return value


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

        ``clear_stop`` (on resume) removes a STOP file left by the previous process; a new run keeps
        one, so a stop asked for while the run was still starting is honoured.
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
            self.stop_file.unlink(missing_ok=True)
        self.write()

    def update(self, throttle_seconds: float = 0.0, **fields: Any) -> None:
        """Merge ``fields`` into run.json; with ``throttle_seconds`` skip the write if one happened recently."""
        self.state.update(fields)
        now = time.monotonic()
        if throttle_seconds and now - self._last_write < throttle_seconds:
            return
        self.write()

    def write(self) -> None:
        self.state["updated"] = utc_now()
        atomic_write_json(self.run_dir / RUN_FILE, json_number_tree(self.state))
        self._last_write = time.monotonic()

    def finish(self, status: str, error: str | None = None, stop_reason: str | None = None) -> None:
        assert status in STATUSES, status
        self.state.update(status=status, error=error, stop_reason=stop_reason, finished=utc_now())
        self.write()

    # --- metrics.jsonl ----------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        append_line(self.run_dir / METRICS_FILE, json.dumps(json_number_tree(record), allow_nan=False))

    # --- STOP -------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    # --- previews ---------------------------------------------------------------------
    def write_preview_inputs(self, images: np.ndarray, masks: np.ndarray, ids: list[str]) -> None:
        write_npz(self.previews / PREVIEW_INPUTS, images=images, masks=masks, ids=np.asarray(ids, dtype=str))

    def write_preview(self, epoch: int, labels: np.ndarray, ids: list[str]) -> None:
        labels = labels.astype(np.uint8) if labels.max(initial=0) < 256 else labels
        write_npz(self.previews / f"epoch_{int(epoch)}.npz", labels=labels, ids=np.asarray(ids, dtype=str))


def json_number_tree(obj: Any) -> Any:
    """A copy of ``obj`` safe for strict JSON: NaN/inf -> None, numpy -> Python."""
    if isinstance(obj, dict):
        return {str(k): json_number_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_number_tree(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_number_tree(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return json_number(obj)


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
