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

page.show_messages()
all_runs = page.all_runs()
# The form takes the page's full width (its selects and labels need it); once there are runs it
# folds away so the runs and the live curves come first.
with st.expander(f"New training run on {choice.dataset_choice.label}", expanded=not all_runs,
                 icon=":material/model_training:"):
    page.training_form(choice)
page.runs_table(all_runs)
run_dir = page.pick_run(all_runs)

if run_dir is not None:
    st.divider()
    page.show_run(run_dir, choice.dataset_choice)
