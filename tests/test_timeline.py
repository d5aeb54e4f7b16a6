"""The effect over time (abnb.timeline): every day's numbers are those of the analysis at that day's cutoff.

The sample experiment is followed for every metric and compared, day by day, with ``spec.analyze(as_of=day)``; a
hand-made dataset in a Berlin project has the awkward units (one exposed to two arms, one to both on its first day,
one first logged without an arm, exposures before the start and of another experiment, rows before exposure, after
the cutoff and after midnight in Berlin but not in UTC), and its means are also checked by hand.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

import abnb
from abnb import charts
from abnb.aggregate import ExposureSource
from abnb.errors import ParameterError, SpecError
from abnb.experiment import Experiment, ExperimentResult
from abnb.metrics import Column, Metric, Sql
from abnb.stats import Moments, welch
from abnb.timeline import COLUMNS, Timeline, build_query, cumulative

ZONE = "Europe/Berlin"
NUMBERS = ("control_mean", "treatment_mean", "estimate", "ci_low", "ci_high", "pvalue", "seq_ci_low", "seq_ci_high")


def _expected(result: ExperimentResult, metric: str, arm: str) -> dict[str, float]:
    effect = result.effect(metric, arm)
    sequence = effect.sequential
    relative = effect.relative
    return {
        "n_control": effect.control.n,
        "n_treatment": effect.treatment.n,
        "control_mean": relative.control_mean,
        "treatment_mean": relative.treatment_mean,
        "estimate": relative.estimate,
        "ci_low": relative.ci_low,
        "ci_high": relative.ci_high,
        "pvalue": relative.pvalue,
        "seq_ci_low": math.nan if sequence is None else sequence.ci_low,
        "seq_ci_high": math.nan if sequence is None else sequence.ci_high,
    }


def _assert_same_as_analysis(timeline: Timeline, spec: Experiment, con: abnb.Connection) -> int:
    """Every point of ``timeline`` equals the analysis at its day's cutoff (1e-9 relative); returns points checked."""
    frame = timeline.to_frame()
    checked = 0
    for day in timeline.days:
        result = spec.analyze(con, as_of=timeline.cutoff(day))
        for row in frame[frame["day"] == day].to_dict("records"):
            expected = _expected(result, row["metric"], row["arm"])
            assert (row["n_control"], row["n_treatment"]) == (expected["n_control"], expected["n_treatment"]), day
            for column in NUMBERS:
                assert row[column] == pytest.approx(expected[column], rel=1e-9, abs=1e-12, nan_ok=True), (
                    day,
                    row["metric"],
                    column,
                )
            checked += 1
    return checked


def test_every_day_equals_the_analysis_at_that_cutoff(con: abnb.Connection, spec: Experiment) -> None:
    every = [m.name for m in spec.metrics]  # proportion, means (sum, count), a ratio
    con.rows_fetched = con.queries_run = 0
    timeline = cumulative(spec, con, metrics=every)
    assert con.queries_run == 3  # the data's extent (as_of left to the data), the LIMIT 1 pilot, the timeline
    assert timeline.rows_fetched == con.rows_fetched - 1  # the extent's row is the cutoff's, not the timeline's
    assert timeline.rows_fetched <= 1 + 2 * len(timeline.days)  # the pilot, then one row per arm × day
    assert timeline.days == tuple(date(2026, 10, d) for d in range(1, 15))
    assert timeline.metrics == tuple(every)
    assert timeline.omitted == ()
    assert timeline.notes == ()
    assert _assert_same_as_analysis(timeline, spec, con) == len(every) * 14
    frame = timeline.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    ratio = frame[frame["metric"] == "revenue_per_session"]
    assert ratio["seq_ci_low"].isna().all()  # the analysis has no confidence sequence for a ratio
    final = frame[(frame["metric"] == "conversion") & (frame["day"] == date(2026, 10, 14))].iloc[0]
    assert (final["n_control"], final["n_treatment"]) == (10082, 9911)  # the sample's units in a single arm


