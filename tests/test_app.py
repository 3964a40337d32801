"""The dashboard in Streamlit's AppTest: every page, driven as a user would, asserting on what is shown.

Each test opens ``app.py`` and moves to a page with ``switch_page``. The checkpoints are
two small random models the tests save themselves (Unet and FPN with a MobileNetV2
encoder, brain-mri classes), so the tests need no shipped weights; the dataset is the
built-in ``brain-mri``, prepared into the per-session test cache.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from _dashboard import save_random_checkpoints  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """Two small brain-mri checkpoints with random weights: ``unet/best`` and ``fpn/best``."""
    return save_random_checkpoints(tmp_path_factory.mktemp("weights"))


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch):
    """Run every AppTest run through app.py's ``st.navigation``, as the server does.

    A real server treats the ``pages/`` folder as a legacy multipage app only until
    ``st.navigation`` is first called in the process; AppTest resets that before every
    run, and would then run a page file on its own, without the entry script and its
    sidebar. Switching the legacy mode off after AppTest's reset matches the server.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class ServerPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", ServerPagesManager)


@pytest.fixture
def app(weights_dir, tmp_path, monkeypatch) -> AppTest:
    """The app after its first run, on the Home page, with the test checkpoints and an empty runs folder."""
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest) -> str:
    """Everything written on the page (markdown, captions, info boxes), for substring checks."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def brain_slice_png() -> bytes:
    """A test-split brain-mri slice as an 8-bit grayscale PNG, as a user would export it."""
    from segdash.data import open_dataset

    ds = open_dataset("brain-mri")
    image, _, _ = ds.load("test", ds.ids("test")[len(ds.ids("test")) // 2])
    return png_bytes(np.rint(image[:, :, 0] * 255).astype(np.uint8))


# --- Home -------------------------------------------------------------------------------------
def test_home_says_what_is_loaded(app):
    shown = texts(app)
    assert "brain-mri" in shown
    assert "nilearn" in shown  # the dataset's source
    assert "Unet" in shown or "FPN" in shown
    assert "Device: CPU" in shown or "Device: GPU" in shown
    assert app.sidebar.selectbox[0].value == "brain-mri"


def test_home_button_opens_a_first_prediction(app):
    app.button(key="home.first").click().run()
    assert_clean(app)
    assert app.title[0].value == "Predict"
    shown = texts(app)
    assert "inference" in shown and "pixel accuracy" in shown
    assert len(app.image) >= 4  # image, prediction, ground truth, error map


def test_home_examples_open_in_predict(app):
    examples = [b for b in app.button if b.key and b.key.startswith("home.example.")]
    assert len(examples) == 4
    sample_id = examples[1].key.removeprefix("home.example.")
    examples[1].click().run()
    assert_clean(app)
    assert app.title[0].value == "Predict"
    assert f"test/{sample_id}" in texts(app)


# --- Predict ----------------------------------------------------------------------------------
def open_upload(app: AppTest) -> AppTest:
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    app.segmented_control(key="predict.source").set_value("Upload").run()
    assert_clean(app)
    return app


def test_predict_samples_show_overlays_and_downloads(app):
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    assert len(app.image) == 2 * 5  # two random test samples: image, prediction, truth, errors, uncertainty
    labels = [b.label for b in app.get("download_button")]
    assert labels.count("Label PNG") == 2 and labels.count("Overlay PNG") == 2


def test_predict_upload_png_shows_the_overlay(app):
    open_upload(app)
    app.file_uploader[0].set_value(("slice.png", brain_slice_png(), "image/png")).run()
    assert_clean(app)
    assert len(app.image) == 3  # the image, the prediction overlay, the uncertainty (no ground truth for an upload)
    shown = texts(app)
    assert "slice.png" in shown
    assert "values 0..255 mapped to the model's 0..1" in shown  # the 8-bit PNG was matched to brain-mri's range
    assert "inference" in shown


def test_predict_examples_are_one_click(app):
    app.switch_page("pages/predict.py").run()
    app.segmented_control(key="predict.pick").set_value("examples").run()
    assert_clean(app)
    cards = [m.value for m in app.markdown if str(m.value).startswith("**test/")]
    assert len(cards) == 4 and len(set(cards)) == 4


def test_predict_several_uploads_and_a_bad_one(app):
    open_upload(app)
    good = brain_slice_png()
    app.file_uploader[0].set_value([
        ("a.png", good, "image/png"),
        ("notes.png", b"this is not an image at all", "image/png"),
        ("b.npy", _npy(np.random.default_rng(0).random((64, 80), dtype=np.float32)), "application/octet-stream"),
    ]).run()  # fmt: skip
    assert not app.exception
    assert len(app.error) == 1 and "notes.png" in app.error[0].value
    assert len(app.image) == 6  # a.png and b.npy, three panels each (image, prediction, uncertainty)


def test_predict_wrong_channel_count_is_a_message(app):
    open_upload(app)
    two_channels = np.zeros((32, 32, 2), np.float32)
    app.file_uploader[0].set_value(("two.npy", _npy(two_channels), "application/octet-stream")).run()
    assert not app.exception
    assert app.error and "channel" in app.error[0].value


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# --- Evaluate ---------------------------------------------------------------------------------
def run_evaluation(app: AppTest, limit: int = 8) -> AppTest:
    from segdash.ui.jobs import job_board

    app.switch_page("pages/evaluate.py").run()
    assert_clean(app)
    app.selectbox(key="evaluate.limit").set_value(limit)
    app.checkbox(key="evaluate.distances").set_value(False)
    app.button(key="evaluate.run").click().run()
    assert not app.exception
    for job in job_board().all():
        assert job.wait(TIMEOUT)
    app.run()
    assert_clean(app)
    return app


def test_evaluate_shows_scores_table_and_confusion(app):
    from segdash.ui.jobs import job_board

    run_evaluation(app)
    assert any("Evaluated" in s.value for s in app.success)
    found = [j for j in job_board().all() if j.tags.get("split") == "test" and "|8|" in j.key and j.finished]
    job = max(found, key=lambda j: j.finished)  # the newest: earlier tests may have left others on the board
    evaluation = job.result
    assert evaluation.confusion.sum() == 8 * 192 * 192  # 8 evenly spaced test slices, every pixel counted
    table = app.dataframe[0].value
    assert list(table["name"]) == ["background", "CSF", "grey matter", "white matter"]
    np.testing.assert_allclose(table["iou"].to_numpy(float), evaluation.scores.iou, equal_nan=True)
    metrics = {m.label: m.value for m in app.metric}
    expected = "n/a" if not np.isfinite(evaluation.scores.mean_iou) else f"{evaluation.scores.mean_iou:.3f}"
    assert metrics["Mean IoU"] == expected
    assert "left out of the means" in texts(app)
    assert app.get("plotly_chart")  # the IoU bars
    open_tab(app, "evaluate.tab", "Confusion matrix")
    assert app.get("plotly_chart")  # the heatmap
    assert (app.selectbox(key="evaluate.gt").value, app.selectbox(key="evaluate.pred").value) == largest_off_diagonal(
        evaluation.confusion)


def largest_off_diagonal(cm: np.ndarray) -> tuple[int, int]:
    off = cm.astype(float).copy()
    np.fill_diagonal(off, -1)
    return tuple(int(i) for i in np.unravel_index(np.argmax(off), off.shape))


def open_tab(app: AppTest, key: str, label: str) -> AppTest:
    """Switch a lazy tab group (``st.tabs(..., key=key, on_change="rerun")``) as a click would."""
    app.session_state[key] = label
    app.run()
    assert_clean(app)
    return app


def test_evaluate_confusion_pair_lists_samples(app):
    run_evaluation(app)
    open_tab(app, "evaluate.tab", "Confusion matrix")
    app.selectbox(key="evaluate.gt").set_value(2)
    app.selectbox(key="evaluate.pred").set_value(3).run()
    assert_clean(app)
    shown = texts(app)
    assert "grey matter predicted as white matter" in shown or "No pixel of grey matter" in shown


def test_evaluate_result_survives_page_switches(app):
    run_evaluation(app)
    app.switch_page("pages/home.py").run()
    app.switch_page("pages/evaluate.py").run()
    assert_clean(app)
    assert any("Evaluated" in s.value for s in app.success)
    assert app.dataframe  # shown again without re-running


def test_worst_samples_open_in_predict(app):
    run_evaluation(app)
    open_tab(app, "evaluate.tab", "Per image")
    app.button(key="evaluate.open_ranked").click().run()
    assert_clean(app)
    assert app.title[0].value == "Predict"
    assert "worst-scoring" in texts(app)
    assert len(app.image) == 3 * 5  # image, prediction, truth, errors, uncertainty


# --- Dataset ----------------------------------------------------------------------------------
def test_dataset_page_shows_imbalance_and_samples(app):
    from segdash.data import open_dataset
    from segdash.data.stats import class_statistics

    app.switch_page("pages/dataset.py").run()
    assert_clean(app)
    assert len(app.get("plotly_chart")) >= 3  # distribution, presence, weights
    table = app.dataframe[0].value
    expected = class_statistics(open_dataset("brain-mri"), "train")
    np.testing.assert_array_equal(table["pixels"].to_numpy(), expected.pixels)
    app.segmented_control(key="dataset.scale").set_value("log").run()
    assert_clean(app)
    open_tab(app, "dataset.tab", "Samples")
    assert len(app.image) == 8  # one page of samples with their ground truth


# --- Train ------------------------------------------------------------------------------------
def fill_small_training_form(app, epochs: int, batch_size: int) -> None:
    """The Train form set to a tiny run: MobileNetV2 from random weights, 32x32 images."""
    app.selectbox(key="train.encoder").set_value("mobilenet_v2")
    app.checkbox(key="train.pretrained").set_value(False)
    app.number_input(key="train.epochs").set_value(epochs)
    app.select_slider(key="train.img_size").set_value(32)
    app.number_input(key="train.batch_size").set_value(batch_size)


@pytest.mark.slow
def test_train_page_runs_a_short_training(app, tmp_path):
    from segdash.train.runs import list_runs

    app.switch_page("pages/train.py").run()
    assert_clean(app)
    assert "No training run yet" in texts(app)
    fill_small_training_form(app, epochs=1, batch_size=32)
    app.button[0].click().run()  # Start training (the form's submit button)
    assert not app.exception
    deadline = time.monotonic() + 240
    run = list_runs(tmp_path / "runs")[0]
    while run.state in ("starting", "running") and time.monotonic() < deadline:
        time.sleep(1)  # the run is another process: poll its folder
        run = list_runs(tmp_path / "runs")[0]
    assert run.state == "finished", run.error or run.log_tail()
    app.run()
    assert_clean(app)
    assert "finished" in texts(app)
    assert len(app.get("plotly_chart")) >= 2  # loss and Dice curves
    assert app.image  # validation previews
    run_checkpoints = [o for o in app.sidebar.selectbox[1].options if run.name in o]
    assert run_checkpoints  # the run's checkpoints joined the model picker


def test_train_page_estimates_the_time_once_per_setup(app):
    """Estimate time measures a step of the chosen model and shows the run's time; more epochs scale it
    without measuring again (the measured step is kept in the session)."""
    import re

    app.switch_page("pages/train.py").run()
    assert_clean(app)
    assert "Estimate time measures one training step" in texts(app)
    fill_small_training_form(app, epochs=2, batch_size=4)
    app.button[1].click().run()  # Estimate time (the form's second button)
    assert_clean(app)
    shown = re.search(r"Estimated time: about .* \(step ([0-9.e-]+) s x (\d+) steps x 2 epochs", texts(app))
    assert shown and float(shown.group(1)) > 0 and int(shown.group(2)) == 220 // 4
    estimates = app.session_state["train.estimates"]
    assert len(estimates) == 1
    app.number_input(key="train.epochs").set_value(4)
    app.button[1].click().run()
    assert "x 4 epochs" in texts(app) and app.session_state["train.estimates"] is estimates and len(estimates) == 1
    assert next(iter(estimates))[:2] == ("Unet", "mobilenet_v2")  # keyed by the model it measured


# --- Compare ----------------------------------------------------------------------------------
def test_compare_two_checkpoints(app):
    app.switch_page("pages/compare.py").run()
    assert_clean(app)
    assert len(app.multiselect(key="compare.models").value) == 2
    assert len(app.image) == 3 * 4  # three samples: truth, A, B, difference
    assert "fixed" in texts(app)
    open_tab(app, "compare.tab", "Per-class metrics")
    table = app.dataframe[0].value
    assert {"iou A", "iou B", "Δ iou"} <= set(table.columns)
    np.testing.assert_allclose(table["Δ iou"], table["iou B"] - table["iou A"], equal_nan=True)


# --- the sidebar ------------------------------------------------------------------------------
def test_bad_folder_dataset_is_a_message_not_a_traceback(app, tmp_path):
    app.sidebar.selectbox[0].set_value("Folder on disk…").run()
    app.sidebar.text_input[0].set_value(str(tmp_path / "missing")).run()
    assert not app.exception
    assert app.error and "does not exist" in app.error[0].value


def test_choice_survives_page_switches(app, weights_dir):
    model = app.sidebar.selectbox[1]
    other = next(str(weights_dir / name / "best") for name in ("unet", "fpn") if str(weights_dir / name / "best") != model.value)
    model.set_value(other).run()
    app.switch_page("pages/dataset.py").run()
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    assert app.sidebar.selectbox[1].value == other


def test_switching_dataset_switches_model_and_pages(app, weights_dir):
    app.sidebar.selectbox(key="sd.dataset").set_value("street-synth").run()
    assert_clean(app)
    assert any("13 classes" in c.value for c in app.sidebar.caption)
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    assert any("Choose a checkpoint" in i.value for i in app.info)  # no test checkpoint fits street-synth
    app.switch_page("pages/dataset.py").run()
    assert_clean(app)
    assert list(app.dataframe[0].value["class"])[:3] == ["unlabeled", "building", "fence"]
    app.sidebar.selectbox(key="sd.dataset").set_value("brain-mri").run()
    assert str(weights_dir) in app.sidebar.selectbox[1].value  # brain-mri's own choice came back


def test_checkpoint_that_does_not_fit_is_a_message(app, tmp_path):
    from segdash.data.base import Normalization
    from segdash.models import CheckpointMeta, create_model, save_checkpoint

    model = create_model("FPN", "mobilenet_v2", in_channels=3, num_classes=2)
    meta = CheckpointMeta(arch="FPN", encoder="mobilenet_v2", classes=["cat", "dog"], colors=[(0, 0, 0), (255, 0, 0)],
                          in_channels=3, normalization=Normalization.imagenet(), dataset="pets")  # fmt: skip
    folder = save_checkpoint(model, meta, tmp_path / "pets")
    app.sidebar.selectbox[1].set_value("Checkpoint folder…").run()
    app.sidebar.text_input(key="sd.model.path").set_value(str(folder)).run()
    assert not app.exception
    assert any("differ from dataset" in e.value for e in app.error)
    app.switch_page("pages/evaluate.py").run()
    app.button(key="evaluate.run").click().run()
    assert not app.exception
    assert any("differ from dataset" in e.value for e in app.error)


def test_folder_in_the_wrong_format_is_a_message(app, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    app.sidebar.selectbox[0].set_value("Folder on disk…").run()
    app.sidebar.text_input(key="sd.dataset.path").set_value(str(tmp_path / "photos")).run()
    app.sidebar.selectbox(key="sd.dataset.format").set_value("voc").run()
    assert not app.exception
    assert app.error
    app.switch_page("pages/dataset.py").run()
    assert not app.exception
    assert any("does not open" in i.value for i in app.info)


def test_a_label_beyond_any_class_count_is_a_message_on_the_dataset_page(app, tmp_path):
    """A 16-bit mask holding 60000 and no classes file: the line naming the mask and the label, no traceback
    and no 60001-class table; the options field (KEY=VALUE, as -o) declares it ignored and the folder opens."""
    root = tmp_path / "scans"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    labels = np.zeros((8, 8), np.uint16)
    labels[2:4, 2:4], labels[6, 6] = 1, 60000
    for name in ("a", "b", "c"):
        Image.fromarray(np.full((8, 8), 90, np.uint8)).save(root / "images" / f"{name}.png")
        Image.fromarray(labels).save(root / "masks" / f"{name}.png")
    app.sidebar.selectbox[0].set_value("Folder on disk…").run()
    app.sidebar.text_input(key="sd.dataset.path").set_value(str(root)).run()
    app.switch_page("pages/dataset.py").run()
    assert not app.exception
    assert any("holds label 60000" in e.value and "at most 1024" in e.value for e in app.error)
    app.sidebar.text_input(key="sd.dataset.options").set_value("ignore_index = 60000").run()
    assert_clean(app)
    assert list(app.dataframe[0].value["class"]) == ["class_0", "class_1"]


def test_huge_upload_is_downscaled_with_a_note(app):
    open_upload(app)
    wide = np.tile(np.linspace(0, 255, 2600, dtype=np.uint8), (96, 1))
    app.file_uploader[0].set_value(("wide.png", png_bytes(wide), "image/png")).run()
    assert_clean(app)
    assert "downscaled to 2048x" in texts(app)
    assert len(app.image) == 3  # image, prediction, uncertainty


def test_background_job_reports_progress_and_cancels():
    """The evaluation runner: progress from the worker, Cancel honoured between steps, partial result kept."""
    import threading

    from segdash.ui.jobs import CANCELLED, FINISHED, JobBoard

    board = JobBoard()
    step = threading.Event()

    def work(job):
        done = 0
        for done in range(1, 101):
            job.report(done, 100)
            if done == 10:
                step.set()
            if job.should_stop():
                break
            threading.Event().wait(0.01)  # stand-in for one batch of work
        return done

    job = board.start("k", "counting", work)
    assert step.wait(10)
    assert job.is_running and job.total == 100 and 0 < job.fraction < 1
    job.cancel()
    assert job.wait(10)
    assert job.status == CANCELLED and job.result < 100
    assert board.start("k", "counting", lambda j: 42).status in ("running", FINISHED)  # a cancelled job starts again
    assert board.get("k").wait(10) and board.get("k").result == 42


def test_predict_upload_jpeg_and_tiff(app):
    """A colour JPEG (converted to grey for the 1-channel model, with a note) and a 16-bit TIFF."""
    open_upload(app)
    rng = np.random.default_rng(1)
    jpeg, tiff = io.BytesIO(), io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
    Image.fromarray(rng.integers(0, 65535, (80, 64), dtype=np.uint16)).save(tiff, format="TIFF")
    app.file_uploader[0].set_value([("photo.jpg", jpeg.getvalue(), "image/jpeg"),
                                    ("scan.tif", tiff.getvalue(), "image/tiff")]).run()  # fmt: skip
    assert_clean(app)
    assert len(app.image) == 6  # image, prediction, uncertainty each
    shown = texts(app)
    assert "**photo.jpg** · 128x96" in shown and "**scan.tif** · 64x80" in shown
    assert "grayscale" in shown  # the predictor's note on the colour image


def test_predict_refuses_a_checkpoint_that_does_not_fit_for_samples_but_runs_uploads(app, tmp_path):
    """Ground truth drawn in another model's class names would be wrong: samples are refused with the sidebar's
    message; an upload (no ground truth) still runs, in the model's own classes."""
    from segdash.data.base import Normalization
    from segdash.models import CheckpointMeta, create_model, save_checkpoint

    model = create_model("FPN", "mobilenet_v2", in_channels=3, num_classes=2)
    meta = CheckpointMeta(arch="FPN", encoder="mobilenet_v2", classes=["vehicle", "road"],
                          colors=[(0, 0, 0), (255, 0, 0)], in_channels=3, normalization=Normalization.imagenet())
    folder = save_checkpoint(model, meta, tmp_path / "street")
    app.sidebar.selectbox[1].set_value("Checkpoint folder…").run()
    app.sidebar.text_input(key="sd.model.path").set_value(str(folder)).run()
    app.switch_page("pages/predict.py").run()
    assert not app.exception
    assert any("differ from dataset" in e.value for e in app.error)
    assert len(app.image) == 0  # no ground truth drawn in street class names
    app.segmented_control(key="predict.source").set_value("Upload").run()
    app.file_uploader[0].set_value(("slice.png", brain_slice_png(), "image/png")).run()
    assert not app.exception
    assert len(app.image) >= 2 and "vehicle" in texts(app) + str([m.value for m in app.markdown])


