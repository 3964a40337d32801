"""Predictions the pages show: one image in, the chosen model's labels out, cached per model and image.

Predict, Evaluate (its worst images) and Compare all draw predictions; they share this module
rather than import each other. The cache keeps labels and one byte a pixel of uncertainty, never
the (C, H, W) probabilities.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time

import numpy as np
import streamlit as st

from segdash.ui import cache, dataset_classes
from segdash.ui.sidebar import SidebarChoice


@dataclasses.dataclass
class InputImage:
    """One image to predict on: ``image`` HxWxC as the model takes it, ``mask`` HxW int64 or None."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None = None
    notes: tuple[str, ...] = ()


def uncertainty_maps(probs: np.ndarray) -> dict[str, np.ndarray]:
    """(K, H, W) probabilities -> {"entropy", "unsure": (H, W) uint8}: one byte a pixel instead of 4K."""
    from segdash.metrics.calibration import uncertainty_image

    return {"entropy": uncertainty_image(probs), "unsure": np.rint(255 * (1 - probs.max(axis=0))).astype(np.uint8)}


#: images above this many pixels get a progress note while they are predicted
LARGE_IMAGE_PIXELS = 1024 * 1024


@st.cache_data(show_spinner=False, max_entries=48)
def _predict_cached(_predictor, model_key: str, image_digest: str, _image: np.ndarray):
    """The prediction without its (C, H, W) probabilities: the pages show labels, and a big image's
    probabilities would make every cache entry hundreds of megabytes; the uncertainty maps (one byte a
    pixel each) are kept instead. Also returns when it ran."""
    prediction = _predictor.predict(_image)
    maps = uncertainty_maps(prediction.probs)
    return dataclasses.replace(prediction, probs=np.zeros((0, 0, 0), np.float32)), time.time(), maps


def _cached_prediction(choice: SidebarChoice, item: InputImage):
    """(prediction without probabilities, when it ran, uncertainty maps) of the chosen model on one image."""
    predictor, mapped = dataset_classes.predictor(choice, item)  # a sample of a dataset of other classes: mapped
    height, width = item.image.shape[:2]
    note = None
    if height * width > LARGE_IMAGE_PIXELS:  # seconds of work: say what is happening while it runs
        note = f"Predicting a {width}x{height} image: {predictor.plan(height, width)}..."
    digest = hashlib.blake2b(item.image.tobytes(), digest_size=16).hexdigest() + str(item.image.shape) + str(item.image.dtype)
    model_key = f"{choice.model_choice.path}|{choice.model_choice.device}|{cache.checkpoint_stamp(choice.model_choice.path)}{mapped}"
    # a cache hit returns at once and the note goes with it
    with st.spinner(note, show_time=True) if note else contextlib.nullcontext():
        return _predict_cached(predictor, model_key, digest, item.image)


def predict_with_maps(choice: SidebarChoice, item: InputImage):
    """The chosen model's ``Prediction`` on one image and its uncertainty maps ({"entropy", "unsure"}: (H, W)
    uint8), from one cache lookup (moving a slider does not re-run the model).

    A prediction taken from the cache keeps the inference time of the run that produced it, and
    says when that run was, so the time shown is never mistaken for this rerun's."""
    asked = time.time()
    prediction, computed, maps = _cached_prediction(choice, item)
    if computed < asked:
        when = time.strftime("%H:%M:%S", time.localtime(computed))
        prediction = dataclasses.replace(prediction, notes=[*prediction.notes, f"inference time measured at {when}; reused"])
    return prediction, maps


def predict(choice: SidebarChoice, item: InputImage):
    """The chosen model's ``Prediction`` on one image (see ``predict_with_maps``)."""
    return predict_with_maps(choice, item)[0]
