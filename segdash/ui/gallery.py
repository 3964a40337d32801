"""The examples gallery: a few chosen test images of the dataset, each one click from its prediction.

A demo starts with a picture; the Home and Predict pages show the same few examples (chosen
by ``cache.example_samples``: the most classes, different views), and a click opens one in
Predict.
"""

from __future__ import annotations

import streamlit as st

from segdash.ui import cache, state
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import reported_errors

EXAMPLES = 4


def example_split(ds) -> str:
    """The split examples come from: test, else the last split with masks, else the last."""
    with_masks = [s for s in ds.splits() if ds.has_masks(s)]
    return "test" if "test" in with_masks else (with_masks or ds.splits())[-1]


def show_gallery(choice: SidebarChoice, where: str, count: int = EXAMPLES) -> None:
    """``count`` example thumbnails with their ground truth; a click opens one in Predict.

    ``where`` names the page (widget keys must differ between pages).
    """
    from segdash.viz.overlay import overlay_mask, to_display_rgb

    ds = choice.dataset
    if ds is None:
        return
    with reported_errors("examples"):
        split = example_split(ds)
        ids = cache.example_samples(ds, cache.dataset_key(choice.dataset_choice), split, count)
        for col, sample_id in zip(st.columns(count), ids):
            image, mask, _ = ds.load(split, sample_id)
            shown = to_display_rgb(image) if mask is None else overlay_mask(image, mask, ds.colors, 0.45,
                                                                            ignore_index=ds.ignore_index)  # fmt: skip
            col.image(shown, caption=sample_id, width="stretch")
            if col.button("Predict", key=f"{where}.example.{sample_id}", icon=":material/play_arrow:",
                          width="stretch", disabled=not choice.model_choice.is_set):  # fmt: skip
                state.request_prediction(split, [sample_id], reason=f"example {sample_id}")
                if where != "predict":
                    st.switch_page("pages/predict.py")
                st.rerun()