def test_a_cached_prediction_says_when_its_time_was_measured(app):
    from segdash.ui.predictions import _predict_cached

    _predict_cached.clear()  # an earlier test may have predicted the same slice in this process
    open_upload(app)
    app.file_uploader[0].set_value(("slice.png", brain_slice_png(), "image/png")).run()
    assert "reused" not in texts(app)  # computed in this run
    app.run()  # a rerun (a slider moved): the prediction comes from the cache
    assert_clean(app)
    assert "inference time measured at" in texts(app) and "reused" in texts(app)


def test_an_upload_unlike_the_training_data_gets_a_hint(app):
    open_upload(app)
    rng = np.random.default_rng(3)
    noise = rng.integers(60, 200, (96, 96), dtype=np.uint8)  # mid-grey everywhere: nothing like an MRI slice
    app.file_uploader[0].set_value([("noise.png", png_bytes(noise), "image/png"),
                                    ("slice.png", brain_slice_png(), "image/png")]).run()  # fmt: skip
    assert_clean(app)
    hints = [c.value for c in app.caption if "unlike the model's training data" in c.value]
    assert len(hints) == 1  # the noise, not the slice


def test_predict_large_view_and_errors_of_one_class(app):
    app.switch_page("pages/predict.py").run()
    app.segmented_control(key="predict.pick").set_value("examples").run()
    app.selectbox(key="predict.focus").set_value(2).run()  # CSF (index 1 of the classes)
    app.segmented_control(key="predict.large").set_value("Prediction").run()
    assert_clean(app)
    shown = texts(app)
    assert "Dice" in shown and "IoU" in shown
    charts = app.get("plotly_chart")
    assert len(charts) == 4  # one large, zoomable view per card
    import json

    spec = json.loads(charts[0].proto.spec)
    readout = spec["data"][1]["text"]
    assert any("%" in cell for row in readout for cell in row)  # "grey matter · 97%"
