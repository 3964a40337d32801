"""segdash: a dashboard to show, judge and compare semantic-segmentation models.

    streamlit run app.py

Opens on the built-in ``brain-mri`` dataset with the shipped weights; no set-up,
no network. The pages live in ``pages/``; their logic lives in ``segdash/ui``.
The sidebar (dataset, model, device) belongs to this script, so its widgets are shared
by every page; a page draws its header first and then reads the choice with
``segdash.ui.sidebar.current()``, which draws the sidebar: the first screen is shown
before the heavy work (opening the dataset, importing torch) starts.

``streamlit run`` finds ``app`` below and serves this file through it: the server process
imports this module once (``__name__`` is then ``"app"``) and its start-up hook begins loading
the default model before the first visitor connects; every visitor's run executes the file
as a script (``__name__ == "__main__"``).
"""

import contextlib
from pathlib import Path

import streamlit as st


@contextlib.asynccontextmanager
async def _server_start(app):
    """The default model starts loading with the server process; the server answers meanwhile."""
    from segdash.ui import warmup  # imported once the runtime runs, so its cached functions use the server's caches

    warmup.start_default(wait_for_header=False)
    yield


if __name__ != "__main__":  # imported by the server: one App, whose start-up begins the warm-up
    app = st.App(__file__, lifespan=_server_start)
else:
    from segdash import public
    from segdash.ui import sidebar, warmup

    ICON = Path(__file__).parent / "segdash" / "ui" / "assets" / "icon.png"  # bundled: no font fetched for it

    sidebar.mark_entry_ran()
    sidebar.start_run()
    st.set_page_config(page_title="segdash", page_icon=str(ICON), layout="wide")
    if public.is_public():  # SEGDASH_PUBLIC=1: a hosted demo shows no traceback and no developer menu
        st.set_option("client.showErrorDetails", "none")
        st.set_option("client.toolbarMode", "viewer")

    page = st.navigation(
        [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
            st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
            st.Page("pages/dataset.py", title="Dataset", icon=":material/bar_chart:"),
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        ]
    )
    warmup.start_default()  # once per process (a no-op when the server's start-up has begun it)
    page.run()
    sidebar.current()  # drawn by now unless the page never asked: every page shows it
