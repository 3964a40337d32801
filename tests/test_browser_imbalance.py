"""The Dataset page's imbalance views on street-synth in a real browser (headless Chromium, Playwright).

    SEGDASH_SCREENSHOTS=docs/screenshots python -m pytest -m browser tests/test_browser_imbalance.py

Reuses test_browser.py's server, browser and waiting helpers; screenshots ``dataset-where``,
``dataset-together``, ``dataset-object-sizes`` (with the object recall of a first evaluation of the
shipped plain street-synth model on 16 test images), ``dataset-splits`` and ``dataset-rare-finder``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api")
from test_browser import (  # noqa: F401
    browser,
    open_page,
    page,
    screenshot,
    server,
    wait_charts,
    wait_idle,
    wait_images,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_tab(page, name: str) -> None:  # noqa: F811
    page.get_by_role("tab", name=name).click()
    wait_idle(page)


def evaluate_16_test_images(page) -> None:  # noqa: F811
    """Evaluate the sidebar's model (the shipped plain street-synth one) on 16 test images, no distances."""
    page.get_by_role("link", name="Evaluate").click()
    page.get_by_role("heading", name="Evaluate", exact=True).wait_for()
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Images").click()
    page.get_by_role("option", name="16 (evenly spaced)").click()
    wait_idle(page)
    page.locator('[data-testid="stCheckbox"]').filter(has_text="Distance metrics").click()
    wait_idle(page)
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("Evaluated street-synth / test").wait_for()


def test_imbalance_views_on_street_synth(page, server):  # noqa: F811
    open_page(page, server, "dataset", "Dataset")
    wait_idle(page)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="street-synth").click()
    page.get_by_text("Rare classes", exact=True).wait_for()
    wait_idle(page)
    evaluate_16_test_images(page)
    page.get_by_role("link", name="Dataset").click()
    page.get_by_role("heading", name="Dataset", exact=True).wait_for()
    wait_idle(page)

    open_tab(page, "Where classes live")
    page.get_by_text("all classes", exact=True).click()
    wait_idle(page)
    page.get_by_text("Where each class lives").wait_for()
    screenshot(page, "dataset-where")

    open_tab(page, "Together")
    page.get_by_text("P(j | i)", exact=True).click()
    wait_idle(page)
    page.get_by_text("P(column class present | row class present)").wait_for()
    screenshot(page, "dataset-together")

    open_tab(page, "Object sizes")
    wait_charts(page, 2)
    page.get_by_text("Object sizes of 'traffic sign'").wait_for()  # the rarest class is picked first
    page.get_by_text("small: 0% found").wait_for()  # the evaluation's object recall per size, beside the sizes
    screenshot(page, "dataset-object-sizes")

    open_tab(page, "Splits agree?")
    wait_charts(page, 2)
    page.get_by_text("JS divergence, test vs train").wait_for()
    screenshot(page, "dataset-splits")

    open_tab(page, "Rare-class finder")
    wait_images(page, 8)
    wait_idle(page)
    screenshot(page, "dataset-rare-finder")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Open in Predict").click()
    page.get_by_role("option").first.click()
    page.get_by_role("heading", name="Predict", exact=True).wait_for()  # the sample opened in Predict
