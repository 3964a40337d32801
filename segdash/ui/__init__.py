"""The Streamlit layer: the only part of segdash that imports streamlit.

``state`` (session keys), ``sidebar`` (dataset/model/device picker), ``cache``
(loaded datasets and models), ``jobs`` (background evaluations), ``widgets``
(overlay controls, legend, error display) and one ``*_page`` module per page
holding that page's logic, so the files in ``pages/`` stay short.
"""
