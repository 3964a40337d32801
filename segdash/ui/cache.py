"""Everything the dashboard loads or computes once and reuses (which checkpoints a visitor may
pick is ``segdash.ui.visitor``'s business; finding and describing them, ``segdash.models.catalog``'s).

``st.cache_resource`` holds objects shared by every session (datasets, predictors:
read-only after loading, so thread-safe); ``st.cache_data`` holds tables
(statistics, metadata). Keys are plain strings and numbers; a checkpoint's key
includes its files' modification time, so a re-written ``best/`` is reloaded.
Switching pages never reloads a model.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import streamlit as st

from segdash import public
from segdash.data.labels import class_pixel_counts
from segdash.data.splits import evenly_spaced
from segdash.ui import state


# --- datasets ---------------------------------------------------------------------------
@st.cache_resource(show_spinner="Opening the dataset…", max_entries=8)
def _open_dataset(name: str, format: str | None, options: tuple[tuple[str, str], ...]):
    from segdash.data import open_dataset

    return open_dataset(name, format=format, **dict(options))


def dataset(choice: state.DatasetChoice):
    """The dataset for a sidebar choice (raises SegdashError for a bad folder or format)."""
    from segdash.errors import SegdashError

    if not choice.name:
        raise SegdashError("type the dataset folder's path in the sidebar")
    if public.is_public() and (not choice.is_builtin or choice.options):
        raise SegdashError("this demo offers the built-in datasets only")
    return _open_dataset(choice.name, choice.format, choice.options)


def dataset_key(choice: state.DatasetChoice) -> str:
    """A string naming a dataset choice, for cache keys."""
    options = ",".join(f"{k}={v}" for k, v in choice.options)
    return f"{choice.name}|{choice.format or ''}|{options}"


# --- checkpoints ------------------------------------------------------------------------
def checkpoint_stamp(path: str | Path) -> float:
    """Latest modification time of a checkpoint folder's files (0 when missing)."""
    folder = Path(path)
    try:
        return max((f.stat().st_mtime for f in folder.iterdir() if f.is_file()), default=0.0)
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=256)
def _read_meta(path: str, stamp: float):
    from segdash.models.checkpoint import read_meta

    return read_meta(path)


def checkpoint_meta(path: str | Path):
    """The ``CheckpointMeta`` of a checkpoint folder (raises SegdashError when it is not one)."""
    return _read_meta(str(path), checkpoint_stamp(path))


@st.cache_resource(show_spinner="Loading the model…", max_entries=6)
def _load_predictor(path: str, device: str, stamp: float):
    from segdash.infer.predictor import Predictor

    return Predictor.from_checkpoint(path, device=device)


def predictor(choice: state.ModelChoice):
    """The ``Predictor`` of the chosen checkpoint on the chosen device, loaded once."""
    from segdash.errors import SegdashError

    if not choice.is_set:
        raise SegdashError("choose a model in the sidebar (shipped weights, a training run's checkpoint or a folder)")
    from segdash.ui.visitor import check_visible

    check_visible(choice.path)
    return load_predictor(choice)


def load_predictor(choice: state.ModelChoice):
    """``predictor`` without public mode's visibility check, which needs a session: for the background
    warm-up (``segdash.ui.warmup``), given only checkpoints the sidebar offers. The same cache entry,
    so a page asking while the warm-up loads waits for it (Streamlit locks each entry while it is
    computed) instead of loading a second copy."""
    from segdash.errors import SegdashError

    folder = Path(choice.path).expanduser()
    if not folder.is_dir():
        raise SegdashError(f"checkpoint folder {str(folder)!r} does not exist")
    return _load_predictor(str(folder), choice.device, checkpoint_stamp(folder))


def predictor_for(path: str | Path, device: str = "auto"):
    """A ``Predictor`` for any checkpoint folder (Compare uses several)."""
    return predictor(state.ModelChoice(str(path), device))


# --- device -------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def device_label(preferred: str = "auto") -> str:
    """'GPU: NVIDIA H100 …' or 'CPU (2 threads)' for the device the predictor will use."""
    from segdash.device import choose_device, describe_device

    return describe_device(choose_device(preferred))


@st.cache_resource(show_spinner=False)
def device_options() -> list[str]:
    import torch

    options = ["auto", "cpu"]
    if torch.cuda.is_available():
        options += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return options


# --- statistics and samples ------------------------------------------------------------------
@st.cache_data(show_spinner="Counting class pixels…", max_entries=32)
def class_stats(_dataset, key: str, split: str):
    """``ClassStats`` of a split (streamed once, then cached on disk by segdash)."""
    from segdash.data.stats import class_statistics

    # one pass in this process: the server's threads make forking worker processes unsafe here
    return class_statistics(_dataset, split)


@st.cache_data(show_spinner=False, max_entries=32)
def example_samples(_dataset, key: str, split: str, count: int = 4, scan: int = 64) -> list[str]:
    """Up to ``count`` sample ids of ``split`` that make good examples, best first.

    Among ``scan`` evenly spaced samples, each is scored by how many classes it shows and how much
    foreground; ids are grouped by their prefix (``axial_``, ``coronal_`` ...) and taken in turn
    from each group, so the examples differ (three views of a brain, not three neighbouring slices).
    """
    ids = _dataset.ids(split)
    picks = evenly_spaced(ids, scan)
    scored = []
    for sample_id in picks:
        _, mask, _ = _dataset.load(split, sample_id)
        if mask is None:
            return picks[:count]
        counts = class_pixel_counts(mask, _dataset.num_classes)
        scored.append(((int((counts[1:] > 0).sum()), int(counts[1:].sum())), sample_id))
    groups: dict[str, list[str]] = {}
    for _, sample_id in sorted(scored, key=lambda pair: pair[0], reverse=True):
        groups.setdefault(sample_id.rpartition("_")[0], []).append(sample_id)
    ordered = [sample_id for round_ in itertools.zip_longest(*groups.values()) for sample_id in round_ if sample_id]
    return ordered[:count]


def showcase_sample(_dataset, key: str, split: str) -> str:
    """The sample id of ``split`` showing the most classes and the most foreground: a good first prediction
    (a slice through the middle of the brain, not its edge)."""
    return example_samples(_dataset, key, split)[0]
