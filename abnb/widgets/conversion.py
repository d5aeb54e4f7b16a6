"""Teaching app for notebook 07: the conversion table of a web-testing tool, recomputed and explained.

Four landing-page variants (the lecture's example, published by conversionsciences.com) are shown as a testing tool
prints them: conversions / visitors, a rate "± half-width", the improvement over the baseline and a "chance to
beat baseline". All numbers come from :func:`abnb.counts.conversion_table`:

* the "±" of each rate is the half-width of its own normal confidence interval, ``z_{(1+c)/2}·sqrt(p(1−p)/n)``
  (not an interval of the difference with the baseline);
* improvement ``= rate / baseline rate − 1``;
* chance to beat baseline, three ways (:func:`abnb.stats.chance_to_beat`): ``"normal"`` (difference of rates
  ``~ N(d, p_t q_t/n_t + p_c q_c/n_c)``, ``Φ(d/se)``), ``"beta"`` (exact ``P(p_t > p_c)`` for ``Beta(1 + s,
  1 + n − s)`` posteriors) and ``"lift"`` (relative lift ``~ N(L, v_t/(n_t m_c²) + m_t² v_c/(n_c m_c⁴))``).

One variant's counts are editable so students can watch the chance move.

References:
    E. Miller (2015), "Formulas for Bayesian A/B Testing", evanmiller.org/bayesian-ab-testing.html;
    C. Stucchio (2015), "Bayesian A/B Testing at VWO"; GrowthBook, "Bayesian statistics";
    conversionsciences.com/ab-testing-statistics (the published table).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abnb.counts import conversion_table
from abnb.errors import ParameterError
from abnb.widgets._app import App, View, dropdown, float_slider, int_text, number_in, whole_in

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

__all__ = [
    "BASELINE",
    "EDITABLE",
    "MAX_VISITORS",
    "METHODS",
    "VARIANTS",
    "ConversionState",
    "compute_conversion",
    "conversion_app",
    "render_conversion",
]

#: The published counts: ``{variant: (conversions, visitors)}``; source: conversionsciences.com/ab-testing-statistics.
VARIANTS: dict[str, tuple[int, int]] = {
    "Original Page": (378, 3662),
    "Test it out": (462, 3568),
    "Give it a try": (440, 3479),
    "Try it out": (395, 3504),
}
BASELINE = "Original Page"
#: The variant whose counts the app lets students edit.
EDITABLE = "Try it out"
#: Largest visitor count the app accepts: the chart's JSON (vl-convert) holds 64-bit integers only (2**70 failed to
#: parse), and far beyond any real test, the exact Beta chance is still accurate (huge posteriors are integrated over
#: their quantile function, see :mod:`abnb.stats.bayesian`).
MAX_VISITORS = 10**12
#: Bayesian methods of :func:`abnb.stats.chance_to_beat` and what they assume.
METHODS: dict[str, str] = {
    "normal": "normal approximation of the difference of rates (VWO-style tables)",
    "beta": "exact Beta(1, 1) posteriors of both rates (Evan Miller's formula)",
    "lift": "normal approximation of the relative lift, delta method (GrowthBook)",
}


@dataclass(frozen=True)
class ConversionState:
    """The conversion table for one choice of method, level and edited counts.

    Attributes:
        method: The Bayesian method whose chance the chart and headline use.
        confidence_level: Level of the per-variant "±".
        conversions: Conversions of the editable variant.
        visitors: Visitors of the editable variant.
        rate: Conversion rate of the editable variant.
        improvement: Its improvement over the baseline, ``rate / baseline rate − 1``.
        pvalue: Its unpooled two-proportion z-test p-value against the baseline.
        chance: Its chance to beat the baseline by ``method``.
        chance_normal: Its chance by the normal method.
        chance_beta: Its chance by the exact Beta method.
        chance_lift: Its chance by the lift method.
        table: :func:`abnb.counts.conversion_table` (one row per variant) with ``ci_low``, ``ci_high`` (rate ∓
            half-width) and ``chance`` (the column of ``method``) added.
    """

    method: str
    confidence_level: float
    conversions: int
    visitors: int
    rate: float
    improvement: float
    pvalue: float
    chance: float
    chance_normal: float
    chance_beta: float
    chance_lift: float
    table: pd.DataFrame


def compute_conversion(
    method: str = "normal",
    confidence_level: float = 0.95,
    conversions: int = VARIANTS[EDITABLE][0],
    visitors: int = VARIANTS[EDITABLE][1],
) -> ConversionState:
    """Recompute the four-variant conversion table with the editable variant's counts replaced.

    Args:
        method: ``"normal"``, ``"beta"`` or ``"lift"`` (see :data:`METHODS`).
        confidence_level: Level of the "±" in (0, 1).
        conversions: Conversions of ``"Try it out"``, ``0 <= conversions <= visitors``.
        visitors: Visitors of ``"Try it out"``, from 2 to :data:`MAX_VISITORS` (10¹²).

    Returns:
        The table and the edited variant's numbers.

    Raises:
        ParameterError: If a parameter is out of range.
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}.")
    visitors = whole_in("visitors", visitors, 2, MAX_VISITORS)
    conversions = whole_in("conversions", conversions, 0, visitors)
    confidence_level = number_in("confidence_level", confidence_level, 0.0, 1.0, open_low=True, open_high=True)
    variants = {**VARIANTS, EDITABLE: (conversions, visitors)}
    table = conversion_table(variants, baseline=BASELINE, alpha=1.0 - confidence_level)
    table["ci_low"] = table["rate"] - table["plus_minus"]
    table["ci_high"] = table["rate"] + table["plus_minus"]
    table["chance"] = table[f"chance_{method}"]
    row = table.loc[table["variant"] == EDITABLE].iloc[0]
    return ConversionState(
        method=method,
        confidence_level=float(confidence_level),
        conversions=conversions,
        visitors=visitors,
        rate=float(row["rate"]),
        improvement=float(row["improvement"]),
        pvalue=float(row["pvalue"]),
        chance=float(row["chance"]),
        chance_normal=float(row["chance_normal"]),
        chance_beta=float(row["chance_beta"]),
        chance_lift=float(row["chance_lift"]),
        table=table,
    )


