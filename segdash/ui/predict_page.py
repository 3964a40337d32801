"""Predict: the chosen model on uploaded images or on dataset samples, with overlays and downloads."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import streamlit as st

from segdash.errors import SegdashError
from segdash.ui import cache, dataset_classes, state
from segdash.ui.predictions import InputImage, predict_with_maps
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import OverlaySettings, format_seconds, legend, reported_errors, show_error

UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "npy", "bmp", "webp"]
#: Uploads with a longer side are downscaled before prediction (the predictor windows anything big anyway).
MAX_SIDE = 2048
MAX_SAMPLES = 8
SOURCE_SAMPLES, SOURCE_UPLOAD = "Dataset samples", "Upload"
# Every control here is kept with persist_state="session": a run that stops before drawing them (no
# checkpoint chosen yet, while a folder is typed in the sidebar) must not reset them. Without it they
# came back drawn blank while the page went on with their defaults (issue 9: controls out of sync).
PICK_RANDOM, PICK_EXAMPLES, PICK_IDS, PICK_WORST = "random", "examples", "by id", "worst"


# --- turning uploads into model input ----------------------------------------------------------
def fit_size(image: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, list[str]]:
    """Downscale an image whose longer side exceeds ``max_side`` (area interpolation), with a note."""
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image, []
    import cv2

    factor = max_side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = small[:, :, None]
    return small, [f"large image ({width}x{height}) downscaled to {size[0]}x{size[1]} for display and prediction"]


def decode_upload(name: str, data: bytes, in_channels: int) -> InputImage:
    """An uploaded file's bytes -> InputImage ready for the predictor, or SegdashError saying what is wrong.

    Channels and pixel values are the predictor's business (it fits channels and maps any dtype
    to the model's training range, each with a note: ``segdash.data.pixels``, as ``segdash predict``
    does); here the image is decoded in its own dtype and downscaled when huge.
    """
    from segdash.data.imageio import decode_image_bytes

    try:
        image = decode_image_bytes(data, name, mode="native" if in_channels == 1 else "rgb")
    except SegdashError:
        raise
    except Exception as exc:  # decoders raise many things for garbage bytes
        raise SegdashError(f"{name}: not an image file segdash can read ({type(exc).__name__}: {exc})") from None
    if image.ndim == 2:
        image = image[:, :, None]
    check_shape(name, image)
    image, size_notes = fit_size(image)
    return InputImage(name, np.ascontiguousarray(image), None, tuple(size_notes))


# --- choosing inputs ---------------------------------------------------------------------------
def _open_request() -> state.PredictRequest | None:
    request = st.session_state.get(state.PREDICT_REQUEST)
    return request if isinstance(request, state.PredictRequest) else None


def choose_source() -> str:
    """Upload or dataset samples; a hand-over from another page selects samples."""
    if _open_request() is not None:
        st.session_state["predict.source"] = SOURCE_SAMPLES
    st.session_state.setdefault("predict.source", SOURCE_SAMPLES)
    return st.segmented_control("Images from", [SOURCE_SAMPLES, SOURCE_UPLOAD], key="predict.source", persist_state="session") or SOURCE_SAMPLES


def uploaded_inputs(choice: SidebarChoice) -> list[InputImage]:
    """The file uploader; each bad file gets its own message, the good ones go on."""
    files = st.file_uploader(
        "Images (PNG, JPEG, TIFF, or .npy for single-channel data)",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key="predict.upload",
    )
    if not files:
        st.info("Drop one or several images here. Single-channel models (brain-mri) take grayscale images or .npy arrays.")
        return []
    meta = cache.checkpoint_meta(choice.model_choice.path)
    inputs = []
    for file in files:
        try:
            check_upload_size(file.name, file.size)  # the declared size, before the bytes are read or decoded
            inputs.append(decode_upload(file.name, file.getvalue(), meta.in_channels))
        except SegdashError as exc:
            show_error(exc, "upload")
    return inputs


def check_upload_size(name: str, size: int) -> None:
    """Refuse an upload over ``SEGDASH_MAX_UPLOAD_MB`` (20 MB in public mode) before reading it."""
    from segdash.public import max_upload_bytes

    cap = max_upload_bytes()
    if cap is not None and size > cap:
        raise SegdashError(f"{name}: {_megabytes(size)} is over this server's upload limit of {_megabytes(cap)}")


def _megabytes(size: int) -> str:
    from segdash.public import size_text

    return size_text(size)  # the unit of Streamlit's upload chip: one size for one file


def check_shape(name: str, image: np.ndarray) -> None:
    """Refuse images too thin to segment or show (the policy ``segdash predict`` applies too)."""
    from segdash.data.shape import check_image_shape

    check_image_shape(name, image.shape)


def _default_split(ds) -> str:
    with_masks = [s for s in ds.splits() if ds.has_masks(s)]
    for split in ("test", "val"):
        if split in with_masks:
            return split
    return (with_masks or ds.splits())[0]


def sample_inputs(choice: SidebarChoice, worst_ids) -> list[InputImage]:
    """Pick dataset samples: random, the examples, by id, or the worst of the last evaluation."""
    ds = choice.dataset
    if ds is None:
        st.info("The dataset in the sidebar does not open; upload images instead.")
        return []
    request = _open_request()
    splits = ds.splits()
    if request is not None and request.split in splits:
        st.session_state["predict.split"] = request.split
        st.session_state["predict.pick"] = PICK_IDS
        st.session_state["predict.ids"] = [i for i in request.sample_ids if i in set(ds.ids(request.split))]
        st.session_state.pop(state.PREDICT_REQUEST, None)
        if request.reason:
            st.caption(f"Opened: {request.reason}")
    if st.session_state.get("predict.split") not in splits:
        st.session_state["predict.split"] = _default_split(ds)
    cols = st.columns([1.1, 3.9, 2.4], vertical_alignment="bottom")  # wide enough at 1100 px for every label
    split = cols[0].selectbox("Split", splits, key="predict.split", persist_state="session")
    st.session_state.setdefault("predict.pick", PICK_RANDOM)
    pick = cols[1].segmented_control("Pick", [PICK_RANDOM, PICK_EXAMPLES, PICK_IDS, PICK_WORST], key="predict.pick", persist_state="session",
                                     help="examples: chosen test images showing the most classes; worst: the "
                                          "lowest-scoring images of the last evaluation") or PICK_RANDOM
    ids = ds.ids(split)
    if pick == PICK_IDS:
        known = set(ids)
        st.session_state["predict.ids"] = [i for i in st.session_state.get("predict.ids", []) if i in known]
        chosen = cols[2].multiselect("Sample ids", ids, key="predict.ids", persist_state="session", max_selections=MAX_SAMPLES)
    elif pick == PICK_EXAMPLES:
        chosen = cache.example_samples(ds, cache.dataset_key(choice.dataset_choice), split)
        cols[2].caption(f"{len(chosen)} images of '{split}' that show the most classes, from different views")
    elif pick == PICK_WORST:
        ranked = worst_ids(split)
        if ranked is None:
            cols[2].info(f"No evaluation of this model on '{split}' yet: run one on the Evaluate page.")
            return []
        count = cols[2].slider("How many", 1, MAX_SAMPLES, 3, key="predict.worst_count", persist_state="session")
        chosen = list(ranked[:count])
    else:
        with cols[2]:
            inner = st.columns([3, 1], vertical_alignment="bottom")
            count = inner[0].slider("How many", 1, MAX_SAMPLES, 2, key="predict.random_count", persist_state="session")
            if inner[1].button("", icon=":material/shuffle:", help="Shuffle: other random samples",
                               key="predict.shuffle") or "predict.seed" not in st.session_state:  # fmt: skip
                st.session_state["predict.seed"] = random.randrange(1 << 30)
        chosen = random.Random(st.session_state["predict.seed"]).sample(ids, min(count, len(ids)))
    inputs = []
    for sample_id in chosen:
        with reported_errors(f"sample {sample_id}"):
            image, mask, _ = ds.load(split, sample_id)
            inputs.append(InputImage(f"{split}/{sample_id}", image, mask))
    return inputs


# --- predicting and showing ----------------------------------------------------------------------
#: Uncertainty layers of the Predict page: (H, W) uint8 maps, 0..255 for 0..1, higher = less sure.
UNCERTAINTY_LAYERS = {
    "normalised entropy": "entropy",
    "1 - confidence": "unsure",
}
UNCERTAINTY_HELP = (
    "Normalised entropy H(p) / log(K) of the softmax: 0 when one class has all the probability, 1 when all "
    "K classes are equally likely. 1 - confidence: one minus the predicted class's probability. A model that "
    "knows where it is wrong is unsure exactly on the red pixels of the error map."
)


PANELS_PER_ROW = 3
LARGE_OFF = "off"
LARGE_CHOICES = (LARGE_OFF, "Prediction", "Ground truth", "Errors", "Image")


@dataclasses.dataclass(frozen=True)
class ViewSettings:
    """How each result card is drawn: whose errors the error map shows, and which panel is shown large."""

    focus: int | None = None  # a class index: its false positives and negatives; None: every error
    large: str = LARGE_OFF  # LARGE_OFF or a panel caption's first word ("Prediction", "Errors", ...)


def view_controls(classes) -> ViewSettings:
    """The error map's class and the large view, for every card."""
    cols = st.columns([3, 5], vertical_alignment="bottom")
    names = ["every class", *classes]
    focus = cols[0].selectbox("Errors of", range(len(names)), format_func=names.__getitem__, key="predict.focus", persist_state="session",
                              help="every class: each wrong pixel in red; one class: its false positives (orange, "
                                   "predicted there but not) and false negatives (cyan, there but missed)")  # fmt: skip
    large = cols[1].segmented_control("Large view", LARGE_CHOICES, default=LARGE_OFF, key="predict.large", persist_state="session",
                                      help="one panel at full width: drag to zoom, double-click to reset; hover for "
                                           "the class, its confidence and the truth there")  # fmt: skip
    return ViewSettings(None if not focus else focus - 1, large or LARGE_OFF)


