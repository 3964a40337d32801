"""The Dataset page's imbalance views in AppTest: each tab draws, the finder hands over to Predict, and
"Train with these weights" opens Train with the form preset."""

import pytest

from test_app import _navigation_mode, app, assert_clean, open_tab, texts, weights_dir  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def street(app):  # noqa: F811
    app.sidebar.selectbox(key="sd.dataset").set_value("street-synth").run()
    app.switch_page("pages/dataset.py").run()
    assert_clean(app)
    return app


def charts(at) -> list:
    return at.get("plotly_chart")


def test_each_imbalance_tab_draws(street):
    open_tab(street, "dataset.tab", "Where classes live")
    assert len(charts(street)) == 1 and "32x32 grid" in texts(street)
    street.segmented_control(key="dataset.prior_view").set_value("all classes").run()
    assert_clean(street)
    assert len(charts(street)) == 1
    open_tab(street, "dataset.tab", "Together")
    street.segmented_control(key="dataset.co_normalize").set_value("P(j | i)").run()
    assert_clean(street)
    assert len(charts(street)) == 1
    open_tab(street, "dataset.tab", "Object sizes")
    assert len(charts(street)) == 2 and street.dataframe  # counts, one class's sizes, the table
    open_tab(street, "dataset.tab", "Splits agree?")
    assert len(charts(street)) == 2  # frequencies side by side, ratios to train
    assert any("JS divergence, test vs train" in m.label for m in street.metric)


def test_rare_class_finder_opens_a_sample_in_predict(street):
    from segdash.ui import state

    open_tab(street, "dataset.tab", "Rare-class finder")
    street.selectbox(key="dataset.finder_class").set_value(12)  # traffic sign
    street.run()
    assert_clean(street)
    assert len(street.image) == 8
    first = street.selectbox(key="dataset.finder_open").options[0]
    street.selectbox(key="dataset.finder_open").set_value(first).run()
    request = street.session_state[state.PREDICT_REQUEST]
    assert request.sample_ids == (first,) and "traffic sign" in request.reason


def test_train_with_these_weights_presets_the_train_form(street):
    from segdash.ui.dataset_page import TRAIN_FORM_PRESETS

    street.button(key="dataset.train_weights").click().run()
    assert_clean(street)
    assert street.selectbox(key="train.loss").value == TRAIN_FORM_PRESETS["train.loss"]
    assert street.selectbox(key="train.weights").value == "median"
    assert street.number_input(key="train.rare_oversample").value == 2.0
    assert street.number_input(key="train.weight_floor").value == 0.25
    assert street.sidebar.selectbox(key="sd.dataset").value == "street-synth"  # the form trains on it
