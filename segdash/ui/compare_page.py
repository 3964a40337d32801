"""Compare: two or more checkpoints on the same samples, what changed, per-class deltas, and their runs' curves."""

from __future__ import annotations

import random
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from segdash.models.catalog import CatalogEntry
from segdash.ui import cache, state, visitor
from segdash.ui.predictions import InputImage, predict
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import OverlaySettings, reported_errors, show_error

MAX_SAMPLES = 6
LETTERS = "ABCD"


def _with_model(choice: SidebarChoice, path: str) -> SidebarChoice:
    """The same sidebar choice with another checkpoint (predictions are cached per checkpoint)."""
    from dataclasses import replace

    return replace(choice, model_choice=replace(choice.model_choice, path=path))


def _short(entry: CatalogEntry) -> str:
    return entry.short


def pick_checkpoints(choice: SidebarChoice) -> list[CatalogEntry]:
    """Two or more checkpoints of this visitor's catalogue that fit the dataset; the first is the reference (A)."""
    catalog = [e for e in visitor.catalog() if e.fits(choice.dataset)]
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


def default_pair(catalog: list[CatalogEntry], current: str) -> list[str]:
    """The pair most worth comparing first, as [A, B].

    An earlier epoch of the chosen model's own run as A and the chosen model as B (what training
    fixed); else a plain model (cross-entropy, no class weights) as A against one trained for class
    imbalance as B (street-synth's rare classes); else the chosen model and the next checkpoint.
    """
    by_path = {e.path: e for e in catalog}
    chosen = by_path.get(current) or catalog[0]
    earlier = [e.path for e in catalog if e.path != chosen.path and run_of(e.path) == run_of(chosen.path)
               and "epoch" in Path(e.path).name]  # fmt: skip
    if earlier:
        return [earlier[0], chosen.path]
    kinds = {e.path: imbalance_aware(e.path) for e in catalog}
    plain = [p for p, aware in kinds.items() if aware is False]
    aware = [p for p, aware in kinds.items() if aware]
    if plain and aware:
        return [chosen.path if chosen.path in plain else plain[0], aware[0]]
    return [chosen.path, next(e.path for e in catalog if e.path != chosen.path)]


def run_of(path: str | Path) -> str:
    """Which training run a checkpoint comes from: ``runs/x/checkpoints/epoch_3`` -> ``runs/x``;
    a shipped ``weights/brain-mri_unet_lite0_epoch03`` -> ``weights/brain-mri_unet_lite0``."""
    path = Path(path)
    if path.parent.name == "checkpoints":
        return str(path.parent.parent)
    return str(path.parent / re.sub(r"_(best|last|epoch_?\d+)$", "", path.name))


def imbalance_aware(path: str) -> bool | None:
    """Whether a checkpoint was trained for class imbalance (class weights, or a Dice / focal term);
    None when its training settings are unknown."""
    from segdash.errors import SegdashError

    try:
        config = cache.checkpoint_meta(path).train_config or {}
    except (SegdashError, OSError):  # an unreadable folder is simply not a candidate
        return None
    if "loss" not in config and "class_weights" not in config:
        return None
    return config.get("class_weights", "none") != "none" or config.get("loss", "ce") != "ce"


def pick_split(choice: SidebarChoice) -> str:
    """A split with masks (test by default): every tab compares on it."""
    ds = choice.dataset
    splits = [s for s in ds.splits() if ds.has_masks(s)]
    if not splits:
        st.warning("No split of this dataset has masks: there is nothing to compare against.")
        st.stop()
    return st.selectbox("Split", splits, index=splits.index("test") if "test" in splits else len(splits) - 1,
                        key="compare.split", persist_state="session")  # fmt: skip


def pick_samples(choice: SidebarChoice, split: str) -> list[str]:
    """A few samples of the split (random with a seed, reshuffled on demand)."""
    cols = st.columns([3, 1], vertical_alignment="bottom")
    count = cols[0].slider("Samples shown", 1, MAX_SAMPLES, 3, key="compare.count", persist_state="session")
    if cols[1].button("Other samples", icon=":material/shuffle:") or "compare.seed" not in st.session_state:
        st.session_state["compare.seed"] = random.randrange(1 << 30)
    ids = choice.dataset.ids(split)
    return random.Random(st.session_state["compare.seed"]).sample(ids, min(count, len(ids)))


