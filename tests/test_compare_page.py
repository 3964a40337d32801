"""The Compare page's statistics tab and swipe view (Streamlit AppTest), its default pair, and the swipe HTML."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from _dashboard import save_random_checkpoints

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_swipe_html_is_self_contained_and_carries_both_pictures():
    from segdash.viz.swipe import swipe_height, swipe_html

    a = np.zeros((20, 40, 3), np.uint8)
    b = np.full((20, 40, 3), 255, np.uint8)
    page = swipe_html(a, b, "A: <epoch 3>", "B: best", width=400, start=30)
    assert page.count("data:image/png;base64,") == 2 and "A: &lt;epoch 3&gt;" in page
    assert 'type=range id=wipe min=0 max=100 step=0.5 value=30.0' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert swipe_height(a.shape, 400) == 200 + 70
    with pytest.raises(ValueError):
        swipe_html(a, b[:10], "A", "B")


def test_default_pair_takes_an_earlier_epoch_of_the_same_run_else_plain_against_imbalance_aware(monkeypatch):
    from segdash.models.catalog import CatalogEntry
    from segdash.ui import compare_page

    def entry(path):
        return CatalogEntry(path, f"{Path(path).name} — Unet lite0", "shipped", "d", ("a", "b"), 1)

    catalog = [entry(p) for p in ("w/brain_unet_best", "w/brain_unet_epoch03", "w/brain_fpn_epoch02", "w/brain_fpn")]
    assert compare_page.default_pair(catalog, "w/brain_unet_best") == ["w/brain_unet_epoch03", "w/brain_unet_best"]
    assert compare_page.run_of("runs/x/checkpoints/epoch_3") == compare_page.run_of("runs/x/checkpoints/best")

    configs = {"w/street_unet": {"loss": "ce", "class_weights": "none"},
               "w/street_unet_dice": {"loss": "ce+dice", "class_weights": "none"},
               "w/street_unet_weighted": {"loss": "ce", "class_weights": "median"}}  # fmt: skip
    monkeypatch.setattr(compare_page, "imbalance_aware", lambda path: (
        configs[path]["loss"] != "ce" or configs[path]["class_weights"] != "none"))  # fmt: skip
    street = [entry(p) for p in configs]
    assert compare_page.default_pair(street, "w/street_unet") == ["w/street_unet", "w/street_unet_dice"]
    assert compare_page.default_pair(street, "w/street_unet_weighted") == ["w/street_unet", "w/street_unet_dice"]


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch):
    """As in test_app.py: every AppTest run goes through app.py's st.navigation, as the server does."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class ServerPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", ServerPagesManager)


@pytest.mark.slow
def test_statistics_tab_computes_once_then_shows_verdicts_figures_and_a_report(tmp_path, monkeypatch):
    from segdash.ui import jobs

    monkeypatch.setenv("SEGDASH_WEIGHTS", str(save_random_checkpoints(tmp_path / "weights")))
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/compare.py").run()
    at.session_state["compare.tab"] = "Statistics"
    at.session_state["compare.resamples"] = 1_000
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    started = [j for j in jobs.job_board().all() if j.tags.get("kind") == "comparison"]
    assert len(started) == 1  # the first open starts it, with no button to press
    assert at.get("progress") or not started[0].is_running
    deadline = time.monotonic() + 240
    while started[0].is_running and time.monotonic() < deadline:
        time.sleep(0.5)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    shown = "\n".join(m.value for m in at.markdown)
    assert re.search(r"\*\*Overall: (B better|B worse|no clear difference) \([+-]0\.\d{3}, 95% CI", shown)
    table = at.dataframe[0].value
    assert list(table["class"]) == ["overall", "background", "CSF", "grey matter", "white matter"]
    assert len(at.get("plotly_chart")) >= 3  # forest plot, paired scatter, fixed / broken pixels
    assert any(b.proto.label == "Download the HTML report" for b in at.get("download_button"))
    at.run()  # a rerun reuses the finished job
    assert len([j for j in jobs.job_board().all() if j.tags.get("kind") == "comparison"]) == 1
