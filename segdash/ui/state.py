"""What the user has chosen, kept in ``st.session_state`` under constant keys.

Widget values reset when the page changes unless the widget is drawn again;
the sidebar is drawn on every page (it lives in ``app.py``), and page widgets
worth remembering (overlay opacity, mode, classes) use ``persist_state="session"``. Pages read the current choice with ``current_choice()``
and never parse widget keys themselves.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import streamlit as st

# --- sidebar: dataset ---------------------------------------------------------------
DATASET = "sd.dataset"  # a built-in name, or FOLDER
DATASET_PATH = "sd.dataset.path"
DATASET_FORMAT = "sd.dataset.format"
DATASET_OPTIONS = "sd.dataset.options"  # "key=value, key=value"
FOLDER = "Folder on disk…"

# --- sidebar: model -----------------------------------------------------------------
MODEL = "sd.model"  # + the dataset (model_key): a checkpoint folder (str), or CUSTOM_MODEL
MODEL_PATH = "sd.model.path"
CUSTOM_MODEL = "Checkpoint folder…"
DEVICE = "sd.device"  # "auto", "cpu", "cuda", ...

# --- overlay controls (shared by Predict, Dataset, Evaluate, Compare) -----------------
OVERLAY_ALPHA = "sd.overlay.alpha"
OVERLAY_MODE = "sd.overlay.mode"  # "fill" | "contour"
OVERLAY_CLASSES = "sd.overlay.classes"  # + the class names: classes drawn

# --- hand-over between pages ---------------------------------------------------------
#: ``PredictRequest`` set by Home / Evaluate / Dataset to open samples in Predict.
PREDICT_REQUEST = "sd.predict.request"
#: run directory the Train page follows.
TRAIN_RUN = "sd.train.run"
#: this browser session's token: in public mode its runs live in a folder named by it (``segdash.ui.visitor``).
VISITOR = "sd.visitor"


def repo_root() -> Path:
    """The folder holding ``app.py``, ``weights/`` and ``runs/``."""
    return Path(__file__).resolve().parents[2]


def weights_dir() -> Path:
    """Shipped checkpoints (``$SEGDASH_WEIGHTS`` overrides, for tests)."""
    return Path(os.environ.get("SEGDASH_WEIGHTS") or repo_root() / "weights")


def runs_dir() -> Path:
    """Training runs: ``$SEGDASH_RUNS`` or ``runs/`` (the training package's default root)."""
    from segdash.train.runs import default_runs_root

    return default_runs_root().resolve()


def display_path(path: str | Path) -> str:
    """A checkpoint or run folder as the page shows it: relative to the app's folder when inside it
    (``weights/brain-mri_unet_lite0_best``) or to the weights' or runs' folder's parent, so the page never
    shows where the server keeps its files; any other folder by its name alone (``infer.compare.shown_path``,
    the one policy for reports and pages)."""
    from segdash.infer.compare import shown_path

    return shown_path(path, (repo_root(), weights_dir().resolve().parent, runs_dir().parent))


@dataclasses.dataclass(frozen=True)
class DatasetChoice:
    """A dataset the user picked: a built-in name, or a folder with its format."""

    name: str
    format: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def is_builtin(self) -> bool:
        return self.format is None

    @property
    def label(self) -> str:
        return self.name if self.is_builtin else f"{self.name} ({self.format})"


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """A checkpoint folder the user picked (``path`` empty when none is chosen yet)."""

    path: str
    device: str = "auto"

    @property
    def is_set(self) -> bool:
        return bool(self.path)


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    """Open these samples of a split in Predict (from Home, Evaluate or Dataset)."""

    split: str
    sample_ids: tuple[str, ...]
    reason: str = ""


def model_key(dataset: DatasetChoice) -> str:
    """Session key of the checkpoint picker: one per dataset, so each dataset remembers its model."""
    return f"{MODEL}.{dataset.name}|{dataset.format or ''}"


def request_prediction(split: str, sample_ids, reason: str = "") -> None:
    """Ask the Predict page to show these samples next time it is drawn."""
    st.session_state[PREDICT_REQUEST] = PredictRequest(split, tuple(str(i) for i in sample_ids), reason)
