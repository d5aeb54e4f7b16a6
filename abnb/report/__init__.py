"""Rendering reports: papermill execution, offline HTML, summary.json, atomic publication.

``render("checkout_redesign")`` validates the spec against the data (:mod:`abnb.validate`, no kernel), then executes
the experiment report notebook (the project's own ``notebooks/experiment_report.ipynb`` if it has one, else abnb's,
``abnb/notebooks/``) with validated parameters into a private staging folder, exports HTML without code through
the ``abnb_offline`` nbconvert template (no script, stylesheet or font is loaded from the network; charts are
inline SVG), checks that, and only then moves the ``.ipynb``, ``.html`` and ``summary.json`` into
``reports/<experiment>/`` with atomic renames. A run that fails at any step raises :class:`~abnb.errors.ReportError`
naming the failing cell and leaves the previous report as it was.

The package, one module a concept:

* :mod:`~abnb.report.display`: what the report notebooks show (:func:`headline`, :func:`note`, tables).
* :mod:`~abnb.report.results`: the results table (one row per metric × arm, CI bars on one scale).
* :mod:`~abnb.report.parameters`: the experiment report notebook's parameters (:func:`validate_parameters`).
* :mod:`~abnb.report.kinds`: the three kinds of report (experiment, monitoring, canary) and their renderers.
* :mod:`~abnb.report.publish`: one run's publication: lock, staging, manifest, recovery (docs/reliability.md,
  "How a report is published").
* :mod:`~abnb.report.index`: ``index.html``, the dashboard of every run.
* :mod:`~abnb.report.export`: offline HTML of any notebook (the teaching notebooks) and the network-load check.
"""

from __future__ import annotations

from abnb.report.display import (
    bullets,
    detail_table,
    distributions_table,
    headline,
    note,
    segments_section,
    styled_table,
    timeline_section,
)
from abnb.report.export import export_notebook, export_teaching, external_resources
from abnb.report.index import write_index
from abnb.report.kinds import render, render_canary, render_monitoring
from abnb.report.parameters import ReportParameters, validate_parameters
from abnb.report.publish import RenderedReport, write_summary
from abnb.report.results import results_html, results_table

__all__ = [
    "RenderedReport",
    "ReportParameters",
    "bullets",
    "detail_table",
    "distributions_table",
    "export_notebook",
    "export_teaching",
    "external_resources",
    "headline",
    "note",
    "render",
    "render_canary",
    "render_monitoring",
    "results_html",
    "results_table",
    "segments_section",
    "styled_table",
    "timeline_section",
    "validate_parameters",
    "write_index",
    "write_summary",
]
