"""The experiment explorer: its numbers are the analysis', and an update answers from the sums already fetched."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

import abnb
import abnb.widgets
from abnb.errors import DataError, ParameterError
from abnb.experiment import mean_interval
from abnb.stats import ratio, welch, ztest
from abnb.widgets.explorer import (
    OVERALL,
    Explorer,
    ExploreState,
    arm_means,
    effect_html,
    segment_effects,
    selected_effect,
)

TOL = 1e-12


def _close(got: float, expected: float, tol: float = TOL) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    return got == expected or abs(got - expected) <= tol * max(1.0, abs(expected))


@pytest.fixture(scope="module")
def explorer(sample_db: Path, spec: abnb.Experiment) -> Explorer:
    """One explorer over the sample (a database path: it opens and closes its own read-only connections)."""
    return Explorer(spec, sample_db)


@pytest.fixture
def opened(sample_db: Path) -> Iterator[list[abnb.Connection]]:
    connections: list[abnb.Connection] = []
    yield connections
    for connection in connections:
        connection.close()


def _state(explorer: Explorer, **values: object) -> ExploreState:
    base: dict[str, object] = {
        "metric": "conversion",
        "arm": "treatment",
        "segment": OVERALL,
        "day": explorer.result.label,
        "confidence_level": 1 - explorer.spec.alpha,
        "relative_ci": "analysis",
    }
    return ExploreState(**{**base, **values})  # type: ignore[arg-type]


def test_overall_numbers_are_the_analysis(explorer: Explorer) -> None:
    result = explorer.result
    for metric in explorer.choices.metrics:
        shown = explorer.compute(**dataclasses.asdict(_state(explorer, metric=metric))).effect
        effect = result.effect(metric, "treatment")
        assert (shown.n_control, shown.n_treatment) == (effect.control.n, effect.treatment.n)
        expected = {
            "estimate": effect.absolute.estimate,
            "ci_low": effect.absolute.ci_low,
            "ci_high": effect.absolute.ci_high,
            "pvalue": effect.absolute.pvalue,
            "pvalue_adjusted": effect.pvalue,
            "rel_estimate": effect.relative.estimate,
            "rel_ci_low": effect.relative.ci_low,
            "rel_ci_high": effect.relative.ci_high,
            "rel_pvalue": effect.relative.pvalue,
        }
        for name, value in expected.items():
            assert _close(getattr(shown, name), value), (metric, name)
    # the sample's planted conversion lift, as the report shows it
    assert explorer.compute(**dataclasses.asdict(_state(explorer))).effect.rel_estimate > 0


def test_segment_numbers_are_the_segments_frame(explorer: Explorer) -> None:
    result = explorer.result
    frame = result.segments_frame()
    assert len(frame) == len(explorer.choices.segments[1:]) * len(explorer.choices.metrics)
    for row in frame.to_dict("records"):
        state = _state(explorer, metric=row["metric"], segment=f"{row['segment']}={row['level']}")
        shown = selected_effect(result, state)
        assert (shown.n_control, shown.n_treatment) == (row["n_control"], row["n_treatment"])
        for name in ("rel_estimate", "rel_ci_low", "rel_ci_high", "pvalue"):
            assert _close(getattr(shown, name), row[name]), (row["segment"], row["level"], row["metric"], name)
        assert math.isnan(shown.pvalue_adjusted)  # a segment's p-value is not corrected with the goals
    mine = segment_effects(result, _state(explorer, metric="revenue"))
    reference = frame[frame["metric"] == "revenue"].reset_index(drop=True)
    for column in ("n_control", "n_treatment", "rel_estimate", "rel_ci_low", "rel_ci_high", "pvalue"):
        assert all(_close(a, b) for a, b in zip(mine[column], reference[column], strict=True)), column


def test_the_confidence_level_recomputes_every_interval(explorer: Explorer) -> None:
    result = explorer.result
    for metric in ("conversion", "revenue", "revenue_per_session"):
        shown = selected_effect(result, _state(explorer, metric=metric, confidence_level=0.8))
        effect = result.effect(metric)
        low, high = effect.absolute.confidence_interval(confidence_level=0.8)
        assert _close(shown.ci_low, low)
        assert _close(shown.ci_high, high)
        rel_low, rel_high = effect.relative.confidence_interval(confidence_level=0.8)
        assert _close(shown.rel_ci_low, rel_low)
        assert _close(shown.rel_ci_high, rel_high)
        assert shown.ci_high - shown.ci_low < effect.absolute.ci_high - effect.absolute.ci_low  # 80% is narrower
        assert _close(shown.estimate, effect.absolute.estimate)
    # the arm means: at the spec's level, arms_frame's rows; at 0.8, mean_interval's
    spec_level = arm_means(result, _state(explorer, metric="revenue"))
    frame = result.arms_frame()
    theirs = frame[frame["metric"] == "revenue"].reset_index(drop=True)
    for column in ("n", "mean", "ci_low", "ci_high"):
        assert all(_close(a, b) for a, b in zip(spec_level[column], theirs[column], strict=True)), column
    narrow = arm_means(result, _state(explorer, metric="revenue", segment="country=DE", confidence_level=0.8))
    for row in narrow.to_dict("records"):
        expected = mean_interval(result.segments["country", "DE"]["revenue"][row["arm"]], 0.8)
        assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(expected, rel=TOL)


def test_relative_interval_methods_are_the_tests_of_each_kind(explorer: Explorer) -> None:
    result = explorer.result
    cases = {"conversion": ztest, "revenue": welch, "revenue_per_session": ratio}
    for metric, test in cases.items():
        control, treatment = result.overall[metric]["control"], result.overall[metric]["treatment"]
        for method in ("fieller", "delta", "log"):
            shown = selected_effect(result, _state(explorer, metric=metric, confidence_level=0.9, relative_ci=method))
            expected = test(control, treatment, alpha=0.1, relative=True, relative_ci=method)  # type: ignore[operator]
            assert _close(shown.rel_estimate, expected.estimate)
            assert _close(shown.rel_ci_low, expected.ci_low)
            assert _close(shown.rel_ci_high, expected.ci_high)
            assert _close(shown.rel_pvalue, expected.pvalue)
    delta = selected_effect(result, _state(explorer, metric="revenue", relative_ci="delta"))
    assert _close(delta.rel_estimate - delta.rel_ci_low, delta.rel_ci_high - delta.rel_estimate, 1e-9)  # symmetric


def test_updates_run_no_query_and_a_new_day_runs_one_analysis(
    sample_db: Path, spec: abnb.Experiment, opened: list[abnb.Connection]
) -> None:
    def factory() -> abnb.Connection:
        opened.append(abnb.connect(sample_db))
        return opened[-1]

    explorer = Explorer(spec, factory)
    assert len(opened) == 1
    assert opened[0].read_only
    # the extent (as_of left to the data), the analysis' pilot and aggregate, the timeline's pilot and query
    assert explorer.queries_run == opened[0].queries_run == 5
    app = explorer.app()
    for change in (
        {"metric": "revenue"},
        {"segment": "platform=ios"},
        {"confidence_level": 0.9},
        {"relative_ci": "log"},
        {"metric": "sessions", "segment": OVERALL},
    ):
        app.set(**change)
        assert app.error == ""
    assert (explorer.queries_run, len(opened)) == (5, 1)
    day = explorer.choices.days[-4]
    app.set(day=day)
    with abnb.connect(sample_db) as con:
        con.queries_run = 0
        reference = spec.analyze(con, as_of=day)
        analysis_queries = con.queries_run
    assert analysis_queries == 2  # the pilot and the aggregate query
    assert (explorer.queries_run, len(opened)) == (5 + analysis_queries, 2)
    effect = reference.effect("sessions")
    shown = app.state.effect
    assert shown.n_control == effect.control.n
    assert _close(shown.estimate, effect.absolute.estimate, 1e-9)
    assert _close(shown.pvalue, effect.absolute.pvalue, 1e-9)
    app.set(day=explorer.result.label)
    app.set(day=day, metric="conversion")  # both days are kept
    assert (explorer.queries_run, len(opened)) == (5 + analysis_queries, 2)


def test_distributions_are_fetched_once_per_metric_and_day(explorer: Explorer) -> None:
    state = dataclasses.asdict(_state(explorer, metric="revenue", distributions=True))
    before = explorer.queries_run
    shown = explorer.compute(**state)
    fetched = explorer.queries_run - before
    assert fetched >= 2  # a sample of unit values per arm
    assert shown.distributions is not None
    assert next(iter(shown.distributions["statistic"])) == "location shift (Hodges–Lehmann)"
    explorer.compute(**{**state, "confidence_level": 0.9, "segment": "country=US"})
    assert explorer.queries_run - before == fetched
    ratio_metric = explorer.compute(**{**state, "metric": "revenue_per_session"})
    assert ratio_metric.distributions is None
    assert any("ratio of sums" in note for note in ratio_metric.notes)


def test_the_timeline_serves_the_effect_over_time(explorer: Explorer) -> None:
    shown = explorer.compute(**dataclasses.asdict(_state(explorer, metric="revenue")))
    frame = shown.timeline
    assert set(frame["metric"]) == {"revenue"}
    assert set(frame["arm"]) == {"treatment"}
    last = frame.iloc[-1]
    assert last["day"] == explorer.result.label
    assert _close(last["estimate"], explorer.result.effect("revenue").relative.estimate, 1e-9)
    assert tuple(sorted(set(frame["day"]))) == explorer.choices.days


def test_bad_selections_name_the_parameter_and_the_choices(explorer: Explorer) -> None:
    good = dataclasses.asdict(_state(explorer))
    with pytest.raises(ParameterError, match=r"metric must be one of 'conversion', 'revenue'.*got 'nope'"):
        explorer.compute(**{**good, "metric": "nope"})
    with pytest.raises(ParameterError, match=r"arm must be one of 'treatment'; got 'control'"):
        explorer.compute(**{**good, "arm": "control"})
    with pytest.raises(ParameterError, match=r"segment must be one of 'overall', 'country=BR'"):
        explorer.compute(**{**good, "segment": "country=XX"})
    with pytest.raises(ParameterError, match=r"day must be one of '2026-"):
        explorer.compute(**{**good, "day": date(2020, 1, 1)})
    with pytest.raises(ParameterError, match=r"relative_ci must be one of 'analysis', 'fieller', 'delta', 'log'"):
        explorer.compute(**{**good, "relative_ci": "wald"})
    with pytest.raises(ParameterError, match=r"confidence_level must lie in \(0, 1\)"):
        explorer.compute(**{**good, "confidence_level": 1.0})
    assert explorer.compute(**{**good, "day": explorer.result.label.isoformat()}).state.day == explorer.result.label
    with pytest.raises(ParameterError, match="connection must be None"):
        Explorer(explorer.result, 42)
    with pytest.raises(ParameterError, match="as_of: a result has its own cutoff"):
        Explorer(explorer.result, "unused.duckdb", as_of="2026-10-01")
    with pytest.raises(DataError, match="segment 'country=ZZ' has no units"):
        selected_effect(explorer.result, _state(explorer, segment="country=ZZ"))


def test_the_view_is_escaped_html_with_the_numbers(explorer: Explorer) -> None:
    shown = explorer.compute(**dataclasses.asdict(_state(explorer, confidence_level=0.9)))
    table = effect_html(shown)
    effect = shown.effect
    assert f"{effect.rel_estimate:+.2%} [{effect.rel_ci_low:+.2%}, {effect.rel_ci_high:+.2%}] (90.0% CI" in table
    assert f"{effect.n_control:,} control" in table
    hostile = dataclasses.replace(shown, state=dataclasses.replace(shown.state, segment="country=<img src=x>"))
    assert "<img" not in effect_html(hostile)
    assert "country=&lt;img src=x&gt;" in effect_html(hostile)
    view = explorer.render(shown)
    assert view.chart is None
    assert view.verdict.count("<svg") == 3


def test_explore_on_a_result_reuses_it(explorer: Explorer, con: abnb.Connection) -> None:
    con.queries_run = 0
    app = abnb.widgets.explore(explorer.result, con, metric="revenue", segment="country=DE")
    assert con.queries_run == 2  # only the timeline (its pilot and its query); the connection stays open
    assert con.execute("SELECT 1").fetchone() == (1,)
    assert app.state.state.segment == "country=DE"
    expected = selected_effect(explorer.result, _state(explorer, metric="revenue", segment="country=DE"))
    assert app.state.effect == expected
    assert f"{expected.rel_estimate:+.2%}" in app.snapshot()
    app.set(segment=OVERALL, metric="conversion")
    assert con.queries_run == 2
