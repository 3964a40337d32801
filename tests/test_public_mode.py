"""Public mode (SEGDASH_PUBLIC=1): nothing names a server path, uploads are capped before decoding,
each visitor's evaluations are their own, and no traceback or server path reaches the page."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import APP, TIMEOUT, _navigation_mode, assert_clean, texts, weights_dir  # noqa: E402, F401


@pytest.fixture
def public_env(weights_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    return at


def test_no_path_input_anywhere(public_env):
    at = _app()
    dataset_box = at.sidebar.selectbox[0]
    assert "Folder on disk…" not in dataset_box.options
    model_box = at.sidebar.selectbox[1]
    assert "Checkpoint folder…" not in model_box.options and model_box.options
    for page in ("pages/predict.py", "pages/evaluate.py", "pages/dataset.py", "pages/train.py", "pages/compare.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        labels = [t.label for t in at.text_input] + [t.label for t in at.sidebar.text_input]
        assert all("path" not in label.lower() and "folder" not in label.lower() for label in labels), (page, labels)


def test_upload_over_the_cap_is_refused_before_decoding(public_env, monkeypatch):
    from segdash.data import imageio

    monkeypatch.setenv("SEGDASH_MAX_UPLOAD_MB", "0.01")  # 10 KB
    decoded = []
    monkeypatch.setattr(imageio, "_decode", lambda *a, **k: decoded.append(a) or np.zeros((8, 8, 1), np.uint8))
    at = _app()
    at.switch_page("pages/predict.py").run()
    at.segmented_control(key="predict.source").set_value("Upload").run()
    noise = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)  # ~40 KB as PNG
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    at.file_uploader[0].set_value(("big.png", buffer.getvalue(), "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and "big.png: 40.3 KB is over this server's upload limit of 10.0 KB" in at.error[0].value
    assert decoded == []  # refused from the declared size: never decoded


def test_decoded_pixels_are_capped_from_the_header(public_env, monkeypatch):
    from segdash.data.imageio import decode_image_bytes
    from segdash.errors import SegdashError

    monkeypatch.setenv("SEGDASH_MAX_IMAGE_PIXELS", "1000")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(buffer, format="PNG")
    with pytest.raises(SegdashError, match="40 x 40 .*over this demo's 0.001 MP limit; use a smaller image$"):
        decode_image_bytes(buffer.getvalue(), "x.png")


def test_evaluations_belong_to_their_session(public_env, monkeypatch):
    """Two visitors: the second sees neither the first one's running job nor its result."""
    from segdash.ui import jobs

    owners = iter(["visitor-a", "visitor-b"])
    current = {"owner": next(owners)}
    monkeypatch.setattr(jobs, "owner", lambda: current["owner"])
    release = threading.Event()
    board = jobs.JobBoard()
    first = board.start(f"eval|{jobs.owner()}|x", "a's evaluation", lambda job: release.wait(10), {"owner": jobs.owner()})
    current["owner"] = next(owners)
    assert board.get(f"eval|{jobs.owner()}|x") is None  # b's key is another key: b cannot find or cancel a's job
    second = board.start(f"eval|{jobs.owner()}|x", "b's evaluation", lambda job: 1, {"owner": jobs.owner()})
    assert second is not first and second.wait(10) and second.result == 1
    assert first.is_running
    release.set()
    assert first.wait(10)


def test_a_global_cap_on_running_evaluations(public_env, monkeypatch):
    from segdash.errors import SegdashError
    from segdash.ui import jobs

    monkeypatch.setenv("SEGDASH_MAX_JOBS", "1")
    release = threading.Event()
    board = jobs.JobBoard()
    first = board.start("a", "first", lambda job: release.wait(10))
    with pytest.raises(SegdashError, match="running on this server"):
        board.start("b", "second", lambda job: 1)
    release.set()
    assert first.wait(10)
    assert board.start("b", "second", lambda job: 1).wait(10)  # the slot is free again


def test_errors_in_public_mode_show_no_traceback_or_path(public_env):
    script = """
import streamlit as st
from segdash.errors import SegdashError
from segdash.ui.widgets import show_error
show_error(SegdashError("checkpoint folder '/srv/secret/weights/best' does not exist"), "model")
show_error(RuntimeError("boom in /srv/secret/app.py"), "page")
"""
    at = AppTest.from_string(script, default_timeout=60).run()
    shown = "\n".join(e.value for e in at.error)
    assert "/srv/secret" not in shown and ".../best" in shown
    assert "RuntimeError" in shown and "boom" not in shown
    assert not at.expander and not at.exception


