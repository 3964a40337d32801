"""Public mode, two visitors: a fresh visitor finds nothing of another's on any page, and nothing anywhere
(page, download, report, message) names a server path.

Another visitor's runs are laid out as the dashboard and the CLI leave them: ``runs/alice-run`` (a run
started from the command line, or by an older version's public mode) and ``runs/.visitor-<token>/carol-run``
(a run of another browser session). Their checkpoints fit brain-mri, so every list that reads the whole
catalogue would offer them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import APP, TIMEOUT, _navigation_mode, assert_clean, open_tab, png_bytes, weights_dir  # noqa: E402, F401

PAGES = ("pages/home.py", "pages/predict.py", "pages/evaluate.py", "pages/dataset.py", "pages/train.py",
         "pages/compare.py")  # fmt: skip
OTHERS = ("alice-run", "carol-run")


def _fake_run(folder: Path, checkpoint: Path) -> None:
    """A finished run folder as ``segdash train`` leaves it: run.json, a log, ``best`` and ``epoch_1``."""
    from segdash.train.config import TrainConfig

    for which in ("best", "epoch_1"):
        shutil.copytree(checkpoint, folder / "checkpoints" / which)
    info = {"format": 1, "name": folder.name, "status": "finished", "config": TrainConfig().to_dict(),
            "started": "2026-01-01T00:00:00+00:00", "updated": "2026-01-01T00:01:00+00:00", "epoch": 1,
            "epochs": 1, "step": 4, "best": {"epoch": 1, "val_mean_dice": 0.5, "path": str(folder)}}  # fmt: skip
    (folder / "run.json").write_text(json.dumps(info))
    (folder / "train.log").write_text(f"finished after 0.1 min: {folder}\n")


@pytest.fixture
def public_with_others(weights_dir, tmp_path, monkeypatch):  # noqa: F811
    runs = tmp_path / "runs"
    _fake_run(runs / "alice-run", weights_dir / "unet" / "best")
    _fake_run(runs / ".visitor-0123456789abcdef" / "carol-run", weights_dir / "fpn" / "best")
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(runs))
    return runs


def _strings(node) -> list[str]:
    """Everything an element tree sends to the browser: each element's message, options and labels included."""
    found = []
    proto = getattr(node, "proto", None)
    if proto is not None:
        found.append(str(proto))
    for child in getattr(node, "children", {}).values():
        found += _strings(child)
    return found


def _shown(at: AppTest) -> str:
    return "\n".join(_strings(at._tree))


@pytest.fixture
def downloads(monkeypatch):
    """The bytes of every download button drawn (deferred ones computed as a click would)."""
    import streamlit
    from streamlit.delta_generator import DeltaGenerator

    captured: list[tuple[str, bytes]] = []
    original = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        value = data() if callable(data) else data
        captured.append((label, value.encode() if isinstance(value, str) else bytes(value)))
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    monkeypatch.setattr(streamlit, "download_button", lambda *a, **k: recording(streamlit._main, *a, **k))
    return captured


def test_a_fresh_visitor_sees_no_other_visitors_runs_on_any_page(public_with_others):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        shown = _shown(at)
        assert not [name for name in OTHERS if name in shown], page
    compare = at.multiselect(key="compare.models")
    assert compare.options and not [o for o in compare.options if "run " in o]  # shipped checkpoints only
    assert not [o for o in at.sidebar.selectbox(key="sd.model.brain-mri|").options if "run " in o]


