"""segdash: a dashboard to show, judge and compare semantic-segmentation models.

    streamlit run app.py

Opens on the built-in ``brain-mri`` dataset with the shipped weights; no set-up,
no network. The pages live in ``pages/``; their logic lives in ``segdash/ui``.
The sidebar (dataset, model, device) belongs to this script, so its widgets are shared
by every page; a page draws its header first and then reads the choice with
``segdash.ui.sidebar.current()``, which draws the sidebar: the first screen is shown
before the heavy work (opening the dataset, importing torch) starts.
"""

import streamlit as st

from segdash import public
from segdash.ui import sidebar, warmup

sidebar.mark_entry_ran()
sidebar.start_run()
st.set_page_config(page_title="segdash", page_icon=":material/layers:", layout="wide")
if public.is_public():  # SEGDASH_PUBLIC=1: a hosted demo shows no traceback and no developer menu
    st.set_option("client.showErrorDetails", "none")
    st.set_option("client.toolbarMode", "viewer")

page = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/dataset.py", title="Dataset", icon=":material/bar_chart:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    ]
)
warmup.start_default()  # once per process: the default model loads while the first visitor reads
page.run()
sidebar.current()  # drawn by now unless the page never asked: every page shows it
