"""The chosen model in the chosen dataset's classes, when the two differ (a SegFormer of ADE20K's 150 classes on
a street dataset): the pages' side of ``segdash.infer.mapped``.

Predict maps the predictions of dataset samples (they are drawn beside ground truth in the dataset's
classes) and leaves uploads in the model's own classes; Evaluate scores a mapped predictor and says which
mapping ran and how many pixels went to unmapped classes. Classes are mapped by name (the CLI's
``--class-map FILE`` is for the command line).
"""

from __future__ import annotations

import streamlit as st

from segdash.ui import cache
from segdash.ui.sidebar import SidebarChoice

#: Set on an ``Evaluation`` scored through a mapping: ``MappedPredictor.summary()``.
SUMMARY_ATTRIBUTE = "class_mapping"
#: Share of pixels predicted as unmapped classes above which the mapping's line is shown as a warning.
UNMAPPED_WARNING = 0.05


def mapping(choice: SidebarChoice):
    """The ``ClassMapping`` of the chosen model onto the chosen dataset, or None when their classes are the same
    (or there is no dataset, or no class maps: the sidebar says so)."""
    from segdash.errors import SegdashError
    from segdash.models.checkpoint import check_compatible

    if choice.dataset is None or not choice.model_choice.is_set:
        return None
    try:
        found = check_compatible(cache.checkpoint_meta(choice.model_choice.path), choice.dataset)
    except SegdashError:
        return None
    return None if found.identity else found


@st.cache_resource(show_spinner=False, max_entries=6)
def _mapped(path: str, device: str, stamp: float, dataset_key: str, _inner, _mapping, _colors):
    from segdash.infer.mapped import MappedPredictor

    return MappedPredictor(_inner, _mapping, colors=_colors)  # the dataset's colours, as its ground truth is drawn


def predictor(choice: SidebarChoice, item=None):
    """The predictor Predict uses for ``item``: mapped onto the dataset's classes for a sample with ground truth,
    the model's own for an upload; and the suffix its cache key needs."""
    inner = cache.predictor(choice.model_choice)
    found = mapping(choice) if item is None or getattr(item, "mask", None) is not None else None
    if found is None:
        return inner, ""
    key = cache.dataset_key(choice.dataset_choice)
    model = choice.model_choice
    colors = getattr(choice.dataset, "colors", None)
    mapped = _mapped(model.path, model.device, cache.checkpoint_stamp(model.path), key, inner, found, colors)
    return mapped, f"|mapped onto {key}"


def drawn_classes(choice: SidebarChoice, meta, samples: bool) -> list[str]:
    """The class names Predict draws in: the dataset's for its samples when the model's classes map onto them."""
    return list(choice.dataset.classes) if samples and mapping(choice) is not None else list(meta.classes)


def shown_meta(choice: SidebarChoice, meta, inputs):
    """The metadata Predict draws ``inputs`` with: the dataset's classes when samples are mapped, else ``meta``."""
    if not any(getattr(item, "mask", None) is not None for item in inputs) or mapping(choice) is None:
        return meta
    return predictor(choice, inputs[0])[0].meta


def evaluation_predictor(choice: SidebarChoice):
    """A predictor for one evaluation in the dataset's classes (a fresh wrapper: its pixel counts are this run's)."""
    from segdash.infer.mapped import for_dataset

    return for_dataset(cache.predictor(choice.model_choice), choice.dataset)


def with_summary(evaluation, predictor):
    """``evaluation`` with the mapping that ran and its unmapped pixels (``SUMMARY_ATTRIBUTE``), when one ran."""
    from segdash.infer.mapped import mapping_summary

    summary = mapping_summary(predictor)
    if summary is not None:
        setattr(evaluation, SUMMARY_ATTRIBUTE, summary)
    return evaluation


def caption(evaluation, choice: SidebarChoice | None = None) -> None:
    """One line under an evaluation's summary: which class mapping ran and the unmapped pixels, and how the model
    takes the dataset's channels (nothing when there is nothing to say)."""
    from segdash.infer.mapped import summary_line
    from segdash.models.checkpoint import channel_note

    summary = getattr(evaluation, SUMMARY_ATTRIBUTE, None)
    parts = [summary_line(summary)]
    if choice is not None and choice.dataset is not None and choice.model_choice.is_set:
        try:
            meta = cache.checkpoint_meta(choice.model_choice.path)
            parts.append(channel_note(meta.in_channels, choice.dataset.in_channels) or "")
        except Exception:  # the sidebar says why the model does not open
            pass
    text = "; ".join(p for p in parts if p)
    if text:
        text = f":material/swap_horiz: {text[0].upper()}{text[1:]}"
        # scores that stand mostly on the model's second choices are not its skill on these classes: say it in colour
        unsure = (summary or {}).get("unmapped_share") or 0
        st.caption(f":orange[{text}]" if unsure >= UNMAPPED_WARNING else text)
