"""Compare: two or more checkpoints on the same samples, what changed, per-class deltas, and their runs' curves."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from segdash.ui import cache
from segdash.ui.predict_page import InputImage, predict
from segdash.ui.sidebar import SidebarChoice, _fits
from segdash.ui.widgets import OverlaySettings, reported_errors, show_error

MAX_SAMPLES = 6
LETTERS = "ABCD"


def _with_model(choice: SidebarChoice, path: str) -> SidebarChoice:
    """The same sidebar choice with another checkpoint (predictions are cached per checkpoint)."""
    from dataclasses import replace

    return replace(choice, model_choice=replace(choice.model_choice, path=path))


def _short(entry: cache.CatalogEntry) -> str:
    return entry.label.split(" — ")[0]


def pick_checkpoints(choice: SidebarChoice) -> list[cache.CatalogEntry]:
    """Two or more checkpoints that fit the dataset; the first is the reference (A)."""
    catalog = [e for e in cache.model_catalog() if _fits(e, choice.dataset)]
    if len(catalog) < 2:
        st.info("Comparing needs two checkpoints trained on this dataset: ship or train another one (Train page).")
        return []
    by_path = {e.path: e for e in catalog}
    key = "compare.models"
    kept = [p for p in st.session_state.get(key, []) if p in by_path]
    if len(kept) < 2:
        kept = default_pair(catalog, choice.model_choice.path)
    st.session_state[key] = kept
    chosen = st.multiselect("Checkpoints (the first one is the reference A)", list(by_path), key=key,
                            format_func=lambda p: by_path[p].label, max_selections=4)  # fmt: skip
    if len(chosen) < 2:
        st.warning("Pick at least two checkpoints.")
        return []
    return [by_path[p] for p in chosen]


def default_pair(catalog: list[cache.CatalogEntry], current: str) -> list[str]:
    """An earlier epoch of the chosen model as A and the chosen model as B (what training fixed);
    else the chosen model and the next checkpoint."""
    by_path = {e.path: e for e in catalog}
    chosen = by_path.get(current) or catalog[0]
    model = chosen.label.split(" — ")[-1]
    earlier = [e.path for e in catalog if e.path != chosen.path and e.label.split(" — ")[-1] == model
               and "epoch" in Path(e.path).name]  # fmt: skip
    if earlier:
        return [earlier[0], chosen.path]
    return [chosen.path, next(e.path for e in catalog if e.path != chosen.path)]


def pick_samples(choice: SidebarChoice) -> tuple[str, list[str]]:
    """A split with masks and a few of its samples (random with a seed, reshuffled on demand)."""
    ds = choice.dataset
    splits = [s for s in ds.splits() if ds.has_masks(s)]
    cols = st.columns([1, 2, 1], vertical_alignment="bottom")
    split = cols[0].selectbox("Split", splits, index=splits.index("test") if "test" in splits else len(splits) - 1,
                              key="compare.split", persist_state="session")  # fmt: skip
    count = cols[1].slider("Samples shown", 1, MAX_SAMPLES, 3, key="compare.count", persist_state="session")
    if cols[2].button("Other samples", icon=":material/shuffle:") or "compare.seed" not in st.session_state:
        st.session_state["compare.seed"] = random.randrange(1 << 30)
    ids = ds.ids(split)
    return split, random.Random(st.session_state["compare.seed"]).sample(ids, min(count, len(ids)))


def side_by_side(choice: SidebarChoice, entries: list[cache.CatalogEntry], split: str, sample_ids: list[str],
                 settings: OverlaySettings) -> None:  # fmt: skip
    """Per sample: ground truth, each checkpoint's overlay, and what each one fixed / broke against A."""
    from segdash.viz.overlay import difference_map, overlay_mask

    ds = choice.dataset
    st.caption("Per sample: the ground truth, each checkpoint's prediction, then what each one changed against A: "
               "green = pixels it fixed, red = pixels it broke, amber = wrong in both.")  # fmt: skip
    for sample_id in sample_ids:
        with st.container(border=True), reported_errors(sample_id):
            image, mask, _ = ds.load(split, sample_id)
            item = InputImage(f"{split}/{sample_id}", image, mask)
            labels = [predict(_with_model(choice, e.path), item).labels for e in entries]
            draw = dict(alpha=settings.alpha, classes=settings.visible, mode=settings.mode, ignore_index=ds.ignore_index)
            st.markdown(f"**{sample_id}**")
            cols = iter(st.columns(2 * len(entries)))
            next(cols).image(overlay_mask(image, mask, ds.colors, **draw), caption="Ground truth", width="stretch")
            valid = np.ones(mask.shape, bool) if ds.ignore_index is None else mask != ds.ignore_index
            for k, (entry, pred) in enumerate(zip(entries, labels)):
                accuracy = float(np.mean(pred[valid] == mask[valid])) if valid.any() else float("nan")
                next(cols).image(overlay_mask(image, pred, ds.colors, **draw), width="stretch",
                                 caption=f"{LETTERS[k]}: {_short(entry)} · pixel accuracy {accuracy:.1%}")
            for k, pred in enumerate(labels[1:], start=1):
                diff = difference_map(labels[0], pred, mask, ignore_index=ds.ignore_index, image=image)
                next(cols).image(diff.rgb, width="stretch",
                                 caption=f"{LETTERS[k]} vs A: {diff.counts['fixed']:,} px fixed, "
                                         f"{diff.counts['broken']:,} px broken")


