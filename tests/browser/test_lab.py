"""A teaching notebook in real JupyterLab, driven by headless Chromium through Playwright.

JupyterLab runs on localhost from a fixture; Playwright drives Debian's ``chromium`` (``executable_path``: browser
downloads are impossible here). The test runs all cells, moves a slider and checks that the chart and the verdict
change, keeping a screenshot under ``reports/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM_FLAGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "teaching" / "02_comparing_distributions.ipynb"
TOKEN = "abnb-browser-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on a free localhost port, serving a copy of the teaching notebook; yields its base URL."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port = _free_port()
    log = (root / "lab.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.terminate()
                pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.3)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_slider_changes_chart_and_verdict(lab: str, chromium: str) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{lab}/lab/tree/{NOTEBOOK.name}?token={TOKEN}", wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
            page.wait_for_function(
                "document.querySelector('.jp-Notebook') && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session !== null",
                timeout=60_000,
            )
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            verdict = page.locator(".jp-OutputArea .widget-html .abnb-verdict").first
            verdict.wait_for(timeout=120_000)
            chart = page.locator(".jp-OutputArea .widget-html svg").first
            chart.wait_for(timeout=60_000)
            page.wait_for_function(  # every code cell executed and the kernel idle: no preset is still applying
                "() => { const nb = window.jupyterapp.shell.currentWidget;"
                " const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];"
                " return nb.sessionContext.session.kernel.status === 'idle'"
                " && prompts.every(p => /\\[\\d+\\]/.test(p.innerText)); }",
                timeout=120_000,
            )
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
