"""A teaching notebook in real JupyterLab, driven by headless Chromium through Playwright.

JupyterLab runs on localhost (tests/browser/conftest.py). The test runs all cells, moves a slider and checks that the
chart and the verdict change, keeping a screenshot under ``reports/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import jupyter_lab, run_notebook, wait_idle
from tests.conftest import CHROMIUM_FLAGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "teaching" / "02_comparing_distributions.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab serving a copy of the teaching notebook; yields its base URL."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    with jupyter_lab(root) as url:
        yield url


def test_slider_changes_chart_and_verdict(lab: str, chromium: str) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            run_notebook(page, lab, NOTEBOOK.name)
            verdict = page.locator(".jp-OutputArea .widget-html .abnb-verdict").first
            verdict.wait_for(timeout=120_000)
            chart = page.locator(".jp-OutputArea .widget-html svg").first
            chart.wait_for(timeout=60_000)
            wait_idle(page)  # every code cell executed: no preset is still applying
            before_text, before_chart = verdict.inner_text(), chart.inner_html()

            label = page.locator(".widget-label", has_text=re.compile(r"^n A$"))
            slider = page.locator(".widget-slider", has=label).first
            readout = slider.locator(".widget-readout")
            readout.fill("2158")
            readout.press("Enter")
            # wait for the verdict of the new n itself (the widget may re-render more than once on its way)
            page.wait_for_function(
                "([old]) => { const v = document.querySelector('.jp-OutputArea .widget-html .abnb-verdict');"
                " return v !== null && v.innerText !== old && v.innerText.replace(/,/g, '').includes('(n=2158)'); }",
                arg=[before_text],
                timeout=60_000,
            )
            after_text = verdict.inner_text()
            after_chart = page.locator(".jp-OutputArea .widget-html svg").first.inner_html()
            screenshot = ROOT / "reports" / "screenshots" / "teaching_02_lab.png"
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            for _ in range(3):  # a re-render between resolving and scrolling detaches the element: resolve again
                try:
                    verdict.scroll_into_view_if_needed(timeout=5_000)
                    break
                except PlaywrightError:
                    page.wait_for_timeout(200)
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert after_text != before_text
    assert after_chart != before_chart
    assert "(n=2158)" in after_text.replace(",", "")