def scores_on(choice: SidebarChoice, entry: cache.CatalogEntry, split: str, sample_ids: list[str]):
    """``Scores`` of one checkpoint over the given samples (one confusion matrix, as in Evaluate)."""
    from segdash.metrics.confusion import confusion_matrix
    from segdash.metrics.scores import scores_from_confusion

    ds = choice.dataset
    total = np.zeros((ds.num_classes, ds.num_classes), np.int64)
    model_choice = _with_model(choice, entry.path)
    for sample_id in sample_ids:
        image, mask, _ = ds.load(split, sample_id)
        pred = predict(model_choice, InputImage(f"{split}/{sample_id}", image, mask)).labels
        total += np.asarray(confusion_matrix(mask, pred, ds.num_classes, ignore_index=ds.ignore_index), np.int64)
    return scores_from_confusion(total, list(ds.classes))


def metrics_table(choice: SidebarChoice, entries: list[cache.CatalogEntry], split: str) -> None:
    """Per-class IoU / Dice of every checkpoint on the same evenly spaced images, with deltas against A."""
    from segdash.ui.evaluate_page import evenly_spaced, score_frame
    from segdash.viz.figures import metric_delta_figure
    from segdash.viz.tables import metric_delta_frame

    ds = choice.dataset
    ids = ds.ids(split)
    limit = st.select_slider("Images scored", [n for n in (4, 8, 16, 32, 64) if n < len(ids)] + [len(ids)],
                             value=min(16, len(ids)), key="compare.limit", persist_state="session")  # fmt: skip
    chosen = evenly_spaced(ids, int(limit))
    frames = {}
    with st.spinner(f"Scoring {len(entries)} checkpoints on {len(chosen)} images…"):
        for entry in entries:
            frames[entry.path] = score_frame(scores_on(choice, entry, split, chosen))
    reference = entries[0]
    for k, entry in enumerate(entries[1:], start=1):
        letter = LETTERS[k]
        table = metric_delta_frame(frames[reference.path], frames[entry.path], ("iou", "dice"), "A", letter)
        st.markdown(f"**{letter} = {_short(entry)}** against **A = {_short(reference)}** "
                    f"on {len(chosen)} evenly spaced images of '{split}'")
        st.dataframe(_style_deltas(table), hide_index=True, width="stretch")
        st.plotly_chart(metric_delta_figure(frames[reference.path], frames[entry.path], list(ds.classes), "iou",
                                            "A", letter), width="stretch", key=f"compare.delta.{entry.path}")  # fmt: skip


def _style_deltas(table: pd.DataFrame):
    """Green for a gain, red for a loss in the Δ columns; 3 decimals everywhere."""
    deltas = [c for c in table.columns if c.startswith("Δ")]

    def colour(value):
        if value is None or not np.isfinite(value) or value == 0:
            return ""
        return "color: #2ca02c; font-weight: 600" if value > 0 else "color: #d62728; font-weight: 600"

    numeric = [c for c in table.columns if c != "name"]
    return table.style.format("{:.3f}", subset=numeric, na_rep="n/a").map(colour, subset=deltas)


def run_dir_of(checkpoint: str | Path) -> Path | None:
    """Where a checkpoint's training curves are: the nearest folder holding metrics.jsonl.

    A run's ``checkpoints/epoch_K`` finds its run folder; a shipped checkpoint may carry
    its run's ``metrics.jsonl`` in its own folder.
    """
    path = Path(checkpoint)
    for folder in [path, *list(path.parents)[:3]]:
        if (folder / "metrics.jsonl").is_file():
            return folder
    return None


def curves_section(entries: list[cache.CatalogEntry]) -> None:
    """The validation curves of the runs these checkpoints come from, on one chart."""
    from segdash.train.runs import read_metrics
    from segdash.viz.figures import runs_comparison_figure

    runs = {}
    for entry in entries:
        run = run_dir_of(entry.path)
        if run is not None and run.name not in runs:
            runs[run.name] = pd.DataFrame(read_metrics(run)[1])
    if not runs:
        st.info("None of these checkpoints comes with its training run's curves (metrics.jsonl).")
        return
    metric = st.segmented_control("Curve", ["val_mean_dice", "val_mean_iou", "val_loss", "train_loss"],
                                  key="compare.curve", required=True, default="val_mean_dice", persist_state="session")
    st.plotly_chart(runs_comparison_figure(runs, metric or "val_mean_dice"), width="stretch", key="compare.curves")


def guarded(section, *args) -> None:
    """Run a page section; an error in it is shown and the rest of the page still draws."""
    try:
        section(*args)
    except Exception as exc:
        show_error(exc)
