"""The model card: what the chosen checkpoint is, in a few lines, in the sidebar and on Predict.

Family, architecture, classes, input (channels, values, size and how an image is fitted), preprocessing,
parameters, where it came from, how its classes map onto the dataset's, and where it runs (ONNX Runtime
or PyTorch). Facts come from the checkpoint's files alone (``card_facts``: no model is built), except
"Runs on", which the loaded predictor answers when there is one.
"""

from __future__ import annotations

import streamlit as st

from segdash.ui import cache, state

#: Where each family runs when no predictor is loaded yet.
_EXPECTED_RUNTIME = {
    "onnx": "ONNX Runtime (an ONNX graph)",
    "transformers": "PyTorch (transformers)",
    "mask_classification": "PyTorch (transformers)",
}


def _numbers(values) -> str:
    return ", ".join(f"{float(v):.4g}" for v in values)


def preprocessing_text(meta) -> str:
    """How pixel values become the model's input, in words."""
    pre = meta.preprocessing
    if pre.get("processor"):
        parts = [f"{pre['processor']} from the folder's preprocessor_config.json"]
        if pre.get("rescale", 1.0) != 1.0:
            parts.append(f"rescale x{pre['rescale']:.4g}")
        if pre.get("mean") is not None:
            parts.append(f"mean {_numbers(pre['mean'])}, std {_numbers(pre['std'])}")
        if pre.get("bgr"):
            parts.append("RGB to BGR")
        if pre.get("reduce_labels"):
            parts.append("trained with labels reduced by one (label 0 ignored, as ADE20K)")
        return "; ".join(parts)
    norm = meta.normalization
    return f"(x x {norm.scale:.4g} - mean) / std; mean {_numbers(norm.mean)}, std {_numbers(norm.std)}"


def input_text(meta) -> str:
    size = meta.preprocessing.get("fit")
    if not size:
        size = f"fitted to {meta.input_size}x{meta.input_size} and back" if meta.input_size else "any size, run as it is"
    else:
        size = size.split(";")[0]
    return f"{meta.in_channels} channel(s), values {meta.input_range.describe()}; {size}"


def source_text(path: str, meta) -> str:
    where = state.display_path(path)
    if meta.source:
        return f"{meta.source} · {where}"
    trained = f"trained by segdash on {meta.dataset}" if meta.dataset else "saved by segdash"
    epoch = f", epoch {meta.epoch}" if meta.epoch is not None else ""
    return f"{trained}{epoch} · {where}"


@st.cache_data(show_spinner=False, max_entries=64)
def _facts(path: str, stamp: float) -> list[tuple[str, str]]:
    from pathlib import Path

    from segdash.models.checkpoint import classes_preview
    from segdash.models.families import get_family

    meta = cache.checkpoint_meta(path)
    family = get_family(meta.family)
    extra = family.facts(Path(path), meta)
    rows = [
        ("Family", family.summary),
        ("Architecture", extra.get("architecture") or f"{meta.arch} · {meta.encoder}"),
        ("Classes", f"{meta.num_classes}: {classes_preview(meta.classes, 12)}"),
        ("Input", input_text(meta)),
        ("Preprocessing", preprocessing_text(meta)),
    ]
    if extra.get("weights"):
        rows.append(("Weights", extra["weights"]))
    rows.append(("Came from", source_text(path, meta)))
    score = meta.metrics.get("test_mean_dice", meta.metrics.get("val_mean_dice"))
    if isinstance(score, (int, float)):
        which = "test" if "test_mean_dice" in meta.metrics else "validation"
        rows.append(("Recorded", f"mean Dice {score:.3f} on {meta.dataset or 'its'} {which} split"))
    return rows


def card_facts(path: str, dataset=None, predictor=None) -> list[tuple[str, str]]:
    """(label, text) rows of the card for the checkpoint at ``path``: files only, plus the mapping onto ``dataset``'s
    classes and, with ``predictor``, where it runs."""
    from segdash.errors import SegdashError
    from segdash.infer.mapped import mapping_notes

    rows = list(_facts(str(path), cache.checkpoint_stamp(path)))
    meta = cache.checkpoint_meta(path)
    if dataset is not None:
        try:
            notes = mapping_notes(meta, dataset)
        except SegdashError as exc:
            notes = [f"does not fit {getattr(dataset, 'name', 'the dataset')}: {str(exc).split(';')[0]}"]
        rows.append(("On this dataset", "; ".join(notes) if notes else "its classes and channels are the dataset's"))
    if predictor is not None:  # the predictor's first note says where it runs and why (ONNX Runtime or not)
        backend = "ONNX Runtime" if getattr(predictor, "backend", "") == "onnx" else "PyTorch"
        notes = list(getattr(predictor, "notes", []))
        said = notes[0] if notes and ("ONNX" in notes[0] or "PyTorch" in notes[0]) else backend
        rows.append(("Runs on", said if said.startswith(backend) else f"{backend} ({said})"))
    else:
        rows.append(("Runs on", _EXPECTED_RUNTIME.get(meta.family, "ONNX Runtime on a CPU when its export matches "
                                                                   "PyTorch, else PyTorch")))  # fmt: skip
    return rows


def _markdown(rows) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    return "\n".join(f"- **{label}**: {cell(text)}" for label, text in rows)


def show(path: str, dataset=None, predictor=None, expanded: bool = False) -> None:
    """The card in an expander; a checkpoint that does not open gets its one-line reason instead."""
    if not path:
        return
    from segdash.errors import SegdashError

    try:
        rows = card_facts(path, dataset, predictor)
    except (SegdashError, OSError):  # a folder that does not open: the picker shows why
        return
    with st.expander("Model card", expanded=expanded, icon=":material/badge:"):
        st.markdown(_markdown(rows))


def sidebar(path: str, dataset) -> None:
    """The sidebar's card, closed: under the checkpoint picker."""
    show(path, dataset)


def predict_page(choice) -> None:
    """Predict's card, with where the loaded model runs."""
    predictor = None
    try:
        predictor = cache.predictor(choice.model_choice)
    except Exception:  # Predict itself shows why the model does not load
        predictor = None
    show(choice.model_choice.path, choice.dataset, predictor)
