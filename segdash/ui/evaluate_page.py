"""Evaluate: the chosen model over a split, in the background, then tables and a clickable confusion matrix."""

from __future__ import annotations

import numpy as np
import streamlit as st

from segdash.jsonsafe import finite_or_none
from segdash.metrics.specs import metric_spec
from segdash.ui import jobs, state
from segdash.ui.evaluations import current_job, ranked_images, ranking_options, score_frame, start_evaluation
from segdash.ui.sidebar import DATASET_UNAVAILABLE, SidebarChoice
from segdash.ui.widgets import format_seconds, job_progress, reported_errors, show_error, skipped_note

ALL_IMAGES = 0
NORMALIZE_VIEWS = {"counts": None, "row-normalised (recall)": "true", "column-normalised (precision)": "pred"}
ROW_NORMALISED = "row-normalised (recall)"  # the default: counts are dominated by background


# --- controls -------------------------------------------------------------------------------------
def controls(choice: SidebarChoice) -> tuple[str, int, bool, bool] | None:
    """Split, image limit, distance metrics, and the Run button (returns None when nothing can run)."""
    ds = choice.dataset
    if ds is None:
        st.info(DATASET_UNAVAILABLE)
        return None
    splits = [s for s in ds.splits() if ds.has_masks(s)]
    if not splits:
        st.warning("No split of this dataset has masks: nothing to evaluate against.")
        return None
    cols = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", splits, index=splits.index("test") if "test" in splits else len(splits) - 1,
                              key="evaluate.split", persist_state="session")  # fmt: skip
    total = len(ds.ids(split))
    options = [ALL_IMAGES] + [n for n in (8, 16, 32, 64, 128, 256) if n < total]
    limit = cols[1].selectbox("Images", options, key="evaluate.limit", persist_state="session",
                              format_func=lambda n: f"all {total}" if n == ALL_IMAGES else f"{n} (evenly spaced)")
    distances = cols[2].checkbox("Distance metrics", value=True, key="evaluate.distances", persist_state="session",
                                 help="HD95 (pooled and max of directions), ASSD and relative area difference per "
                                      "class (slower)")
    run = cols[3].button("Run evaluation", type="primary", icon=":material/play_arrow:", key="evaluate.run")
    return split, int(limit or 0), bool(distances), run


@st.fragment(run_every=0.7)
def progress_panel(job_key: str) -> None:
    """Progress bar, time left and Cancel while the job runs; a full rerun once it ends."""
    job_progress(job_key, lambda job: f"Evaluating {job.label}: {job.done}/{job.total or '?'} images", "evaluate.cancel")


def job_outcome(job: jobs.Job | None):
    """The Evaluation of a finished job; a message for a failed or cancelled one."""
    if job is None:
        st.info("Run an evaluation to see per-class scores, the confusion matrix and the worst images.")
        return None
    if job.status == jobs.FAILED:
        show_error(job.error, "evaluation failed")
        return None
    if job.status == jobs.CANCELLED:
        st.warning(f"Evaluation cancelled after {job.done} of {job.total} images; the results below cover those. "
                   "Press Run evaluation to start again.")  # fmt: skip
        return job.result if job.result is not None and len(job.result.sample_ids) else None
    if job.status == jobs.FINISHED:
        st.success(f"Evaluated {job.label} in {format_seconds(job.seconds)}.", icon=":material/check_circle:")
        return job.result
    return None


# --- results ----------------------------------------------------------------------------------------
#: The split's values shown above the tabs (each metric's label, format and definition from its spec).
SUMMARY = (("iou", "mean_iou"), ("dice", "mean_dice"), ("pixel_accuracy", "pixel_accuracy"),
           ("frequency_weighted_iou", "frequency_weighted_iou"))  # fmt: skip
#: The per-class table's metric families; the distances have their own tab.
TABLE_FAMILIES = ("overlap", "boundary", "objects", "confidence")


def show_summary(evaluation) -> None:
    """Mean IoU, mean Dice, pixel accuracy, freq.-weighted IoU, with the note on undefined classes."""
    from segdash.metrics.scores import UNDEFINED_NOTE

    cols = st.columns(len(SUMMARY))
    for col, (key, attribute) in zip(cols, SUMMARY):
        spec = metric_spec(key)
        label = spec.split_label[0].upper() + spec.split_label[1:]
        col.metric(label, spec.format(getattr(evaluation.scores, attribute)), help=spec.definition)
    st.caption(UNDEFINED_NOTE)