def _error_caption(view: ViewSettings, classes) -> str:
    if view.focus is None:
        return "Errors: red wrong"
    return f"Errors of {classes[view.focus]}: orange false +, cyan missed"


def image_scores(labels: np.ndarray, mask: np.ndarray, num_classes: int, ignore_index: int | None) -> dict:
    """One image's pixel accuracy and mean Dice / IoU over the classes it or its prediction holds."""
    from segdash.metrics.confusion import confusion_matrix
    from segdash.metrics.scores import per_image_scores

    cm = confusion_matrix(pred=labels, target=mask, num_classes=num_classes, ignore_index=ignore_index)
    scores = per_image_scores(cm[None])  # the scorer of the evaluation's per-image table
    return {"accuracy": scores["pixel_accuracy"][0], "dice": scores["mean_dice"][0], "iou": scores["mean_iou"][0]}


def _score_facts(scores: dict) -> list[str]:
    names = (("dice", "Dice"), ("iou", "IoU"), ("accuracy", "pixel accuracy"))
    return [f"{label} {scores[key]:.3f}" if key != "accuracy" else f"{label} {scores[key]:.1%}"
            for key, label in names if scores[key] is not None and np.isfinite(scores[key])]  # fmt: skip


def show_result(item: InputImage, prediction, meta, settings: OverlaySettings, extra_panels=(),
                view: ViewSettings = ViewSettings(), confidence: np.ndarray | None = None) -> None:  # fmt: skip
    """Image, prediction overlay, ground truth overlay and error map, ``extra_panels`` ((picture, caption)
    pairs, e.g. the uncertainty layer), the large view, legend, scores, timing and downloads."""
    from segdash.viz.overlay import area_resize, encode_png, error_map, for_display, overlay_mask

    labels = prediction.labels
    colors = [tuple(c) for c in meta.colors]
    ignore = meta.ignore_index
    # Drawn once at the size shown: a 2048x1024 image is seen a few hundred pixels wide, so its panels are
    # drawn from the image area-averaged and the label maps sampled (nearest) to that size; downloads stay full.
    picture, (small_labels, small_mask, small_confidence) = for_display(item.image, labels, item.mask, confidence)
    shown = overlay_mask(picture, small_labels, colors, alpha=settings.alpha, classes=settings.visible,
                         mode=settings.mode)  # fmt: skip
    panels = [(picture, "Image"), (shown, "Prediction")]
    if item.mask is not None:
        truth = overlay_mask(picture, small_mask, colors, alpha=settings.alpha, classes=settings.visible,
                             mode=settings.mode, ignore_index=ignore)
        errors = error_map(small_labels, small_mask, ignore_index=ignore, image=picture, focus=view.focus)
        panels += [(truth, "Ground truth"), (errors, _error_caption(view, meta.classes))]
    panels += [(area_resize(np.asarray(p), picture.shape[:2]), caption) for p, caption in extra_panels]
    st.markdown(f"**{item.name}** · {labels.shape[1]}x{labels.shape[0]}")
    per_row = PANELS_PER_ROW  # rows of three: each panel large enough to see an error at 1100 px
    for start in range(0, len(panels), per_row):
        for col, (picture, caption) in zip(st.columns(per_row), panels[start : start + per_row]):
            col.image(picture, caption=caption, width="stretch")
    large = next((p for p in panels if p[1].startswith(view.large)), None) if view.large != LARGE_OFF else None
    if large is not None:
        show_large(large, small_labels, meta.classes, small_confidence, small_mask, item.name)
    legend(meta.classes, colors, labels=labels, ignore_index=ignore, visible=settings.visible,
           title="Prediction, share of pixels:")  # fmt: skip
    facts = []
    if item.mask is not None:
        facts += _score_facts(image_scores(labels, item.mask, len(meta.classes), ignore))
    facts.append(f"inference {format_seconds(prediction.seconds)} on {prediction.device}")
    notes = list(item.notes) + list(getattr(prediction, "notes", ()) or ())
    st.caption(" · ".join(facts + notes), help="Dice and IoU: means over the classes in this image's truth or "
                                               "prediction (a class absent from both is left out)")  # fmt: skip
    if getattr(prediction, "hint", None):  # intensities far from the training data's
        st.caption(f":orange[:material/warning: {prediction.hint}]")
    stem = item.name.replace("/", "_").rsplit(".", 1)[0]
    cols = st.columns([1, 1, 1.5])
    # full size, made when the button is pressed (the page itself only draws what it shows)
    cols[0].download_button("Label PNG", lambda: encode_png(labels, palette=colors), f"{stem}_labels.png",
                            "image/png", icon=":material/download:", key=f"dl.labels.{item.name}", on_click="ignore")
    cols[1].download_button("Overlay PNG", lambda: encode_png(overlay_mask(
                                item.image, labels, colors, alpha=settings.alpha, classes=settings.visible,
                                mode=settings.mode)), f"{stem}_overlay.png", "image/png",
                            icon=":material/download:", key=f"dl.overlay.{item.name}", on_click="ignore")


