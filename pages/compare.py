"""Compare: is B really better than A? Paired statistics over the split, a swipe view, and a report to share."""

import streamlit as st

from segdash.ui import compare_page as page
from segdash.ui import sidebar, widgets

choice = sidebar.current()

st.title("Compare")
sidebar.require_dataset(choice)

entries = page.pick_checkpoints(choice)
if not entries:
    st.stop()

split = page.pick_split(choice)
with st.expander("Overlay settings", icon=":material/palette:"):
    settings = widgets.overlay_controls(choice.dataset.classes)

tab_samples, tab_stats, tab_swipe, tab_metrics, tab_curves = st.tabs(
    ["Side by side", "Statistics", "Swipe", "Per-class metrics", "Training curves"], key="compare.tab",
    on_change="rerun")
with tab_samples:
    sample_ids = page.pick_samples(choice, split)
    if tab_samples.open:
        with widgets.reported_errors():
            page.side_by_side(choice, entries, split, sample_ids, settings)
with tab_stats:
    if tab_stats.open:
        with widgets.reported_errors():
            page.statistics_section(choice, entries, split, settings)
with tab_swipe:
    if tab_swipe.open:
        with widgets.reported_errors():
            page.swipe_section(choice, entries, split, sample_ids, settings)
with tab_metrics:
    if tab_metrics.open:
        with widgets.reported_errors():
            page.metrics_table(choice, entries, split)
with tab_curves:
    if tab_curves.open:
        with widgets.reported_errors():
            page.curves_section(entries)