def metric_columns(frame) -> dict:
    """Streamlit column settings for a table whose columns are metric keys: each metric's label, format and
    definition (the tooltip) from its spec; support as whole pixels."""
    from segdash.metrics.specs import spec_for_column

    columns = {}
    for column in frame.columns:
        spec = spec_for_column(column)
        if spec is not None:
            columns[column] = st.column_config.NumberColumn(spec.label if column == spec.key else column,
                                                            format=spec.printf, help=spec.definition)  # fmt: skip
    if "support" in frame.columns:
        columns["support"] = st.column_config.NumberColumn("support (pixels)", format="%d")
    return columns


def per_class_table(evaluation, split: str) -> None:
    """Sortable per-class table with a CSV download; each metric's definition in its column's tooltip."""
    frame = evaluation.class_table(families=TABLE_FAMILIES)
    if "boundary_iou" in frame:  # right beside the IoU it refines
        order = list(frame.columns)
        order.remove("boundary_iou")
        order.insert(order.index("iou") + 1, "boundary_iou")
        frame = frame[order]
    columns = metric_columns(frame)
    st.dataframe(frame, hide_index=True, column_config=columns, width="stretch", key="evaluate.table")
    st.download_button("Per-class table (CSV)", frame.to_csv(index=False).encode(), f"per_class_{split}.csv",
                       "text/csv", icon=":material/download:", on_click="ignore", key="evaluate.csv")


def confusion_section(evaluation, classes) -> tuple[int, int]:
    """The heatmap (counts / row / column normalised); a click on a cell picks (ground truth, predicted)."""
    from segdash.viz.figures import confusion_matrix_figure

    view = st.segmented_control("View", list(NORMALIZE_VIEWS), key="evaluate.cm_view", required=True,
                                default=ROW_NORMALISED, persist_state="session",
                                help="Row-normalised: each ground-truth class's pixels spread over the predictions "
                                     "(the diagonal is recall), so a rare class reads as clearly as background.")  # fmt: skip
    fig = confusion_matrix_figure(evaluation.confusion, classes, normalize=NORMALIZE_VIEWS[view or ROW_NORMALISED])
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="evaluate.cm", width="stretch")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    names = [str(c) for c in classes]
    if points:
        point = points[0]
        try:
            clicked = (names.index(str(point["y"])), names.index(str(point["x"])))
        except (KeyError, ValueError):
            clicked = None
        if clicked is not None and clicked != st.session_state.get("evaluate.last_click"):
            st.session_state["evaluate.last_click"] = clicked
            st.session_state["evaluate.gt"], st.session_state["evaluate.pred"] = clicked
    if "evaluate.gt" not in st.session_state:
        st.session_state["evaluate.gt"], st.session_state["evaluate.pred"] = largest_confusion(evaluation.confusion)
    st.caption("Click a cell (ground truth A predicted as B) to see the images with the most such pixels.")
    cols = st.columns(2)
    gt = cols[0].selectbox("Ground truth", range(len(names)), format_func=names.__getitem__, key="evaluate.gt")
    pred = cols[1].selectbox("Predicted as", range(len(names)), format_func=names.__getitem__, key="evaluate.pred")
    return int(gt), int(pred)


def largest_confusion(cm: np.ndarray) -> tuple[int, int]:
    """(ground truth, predicted) of the biggest off-diagonal cell (the most common mistake)."""
    off = np.asarray(cm, dtype=np.float64).copy()
    np.fill_diagonal(off, -1)
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    return int(i), int(j)


def confused_samples(choice: SidebarChoice, evaluation, split: str, gt: int, pred: int, k: int = 4) -> None:
    """The ``k`` images with the most pixels of class ``gt`` predicted as ``pred``, those pixels highlighted."""
    from segdash.ui.predictions import InputImage, predict
    from segdash.viz.overlay import confusion_pixels, highlight_pixels

    classes = choice.dataset.classes
    top = evaluation.top_confusions(gt, pred, k)
    rows = [(str(sample_id), int(count)) for sample_id, count in _pairs(top) if int(count) > 0]
    if not rows:
        st.info(f"No pixel of {classes[gt]} was predicted as {classes[pred]}.")
        return
    verb = "correct" if gt == pred else f"predicted as {classes[pred]}"
    st.markdown(f"**{classes[gt]} {verb}**: the {len(rows)} images with the most such pixels")
    cols = st.columns(len(rows))
    for col, (sample_id, count) in zip(cols, rows):
        with col, reported_errors(sample_id):
            image, mask, _ = choice.dataset.load(split, sample_id)
            prediction = predict(choice, InputImage(f"{split}/{sample_id}", image, mask))
            where = confusion_pixels(prediction.labels, mask, gt, pred)
            st.image(highlight_pixels(image, where), caption=f"{sample_id}: {count:,} px", width="stretch")
            if st.button("Open in Predict", key=f"evaluate.open.{sample_id}", icon=":material/open_in_new:"):
                state.request_prediction(split, [sample_id], reason=f"{classes[gt]} {verb} in {sample_id}")
                st.switch_page("pages/predict.py")


