"""Predict: upload images or pick dataset samples, and see what the model segments."""

import streamlit as st

from segdash.ui import dataset_classes, evaluations, import_form, model_card, sidebar, widgets
from segdash.ui import predict_page as page

choice = sidebar.current()

st.title("Predict")
import_form.render()  # "Import a model" (not in public mode)
meta = page.model_meta(choice)
if meta is None:
    st.stop()
model_card.predict_page(choice)

source = page.choose_source()
# samples of a dataset of other classes are shown in the dataset's classes (mapped by name); uploads in the model's
settings = widgets.overlay_controls(dataset_classes.drawn_classes(choice, meta, samples=source != page.SOURCE_UPLOAD))
if source == page.SOURCE_UPLOAD:
    inputs = page.uploaded_inputs(choice)
else:
    inputs = page.sample_inputs(choice, worst_ids=lambda split: evaluations.worst_sample_ids(choice, split))
page.show_predictions(choice, inputs, settings)
