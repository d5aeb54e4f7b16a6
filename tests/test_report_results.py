"""The results table of the experiment report: what each row says, in numbers, and that data cannot become markup."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

import abnb
from abnb.experiment import ExperimentResult
from abnb.report.results import (
    BETTER,
    NEUTRAL,
    WORSE,
    chance_better,
    format_number,
    format_pvalue,
    reading,
    results_html,
)


@pytest.fixture(scope="module")
def sample(sample_db: object) -> ExperimentResult:
    with abnb.connect(sample_db) as con:  # type: ignore[arg-type]
        return abnb.load("checkout_redesign").analyze(con)


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (99953.0, {}, "99,953"),
        (8.44312, {}, "8.443"),
        (0.0123456, {}, "0.01235"),
        (-0.0069834, {"signed": True}, "−0.006983"),
        (0.7508, {"signed": True}, "+0.7508"),
        (1.40123, {"signed": True, "digits": 3}, "+1.40"),
        (123.456, {}, "123.5"),
        (0.0, {"signed": True}, "0"),
        (math.nan, {}, "–"),
        (-math.inf, {}, "−∞"),
    ],
)
def test_format_number_gives_significant_digits_without_float_noise(value: float, kwargs: dict, text: str) -> None:
    assert format_number(value, **kwargs) == text


@pytest.mark.parametrize(
    ("pvalue", "text"),
    [(2.2e-16, "< 0.0001"), (0.000212, "0.00021"), (0.0312, "0.031"), (0.891, "0.89"), (1.0, "1.00")],
)
def test_format_pvalue(pvalue: float, text: str) -> None:
    assert format_pvalue(pvalue) == text


def test_rows_are_grouped_by_role_with_the_numbers_of_the_analysis(sample: ExperimentResult) -> None:
    page = results_html(sample)
    goals, guardrails, secondary = (page.index(t) for t in ("Goal metrics", "Guardrails", "Secondary metrics"))
    assert goals < guardrails < secondary
    for effect in sample.effects:
        row = _row(page, effect.metric.name)
        start = page.index(f"<b>{effect.metric.name}</b>")
        assert (start < guardrails) == (effect.metric.role == "goal")
        assert f"n = {effect.control.n:,}" in row
        assert f"n = {effect.treatment.n:,}" in row
        rel = effect.relative
        assert f"{rel.estimate:+.2%}" in row.replace("−", "-")
        assert f"[{rel.ci_low:+.2%}, {rel.ci_high:+.2%}]" in row.replace("−", "-")
        assert f"<td>{format_pvalue(effect.pvalue)}</td>" in row
        word, _, colour = reading(effect)
        assert f'style="color:{colour}"><b>{word}</b>' in row
    conversion = sample.effect("conversion")
    row = _row(page, "conversion")
    assert f"{conversion.absolute.control_mean:.2%}" in row  # a rate shows as a percentage
    assert f"{conversion.absolute.estimate * 100:+.3f} pp" in row  # its change in percentage points
    assert "99953.000000" not in page
    assert "0.500000" not in page


def test_goal_pvalues_are_the_corrected_ones_and_the_footnote_names_the_correction(sample: ExperimentResult) -> None:
    page = results_html(sample)
    conversion = sample.effect("conversion")
    assert conversion.pvalue_adjusted is not None
    assert conversion.pvalue_adjusted != conversion.absolute.pvalue
    assert f"<td>{format_pvalue(conversion.pvalue_adjusted)}</td>" in _row(page, "conversion")
    assert "adjusted for multiple testing (holm)" in page


def test_methods_are_footnotes_once_each_not_cell_text(sample: ExperimentResult) -> None:
    page = results_html(sample)
    notes = re.findall(r"<li>(.*?)</li>", page.split('<ol class="abnb-footnotes">')[1])
    methods = {m for e in sample.effects for m in (e.absolute.method, e.relative.method)}
    assert methods <= set(notes)
    assert len(notes) == len(set(notes))
    for effect in sample.effects:
        cells = _row(page, effect.metric.name)
        assert effect.absolute.method not in cells
        number = notes.index(effect.absolute.method) + 1
        assert re.search(rf"<sup>[\d,]*\b{number}\b[\d,]*</sup>", cells)


def test_bars_share_one_scale_with_a_text_alternative(sample: ExperimentResult) -> None:
    page = results_html(sample)
    zero_lines = set(re.findall(r'<line x1="([\d.]+)"', page))
    assert len(zero_lines) == 1  # the zero line stands at the same place in every row
    lows = [e.relative.ci_low for e in sample.effects]
    highs = [e.relative.ci_high for e in sample.effects]
    low, high = min(0.0, *lows), max(0.0, *highs)
    pad = (high - low) * 0.06
    zero = (0 - (low - pad)) / ((high + pad) - (low - pad)) * 90  # the bar is 90 px wide
    assert float(zero_lines.pop()) == pytest.approx(zero, abs=0.05)
    conversion = sample.effect("conversion").relative
    label = f"relative change {conversion.estimate:+.2%}, 95% confidence interval [{conversion.ci_low:+.2%}, "
    assert f'aria-label="{label}' in page.replace("−", "-")
    assert page.count('role="img"') == len(sample.effects)


def test_chance_better_follows_the_metric_direction(sample: ExperimentResult) -> None:
    for effect in sample.effects:
        chance = chance_better(effect)
        if effect.bayes is None:
            assert chance is None
        else:
            assert chance == (effect.bayes.chance if effect.metric.higher_is_better else 1 - effect.bayes.chance)


def _tiny(arms: tuple[str, str], lift: float, *, seed: int = 3, n: int = 400) -> ExperimentResult:
    rng = np.random.default_rng(seed)
    units = np.arange(2 * n)
    arm = np.where(units < n, arms[0], arms[1])
    ts = pd.Timestamp("2026-10-01") + pd.to_timedelta(units % 7, unit="D")
    exposures = pd.DataFrame({"unit": units, "arm": arm, "ts": ts, "experiment": "tiny"})
    values = rng.normal(10.0, 2.0, 2 * n) + np.where(arm == arms[1], lift, 0.0)
    events = pd.DataFrame({"unit": units, "ts": ts + pd.Timedelta(hours=1), "value": values})
    spec = abnb.Experiment(
        name="tiny",
        arms=arms,
        control=arms[0],
        metrics=(
            abnb.Metric(
                "latency", abnb.Sql("SELECT unit, ts, value FROM events"), role="guardrail", direction="decrease"
            ),
        ),
    )
    return spec.analyze({"exposures": exposures, "events": events}, as_of="2026-10-08")


def test_a_worse_guardrail_is_red_and_arm_names_are_escaped() -> None:
    result = _tiny(("<i>ctl</i>", "t&<script>"), lift=1.0)
    effect = result.effects[0]
    assert effect.worsened
    assert reading(effect) == ("worse", "significant", WORSE)
    page = results_html(result)
    assert "<script>" not in page
    assert "<i>ctl</i>" not in page
    assert "&lt;i&gt;ctl&lt;/i&gt;" in page
    assert "t&amp;&lt;script&gt;" in page


def test_no_change_is_grey() -> None:
    effect = _tiny(("a", "b"), lift=0.0).effects[0]
    assert not effect.significant
    assert reading(effect) == ("no change", "not significant", NEUTRAL)
    assert BETTER != NEUTRAL


def _row(page: str, metric: str) -> str:
    """The ``<tr>`` of a metric (the only treatment arm)."""
    start = page.index(f"<b>{metric}</b>")
    return page[page.rindex("<tr>", 0, start) : page.index("</tr>", start)]
