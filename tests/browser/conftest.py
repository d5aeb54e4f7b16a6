"""JupyterLab on a free localhost port for the browser tests, and the steps every notebook test takes in it.

JupyterLab serves a temporary folder; Playwright drives Debian's ``chromium`` (``executable_path``: browser downloads
are impossible here).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

TOKEN = "abnb-browser-test"


@contextlib.contextmanager
def jupyter_lab(root: Path) -> Iterator[str]:
    """Run JupyterLab over ``root`` on loopback until the block ends; yields its base URL (token: :data:`TOKEN`)."""
    port = free_port()
    log_path = root / "lab.log"
    settings = root.parent / f"{root.name}-settings"  # user settings: no news toast over the screenshots
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}'
    )
    with log_path.open("w") as log:
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
            env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        pytest.fail(f"JupyterLab did not start: {log_path.read_text()[-2000:]}")
                    time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def run_notebook(page: Page, lab: str, name: str) -> None:
    """Open notebook ``name`` in JupyterLab at ``lab`` once its kernel is up, and run all its cells."""
    page.goto(f"{lab}/lab/tree/{name}?token={TOKEN}", wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('.jp-Notebook') && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session !== null",
        timeout=60_000,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_idle(page: Page, timeout: float = 120_000) -> None:
    """Wait until every code cell has run and the kernel is idle (no update is still being applied)."""
    # the notebook's model, not the DOM: JupyterLab renders only the cells near the viewport of a long notebook
    page.wait_for_function(
        "() => { const nb = window.jupyterapp.shell.currentWidget; const cells = nb.content.model.cells;"
        " let ran = true; for (let i = 0; i < cells.length; i++) {"
        " const cell = cells.get(i); if (cell.type === 'code' && !cell.executionCount) { ran = false; } }"
        " return nb.sessionContext.session.kernel.status === 'idle' && ran; }",
        timeout=timeout,
    )
