"""The sidebar every page shares: which dataset, which model, which device.

Drawn by ``app.py`` before the page runs, so its widgets (and their values in
``st.session_state``) exist on every page and survive page switches.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from segdash.ui import cache, state
from segdash.ui.widgets import show_error


@dataclasses.dataclass(frozen=True)
class SidebarChoice:
    """What the sidebar holds after drawing: the choices and, when they load, the dataset."""

    dataset_choice: state.DatasetChoice
    model_choice: state.ModelChoice
    dataset: object | None  # SegDataset, or None when the choice does not open
    device: str


def _dataset_names() -> list[str]:
    from segdash.data.registry import BUILTINS, DEFAULT_DATASET

    names = sorted(BUILTINS, key=lambda n: (n != DEFAULT_DATASET, n))
    return names + [state.FOLDER]


def _fits(entry: cache.CatalogEntry, dataset) -> bool:
    same_classes = [c.lower() for c in entry.classes] == [str(c).lower() for c in getattr(dataset, "classes", ())]
    return dataset is not None and same_classes and entry.in_channels == dataset.in_channels


def _default_model(catalog: list[cache.CatalogEntry], dataset) -> str:
    """The first fitting checkpoint, preferring shipped ``best`` ones: a good first prediction."""
    fitting = [e for e in catalog if _fits(e, dataset)] or catalog
    if not fitting:
        return state.CUSTOM_MODEL
    ranked = sorted(fitting, key=lambda e: (e.group != "shipped", "best" not in e.path.rsplit("/", 1)[-1]))
    return ranked[0].path


def _on_dataset_change() -> None:
    """A new dataset: forget the model so the next run picks one that fits it."""
    st.session_state.pop(state.MODEL, None)
    st.session_state.pop(state.PREDICT_REQUEST, None)


def _dataset_section():
    names = _dataset_names()
    if st.session_state.get(state.DATASET) not in names:
        st.session_state[state.DATASET] = names[0]
    st.selectbox(
        "Dataset",
        names,
        key=state.DATASET, persist_state="session",
        on_change=_on_dataset_change,
        help="a built-in dataset (prepared from files inside installed packages) or a folder on disk",
    )
    if st.session_state[state.DATASET] == state.FOLDER:
        from segdash.data.registry import FORMATS

        st.text_input("Folder path", key=state.DATASET_PATH, persist_state="session", placeholder="/data/oxford-pets", on_change=_on_dataset_change)
        formats = sorted(FORMATS) or ["folder"]
        if st.session_state.get(state.DATASET_FORMAT) not in formats:
            st.session_state[state.DATASET_FORMAT] = "folder" if "folder" in formats else formats[0]
        st.selectbox(
            "Format", formats, key=state.DATASET_FORMAT, persist_state="session", on_change=_on_dataset_change,
            format_func=lambda f: f"{f} — {FORMATS[f][1]}" if f in FORMATS else f,
        )
        st.text_input("Options", key=state.DATASET_OPTIONS, persist_state="session", placeholder="label_map=cityscapes-19", on_change=_on_dataset_change,
                      help="format options as KEY=VALUE, separated by commas")
    try:
        choice = state.current_dataset_choice()
        dataset = cache.dataset(choice)
    except Exception as exc:
        show_error(exc, "dataset")
        return state.DatasetChoice(str(st.session_state.get(state.DATASET_PATH, ""))), None
    splits = ", ".join(f"{s} {len(dataset.ids(s))}" for s in dataset.splits())
    st.caption(f"{dataset.num_classes} classes · {dataset.in_channels} channel(s) · {splits}")
    return choice, dataset


def _model_section(dataset) -> None:
    catalog = cache.model_catalog()
    by_path = {e.path: e for e in catalog}
    fitting = [e.path for e in catalog if _fits(e, dataset)]
    others = [e.path for e in catalog if e.path not in fitting]
    options = fitting + others + [state.CUSTOM_MODEL]
    if st.session_state.get(state.MODEL) not in options:
        st.session_state[state.MODEL] = _default_model(catalog, dataset)

    def label(path: str) -> str:
        if path == state.CUSTOM_MODEL:
            return path
        entry = by_path[path]
        note = "" if path in fitting else f" (trained on {entry.dataset or 'other classes'})"
        return f"{entry.label}{note}"

    st.selectbox("Checkpoint", options, key=state.MODEL, persist_state="session", format_func=label,
                 help="shipped in weights/, a training run's checkpoint (runs/), or any checkpoint folder")
    if st.session_state[state.MODEL] == state.CUSTOM_MODEL:
        st.text_input("Checkpoint folder", key=state.MODEL_PATH, persist_state="session", placeholder="runs/my-run/checkpoints/best")
    choice = state.current_model_choice()
    if choice.is_set and dataset is not None:
        try:
            from segdash.models.checkpoint import check_compatible

            check_compatible(cache.checkpoint_meta(choice.path), dataset)
        except Exception as exc:
            show_error(exc, "model")


def _device_section() -> str:
    options = cache.device_options()
    if st.session_state.get(state.DEVICE) not in options:
        st.session_state[state.DEVICE] = "auto"
    st.selectbox("Device", options, key=state.DEVICE, persist_state="session", help="auto: CUDA when a GPU is present, else CPU")
    try:
        label = cache.device_label(st.session_state[state.DEVICE])
    except Exception as exc:
        show_error(exc, "device")
        label = "unavailable"
    st.caption(f"Running on **{label}**")
    return label


def render() -> SidebarChoice:
    """Draw the sidebar and return the current choice."""
    state.init_defaults()
    with st.sidebar:
        st.markdown("### Data")
        dataset_choice, dataset = _dataset_section()
        st.markdown("### Model")
        _model_section(dataset)
        device = _device_section()
    return SidebarChoice(dataset_choice, state.current_model_choice(), dataset, device)


def current() -> SidebarChoice:
    """Draw the sidebar and return the current choice; every page calls this first.

    The pages draw the sidebar themselves (rather than ``app.py`` before ``page.run()``)
    so that a page reached without the entry script (a deep link on a fresh server,
    where Streamlit's ``pages/`` folder handling runs the page file directly, or
    AppTest) still has it. Same keys on every page: the choice survives page switches.
    """
    _use_app_navigation()
    st.set_page_config(page_title="segdash", page_icon=":material/layers:", layout="wide")
    return render()


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
