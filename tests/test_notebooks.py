"""Committed notebooks: no outputs, paired with their py:percent file, a tagged and validated parameters cell."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the checkout's notebooks, the report templates (package data) and the notebook `abnb init` gives a project
NOTEBOOKS = sorted(
    path
    for folder in (ROOT / "notebooks", ROOT / "abnb" / "notebooks", ROOT / "abnb" / "templates" / "project")
    for path in folder.rglob("*.ipynb")
    if ".ipynb_checkpoints" not in path.parts
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: strip outputs before committing"
            assert cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_paired_py_percent_matches(path: Path) -> None:
    paired = path.with_suffix(".py")
    assert paired.exists(), f"{path.name} has no py:percent twin (jupytext --set-formats ipynb,py:percent)"
    ours = [(c.cell_type, c.source) for c in nbformat.read(path, as_version=4).cells]
    theirs = [(c.cell_type, c.source) for c in jupytext.read(paired).cells]
    assert ours == theirs, f"{path.name} and {paired.name} differ: run `jupytext --sync {paired}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_is_tagged_and_validated_next(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        pytest.skip(f"{path.name} takes no parameters")
    (index,) = tagged
    assert all(":" in line.split("=")[0] for line in cells[index].source.splitlines() if "=" in line), "typed"
    assert "validate" in cells[index + 1].source


EXECUTED = [p for p in NOTEBOOKS if p.name != "experiment_report.ipynb"]  # the report runs in test_report.py


@pytest.mark.slow
@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_notebook_executes(path: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("ABNB_DATABASE", str(sample_db))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
