"""Other frameworks' models in the dashboard (Streamlit's AppTest): the model card, a transformers folder in the
picker and on Predict, the "Import a model" form, and a model of other classes mapped onto the dataset's."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("transformers")
from streamlit.testing.v1 import AppTest  # noqa: E402

import builders  # noqa: E402
from test_app import APP, TIMEOUT, _navigation_mode, assert_clean, texts, weights_dir  # noqa: E402, F401

#: smp, timm, torchvision and transformers warn about deprecations the tests do not exercise
pytestmark = pytest.mark.filterwarnings("ignore")

MODEL_KEY = "sd.model.brain-mri|"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A runs folder holding a tiny SegFormer of brain-mri's classes (as a pull would put it) and one of other
    classes, partly brain-mri's."""
    root = tmp_path_factory.mktemp("runs")
    builders.segformer_folder(root / "hub" / "tiny-segformer")
    # more classes than brain-mri's four: Predict's class toggles must be the dataset's, not the model's
    builders.segformer_folder(root / "hub" / "other-classes", classes=("Background", "csf", "tumour", "edema", "skull"),
                              seed=9)  # fmt: skip
    return root.resolve()


@pytest.fixture
def app(weights_dir, runs, monkeypatch) -> AppTest:
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(runs))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    return at


def sidebar_texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.sidebar.markdown) + "\n".join(str(c.value) for c in at.sidebar.caption)


def pick(at: AppTest, folder: Path) -> AppTest:
    at.sidebar.selectbox(key=MODEL_KEY).set_value(str(folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_sidebar_card_describes_segdash_s_own_checkpoint(app):
    shown = sidebar_texts(app)
    assert "**Family**: segmentation-models-pytorch" in shown and "**Classes**: 4: background, CSF" in shown
    assert "trained by segdash on brain-mri" in shown


def test_a_transformers_folder_is_offered_and_predicts_on_samples(app, runs):
    folder = runs / "hub" / "tiny-segformer"
    assert "run hub · tiny-segformer" in app.sidebar.selectbox(key=MODEL_KEY).options  # brain-mri's classes: it fits
    pick(app, folder)
    assert "**Family**: transformers per-pixel models" in sidebar_texts(app)
    assert "gray replicated to R, G and B" in sidebar_texts(app)
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    shown = texts(app)
    assert "resized to 64x64 (bilinear) as the model's image processor does" in shown
    assert "**Runs on**: PyTorch" in shown and "SegformerImageProcessor from the folder's preprocessor_config.json" in shown
    assert len(app.image) >= 2 * 4


def test_a_model_of_other_classes_is_mapped_on_samples_and_in_evaluate(app, runs):
    pick(app, runs / "hub" / "other-classes")
    assert not app.sidebar.error  # mapped by name, not refused
    assert "classes mapped by name: 2 of the model's 5 classes" in sidebar_texts(app)
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    shown = texts(app)
    assert "classes mapped by name" in shown
    assert "white matter" in shown  # the legend is in the dataset's classes
    app.switch_page("pages/evaluate.py").run()
    assert_clean(app)
    app.selectbox(key="evaluate.limit").set_value(8)
    app.checkbox(key="evaluate.distances").set_value(False)
    app.button(key="evaluate.run").click().run()
    from segdash.ui.jobs import job_board

    for job in job_board().all():
        assert job.wait(TIMEOUT)
    app.run()
    assert_clean(app)
    assert "of the predicted pixels were unmapped model classes" in texts(app) or (
        "no pixel was predicted as an unmapped model class" in texts(app))


def test_import_form_makes_a_checkpoint_the_sidebar_lists(app, runs, tmp_path):
    graph, _ = builders.onnx_export(tmp_path / "tiny.onnx", builders.TinyNet(in_channels=1), in_channels=1)
    classes = builders.classes_file(tmp_path / "classes.txt")
    app.switch_page("pages/predict.py").run()
    assert_clean(app)
    app.text_input(key="import.source").set_value(str(graph))
    app.text_input(key="import.classes").set_value(str(classes))
    app.text_input(key="import.mean").set_value("0")
    app.text_input(key="import.std").set_value("1")
    app.text_input(key="import.range").set_value("0..1")
    app.text_input(key="import.dataset").set_value("brain-mri")
    next(b for b in app.button if b.label == "Import").click().run()
    assert_clean(app)
    assert "Imported the onnx model" in texts(app)
    folder = runs / "imported" / "tiny"
    assert "run imported · tiny" in app.sidebar.selectbox(key=MODEL_KEY).options
    pick(app, folder)
    app.run()
    assert_clean(app)
    assert "**Runs on**: ONNX Runtime" in texts(app)


def test_no_import_form_in_public_mode(monkeypatch, weights_dir, runs):
    monkeypatch.setenv("SEGDASH_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("SEGDASH_RUNS", str(runs))
    monkeypatch.setenv("SEGDASH_PUBLIC", "1")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/predict.py").run()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "import.source"]
