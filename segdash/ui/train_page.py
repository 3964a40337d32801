"""Train: start a short run as a separate process, watch its curves live, stop it, use its checkpoints.

The dashboard never trains in its own process: ``segdash.train.runs.start_run``
spawns ``python -m segdash train``, which writes a run folder; this page only
reads that folder (in a ``st.fragment`` that re-runs every few seconds). Leaving
the page, refreshing the browser or opening a second tab never stops a run.

Start and Resume run as button callbacks (before the page is drawn again, so a
second click sees the first) and stay disabled while this session's start is
pending, i.e. until its process says "running". ``start_run`` holds the run
folder's lock while it spawns and hands it to the process, so even two sessions
cannot run one folder twice. ``SEGDASH_MAX_RUNS`` caps the runs alive at once over
all visitors; in public mode (``segdash.public``) a visitor sees and controls only
the runs their session started, trains only on built-in datasets, and each run
has an epoch and a training-time cap (kept over resumes).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from segdash import public
from segdash.errors import SegdashError
from segdash.ui import state, visitor
from segdash.ui.sidebar import SidebarChoice
from segdash.ui.widgets import format_seconds, public_text, reported_errors, show_error

REFRESH_SECONDS = 2.0
ACTIVE = ("starting", "running")
#: ``{"run": run folder or None while spawning, "since": time.monotonic()}``: a start or resume
#: clicked in this session whose process has not said "running" yet.
PENDING = "train.pending"
#: A pending start older than this is forgotten (its process died before writing run.json).
PENDING_SECONDS = 90.0
#: An exception from a Start / Resume callback, shown on the next draw.
ERROR = "train.error"
NOTICE = "train.notice"
PREVIEW_HEIGHT = 160


# --- reading runs -------------------------------------------------------------------------------
def runs_root() -> Path:
    """Where this visitor's runs go (public mode: their session's own folder; see ``segdash.ui.visitor``)."""
    return visitor.runs_root()


def all_runs():
    """The runs this visitor may see: all of them locally, in public mode those their session started."""
    return visitor.runs()


def time_left(run) -> float | None:
    """Seconds to the planned end, from the training time so far and the share of steps done."""
    return run.seconds_left


def epoch_label(run) -> str:
    """'epoch 1/3' while the first epoch trains (the epoch in progress), else epochs completed."""
    epoch = min(run.epoch + 1, run.total_epochs) if run.state in ACTIVE else run.epoch
    return f"{epoch}/{run.total_epochs}"


def _remember(run_dir: Path | str) -> None:
    st.session_state[state.TRAIN_RUN] = str(run_dir)


# --- a start or resume in progress ---------------------------------------------------------------
def pending() -> bool:
    """True while a start or resume clicked in this session has not reached "running" (or an end)."""
    from segdash.train.runs import read_run_or_none

    entry = st.session_state.get(PENDING)
    if not entry:
        return False
    if time.monotonic() - entry["since"] < PENDING_SECONDS:
        if entry["run"] is None:
            return True  # being spawned right now (another click's rerun)
        run = read_run_or_none(Path(entry["run"]))
        if run is not None and run.state == "starting":
            return True
    st.session_state.pop(PENDING, None)
    return False


def _launch(spawn) -> Path | None:
    """Run ``spawn()`` (which starts a process and returns its run folder) unless a start is pending.

    Marks the start pending before spawning, so a second click, even one whose rerun interrupts
    this one, finds it and starts nothing. Errors are kept for the next draw.
    """
    if pending():
        st.session_state[ERROR] = SegdashError("a run is already starting; wait until it runs")
        return None
    st.session_state[PENDING] = {"run": None, "since": time.monotonic()}
    try:
        run_dir = spawn()
    except Exception as exc:  # shown by show_error on the next draw (a bug as a bug, with its traceback logged)
        st.session_state.pop(PENDING, None)
        st.session_state[ERROR] = exc
        return None
    st.session_state[PENDING] = {"run": str(run_dir), "since": time.monotonic()}
    _remember(run_dir)
    return run_dir


def show_messages() -> None:
    """The error or notice a Start / Resume callback left."""
    if ERROR in st.session_state:
        show_error(st.session_state.pop(ERROR), "training")
    if NOTICE in st.session_state:
        st.info(st.session_state.pop(NOTICE))


# --- the form -------------------------------------------------------------------------------------
def _slot_message() -> str | None:
    """Why no run may start now (all ``SEGDASH_MAX_RUNS`` slots taken, with when one frees), else None."""
    from segdash.train.runs import alive_runs, slot_message

    cap = public.max_runs()
    if cap is None:
        return None
    alive = alive_runs(state.runs_dir())  # over every visitor's runs
    return slot_message(alive, cap) if len(alive) >= cap else None


def _blocker(choice: SidebarChoice) -> str | None:
    """Why Start is disabled now, or None."""
    if pending():
        return "A run is starting: Start is back once it runs."
    if public.is_public() and not choice.dataset_choice.is_builtin:
        return "This demo trains on the built-in datasets only: pick one in the sidebar."
    return _slot_message()


def training_form(choice: SidebarChoice) -> None:
    """Every option of a short run, labelled, explained and bounded as ``TrainConfig`` declares them;
    Start spawns the run and follows it, Estimate time measures a training step first."""
    from segdash.models.registry import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_ENCODER, ENCODERS
    from segdash.train.config import PRESETS, TrainConfig

    defaults = TrainConfig.from_preset("quick")
    option = TrainConfig.option
    archs, encoders = list(ARCHITECTURES), list(ENCODERS)
    max_epochs = public.max_epochs() or int(option("epochs").form_max)
    cap_minutes = _cap_minutes()
    blocker = _blocker(choice)
    keep = {"persist_state": "session"}  # the form's values survive page switches

    def choices(name: str, column, key: str) -> None:
        values = list(option(name).choices)
        column.selectbox(option(name).label, values, index=values.index(getattr(defaults, name)), key=key,
                         help=option(name).help, **keep)

    with st.form("train.form", border=False):
        cols = st.columns([2, 3])
        cols[0].selectbox(option("arch").label, archs, index=archs.index(DEFAULT_ARCHITECTURE), key="train.arch",
                          help="\n".join(f"- **{a.name}**: {a.summary}" for a in ARCHITECTURES.values()), **keep)
        cols[1].selectbox(option("encoder").label, encoders, index=encoders.index(DEFAULT_ENCODER), key="train.encoder",
                          format_func=lambda e: f"{e} ({ENCODERS[e].params_millions:g} M)", **keep)
        cols = st.columns(3)
        choices("loss", cols[0], "train.loss")
        choices("class_weights", cols[1], "train.weights")
        cols[2].number_input(option("epochs").label, int(option("epochs").minimum), max_epochs,
                             min(int(defaults.epochs), max_epochs), key="train.epochs", help=option("epochs").help, **keep)
        cols = st.columns(3)
        cols[0].number_input(option("batch_size").label, int(option("batch_size").minimum),
                             int(option("batch_size").form_max), int(defaults.batch_size), key="train.batch_size",
                             help=option("batch_size").help, **keep)
        sizes = [s for s in (32, 64, 96, 128, 160, 192, 224, 256, 320, 384, 512) if s <= option("img_size").form_max]
        cols[1].select_slider(option("img_size").label, sizes, value=int(defaults.img_size), key="train.img_size",
                              help=option("img_size").help, **keep)
        cols[2].number_input(option("lr").label, 1e-6, 1.0, float(defaults.lr), format="%.4f", step=1e-4,
                             key="train.lr", help=option("lr").help, **keep)
        cols = st.columns(4)
        cols[0].number_input(option("rare_oversample").label, float(option("rare_oversample").minimum),
                             float(option("rare_oversample").form_max), float(defaults.rare_oversample), step=0.5,
                             key="train.rare_oversample", help=option("rare_oversample").help, **keep)
        cols[1].number_input(option("weight_floor").label, float(option("weight_floor").minimum),
                             float(option("weight_floor").form_max), float(defaults.weight_floor), step=0.05,
                             key="train.weight_floor", help=option("weight_floor").help, **keep)
        cols[2].number_input(option("max_minutes").label, 0.0, cap_minutes or 600.0, cap_minutes or 0.0, step=1.0,
                             help=f"at most {cap_minutes:g} min in this demo" if cap_minutes else "0: no limit",
                             key="train.minutes", **keep)  # fmt: skip
        cols[3].text_input("Run name", placeholder="automatic", key="train.name", **keep)
        st.checkbox(option("pretrained").label, value=True, key="train.pretrained",
                    help="real ImageNet weights shipped in a package (EfficientNet-Lite0 only); "
                         "other encoders start from random weights", **keep)  # fmt: skip
        st.checkbox(option("augment").label, value=bool(defaults.augment), key="train.augment",
                    help=option("augment").help, **keep)
        cols = st.columns(3)
        cols[0].form_submit_button("Start training", type="primary", icon=":material/play_arrow:", width="stretch",
                                   disabled=blocker is not None, on_click=_on_start, args=(choice,))
        cols[1].form_submit_button("Estimate time", icon=":material/timer:", on_click=_ask_estimate, width="stretch",
                                   help="time one training step of this model on this machine (a few seconds)")
    if blocker:
        st.info(blocker, icon=":material/hourglass_top:")
        if not pending():
            slot_watch()
    time_estimate(choice)
    st.caption(f"Presets for the command line: {', '.join(PRESETS)}. A run on a 2-core CPU takes minutes; "
               "it keeps going when you leave this page.")  # fmt: skip


# --- the time estimate ------------------------------------------------------------------------------
#: ``{(arch, encoder, batch, size, device, dataset): TimeEstimate}`` measured in this session.
ESTIMATES = "train.estimates"
ESTIMATE_ASKED = "train.estimate_asked"


def _ask_estimate() -> None:
    st.session_state[ESTIMATE_ASKED] = True


def _estimate_key(config) -> tuple:
    return (config.arch, config.encoder, config.batch_size, config.img_size, config.device,
            config.dataset, config.format, tuple(sorted(config.options.items())))


def time_estimate(choice: SidebarChoice) -> None:
    """'about N min on this machine (...)' for the form's values: measured once per model, batch, size,
    device and dataset in this session (Estimate time), then scaled to the epochs chosen."""
    from segdash.train.estimate import estimate_training_time

    if st.session_state.get("train.arch") is None:
        return  # the form has not been drawn with values yet
    try:
        config = config_from_form(choice, notify=False)
    except SegdashError:
        return  # Start says what is wrong
    estimates = st.session_state.setdefault(ESTIMATES, {})
    key = _estimate_key(config)
    if st.session_state.pop(ESTIMATE_ASKED, False) and key not in estimates:
        with st.spinner("Timing a training step of this model…"), reported_errors("time estimate") as outcome:
            estimates[key] = estimate_training_time(config, choice.dataset)
        if outcome.failed:
            return
    if key in estimates:
        estimate = dataclasses.replace(estimates[key], epochs=config.epochs)
        st.caption(f":material/timer: Estimated time: {estimate.describe()}. Data loading and augmentation "
                   "come on top on a busy machine.")
    else:
        st.caption("Estimate time measures one training step of the chosen model (a few seconds) before you start.")


def _cap_minutes() -> float | None:
    seconds = public.max_run_seconds()
    return None if seconds is None else seconds / 60


@st.fragment(run_every=5.0)
def slot_watch() -> None:
    """While Start is blocked by the run cap, redraw the page once a slot frees."""
    if _slot_message() is None and not pending():
        st.rerun()


def config_from_form(choice: SidebarChoice, notify: bool = True):
    """The TrainConfig the form's values (in session state) describe, capped in public mode.

    ``notify``: leave a notice when the chosen encoder has no offline weights (Start does, the estimate not).
    """
    from segdash.models.registry import ENCODERS
    from segdash.train.config import TrainConfig

    if public.is_public() and not choice.dataset_choice.is_builtin:
        raise SegdashError("this demo trains on the built-in datasets only")
    if choice.dataset is None:
        raise SegdashError("the dataset in the sidebar does not open; fix it before training")
    value = st.session_state.get
    encoder = value("train.encoder")
    minutes = float(value("train.minutes") or 0) or None
    cap = _cap_minutes()
    if cap is not None:
        minutes = min(minutes or cap, cap)
    config = TrainConfig.from_preset(
        "quick", dataset=choice.dataset_choice.name, format=choice.dataset_choice.format,
        options=dict(choice.dataset_choice.options), arch=value("train.arch"), encoder=encoder,
        loss=value("train.loss"), class_weights=value("train.weights"),
        rare_oversample=float(value("train.rare_oversample") or 0.0),
        weight_floor=float(value("train.weight_floor") or 0.0) if value("train.weights") != "none" else 0.0,
        epochs=min(int(value("train.epochs")), public.max_epochs() or 10**9),
        batch_size=int(value("train.batch_size")), img_size=int(value("train.img_size")),
        lr=float(value("train.lr")), augment=bool(value("train.augment")), max_minutes=minutes,
        device=choice.model_choice.device,
    )  # fmt: skip
    # from_preset treats None as "keep the preset's value", so random init is set afterwards
    offline = bool(value("train.pretrained")) and ENCODERS[encoder].offline_weights
    if value("train.pretrained") and not offline and notify:
        st.session_state[NOTICE] = f"{encoder} has no offline ImageNet weights: it starts from random weights."
    return dataclasses.replace(config, pretrained="offline" if offline else None)


def _on_start(choice: SidebarChoice) -> None:
    """Start's callback: spawn the run (unless one is pending) and follow it."""
    from segdash.train.runs import start_run

    name = (st.session_state.get("train.name") or "").strip() or None
    run_dir = _launch(lambda: start_run(config_from_form(choice), runs_root=runs_root(), name=name,
                                        max_runs=public.max_runs(), slots_root=state.runs_dir()))
    if run_dir is not None:
        st.toast(f"Started run {run_dir.name}", icon=":material/model_training:")


