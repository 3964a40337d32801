"""What ``streamlit run app.py`` does on its own, before and while a visitor looks.

    pytest -m browser tests/test_browser_server_start.py

- The server process starts loading the default model when it starts (``app.py``'s ``st.App``
  start-up hook), not at the first browser connection: with nobody connected, the built-in dataset
  is prepared and the model's ONNX graph exported into an empty cache folder.
- A page never asks another host for anything (fonts, icons, telemetry): an offline classroom or a
  hosted demo contacts nobody. Every request every page makes is recorded; any host but the app's
  own fails the test.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from test_browser import STEP_TIMEOUT_MS, StreamlitServer, browser, shipped_brain_checkpoints  # noqa: F401

pytestmark = pytest.mark.browser

PAGES = ("", "predict", "evaluate", "dataset", "train", "compare")
_ICON_SET = "() => { const l = document.querySelector('link[rel~=\"icon\"]'); " \
            "return !!l && !l.getAttribute('href').endsWith('favicon.png'); }"
#: how long the server may take to prepare brain-mri and export the model with nobody connected
WARM_UP_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def cold_server(tmp_path_factory):
    if shipped_brain_checkpoints() < 1:
        pytest.skip("no shipped brain-mri checkpoint in weights/ to warm up")
    env = dict(os.environ)
    env["SEGDASH_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    env["SEGDASH_CACHE"] = str(tmp_path_factory.mktemp("empty-cache"))
    env.pop("SEGDASH_WEIGHTS", None)
    app = StreamlitServer(env)
    app.start()
    yield app, Path(env["SEGDASH_CACHE"])
    app.stop()


def _graphs(cache: Path) -> list[Path]:
    return sorted((cache / "onnx").glob("*.onnx")) if (cache / "onnx").is_dir() else []


def test_the_default_model_loads_with_the_server_before_anyone_connects(cold_server):
    _, cache = cold_server
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    while not _graphs(cache) and time.monotonic() < deadline:  # a deadline for a hung server, not a speed bar
        time.sleep(0.5)
    assert _graphs(cache), "no ONNX graph was exported although the server has been up; the warm-up did not start"
    assert (cache / "brain-mri").is_dir(), "the default dataset was not prepared before the first connection"


def test_no_page_asks_another_host_for_anything(cold_server, browser):  # noqa: F811
    server, _ = cold_server
    own = urlsplit(server.url).netloc
    foreign: list[str] = []
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.on("request", lambda request: foreign.append(request.url)
            if urlsplit(request.url).netloc not in (own, "") and not request.url.startswith(("data:", "blob:"))
            else None)
    try:
        for name in PAGES:
            page.goto(f"{server.url}/{name}", wait_until="domcontentloaded", timeout=STEP_TIMEOUT_MS)
            page.locator("h1").first.wait_for(state="visible", timeout=STEP_TIMEOUT_MS)
            # the app's own icon replaces Streamlit's default once the page's config arrives
            page.wait_for_function(_ICON_SET, timeout=STEP_TIMEOUT_MS)
            page.wait_for_load_state("networkidle", timeout=STEP_TIMEOUT_MS)
        icon = page.locator('link[rel~="icon"]').first.get_attribute("href") or ""
    finally:
        page.close()
    assert not foreign, f"pages asked other hosts: {sorted(set(foreign))}"
    assert icon and urlsplit(icon).netloc in ("", own), f"the page icon comes from elsewhere: {icon}"