def side_by_side(choice: SidebarChoice, entries: list[CatalogEntry], split: str, sample_ids: list[str],
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
            for k, (entry, pred) in enumerate(zip(entries, labels)):
                accuracy = _pixel_accuracy(pred, mask, ds)
                next(cols).image(overlay_mask(image, pred, ds.colors, **draw), width="stretch",
                                 caption=f"{LETTERS[k]}: {_short(entry)} · pixel accuracy {accuracy:.1%}")
            for k, pred in enumerate(labels[1:], start=1):
                diff = difference_map(labels[0], pred, mask, ignore_index=ds.ignore_index, image=image)
                next(cols).image(diff.rgb, width="stretch",
                                 caption=f"{LETTERS[k]} vs A: {diff.counts['fixed']:,} px fixed, "
                                         f"{diff.counts['broken']:,} px broken")


def _pixel_accuracy(pred: np.ndarray, mask: np.ndarray, ds) -> float:
    """One image's pixel accuracy, as the evaluation scores images (``per_image_scores``)."""
    from segdash.metrics.confusion import confusion_matrix
    from segdash.metrics.scores import per_image_scores

    cm = confusion_matrix(pred=pred, target=mask, num_classes=ds.num_classes, ignore_index=ds.ignore_index)
    return float(per_image_scores(cm[None])["pixel_accuracy"][0])


def scores_on(choice: SidebarChoice, entry: CatalogEntry, split: str, sample_ids: list[str]):
    """``Scores`` of one checkpoint over the given samples (one confusion matrix, as in Evaluate)."""
    from segdash.metrics.confusion import confusion_matrix
    from segdash.metrics.scores import scores_from_confusion

    ds = choice.dataset
    total = np.zeros((ds.num_classes, ds.num_classes), np.int64)
    model_choice = _with_model(choice, entry.path)
    for sample_id in sample_ids:
        image, mask, _ = ds.load(split, sample_id)
        pred = predict(model_choice, InputImage(f"{split}/{sample_id}", image, mask)).labels
        cm = confusion_matrix(pred=pred, target=mask, num_classes=ds.num_classes, ignore_index=ds.ignore_index)
        total += np.asarray(cm, np.int64)
    return scores_from_confusion(total, list(ds.classes))


def metrics_table(choice: SidebarChoice, entries: list[CatalogEntry], split: str) -> None:
    """Per-class IoU / Dice of every checkpoint on the same evenly spaced images, with deltas against A."""
    from segdash.data.splits import evenly_spaced
    from segdash.ui.evaluations import score_frame
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


def curves_section(entries: list[CatalogEntry]) -> None:
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


# --- statistics over the whole split (a background job) -------------------------------------------
RESAMPLES = (1_000, 10_000)
#: Images listed under "where B fixed / broke the most".
CHANGED_ROWS = 8


def comparison_key(choice: SidebarChoice, entries: list[CatalogEntry], split: str, metric: str,
                   samples: int) -> str:  # fmt: skip
    models = ",".join(f"{e.path}@{cache.checkpoint_stamp(e.path)}" for e in entries)
    from segdash.ui import jobs

    return "|".join(["compare", jobs.owner(), cache.dataset_key(choice.dataset_choice), split, models, metric,
                     str(samples), choice.model_choice.device])  # fmt: skip


def start_comparison(choice: SidebarChoice, entries: list[CatalogEntry], split: str, metric: str,
                     samples: int):  # fmt: skip
    """Start the background job that evaluates every checkpoint once and compares them."""
    from segdash.infer.compare import ModelSource, compare_models, unique_names
    from segdash.models.checkpoint import check_compatible
    from segdash.ui import jobs

    ds = choice.dataset
    for entry in entries:
        check_compatible(cache.checkpoint_meta(entry.path), ds)
    predictors = [cache.predictor_for(e.path, choice.model_choice.device) for e in entries]
    models = unique_names([ModelSource.checkpoint(e.path, _short(e)) for e in entries])

    def work(job: jobs.Job):
        return compare_models(ds, split, models, predictors, metric=metric, samples=samples,
                              progress=lambda done, total, what: job.report(done, total, what),
                              should_stop=job.should_stop)  # fmt: skip

    label = f"{choice.dataset_choice.label} / {split} ({len(ds.ids(split))} images, {len(entries)} checkpoints)"
    tags = {"kind": "comparison", "dataset": cache.dataset_key(choice.dataset_choice), "split": split,
            "owner": jobs.owner()}  # public mode: this session's comparisons only
    return jobs.job_board().start(comparison_key(choice, entries, split, metric, samples), label, work, tags)


@st.fragment(run_every=0.7)
def comparison_progress(job_key: str) -> None:
    """Progress bar, time left and Cancel while the comparison runs; a full rerun once it ends."""
    from segdash.ui.widgets import job_progress

    job_progress(job_key, lambda job: (f"Scoring every image of {job.label} once per checkpoint "
                                       f"({job.message or 'starting'}): {job.done}/{job.total or '?'}"),
                 cancel_key="compare.cancel")  # fmt: skip


def statistics_section(choice: SidebarChoice, entries: list[CatalogEntry], split: str,
                       settings: OverlaySettings) -> None:  # fmt: skip
    """Is B really better than A? Paired statistics over the whole split, computed once in the background."""
    from segdash.metrics.specs import paired_metrics
    from segdash.ui import jobs
    from segdash.viz.figures import metric_label

    cols = st.columns([1, 1, 2], vertical_alignment="bottom")
    metric = cols[0].segmented_control("Score", list(paired_metrics()), default="dice", required=True,
                                       key="compare.metric", format_func=metric_label,
                                       persist_state="session") or "dice"  # fmt: skip
    samples = cols[1].select_slider("Bootstrap resamples", RESAMPLES, value=10_000, key="compare.resamples",
                                    persist_state="session")  # fmt: skip
    key = comparison_key(choice, entries, split, metric, int(samples))
    job = jobs.job_board().get(key)
    rerun = job is not None and job.status in (jobs.FAILED, jobs.CANCELLED) and cols[2].button(
        "Run again", icon=":material/refresh:", key="compare.rerun")  # fmt: skip
    if job is None or rerun:  # the first open starts it: no button between the user and the answer
        job = start_comparison(choice, entries, split, metric, int(samples))
    if job.is_running:
        comparison_progress(key)
        return
    if job.status != jobs.FINISHED:
        if job.error is not None:
            show_error(job.error)
        else:
            st.warning("The comparison was cancelled.")
        return
    show_statistics(choice, entries, job.result, settings)


def _verdict_frame(pair, label_b: str) -> pd.DataFrame:
    """One row per class (overall first); the verdict next to the class, in view however narrow the page."""
    rows = [{"class": s.name, "verdict": s.verdict(label_b).split(" (")[0], "A": s.mean_a, "B": s.mean_b,
             "B − A": s.diff, "95% CI": f"{s.ci_low:+.3f} .. {s.ci_high:+.3f}" if np.isfinite(s.ci_low) else "n/a",
             "p": s.p_value, "wins / ties / losses": f"{s.wins} / {s.ties} / {s.losses}", "images": s.images}
            for s in [pair.overall, *pair.per_class]]  # fmt: skip
    return pd.DataFrame(rows)


def _style_verdicts(frame: pd.DataFrame):
    def colour(value: str) -> str:
        if value.endswith("better"):
            return "color: #2ca02c; font-weight: 600"
        return "color: #d62728; font-weight: 600" if value.endswith("worse") else "color: #666"

    return (frame.style.format({"A": "{:.3f}", "B": "{:.3f}", "B − A": "{:+.3f}", "p": "{:.2g}"}, na_rep="n/a")
            .map(colour, subset=["verdict"]))  # fmt: skip


def show_statistics(choice: SidebarChoice, entries: list[CatalogEntry], result,
                    settings: OverlaySettings) -> None:  # fmt: skip
    """Per pair (each checkpoint against A): the verdicts, forest plot, paired scatter and what changed."""
    st.success(f"Scored {len(result.sample_ids)} images of '{result.split}' with {len(entries)} checkpoints in "
               f"{result.seconds:.1f} s; {result.comparison.samples:,} bootstrap resamples.",
               icon=":material/check_circle:")  # fmt: skip
    report_button(choice, entries, result)
    if len(entries) > 2:
        ranking_table(entries, result)
    for b in range(1, len(entries)):
        with st.container(border=True):
            pair_section(choice, entries, result, result.comparison.pair(0, b), settings)


def ranking_table(entries: list[CatalogEntry], result) -> None:
    comparison = result.comparison
    rows = [{"place": place, "checkpoint": f"{LETTERS[m]}: {_short(entries[m])}", "mean": comparison.model_means[m],
             "ranks first": comparison.rank_first[m]} for place, m in enumerate(comparison.ranking, start=1)]  # fmt: skip
    st.markdown("**Ranking by overall mean**, and how often each ranks first over the bootstrap resamples")
    st.dataframe(pd.DataFrame(rows).style.format({"mean": "{:.3f}", "ranks first": "{:.0%}"}, na_rep="n/a"),
                 hide_index=True)  # fmt: skip


def pair_section(choice: SidebarChoice, entries: list[CatalogEntry], result, pair,
                 settings: OverlaySettings) -> None:  # fmt: skip
    from segdash.metrics.paired import paired_overall
    from segdash.viz.figures import forest_figure, paired_scatter_figure
    from segdash.viz.report import forest_rows

    la, lb = LETTERS[pair.a], LETTERS[pair.b]
    st.markdown(f"#### {lb} = {_short(entries[pair.b])} against {la} = {_short(entries[pair.a])}")
    st.markdown(f"**Overall: {pair.overall.verdict(lb)}**")
    widths = {name: st.column_config.Column(width="small") for name in (la, lb, f"{lb} − {la}", "p", "images")}
    widths["verdict"] = st.column_config.Column(width="medium")
    st.dataframe(_style_verdicts(_verdict_frame(pair, lb).rename(columns={"A": la, "B": lb, "B − A": f"{lb} − {la}"})),
                 hide_index=True, column_config=widths)  # sized to its columns: the verdict stays in view
    st.caption("95% CI: percentile bootstrap over images; p: Wilcoxon signed-rank on the paired per-image "
               "differences. Better / worse only when the interval excludes 0 and p < 0.05. A class is compared on "
               "the images where it is in the ground truth or a prediction of both.")  # fmt: skip
    metric = result.comparison.metric
    st.plotly_chart(forest_figure(forest_rows(pair), metric, la, lb), width="stretch", key=f"compare.forest.{pair.b}")
    names = ["overall", *result.classes]
    which = st.selectbox("Per-image scores of", names, key=f"compare.scatter_class.{pair.b}")
    scores = result.comparison.scores
    if which == "overall":
        score_a, score_b = paired_overall(scores[pair.a], scores[pair.b])
    else:
        score_a, score_b = scores[pair.a][:, names.index(which) - 1], scores[pair.b][:, names.index(which) - 1]
    fig = paired_scatter_figure(score_a, score_b, result.sample_ids, metric, la, lb,
                                title=f"{which}: per image, {lb} against {la} (click a point to open the image)")
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="points",
                            key=f"compare.scatter.{pair.b}")  # fmt: skip
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    clicked = points[0].get("customdata") if points else None
    if isinstance(clicked, list):  # one value per point arrives as a one-element list from some traces
        clicked = clicked[0] if clicked else None
    if clicked is not None:
        _open_image(choice, entries, result, pair, str(clicked), settings)
    changes_section(choice, entries, result, pair, settings)


