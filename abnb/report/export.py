"""Offline HTML: the check that a page loads nothing from the network, and static copies of any notebook.

Every page abnb writes goes through the ``abnb_offline`` nbconvert template (``abnb/templates``): no script,
stylesheet or font from the network, charts as inline SVG. :func:`export_notebook` executes a notebook (the teaching
notebooks, :func:`export_teaching`) and keeps its widgets as their last state.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from abnb import _io
from abnb.errors import ReportError

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//[^"')\s]+"""
    r"""|url\(\s*["']?(?:https?:)?//[^"')\s]+""",
    re.IGNORECASE,
)


def external_resources(page: str) -> list[str]:
    """Every reference in an HTML page that a browser would fetch from the network.

    Scripts, images, frames and media with an absolute ``src``, stylesheets and icons with an absolute ``href``,
    CSS ``@import`` and ``url(...)``. Plain links (``<a href>``) and XML namespaces are not loads and are ignored.
    """
    return [m.group(0) for m in _EXTERNAL.finditer(page)]


def export_notebook(
    notebook: str | Path, html_path: str | Path, *, kernel_name: str = "python3", timeout: int = 600
) -> Path:
    """Execute a notebook and write a static, offline HTML copy of it (code, outputs, widgets as their last state).

    Live widgets need a kernel, so each output that carries a widget view keeps only its static snapshot (the
    ``text/html`` that :class:`abnb.widgets.App` keeps current); the page loads nothing from the network.

    Raises:
        ReportError: A cell failed (named), or the page would load something from the network. An existing HTML
            file is replaced only after a successful export.
    """
    import nbformat

    source = Path(notebook)
    return _export(nbformat.read(source, as_version=4), source, Path(html_path), kernel_name, timeout)


def _export(executed: Any, source: Path, target: Path, kernel_name: str, timeout: int) -> Path:
    """Execute ``executed`` (in ``source``'s folder; cells tagged ``skip-execution`` are not run) and write it."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    try:
        NotebookClient(
            executed,
            timeout=timeout,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(source.parent)}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        ).execute()
    except CellExecutionError as error:
        raise ReportError(f"{source.name}: a cell failed: {str(error).strip().splitlines()[-1]}") from error
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    executed.metadata.pop("widgets", None)
    exporter = HTMLExporter(template_name="abnb_offline", extra_template_basedirs=[str(TEMPLATE_DIR)])
    page, _ = exporter.from_notebook_node(executed)
    loads = external_resources(page)
    if loads:
        raise ReportError(f"{source.name}: the HTML would load {len(loads)} resource(s) from the network: {loads[:3]}.")
    _io.write_atomic(target, page)
    return target


def export_teaching(output_dir: str | Path, *, notebooks: str | Path) -> list[Path]:
    """Export each teaching notebook (``<notebooks>/*.ipynb``) to ``<output_dir>/<name>.html``, and its student version.

    The student page (``<output_dir>/student/<name>.html``, for those without Jupyter) is the student notebook of
    :func:`abnb.teach.build.student_notebook` (solutions and hidden tests removed): its lessons run, its exercise
    cells (solution stubs, self-checks, tests) are shown without running, as questions to answer.

    Raises:
        ReportError: The folder holds no notebook, or a notebook failed (named).
    """
    import nbformat

    from abnb.teach.build import SELF_CHECK_TAG, SOLUTION_TAG, TESTS_TAG, student_notebook

    folder, source = Path(output_dir), Path(notebooks)
    found = sorted(source.glob("*.ipynb"))
    if not found:
        raise ReportError(
            f"no teaching notebook in {source}; they are in the abnb repository's notebooks/teaching "
            "(give that folder with --notebooks)."
        )
    pages = []
    for path in found:
        pages.append(export_notebook(path, folder / f"{path.stem}.html"))
        student = student_notebook(nbformat.read(path, as_version=4), name=path.stem)
        for cell in student.cells:
            if {SOLUTION_TAG, SELF_CHECK_TAG, TESTS_TAG} & set(cell.metadata.get("tags", [])):
                cell.metadata["tags"] = [*cell.metadata["tags"], "skip-execution"]
        pages.append(_export(student, path, folder / "student" / f"{path.stem}.html", "python3", 600))
    return pages
