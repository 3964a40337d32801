"""A fast first screen: the start page's header goes out before any heavy work, and the default model is
loaded once, in the background, for the first prediction to reuse.

The first test runs ``app.py`` in a fresh Python process (the pytest process has torch imported
already) and looks at what is loaded when the Home page calls ``st.title``. The others run the
app in Streamlit's AppTest with the small random checkpoints of ``test_app``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import APP, TIMEOUT, _navigation_mode, assert_clean, texts, weights_dir  # noqa: E402, F401

#: Modules that take seconds to import, none of which the first screen needs.
HEAVY = ("torch", "torchvision", "segmentation_models_pytorch", "timm", "cv2", "onnxruntime", "scipy", "sklearn",
         "transformers")

#: Runs app.py once in AppTest; when the Home page calls st.title, records what is loaded, then stops the run.
FIRST_SCREEN_PROBE = f"""
import json, sys
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

class ServerPagesManager(PagesManager):  # st.navigation mode, as a server runs it (see test_app)
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False

app_test.PagesManager = ServerPagesManager

import segdash.data
from segdash.ui import sidebar

opened = []
real_open = segdash.data.open_dataset
segdash.data.open_dataset = lambda *args, **kwargs: opened.append(args) or real_open(*args, **kwargs)
seen = {{}}
real_title = st.title

def title(*args, **kwargs):
    if not seen:
        seen.update(text=args[0], heavy=[m for m in {HEAVY!r} if m in sys.modules], datasets_opened=len(opened),
                    sidebar_drawn=sidebar.FIRST_DRAW.is_set())
    real_title(*args, **kwargs)
    st.stop()

st.title = title
at = AppTest.from_file({APP!r}, default_timeout=120).run()
print(json.dumps(dict(seen, exceptions=[str(e.value) for e in at.exception])))
"""


def test_home_title_is_drawn_before_anything_heavy(tmp_path, weights_dir):
    env = dict(os.environ, SEGDASH_WEIGHTS=str(weights_dir), SEGDASH_RUNS=str(tmp_path / "runs"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(APP).parent), os.environ.get("PYTHONPATH")])))  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", FIRST_SCREEN_PROBE], capture_output=True, text=True, env=env,
                          cwd=str(Path(APP).parent), timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["text"] == "segdash" and not seen["exceptions"]
    assert seen["heavy"] == [], f"imported before the title: {seen['heavy']}"
    assert seen["datasets_opened"] == 0
    assert not seen["sidebar_drawn"]


@pytest.fixture
def fresh_warm_up(weights_dir, tmp_path, monkeypatch):
    """A process where no warm-up thread has run and no predictor is cached, with test_app's checkpoints."""
    from segdash.ui import cache, warmup

    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(warmup, "_threads", {})
    cache._load_predictor.clear()
    yield warmup
    cache._load_predictor.clear()


def counting_loads(monkeypatch) -> tuple[list[tuple[str, object]], threading.Event]:
    """Record every ``Predictor.from_checkpoint`` (thread name, predictor); the event is set when one starts.

    Each load takes 0.5 s longer, so a click right after the event lands while it is still loading.
    """
    from segdash.infer.predictor import Predictor

    loads: list[tuple[str, object]] = []
    started = threading.Event()
    real = Predictor.from_checkpoint.__func__

    def from_checkpoint(cls, *args, **kwargs):
        started.set()
        time.sleep(0.5)
        predictor = real(cls, *args, **kwargs)
        loads.append((threading.current_thread().name, predictor))
        return predictor

    monkeypatch.setattr(Predictor, "from_checkpoint", classmethod(from_checkpoint))
    return loads, started


def test_the_first_prediction_reuses_the_warm_up_model(fresh_warm_up, monkeypatch):
    from segdash.ui import cache, sidebar

    loads, started = counting_loads(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert started.wait(60), "the app's first run started no model load"
    at.button(key="home.first").click().run()  # while the warm-up is still loading: the page waits for it
    assert_clean(at)
    assert at.title[0].value == "Predict" and "inference" in texts(at)
    fresh_warm_up._threads[fresh_warm_up._DEFAULT].join(60)
    assert len(loads) == 1, f"loaded {len(loads)} times: {[name for name, _ in loads]}"
    thread_name, predictor = loads[0]
    assert thread_name.startswith(fresh_warm_up.THREAD_PREFIX)
    assert cache.predictor(sidebar.default_model_choice()) is predictor


def test_a_broken_default_checkpoint_is_logged_and_the_page_says_so(fresh_warm_up, weights_dir, tmp_path,
                                                                     monkeypatch, caplog):  # fmt: skip
    import shutil

    broken = tmp_path / "weights"
    shutil.copytree(weights_dir / "unet", broken / "unet")
    (broken / "unet" / "best" / "model.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(broken))
    caplog.set_level(logging.INFO, logger="segdash.ui.warmup")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    fresh_warm_up._threads[fresh_warm_up._DEFAULT].join(60)
    assert "not loaded" in caplog.text and "Traceback" not in caplog.text
    at.button(key="home.first").click().run()
    assert not at.exception
    assert at.title[0].value == "Predict" and at.error  # the usual message where the model is used


def test_no_default_checkpoint_loads_nothing(fresh_warm_up, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(tmp_path / "no-weights"))
    monkeypatch.setattr(fresh_warm_up, "HEADER_WAIT_S", 0.0)
    caplog.set_level(logging.INFO, logger="segdash.ui.warmup")
    assert fresh_warm_up._load_default() is None
    assert "nothing to load" in caplog.text


def test_public_mode_warms_up_a_shipped_checkpoint_never_a_visitors_run(fresh_warm_up, weights_dir, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    import shutil

    from segdash.ui import sidebar

    runs = tmp_path / "runs"
    shutil.copytree(weights_dir / "unet" / "best", runs / "someone" / "checkpoints" / "best")
    monkeypatch.setenv("SEGDASH_RUNS", str(runs))
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(tmp_path / "no-weights"))
    assert sidebar.default_model_choice().path == str(runs / "someone" / "checkpoints" / "best")  # locally: the run
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    assert sidebar.default_model_choice() is None  # a visitor's run is not the demo's default
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    choice = sidebar.default_model_choice()
    assert Path(choice.path).parent.parent == weights_dir and choice.device == "auto"