def show_large(panel, labels: np.ndarray, classes, confidence: np.ndarray | None, truth: np.ndarray | None,
               name: str) -> None:  # fmt: skip
    """One panel at full width, zoomable, with the class, its ``confidence`` (H, W) and the ``truth`` under the
    cursor; all at the panel's size."""
    from segdash.viz.zoom import zoom_figure

    picture, caption = panel
    fig = zoom_figure(picture, labels, classes, confidence=confidence, truth=truth, title=caption)
    st.plotly_chart(fig, width="stretch", key=f"predict.large.{name}",
                    config={"displaylogo": False, "scrollZoom": True})  # fmt: skip


def show_predictions(choice: SidebarChoice, inputs: list[InputImage], settings: OverlaySettings) -> None:
    """Predict and show each input; a failure on one image does not hide the others."""
    if not inputs:
        return
    try:
        meta = cache.checkpoint_meta(choice.model_choice.path)
        if choice.dataset is not None and any(item.mask is not None for item in inputs):
            # Ground truth drawn in the model's class names would be wrong: refuse as the sidebar says.
            # Uploads (no ground truth) still run, in the model's own classes and colours.
            from segdash.models.checkpoint import check_compatible

            check_compatible(meta, choice.dataset)
            meta = dataset_classes.shown_meta(choice, meta, inputs)  # samples in the dataset's classes
        cache.predictor(choice.model_choice)
    except Exception as exc:
        show_error(exc, "model")
        return
    layer = uncertainty_controls()
    view = view_controls(meta.classes)
    for item in inputs:
        with st.container(border=True):
            try:
                prediction, maps = predict_with_maps(choice, item)
            except Exception as exc:
                show_error(exc, item.name)
                continue
            panels, facts = uncertainty_panel(item, prediction, maps, layer, meta.ignore_index)
            confidence = None
            if view.large != LARGE_OFF:  # the cache keeps 1 - confidence as one byte a pixel
                confidence = 1.0 - maps["unsure"] / np.float32(255)
            show_result(item, prediction, meta, settings, extra_panels=panels, view=view, confidence=confidence)
            if facts:
                st.caption(facts, help=UNCERTAINTY_HELP)


