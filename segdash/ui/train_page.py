"""Train: start a short run as a separate process, watch its curves live, stop it, use its checkpoints.

The dashboard never trains in its own process: ``segdash.train.runs.start_run``
spawns ``python -m segdash train``, which writes a run folder; this page only
reads that folder (in a ``st.fragment`` that re-runs every few seconds). Leaving
the page, refreshing the browser or opening a second tab never stops a run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from segdash.errors import SegdashError
from segdash.ui import state
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import format_seconds, show_error

REFRESH_SECONDS = 2.0
ACTIVE = ("starting", "running")


# --- reading runs -------------------------------------------------------------------------------
def runs_root() -> Path:
    return state.runs_dir()


def all_runs():
    from segdash.train.runs import list_runs

    return list_runs(runs_root())


def time_left(run) -> float | None:
    """Seconds to the planned end, from the training time so far and the share of steps done."""
    seconds = float(run.info.get("seconds") or 0.0)
    if run.progress <= 0 or run.progress >= 1 or seconds <= 0:
        return None
    return seconds * (1 - run.progress) / run.progress


# --- the form -------------------------------------------------------------------------------------
def training_form(choice: SidebarChoice) -> None:
    """Every option of a short run; Start spawns it and follows it."""
    from segdash.models.registry import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_ENCODER, ENCODERS
    from segdash.train.config import CLASS_WEIGHTS, LOSSES, PRESETS, TrainConfig

    defaults = TrainConfig.from_preset("quick")
    archs, encoders = list(ARCHITECTURES), list(ENCODERS)
    with st.form("train.form", border=True):
        st.markdown(f"**New run on {choice.dataset_choice.label}**")
        cols = st.columns(2)
        arch = cols[0].selectbox("Architecture", archs, index=archs.index(DEFAULT_ARCHITECTURE), key="train.arch",
                                 help="\n".join(f"- **{a.name}**: {a.summary}" for a in ARCHITECTURES.values()))
        encoder = cols[1].selectbox("Encoder", encoders, index=encoders.index(DEFAULT_ENCODER), key="train.encoder",
                                    format_func=lambda e: f"{e} ({ENCODERS[e].params_millions:g} M)")
        pretrained = st.checkbox("Offline ImageNet weights", value=True, key="train.pretrained",
                                 help="real ImageNet weights shipped in a package (EfficientNet-Lite0 only); "
                                      "other encoders start from random weights")  # fmt: skip
        cols = st.columns(2)
        loss = cols[0].selectbox("Loss", LOSSES, index=LOSSES.index(defaults.loss), key="train.loss")
        weights = cols[1].selectbox("Class weights", CLASS_WEIGHTS, index=CLASS_WEIGHTS.index(defaults.class_weights), key="train.weights",
                                    help="weight the cross-entropy by inverse or median class frequency (ce, ce+dice)")
        cols = st.columns(3)
        epochs = cols[0].number_input("Epochs", 1, 500, int(defaults.epochs), key="train.epochs")
        batch_size = cols[1].number_input("Batch size", 1, 256, int(defaults.batch_size), key="train.batch_size")
        img_size = cols[2].select_slider("Image size", [32, 64, 96, 128, 160, 192, 224, 256, 320, 384, 512],
                                         value=int(defaults.img_size), key="train.img_size")
        cols = st.columns(3)
        lr = cols[0].number_input("Learning rate", 1e-6, 1.0, float(defaults.lr), format="%.4f", step=1e-4, key="train.lr")
        minutes = cols[1].number_input("Time limit (min)", 0.0, 600.0, 0.0, step=1.0, help="0: no limit", key="train.minutes")
        name = cols[2].text_input("Run name", placeholder="automatic", key="train.name")
        augment = st.checkbox("Augmentation (flips, scale/crop, brightness/contrast, blur)", value=bool(defaults.augment),
                              key="train.augment")
        submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    st.caption(f"Presets for the command line: {', '.join(PRESETS)}. A run on a 2-core CPU takes minutes; "
               "it keeps going when you leave this page.")  # fmt: skip
    if not submitted:
        return
    try:
        offline = pretrained and ENCODERS[encoder].offline_weights
        config = TrainConfig.from_preset(
            "quick", dataset=choice.dataset_choice.name, format=choice.dataset_choice.format,
            options=dict(choice.dataset_choice.options), arch=arch, encoder=encoder,
            loss=loss, class_weights=weights, epochs=int(epochs),
            batch_size=int(batch_size), img_size=int(img_size), lr=float(lr), augment=bool(augment),
            max_minutes=float(minutes) or None, device=choice.model_choice.device,
        )  # fmt: skip
        # from_preset treats None as "keep the preset's value", so random init is set afterwards
        config = dataclasses.replace(config, pretrained="offline" if offline else None)
        if choice.dataset is None:
            raise SegdashError("the dataset in the sidebar does not open; fix it before training")
        start(config, name.strip() or None)
        if pretrained and not offline:
            st.info(f"{encoder} has no offline ImageNet weights: it starts from random weights.")
    except Exception as exc:
        show_error(exc, "training")


def start(config, name: str | None = None) -> Path:
    """Spawn the run and follow it on this page."""
    from segdash.train.runs import start_run

    run_dir = start_run(config, runs_root=runs_root(), name=name)
    st.session_state[state.TRAIN_RUN] = str(run_dir)
    st.toast(f"Started run {run_dir.name}", icon=":material/model_training:")
    return run_dir


# --- the run list ---------------------------------------------------------------------------------
def runs_table(runs) -> None:
    rows = []
    for run in runs:
        best = run.best or {}
        cfg = run.config
        rows.append({
            "run": run.name, "state": run.state, "epoch": f"{run.epoch}/{run.total_epochs}",
            "best val Dice": best.get("val_mean_dice"),
            "model": f"{cfg.get('arch', '?')} {cfg.get('encoder', '')}", "dataset": cfg.get("dataset", ""),
            "started": str(run.info.get("started") or "")[:19].replace("T", " "),
        })  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"best val Dice": st.column_config.NumberColumn(format="%.3f")})


def pick_run(runs) -> Path | None:
    """The run to show: the one started here, else a running one, else the newest."""
    if not runs:
        st.info("No training run yet: start one with the form.")
        return None
    names = [r.name for r in runs]
    followed = st.session_state.get(state.TRAIN_RUN)
    followed_name = Path(followed).name if followed else None
    if st.session_state.get("train.shown") not in names or (followed_name in names and followed_name != st.session_state.get("train.followed")):
        active = [r.name for r in runs if r.state in ACTIVE]
        st.session_state["train.shown"] = followed_name if followed_name in names else (active or names)[0]
        st.session_state["train.followed"] = followed_name
    shown = st.selectbox("Run", names, key="train.shown")
    return runs_root() / shown


# --- one run, live ----------------------------------------------------------------------------------
def _use_checkpoint(path: str, dataset_choice: state.DatasetChoice) -> None:
    st.session_state[state.model_key(dataset_choice)] = path


def status_block(run, dataset_choice: state.DatasetChoice) -> None:
    """State, progress, time left, best score; Stop / Resume / use-checkpoint buttons."""
    from segdash.train.runs import request_stop

    best = run.best or {}
    left = time_left(run)
    text = f"**{run.state}** · epoch {run.epoch}/{run.total_epochs} · step {run.step}"
    if best.get("val_mean_dice") is not None:
        text += f" · best val Dice {best['val_mean_dice']:.3f} (epoch {best.get('epoch')})"
    st.markdown(text)
    if run.state in ACTIVE:
        st.progress(run.progress, text=f"{run.progress:.0%} of the planned steps"
                    + (f" · about {format_seconds(left)} left" if left is not None else ""))  # fmt: skip
        if run.stop_requested:
            st.caption("Stop requested: the run ends after the current step and saves a checkpoint.")
        else:
            st.button("Stop", icon=":material/stop:", key=f"train.stop.{run.name}",
                      on_click=request_stop, args=(str(run.run_dir),))  # fmt: skip
    elif run.error:
        st.error(f"Run {run.state}: {run.error}", icon=":material/error:")
    elif run.stop_reason:
        st.warning(f"Run {run.state}: {run.stop_reason}")
    if run.state not in ACTIVE and run.best_checkpoint is not None:
        cols = st.columns([1, 1, 3])
        cols[0].button("Use its best checkpoint", icon=":material/check:", key=f"train.use.{run.name}",
                       on_click=_use_checkpoint, args=(str(run.best_checkpoint), dataset_choice),
                       help="select it in the sidebar's model picker")  # fmt: skip
        if run.state in ("stopped", "died"):
            cols[1].button("Resume", icon=":material/replay:", key=f"train.resume.{run.name}",
                           on_click=_resume, args=(str(run.run_dir),))  # fmt: skip


def _resume(run_dir: str) -> None:
    from segdash.train.config import TrainConfig
    from segdash.train.runs import read_run, start_run

    try:
        run = read_run(run_dir)
        start_run(TrainConfig.from_dict(run.config), runs_root=runs_root(), resume_dir=run_dir)
        st.session_state[state.TRAIN_RUN] = run_dir
    except SegdashError as exc:
        st.session_state["train.error"] = str(exc)


def curves(run) -> None:
    """Loss (per step and per epoch) and validation Dice (mean and per class)."""
    from segdash.viz.figures import dice_curves_figure, loss_curves_figure

    classes = run.classes
    colors = run.info.get("colors")
    left, right = st.columns(2)
    left.plotly_chart(loss_curves_figure(run.steps, run.epochs), width="stretch", key="train.chart.loss")
    right.plotly_chart(dice_curves_figure(run.epochs, classes, colors) if classes else loss_curves_figure(None, None),
                       width="stretch", key="train.chart.dice")  # fmt: skip


def previews(run) -> None:
    """The model's prediction on fixed validation images after the latest epoch, beside the ground truth."""
    from segdash.viz.overlay import grid, overlay_mask

    data = run.previews()
    colors = run.info.get("colors")
    if data is None or not data["epochs"] or not colors:
        st.caption("Predictions on fixed validation images appear here after the first epoch.")
        return
    epoch, labels = list(data["epochs"].items())[-1]
    images = np.moveaxis(np.asarray(data["images"]), 1, -1)  # (N, S, S, C)
    pictures, titles = [], []
    for k, image in enumerate(images):
        if k >= len(labels):
            break
        pictures += [overlay_mask(image, data["masks"][k], colors, 0.5), overlay_mask(image, labels[k], colors, 0.5)]
        titles += [f"{data['ids'][k]}: truth", f"epoch {epoch}"]
    st.image(grid(pictures, columns=min(4, len(pictures)), titles=titles), caption=f"Validation previews after epoch {epoch}: "
             "ground truth, then the model's prediction", width="stretch")  # fmt: skip


