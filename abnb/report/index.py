"""``index.html``: the dashboard of every published run, rebuilt after each publication."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

from abnb import _io
from abnb._display import escape_html
from abnb.errors import AbnbError
from abnb.project import check_schema_version
from abnb.report import _locks

_LATEST = (
    ("name", "report"),
    ("as_of", "data through"),
    ("stop", "status"),
    ("verdict", "decision"),
    ("days", "days running"),
    ("progress", "progress to plan"),
    ("trend", "primary metric over time"),
)
_COLUMNS = (*_LATEST, ("reason", "reason"), ("rendered", "rendered"))
_HISTORY = tuple(column for column in _COLUMNS if column[0] not in ("stop", "days", "progress", "trend"))
_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;"
    "border-bottom:1px solid #ddd;text-align:left}.ship{color:#1b7837}.harm,.invalid,.unreadable{color:#b00020}"
    ".bar{display:inline-block;width:80px;height:8px;background:#e3e3e3;margin-right:6px;vertical-align:middle}"
    ".bar span{display:block;height:8px;background:#2b6cb0}"
)


def write_index(output_dir: str | Path = "reports") -> Path:
    """Write ``index.html``, the dashboard of every rendered run, atomically.

    One table of the latest run per report (status: stop or keep running, decision and reason) and, below it, the
    history of every run, newest first. Runs for other reports may finish at the same time, so the scan and the
    write hold ``<output_dir>/.index.lock``: no run's row is lost to a concurrent rewrite.

    Raises:
        ReportError: The index could not be written (disk full, ...); the previous index is left in place.
    """
    root = Path(output_dir)
    try:
        with _locks.index_lock(root):
            for tmp in root.glob(".index.html.*.tmp"):  # left by a run killed while writing the index
                tmp.unlink(missing_ok=True)
            runs = sorted(
                (_run(path) for path in sorted(root.glob("*/*.summary.json"))),
                key=lambda r: (r["name"], r["as_of"]),
                reverse=True,
            )
            index = root / "index.html"
            _io.write_atomic(index, _page(runs))
            return index
    except OSError as error:
        raise _io.write_error(error, root / "index.html") from error


def _run(path: Path) -> dict[str, str]:
    """One row of the index: the run whose summary is ``path`` (an unreadable summary is listed as such)."""
    summary = _read_summary(path)
    decision = summary.get("decision", {})
    return {
        "name": str(summary.get("experiment", path.parent.name)),
        "as_of": str(summary.get("as_of", "")),
        "verdict": str(decision.get("verdict", "")),
        "stop": {True: "stop", False: "keep running"}.get(decision.get("stop"), "–"),
        "reason": str(decision.get("reason", "")),
        "link": f"{path.parent.name}/{path.name.removesuffix('.summary.json')}.html",
        "rendered": str(summary.get("report", {}).get("rendered_at", "")),
        "days": _text(summary.get("days_running")),
        "progress": _text(_fraction(summary.get("progress"))),
        "trend": _sparkline(summary.get("timeline")),
    }


def _sparkline(timeline: object) -> str:
    """The cumulative relative effect of a summary's ``timeline`` as a small inline SVG (``–`` without one).

    Only numbers read from the summary reach the drawing; the metric's name goes through the escaping of the
    ``aria-label``. The grey band is the confidence interval, the line the estimate, the dashed line zero.
    """
    if not isinstance(timeline, dict) or not isinstance(timeline.get("points"), list):
        return "–"
    rows = [p for p in timeline["points"] if isinstance(p, list) and len(p) == 4]
    values = [[v if _number(v) else None for v in row[1:]] for row in rows]
    finite = [v for row in values for v in row if v is not None]
    if len(values) < 2 or not finite:
        return "–"
    low, high = min(0.0, *finite), max(0.0, *finite)
    span = high - low or 1.0
    width, height = 120, 28

    def xy(i: int, value: float) -> str:
        return f"{i * width / (len(values) - 1):.1f},{height - 2 - (value - low) / span * (height - 4):.1f}"

    line = " ".join(xy(i, row[0]) for i, row in enumerate(values) if row[0] is not None)
    band = [xy(i, row[2]) for i, row in enumerate(values) if row[2] is not None]
    band += [xy(i, row[1]) for i, row in reversed(list(enumerate(values))) if row[1] is not None]
    zero = xy(0, 0.0).split(",")[1]
    last = next((row[0] for row in reversed(values) if row[0] is not None), None)
    label = f"{timeline.get('metric', '')}: relative effect over {len(values)} days, last {_percent(last)}"
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{escape_html(label)}">'
        f"<title>{escape_html(label)}</title>"
        f'<polygon points="{" ".join(band)}" fill="#cfd8e3"/>'
        f'<line x1="0" y1="{zero}" x2="{width}" y2="{zero}" stroke="#666" stroke-dasharray="2,2"/>'
        f'<polyline points="{line}" fill="none" stroke="#2b6cb0" stroke-width="1.5"/></svg>'
    )


def _number(value: object) -> bool:
    """Whether ``value`` is a finite number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def _text(value: object) -> str:
    """A summary value as a cell's text (``–`` when the summary has none)."""
    return "–" if value is None else str(value)