def conversion_chart(state: ConversionState) -> alt.HConcatChart:
    """Each variant's rate with its "±" interval (left) and its chance to beat the baseline (right)."""
    import altair as alt

    table = state.table
    order = list(table["variant"])
    y = alt.Y("variant:N", sort=order, title=None)
    baseline_rate = float(table.loc[table["variant"] == BASELINE, "rate"].iloc[0])
    rule = alt.Chart(table.loc[table["variant"] == BASELINE]).mark_rule(strokeDash=[4, 3], color="#6b6b6b")
    intervals = (
        alt.Chart(table)
        .mark_rule(strokeWidth=3, color="#2166ac")
        .encode(
            x=alt.X(
                "ci_low:Q",
                title=f"conversion rate ± {state.confidence_level:.0%} interval",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(zero=False),
            ),
            x2="ci_high:Q",
            y=y,
        )
    )
    points = (
        alt.Chart(table)
        .mark_point(filled=True, size=70, color="#2166ac")
        .encode(
            x="rate:Q",
            y=y,
            tooltip=["variant:N", alt.Tooltip("rate:Q", format=".2%"), alt.Tooltip("plus_minus:Q", format=".2%")],
        )
    )
    left = (intervals + points + rule.encode(x="rate:Q")).properties(
        width=300, height=150, title=f"baseline {baseline_rate:.1%} (dashed)"
    )
    others = table.loc[table["variant"] != BASELINE]
    bars = (
        alt.Chart(others)
        .mark_bar(color="#1b7837")
        .encode(
            x=alt.X(
                "chance:Q",
                scale=alt.Scale(domain=[0, 1]),
                title=f"chance to beat baseline ({state.method})",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("variant:N", sort=order, title=None),
        )
    )
    labels = (
        alt.Chart(others)
        .mark_text(align="right", dx=-4, color="white")
        .encode(x="chance:Q", y=alt.Y("variant:N", sort=order), text=alt.Text("chance:Q", format=".1%"))
    )
    right = (bars + labels).properties(width=220, height=int(150 * len(others) / len(table)), title="chance to beat")
    return alt.hconcat(left, right)


def _percent(value: float, digits: int = 1, *, sign: bool = False) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:+.{digits}%}" if sign else f"{value:.{digits}%}"


