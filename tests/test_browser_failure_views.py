"""Where a model fails, in a real browser: the Predict page's uncertainty layer, the Evaluate page's Objects
and Calibration tabs (headless Chromium, the harness of test_browser.py).

    SEGDASH_SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser_failure_views.py
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

from test_browser import (  # noqa: E402, F401
    browser,
    open_page,
    page,
    screenshot,
    server,
    wait_charts,
    wait_idle,
    wait_images,
)


def test_uncertainty_layer_beside_the_error_map(page, server):
    open_page(page, server, "predict", "Predict")
    page.get_by_text("Uncertainty: normalised entropy").first.wait_for()
    page.get_by_text("AUROC for the errors").first.wait_for()
    wait_images(page, 5)  # image, prediction, ground truth, error map, uncertainty
    wait_idle(page)
    screenshot(page, "predict-uncertainty")


def test_objects_and_calibration_tabs(page, server):
    open_page(page, server, "evaluate", "Evaluate")
    page.get_by_text("Distance metrics").click()  # off: keep the run short
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("Evaluated brain-mri / test").wait_for()
    wait_charts(page, 1)
    page.get_by_role("tab", name="Objects").click()
    page.get_by_text("Objects per class by size").first.wait_for()
    wait_charts(page, 1)
    wait_idle(page)
    screenshot(page, "evaluate-objects")
    page.get_by_role("tab", name="Calibration").click()
    page.get_by_text("Reliability diagram").first.wait_for()
    wait_charts(page, 2)  # the reliability diagram and ECE per class
    wait_idle(page)
    screenshot(page, "evaluate-calibration")
