"""What the report notebooks show: the headline, prose computed from the analysis and escaped tables."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from abnb._display import MarkdownFormatter, escape_html, styled

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

    from abnb._verdicts import ExperimentVerdict
    from abnb.experiment import DistributionComparison, Experiment, ExperimentResult
    from abnb.timeline import Timeline

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


_CARD_STYLE = """<style>
.abnb-page .abnb-facts{display:grid;grid-template-columns:max-content minmax(0,1fr) max-content minmax(0,1fr);
gap:3px 12px;font-size:13px;margin:8px 0;max-width:980px}
.abnb-page .abnb-facts dt{font-weight:600;color:#333;white-space:nowrap}
.abnb-page .abnb-facts dd{margin:0;overflow-wrap:anywhere}
.abnb-page .abnb-badge{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-weight:600}
.abnb-page .abnb-progress{display:inline-block;width:90px;height:9px;background:#e3e3e3;vertical-align:middle;
margin-right:6px}
.abnb-page .abnb-progress span{display:block;height:9px;background:#2b6cb0}
.abnb-page .abnb-decision{padding:8px 12px;margin:8px 0;max-width:980px}
.abnb-page .abnb-decision ul{margin:4px 0 0 18px;padding:0}
@media print{.abnb-page .abnb-facts{font-size:10.5px}}
</style>"""


def headline(result: ExperimentResult, *, engine: str = "") -> Any:
    """The report's top: who and what the experiment is, its health, and the decision with every blocking reason.

    Identity (name, description, hypothesis, owner, links), then the facts a reader checks before any effect: arms
    and planned weights, units per arm and units excluded, start and days running, data through (and the last day
    present in the data), progress to the planned sample size, the SRM p-value (green or red, always shown), the
    level and correction, the engine and database. A red banner stops the reader when the allocation is broken.

    Args:
        result: The analysis.
        engine: Where the data were read (a DuckDB file, ``Spark local[2]``).
    """
    from IPython.display import HTML

    decision = result.decision
    spec = result.experiment
    colour = _VERDICT_COLOURS[decision.verdict]
    reasons = "".join(f"<li>{escape_html(r)}</li>" for r in decision.reasons if len(decision.reasons) > 1)
    parts = [
        _CARD_STYLE,
        '<div class="abnb-page">',
        f"<h1>{escape_html(spec.name)}</h1>",
        f"<p>{escape_html(spec.description)}</p>" if spec.description else "",
        f"<p><b>Hypothesis:</b> {escape_html(spec.hypothesis)}</p>" if spec.hypothesis else "",
        _people_and_links(spec),
        _srm_banner(result),
        f'<div class="abnb-decision" style="border-left:6px solid {colour}">'
        f"<b>Decision: {escape_html(decision.verdict)}</b> — {escape_html(decision.reason)}"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + "</div>",
        _facts(result, engine),
    ]
    if result.warnings:
        items = "".join(f"<li>{escape_html(w)}</li>" for w in result.warnings)
        parts.append(f"<div><b>Data notes</b><ul>{items}</ul></div>")
    parts.append("</div>")
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


def _people_and_links(spec: Experiment) -> str:
    """Owner and links of the spec as one line (empty when the spec names neither)."""
    items = [f"Owner: {escape_html(spec.owner)}"] if spec.owner else []
    items += [f'<a href="{escape_html(url)}">{escape_html(label)}</a>' for label, url in spec.links]
    return f"<p>{' · '.join(items)}</p>" if items else ""


def _facts(result: ExperimentResult, engine: str) -> str:
    """The health facts as a definition list laid out in two columns of pairs."""
    spec = result.experiment
    weights = spec.weights or (1.0,) * len(spec.arms)
    total = sum(weights)
    arms = " · ".join(
        f"{escape_html(a)} {w / total:.0%}" + (" (control)" if a == spec.control else "")
        for a, w in zip(spec.arms, weights, strict=True)
    )
    units = " · ".join(f"{escape_html(a)} {n:,}" for a, n in result.units.items())
    excluded = (
        f"{result.excluded_units:,} (exposed to more than one arm, or only with a NULL arm)"
        if result.excluded_units
        else "none"
    )
    srm_colour = "#b00020" if result.srm_detected else "#1b7837"
    facts = [
        ("Arms (planned)", arms),
        ("Units", units),
        ("Running", _running(result)),
        ("Excluded units", excluded),
        ("Data through", _data_through(result)),
        (
            "Sample ratio",
            f'<span class="abnb-badge" style="background:{srm_colour}">'
            f"{'mismatch' if result.srm_detected else 'as planned'}</span> χ² p = {result.srm.pvalue:.3g} "
            f"(alarm below {spec.srm_threshold:g})",
        ),
        ("Progress", _progress(result)),
        ("Level", f"α = {spec.alpha:g}; {escape_html(spec.correction)} over goal metrics"),
        ("Segments", escape_html(", ".join(spec.segments)) or "none"),
        ("Data", escape_html(engine) or "–"),
    ]
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return f'<dl class="abnb-facts">{body}</dl>'


def _running(result: ExperimentResult) -> str:
    """Start, days running and the planned end, in words."""
    start, end = result.window
    if start is None:
        return "from the first exposure" + (f"; planned end {end:%Y-%m-%d}" if end else "")
    days = result.days_running
    text = f"since {start:%Y-%m-%d}" + (f", day {days}" if days is not None else "")
    if end is not None:
        planned = (end - start).days
        text += f" of {planned}" if days is not None and planned > 0 else ""
        text += f"; planned end {end:%Y-%m-%d}"
    return text


def _data_through(result: ExperimentResult) -> str:
    """The analysis' last day, and the last day present in the data when it differs."""
    last = result.last_data_day
    if last is None:
        return f"{result.label} (no exposure before the cutoff)"
    if last == result.label:
        return f"{result.label} (new exposures up to that day)"
    return f"{result.label}; the last new exposure was on {last}"


def _progress(result: ExperimentResult) -> str:
    """Progress to the planned sample size, or why it is not shown."""
    progress = result.progress
    if progress is None:
        return "no plan in the spec (<code>[plan]</code>: <code>units_per_arm</code> or <code>mde</code>)"
    if not math.isfinite(progress.fraction):
        return f"not computable for {escape_html(progress.metric)}: {escape_html(progress.method)}"
    width = min(max(progress.fraction, 0.0), 1.0) * 100
    bar = (
        f'<span class="abnb-progress" role="img" aria-label="{progress.fraction:.0%} of the planned units">'
        f'<span style="width:{width:.0f}%"></span></span>'
    )
    text = (
        f"{progress.fraction:.0%} of {progress.planned_units_per_arm:,.0f} units per arm "
        f"({escape_html(progress.metric)})"
    )
    if progress.mde_planned is not None and math.isfinite(progress.mde_now):
        text += f"; MDE now {progress.mde_now:.2%}, planned {progress.mde_planned:.2%}"
    return bar + text


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


def bullets(lines: list[str]) -> Any:
    """A Markdown bullet list of computed sentences, each escaped as :func:`note` escapes its fields."""
    return note("\n".join(f"- {{lines[{i}]}}" for i in range(len(lines))), lines=lines)


def styled_table(frame: pd.DataFrame, formats: dict[Any, Any] | None = None, *, na_rep: str | None = None) -> Any:
    """A display table (pandas ``Styler``, no row labels) of ``frame`` with every cell and label HTML-escaped.

    The report notebooks show every data frame through this (a bare ``frame.style`` does not escape).

    Args:
        frame: The table.
        formats: Format strings or callables per column, as for ``Styler.format``.
        na_rep: Shown for missing values.
    """
    return styled(frame, formats, na_rep=na_rep)


_DETAIL_VIEWS = {
    "cuped": (
        "adjusted",
        "No metric has a pre-period covariate (`covariate_days`, or `covariate` for a column metric, in its spec), so "
        "there is nothing to adjust.",
    ),
    "stratified": (
        "stratified",
        "No post-stratification (`poststratify` in the spec names a segment column to weight the lift over).",
    ),
}


_HEADERS = {
    "n_control": "n control",
    "n_treatment": "n treatment",
    "rel_estimate": "lift",
    "rel_ci_low": "CI low",
    "rel_ci_high": "CI high",
    "cuped_rel_estimate": "CUPED lift",
    "cuped_rel_ci_low": "CUPED CI low",
    "cuped_rel_ci_high": "CUPED CI high",
    "cuped_pvalue": "CUPED p",
    "cuped_variance_reduction": "variance removed",
    "strat_rel_estimate": "stratified lift",
    "strat_rel_ci_low": "stratified CI low",
    "strat_rel_ci_high": "stratified CI high",
    "strat_pvalue": "stratified p",
    "chance_to_beat": "P(beats control)",
    "expected_loss": "expected loss",
    "seq_ci_low": "anytime-valid low",
    "seq_ci_high": "anytime-valid high",
    "may_stop": "may stop",
    "mde_relative": "MDE (relative)",
    "noninferiority_margin": "margin",
    "noninferiority_passed": "non-inferior",
    "pvalue": "p",
    "pvalue_adjusted": "p adjusted",
}


def detail_table(result: ExperimentResult, view: str) -> Any:
    """One detail view of the effects (:meth:`ExperimentResult.table`), or a note saying why it has no rows.

    Methods and per-row explanations (the ``*method`` and ``seq_reason`` columns) leave the cells and become
    numbered notes under the table, each text once, so the table stays narrow.

    Args:
        result: The analysis.
        view: A view of :meth:`ExperimentResult.table`: ``cuped``, ``stratified``, ``bayes``, ``sequential``,
            ``power``.
    """
    attribute, why = _DETAIL_VIEWS.get(view, ("", ""))
    if attribute and all(getattr(e, attribute) is None for e in result.effects):
        return note(why)
    table = result.table(view)
    columns = table.data.columns
    return _notes_below(table.relabel_index([_HEADERS.get(c, c) for c in columns], axis="columns"))


def _notes_below(table: Styler) -> Any:
    """``table`` with its text-heavy columns moved to numbered notes below it (``metric · arm: text``)."""
    from IPython.display import HTML

    frame: pd.DataFrame = table.data  # type: ignore[attr-defined]  # public attribute, missing in pandas-stubs
    wordy: list[Hashable] = [c for c in frame.columns if str(c).endswith("method") or c in ("seq_reason", "note")]
    texts: dict[str, list[str]] = {}
    for row in frame.to_dict("records"):
        where = " · ".join(str(row[c]) for c in ("metric", "arm", "statistic") if c in row)
        for column in wordy:
            text = row[column]
            if isinstance(text, str) and text:
                texts.setdefault(text, []).append(where)
    items = "".join(
        f"<li>{escape_html(', '.join(dict.fromkeys(rows)))}: {escape_html(text)}</li>" for text, rows in texts.items()
    )
    shown = table.hide(subset=wordy, axis="columns") if wordy else table
    return HTML(
        shown.to_html() + (f'<ol class="abnb-table-notes" style="font-size:11px">{items}</ol>' if items else "")
    )


SEGMENT_MIN_UNITS = 100
_SEGMENT_FORMATS = {
    "n_control": "{:,}",
    "n_treatment": "{:,}",
    "rel_estimate": "{:+.2%}",
    "rel_ci_low": "{:+.2%}",
    "rel_ci_high": "{:+.2%}",
    "pvalue": "{:.2g}",
    "pvalue_adjusted": "{:.2g}",
}


def segments_section(result: ExperimentResult, *, min_units: int = SEGMENT_MIN_UNITS) -> list[Any]:
    """The segments of the spec: what was corrected and suppressed, then a chart and a table per metric.

    Every metric × segment column × level × treatment arm is one test; their p-values are adjusted together with
    Benjamini–Hochberg (false discovery rate over the whole table). A cell where either arm has fewer than
    ``min_units`` units is suppressed (its estimate is not shown, and it is not part of the family).

    Args:
        result: The analysis.
        min_units: The smallest number of units per arm a cell needs to be shown.
    """
    from abnb.charts import segments_chart

    spec = result.experiment
    if not spec.segments:
        return [note("The spec names no segment columns (`segments = [...]`), so there is no breakdown.")]
    frame = result.segments_frame(min_units=min_units, correction="bh")
    shown = frame[~frame["suppressed"]]
    suppressed = int(frame["suppressed"].sum())
    intro = note(
        "By {columns}: {cells} cells (metric × level × arm), p-values adjusted together with Benjamini–Hochberg "
        "(false discovery rate); {suppressed} cells with fewer than {min_units} units in an arm are suppressed. "
        "Read these as exploration: the decision above uses the whole population.",
        columns=", ".join(spec.segments),
        cells=len(frame),
        suppressed=suppressed,
        min_units=min_units,
    )
    parts: list[Any] = [intro]
    for metric in spec.metrics:
        rows = shown[shown["metric"] == metric.name]
        if rows.empty:
            parts.append(note("{metric}: every cell is below {n} units per arm.", metric=metric.name, n=min_units))
            continue
        parts.append(segments_chart(rows, metric.name))
    columns = ["metric", "segment", "level", "arm", *_SEGMENT_FORMATS]
    headers = [_HEADERS.get(c, c) for c in columns]
    parts.append(styled(shown[columns], _SEGMENT_FORMATS, na_rep="–").relabel_index(headers, axis="columns"))
    return parts


def timeline_section(timeline: Timeline) -> list[Any]:
    """Effect over time: one chart per followed metric, and what could not be followed or shown, in words.

    Args:
        timeline: :func:`abnb.timeline.cumulative` of the experiment (goal and guardrail metrics by default).
    """
    from abnb.charts import timeline_chart

    said = [*timeline.omitted, *timeline.notes]
    parts: list[Any] = [note("Not shown: {items}.", items="; ".join(said))] if said else []
    if not timeline.points:
        return [*parts, note("No day has two units in every arm yet, so there is no effect to follow.")]
    frame = timeline.to_frame()
    return [*parts, *(timeline_chart(frame, metric) for metric in timeline.metrics)]


def distributions_table(comparisons: list[DistributionComparison]) -> Any:
    """The rank and quantile comparisons as one display table, with where the values came from."""
    from IPython.display import HTML

    if not comparisons:
        return note("No metric asks for quantiles (`quantiles = [0.5, 0.9]` in its spec).")
    import pandas as pd

    frame = pd.concat([c.to_frame() for c in comparisons], ignore_index=True)
    table = _notes_below(styled(frame, _DISTRIBUTION_FORMATS, na_rep="–"))
    notes = "".join(f"<li>{escape_html(c.note)}</li>" for c in comparisons)
    return HTML(f"{table.data}<ul>{notes}</ul>")