def _pairs(top):
    """``top_confusions`` output as (sample_id, count) pairs (a DataFrame or a list of pairs)."""
    if hasattr(top, "itertuples"):
        columns = list(top.columns)
        id_col = "sample_id" if "sample_id" in columns else columns[0]
        count_col = next((c for c in ("pixels", "count") if c in columns), columns[-1])
        return list(zip(top[id_col], top[count_col]))
    return list(top)


def ranking_section(evaluation, split: str) -> None:
    """Per-image scores worst first by a chosen column; selecting rows opens them in Predict."""
    rankings = ranking_options(evaluation)
    help_text = ("Which images come first: " + "; ".join(rankings.values()) + ". Each column's tooltip gives its "
                 "definition.")  # fmt: skip
    metric = st.selectbox("Rank by", list(rankings), format_func=lambda m: f"{rankings[m]} ({m})",
                          key="evaluate.rank_by", help=help_text)  # fmt: skip
    frame = ranked_images(evaluation, metric or "mean_dice")
    st.caption("Worst first. Select rows and open them in Predict.")
    shown = st.dataframe(
        frame, hide_index=True, width="stretch", height=320, on_select="rerun", selection_mode="multi-row",
        key="evaluate.ranking", column_config=metric_columns(frame),
    )  # fmt: skip
    rows = list(shown.selection.rows) if shown is not None else []
    chosen = [str(frame["sample_id"][r]) for r in rows][:8] or [str(s) for s in frame["sample_id"][:3]]
    label = f"Open {len(chosen)} selected in Predict" if rows else "Open the 3 worst in Predict"
    if st.button(label, icon=":material/open_in_new:", key="evaluate.open_ranked"):
        state.request_prediction(split, chosen, reason=f"worst-scoring images of '{split}'")
        st.switch_page("pages/predict.py")


def distances_section(evaluation, classes, colors) -> None:
    """HD95 / ASSD / relative area difference per class."""
    from segdash.viz.figures import distance_metrics_figure

    distances = getattr(evaluation, "distances", None)
    if distances is None or (hasattr(distances, "empty") and distances.empty) or (hasattr(distances, "__len__") and not len(distances)):
        st.info("Distance metrics were not computed: tick 'Distance metrics' and run again.")
        return
    st.plotly_chart(distance_metrics_figure(distances, classes, colors), width="stretch", key="evaluate.distances_fig")
    st.caption("HD95 and ASSD in pixels, averaged over the images where the class is in both the ground truth and "
               "the prediction. **HD95 pooled** is MedPy's (the 95th percentile of both directions' surface "
               "distances together), **HD95 max of directions** MONAI's (the larger of the two directed 95th "
               "percentiles), so results compare with either library. **Hatched, missed**: the class is in the "
               "ground truth but was never predicted there, so no distance exists: the worst case, not 'not "
               "applicable'; '· N missed' on a bar: the mean leaves out N images where that happened. **n/a**: "
               "absent from both. Relative area difference: (predicted - true pixels) / true pixels over the whole "
               "split; each image's value is in the Per image table (rad/<class>).")


def show_results(choice: SidebarChoice, evaluation, split: str) -> None:
    """Every result block of a finished evaluation, in tabs."""
    from segdash.ui import dataset_classes
    from segdash.viz.figures import per_class_bar_figure

    ds = choice.dataset
    show_summary(evaluation)
    dataset_classes.caption(evaluation, choice)  # the class mapping that ran, how the channels were fitted
    skipped_note(evaluation.skipped)
    tabs = st.tabs(["Per class", "Confusion matrix", "Per image", "Distances", "Objects", "Calibration"],
                   key="evaluate.tab", on_change="rerun")  # fmt: skip
    tab_table, tab_cm, tab_images, tab_dist, tab_objects, tab_calibration = tabs
    with tab_table:
        if tab_table.open:
            per_class_table(evaluation, split)
            st.plotly_chart(per_class_bar_figure(score_frame(evaluation.scores), "iou", colors=ds.colors),
                            width="stretch", key="evaluate.iou_bars")  # fmt: skip
    with tab_cm:
        if tab_cm.open:
            gt, pred = confusion_section(evaluation, ds.classes)
            confused_samples(choice, evaluation, split, gt, pred)
    with tab_images:
        if tab_images.open:
            ranking_section(evaluation, split)
    with tab_dist:
        if tab_dist.open:
            distances_section(evaluation, ds.classes, ds.colors)
    with tab_objects:
        if tab_objects.open:
            objects_section(evaluation, ds.classes)
    with tab_calibration:
        if tab_calibration.open:
            calibration_section(evaluation, ds.classes, ds.colors)