def _open_image(choice: SidebarChoice, entries: list[CatalogEntry], result, pair, sample_id: str,
                settings: OverlaySettings) -> None:  # fmt: skip
    """One image of the split: the swipe from A to B, the ground truth, and what B fixed and broke."""
    from segdash.viz.overlay import difference_map, overlay_mask

    if sample_id not in result.sample_ids:
        return
    i = result.sample_ids.index(sample_id)
    ds = choice.dataset
    image, mask, _ = ds.load(result.split, sample_id)
    la, lb = LETTERS[pair.a], LETTERS[pair.b]
    scores = result.comparison.scores
    st.markdown(f"**{sample_id}** · mean {result.comparison.metric} {la} {np.nanmean(scores[pair.a][i]):.3f}, "
                f"{lb} {np.nanmean(scores[pair.b][i]):.3f}")  # fmt: skip
    preds = [predict(_with_model(choice, entries[m].path), InputImage(f"{result.split}/{sample_id}", image, mask)).labels
             for m in (pair.a, pair.b)]  # fmt: skip
    draw = _draw_options(settings, ds)
    cols = st.columns([3, 1])
    with cols[0]:
        swipe(overlay_mask(image, preds[0], ds.colors, **draw), overlay_mask(image, preds[1], ds.colors, **draw),
              f"{la}: {_short(entries[pair.a])}", f"{lb}: {_short(entries[pair.b])}")  # fmt: skip
    diff = difference_map(preds[0], preds[1], mask, ignore_index=ds.ignore_index, image=image)
    cols[1].image(overlay_mask(image, mask, ds.colors, **draw), caption="Ground truth", width="stretch")
    cols[1].image(diff.rgb, caption=f"{lb} vs {la}: {diff.counts['fixed']:,} px fixed (green), "
                                    f"{diff.counts['broken']:,} broken (red)", width="stretch")  # fmt: skip