def test_default_metrics_are_the_goals_and_guardrails(con: abnb.Connection, spec: Experiment) -> None:
    timeline = cumulative(spec, con, as_of="2026-10-05")
    assert timeline.metrics == ("conversion", "revenue", "sessions")
    assert timeline.days[-1] == date(2026, 10, 5)
    assert timeline.as_of == datetime(2026, 10, 6)
    assert "Timeline(experiment='checkout_redesign'" in repr(timeline)
    with pytest.raises(ParameterError, match=r"no metric 'revenu'.*conversion, revenue"):
        cumulative(spec, con, metrics=["revenu"])
    with pytest.raises(ParameterError, match=r"name at least one metric"):
        cumulative(spec, con, metrics=[])


# --- a hand-made project in Berlin -------------------------------------------------------------------------------


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _frames() -> dict[str, pd.DataFrame]:
    exposures = [  # (experiment, unit, arm, ts in UTC); Berlin is UTC+2 in October 2026
        ("tl", "c1", "control", "2026-10-01 08:00"),
        ("other", "c1", "treatment", "2026-10-01 08:00"),  # another experiment: not a second arm
        ("tl", "c2", "control", "2026-10-01 09:00"),
        ("tl", "c3", "control", "2026-10-02 09:00"),
        ("tl", "c4", "control", "2026-09-30 12:00"),  # before the start: this unit is first exposed on Oct 2
        ("tl", "c4", "control", "2026-10-02 12:00"),
        ("tl", "t1", "treatment", "2026-10-01 08:30"),
        ("tl", "t2", "treatment", "2026-10-01 10:00"),
        ("tl", "t3", "treatment", "2026-10-02 23:30"),  # Oct 3, 01:30 in Berlin
        ("tl", "x1", "control", "2026-10-01 12:00"),  # control on Oct 1-2, then excluded
        ("tl", "x1", "treatment", "2026-10-03 12:00"),
        ("tl", "x2", "control", "2026-10-01 12:00"),  # both arms on its first day: never compared
        ("tl", "x2", "treatment", "2026-10-01 18:00"),
        ("tl", "n1", None, "2026-10-01 07:00"),  # exposed without an arm first, then treatment on Oct 2
        ("tl", "n1", "treatment", "2026-10-02 07:00"),
        ("tl", "n2", None, "2026-10-01 07:00"),  # never with an arm
    ]
    events = [  # (unit, ts in UTC, event, value)
        ("c1", "2026-10-01 07:00", "purchase", 5.0),  # before exposure
        ("c1", "2026-10-01 12:00", "purchase", 10.0),
        ("c1", "2026-10-03 12:00", "purchase", 4.0),
        ("c1", "2026-10-01 13:00", "session", 1.0),
        ("c1", "2026-10-02 13:00", "session", 1.0),
        ("c2", "2026-10-02 22:30", "purchase", 3.0),  # Oct 3 in Berlin
        ("c2", "2026-10-01 10:00", "session", 1.0),
        ("t1", "2026-10-01 09:00", "purchase", 8.0),
        ("t1", "2026-10-02 09:00", "purchase", 6.0),
        ("t1", "2026-10-01 09:00", "session", 1.0),
        ("t1", "2026-10-02 09:00", "session", 1.0),
        ("t1", "2026-10-03 09:00", "session", 1.0),
        ("t2", "2026-10-01 11:00", "session", 1.0),
        ("t2", "2026-10-04 10:00", "purchase", 20.0),  # after the cutoff
        ("x1", "2026-10-02 12:00", "purchase", 7.0),
        ("x1", "2026-10-02 12:00", "session", 1.0),
        ("n1", "2026-10-01 12:00", "purchase", 2.0),  # after its first exposure, before its arm's
        ("n1", "2026-10-02 08:00", "session", 1.0),
        ("t3", "2026-10-03 10:00", "purchase", 9.0),
        ("t3", "2026-10-03 10:00", "session", 1.0),
    ]
    return {
        "exposures": pd.DataFrame(
            [(e, u, a, _utc(t)) for e, u, a, t in exposures], columns=["experiment", "unit", "arm", "ts"]
        ),
        "events": pd.DataFrame([(u, _utc(t), e, v) for u, t, e, v in events], columns=["unit", "ts", "event", "value"]),
    }


PURCHASES = "SELECT unit, ts, value FROM events WHERE event = 'purchase'"
SESSIONS = "SELECT unit, ts, value FROM events WHERE event = 'session'"