def start(config, name: str | None = None) -> Path | None:
    """Spawn a run with ``config`` and follow it on this page (the form's path, for callers with a config)."""
    from segdash.train.runs import start_run

    return _launch(lambda: start_run(config, runs_root=runs_root(), name=name, max_runs=public.max_runs(),
                                     slots_root=state.runs_dir()))


# --- the run list ---------------------------------------------------------------------------------
def runs_table(runs) -> None:
    """One row per run (nothing before the first run: ``pick_run`` says how to start one)."""
    if not runs:
        return
    rows = []
    for run in runs:
        best = run.best or {}
        cfg = run.config
        rows.append({
            "run": run.name, "state": run.state, "epoch": epoch_label(run),
            "best val Dice": best.get("val_mean_dice"),
            "model": f"{cfg.get('arch', '?')} {cfg.get('encoder', '')}", "dataset": cfg.get("dataset", ""),
            "started": str(run.info.get("started") or "")[5:16].replace("T", " "),  # MM-DD HH:MM fits at 1100 px
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
    if st.session_state.get("train.shown") not in names or (
        followed_name in names and followed_name != st.session_state.get("train.followed")
    ):
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
    best = run.best or {}
    text = f"**{run.state}** · epoch {epoch_label(run)} · step {run.step}"
    if best.get("val_mean_dice") is not None:
        text += f" · best val Dice {best['val_mean_dice']:.3f} (epoch {best.get('epoch')})"
    st.markdown(text)
    if run.state in ACTIVE:
        _progress(run)
    elif run.error:  # written by the training process: its paths are the server's
        st.error(public_text(f"Run {run.state}: {run.error}"), icon=":material/error:")
    elif run.stop_reason:
        st.warning(public_text(f"Run {run.state}: {run.stop_reason}"))
    if run.state in ACTIVE:
        return
    cols = st.columns([2, 1, 2])  # wide enough for "Use its best checkpoint" at 1100 px
    if run.best_checkpoint is not None:
        cols[0].button("Use its best checkpoint", icon=":material/check:", key=f"train.use.{run.name}",
                       on_click=_use_checkpoint, args=(str(run.best_checkpoint), dataset_choice),
                       help="select it in the sidebar's model picker")  # fmt: skip
    if run.can_resume:
        cols[1].button("Resume", icon=":material/replay:", key=f"train.resume.{run.name}", disabled=pending(),
                       on_click=_on_resume, args=(str(run.run_dir),),
                       help="continue from its last checkpoint (the same folder, curves and all)")  # fmt: skip


def _progress(run) -> None:
    """Progress bar with the time left, and Stop (or the note that a stop is on its way)."""
    from segdash.train.runs import request_stop

    left = time_left(run)
    phase = run.info.get("phase") or ("starting" if run.state == "starting" else "")
    st.progress(run.progress, text=f"{run.progress:.0%} of the planned steps"
                + (f" · {phase}" if phase and phase != "training" else "")
                + (f" · about {format_seconds(left)} left" if left is not None else ""))  # fmt: skip
    if run.stop_requested:
        st.caption("Stop requested: the run ends after the current step and saves a checkpoint.")
    else:
        st.button("Stop", icon=":material/stop:", key=f"train.stop.{run.name}",
                  on_click=request_stop, args=(str(run.run_dir),))  # fmt: skip


def resume_config(run):
    """The run's own options for a resume; in public mode with what is left of its training-time cap."""
    from segdash.train.config import TrainConfig

    config = TrainConfig.from_dict(run.config)
    cap = public.max_run_seconds()
    if cap is None:
        return config
    left = cap - float(run.info.get("seconds") or 0.0)
    if left < 1:
        raise SegdashError(f"run {run.name} has used its {cap / 60:g} minutes of training in this demo")
    return dataclasses.replace(config, max_minutes=left / 60)


def _on_resume(run_dir: str) -> None:
    """Resume's callback: continue the run in its folder (refused if its lock is held) and follow it."""
    from segdash.train.runs import read_run, start_run

    def spawn() -> Path:
        if not visitor.owns_run(run_dir):
            raise SegdashError("this run was started by another visitor")
        config = resume_config(read_run(run_dir))
        return start_run(config, resume_dir=run_dir, max_runs=public.max_runs(), slots_root=state.runs_dir())

    _launch(spawn)


def curves(run) -> None:
    """Loss (per step and per epoch) and validation Dice (mean and per class), once there is data."""
    from segdash.viz.figures import dice_curves_figure, loss_curves_figure

    if not len(run.steps) and not len(run.epochs):
        st.caption("The loss curve appears after the first training steps, validation Dice after the first epoch.")
        return
    left, right = st.columns(2)
    left.plotly_chart(loss_curves_figure(run.steps, run.epochs), width="stretch", key="train.chart.loss")
    right.plotly_chart(dice_curves_figure(run.epochs, run.classes, run.info.get("colors")), width="stretch",
                       key="train.chart.dice")  # fmt: skip


def _display_size(size: tuple[int, int] | None, side: int) -> tuple[int, int]:
    """(width, height) at PREVIEW_HEIGHT with the image's true aspect ratio (``size`` (H, W); None: square)."""
    height, width = size if size is not None else (side, side)
    return max(1, round(PREVIEW_HEIGHT * width / max(height, 1))), PREVIEW_HEIGHT


def _at_true_size(picture: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """A square preview (S, S, 3) stretched back to the image's aspect ratio, PREVIEW_HEIGHT tall."""
    from PIL import Image

    width, height = _display_size(size, picture.shape[0])
    return np.asarray(Image.fromarray(picture).resize((width, height), Image.Resampling.NEAREST))


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
    sizes = data.get("sizes")
    pictures, titles = [], []
    for k, image in enumerate(images[: len(labels)]):
        size = tuple(int(v) for v in sizes[k]) if sizes is not None else None
        for mask in (data["masks"][k], labels[k]):
            pictures.append(_at_true_size(overlay_mask(image, mask, colors, 0.5), size))
        titles += [f"{data['ids'][k]}: truth", f"epoch {epoch}"]
    st.image(grid(pictures, columns=min(4, len(pictures)), titles=titles, height=PREVIEW_HEIGHT),
             caption=f"Validation previews after epoch {epoch}: ground truth, then the model's prediction "
                     "(shown at the images' own aspect ratio; the model sees them as squares)")  # fmt: skip


def run_panel(run_dir: Path, dataset_choice: state.DatasetChoice):
    """Everything about one run; re-drawn every few seconds while it runs."""
    from segdash.train.runs import read_run

    with reported_errors() as outcome:
        run = read_run(run_dir)
    if outcome.failed:
        return None
    status_block(run, dataset_choice)
    curves(run)
    previews(run)
    with st.expander("Log and configuration"):
        st.code(public_text(run.log_tail(20)) or "(nothing logged yet)", language=None)
        st.json(run.config, expanded=False)
    return run


@st.fragment(run_every=REFRESH_SECONDS)
def live_panel(run_dir: str, dataset_choice: state.DatasetChoice) -> None:
    """``run_panel`` on a timer; once the run has ended, one full rerun (its checkpoints join the model picker)."""
    from segdash.train.runs import read_run

    if read_run(run_dir).state not in ACTIVE or (st.session_state.get(PENDING) and not pending()):
        st.rerun()  # ended, or this session's start now runs: Start / Resume buttons come back
    run_panel(Path(run_dir), dataset_choice)


def show_run(run_dir: Path, dataset_choice: state.DatasetChoice) -> None:
    """The run, live while it starts or runs (a resumed run too: it reads as starting at once)."""
    from segdash.train.runs import read_run

    with reported_errors() as outcome:
        active = read_run(run_dir).state in ACTIVE
    if outcome.failed:
        return
    if active:
        live_panel(str(run_dir), dataset_choice)
    else:
        run_panel(run_dir, dataset_choice)