def _draw_options(settings: OverlaySettings, ds) -> dict:
    """``overlay_mask`` keyword arguments for the page's overlay settings."""
    return {"alpha": settings.alpha, "classes": settings.visible, "mode": settings.mode, "ignore_index": ds.ignore_index}


def swipe(rgb_a: np.ndarray, rgb_b: np.ndarray, label_a: str, label_b: str, width: int = 720) -> None:
    """The swipe view: one slider wipes from A's picture to B's; wheel zooms both together."""
    from segdash.viz.swipe import swipe_height, swipe_html

    st.iframe(swipe_html(rgb_a, rgb_b, label_a, label_b, width=width), height=swipe_height(rgb_a.shape, width))


def changes_section(choice: SidebarChoice, entries: list[CatalogEntry], result, pair,
                    settings: OverlaySettings) -> None:  # fmt: skip
    """Fixed / broken pixels per class over the split, and the images where B fixed or broke the most."""
    from segdash.metrics.paired import most_changed
    from segdash.viz.figures import fixed_broken_figure

    la, lb = LETTERS[pair.a], LETTERS[pair.b]
    if result.pixel_changes is not None:
        counts = result.pixel_changes[(pair.a, pair.b)].sum(axis=0)
        st.plotly_chart(fixed_broken_figure(counts[0], counts[1], result.classes, la, lb), width="stretch",
                        key=f"compare.fixed.{pair.b}")  # fmt: skip
    else:
        st.caption(f"Fixed / broken pixels over the split: {result.pixel_note}.")
    options = ["all classes", *result.classes]
    which = st.selectbox(f"Where {lb} fixed / broke the most pixels of", options, key=f"compare.changed.{pair.b}")
    net = result.net_fixed(pair.a, pair.b)
    net = net.sum(axis=1) if which == "all classes" else net[:, options.index(which) - 1]
    fixed, broken = most_changed(net, CHANGED_ROWS)
    cols = st.columns(2)
    for col, title, picks in ((cols[0], f"{lb} fixed the most", fixed), (cols[1], f"{lb} broke the most", broken)):
        frame = pd.DataFrame({"image": [result.sample_ids[i] for i in picks],
                              "fixed − broken px": [int(net[i]) for i in picks]})  # fmt: skip
        col.markdown(f"**{title}** ({which})")
        if frame.empty:
            col.caption("no image")
            continue
        picked = col.dataframe(frame, hide_index=True, width="stretch", on_select="rerun",
                               selection_mode="single-row", key=f"compare.{title}.{pair.b}")  # fmt: skip
        rows = list(picked.selection.rows) if picked is not None else []
        if rows:
            st.session_state[f"compare.opened.{pair.b}"] = frame["image"].iloc[rows[0]]
    opened = st.session_state.get(f"compare.opened.{pair.b}")
    if opened:
        _open_image(choice, entries, result, pair, opened, settings)


