"""Dataset: class imbalance per split, suggested class weights, a sample browser, and imbalance vs IoU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from segdash.ui import cache, state
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import OverlaySettings, reported_errors, skipped_note

SAMPLES_PER_PAGE = 8
#: a class under this share of the training pixels is "rare"
RARE_SHARE = 0.01
#: images shown by the rare-class finder (the ranking lists up to segdash.data.stats.TOP_IMAGES)
FINDER_IMAGES = 8
#: the Train form's widgets (segdash/ui/train_page.py) that "Train with these weights" presets: the recipe of
#: the shipped street-synth_unet_lite0_balanced checkpoint (weights/README.md says how it was chosen)
TRAIN_FORM_PRESETS = {"train.loss": "ce+dice", "train.weights": "median", "train.weight_floor": 0.25,
                      "train.rare_oversample": 2.0}


def split_statistics(choice: SidebarChoice) -> dict:
    """``{split: ClassStats}`` for every split that has masks (cached in memory and on disk)."""
    ds = choice.dataset
    key = cache.dataset_key(choice.dataset_choice)
    stats = {}
    for split in ds.splits():
        if ds.has_masks(split):
            with reported_errors(f"statistics of '{split}'"):
                stats[split] = cache.class_stats(ds, key, split)
    skipped_note([(f"{split}/{sid}", why) for split, s in stats.items() for sid, why in s.skipped])
    return stats


def distribution_section(choice: SidebarChoice, stats: dict) -> None:
    """Pixel counts or frequencies per class and split, linear or log."""
    from segdash.viz.figures import class_distribution_figure

    ds = choice.dataset
    cols = st.columns([2, 2, 3])  # each switch wide enough for both its labels at 1100 px
    value = cols[0].segmented_control("Show", ["pixels", "frequency"], key="dataset.value", required=True,
                                      default="pixels", persist_state="session")  # fmt: skip
    scale = cols[1].segmented_control("Scale", ["linear", "log"], key="dataset.scale", required=True,
                                      default="linear", persist_state="session")  # fmt: skip
    fig = class_distribution_figure(stats, ds.classes, ds.colors, value=value or "pixels", log=scale == "log")
    st.plotly_chart(fig, width="stretch", key="dataset.distribution")


def imbalance_table(choice: SidebarChoice, stats: dict, split: str) -> pd.DataFrame:
    """One row per class: pixels, frequency, image presence, inverse and median-frequency weights."""
    frame = stats[split].to_frame()
    st.dataframe(
        frame, hide_index=True, width="stretch",
        column_config={
            "pixels": st.column_config.NumberColumn("pixels", format="localized"),
            "frequency": st.column_config.ProgressColumn("share of pixels", format="percent", min_value=0, max_value=1),
            "image_presence": st.column_config.ProgressColumn("in images", format="percent", min_value=0, max_value=1),
            "weight_inverse": st.column_config.NumberColumn("weight (inverse)", format="%.3f"),
            "weight_median": st.column_config.NumberColumn("weight (median freq.)", format="%.3f"),
        },
    )  # fmt: skip
    return frame


def presence_and_weights(choice: SidebarChoice, stats: dict, split: str) -> None:
    """Share of images containing each class, and the suggested loss weights for training on ``split``."""
    from segdash.viz.figures import class_weights_figure, image_presence_figure

    ds = choice.dataset
    left, right = st.columns(2)
    left.plotly_chart(image_presence_figure(stats, ds.classes, ds.colors), width="stretch", key="dataset.presence")
    weights = {"inverse": stats[split].class_weights("inverse"), "median": stats[split].class_weights("median")}
    right.plotly_chart(class_weights_figure(weights, ds.classes, ds.colors), width="stretch", key="dataset.weights")
    right.caption(f"Weights from the '{split}' split: inverse frequency (scikit-learn's 'balanced') and median "
                  "frequency balancing. The Train page offers both.")  # fmt: skip


def frequency_vs_iou(choice: SidebarChoice, stats: dict) -> None:
    """Each class's pixel frequency against its IoU in the last evaluation of the chosen model."""
    from segdash.ui.evaluations import finished_evaluations
    from segdash.viz.figures import frequency_vs_iou_figure

    ds = choice.dataset
    found = finished_evaluations(choice)
    if not found:
        st.info("Evaluate the chosen model (Evaluate page) to plot each class's frequency against its IoU here.")
        return
    job = found[0]
    split = job.tags.get("split", "")
    base = stats.get("train") or stats.get(split) or next(iter(stats.values()))
    iou = np.asarray(job.result.scores.iou, dtype=float)
    st.plotly_chart(frequency_vs_iou_figure(base.frequency, iou, ds.classes, ds.colors), width="stretch",
                    key="dataset.freq_iou")  # fmt: skip
    st.caption(f"Frequency in the '{base.split}' split; IoU from the evaluation on '{split}' ({job.label}). "
               "Rare classes on the left usually score lower: that is the imbalance at work.")  # fmt: skip


