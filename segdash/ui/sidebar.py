"""The sidebar every page shares: which dataset, which model, which device.

Drawn by the first ``current()`` call of a run (pages draw their header first, so the
first screen is sent before a dataset is opened or torch imported; ``app.py`` draws it
after pages that never ask). It is drawn as the entry script's own, so its widgets (and
their values in ``st.session_state``) are the same on every page and survive page switches.
"""

from __future__ import annotations

import dataclasses
import threading

import streamlit as st

from segdash import public
from segdash.ui import cache, state, visitor
from segdash.ui.widgets import reported_errors


@dataclasses.dataclass(frozen=True)
class SidebarChoice:
    """What the sidebar holds after drawing: the choices and, when they load, the dataset."""

    dataset_choice: state.DatasetChoice
    model_choice: state.ModelChoice
    dataset: object | None  # SegDataset, or None when the choice does not open
    device: str


def _dataset_names() -> list[str]:
    """Built-ins (the default first), then the folder choice. Public mode leaves out the folder choice
    and the built-ins whose package is not installed (a visitor cannot install it); locally they stay,
    and opening one says what to install."""
    from segdash.data.builtin import missing_packages
    from segdash.data.registry import list_builtins

    if public.is_public():
        return [entry.name for entry in list_builtins() if not missing_packages(entry)]
    return [entry.name for entry in list_builtins()] + [state.FOLDER]


def default_model_choice() -> state.ModelChoice | None:
    """The checkpoint and device a new session's sidebar starts with (None when no checkpoint fits).

    Needs no session, so a background thread can load that model before anyone asks: the first
    dataset, its default checkpoint in a fresh visitor's catalogue (public mode: the shipped ones),
    and the first device option.
    """
    from segdash.models.catalog import default_checkpoint

    dataset = cache.dataset(state.DatasetChoice(_dataset_names()[0]))
    entry = default_checkpoint(visitor.catalog(), dataset)
    return None if entry is None else state.ModelChoice(entry.path, cache.device_options()[0])


def _on_dataset_change() -> None:
    """A new dataset: a pending hand-over to Predict refers to the old one."""
    st.session_state.pop(state.PREDICT_REQUEST, None)


def _dataset_section() -> tuple[state.DatasetChoice, object | None]:
    """Built-in name, or folder + format + options; the dataset opened (None with a message when it fails)."""
    names = _dataset_names()
    name = st.selectbox(
        "Dataset", names, index=0, key=state.DATASET, persist_state="session", on_change=_on_dataset_change,
        help="a built-in dataset (prepared from files inside installed packages) or a folder on disk",
    )  # fmt: skip
    with reported_errors("dataset") as outcome:
        if name != state.FOLDER:
            choice = state.DatasetChoice(name)
        else:
            from segdash.data.options import parse_option_text
            from segdash.data.registry import get_format, list_formats

            path = st.text_input("Folder path", key=state.DATASET_PATH, persist_state="session",
                                 placeholder="/data/oxford-pets", on_change=_on_dataset_change)  # fmt: skip
            formats = [entry.name for entry in list_formats()]
            fmt = st.selectbox(
                "Format", formats, index=formats.index("folder") if "folder" in formats else 0,
                key=state.DATASET_FORMAT, persist_state="session", on_change=_on_dataset_change,
                format_func=lambda f: f"{f} — {get_format(f).summary}",
            )  # fmt: skip
            options = st.text_input("Options", key=state.DATASET_OPTIONS, persist_state="session",
                                    placeholder="label_map=cityscapes-19", on_change=_on_dataset_change,
                                    help="format options as KEY=VALUE, separated by commas")  # fmt: skip
            choice = state.DatasetChoice(path.strip(), fmt, parse_option_text(options))
        dataset = cache.dataset(choice)
    if outcome.failed:
        return state.DatasetChoice(str(st.session_state.get(state.DATASET_PATH, "") or name)), None
    splits = ", ".join(f"{s} {len(dataset.ids(s))}" for s in dataset.splits())
    st.caption(f"{dataset.num_classes} classes · {dataset.in_channels} channel(s) · {splits}")
    return choice, dataset


