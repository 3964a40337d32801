"""Public mode in a real browser: ``SEGDASH_PUBLIC=1 streamlit run app.py`` driven by headless Chromium.

Two browser contexts are two visitors. Checked: no path input on any page, an upload over the
cap refused before it is decoded, and one visitor's evaluation invisible to the other.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from test_browser import (  # noqa: F401  (browser is a fixture)
    CHROMIUM_ARGS,
    STEP_TIMEOUT_MS,
    StreamlitServer,
    browser,
    open_page,
    screenshot,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = [("", "segdash"), ("predict", "Predict"), ("evaluate", "Evaluate"), ("dataset", "Dataset"),
         ("train", "Train"), ("compare", "Compare")]  # fmt: skip


@pytest.fixture(scope="module")
def public_server(tmp_path_factory):
    from _dashboard import save_random_checkpoints

    env = dict(os.environ)
    env.update(SEGDASH_PUBLIC="1", SEGDASH_MAX_UPLOAD_MB="0.05", SEGDASH_RUNS=str(tmp_path_factory.mktemp("runs")),
               SEGDASH_WEIGHTS=str(save_random_checkpoints(tmp_path_factory.mktemp("weights"))))  # fmt: skip
    env.setdefault("SEGDASH_CACHE", str(tmp_path_factory.getbasetemp() / "segdash-cache"))
    app = StreamlitServer(env)
    app.start()
    yield app
    app.stop()


@pytest.fixture
def visitors(browser):  # noqa: F811
    contexts = [browser.new_context(viewport={"width": 1440, "height": 1500}) for _ in range(2)]
    tabs = []
    for context in contexts:
        context.set_default_timeout(STEP_TIMEOUT_MS)
        tabs.append(context.new_page())
    yield tabs
    for context in contexts:
        context.close()


def test_no_path_input_anywhere(visitors, public_server):
    page = visitors[0]
    for path, heading in PAGES:
        open_page(page, public_server, path, heading)
        wait_idle(page)
        labels = page.locator('[data-testid="stTextInput"] label').all_inner_texts()
        assert not [label for label in labels if "path" in label.lower() or "folder" in label.lower()], (path, labels)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    options = page.get_by_role("option").all_inner_texts()
    assert options and not any("Folder" in option for option in options)
    page.keyboard.press("Escape")


def test_an_upload_over_the_cap_is_refused(visitors, public_server, tmp_path):
    page = visitors[0]
    open_page(page, public_server, "predict", "Predict")
    page.get_by_text("Upload", exact=True).click()
    noise = np.random.default_rng(0).integers(0, 255, (256, 256), dtype=np.uint8)  # about 66 KB as PNG
    upload = tmp_path / "noise.png"
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    upload.write_bytes(buffer.getvalue())
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_text("over this server's upload limit of 50.0 KB").wait_for()
    screenshot(page, "public-upload-refused")


def test_one_visitors_evaluation_is_not_the_others(visitors, public_server):
    first, second = visitors
    open_page(first, public_server, "evaluate", "Evaluate")
    first.get_by_role("button", name="Run evaluation").click()
    first.get_by_text("Evaluated brain-mri / test").wait_for()
    open_page(second, public_server, "evaluate", "Evaluate")
    wait_idle(second)
    second.get_by_text("Run an evaluation to see").wait_for()  # nothing of the first visitor's
    assert second.get_by_text("Evaluated brain-mri / test").count() == 0
    assert second.get_by_role("button", name="Cancel").count() == 0