def report_html(choice: SidebarChoice, entries: list[CatalogEntry], result) -> str:
    """The comparison as one self-contained HTML page: each checkpoint by its catalogue name, its folder relative
    to the app's (``weights/...``, ``runs/...``) and its metadata; never a path of the server."""
    from segdash.errors import SegdashError
    from segdash.infer.compare import ReportModel, describe_checkpoint, report_facts, shown_path
    from segdash.viz.report import comparison_report

    roots = (state.repo_root(), state.runs_dir().parent)

    def described(path: str) -> str:
        try:
            return describe_checkpoint(cache.checkpoint_meta(path))
        except (SegdashError, OSError):  # the report still helps without it; the message would name the path
            return "metadata unreadable"

    models = [ReportModel(model.name, shown_path(e.path, roots), described(e.path))
              for e, model in zip(entries, result.models)]  # fmt: skip
    data = choice.dataset_choice
    dataset = shown_path(data.name, roots) if data.format else data.name
    words = ["segdash", "compare", dataset, *(["--format", data.format] if data.format else [])]
    words += [w for key, value in data.options for w in ("--option", f"{key}={_shown_option(value, roots)}")]
    words += ["--split", result.split, *(w for e in entries for w in ("--checkpoint", shown_path(e.path, roots)))]
    words += ["--metric", result.comparison.metric, "--bootstrap", str(result.comparison.samples),
              "--seed", str(result.comparison.seed), "--html", "report.html"]  # fmt: skip
    return comparison_report(result, report_facts(result, choice.dataset, models, shlex.join(words)))