def _model_section(dataset_choice: state.DatasetChoice, dataset) -> str:
    """The checkpoint picker (remembered per dataset); returns the chosen folder ('' when none)."""
    from segdash.models.catalog import default_checkpoint

    catalog = visitor.catalog()
    by_path = {e.path: e for e in catalog}
    fitting = [e.path for e in catalog if e.fits(dataset)]
    others = [e.path for e in catalog if e.path not in fitting]
    options = fitting + others + ([] if public.is_public() else [state.CUSTOM_MODEL])
    if not options:
        st.info("No checkpoint yet: train one on the Train page.")
        return ""

    def label(path: str) -> str:
        if path == state.CUSTOM_MODEL:
            return path
        entry = by_path[path]
        note = "" if path in fitting else f" (trained on {entry.dataset or 'other classes'})"
        return f"{entry.name}{note}"  # the architecture goes in the caption below: the box stays readable

    default = default_checkpoint(catalog, dataset)
    if default is not None:
        index = options.index(default.path)
    else:  # none trained on this dataset: say so rather than pick one that cannot fit
        index = options.index(state.CUSTOM_MODEL) if state.CUSTOM_MODEL in options else None
    path = st.selectbox(
        "Checkpoint", options, index=index, placeholder="none trained on this dataset",
        key=state.model_key(dataset_choice), persist_state="session", format_func=label,
        help="shipped in weights/, a training run's checkpoint (runs/), or any checkpoint folder",
    )  # fmt: skip
    if path is None:
        return ""
    if path == state.CUSTOM_MODEL:
        path = st.text_input("Checkpoint folder", key=state.MODEL_PATH, persist_state="session",
                             placeholder="runs/my-run/checkpoints/best").strip()  # fmt: skip
    elif path in by_path:
        st.caption(by_path[path].model)
    if path and dataset is not None:
        from segdash.models.checkpoint import check_compatible

        with reported_errors("model"):
            check_compatible(cache.checkpoint_meta(path), dataset)
    if path:
        from segdash.ui import model_card

        model_card.sidebar(path, dataset)
    return path


def _device_section() -> tuple[str, str]:
    """The device picker and what it resolves to: ('auto', 'CPU (2 threads)')."""
    options = cache.device_options()
    device = st.selectbox("Device", options, index=0, key=state.DEVICE, persist_state="session",
                          help="auto: CUDA when a GPU is present, else CPU")  # fmt: skip
    label = "unavailable"
    with reported_errors("device"):
        label = cache.device_label(device)
    st.caption(f"Running on **{label}**")
    return device, label


def render() -> SidebarChoice:
    """Draw the sidebar and return the current choice."""
    with st.sidebar:
        st.markdown("### Data")
        dataset_choice, dataset = _dataset_section()
        st.markdown("### Model")
        model_path = _model_section(dataset_choice, dataset)
        device, device_label = _device_section()
    return SidebarChoice(dataset_choice, state.ModelChoice(model_path, device), dataset, device_label)


def current() -> SidebarChoice:
    """The sidebar's choice in this run; the first call of a run draws the sidebar.

    Pages draw their header, then call this: the first screen is on its way before the
    sidebar opens a dataset or imports torch. On a deep link to a fresh server the page
    file runs without the entry script once; ``_use_app_navigation`` reruns it through ``app.py``.
    """
    _use_app_navigation()
    choice = st.session_state.get(_CHOICE)
    if choice is None:
        choice = _render_as_entry_script()
        st.session_state[_CHOICE] = choice
    return choice


#: Set when a run of this process first draws the sidebar: the page's header is on its way by then.
FIRST_DRAW = threading.Event()


def _render_as_entry_script() -> SidebarChoice:
    """``render()`` with ``app.py``'s script hash in the widget ids, wherever in the run it is called.

    Streamlit gives a widget drawn by a page file an id of that page: it would be a new widget on
    every page and lose its value on a page switch. Drawn under the entry script's hash, the
    sidebar's widgets are the same ones on every page, as when ``app.py`` drew them itself.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    FIRST_DRAW.set()
    ctx = get_script_run_ctx()
    if ctx is None:  # no script run (bare mode): nothing to share
        return render()
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        return render()


#: Shown where a page needs the dataset and the sidebar's choice does not open (the sidebar says why).
DATASET_UNAVAILABLE = "The dataset in the sidebar does not open; the message there says why."


def require_dataset(choice: SidebarChoice) -> None:
    """Stop the page with a note when the chosen dataset does not open."""
    if choice.dataset is None:
        st.info(DATASET_UNAVAILABLE)
        st.stop()


def start_run() -> None:
    """``app.py`` at the top of every run: the sidebar is not drawn yet in this run."""
    st.session_state.pop(_CHOICE, None)


_CHOICE = "_sd.sidebar"


#: Set by ``app.py`` (``mark_entry_ran``) the first time it runs in this server process.
_ENTRY_RAN = False


def mark_entry_ran() -> None:
    """Called by ``app.py`` before ``st.navigation``: the entry script has run in this process."""
    global _ENTRY_RAN
    _ENTRY_RAN = True


def _use_app_navigation() -> None:
    """Make sure ``app.py``'s ``st.navigation`` drives the app, even on a deep link.

    Streamlit treats a ``pages/`` folder as a legacy multipage app until the first
    ``st.navigation`` call of the server process; a fresh server whose first visit
    is ``/dataset`` would run that page file alone, with a file-name page list.
    Switching the legacy mode off (what ``st.navigation`` itself does) and rerunning
    runs ``app.py`` on the same page. Only before ``app.py`` has ever run: after
    that the server is in ``st.navigation`` mode for good.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and not _ENTRY_RAN:
        PagesManager.uses_pages_directory = False
        st.rerun()