# --- the uncertainty layer -------------------------------------------------------------------------
def uncertainty_controls() -> tuple[str | None, float]:
    """Which uncertainty map to show beside the overlay (None: off) and the threshold whose pixels are outlined."""
    cols = st.columns([3, 2], vertical_alignment="bottom")
    options = ["off", *UNCERTAINTY_LAYERS]
    st.session_state.setdefault("predict.uncertainty", "normalised entropy")
    shown = cols[0].segmented_control("Uncertainty layer", options, key="predict.uncertainty", persist_state="session", help=UNCERTAINTY_HELP)
    threshold = cols[1].slider("Outline pixels above", 0.0, 1.0, 0.5, 0.05, key="predict.uncertainty_threshold", persist_state="session",
                               disabled=shown in (None, "off"),
                               help="Pixels whose uncertainty is above this value are outlined in cyan.")  # fmt: skip
    return (None if shown in (None, "off") else UNCERTAINTY_LAYERS[shown]), float(threshold)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def uncertainty_panel(item: InputImage, prediction, maps: dict, layer: tuple[str | None, float],
                      ignore_index: int | None) -> tuple[list, str]:  # fmt: skip
    """The heat map panel (with the pixels above the threshold outlined) and, with ground truth, a line on
    how well those pixels match the errors; nothing when the layer is off."""
    from segdash.viz.uncertainty import uncertainty_heatmap, uncertainty_vs_errors

    key, threshold = layer
    if key is None:
        return [], ""
    values = maps[key]
    name = next(label for label, k in UNCERTAINTY_LAYERS.items() if k == key)
    panels = [(uncertainty_heatmap(values, threshold), f"Uncertainty: {name} (cyan: above {threshold:.2f})")]
    if item.mask is None:
        return panels, ""
    found = uncertainty_vs_errors(values, prediction.labels, item.mask, threshold, ignore_index)
    auroc = "n/a" if found["auroc"] is None else format(found["auroc"], ".3f")
    facts = (f"Above {threshold:.2f}: {_percent(found['flagged'])} of the pixels, holding "
             f"{_percent(found['caught'])} of the errors ({_percent(found['precision'])} of them wrong; "
             f"{_percent(found['errors'])} wrong overall) · {name} AUROC for the errors {auroc}")  # fmt: skip
    return panels, facts


def model_meta(choice: SidebarChoice):
    """The chosen checkpoint's metadata, or None after showing why there is none."""
    if not choice.model_choice.is_set:
        st.info("Choose a checkpoint in the sidebar.")
        return None
    try:
        return cache.checkpoint_meta(choice.model_choice.path)
    except Exception as exc:
        show_error(exc, "model")
        return None
