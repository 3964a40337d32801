"""Dataset: how the classes are distributed, what weights would balance them, and the samples themselves."""

import streamlit as st

from segdash.ui import dataset_page as page
from segdash.ui import sidebar, widgets

choice = sidebar.current()

st.title("Dataset")
sidebar.require_dataset(choice)

stats = page.split_statistics(choice)
page.summary(choice, stats)

tab_classes, tab_samples, tab_performance = st.tabs(["Class imbalance", "Samples", "Imbalance vs IoU"],
                                                    key="dataset.tab", on_change="rerun")
with tab_classes:
    if not stats:
        st.info("No split of this dataset has masks, so there are no class statistics.")
    elif tab_classes.open:
        page.distribution_section(choice, stats)
        split = st.columns(3)[0].selectbox("Table and weights for split", list(stats), key="dataset.table_split")
        page.imbalance_table(choice, stats, split)
        page.presence_and_weights(choice, stats, split)
with tab_samples:
    if tab_samples.open:
        settings = widgets.overlay_controls(choice.dataset.classes)
        page.sample_browser(choice, settings)
with tab_performance:
    if tab_performance.open:
        page.frequency_vs_iou(choice, stats)
