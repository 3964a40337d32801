"""Evaluate: score the chosen model on a split; per-class table, confusion matrix, worst images."""

import streamlit as st

from segdash.ui import evaluate_page as page
from segdash.ui import sidebar

choice = sidebar.current()

st.title("Evaluate")
st.caption(f"Model against the ground truth of **{choice.dataset_choice.label}**. "
           "The evaluation runs in the background: switching pages does not stop it.")
page.run_or_show(choice)
