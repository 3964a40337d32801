""""Import a model" on Predict: ``segdash import`` as a small form (never in public mode).

The same facts as the command's flags (``segdash.models.importing.ImportFacts``); the checkpoint goes
under the runs folder (``runs/imported/<name>``), where the sidebar's picker finds it. transformers folders
need no import: the sidebar's "Checkpoint folder…" opens them as they are.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from segdash import public
from segdash.ui import state
from segdash.ui.widgets import show_error

_KEY = "import."
_DONE = "import.done"


def _default_out(source: str) -> Path:
    path = Path(source).expanduser()
    name = path.stem if path.is_file() else path.name
    return state.runs_dir() / "imported" / (name or "model")


def facts_from_form(values: dict):
    """``ImportFacts`` from the form's texts ('' = not given); one-line errors naming the field."""
    from segdash.models.importing import ImportFacts, parse_numbers, parse_range

    def text(key: str) -> str:
        return str(values.get(key) or "").strip()

    size = values.get("input_size") or None
    return ImportFacts(
        classes=text("classes") or None, arch=text("arch") or None,
        input_range=parse_range(text("input_range")) if text("input_range") else None,
        mean=parse_numbers(text("mean"), "mean") if text("mean") else None,
        std=parse_numbers(text("std"), "std") if text("std") else None,
        input_size=int(size) if size else None, dataset=text("dataset"),
    )  # fmt: skip


def render() -> None:
    """The form in a closed expander; on success, where the checkpoint went and that the sidebar lists it."""
    if public.is_public():
        return
    from segdash.models.families.torchvision import ARCHITECTURES

    done = st.session_state.pop(_DONE, None)
    with st.expander("Import a model", icon=":material/upload_file:", expanded=done is not None):
        if done:
            st.success(done, icon=":material/check_circle:")
        st.caption("An smp folder (save_pretrained), a torchvision state dict or an ONNX graph becomes a checkpoint "
                   "under runs/imported/, listed in the sidebar. transformers folders open as they are: type their "
                   "path under the sidebar's 'Checkpoint folder…'.")  # fmt: skip
        with st.form(f"{_KEY}form", border=False):
            source = st.text_input("Model file or folder", key=f"{_KEY}source", placeholder="/models/deeplab.pth")
            cols = st.columns(2)
            classes = cols[0].text_input("Classes file", key=f"{_KEY}classes", placeholder="classes.txt",
                                         help="one name a line, or a classes.csv/json as the dataset formats read")
            arch = cols[1].selectbox("torchvision architecture", ["", *ARCHITECTURES], key=f"{_KEY}arch",
                                     help="only for a torchvision state dict")  # fmt: skip
            cols = st.columns(4)
            input_range = cols[0].text_input("Input range", key=f"{_KEY}range", placeholder="0..255")
            mean = cols[1].text_input("Mean", key=f"{_KEY}mean", placeholder="0.485,0.456,0.406")
            std = cols[2].text_input("Std", key=f"{_KEY}std", placeholder="0.229,0.224,0.225")
            size = cols[3].number_input("Input size", min_value=0, max_value=8192, value=0, step=32,
                                        key=f"{_KEY}size", help="0: any size")  # fmt: skip
            cols = st.columns([2, 2, 1], vertical_alignment="bottom")
            dataset = cols[0].text_input("Trained on (dataset)", key=f"{_KEY}dataset", placeholder="brain-mri")
            out = cols[1].text_input("Checkpoint folder", key=f"{_KEY}out", placeholder="runs/imported/<name>")
            submitted = cols[2].form_submit_button("Import", icon=":material/download_done:")
        if submitted:
            _import(source, out, {"classes": classes, "arch": arch, "input_range": input_range, "mean": mean,
                                  "std": std, "input_size": size, "dataset": dataset})  # fmt: skip


def _import(source: str, out: str, values: dict) -> None:
    import warnings

    from segdash.models.importing import import_model

    if not source.strip():
        st.warning("Type the path of the model file or folder to import.")
        return
    try:
        folder = Path(out).expanduser() if out.strip() else _default_out(source.strip())
        with st.spinner("Importing and loading the model once…"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = import_model(source.strip(), folder, facts_from_form(values))
    except Exception as exc:
        show_error(exc, "import")
        return
    notes = "".join(f"\n- {note}" for note in result.notes)
    # the sidebar was drawn before the import: rerun so that its picker lists the new checkpoint
    st.session_state[_DONE] = (f"Imported the {result.kind} model as **{state.display_path(result.folder)}**; "
                               f"pick it in the sidebar's checkpoint list.{notes}")  # fmt: skip
    st.rerun()
