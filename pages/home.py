"""Home: what segdash is, what is loaded, and one click to a first prediction."""

import streamlit as st

from segdash.ui import home_page as page
from segdash.ui import sidebar

choice = sidebar.current()

st.title("segdash")
st.caption("Show, judge and compare semantic-segmentation models")
page.first_prediction_button(choice)

intro, loaded = st.columns([3, 2], gap="large")
with intro:
    page.show_intro()
    page.show_sample(choice)
with loaded:
    page.show_dataset(choice)
    page.show_model(choice)
