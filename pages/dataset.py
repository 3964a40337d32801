"""Dataset: how the classes are distributed, where and how small they are, which go together, whether the
splits agree, what weights would balance them, the samples themselves, and which masks look wrong."""

import streamlit as st

from segdash.ui import dataset_page as page
from segdash.ui import sidebar, suspect_labels, widgets

choice = sidebar.current()

st.title("Dataset")
sidebar.require_dataset(choice)

stats = page.split_statistics(choice)
page.summary(choice, stats)

(tab_classes, tab_where, tab_together, tab_sizes, tab_splits, tab_finder, tab_samples, tab_performance,
 tab_suspect) = st.tabs(["Class imbalance", "Where classes live", "Together", "Object sizes", "Splits agree?",
                         "Rare-class finder", "Samples", "Imbalance vs IoU", "Suspect labels"], key="dataset.tab",
                        on_change="rerun")
with tab_classes:
    if not stats:
        st.info("No split of this dataset has masks, so there are no class statistics.")
    elif tab_classes.open:
        page.distribution_section(choice, stats)
        split = st.columns(3)[0].selectbox("Table and weights for split", list(stats), key="dataset.table_split")
        page.imbalance_table(choice, stats, split)
        page.presence_and_weights(choice, stats, split)
        page.train_with_weights()
for tab, section in ((tab_where, page.spatial_prior_section), (tab_together, page.cooccurrence_section),
                     (tab_sizes, page.object_sizes_section), (tab_splits, page.split_agreement_section)):
    with tab:
        if not stats:
            st.info("No split of this dataset has masks, so there are no class statistics.")
        elif tab.open:
            section(choice, stats)
with tab_finder:
    if stats and tab_finder.open:
        page.rare_class_finder(choice, stats)
with tab_samples:
    if tab_samples.open:
        settings = widgets.overlay_controls(choice.dataset.classes)
        page.sample_browser(choice, settings)
with tab_performance:
    if tab_performance.open:
        page.frequency_vs_iou(choice, stats)
with tab_suspect:
    if tab_suspect.open:
        suspect_labels.section(choice)