def _hand_spec(**changes: object) -> Experiment:
    metrics = (
        Metric("revenue", Sql(PURCHASES)),
        Metric("buyers", Sql(PURCHASES), kind="proportion", role="guardrail"),
        Metric("sessions", Sql(SESSIONS), aggregate="count"),
        Metric("largest", Sql(PURCHASES), aggregate="max"),
        Metric("revenue_24h", Sql(PURCHASES, window_hours=24), cap=9.0),
        Metric("per_session", Sql(PURCHASES, denominator=SESSIONS, denominator_aggregate="count"), kind="ratio"),
        Metric(  # its numerator's rows are revenue_24h's, read once
            "per_session_24h",
            Sql(PURCHASES, denominator=SESSIONS, denominator_aggregate="count", window_hours=24),
            kind="ratio",
        ),
        Metric("capped", Sql(PURCHASES), cap_quantile=0.9),
    )
    settings: dict[str, object] = {"start": datetime(2026, 10, 1), "end": datetime(2026, 10, 4), "tuning": 10}
    settings.update(changes)
    return Experiment("tl", metrics, **settings)  # type: ignore[arg-type]


def test_awkward_units_in_berlin_match_the_analysis_and_the_hand_computed_means() -> None:
    spec = _hand_spec()
    with abnb.connect(frames=_frames(), timezone=ZONE) as con:
        con.rows_fetched = 0
        timeline = cumulative(spec, con, metrics=[m.name for m in spec.metrics])
        assert con.rows_fetched <= 2 + 2 * 3  # the extent, the pilot, then one row per arm × day at most
        assert timeline.days == (date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3))
        assert timeline.as_of == datetime(2026, 10, 4)  # the spec's end, midnight in Berlin
        assert timeline.omitted == (
            "capped: its values are capped at the P90 of every unit's value at the cutoff (cap_quantile), a cap "
            "that changes with the cutoff and cannot be cumulated over days; analyse it with "
            "Experiment.analyze(as_of=day) per day",
        )
        assert "capped" not in timeline.metrics
        assert _assert_same_as_analysis(timeline, spec, con) == 7 * 3
    frame = timeline.to_frame().set_index(["metric", "day"])
    revenue = frame.loc["revenue"]
    # Oct 1: control c1 10, c2 0, x1 0 | treatment t1 8, t2 0
    # Oct 2: control c1 10, c2 0, c3 0, c4 0, x1 7 | treatment t1 14, t2 0, n1 2 (its Oct 1 purchase counts)
    # Oct 3: control c1 14, c2 3 (22:30 UTC is Oct 3 in Berlin), c3 0, c4 0 (x1 left) | t1 14, t2 0, n1 2, t3 9
    assert revenue["n_control"].tolist() == [3, 5, 4]
    assert revenue["n_treatment"].tolist() == [2, 3, 4]
    np.testing.assert_allclose(revenue["control_mean"], [10 / 3, 17 / 5, 17 / 4], rtol=1e-12)
    np.testing.assert_allclose(revenue["treatment_mean"], [4, 16 / 3, 25 / 4], rtol=1e-12)
    # within 24 h of exposure, capped at 9: c1 9 (10 capped; its Oct 3 purchase is late), x1 0 (its purchase comes
    # exactly 24 h after exposure: the window is half-open) | t1 8 (its 6 comes 24.5 h after exposure), t3 9
    np.testing.assert_allclose(frame.loc["revenue_24h", "control_mean"], [9 / 3, 9 / 5, 9 / 4], rtol=1e-12)
    np.testing.assert_allclose(frame.loc["revenue_24h", "treatment_mean"], [8 / 2, 10 / 3, 19 / 4], rtol=1e-12)
    np.testing.assert_allclose(frame.loc["buyers", "treatment_mean"], [1 / 2, 2 / 3, 3 / 4])
    np.testing.assert_allclose(frame.loc["sessions", "control_mean"], [2 / 3, 4 / 5, 3 / 4])
    np.testing.assert_allclose(frame.loc["largest", "treatment_mean"], [4, 10 / 3, 19 / 4])


