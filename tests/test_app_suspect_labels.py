"""The Dataset page's "Suspect labels" tab in AppTest: the check runs in the background, then the pictures, the
ranked list (with the worst-Dice rank and a CSV), the per-class figures, the honest-use warning, and Open in
Predict (the fixtures of test_app.py: random brain-mri checkpoints, so many pixels are suspect)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")

from test_app import TIMEOUT, _navigation_mode, app, assert_clean, open_tab, texts, weights_dir  # noqa: E402, F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _newest_check():
    from segdash.ui.jobs import job_board

    found = [j for j in job_board().all() if j.tags.get("kind") == "label_issues" and j.finished]
    return max(found, key=lambda job: job.finished)


@pytest.fixture
def checked(app):  # noqa: F811
    """The Suspect labels tab after a check of 16 evenly spaced test slices."""
    from segdash.ui.jobs import job_board

    app.switch_page("pages/dataset.py").run()
    open_tab(app, "dataset.tab", "Suspect labels")
    assert "does not record what it trained on" in texts(app)  # the random checkpoints keep no training config
    app.selectbox(key="labels.limit").set_value(16)
    app.button(key="labels.run").click().run()
    assert not app.exception
    for job in job_board().all():
        assert job.wait(TIMEOUT)
    app.run()
    assert_clean(app)
    return app


def test_the_check_shows_pictures_list_and_class_views(checked):
    from segdash.ui.suspect_labels import PER_PAGE

    issues = _newest_check().result
    assert issues.images == 16 and any("Checked brain-mri / test (16 images)" in s.value for s in checked.success)
    metrics = {m.label: m.value for m in checked.metric}
    assert metrics["Images checked"] == "16" and metrics["Suspect pixels"] == f"{int(issues.suspect_pixels.sum()):,}"
    captions = [img.caption for element in checked.image for img in element.proto.imgs]
    assert sum(c.endswith(": the mask") for c in captions) == PER_PAGE
    assert sum(c.startswith("suspect pixels") for c in captions) == PER_PAGE
    first = issues.ranking()["sample_id"][0]
    assert captions[0] == f"{first}: the mask"  # the most suspect image first

    table = checked.dataframe[0].value
    assert list(table["sample_id"]) == list(issues.ranking()["sample_id"])
    assert list(table["rank"]) == list(range(1, 17)) and sorted(table["dice_rank"]) == list(range(1, 17))
    csv = checked.get("download_button")[0]
    assert csv.proto.label == "Suspect-label list (CSV)"
    frame = pd.read_csv(io.BytesIO(issues.ranking().to_csv(index=False).encode()))
    assert list(frame.columns[:4]) == ["rank", "dice_rank", "sample_id", "score"]

    specs = [chart.proto.spec for chart in checked.get("plotly_chart")]
    assert len(specs) == 3
    assert "Which classes are most often suspected" in specs[0]
    assert "given label vs the model" in specs[1] and "suggested class" in specs[1]
    assert "Label quality against the model" in specs[2]
    classes = checked.dataframe[1].value
    np.testing.assert_allclose(classes["threshold"].to_numpy(float), issues.thresholds, equal_nan=True)


def test_pages_of_pictures_and_open_in_predict(checked):
    issues = _newest_check().result
    checked.number_input(key="labels.page.test").set_value(2).run()
    assert_clean(checked)
    captions = [img.caption for element in checked.image for img in element.proto.imgs]
    second_page = list(issues.maps)[6]
    assert captions[0] == f"{second_page}: the mask"
    checked.button(key=f"labels.open.{second_page}").click().run()
    assert_clean(checked)
    assert checked.title[0].value == "Predict"  # which took the request: that sample, and why
    assert f"test/{second_page}" in texts(checked) and "suspect mask" in texts(checked)


def test_the_training_split_is_warned_about(app):  # noqa: F811
    app.switch_page("pages/dataset.py").run()
    open_tab(app, "dataset.tab", "Suspect labels")
    app.selectbox(key="labels.split").set_value("train").run()
    assert_clean(app)
    assert any("in-sample" in w.value for w in app.warning)