def _fraction(progress: object) -> float | None:
    """The progress to the planned sample size of a summary (``None`` without a plan or a number)."""
    if not isinstance(progress, dict):
        return None
    fraction = progress.get("fraction")
    return float(fraction) if isinstance(fraction, int | float) and not isinstance(fraction, bool) else None


def _read_summary(path: Path) -> dict[str, Any]:
    """A run's summary, or one whose decision says ``unreadable`` and why (not JSON, not an object, newer schema)."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = f"{path.name} cannot be read ({error}); render this report again."
        return _unreadable(reason, path.name.removesuffix(".summary.json"))
    if not isinstance(summary, dict):
        return _unreadable(f"{path.name} is not a JSON object.")
    try:
        check_schema_version(summary.get("schema_version"), str(path))
    except AbnbError as error:
        return _unreadable(str(error), summary.get("as_of", ""))
    return summary


def _unreadable(reason: str, as_of: object = "") -> dict[str, Any]:
    """The summary the index shows for a run whose own summary cannot be used."""
    return {"as_of": as_of, "decision": {"verdict": "unreadable", "reason": reason}}


def _page(runs: list[dict[str, str]]) -> str:
    """The index page: the latest run of each report, then every run (``runs`` is newest first)."""
    latest: dict[str, dict[str, str]] = {}
    for run in runs:
        latest.setdefault(run["name"], run)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>abnb reports</title><style>'
        f"{_STYLE}</style></head><body><h1>abnb reports</h1><h2>Latest</h2>{_table(list(latest.values()), _COLUMNS)}"
        f"<h2>Every run</h2>{_table(runs, _HISTORY)}</body></html>\n"
    )


def _table(runs: list[dict[str, str]], columns: tuple[tuple[str, str], ...]) -> str:
    """An HTML table of ``runs`` with ``columns`` (key, heading); every cell escaped, the date a relative link."""
    head = "".join(f"<th>{heading}</th>" for _, heading in columns)
    return f"<table><tr>{head}</tr>{''.join(_row(run, [key for key, _ in columns]) for run in runs)}</table>"


def _row(run: dict[str, str], keys: list[str]) -> str:
    """One run's table row."""
    cells = []
    for key in keys:
        text = escape_html(run[key])
        if key == "trend":
            text = run[key]  # drawn from numbers only; its label is escaped
        if key == "progress" and run[key] != "–":
            share = float(run[key])  # a number read from the summary, never text from it
            text = f'<span class="bar"><span style="width:{min(max(share, 0.0), 1.0):.0%}"></span></span>{share:.0%}'
        if key == "as_of":
            # percent-encoded, so a planted folder name such as ``javascript:…`` stays a relative link
            text = f'<a href="{escape_html(quote(run["link"]))}">{text}</a>'
        colour = f' class="{escape_html(run["verdict"])}"' if key == "verdict" else ""
        cells.append(f"<td{colour}>{text}</td>")
    return "<tr>" + "".join(cells) + "</tr>"
