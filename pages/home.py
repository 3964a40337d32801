"""Home: what segdash is, what is loaded, and one click to a first prediction."""

import streamlit as st

from segdash.ui import gallery, sidebar
from segdash.ui import home_page as page

st.title("segdash")
st.caption("Show, judge and compare semantic-segmentation models")
first_prediction = st.container()
intro, loaded = st.columns([3, 2], gap="large")
with intro:
    page.show_intro()

choice = sidebar.current()
with first_prediction:
    page.first_prediction_button(choice)
with loaded:
    page.show_dataset(choice)
    page.show_model(choice)
st.markdown("#### Examples")
st.caption("Test images with their ground truth; one click shows the model's prediction.")
gallery.show_gallery(choice, "home")

page.warm_up(choice)  # the chosen model, loaded in the background while the user reads