def test_the_days_follow_the_project_zone() -> None:
    """In UTC, t3 enters on Oct 2 and c2's purchase falls on Oct 2: other numbers, again those of the analysis."""
    spec = _hand_spec()
    with abnb.connect(frames=_frames(), timezone="UTC") as con:
        timeline = cumulative(spec, con, metrics=["revenue"])
        assert _assert_same_as_analysis(timeline, spec, con) == 3
    revenue = timeline.to_frame()
    assert revenue["n_treatment"].tolist() == [2, 4, 4]
    np.testing.assert_allclose(revenue["control_mean"], [10 / 3, 20 / 5, 17 / 4], rtol=1e-12)


def test_days_before_two_units_per_arm_are_named_not_dropped() -> None:
    frames = _frames()
    late = frames["exposures"]["unit"].isin(["t1", "t2", "x2", "n1", "n2"])
    frames["exposures"] = frames["exposures"][~late]  # the treatment arm has t3 only, then nobody else
    extra = pd.DataFrame(
        [("tl", "t4", "treatment", _utc("2026-10-03 12:00"))], columns=["experiment", "unit", "arm", "ts"]
    )
    frames["exposures"] = pd.concat([frames["exposures"], extra], ignore_index=True)
    timeline = cumulative(_hand_spec(), frames, metrics=["revenue"])
    assert timeline.days == (date(2026, 10, 3),)
    assert timeline.notes == (
        "no estimate on 2 day(s) (2026-10-01 to 2026-10-02): an arm had fewer than 2 units (the analysis needs two "
        "per arm)",
    )


