"""The dashboard's views of where a model fails: Boundary IoU column, objects and calibration tabs, rankings,
and the Predict page's uncertainty layer (Streamlit's AppTest, the fixtures of test_app.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")

from test_app import _navigation_mode, app, assert_clean, open_tab, run_evaluation, texts, weights_dir  # noqa: E402, F401


def panels(app, prefix: str) -> int:
    """How many images on the page have a caption starting with ``prefix``."""
    return sum(img.caption.startswith(prefix) for element in app.image for img in element.proto.imgs)


def _evaluation():
    from segdash.ui.jobs import job_board

    # the newest: earlier tests in this process may have left evaluations of other models on the board
    found = [j for j in job_board().all() if j.tags.get("split") == "test" and "|8|" in j.key and j.finished]
    return max(found, key=lambda job: job.finished).result


def test_evaluate_failure_views(app):
    from segdash.metrics.calibration import calibration_error

    run_evaluation(app)
    evaluation = _evaluation()
    table = app.dataframe[0].value
    assert list(table.columns[:3]) == ["name", "iou", "boundary_iou"]  # Boundary IoU right beside IoU
    np.testing.assert_allclose(table["boundary_iou"].to_numpy(float), evaluation.boundary_iou, equal_nan=True)
    np.testing.assert_allclose(table["ece"].to_numpy(float), calibration_error(evaluation.calibration),
                               equal_nan=True)  # fmt: skip

    open_tab(app, "evaluate.tab", "Objects")
    figure = app.get("plotly_chart")[0].proto.spec
    assert "Objects per class by size" in figure
    objects = app.dataframe[0].value
    assert set(objects["size"]) == {"small", "medium", "large"}
    wm = objects[(objects["class"] == "white matter") & (objects["size"] == "large")].iloc[0]
    assert wm["gt"] == evaluation.objects[3, 2, 0] and wm["detected"] == evaluation.objects[3, 2, 1]

    open_tab(app, "evaluate.tab", "Calibration")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["ECE"] == f"{evaluation.calibration_summary()['ece']:.3f}"
    assert "Reliability diagram" in app.get("plotly_chart")[0].proto.spec
    assert "perfect calibration" in app.get("plotly_chart")[0].proto.spec  # the diagonal
    app.selectbox(key="evaluate.calibration_class").set_value(1).run()
    assert_clean(app)
    assert "predicted as CSF" in app.get("plotly_chart")[0].proto.spec

    open_tab(app, "evaluate.tab", "Per image")
    app.selectbox(key="evaluate.rank_by").set_value("overconfidence").run()
    assert_clean(app)
    ranked = app.dataframe[0].value["overconfidence"].to_numpy(float)
    assert ranked[0] == np.nanmax(evaluation.per_image["overconfidence"])  # most overconfident first


def test_predict_uncertainty_layer_beside_the_error_map(app):
    run_evaluation(app)
    open_tab(app, "evaluate.tab", "Per image")
    app.button(key="evaluate.open_ranked").click().run()
    assert_clean(app)
    assert panels(app, "Uncertainty: normalised entropy") == panels(app, "Errors:") == 3  # side by side
    assert "of the errors" in texts(app) and "AUROC for the errors" in texts(app)
    app.switch_page("pages/predict.py").run()  # stay on Predict (the same three samples) for the next reruns
    assert panels(app, "Uncertainty:") == 3
    app.slider(key="predict.uncertainty_threshold").set_value(0.2).run()
    assert_clean(app)
    assert "Above 0.20" in texts(app)
    app.session_state["predict.uncertainty"] = "off"
    app.run()
    assert_clean(app)
    assert panels(app, "Uncertainty:") == 0 and panels(app, "Errors:") == 3
