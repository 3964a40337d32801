"""The Compare page's Statistics tab and swipe view in a real browser (headless Chromium, Playwright).

    SEGDASH_SCREENSHOTS=docs/screenshots python -m pytest -m browser tests/test_browser_compare.py

Reuses test_browser.py's server, browser and waiting helpers; screenshots ``compare-statistics``
and ``compare-swipe``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api")
from test_browser import browser, open_page, screenshot, server, wait_charts, wait_idle  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def tall_page(browser, server):  # noqa: F811 - the fixtures imported above
    # The statistics tab is long: a tall viewport shows it whole without scrolling Streamlit's container.
    context = browser.new_context(viewport={"width": 1440, "height": 3400})
    context.set_default_timeout(300_000)
    tab = context.new_page()
    yield tab
    context.close()


def test_statistics_tab_and_swipe(tall_page, server):  # noqa: F811
    page = tall_page
    open_page(page, server, "compare", "Compare")
    page.get_by_text("px fixed").first.wait_for()
    wait_idle(page)
    page.get_by_role("tab", name="Statistics").click()
    page.get_by_text("Overall:").first.wait_for()  # the background comparison finished
    wait_charts(page, 3)  # forest plot, paired scatter, fixed / broken pixels
    wait_idle(page)
    screenshot(page, "compare-statistics")
    with page.expect_download() as download:  # the report is built when the button is pressed
        page.get_by_role("button", name="Download the HTML report").click()
    report = download.value.path().read_text(encoding="utf-8")
    assert "Plotly.newPlot" in report and "data:image/png;base64," in report and "segdash compare brain-mri" in report

    page.get_by_role("tab", name="Swipe").click()
    frame = page.frame_locator("iframe").first
    wipe = frame.locator("#wipe")
    wipe.wait_for()
    wipe.evaluate("e => { e.value = 100; e.dispatchEvent(new Event('input')); }")
    assert frame.locator("#right").evaluate("e => e.style.clipPath") == "inset(0px 0px 0px 0%)"  # all of B shown
    wipe.evaluate("e => { e.value = 50; e.dispatchEvent(new Event('input')); }")
    frame.locator("#box").hover()
    page.mouse.wheel(0, -100)  # zoom in: both pictures share one transform
    transforms = frame.locator(".stage").evaluate_all("stages => stages.map(s => s.style.transform)")
    assert len(transforms) == 2 and transforms[0] == transforms[1] and "scale(1.25)" in transforms[0]
    wait_idle(page)
    screenshot(page, "compare-swipe")

    page.get_by_role("tab", name="Statistics").click()  # the finished comparison is reused
    wait_charts(page, 3)
    wait_idle(page)
    scatter = page.locator(".js-plotly-plot").nth(1)  # forest plot, paired scatter, fixed / broken
    point = scatter.locator(".scatterlayer .trace").nth(1).locator("path.point").first.bounding_box()
    # Plotly's drag layer takes the pointer events, so click where the point is drawn, not on its element
    page.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    page.get_by_text("px fixed (green)").first.wait_for()  # the clicked image opened, with its swipe view
    page.frame_locator("iframe").first.locator("#wipe").wait_for()