def sample_browser(choice: SidebarChoice, settings: OverlaySettings) -> None:
    """Pages of samples with their ground-truth overlay; any of them opens in Predict."""
    from segdash.viz.overlay import overlay_mask, to_display_rgb

    ds = choice.dataset
    cols = st.columns([1, 1, 3], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", ds.splits(), key="dataset.split", persist_state="session")
    ids = ds.ids(split)
    pages = max(1, -(-len(ids) // SAMPLES_PER_PAGE))
    page = cols[1].number_input(f"Page (of {pages})", 1, pages, pages // 2 + 1, key=f"dataset.page.{split}")  # mid-split
    shown = ids[(page - 1) * SAMPLES_PER_PAGE: page * SAMPLES_PER_PAGE]
    grid = st.columns(4)
    for k, sample_id in enumerate(shown):
        with grid[k % 4], reported_errors(sample_id):
            image, mask, _ = ds.load(split, sample_id)
            picture = to_display_rgb(image) if mask is None else overlay_mask(
                image, mask, ds.colors, alpha=settings.alpha, classes=settings.visible, mode=settings.mode,
                ignore_index=ds.ignore_index)  # fmt: skip
            st.image(picture, caption=sample_id, width="stretch")
    target = cols[2].selectbox("Open in Predict", shown, key="dataset.open_id", index=None, placeholder="a sample id")
    if target:
        state.request_prediction(split, [target], reason=f"sample {target} from the Dataset page")
        st.session_state.pop("dataset.open_id", None)
        st.switch_page("pages/predict.py")


def summary(choice: SidebarChoice, stats: dict) -> None:
    ds = choice.dataset
    images = sum(len(ds.ids(s)) for s in ds.splits())
    rare = []
    if stats:
        base = stats.get("train") or next(iter(stats.values()))
        rare = [name for name, f in zip(ds.classes, base.frequency) if 0 < f < RARE_SHARE]
    cols = st.columns(4)
    cols[0].metric("Images", f"{images:,}")
    cols[1].metric("Classes", ds.num_classes)
    cols[2].metric("Splits", len(ds.splits()))
    cols[3].metric("Rare classes", len(rare), help="classes under 1% of the pixels: " + (", ".join(rare) or "none"))
    if ds.source:
        st.caption(f"Source: {ds.source}")



# --- the imbalance workbench ------------------------------------------------------------------------


def reference_stats(stats: dict):
    """The statistics the others are compared with: the train split's, else the first split's."""
    return stats.get("train") or next(iter(stats.values()))


def _aspect(stats) -> float:
    """Width / height of the split's largest mask (how the spatial grid is drawn)."""
    return stats.max_size[1] / stats.max_size[0] if stats.max_size else 1.0


def _extended(stats: dict) -> dict:
    """The splits whose statistics include the imbalance views; a note when none does."""
    found = {split: s for split, s in stats.items() if s.extended}
    if not found:
        st.info("These statistics were counted without the imbalance views; clear the cache to recount them.")
    return found


def _class_picker(classes, key: str, label: str = "Class", default: int = 0, container=None) -> int:
    where = container or st
    return where.selectbox(label, range(len(classes)), index=default, format_func=lambda c: classes[c], key=key)


def _rarest_present(base) -> int:
    """Index of the rarest class that has any pixel (the natural first pick for rare-class views)."""
    present = np.flatnonzero(base.pixels > 0)
    return int(present[np.argmin(base.pixels[present])]) if present.size else 0


def spatial_prior_section(choice: SidebarChoice, stats: dict) -> None:
    """Where each class's pixels fall in the frame: one class large, or every class as small multiples."""
    from segdash.viz.figures import spatial_prior_figure, spatial_prior_grid_figure

    stats = _extended(stats)
    if not stats:
        return
    ds = choice.dataset
    cols = st.columns([1, 1, 2], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", list(stats), key="dataset.prior_split")
    view = cols[1].segmented_control("Show", ["one class", "all classes"], default="one class", required=True,
                                     key="dataset.prior_view", persist_state="session")  # fmt: skip
    chosen = stats[split]
    if view == "all classes":
        fig = spatial_prior_grid_figure(chosen.spatial_prior, ds.classes, _aspect(chosen))
        st.plotly_chart(fig, width="stretch", key="dataset.prior_grid")
    else:
        c = _class_picker(ds.classes, "dataset.prior_class", default=_rarest_present(chosen), container=cols[2])
        fig = spatial_prior_figure(chosen.spatial_prior[c], ds.classes[c], _aspect(chosen))
        st.plotly_chart(fig, width="stretch", key="dataset.prior")
    st.caption("Each mask is laid on a 32x32 grid by relative position (any image size). A class that lives in one "
               "part of the frame is one a model can learn by position, and one that random crops may cut away.")


def cooccurrence_section(choice: SidebarChoice, stats: dict) -> None:
    """Which classes appear in the same images: counts, or P(column class | row class)."""
    from segdash.viz.figures import cooccurrence_figure

    stats = _extended(stats)
    if not stats:
        return
    ds = choice.dataset
    cols = st.columns([1, 2, 2], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", list(stats), key="dataset.co_split")
    shown = cols[1].segmented_control("Values", ["image counts", "P(j | i)"], default="image counts", required=True,
                                      key="dataset.co_normalize", persist_state="session")  # fmt: skip
    normalize = "conditional" if shown == "P(j | i)" else "counts"
    st.plotly_chart(cooccurrence_figure(stats[split].cooccurrence, ds.classes, normalize), width="stretch",
                    key="dataset.cooccurrence")  # fmt: skip
    st.caption("A rare class that always comes with another (a traffic sign with its pole) gives a model a context "
               "to lean on; one that never meets a class will never be confused with it in training.")


def recall_by_size(evaluation_json: dict) -> dict[int, dict[str, float | None]]:
    """``{class index: {"small" | "medium" | "large": object recall or None}}`` from an evaluation's JSON
    (``per_class[i]["objects"]["by_size"]``); classes without object results are left out."""
    recall = {}
    for c, row in enumerate(evaluation_json.get("per_class") or []):
        by_size = (row.get("objects") or {}).get("by_size") if isinstance(row, dict) else None
        if by_size:
            recall[c] = {bucket: (values or {}).get("recall") for bucket, values in by_size.items()}
    return recall


def object_recall_by_size(choice: SidebarChoice) -> tuple[dict[int, dict[str, float | None]], str] | None:
    """``recall_by_size`` of the newest evaluation of the chosen model and a label of it; None when there is
    no evaluation or it has no object results."""
    from segdash.ui.evaluations import finished_evaluations

    found = finished_evaluations(choice) if choice.model_choice.is_set else []
    if not found:
        return None
    recall = recall_by_size(found[0].result.to_json_dict())
    return (recall, f"({found[0].tags.get('split', '')})") if recall else None


def object_sizes_section(choice: SidebarChoice, stats: dict) -> None:
    """Objects per class split by split (mostly-small classes flagged), one class's size histogram, and with an
    evaluation, that class's object recall per size bucket beside it."""
    from segdash.data.stats import AREA_EDGES
    from segdash.viz.figures import object_counts_figure, object_size_figure

    stats = _extended(stats)
    if not stats:
        return
    ds = choice.dataset
    base = reference_stats(stats)
    st.plotly_chart(object_counts_figure({s: v.object_counts for s, v in stats.items()}, ds.classes, ds.colors,
                                         flagged=base.mostly_small), width="stretch", key="dataset.object_counts")
    c = _class_picker(ds.classes, "dataset.objects_class", default=_rarest_present(base), container=st.columns(3)[0])
    recall = object_recall_by_size(choice)
    class_recall, label = (recall[0].get(c), recall[1]) if recall else (None, "")
    fig = object_size_figure({s: v.object_area_counts[c] for s, v in stats.items()}, AREA_EDGES, ds.classes[c],
                             recall=class_recall, recall_label=label)  # fmt: skip
    st.plotly_chart(fig, width="stretch", key="dataset.object_sizes")
    if recall is None:
        st.caption("Evaluate the chosen model (Evaluate page) to see, per size, how many of these objects it finds.")
    rows = {"class": list(ds.classes)}
    for split, s in stats.items():
        rows[f"objects ({split})"] = s.object_counts
        rows[f"small ({split})"] = s.small_object_share
    rows["mostly small"] = ["yes" if f else "" for f in base.mostly_small]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        f"small ({s})": st.column_config.ProgressColumn(f"small share ({s})", format="percent", min_value=0,
                                                        max_value=1) for s in stats})  # fmt: skip
    st.caption("Objects are 8-connected components of each class per image; 'small' is under 0.1% of the image's "
               "pixels, the evaluation's smallest size bucket. A class whose objects are mostly small is lost by "
               "downscaling and scored harshly by pixel metrics.")


def split_agreement_section(choice: SidebarChoice, stats: dict) -> None:
    """Per-split class frequencies side by side, each later split's Jensen-Shannon divergence from the first,
    and the classes much rarer there (flagged)."""
    from segdash.data.stats import MUCH_RARER, split_drift
    from segdash.viz.figures import class_distribution_figure, frequency_ratio_figure

    ds = choice.dataset
    st.plotly_chart(class_distribution_figure(stats, ds.classes, ds.colors, value="frequency", log=True),
                    width="stretch", key="dataset.split_frequency")  # fmt: skip
    if len(stats) < 2:
        st.info("Only one split has masks: there is nothing to compare it with.")
        return
    reference, *others = list(stats)
    drifts = {split: split_drift(stats[reference], stats[split]) for split in others}
    cols = st.columns(max(3, len(drifts)))
    for col, (split, drift) in zip(cols, drifts.items()):
        value = drift["js_divergence"]
        col.metric(f"JS divergence, {split} vs {reference}", "n/a" if value is None else f"{value:.4f} bits",
                   help="Jensen-Shannon divergence of the class pixel frequencies, log base 2: 0 when the shares "
                        "are identical, 1 when the splits share no class.")  # fmt: skip
    ratios = {split: drift["frequency_ratio"] for split, drift in drifts.items()}
    st.plotly_chart(frequency_ratio_figure(ratios, ds.classes, reference, ds.colors, MUCH_RARER), width="stretch",
                    key="dataset.split_ratio")  # fmt: skip
    for split, drift in drifts.items():
        rarer = [f"{ds.classes[c]} ({(drift['frequency_ratio'][c] or 0):.2f}x)" for c in drift["much_rarer"]]
        if rarer:
            st.warning(f"Much rarer in '{split}' than in '{reference}' (under {MUCH_RARER:.2g}x its share): "
                       f"{', '.join(rarer)}. Scores of these classes on '{split}' rest on few pixels.",
                       icon=":material/warning:")  # fmt: skip


def rare_class_finder(choice: SidebarChoice, stats: dict) -> None:
    """The images holding the most pixels of a chosen class, that class drawn (filled, outlined) over each;
    any opens in Predict."""
    from segdash.viz.overlay import overlay_mask

    stats = _extended(stats)
    if not stats:
        return
    ds = choice.dataset
    cols = st.columns([1, 2, 2], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", list(stats), key="dataset.finder_split")
    c = _class_picker(ds.classes, "dataset.finder_class", default=_rarest_present(reference_stats(stats)),
                      container=cols[1])  # fmt: skip
    top = list(stats[split].top_images[c])
    if not top:
        st.info(f"No image of '{split}' holds '{ds.classes[c]}'.")
        return
    frame = pd.DataFrame(top, columns=["sample_id", "pixels"])
    st.caption(f"{len(top)} image{'s' if len(top) != 1 else ''} with the most '{ds.classes[c]}' pixels "
               f"({stats[split].images_with_class[c]:,} of the split's {stats[split].images:,} images hold the class)")
    grid = st.columns(4)
    for k, (sample_id, pixels) in enumerate(top[:FINDER_IMAGES]):
        with grid[k % 4], reported_errors(sample_id):
            image, mask, _ = ds.load(split, sample_id)
            picture = overlay_mask(image, mask, ds.colors, alpha=0.6, classes=[c], mode="both",
                                   ignore_index=ds.ignore_index)  # fmt: skip
            st.image(picture, caption=f"{sample_id}: {pixels:,} px", width="stretch")
    with st.expander(f"All {len(top)} ranked images"):
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config={"pixels": st.column_config.NumberColumn(format="localized")})
    target = cols[2].selectbox("Open in Predict", frame["sample_id"], index=None, placeholder="a sample id",
                               key="dataset.finder_open")  # fmt: skip
    if target:
        state.request_prediction(split, [target], reason=f"{target}: many '{ds.classes[c]}' pixels (Dataset page)")
        st.session_state.pop("dataset.finder_open", None)
        st.switch_page("pages/predict.py")


def train_with_weights() -> None:
    """One click to the Train page with median-frequency weights (floored at 0.25), a Dice + cross-entropy loss
    and rare-class oversampling preselected (the Train form reads these keys); the sidebar's dataset stays chosen."""
    if st.button("Train with these weights", icon=":material/model_training:", key="dataset.train_weights",
                 help="opens Train with the recipe of the shipped balanced street-synth model: class weights "
                      "'median' (counted on the training split) raised to at least 0.25, so the frequent classes "
                      "are damped less, loss 'ce+dice' (Dice gives every class the same say) and rare-class "
                      "oversampling 2"):
        st.session_state.update(TRAIN_FORM_PRESETS)
        st.switch_page("pages/train.py")
