"""The start page: what the dashboard is, what is loaded, and one click to a first prediction."""

from __future__ import annotations

import streamlit as st

from segdash.errors import SegdashError
from segdash.ui import cache, state, visitor, warmup
from segdash.ui.gallery import example_split
from segdash.ui.sidebar import DATASET_UNAVAILABLE, SidebarChoice
from segdash.ui.widgets import legend, reported_errors

INTRO = """
**segdash** shows what a semantic-segmentation model sees, how good it is, and how two models differ.
Pick a dataset and a checkpoint in the sidebar, then:

- **Predict**: upload images (PNG, JPEG, TIFF, `.npy`) or pick test samples; overlays, error and uncertainty maps.
- **Evaluate**: per-class IoU / Dice / Boundary IoU over a split, objects by size, calibration, a clickable
  confusion matrix, the worst images.
- **Dataset**: class imbalance: pixel shares, where each class lives, object sizes, co-occurrence, split drift.
- **Train**: a short training run with live loss and Dice curves; its checkpoints join the model picker.
- **Compare**: checkpoints side by side with paired statistics: is B really better, for which classes, where.
"""


def show_intro() -> None:
    st.markdown(INTRO)


def show_dataset(choice: SidebarChoice) -> None:
    """Name, source, classes and splits of the loaded dataset."""
    ds = choice.dataset
    st.markdown("#### Data")
    if ds is None:
        st.info(DATASET_UNAVAILABLE)
        return
    st.markdown(f"**{choice.dataset_choice.label}** — {ds.num_classes} classes, {ds.in_channels} input channel(s)")
    if ds.source:
        st.caption(f"Source: {ds.source}")
    legend(ds.classes, ds.colors)
    st.caption(" · ".join(f"{split}: {len(ds.ids(split))} images" for split in ds.splits()))
    if ds.description:
        with st.expander("About this dataset"):
            st.markdown(ds.description)


def show_model(choice: SidebarChoice) -> None:
    """Architecture, origin and recorded scores of the chosen checkpoint."""
    st.markdown("#### Model")
    model = choice.model_choice
    if not model.is_set:
        st.info("No checkpoint chosen: pick one in the sidebar, or train one on the Train page.")
        return
    with reported_errors("model"):
        meta = cache.checkpoint_meta(model.path)
        st.markdown(f"**{meta.arch}** with encoder **{meta.encoder}**, trained on **{meta.dataset or 'unknown data'}**"
                    + (f", epoch {meta.epoch}" if meta.epoch is not None else ""))
        st.caption(f"Checkpoint: `{state.display_path(model.path)}`")
        scores = headline_scores(meta.metrics or {})
        if scores:
            st.markdown(" · ".join(f"{name} **{value:.3f}**" for name, value in scores))
    st.caption(f"Device: {choice.device}")


def headline_scores(metrics: dict, limit: int = 4) -> list[tuple[str, float]]:
    """The checkpoint's recorded Dice / IoU scores, test before validation: [("test mean dice", 0.95), ...]."""
    numeric = [(k, float(v)) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    wanted = [(k, v) for k, v in numeric if "dice" in k or "iou" in k]
    wanted.sort(key=lambda kv: (not kv[0].startswith("test"), "iou" in kv[0], kv[0]))
    return [(k.replace("_", " "), v) for k, v in (wanted or numeric)[:limit]]


def first_prediction_button(choice: SidebarChoice) -> None:
    """One click: Predict on a test sample that shows every class."""
    ds = choice.dataset
    if ds is None or not choice.model_choice.is_set:
        return
    split = example_split(ds)
    if st.button("Predict a test image now", type="primary", icon=":material/play_arrow:", key="home.first"):
        with reported_errors("first prediction"):
            sample_id = cache.showcase_sample(ds, cache.dataset_key(choice.dataset_choice), split)
            state.request_prediction(split, [sample_id], reason="a test image showing every class")
            st.switch_page("pages/predict.py")


def warm_up(choice: SidebarChoice) -> None:
    """Start loading the chosen model in the background: the first prediction is then quick.

    Usually the default model, which ``app.py``'s warm-up thread is already loading; a checkpoint
    picked in the sidebar starts its own thread. The page never waits for it.
    """
    if not choice.model_choice.is_set:
        return
    try:
        visitor.check_visible(choice.model_choice.path)  # public mode: only what this visitor may use
    except SegdashError:  # not this visitor's to use: the page's own load would say so
        return
    warmup.start(choice.model_choice)
