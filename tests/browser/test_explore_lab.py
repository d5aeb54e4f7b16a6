"""The experiment explorer in real JupyterLab, driven by headless Chromium (JupyterLab: tests/browser/conftest.py).

A notebook built here opens the explorer over the suite's sample; the test picks another metric, then a segment, in
the page's own drop-downs and checks that the numbers shown are the ones the explorer computes without a browser
(tests/widgets/test_explore.py checks those against the analysis) and that the charts change. The screenshot goes to
``reports/screenshots/explore_lab.png``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import nbformat
import pytest

from abnb.widgets.explorer import Explorer, effect_html
from tests.browser.conftest import jupyter_lab, run_notebook, wait_idle
from tests.conftest import CHROMIUM_FLAGS
from tests.widgets.test_explore import _state

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "abnb" / "datasets" / "experiments" / "checkout_redesign.toml"
NAME = "explore.ipynb"
TABLE = ".jp-OutputArea .widget-html table.abnb-explore"


@pytest.fixture(scope="module")
def lab(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab serving a notebook whose last cell is the explorer over the sample database."""
    root = tmp_path_factory.mktemp("explore-lab")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            f"import abnb\nspec = abnb.load({str(SPEC)!r})\napp = abnb.widgets.explore(spec, {str(sample_db)!r})\napp"
        )
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / NAME)
    with jupyter_lab(root) as url:
        yield url


def _row(text: str, name: str) -> str:
    """The value of row ``name`` in the explorer's two-column table as the page shows it (cells split by a tab)."""
    match = re.search(rf"^{re.escape(name)}\t(.*)$", text, flags=re.MULTILINE)
    assert match is not None, f"no row {name!r} in {text!r}"
    return match.group(1).strip()


def _expected(explorer: Explorer, **values: object) -> str:
    """The explorer's table for these control values, computed in this process (no browser, no kernel)."""
    state = dataclasses.asdict(_state(explorer, **values))
    return effect_html(explorer.compute(**state))


def _select(page: object, label: str, option: str) -> float:
    """Pick ``option`` in the drop-down labelled ``label``; returns the seconds until the table shows it."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    before = page.locator(TABLE).first.inner_text()
    dropdown = page.locator(".widget-dropdown", has=page.locator(".widget-label", has_text=re.compile(f"^{label}$")))
    start = time.perf_counter()
    dropdown.locator("select").select_option(label=option)
    page.wait_for_function(
        "([selector, old]) => { const t = document.querySelector(selector);"
        " return t !== null && t.innerText !== old; }",
        arg=[TABLE, before],
        timeout=60_000,
    )
    return time.perf_counter() - start


def test_explorer_answers_in_the_browser(lab: str, chromium: str, sample_db: Path) -> None:
    from playwright.sync_api import sync_playwright

    import abnb

    explorer = Explorer(abnb.load(SPEC), sample_db)
    expected = {
        "first": _expected(explorer),
        "revenue": _expected(explorer, metric="revenue"),
        "segment": _expected(explorer, metric="revenue", segment=explorer.choices.segments[1]),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            run_notebook(page, lab, NAME)
            page.locator(TABLE).first.wait_for(timeout=120_000)
            wait_idle(page)
            shown = {"first": page.locator(TABLE).first.inner_text()}
            charts_before = page.locator(".jp-OutputArea .widget-html svg").count()
            timeline_before = page.locator(".jp-OutputArea .widget-html svg").first.inner_html()

            seconds = {"metric": _select(page, "metric", "revenue")}
            wait_idle(page)
            shown["revenue"] = page.locator(TABLE).first.inner_text()
            timeline_after = page.locator(".jp-OutputArea .widget-html svg").first.inner_html()

            seconds["segment"] = _select(page, "segment", explorer.choices.segments[1])
            wait_idle(page)
            shown["segment"] = page.locator(TABLE).first.inner_text()
            screenshot = ROOT / "reports" / "screenshots" / "explore_lab.png"
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".jp-OutputArea .widget-html").first.scroll_into_view_if_needed(timeout=10_000)
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    print(f"explorer in JupyterLab: seconds from a pick to the new table {seconds}")
    assert charts_before >= 2  # the effect over time, the segments and the mean per arm (inline SVG)
    assert timeline_after != timeline_before
    for key, html in expected.items():
        for row in ("comparison", "segment", "units", "difference", "p-value", "relative lift"):
            value = re.search(rf"<th[^>]*>{re.escape(row)}</th><td>(.*?)</td>", html)
            assert value is not None, html
            assert _row(shown[key], row) == unescape(value.group(1)), (key, row)
