"""A fake papermill for the publication tests: the path from staging to the published files without a kernel.

The fakes write what a real run writes (a notebook, ``summary.json``, an HTML page), each tagged with the name of
the run, so a test can tell which run every published file comes from; every failure point is reached in
milliseconds. Used by ``test_faults.py`` and ``test_hostile_folders.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import abnb.report.publish as publication
from abnb.project import packaged_notebook
from abnb.report import RenderedReport, write_index

STEM = "2026-10-14"


def fake_papermill(monkeypatch: pytest.MonkeyPatch, run: str, *, fail: bool = False, notebook: bool = True) -> None:
    """Replace papermill and the HTML export by fakes that write what a real run writes, tagged with ``run``.

    ``fail``: the execution raises after writing the notebook (a failing cell); ``notebook=False``: it writes an
    empty notebook file first (what a full disk leaves).
    """
    import papermill

    def execute_notebook(_input: str, output: str, *, parameters: dict[str, str], **_: Any) -> None:
        body = {"cells": [], "metadata": {"run": run}, "nbformat": 4, "nbformat_minor": 5}
        Path(output).write_text(json.dumps(body) if notebook else "")
        if fail:
            raise RuntimeError(f"cell failed in run {run}")
        summary = {
            "experiment": "fake",
            "as_of": Path(output).stem,
            "decision": {"verdict": "ship", "stop": True},
            "run": run,
        }
        Path(parameters["summary_path"]).write_text(json.dumps(summary))

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(publication, "_export_html", lambda _path: f"<html><body>{run}</body></html>\n")


def fake_publish(root: Path, stem: str = STEM) -> RenderedReport:
    """Publish one fake run of report ``fake`` for ``stem`` under ``root`` and rebuild the index."""
    published = publication.publish(
        packaged_notebook("experiment_report"),
        root / "fake",
        stem,
        {},
        kernel_name="python3",
        timeout=10,
    )
    write_index(root)
    return published


def published_runs(root: Path) -> dict[str, str]:
    """Which run each published file of the fake report comes from."""
    folder = root / "fake"
    return {
        "ipynb": json.loads((folder / f"{STEM}.ipynb").read_text())["metadata"]["run"],
        "html": (folder / f"{STEM}.html").read_text().split("<body>")[1].split("<")[0],
        "stem.summary": json.loads((folder / f"{STEM}.summary.json").read_text())["run"],
        "summary": json.loads((folder / "summary.json").read_text())["run"],
    }