def test_errors_locally_keep_their_details(monkeypatch):
    monkeypatch.delenv("SEGDASH_PUBLIC", raising=False)
    script = """
from segdash.ui.widgets import show_error
show_error(RuntimeError("boom in /srv/app.py"), "page")
"""
    at = AppTest.from_string(script, default_timeout=60).run()
    assert "boom in /srv/app.py" in at.error[0].value and len(at.expander) == 1


def test_dataset_choice_outside_the_builtins_is_refused(public_env):
    from segdash.errors import SegdashError
    from segdash.ui import cache, state

    with pytest.raises(SegdashError, match="built-in datasets only"):
        cache.dataset(state.DatasetChoice("/usr/lib/python3/dist-packages", "folder", (("classes", "/etc/passwd"),)))
    with pytest.raises(SegdashError, match="built-in datasets only"):
        cache.dataset(state.DatasetChoice("street-synth", None, (("count", "100000"),)))


def test_limits_are_read_from_the_environment(monkeypatch):
    from segdash import public
    from segdash.errors import SegdashError

    monkeypatch.delenv("SEGDASH_PUBLIC", raising=False)
    assert public.max_upload_bytes() is None and public.max_image_pixels() == 100_000_000
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    assert public.max_upload_bytes() == 20_000_000 and public.max_image_pixels() == 40_000_000
    monkeypatch.setenv("SEGDASH_MAX_UPLOAD_MB", "none")
    assert public.max_upload_bytes() is None
    monkeypatch.setenv("SEGDASH_MAX_UPLOAD_MB", "-3")
    with pytest.raises(SegdashError, match="SEGDASH_MAX_UPLOAD_MB must be a positive number"):
        public.max_upload_bytes()


def test_the_dataset_page_names_skipped_samples(tmp_path, monkeypatch, weights_dir):
    """A folder dataset with one truncated mask: the Dataset page counts the rest and names the skipped one."""
    monkeypatch.delenv("SEGDASH_PUBLIC", raising=False)
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    root = tmp_path / "ds"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for stem in ("a", "b", "c"):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "images" / f"{stem}.png")
        Image.fromarray(np.ones((16, 16), np.uint8)).save(root / "masks" / f"{stem}.png")
    (root / "masks" / "b.png").write_bytes((root / "masks" / "b.png").read_bytes()[:50])
    at = _app()
    at.sidebar.selectbox[0].set_value("Folder on disk…").run()
    at.sidebar.text_input(key="sd.dataset.path").set_value(str(root)).run()
    at.sidebar.text_input(key="sd.dataset.options").set_value("num_classes=2").run()
    at.switch_page("pages/dataset.py").run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = "\n".join(w.value for w in at.warning)
    assert "1 sample(s) could not be read" in warnings and "b" in warnings


def test_builtins_whose_package_is_missing_are_not_offered(public_env, monkeypatch):
    from segdash.data.builtin.nuclei import Nuclei

    monkeypatch.setattr(Nuclei, "requires", ("segdash_test_no_such_package",))  # missing, installed or not here
    at = _app()
    assert "nuclei" not in at.sidebar.selectbox(key="sd.dataset").options
    assert "brain-mri" in at.sidebar.selectbox(key="sd.dataset").options


def test_a_dataset_no_checkpoint_fits_is_a_note_not_a_crash(public_env):
    """street-synth with brain-mri checkpoints only: public mode has no folder choice to fall back on."""
    at = _app()
    at.sidebar.selectbox(key="sd.dataset").set_value("street-synth").run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="sd.model.street-synth|").value is None
    for page in ("pages/predict.py", "pages/evaluate.py", "pages/compare.py", "pages/home.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])


@pytest.mark.parametrize("mode", ["public", "local"])
def test_picking_nuclei_never_crashes_the_page(mode, weights_dir, tmp_path, monkeypatch):
    """Locally nuclei stays listed: without stardist the sidebar says what to install, the page draws on."""
    if mode == "public":
        monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    else:
        monkeypatch.delenv("SEGDASH_PUBLIC", raising=False)
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if "nuclei" not in at.sidebar.selectbox(key="sd.dataset").options:
        assert mode == "public"  # not installed here: not offered
        return
    at.sidebar.selectbox(key="sd.dataset").set_value("nuclei").run()
    assert not at.exception, [e.value for e in at.exception]
    for page in ("pages/predict.py", "pages/dataset.py", "pages/train.py", "pages/compare.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