def _cell(text: str, bold: bool) -> str:
    return f"<td><b>{text}</b></td>" if bold else f"<td>{text}</td>"


def render_conversion(state: ConversionState) -> View:
    """The tool's table recomputed, the chart, and why the three chances differ."""
    header = (
        "<tr><th>variant</th><th>conversions / visitors</th><th>rate (±)</th><th>improvement</th>"
        + "".join(f"<th>chance ({m})</th>" for m in METHODS)
        + "<th>p-value</th></tr>"
    )
    rows = []
    for r in state.table.to_dict("records"):
        chances = "".join(_cell(_percent(float(r[f"chance_{m}"])), m == state.method) for m in METHODS)
        pvalue = "—" if math.isnan(float(r["pvalue"])) else f"{float(r['pvalue']):.3g}"
        rows.append(
            f"<tr><td>{html.escape(str(r['variant']))}</td>"
            f"<td>{int(r['conversions']):,} / {int(r['visitors']):,}</td>"
            f"<td>{float(r['rate']):.1%} (± {float(r['plus_minus']):.1%})</td>"
            f"<td>{_percent(float(r['improvement']), sign=True)}</td>{chances}<td>{pvalue}</td></tr>"
        )
    table = f"<table>{header}{''.join(rows)}</table>"
    explain = (
        f"<p>The ± is the half-width of the {state.confidence_level:.0%} normal interval of each rate on its own, "
        "z·√(p(1−p)/n), not an interval of the difference with the baseline. Overlapping bars do not mean 'no "
        "difference': the half-width of the difference, √(a² + b²), is shorter than the two half-widths added, "
        "a + b.</p>"
        f"<p><b>{html.escape(EDITABLE)}</b> ({state.conversions:,} / {state.visitors:,}, "
        f"{_percent(state.improvement, sign=True)}): chance to beat the baseline "
        f"{_percent(state.chance_normal)} (normal), {_percent(state.chance_beta)} (exact Beta), "
        f"{_percent(state.chance_lift)} (lift); two-sided p = {state.pvalue:.3g}. "
        "The normal method reads the difference of rates as a bell curve; the exact Beta posteriors are slightly "
        "skewed and include the prior's extra success and failure, which moves the answer in the last digit; the "
        "lift method divides by the uncertain baseline rate, which weighs the baseline's noise by "
        "(treatment rate / baseline rate)² and lowers the chance a little. Same data, three conventions.</p>"
        f"<p>Using: {html.escape(METHODS[state.method])}.</p>"
    )
    return View(conversion_chart(state), table + explain)


def conversion_app(*, initial_preset: str = "published table (normal)", presenter: bool = False, **initial: Any) -> App:
    """The conversion table with a method dropdown, a confidence-level slider and editable counts for one variant.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the published table notebook
            07 explains first.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values of ``method``, ``confidence_level``, ``conversions``, ``visitors``, on top of
            the preset.

    Returns:
        The app.
    """
    title = "A/B conversion table: rate ±, improvement, chance to beat baseline"
    controls = {
        "method": dropdown("method", [(f"{m}", m) for m in METHODS], "normal"),
        "confidence_level": float_slider("± level", 0.95, 0.5, 0.99, 0.01, readout_format=".0%"),
        "conversions": int_text(f"{EDITABLE}: conv.", VARIANTS[EDITABLE][0], (0, MAX_VISITORS)),
        "visitors": int_text("visitors", VARIANTS[EDITABLE][1], (2, MAX_VISITORS)),
    }
    presets: dict[str, Mapping[str, Any]] = {
        "published table (normal)": {
            "method": "normal",
            "confidence_level": 0.95,
            "conversions": VARIANTS[EDITABLE][0],
            "visitors": VARIANTS[EDITABLE][1],
        },
        "same counts, exact Beta": {"method": "beta"},
        "same counts, lift": {"method": "lift"},
        "Try it out with 10× the visitors": {"conversions": 3950, "visitors": 35040},
    }
    return App(
        title,
        controls,
        compute_conversion,
        render_conversion,
        presets,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )
