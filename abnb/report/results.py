"""The experiment report's results table: one row per metric × treatment arm, read in one pass.

Rows are grouped by role (goals, guardrails, secondary metrics). Each row shows the control and treatment values,
the absolute and the relative change with their confidence intervals, an inline interval bar drawn on one scale
shared by every row (so rows compare at a glance, the zero line is "no change"), the p-value the decision uses
(adjusted where the spec corrects for multiple testing), the posterior chance to be better where one was computed,
and the reading (better, worse, non-inferior, no significant change) coloured in the metric's direction. Methods
and notes are numbered footnotes under the table, never text inside cells, so the table fits a 1024 px page.

The page is static HTML: the bars are inline SVG with a text alternative, every string is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abnb._display import escape_html, format_number, format_percent, format_pvalue

if TYPE_CHECKING:
    from abnb.experiment import ExperimentResult, MetricEffect

__all__ = [
    "BETTER",
    "NEUTRAL",
    "WORSE",
    "chance_better",
    "format_number",
    "format_pvalue",
    "reading",
    "results_html",
    "results_table",
]

BETTER = "#1b7837"
WORSE = "#b2182b"
NEUTRAL = "#6b6b6b"
_ROLE_TITLES = {"goal": "Goal metrics", "guardrail": "Guardrails", "secondary": "Secondary metrics"}
_PVALUE_NOTE = (
    "p: two-sided, of the absolute difference; goal metrics' p-values are adjusted for multiple testing "
    "({correction}) and decide, the others are tested on their own."
)
_BAR_WIDTH = 90
_BAR_HEIGHT = 18
_STYLE = """<style>
.abnb-page table.abnb-results{border-collapse:collapse;font-size:12px;margin:6px 0;table-layout:auto;width:auto}
.abnb-page table.abnb-results th,.abnb-page table.abnb-results td{padding:3px 5px;text-align:right;
vertical-align:middle;white-space:nowrap;border:none}
.abnb-page table.abnb-results thead th{border-bottom:1px solid #bbb;font-weight:600;vertical-align:bottom}
.abnb-page table.abnb-results thead th:first-child{text-align:left}
.abnb-page table.abnb-results td.abnb-metric{text-align:left;white-space:normal;max-width:160px}
.abnb-page table.abnb-results td.abnb-reading{text-align:left;white-space:nowrap}
.abnb-page table.abnb-results tr.abnb-group th{text-align:left;background:#eef0f3;font-size:11.5px;
letter-spacing:.03em;padding-top:6px}
.abnb-page table.abnb-results small{display:block;color:#666;font-size:10px;font-weight:400}
.abnb-page ol.abnb-footnotes{font-size:11px;color:#444;margin:4px 0 8px 18px;padding:0;max-width:980px}
@media print,(max-width:900px){.abnb-page table.abnb-results{font-size:9.5px}
.abnb-page table.abnb-results th,.abnb-page table.abnb-results td{padding:2px 3px}
.abnb-page table.abnb-results small{font-size:8.5px}
.abnb-page table.abnb-results svg{width:70px!important}
.abnb-page table.abnb-results td.abnb-reading{white-space:normal}}
</style>"""


@dataclass(frozen=True)
class _Scale:
    """The shared horizontal scale of the interval bars (relative change)."""

    low: float
    high: float

    def x(self, value: float) -> float:
        """Pixel position of ``value``, clipped to the bar's width."""
        span = self.high - self.low
        return min(max((value - self.low) / span * _BAR_WIDTH, 0.0), float(_BAR_WIDTH))


def _interval(low: float, high: float, formatter: Any) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{formatter(low)}, {formatter(high)}]"


def chance_better(effect: MetricEffect) -> float | None:
    """The posterior chance that the arm is better in the metric's direction (``None`` without a posterior)."""
    if effect.bayes is None:
        return None
    return effect.bayes.chance if effect.metric.higher_is_better else 1.0 - effect.bayes.chance


def reading(effect: MetricEffect) -> tuple[str, str, str]:
    """What a row says (a word and a detail) and its colour: better, worse, (not yet) non-inferior, or no change."""
    if effect.improved:
        return "better", "significant", BETTER
    if effect.worsened:
        return "worse", "significant", WORSE
    if effect.metric.role == "guardrail" and effect.metric.margin is not None:
        margin = f"margin {effect.metric.margin:.1%}"
        if effect.noninferiority is not None and effect.noninferiority.passed:
            return "non-inferior", margin, BETTER
        return "not yet non-inferior", margin, NEUTRAL
    return "no change", "not significant", NEUTRAL


def _scale(effects: tuple[MetricEffect, ...]) -> _Scale:
    """One scale for every bar: 0 and every finite relative interval bound, with a margin on both sides."""
    bounds = [0.0]
    for effect in effects:
        bounds += [b for b in (effect.relative.ci_low, effect.relative.ci_high) if math.isfinite(b)]
    low, high = min(bounds), max(bounds)
    if high - low < 1e-12:
        low, high = -0.01, 0.01
    pad = (high - low) * 0.06
    return _Scale(low - pad, high + pad)


def _bar(effect: MetricEffect, scale: _Scale, colour: str) -> str:
    """The relative interval as an inline SVG bar on the shared scale, with a text alternative."""
    rel = effect.relative
    label = f"relative change {format_percent(rel.estimate)}, {1 - rel.alpha:.0%} confidence interval " + (
        _interval(rel.ci_low, rel.ci_high, format_percent) or "not available"
    )
    zero = scale.x(0.0)
    parts = [
        f'<svg width="{_BAR_WIDTH}" height="{_BAR_HEIGHT}" viewBox="0 0 {_BAR_WIDTH} {_BAR_HEIGHT}" '
        'preserveAspectRatio="none" '
        f'style="width:{_BAR_WIDTH}px;height:{_BAR_HEIGHT}px;max-width:none;display:block" role="img" '
        f'aria-label="{escape_html(label)}">',
        f"<title>{escape_html(label)}</title>",
    ]
    if not (math.isnan(rel.ci_low) or math.isnan(rel.ci_high)):
        left, right = scale.x(rel.ci_low), scale.x(rel.ci_high)
        parts.append(
            f'<rect x="{left:.1f}" y="6" width="{max(right - left, 1.0):.1f}" height="6" fill="{colour}" '
            'fill-opacity="0.35"/>'
        )
        for bound, edge in ((rel.ci_low, 0.0), (rel.ci_high, float(_BAR_WIDTH))):
            if math.isinf(bound):  # an unbounded interval runs off the scale: an arrow head at the edge
                tip = edge
                back = edge + 5 if edge == 0 else edge - 5
                parts.append(f'<path d="M{tip:.1f} 9 L{back:.1f} 4 L{back:.1f} 14 Z" fill="{colour}"/>')
    parts.append(f'<line x1="{zero:.1f}" y1="1" x2="{zero:.1f}" y2="17" stroke="#444" stroke-dasharray="2,2"/>')
    if math.isfinite(rel.estimate):
        parts.append(f'<circle cx="{scale.x(rel.estimate):.1f}" cy="9" r="3.5" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _values(effect: MetricEffect) -> tuple[str, str, str, str]:
    """Control, treatment, absolute change and its interval, in the metric's units (percentage points for rates)."""
    absolute = effect.absolute
    if effect.metric.kind == "proportion":

        def points(value: float, digits: int = 4) -> str:
            return format_number(value * 100, signed=True, digits=digits)

        change = f"{points(absolute.estimate)} pp" if math.isfinite(absolute.estimate) else "–"
        return (
            format_percent(absolute.control_mean, signed=False),
            format_percent(absolute.treatment_mean, signed=False),
            change,
            _interval(absolute.ci_low, absolute.ci_high, lambda v: points(v, 3)),
        )

    def signed(value: float, digits: int = 4) -> str:
        return format_number(value, signed=True, digits=digits)

    return (
        format_number(absolute.control_mean),
        format_number(absolute.treatment_mean),
        signed(absolute.estimate),
        _interval(absolute.ci_low, absolute.ci_high, lambda v: signed(v, 3)),
    )


class _Footnotes:
    """Numbered footnotes, each text once (methods repeat across rows)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def refer(self, text: str) -> int:
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text) + 1

    def html(self) -> str:
        if not self.texts:
            return ""
        items = "".join(f"<li>{escape_html(text)}</li>" for text in self.texts)
        return f'<ol class="abnb-footnotes">{items}</ol>'


def _row(effect: MetricEffect, scale: _Scale, notes: _Footnotes, *, arms: bool, bayes: bool) -> str:
    """One ``<tr>`` of the table."""
    control, treatment, change, change_ci = _values(effect)
    word, detail, colour = reading(effect)
    refs = [notes.refer(m) for m in dict.fromkeys((effect.absolute.method, effect.relative.method)) if m]
    refs += [notes.refer(note) for note in effect.notes]
    marks = f"<sup>{','.join(map(str, refs))}</sup>" if refs else ""
    arrow = "↑" if effect.metric.higher_is_better else "↓"
    name = escape_html(effect.metric.name) + (f" · {escape_html(effect.arm)}" if arms else "")
    rel = effect.relative
    cells = [
        f'<td class="abnb-metric"><b>{name}</b>{marks}<small>{escape_html(effect.metric.kind)}, {arrow} is better'
        "</small></td>",
        f"<td>{control}<small>n = {effect.control.n:,}</small></td>",
        f"<td>{treatment}<small>n = {effect.treatment.n:,}</small></td>",
        f"<td>{change}<small>{change_ci}</small></td>",
        f"<td>{format_percent(rel.estimate)}<small>{_interval(rel.ci_low, rel.ci_high, format_percent)}</small></td>",
        f"<td>{_bar(effect, scale, colour)}</td>",
        f"<td>{format_pvalue(effect.pvalue)}</td>",
    ]
    if bayes:
        chance = chance_better(effect)
        cells.append(f"<td>{'–' if chance is None else f'{chance:.1%}'}</td>")
    cells.append(
        f'<td class="abnb-reading" style="color:{colour}"><b>{escape_html(word)}</b><small>{escape_html(detail)}'
        "</small></td>"
    )
    return f"<tr>{''.join(cells)}</tr>"


def results_html(result: ExperimentResult) -> str:
    """The results table of an analysis as an HTML fragment (see the module docstring for what it shows)."""
    spec = result.experiment
    effects = result.effects
    scale = _scale(effects)
    notes = _Footnotes()
    arms = len(spec.treatments) > 1
    bayes = any(e.bayes is not None for e in effects)
    level = f"{1 - spec.alpha:.0%}"
    head = [
        "Metric",
        f"{escape_html(spec.control)}<small>control</small>",
        "Treatment" if arms else f"{escape_html(spec.treatments[0])}<small>treatment</small>",
        f"Absolute change<small>{level} CI</small>",
        f"Relative change<small>{level} CI</small>",
        f"{format_percent(scale.low)} … {format_percent(scale.high)}<small>0 = dashed line</small>",
        f"p<sup>{notes.refer(_PVALUE_NOTE.format(correction=spec.correction))}</sup>" if _corrected(result) else "p",
    ]
    if bayes:
        head.append("P(better)<small>posterior</small>")
    head.append("Reading")
    body = []
    for role in ("goal", "guardrail", "secondary"):
        rows = [e for e in effects if e.metric.role == role]
        if not rows:
            continue
        body.append(f'<tr class="abnb-group"><th colspan="{len(head)}">{_ROLE_TITLES[role]}</th></tr>')
        body += [_row(e, scale, notes, arms=arms, bayes=bayes) for e in rows]
    table = (
        f'<table class="abnb-results"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return f'{_STYLE}<div class="abnb-page">{table}{notes.html()}</div>'


def _corrected(result: ExperimentResult) -> bool:
    """Whether goal p-values are adjusted for multiple testing (a correction and two goal comparisons or more)."""
    goals = sum(1 for e in result.effects if e.metric.role == "goal")
    return result.experiment.correction != "none" and goals > 1


def results_table(result: ExperimentResult) -> Any:
    """The results table for a notebook (an ``IPython.display.HTML``); :func:`results_html` gives the HTML."""
    from IPython.display import HTML

    return HTML(results_html(result))
