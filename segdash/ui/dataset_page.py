"""Dataset: class imbalance per split, suggested class weights, a sample browser, and imbalance vs IoU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from segdash.ui import cache, state
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import OverlaySettings, reported_errors

SAMPLES_PER_PAGE = 8


def split_statistics(choice: SidebarChoice) -> dict:
    """``{split: ClassStats}`` for every split that has masks (cached in memory and on disk)."""
    ds = choice.dataset
    key = cache.dataset_key(choice.dataset_choice)
    stats = {}
    for split in ds.splits():
        if ds.has_masks(split):
            with reported_errors(f"statistics of '{split}'"):
                stats[split] = cache.class_stats(ds, key, split)
    return stats


def distribution_section(choice: SidebarChoice, stats: dict) -> None:
    """Pixel counts or frequencies per class and split, linear or log."""
    from segdash.viz.figures import class_distribution_figure

    ds = choice.dataset
    cols = st.columns([1, 1, 4])
    value = cols[0].segmented_control("Show", ["pixels", "frequency"], key="dataset.value", required=True,
                                      default="pixels", persist_state="session")  # fmt: skip
    scale = cols[1].segmented_control("Scale", ["linear", "log"], key="dataset.scale", required=True,
                                      default="linear", persist_state="session")  # fmt: skip
    fig = class_distribution_figure(stats, ds.classes, ds.colors, value=value or "pixels", log=scale == "log")
    st.plotly_chart(fig, width="stretch", key="dataset.distribution")


def imbalance_table(choice: SidebarChoice, stats: dict, split: str) -> pd.DataFrame:
    """One row per class: pixels, frequency, image presence, inverse and median-frequency weights."""
    frame = stats[split].to_frame()
    st.dataframe(
        frame, hide_index=True, width="stretch",
        column_config={
            "pixels": st.column_config.NumberColumn("pixels", format="localized"),
            "frequency": st.column_config.ProgressColumn("share of pixels", format="percent", min_value=0, max_value=1),
            "image_presence": st.column_config.ProgressColumn("in images", format="percent", min_value=0, max_value=1),
            "weight_inverse": st.column_config.NumberColumn("weight (inverse)", format="%.3f"),
            "weight_median": st.column_config.NumberColumn("weight (median freq.)", format="%.3f"),
        },
    )  # fmt: skip
    return frame


def presence_and_weights(choice: SidebarChoice, stats: dict, split: str) -> None:
    """Share of images containing each class, and the suggested loss weights for training on ``split``."""
    from segdash.viz.figures import class_weights_figure, image_presence_figure

    ds = choice.dataset
    left, right = st.columns(2)
    left.plotly_chart(image_presence_figure(stats, ds.classes, ds.colors), width="stretch", key="dataset.presence")
    weights = {"inverse": stats[split].class_weights("inverse"), "median": stats[split].class_weights("median")}
    right.plotly_chart(class_weights_figure(weights, ds.classes, ds.colors), width="stretch", key="dataset.weights")
    right.caption(f"Weights from the '{split}' split: inverse frequency (scikit-learn's 'balanced') and median "
                  "frequency balancing. The Train page offers both.")  # fmt: skip


def frequency_vs_iou(choice: SidebarChoice, stats: dict) -> None:
    """Each class's pixel frequency against its IoU in the last evaluation of the chosen model."""
    from segdash.ui.evaluate_page import finished_evaluations
    from segdash.viz.figures import frequency_vs_iou_figure

    ds = choice.dataset
    found = finished_evaluations(choice)
    if not found:
        st.info("Evaluate the chosen model (Evaluate page) to plot each class's frequency against its IoU here.")
        return
    job = found[0]
    split = job.tags.get("split", "")
    base = stats.get("train") or stats.get(split) or next(iter(stats.values()))
    iou = np.asarray(job.result.scores.iou, dtype=float)
    st.plotly_chart(frequency_vs_iou_figure(base.frequency, iou, ds.classes, ds.colors), width="stretch",
                    key="dataset.freq_iou")  # fmt: skip
    st.caption(f"Frequency in the '{base.split}' split; IoU from the evaluation on '{split}' ({job.label}). "
               "Rare classes on the left usually score lower: that is the imbalance at work.")  # fmt: skip


def sample_browser(choice: SidebarChoice, settings: OverlaySettings) -> None:
    """Pages of samples with their ground-truth overlay; any of them opens in Predict."""
    from segdash.viz.overlay import overlay_mask, to_display_rgb

    ds = choice.dataset
    cols = st.columns([1, 1, 3], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", ds.splits(), key="dataset.split", persist_state="session")
    ids = ds.ids(split)
    pages = max(1, -(-len(ids) // SAMPLES_PER_PAGE))
    page = cols[1].number_input(f"Page (of {pages})", 1, pages, pages // 2 + 1, key=f"dataset.page.{split}")  # mid-split
    shown = ids[(page - 1) * SAMPLES_PER_PAGE: page * SAMPLES_PER_PAGE]
    grid = st.columns(4)
    for k, sample_id in enumerate(shown):
        with grid[k % 4], reported_errors(sample_id):
            image, mask, _ = ds.load(split, sample_id)
            picture = to_display_rgb(image) if mask is None else overlay_mask(
                image, mask, ds.colors, alpha=settings.alpha, classes=settings.visible, mode=settings.mode,
                ignore_index=ds.ignore_index)  # fmt: skip
            st.image(picture, caption=sample_id, width="stretch")
    target = cols[2].selectbox("Open in Predict", shown, key="dataset.open_id", index=None, placeholder="a sample id")
    if target:
        state.request_prediction(split, [target], reason=f"sample {target} from the Dataset page")
        st.session_state.pop("dataset.open_id", None)
        st.switch_page("pages/predict.py")


def summary(choice: SidebarChoice, stats: dict) -> None:
    ds = choice.dataset
    images = sum(len(ds.ids(s)) for s in ds.splits())
    rare = []
    if stats:
        base = stats.get("train") or next(iter(stats.values()))
        rare = [name for name, f in zip(ds.classes, base.frequency) if 0 < f < 0.01]
    cols = st.columns(4)
    cols[0].metric("Images", f"{images:,}")
    cols[1].metric("Classes", ds.num_classes)
    cols[2].metric("Splits", len(ds.splits()))
    cols[3].metric("Classes under 1% of pixels", len(rare), help=", ".join(rare) or None)
    if ds.source:
        st.caption(f"Source: {ds.source}")