def test_a_metric_at_1e9_keeps_its_variance() -> None:
    """Sums are shifted by the analysis' pilot value: mean 1e9 and sd 1 give the exact Welch interval every day.

    Half the units get their value a day after exposure, so they spend a day at 0 (at −1e9 once shifted): their
    (1e9)² must not enter the running sums, or the next day's variance would be lost in rounding.
    """
    rng = np.random.default_rng(11)
    units = 400
    values = 1e9 + np.round(rng.normal(0.0, 1.0, units) * 8) / 8  # exact in doubles, so sums are exact too
    values[units // 2 :] += 0.25
    arms = np.where(np.arange(units) < units // 2, "control", "treatment")
    exposed = [_utc("2026-10-01 06:00") + pd.Timedelta(days=int(d)) for d in rng.integers(0, 4, units)]
    ts = [t + pd.Timedelta(days=k % 2) for k, t in enumerate(exposed)]
    frames = {
        "exposures": pd.DataFrame({"experiment": "big", "unit": np.arange(units), "arm": arms, "ts": exposed}),
        "events": pd.DataFrame({"unit": np.arange(units), "ts": ts, "value": values}),
    }
    spec = Experiment("big", (Metric("big", Sql("SELECT unit, ts, value FROM events")),), end=datetime(2026, 10, 6))
    with abnb.connect(frames=frames, timezone="UTC") as con:
        timeline = cumulative(spec, con)
        assert _assert_same_as_analysis(timeline, spec, con) == 5
    last = timeline.to_frame().iloc[-1]
    assert last["day"] == date(2026, 10, 5)
    assert (last["n_control"], last["n_treatment"]) == (200, 200)
    control, treatment = Moments.from_values(values[: units // 2]), Moments.from_values(values[units // 2 :])
    exact = welch(control, treatment, relative=True)
    assert last["estimate"] == pytest.approx(exact.estimate, rel=1e-9)
    assert last["ci_low"] == pytest.approx(exact.ci_low, rel=1e-9)
    assert last["ci_high"] == pytest.approx(exact.ci_high, rel=1e-9)
    assert last["pvalue"] == pytest.approx(exact.pvalue, rel=1e-9)


def test_what_cannot_be_followed_is_refused_with_the_reason() -> None:
    unit_level = ExposureSource(table="users", ts="ts", experiment_column=None, level="unit")
    with pytest.raises(SpecError, match="unit-level: it holds one value per unit and no event times"):
        build_query(unit_level, [Metric("m", Column("y"))])
    only_quantile = Experiment("tl", (Metric("capped", Sql(PURCHASES), cap_quantile=0.9),))
    with pytest.raises(
        ParameterError, match=r"no metric of experiment 'tl' asked for can be followed over days: capped: "
    ):
        cumulative(only_quantile, _frames())


def test_the_display_escapes_and_the_query_is_sqlglot_built() -> None:
    spec = _hand_spec(arms=("control", "<b>new</b>"), control="control")
    frames = _frames()
    frames["exposures"]["arm"] = frames["exposures"]["arm"].replace("treatment", "<b>new</b>")
    timeline = cumulative(spec, frames, metrics=["revenue"])
    html = timeline._repr_html_()
    assert "&lt;b&gt;new&lt;/b&gt;" in html
    assert "<b>new</b>" not in html
    sql = build_query(spec.exposures, spec.metrics[:1], has_start=True).sql("duckdb")
    assert "$as_of" in sql
    assert "$start" in sql
    assert "$experiment" in sql
    assert "$shift_0" in sql
    assert "'tl'" not in sql  # values are bound, never inlined


def test_timeline_chart_draws_lift_bands_and_zero() -> None:
    timeline = cumulative(_hand_spec(), _frames(), metrics=["revenue", "per_session"])
    frame = timeline.to_frame()
    chart = charts.timeline_chart(frame, "revenue")
    spec = chart.to_dict()
    assert spec["title"] == "revenue: cumulative relative effect by day"
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "area", "line", "rule"]
    sequence, interval, line, zero = spec["layer"]
    assert (sequence["encoding"]["y"]["field"], sequence["encoding"]["y2"]["field"]) == ("seq_ci_low", "seq_ci_high")
    assert (interval["encoding"]["y"]["field"], interval["encoding"]["y2"]["field"]) == ("ci_low", "ci_high")
    assert sequence["mark"]["opacity"] < interval["mark"]["opacity"]  # the anytime-valid band is the lighter one
    assert line["encoding"]["y"]["field"] == "estimate"
    assert line["encoding"]["x"]["field"] == "day"
    assert zero["mark"]["strokeDash"] == [4, 4]
    assert zero["encoding"]["y"]["datum"] == 0
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 3
    assert {r["arm"] for r in rows} == {"treatment"}
    titled = charts.timeline_chart(frame, "per_session", arm="treatment", title="Per session").to_dict()
    assert titled["title"] == "Per session"
    assert all(r["seq_ci_low"] is None for r in next(iter(titled["datasets"].values())))  # no band, no inf
    unbounded = frame.assign(ci_high=np.where(frame["day"] == date(2026, 10, 1), np.inf, 0.5))
    drawn = next(iter(charts.timeline_chart(unbounded, "revenue").to_dict()["datasets"].values()))
    assert [r["ci_high"] is None for r in drawn] == [True, False, False]  # a gap, not an axis to infinity
    with pytest.raises(ParameterError, match=r"no rows for metric 'nope'; metrics: \['per_session', 'revenue'\]"):
        charts.timeline_chart(frame, "nope")
    with pytest.raises(ParameterError, match=r"needs columns seq_ci_low"):
        charts.timeline_chart(frame.drop(columns="seq_ci_low"), "revenue")
    revenue = frame[frame["metric"] == "revenue"]
    many = pd.concat([revenue] * (charts.MAX_ROWS // len(revenue) + 1), ignore_index=True)
    note = charts.timeline_chart(many, "revenue").to_dict()
    assert "Not drawn" in next(iter(note["datasets"].values()))[0]["note"]


def test_the_first_days_wide_bands_do_not_set_the_scale(spec: Experiment, con: abnb.Connection) -> None:
    frame = cumulative(spec, con).to_frame()
    chart = charts.timeline_chart(frame, "conversion").to_dict()
    low, high = chart["layer"][0]["encoding"]["y"]["scale"]["domain"]
    data = frame[frame["metric"] == "conversion"]
    days = sorted(set(data["day"]))
    later = data[data["day"] >= days[len(days) // 3]]
    expected_low = min(0.0, data["estimate"].min(), later["seq_ci_low"].min(), later["ci_low"].min())
    expected_high = max(0.0, data["estimate"].max(), later["seq_ci_high"].max(), later["ci_high"].max())
    pad = (expected_high - expected_low) * 0.05
    assert (low, high) == pytest.approx((expected_low - pad, expected_high + pad), rel=1e-12)
    assert data["seq_ci_low"].min() < low  # the first day's band runs past the axis (the marks clip)
    assert all(layer["mark"].get("clip") for layer in chart["layer"][:3])
