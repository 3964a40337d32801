"""Dataset page, "Suspect labels": the masks the chosen model most doubts, their pixels, and a list to fix.

The check (``segdash.infer.label_issues.find_label_issues``: two passes of the model over the split) runs
in the background like an evaluation (``segdash.ui.jobs``), so switching pages does not stop it; its
result stays on the job board for the session (each visitor's own in public mode) and is found again by
dataset, model, split and image count. The suggestion maps of the ``KEPT_MAPS`` most suspect images are
kept with it, so the pictures draw without running the model again.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import streamlit as st

from segdash.ui import cache, jobs, state
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import format_seconds, job_progress, legend, reported_errors, show_error, skipped_note

ALL_IMAGES = 0
#: Pictures shown per page, and how many images' suggestion maps the check keeps for them.
PER_PAGE = 6
KEPT_MAPS = 48


# --- the background check -----------------------------------------------------------------------------------


def _tags(choice: SidebarChoice, split: str) -> dict:
    from segdash.ui.evaluations import _tags as evaluation_tags  # the same dataset, model and owner keys

    return {**evaluation_tags(choice, split), "kind": "label_issues"}


def job_key(choice: SidebarChoice, split: str, limit: int) -> str:
    tags = _tags(choice, split)
    return "|".join(["labels", tags["owner"], tags["dataset"], split, tags["model"], str(limit)])


def current_job(choice: SidebarChoice, split: str, limit: int) -> jobs.Job | None:
    """The check of the chosen model on ``split`` with this image count, running or done (this visitor's)."""
    return jobs.job_board().get(job_key(choice, split, limit))


def start_check(choice: SidebarChoice, split: str, limit: int) -> jobs.Job:
    """Start (or find) the background check of ``split``'s masks by the chosen model."""
    from segdash.infer.label_issues import find_label_issues
    from segdash.models.checkpoint import check_compatible

    ds = choice.dataset
    predictor = cache.predictor(choice.model_choice)
    check_compatible(cache.checkpoint_meta(choice.model_choice.path), ds)
    count = min(limit, len(ds.ids(split))) if limit else len(ds.ids(split))

    def work(job: jobs.Job):
        job.report(0, 2 * count)
        return find_label_issues(ds, split, predictor, limit=limit or None, keep_maps=KEPT_MAPS, progress=job.report,
                                 should_stop=job.should_stop)  # fmt: skip

    label = f"{choice.dataset_choice.label} / {split} ({count} images)"
    return jobs.job_board().start(job_key(choice, split, limit), label, work, _tags(choice, split))


@st.fragment(run_every=0.7)
def progress_panel(key: str) -> None:
    """Progress (both passes), time left and Cancel while the check runs; a full rerun once it ends."""

    def describe(job) -> str:
        images = job.total // 2
        step = "pass 1 of 2, thresholds" if job.done < images else "pass 2 of 2, suspect pixels"
        return f"Checking the masks of {job.label}: {step} ({job.done}/{job.total or '?'})"

    job_progress(key, describe, "labels.cancel")


def _outcome(job: jobs.Job | None):
    """The ``LabelIssues`` of a finished job; a message for a failed or cancelled one."""
    if job is None:
        st.info("Press **Find suspect labels** to rank this split's masks by how likely they are wrong. The model "
                "runs over the split twice: once for each class's typical confidence, once to flag the pixels.")
        return None
    if job.status == jobs.FAILED:
        show_error(job.error, "label check failed")
        return None
    issues = job.result
    if job.status == jobs.CANCELLED:
        if issues is None or not issues.images:
            st.warning("Label check cancelled before any image was scored. Press Find suspect labels to start again.")
            return None
        st.warning(f"Label check cancelled: {issues.images} of {issues.total_images} images scored; the results "
                   "below cover those (the thresholds are from the whole split).")  # fmt: skip
        return issues
    if job.status == jobs.FINISHED:
        st.success(f"Checked {job.label} in {format_seconds(job.seconds)}.", icon=":material/check_circle:")
        return issues
    return None


# --- honest use ---------------------------------------------------------------------------------------------


def honest_use_note(choice: SidebarChoice, split: str) -> None:
    """A warning when the model trained (or was chosen) on ``split``; else a line saying what it trained on."""
    from segdash.infer.label_issues import in_sample_warning

    dataset = choice.dataset_choice
    try:
        meta = cache.checkpoint_meta(choice.model_choice.path)
    except Exception:  # noqa: BLE001 - the sidebar reports an unreadable checkpoint; nothing to add here
        return
    warning = in_sample_warning(meta, dataset.name, split, dataset.format, dict(dataset.options))
    if warning:
        st.warning(warning, icon=":material/warning:")
        return
    trained = meta.train_config or {}
    if trained:
        where = str(trained.get("dataset", "")) if not trained.get("format") else Path(str(trained["dataset"])).name
        st.caption(f"The model trained on {where} / {trained.get('train_split', 'train')} (chosen on "
                   f"{trained.get('val_split') or 'no validation split'}): '{split}' here is held out, so its "
                   "probabilities are out-of-sample, as the method needs.")  # fmt: skip
    else:
        st.caption("The checkpoint does not record what it trained on: the scores are honest only on images it "
                   "never saw (a held-out split, or a cross-validated model).")


# --- the section --------------------------------------------------------------------------------------------


def section(choice: SidebarChoice) -> None:
    """The whole "Suspect labels" tab."""
    ds = choice.dataset
    if not choice.model_choice.is_set:
        st.info("Choose a model in the sidebar: its probabilities tell which mask pixels it confidently disagrees with.")
        return
    splits = [s for s in ds.splits() if ds.has_masks(s)]
    if not splits:
        st.info("No split of this dataset has masks: there are no labels to check.")
        return
    cols = st.columns([1, 1, 1], vertical_alignment="bottom")
    default = "test" if "test" in splits else ("val" if "val" in splits else splits[-1])
    split = cols[0].selectbox("Split", splits, index=splits.index(default), key="labels.split",
                              persist_state="session")  # fmt: skip
    total = len(ds.ids(split))
    options = [ALL_IMAGES] + [n for n in (16, 32, 64, 128, 256) if n < total]
    limit = cols[1].selectbox("Images", options, key="labels.limit", persist_state="session",
                              format_func=lambda n: f"all {total}" if n == ALL_IMAGES else f"{n} (evenly spaced)")
    run = cols[2].button("Find suspect labels", type="primary", icon=":material/troubleshoot:", key="labels.run")
    honest_use_note(choice, split)
    limit = int(limit or 0)
    if run:
        with reported_errors("label check"):
            start_check(choice, split, limit)
    job = current_job(choice, split, limit)
    if job is not None and job.is_running:
        progress_panel(job.key)
        return
    issues = _outcome(job)
    if issues is not None:
        try:
            show_results(choice, issues, split)
        except Exception as exc:
            show_error(exc, "results")


def show_results(choice: SidebarChoice, issues, split: str) -> None:
    """Summary, the most suspect images as pictures, the ranked list with its CSV, the per-class views."""
    from segdash.infer.label_issues import NOTE, weak_classes_note

    ds = choice.dataset
    summary(issues)
    skipped_note(issues.skipped)
    weak = issues.weak_classes()
    if weak:
        st.warning(weak_classes_note([ds.classes[c] for c in weak]), icon=":material/warning:")
    pictures(choice, issues, split)
    ranked_table(issues, split)
    per_class(issues, ds.classes, ds.colors)
    with st.expander("How the scores are computed"):
        st.markdown(NOTE.format(temperature=issues.temperature))


def summary(issues) -> None:
    frame = issues.class_frame()
    flagged = int((issues.suspect_pixels > 0).sum())
    share = frame["suspect_share"].to_numpy(float)
    cols = st.columns(4)
    cols[0].metric("Images checked", f"{issues.images:,}")
    cols[1].metric("With suspect pixels", f"{flagged:,}", help="images holding at least one suspect pixel")
    pixels, labelled = int(issues.suspect_pixels.sum()), int(issues.labelled.sum())
    cols[2].metric("Suspect pixels", f"{pixels:,}", help=f"{pixels / max(labelled, 1):.3%} of the labelled pixels")
    if np.isfinite(share).any() and np.nanmax(share) > 0:
        worst = int(np.nanargmax(share))
        cols[3].metric("Most suspected class", frame["name"][worst],
                       help=f"{share[worst]:.2%} of its pixels, most often suggested as {frame['most_suggested'][worst]}")
    else:
        cols[3].metric("Most suspected class", "none")


def _involved_text(issues, i: int) -> str:
    cells = issues.involved(i, most=4)
    if not cells:
        return "no suspect pixel"
    return "<br>".join(f"{html.escape(g)} → <b>{html.escape(s)}</b> {n:,}" for g, s, n in cells)


def pictures(choice: SidebarChoice, issues, split: str) -> None:
    """The most suspect images, a page at a time: the mask over the image, the suspect pixels outlined in the
    suggested class's colour, the ranks and the classes involved, and Open in Predict."""
    from segdash.viz.label_issues import suspect_overlay
    from segdash.viz.overlay import for_display, overlay_mask

    ds = choice.dataset
    kept = [sid for sid in issues.maps]  # most suspect first
    if not kept:
        st.info("No image was scored.")
        return
    index = {sid: i for i, sid in enumerate(issues.sample_ids)}
    ranks, dice_ranks = issues.ranks, issues.dice_ranks
    pages = max(1, -(-len(kept) // PER_PAGE))
    head = st.columns([3, 1], vertical_alignment="bottom")
    head[0].markdown(f"**The {len(kept)} most suspect masks** (lowest label-quality score first)")
    page = head[1].number_input(f"Page (of {pages})", 1, pages, 1, key=f"labels.page.{split}")
    legend(ds.classes, ds.colors, title="Suggested class outlines:")
    for sample_id in kept[(page - 1) * PER_PAGE: page * PER_PAGE]:
        i = index[sample_id]
        row = st.columns([5, 5, 4], vertical_alignment="top")
        with reported_errors(sample_id):
            image, mask, _ = ds.load(split, sample_id)
            shown, (mask_shown, codes_shown) = for_display(image, mask, issues.maps[sample_id])
            row[0].image(overlay_mask(shown, mask_shown, ds.colors, alpha=0.45, ignore_index=ds.ignore_index),
                         caption=f"{sample_id}: the mask", width="stretch")  # fmt: skip
            row[1].image(suspect_overlay(shown, codes_shown, ds.colors),
                         caption="suspect pixels, outlined in the suggested class", width="stretch")
        share = issues.suspect_share[i]
        row[2].markdown(
            f"**#{ranks[i]}** of {issues.images} · score {issues.scores[i]:.3f}<br>"
            f"worst-Dice rank **{dice_ranks[i]}** · Dice {issues.mean_dice[i]:.3f}<br>"
            f"{int(issues.suspect_pixels[i]):,} suspect px" + ("" if np.isnan(share) else f" ({share:.2%})")
            + f"<br>{_involved_text(issues, i)}",
            unsafe_allow_html=True,
        )  # fmt: skip
        if row[2].button("Open in Predict", key=f"labels.open.{sample_id}", icon=":material/open_in_new:"):
            state.request_prediction(split, [sample_id], reason=f"{sample_id}: suspect mask (rank {ranks[i]} by "
                                     "label quality, Dataset page)")  # fmt: skip
            st.switch_page("pages/predict.py")
    st.caption("A high label-quality rank with a low worst-Dice rank: the model is confident and the mask disagrees "
               "(likely a label error). Both high: the model also struggles there; look before fixing.")


def ranked_table(issues, split: str) -> None:
    """Every image, most suspect first, with a CSV download."""
    frame = issues.ranking()
    st.markdown("**All images, most suspect first**")
    st.dataframe(
        frame, hide_index=True, width="stretch", height=320, key="labels.table",
        column_config={
            "rank": st.column_config.NumberColumn("rank", help="by label-quality score, 1 = most suspect"),
            "score": st.column_config.NumberColumn("score", format="%.3f", help="soft-min of the pixels' given-label "
                                                   "probabilities; lower = more likely mislabelled"),
            "suspect_pixels": st.column_config.NumberColumn("suspect px", format="localized"),
            "suspect_share": st.column_config.NumberColumn("suspect share", format="percent"),
            "classes": st.column_config.TextColumn("given → suggested (pixels)"),
            "mean_dice": st.column_config.NumberColumn("mean Dice", format="%.3f"),
            "dice_rank": st.column_config.NumberColumn("Dice rank", help="rank by the model's mean Dice against "
                                                       "the mask, worst first (the naive ranking)"),
        },
    )  # fmt: skip
    st.download_button("Suspect-label list (CSV)", frame.to_csv(index=False).encode(), f"suspect_labels_{split}.csv",
                       "text/csv", icon=":material/download:", on_click="ignore", key="labels.csv")


def per_class(issues, classes, colors) -> None:
    """Which classes are most often suspected and as what, the thresholds, and label quality against Dice."""
    from segdash.viz.label_issues import score_vs_dice_figure, suspect_confusion_figure, suspect_share_figure

    frame = issues.class_frame()
    st.markdown("**Per class**")
    st.plotly_chart(suspect_share_figure(frame["suspect_pixels"], frame["pixels"], classes, colors), width="stretch",
                    key="labels.share")  # fmt: skip
    st.plotly_chart(suspect_confusion_figure(issues.suspect_matrix, classes), width="stretch", key="labels.confusion")
    empty = [str(n) for n, t in zip(frame["name"], frame["threshold"]) if np.isnan(t)]
    st.dataframe(
        frame, hide_index=True, width="stretch", key="labels.classes",
        column_config={
            "threshold": st.column_config.NumberColumn("threshold", format="%.3f", help="the mean probability the "
                                                       "model gives the class on the pixels labelled with it"),
            "pixels": st.column_config.NumberColumn("labelled px", format="localized"),
            "suspect_pixels": st.column_config.NumberColumn("suspect px", format="localized"),
            "suspect_share": st.column_config.NumberColumn("suspect share", format="percent"),
            "most_suggested": st.column_config.TextColumn("most often suggested instead"),
            "model_dice": st.column_config.NumberColumn("model Dice", format="%.3f", help="the model's Dice for the "
                                                        "class against these masks: a class it segments poorly is "
                                                        "suspected for its sake, not the mask's"),
        },
    )  # fmt: skip
    if empty:
        st.caption(f"No pixel is labelled {', '.join(empty)} in the images checked: without a threshold no pixel is "
                   "suspected of being it, even where the model sees it.")  # fmt: skip
    st.plotly_chart(score_vs_dice_figure(issues.scores, issues.mean_dice, issues.sample_ids, issues.suspect_share,
                                         marked=list(issues.maps)[:PER_PAGE]), width="stretch", key="labels.scatter")
