"""Compare: checkpoints side by side on the same samples, what the second fixed or broke, and their curves."""

import streamlit as st

from segdash.ui import compare_page as page
from segdash.ui import sidebar, widgets

choice = sidebar.current()

st.title("Compare")
sidebar.require_dataset(choice)

entries = page.pick_checkpoints(choice)
if not entries:
    st.stop()

tab_samples, tab_metrics, tab_curves = st.tabs(["Side by side", "Per-class metrics", "Training curves"],
                                               key="compare.tab", on_change="rerun")
with tab_samples:
    settings = widgets.overlay_controls(choice.dataset.classes)
    split, sample_ids = page.pick_samples(choice)
    if tab_samples.open:
        page.guarded(page.side_by_side, choice, entries, split, sample_ids, settings)
with tab_metrics:
    if tab_metrics.open:
        page.guarded(page.metrics_table, choice, entries, split)
with tab_curves:
    if tab_curves.open:
        page.guarded(page.curves_section, entries)