def _shown_option(value: str, roots) -> str:
    """A dataset option's value, a file or folder shown relative to the app's folder like the checkpoints."""
    from segdash.infer.compare import shown_path

    return shown_path(value, roots) if value and Path(value).expanduser().exists() else value


def report_button(choice: SidebarChoice, entries: list[CatalogEntry], result) -> None:
    """Download the comparison as one self-contained HTML file (figures, verdicts, overlays, the command)."""
    ds = choice.dataset
    st.download_button("Download the HTML report", data=lambda: report_html(choice, entries, result).encode("utf-8"),
                       file_name=f"segdash-compare-{ds.name}-{result.split}.html", mime="text/html",
                       icon=":material/download:", on_click="ignore", key="compare.report")  # fmt: skip


def swipe_section(choice: SidebarChoice, entries: list[CatalogEntry], split: str, sample_ids: list[str],
                  settings: OverlaySettings) -> None:  # fmt: skip
    """One image, A's overlay and another checkpoint's under one slider (and one zoom)."""
    from segdash.viz.overlay import overlay_mask

    ds = choice.dataset
    ids = ds.ids(split)
    cols = st.columns(2)
    sample_id = cols[0].selectbox("Image", ids, index=ids.index(sample_ids[0]) if sample_ids else 0,
                                  key="compare.swipe.image")  # fmt: skip
    b = cols[1].selectbox("Against A", range(1, len(entries)), key="compare.swipe.b",
                          format_func=lambda k: f"{LETTERS[k]}: {_short(entries[k])}")  # fmt: skip
    image, mask, _ = ds.load(split, sample_id)
    item = InputImage(f"{split}/{sample_id}", image, mask)
    preds = [predict(_with_model(choice, entries[m].path), item).labels for m in (0, b)]
    draw = _draw_options(settings, ds)
    st.caption("Drag the slider to wipe from A's prediction to the other's; the wheel zooms both pictures together, "
               "a drag pans, a double click resets.")  # fmt: skip
    swipe(overlay_mask(image, preds[0], ds.colors, **draw), overlay_mask(image, preds[1], ds.colors, **draw),
          f"A: {_short(entries[0])}", f"{LETTERS[b]}: {_short(entries[b])}")  # fmt: skip