def objects_table(evaluation, classes):
    """One row per class and size bucket: objects, detected, recall, predicted, false, precision, IoU."""
    import pandas as pd

    rows = []
    for c, name in enumerate(classes):
        table = evaluation.object_table(c)
        for bucket, entry in table["by_size"].items():
            rows.append({"class": name, "size": bucket, **entry})
    return pd.DataFrame(rows)


def objects_section(evaluation, classes) -> None:
    """Objects found, missed and false per class and size bucket: are small objects found at all?"""
    from segdash.viz.figures import objects_figure

    if getattr(evaluation, "objects", None) is None:
        st.info("Object counts were not computed for this evaluation: run it again.")
        return
    names = [str(c) for c in classes]
    shown = st.multiselect("Classes", range(len(names)), default=list(range(len(names))), key="evaluate.obj_classes",
                           format_func=names.__getitem__)  # fmt: skip
    st.plotly_chart(objects_figure(evaluation.objects, names, shown=shown), width="stretch", key="evaluate.objects")
    st.caption(metric_spec("object_recall").definition + " " + metric_spec("object_precision").definition
               + " Sizes relative to the image: small < 0.1%, medium 0.1% to 1%, large >= 1%; a predicted object "
               "counts in the size of the true object it overlaps most. IoU per size: over the pixels of that size's "
               "objects.")  # fmt: skip
    frame = objects_table(evaluation, names)
    st.dataframe(frame[frame["class"].isin([names[c] for c in shown])], hide_index=True, width="stretch",
                 key="evaluate.objects_table",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in
                                ("recall", "precision", "iou")})  # fmt: skip


def calibration_section(evaluation, classes, colors) -> None:
    """Reliability diagram (all pixels or one predicted class), ECE per class, entropy AUROC."""
    import pandas as pd

    from segdash.metrics.calibration import calibration_bins, calibration_error
    from segdash.viz.figures import per_class_bar_figure, reliability_figure

    if getattr(evaluation, "calibration", None) is None:
        st.info("Calibration needs the model's probabilities: evaluate a checkpoint (label PNGs carry none).")
        return
    summary, uncertainty = evaluation.calibration_summary(), evaluation.uncertainty_summary() or {}
    cols = st.columns(3)
    ece, auroc, flips = (metric_spec(k) for k in ("ece", "auroc", "flip_label_change"))
    cols[0].metric(ece.short, ece.format(summary["ece"]), help=ece.definition)
    cols[1].metric(auroc.label, auroc.format(uncertainty.get("auroc")), help=auroc.definition)
    change = uncertainty.get("flip_label_change")
    cols[2].metric(flips.label, "no TTA" if change is None else flips.format(change), help=flips.definition)
    names = [str(c) for c in classes]
    picked = st.selectbox("Pixels", [None, *range(len(names))], key="evaluate.calibration_class",
                          format_func=lambda c: "all" if c is None else f"predicted as {names[c]}")  # fmt: skip
    sums = np.asarray(evaluation.calibration)
    chosen = sums.sum(axis=0) if picked is None else sums[picked]
    title = "Reliability diagram" + ("" if picked is None else f": pixels predicted as {names[picked]}")
    st.plotly_chart(reliability_figure(calibration_bins(chosen), finite_or_none(calibration_error(chosen)), title),
                    width="stretch", key="evaluate.reliability")  # fmt: skip
    st.caption("Bars below the diagonal: the model is surer than it is right (overconfident). " + ece.definition)
    frame = pd.DataFrame({"name": names, "ece": calibration_error(sums)})
    st.plotly_chart(per_class_bar_figure(frame, "ece", colors=colors), width="stretch", key="evaluate.class_ece")


def run_or_show(choice: SidebarChoice) -> None:
    """The whole page body below the title."""
    picked = controls(choice)
    if picked is None:
        return
    split, limit, distances, run = picked
    if run:
        with reported_errors("evaluation"):
            start_evaluation(choice, split, limit, distances)
    job = current_job(choice, split, limit, distances)
    if job is not None and job.is_running:
        progress_panel(job.key)
        return
    evaluation = job_outcome(job)
    if evaluation is not None:
        try:
            show_results(choice, evaluation, split)
        except Exception as exc:
            show_error(exc, "results")
