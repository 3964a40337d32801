"""Train: start a short run, watch its loss and Dice curves live, stop it, use its checkpoints."""

import streamlit as st

from segdash import public
from segdash.ui import sidebar
from segdash.ui import train_page as page

choice = sidebar.current()

st.title("Train")
st.caption("Runs are separate processes: leaving this page, refreshing or opening a second tab never stops them. "
           "Finished runs' checkpoints appear in the sidebar's model picker."
           + (" In this demo you see the runs you started." if public.is_public() else ""))

form, runs = st.columns([2, 3], gap="large")
with form:
    page.show_messages()
    page.training_form(choice)
with runs:
    all_runs = page.all_runs()
    page.runs_table(all_runs)
    run_dir = page.pick_run(all_runs)

if run_dir is not None:
    st.divider()
    page.show_run(run_dir, choice.dataset_choice)