def run_panel(run_dir: Path, dataset_choice: state.DatasetChoice):
    """Everything about one run; re-drawn every few seconds while it runs."""
    from segdash.train.runs import read_run

    try:
        run = read_run(run_dir)
    except SegdashError as exc:
        show_error(exc)
        return
    if "train.error" in st.session_state:
        st.error(st.session_state.pop("train.error"))
    status_block(run, dataset_choice)
    curves(run)
    previews(run)
    with st.expander("Log and configuration"):
        st.code(run.log_tail(20) or "(empty)", language=None)
        st.json(run.config, expanded=False)
    return run


@st.fragment(run_every=REFRESH_SECONDS)
def live_panel(run_dir: str, dataset_choice: state.DatasetChoice) -> None:
    """``run_panel`` on a timer; once the run has ended, one full rerun (its checkpoints join the model picker)."""
    from segdash.train.runs import read_run

    if read_run(run_dir).state not in ACTIVE:
        st.rerun()
    run_panel(Path(run_dir), dataset_choice)


def show_run(run_dir: Path, dataset_choice: state.DatasetChoice) -> None:
    from segdash.train.runs import read_run

    try:
        active = read_run(run_dir).state in ACTIVE
    except SegdashError as exc:
        show_error(exc)
        return
    if active:
        live_panel(str(run_dir), dataset_choice)
    else:
        run_panel(run_dir, dataset_choice)

