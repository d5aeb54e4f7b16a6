"""An exercise answered in real JupyterLab: the quiz widget of ``abnb.teach.answer_box`` in headless Chromium.

A student picks a wrong option and checks (the explanation of that misconception appears), then the right one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from abnb.teach import EXERCISES
from tests.browser.conftest import jupyter_lab, run_notebook, wait_idle
from tests.conftest import CHROMIUM_FLAGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
ROOT = Path(__file__).resolve().parents[2]
KEY = "04.which_test"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab over a folder holding one notebook with the exercise's answer box."""
    root = tmp_path_factory.mktemp("teach-lab")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"### Exercise {KEY}"),
        nbformat.v4.new_code_cell(f'import abnb.teach\n\nabnb.teach.answer_box("{KEY}")'),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "exercise.ipynb")
    with jupyter_lab(root) as url:
        yield url


def test_a_student_answers_a_quiz_in_jupyterlab(lab: str, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    choices = EXERCISES[KEY].choices
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            run_notebook(page, lab, "exercise.ipynb")
            options = page.locator(".jp-OutputArea .widget-radio-box label")
            options.first.wait_for(timeout=120_000)
            wait_idle(page)
            texts = [options.nth(i).inner_text() for i in range(options.count())]
            check = page.locator(".jp-OutputArea button", has_text="Check")
            feedback = page.locator(".jp-OutputArea .widget-html p")

            options.nth(0).click()  # a) Welch's two-sample t-test
            check.click()
            feedback.first.wait_for(timeout=30_000)
            wrong = feedback.first.inner_text()
            options.nth(2).click()  # c) the paired t-test
            check.click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-OutputArea .widget-html p')]"
                ".some(p => p.innerText.startsWith('Right'))",
                timeout=30_000,
            )
            right = feedback.first.inner_text()
            screenshot = ROOT / "reports" / "screenshots" / "teach_quiz_lab.png"
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert texts == [f"{letter}) {choice.text}" for letter, choice in choices.items()]
    assert wrong == f"Not yet: {choices['a'].why}"
    assert right == f"Right: {choices['c'].why}"