def test_run_names_are_private_to_a_session(public_with_others, monkeypatch):
    """Two visitors both name a run "demo": each sees "demo", neither a "demo-2", nor the other's run."""
    from segdash.train import runs as runs_module
    from segdash.train.rundir import LAUNCH_FILE, LOG_FILE

    def spawn(run_dir, config_path, extra, lock_fd, python):  # the process is not what is tested here
        (run_dir / LOG_FILE).write_text("")
        (run_dir / LAUNCH_FILE).write_text(json.dumps({"pid": 0, "started": "2026-01-01T00:00:00+00:00"}))

    monkeypatch.setattr(runs_module, "_spawn", spawn)
    monkeypatch.setenv("SEGDASH_MAX_RUNS", "none")
    folders = []
    for _ in range(2):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        at.switch_page("pages/train.py").run()
        at.text_input(key="train.name").set_value("demo")
        at.button[0].click().run()  # Start training
        assert not at.exception, [e.value for e in at.exception]
        at.run()
        shown = _shown(at)
        assert "demo" in shown and "demo-2" not in shown
        assert not [name for name in OTHERS if name in shown]
        assert at.selectbox(key="train.shown").options == ["demo"]  # its own run, and only that
        folders.append(Path(at.session_state["sd.train.run"]))
    assert folders[0] != folders[1] and folders[0].name == folders[1].name == "demo"


def _forbidden() -> dict[str, str]:
    """The server's own folders, none of which a visitor may ever read anywhere."""
    from segdash.fsutil import cache_dir

    paths = {"repository": Path(APP).resolve().parent, "home": Path(os.environ["HOME"]),
             "cache": cache_dir("onnx").parent, "runs": Path(os.environ["SEGDASH_RUNS"]),
             "weights": Path(os.environ["SEGDASH_WEIGHTS"])}  # fmt: skip
    return {what: str(path.resolve()) for what, path in paths.items()}


def _leaks(text: str) -> list[str]:
    return [what for what, path in _forbidden().items() if path in text]


def test_no_server_path_in_any_page_download_report_or_message(public_with_others, downloads, monkeypatch):
    from segdash.ui.jobs import job_board

    monkeypatch.setenv("SEGDASH_MAX_IMAGE_PIXELS", "30000")  # the upload below is over it: its message is checked
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    pages = [_shown(at)]
    at.button(key="home.first").click().run()  # Predict on a test sample: label and overlay downloads
    assert_clean(at)
    pages.append(_shown(at))
    at.segmented_control(key="predict.source").set_value("Upload").run()
    broken = png_bytes(np.zeros((8, 8), np.uint8))[:40]
    at.file_uploader[0].set_value([("broken.png", broken, "image/png"),
                                   ("large.png", png_bytes(np.zeros((200, 200), np.uint8)), "image/png")]).run()
    messages = [e.value for e in at.error]
    assert len(messages) == 2 and "over this demo's" in messages[1], messages
    pages.append(_shown(at))
    at.switch_page("pages/evaluate.py").run()
    at.selectbox(key="evaluate.limit").set_value(8)
    at.checkbox(key="evaluate.distances").set_value(False)
    at.button(key="evaluate.run").click().run()
    for job in job_board().all():
        assert job.wait(TIMEOUT)
    at.run()
    assert_clean(at)
    pages.append(_shown(at))
    at.switch_page("pages/compare.py").run()
    at.session_state["compare.resamples"] = 1_000
    open_tab(at, "compare.tab", "Statistics")
    for job in job_board().all():
        assert job.wait(TIMEOUT)
    at.run()
    assert_clean(at)
    pages.append(_shown(at))
    for page in ("pages/dataset.py", "pages/train.py"):
        at.switch_page(page).run()
        pages.append(_shown(at))
    labels = [label for label, _ in downloads]
    assert {"Label PNG", "Overlay PNG", "Per-class table (CSV)", "Download the HTML report"} <= set(labels), labels
    report = next(data for label, data in downloads if label == "Download the HTML report").decode()
    assert "--checkpoint" in report and "<h2>Command</h2>" in report  # the command is there, its folders shown
    for text in pages + messages:
        assert not _leaks(text), (_leaks(text), text[:2000])
        assert "SEGDASH_" not in text  # operator settings stay in the README and the server log
    for label, data in downloads:
        assert not _leaks(data.decode("latin-1")), label
