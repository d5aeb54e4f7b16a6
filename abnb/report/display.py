"""What the report notebooks show: the headline, prose computed from the analysis and escaped tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from abnb._display import MarkdownFormatter, escape_html, styled

if TYPE_CHECKING:
    import pandas as pd

    from abnb._verdicts import ExperimentVerdict
    from abnb.experiment import DistributionComparison, ExperimentResult

_VERDICT_COLOURS: dict[ExperimentVerdict, str] = {
    "ship": "#1b7837",
    "harm": "#b2182b",
    "invalid": "#b00020",
    "continue": "#555555",
}
_DISTRIBUTION_FORMATS = {
    "control": "{:.4g}",
    "treatment": "{:.4g}",
    "estimate": "{:.4g}",
    "ci_low": "{:.4g}",
    "ci_high": "{:.4g}",
    "pvalue": "{:.3g}",
}


def headline(result: ExperimentResult, *, engine: str = "") -> Any:
    """The report's top: the experiment's name and description, the decision, and a red SRM warning.

    Args:
        result: The analysis.
        engine: Where the data were read (a DuckDB file, ``Spark local[2]``), shown under the title.
    """
    from IPython.display import HTML

    decision = result.decision
    spec = result.experiment
    window = f"{spec.start:%Y-%m-%d}" if spec.start else "first exposure"
    planned = f", planned end {spec.end:%Y-%m-%d}" if spec.end else ""
    source = f"; data from {escape_html(engine)}" if engine else ""
    parts = [
        f"<h1>{escape_html(spec.name)}</h1>",
        f"<p>{escape_html(spec.description)}</p>" if spec.description else "",
        f"<p>Arms {escape_html(', '.join(spec.arms))} (control {escape_html(spec.control)}); from {window}"
        f"{planned}; data through {result.label}{source}.</p>",
        _srm_banner(result),
        f'<div style="border-left:6px solid {_VERDICT_COLOURS[decision.verdict]};padding:8px 12px;margin:8px 0">'
        f"<b>Decision: {escape_html(decision.verdict)}</b> — {escape_html(decision.reason)}<br>"
        f"Data through {result.label}; {sum(result.units.values()):,} units; α = {spec.alpha}.</div>",
    ]
    if result.warnings:
        items = "".join(f"<li>{escape_html(w)}</li>" for w in result.warnings)
        parts.append(f"<div><b>Data notes</b><ul>{items}</ul></div>")
    return HTML("".join(parts))


def _srm_banner(result: ExperimentResult) -> str:
    """The red sample-ratio-mismatch warning of the report (empty when the allocation is as planned)."""
    if not result.srm_detected:
        return ""
    counts = ", ".join(f"{arm}: {n:,}" for arm, n in result.units.items())
    return (
        '<div style="background:#b00020;color:#fff;padding:12px;font-size:1.1em">'
        f"<b>Sample ratio mismatch</b> (χ² p = {result.srm.pvalue:.2g}; units {escape_html(counts)}). "
        "The assignment or the logging is broken: no winner is called until the cause is found.</div>"
    )


def note(text: str, /, **values: Any) -> Any:
    """A line of prose computed by the analysis, shown as Markdown in the report.

    Args:
        text: A Markdown template written in the notebook. Never put data into it with an f-string: name them as
            ``{fields}`` (format specs and attribute lookups work as in ``str.format``) and pass them as ``values``.
        values: The template's fields. Each is formatted, then escaped (:func:`abnb._display.escape_markdown`), so
            text from telemetry, a spec or a parameter shows as text and never becomes Markdown or HTML.
    """
    from IPython.display import Markdown

    return Markdown(MarkdownFormatter().format(text, **values) if values else text)


def styled_table(frame: pd.DataFrame, formats: dict[Any, Any] | None = None, *, na_rep: str | None = None) -> Any:
    """A display table (pandas ``Styler``, no row labels) of ``frame`` with every cell and label HTML-escaped.

    The report notebooks show every data frame through this (a bare ``frame.style`` does not escape).

    Args:
        frame: The table.
        formats: Format strings or callables per column, as for ``Styler.format``.
        na_rep: Shown for missing values.
    """
    return styled(frame, formats, na_rep=na_rep)


def distributions_table(comparisons: list[DistributionComparison]) -> Any:
    """The rank and quantile comparisons as one display table, with where the values came from."""
    from IPython.display import HTML

    if not comparisons:
        return note("No metric asks for quantiles (`quantiles = [0.5, 0.9]` in its spec).")
    import pandas as pd

    frame = pd.concat([c.to_frame() for c in comparisons], ignore_index=True)
    table = styled(frame, _DISTRIBUTION_FORMATS, na_rep="–")
    notes = "".join(f"<li>{escape_html(c.note)}</li>" for c in comparisons)
    return HTML(f"{table.to_html()}<ul>{notes}</ul>")
