"""The aggregate query: unit-level tables, shifted sums, shared sums, validation, caps, windows, joint sums."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import abnb
from abnb.aggregate import (
    ExposureSource,
    aggregate,
    build_pilot_query,
    build_query,
    for_dialect,
    unit_values,
)
from abnb.errors import DataError, SchemaError, SpecError
from abnb.experiment import Experiment
from abnb.metrics import Column, Covariate, Metric, Sql
from abnb.stats import Moments, RatioMoments
from abnb.stats.joint import JointMoments

# Per-unit values of the sample experiment by an independent route (hand-written SQL), one row per unit.
UNIT_TABLE_SQL = """
CREATE TABLE users AS
WITH a AS (
    SELECT unit, min(ts) AS exposed_at, CASE WHEN count(DISTINCT arm) = 1 THEN min(arm) END AS arm,
           arg_min(country, ts) AS country, arg_min(platform, ts) AS platform
    FROM exposures WHERE experiment = 'checkout_redesign' AND ts < TIMESTAMP '2026-10-15' GROUP BY unit
), v AS (
    SELECT a.unit,
        sum(e.value) FILTER (WHERE e.event = 'purchase' AND e.ts >= a.exposed_at) AS revenue,
        sum(e.value) FILTER (WHERE e.event = 'purchase' AND e.ts < a.exposed_at) AS revenue_pre,
        count(*) FILTER (WHERE e.event = 'purchase' AND e.ts >= a.exposed_at) AS purchases,
        count(*) FILTER (WHERE e.event = 'session' AND e.ts >= a.exposed_at) AS sessions,
        count(*) FILTER (WHERE e.event = 'session' AND e.ts < a.exposed_at) AS sessions_pre
    FROM a JOIN events e ON e.unit = a.unit
    WHERE e.ts < TIMESTAMP '2026-10-15' AND e.ts >= a.exposed_at - INTERVAL 14 DAY
    GROUP BY a.unit
)
SELECT a.*, v.revenue, v.revenue_pre, v.purchases, v.sessions, v.sessions_pre FROM a LEFT JOIN v USING (unit)
"""


@pytest.fixture
def unit_con(sample_db: object) -> Iterator[abnb.Connection]:
    raw = duckdb.connect()
    raw.execute(f"ATTACH '{sample_db}' AS s (READ_ONLY)")
    raw.execute("USE s")
    raw.execute("ATTACH ':memory:' AS m")
    raw.execute(UNIT_TABLE_SQL.replace("CREATE TABLE users", "CREATE TABLE m.users"))
    raw.execute("USE m")
    raw.execute("CREATE VIEW exposures AS SELECT * FROM s.exposures")
    raw.execute("CREATE VIEW events AS SELECT * FROM s.events")
    with abnb.engine.as_connection(raw) as con:
        yield con


def _unit_spec(spec: Experiment) -> Experiment:
    metrics = (
        Metric("conversion", Column("purchases"), kind="proportion"),
        Metric("revenue", Column("revenue", covariate="revenue_pre")),
        Metric("sessions", Column("sessions", covariate="sessions_pre"), role="guardrail", margin=0.02),
        Metric("revenue_per_session", Column("revenue", denominator="sessions"), kind="ratio", role="secondary"),
    )
    source = ExposureSource(table="users", ts="exposed_at", experiment_column=None, level="unit")
    return dataclasses.replace(spec, metrics=metrics, exposures=source)


def _event_spec(spec: Experiment) -> Experiment:
    keep = {"conversion", "revenue", "sessions", "revenue_per_session"}
    metrics = tuple(
        dataclasses.replace(m, source=dataclasses.replace(m.source, covariate_days=None))
        if m.name == "conversion"
        else m
        for m in spec.metrics
        if m.name in keep
    )
    return dataclasses.replace(spec, metrics=metrics)


def test_unit_level_table_gives_the_event_level_analysis(unit_con: abnb.Connection, spec: Experiment) -> None:
    by_events = _event_spec(spec).analyze(unit_con, as_of="2026-10-14")
    by_units = _unit_spec(spec).analyze(unit_con, as_of="2026-10-14")
    assert by_units.excluded_units == by_events.excluded_units > 0
    assert by_units.units == by_events.units
    for metric in ("conversion", "revenue", "sessions", "revenue_per_session"):
        for view in ("absolute", "relative"):
            a, b = getattr(by_units.effect(metric), view), getattr(by_events.effect(metric), view)
            for field in ("estimate", "se", "ci_low", "ci_high", "pvalue"):
                assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-9, abs=1e-12), (metric, field)
    adjusted, reference = by_units.effect("revenue").adjusted, by_events.effect("revenue").adjusted
    assert adjusted is not None
    assert reference is not None
    assert adjusted.estimate == pytest.approx(reference.estimate, rel=1e-9)
    assert adjusted.pvalue == pytest.approx(reference.pvalue, rel=1e-9)
    assert by_units.segments.keys() == by_events.segments.keys()
    for key, cell in by_events.segments.items():
        for metric, arms in cell.items():
            for arm, moments in arms.items():
                other = by_units.segments[key][metric][arm]
                assert other.n == moments.n
                if isinstance(moments, Moments) and isinstance(other, Moments):
                    assert other.mean == pytest.approx(moments.mean, rel=1e-9, abs=1e-12)
                    assert other.variance == pytest.approx(moments.variance, rel=1e-9, abs=1e-12)


def test_unit_level_analysis_is_one_grouped_scan(unit_con: abnb.Connection, spec: Experiment) -> None:
    unit_spec = _unit_spec(spec)
    sql = build_query(unit_spec.exposures, unit_spec.metrics, unit_spec.segments, has_start=True).sql("duckdb")
    assert sql.count("GROUP BY") == 2  # the cells over the table, then the roll-up of the cells
    assert "JOIN" not in sql
    # metrics reading one column the same way share its sums (revenue as a mean, with and without covariate);
    # read differently (the unshifted numerator of a ratio) it gets its own
    shared = (*unit_spec.metrics, Metric("revenue_plain", Column("revenue"), role="secondary"))
    sql = build_query(unit_spec.exposures, shared, unit_spec.segments).sql("duckdb")
    assert sql.count('SUM(("u"."v1" - $shift_v1))') == 1
    assert sql.count('CAST("t"."revenue" AS DOUBLE)') == 2
    unit_con.queries_run = unit_con.rows_fetched = 0
    unit_spec.analyze(unit_con, as_of="2026-10-14")
    assert unit_con.queries_run == 2  # LIMIT 1 pilot + the scan
    assert unit_con.rows_fetched <= 1 + 3 * (1 + 5 + 3)  # pilot + (2 arms and the excluded) x levels


def _precision_table(values: np.ndarray, arms: np.ndarray) -> duckdb.DuckDBPyConnection:
    raw = duckdb.connect()
    raw.execute("CREATE TABLE t (unit INTEGER, arm VARCHAR, y DOUBLE, x DOUBLE, ts TIMESTAMP)")
    raw.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, TIMESTAMP '2026-10-02')",
        [(i, str(a), float(v), float(v) - 1e9) for i, (a, v) in enumerate(zip(arms, values, strict=True))],
    )
    return raw


@pytest.mark.parametrize("level", ["unit", "event"])
def test_sums_are_shifted_so_a_mean_of_1e9_with_sd_1_keeps_its_variance(level: str) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    values = 1e9 + rng.normal(0.0, 1.0, size=n)
    arms = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    raw = _precision_table(values, arms)
    if level == "unit":
        metric = Metric("y", Column("y"))
        source = ExposureSource(table="t", ts=None, experiment_column=None, level="unit")
    else:
        raw.execute("CREATE VIEW exposures AS SELECT unit, arm, TIMESTAMP '2026-10-01' AS ts FROM t")
        metric = Metric("y", Sql("SELECT unit, TIMESTAMP '2026-10-02' AS ts, y AS value FROM t"))
        source = ExposureSource(table="exposures", experiment_column=None)
    spec = Experiment(name="precision", metrics=(metric,), exposures=source)
    with abnb.engine.as_connection(raw) as con:
        result = spec.analyze(con, as_of="2026-10-05")
    for arm in ("control", "treatment"):
        moments = result.overall["y"][arm]
        sample = values[arms == arm]
        two_pass = float(np.sum((sample - sample.mean()) ** 2) / (sample.size - 1))
        assert moments.variance == pytest.approx(two_pass, rel=1e-9)
        assert moments.mean == pytest.approx(float(np.mean(sample)), rel=1e-15)
        # the same sums taken raw lose the variance entirely: what the shift is for
        raw_sums = moments.shifted(0.0)
        assert abs(raw_sums.variance - two_pass) / two_pass > 1e-3
    # the reference works on exactly centred values (subtracting 1e9 from values near 1e9 is exact in floating point)
    c, t = values[arms == "control"] - 1e9, values[arms == "treatment"] - 1e9
    reference = sps.ttest_ind(t, c, equal_var=False)
    assert result.effect("y").absolute.estimate == pytest.approx(t.mean() - c.mean(), rel=1e-9)
    assert result.effect("y").absolute.pvalue == pytest.approx(reference.pvalue, rel=1e-6)


def test_pilot_query_reads_one_row_per_shifted_column(spec: Experiment) -> None:
    unit_spec = _unit_spec(spec)
    pilot = build_pilot_query(unit_spec.exposures, unit_spec.metrics)
    assert pilot is not None
    sql = pilot.sql("duckdb")
    # revenue (shifted mean) with its covariate, sessions with its covariate; proportion and ratio are not shifted
    assert sql.count("LIMIT 1") == 4
    only_proportion = (Metric("c", Column("purchases"), kind="proportion"),)
    assert build_pilot_query(unit_spec.exposures, only_proportion) is None


def test_shifted_moments_are_the_same_statistics() -> None:
    rng = np.random.default_rng(3)
    y, x = rng.normal(50, 5, 300), rng.normal(20, 2, 300)
    raw = Moments.from_values(y, covariate=x)
    moved = raw.shifted(48.0, 21.0)
    assert moved.sum == pytest.approx(float(np.sum(y - 48.0)), rel=1e-12)
    assert moved.xy_sum == pytest.approx(float(np.sum((x - 21.0) * (y - 48.0))), rel=1e-12)
    for name in ("mean", "variance", "x_mean", "x_variance", "covariance"):
        assert getattr(moved, name) == pytest.approx(getattr(raw, name), rel=1e-12)
    # adding moments around different shifts re-centres the second on the first's shifts
    a, b = Moments.from_values(y[:100], covariate=x[:100]).shifted(50.0, 20.0), Moments.from_values(y[100:], x[100:])
    total = a + b
    assert total.shift == 50.0
    assert total.variance == pytest.approx(float(np.var(y, ddof=1)), rel=1e-12)
    assert total.covariance == pytest.approx(float(np.cov(x, y, ddof=1)[0, 1]), rel=1e-12)


def test_cuped_is_invariant_to_the_shift() -> None:
    rng = np.random.default_rng(11)
    x_c, x_t = rng.normal(10, 2, 500), rng.normal(10, 2, 500)
    y_c, y_t = 3 + x_c + rng.normal(0, 1, 500), 3.2 + x_t + rng.normal(0, 1, 500)
    c, t = Moments.from_values(y_c, covariate=x_c), Moments.from_values(y_t, covariate=x_t)
    plain = abnb.stats.cuped(c, t)
    shifted = abnb.stats.cuped(c.shifted(13.0, 10.0), t.shifted(12.0, 9.0))
    for field in ("estimate", "se", "pvalue", "ci_low", "ci_high", "theta"):
        assert getattr(shifted, field) == pytest.approx(getattr(plain, field), rel=1e-9)


def test_proportions_take_no_shift() -> None:
    with pytest.raises(abnb.errors.ParameterError, match="take no shift"):
        Moments(n=10, sum=3, sum_sq=3, proportion=True, shift=1.0)


def test_unit_level_specs_are_checked(spec: Experiment) -> None:
    source = ExposureSource(table="users", ts=None, experiment_column=None, level="unit")
    with pytest.raises(SpecError, match="have SQL; at unit level"):
        dataclasses.replace(spec, exposures=source)
    with pytest.raises(SpecError, match='level = "unit"'):
        dataclasses.replace(spec, metrics=(Metric("r", Column("revenue")),))
    with pytest.raises(SpecError, match="takes no covariate_days"):
        Metric.from_dict({"name": "r", "column": "revenue", "covariate_days": 14})
    with pytest.raises(SpecError, match="needs `denominator_column`"):
        Metric("r", Column("revenue"), kind="ratio")
    with pytest.raises(SpecError, match="aggregate 'count' does not apply"):
        Metric("r", Column("revenue"), aggregate="count")
    with pytest.raises(SpecError, match="not a valid identifier"):
        Metric("r", Column("revenue; DROP TABLE users"))
    with pytest.raises(SpecError, match="level 'rows' is not one of"):
        ExposureSource(level="rows")
    with pytest.raises(SpecError, match="event level need a `ts`"):
        ExposureSource(ts=None)
    assert ExposureSource(table="users", ts="", experiment_column="", level="unit").experiment_column is None
    loaded = Experiment.from_dict(
        {
            "name": "users",
            "exposures": {"table": "users", "ts": "", "experiment_column": "", "level": "unit"},
            "metrics": [{"name": "revenue", "column": "revenue", "covariate_column": "revenue_pre"}],
        }
    )
    assert loaded.metrics[0].has_covariate
    assert loaded.exposures.level == "unit"


def test_a_missing_unit_level_column_names_table_and_column(unit_con: abnb.Connection, spec: Experiment) -> None:
    broken = dataclasses.replace(_unit_spec(spec), metrics=(Metric("revenue", Column("revenu")),))
    with pytest.raises(SchemaError, match="revenu"):
        broken.analyze(unit_con, as_of="2026-10-14")


def test_distributions_at_unit_level_sample_the_column(unit_con: abnb.Connection, spec: Experiment) -> None:
    unit_spec = _unit_spec(spec)
    unit_spec = dataclasses.replace(
        unit_spec, metrics=(dataclasses.replace(unit_spec.metrics[1], quantiles=(0.9, 0.95, 0.99)),)
    )
    (comparison,) = unit_spec.distributions(unit_con, "revenue", as_of="2026-10-14", limit=500)
    event_level = _event_spec(spec)
    (reference,) = event_level.distributions(unit_con, "revenue", as_of="2026-10-14", limit=500)
    assert comparison.sampled
    assert reference.sampled
    frame, other = comparison.to_frame(), reference.to_frame()
    assert frame["estimate"].tolist() == pytest.approx(other["estimate"].tolist(), rel=1e-9)


def test_metrics_over_one_table_share_one_scan(con: abnb.Connection, spec: Experiment) -> None:
    sql = build_query(spec.exposures, spec.metrics, spec.segments).sql("duckdb")
    assert sql.count('FROM "#assignment" AS "a" JOIN (') == 1  # five metrics and a denominator: one pass over events
    # a metric whose SQL aggregates or joins cannot share it and gets its own pass
    grouped = Metric(
        "purchase_days",
        Sql(
            "SELECT unit, min(ts) AS ts, count(*) AS value FROM events WHERE event = 'purchase' GROUP BY unit, ts::DATE"
        ),
        role="secondary",
    )
    mixed = dataclasses.replace(spec, metrics=(*spec.metrics, grouped))
    sql = build_query(mixed.exposures, mixed.metrics, mixed.segments).sql("duckdb")
    assert sql.count('FROM "#assignment" AS "a" JOIN (') == 2
    together = mixed.analyze(con)
    for metric in mixed.metrics:  # each metric alone, unfused, gives the same numbers
        alone = dataclasses.replace(mixed, metrics=(metric,), correction="none").analyze(con)
        a, b = together.effect(metric.name), alone.effect(metric.name)
        assert a.absolute.estimate == pytest.approx(b.absolute.estimate, rel=1e-9, abs=1e-12)
        assert a.absolute.se == pytest.approx(b.absolute.se, rel=1e-9)
        if a.adjusted is not None and b.adjusted is not None:
            assert a.adjusted.estimate == pytest.approx(b.adjusted.estimate, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# Capping, conversion windows and joint moments, against pandas on the raw rows of a small generated dataset

START = pd.Timestamp("2026-10-01")
RAW_AS_OF = datetime(2026, 10, 13)
EVENTS = "SELECT unit, ts, value FROM events"
CAPPED_METRICS = (
    Metric(
        "revenue",
        Sql(
            f"{EVENTS} WHERE event = 'purchase'",
            covariate_days=14,
            window_hours=36,
            covariates=(
                Covariate("pre_sessions", f"{EVENTS} WHERE event = 'session'", days=7, aggregate="count"),
                Covariate("predicted", "SELECT unit, value FROM predictions"),
            ),
        ),
        cap_quantile=0.9,
    ),
    Metric(
        "sessions",
        Sql(f"{EVENTS} WHERE event = 'session'", covariate_days=7, window_hours=48.5),
        aggregate="count",
        cap=5,
    ),
    Metric(
        "rps",
        Sql(
            f"{EVENTS} WHERE event = 'purchase'",
            denominator=f"{EVENTS} WHERE event = 'session'",
            denominator_aggregate="count",
            covariate_days=14,
            window_hours=72,
        ),
        kind="ratio",
        cap=300.0,
    ),
    Metric("converted", Sql(f"{EVENTS} WHERE event = 'purchase'", window_hours=24), kind="proportion"),
    Metric("biggest", Sql(f"{EVENTS} WHERE event = 'purchase'", window_hours=36), aggregate="max", cap_quantile=0.75),
)
RAW_SOURCE = ExposureSource(table="exposures", experiment_column=None)


def raw_frames(seed: int = 3, n: int = 1500) -> dict[str, pd.DataFrame]:
    """Exposures (some units in both arms, some exposed twice), events around exposure, model predictions."""
    rng = np.random.default_rng(seed)
    units = np.arange(n)
    exposed = START + pd.to_timedelta(rng.uniform(0, 5 * 24, n), unit="h").round("us")
    exposures = pd.DataFrame(
        {
            "unit": units,
            "arm": rng.choice(["control", "treatment"], n),
            "ts": exposed,
            "country": rng.choice(["de", "fr", "us"], n),
        }
    )
    again = exposures.sample(frac=0.1, random_state=seed).assign(ts=lambda f: f["ts"] + pd.Timedelta(hours=30))
    switched = exposures.sample(frac=0.03, random_state=seed + 1).assign(
        ts=lambda f: f["ts"] + pd.Timedelta(hours=2),
        arm=lambda f: np.where(f["arm"] == "control", "treatment", "control"),
    )
    exposures = pd.concat([exposures, again.assign(country="later"), switched], ignore_index=True)
    before, after = rng.poisson(6, n), rng.poisson(5, n)  # rows before exposure, and after it (most soon after)
    owner = np.concatenate([np.repeat(units, before), np.repeat(units, after)])
    hours = np.concatenate([rng.uniform(-20 * 24, 0, before.sum()), rng.exponential(40, after.sum())])
    offset = pd.to_timedelta(hours, unit="h").round("us")
    purchase = rng.random(owner.size) < 0.3
    spend = np.where(purchase, rng.lognormal(3.0, 1.2, owner.size) * (1 + (owner % 7) / 3), 1.0)
    events = pd.DataFrame(
        {
            "unit": owner,
            "ts": exposed[owner] + offset,
            "event": np.where(purchase, "purchase", "session"),
            "value": spend,
        }
    )
    edges = pd.DataFrame(  # window edges: at exposure counts, at exposure + window does not
        {
            "unit": [0, 0, 1, 1],
            "ts": [exposed[0], exposed[0] + pd.Timedelta(hours=36), exposed[1], exposed[1] + pd.Timedelta(hours=24)],
            "event": ["purchase"] * 4,
            "value": [11.0, 13.0, 17.0, 19.0],
        }
    )
    events = pd.concat([events, edges], ignore_index=True)
    known = units[rng.random(n) < 0.9]
    predictions = pd.DataFrame({"unit": known, "value": 50 + 0.5 * (known % 7) * 10 + rng.normal(0, 5, known.size)})
    return {"exposures": exposures, "events": events, "predictions": predictions}


def raw_connection(frames: dict[str, pd.DataFrame]) -> abnb.Connection:
    raw = duckdb.connect()
    for name, frame in frames.items():
        raw.register(f"{name}_frame", frame)
        raw.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_frame")
    return abnb.engine.as_connection(raw)


def _reduce(rows: pd.DataFrame, index: pd.Index, how: str) -> pd.Series:
    grouped = rows.groupby("unit")["value"]
    reduced = {"sum": grouped.sum, "count": grouped.size, "max": grouped.max}[how]() if len(rows) else pd.Series()
    return reduced.reindex(index).fillna(0.0).astype(float)


def reference_units(frames: dict[str, pd.DataFrame], as_of: datetime = RAW_AS_OF) -> pd.DataFrame:
    """Per unit (pandas, from the raw rows): arm, country and every variable of CAPPED_METRICS, uncapped."""
    exposures = frames["exposures"].sort_values("ts")
    exposures = exposures[exposures["ts"] < as_of]
    first = exposures.groupby("unit").agg(exposed_at=("ts", "min"), country=("country", "first"))
    arms = exposures.groupby("unit")["arm"].agg(lambda a: a.iloc[0] if a.nunique() == 1 else None)
    units = first.assign(arm=arms)
    events = frames["events"].merge(units[["exposed_at"]], left_on="unit", right_index=True)
    events = events[events["ts"] < as_of]
    after = events["ts"] >= events["exposed_at"]

    def within(hours: float) -> pd.Series:
        return after & (events["ts"] < events["exposed_at"] + pd.Timedelta(hours=hours))

    def before(days: int) -> pd.Series:
        return (events["ts"] < events["exposed_at"]) & (events["ts"] >= events["exposed_at"] - pd.Timedelta(days=days))

    purchase, session = events["event"] == "purchase", events["event"] == "session"
    out = units.copy()
    out["revenue_y"] = _reduce(events[purchase & within(36)], units.index, "sum")
    out["revenue_x"] = _reduce(events[purchase & before(14)], units.index, "sum")
    out["revenue_pre_sessions"] = _reduce(events[session & before(7)], units.index, "count")
    out["revenue_predicted"] = frames["predictions"].set_index("unit")["value"].reindex(units.index).fillna(0.0)
    out["sessions_y"] = _reduce(events[session & within(48.5)], units.index, "count")
    out["sessions_x"] = _reduce(events[session & before(7)], units.index, "count")
    out["rps_y"] = _reduce(events[purchase & within(72)], units.index, "sum")
    out["rps_d"] = _reduce(events[session & within(72)], units.index, "count")
    out["rps_x"] = _reduce(events[purchase & before(14)], units.index, "sum")
    out["rps_w"] = _reduce(events[session & before(14)], units.index, "count")
    out["converted_y"] = (_reduce(events[purchase & within(24)], units.index, "max") > 0).astype(float)
    out["biggest_y"] = _reduce(events[purchase & within(36)], units.index, "max")
    return out


def reference_caps(units: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The caps of CAPPED_METRICS: numpy's (linear) percentile over the units in a single arm, or the fixed cap."""
    single = units[units["arm"].notna()]

    def quantile(column: str, q: float) -> float:
        return float(np.percentile(single[column].to_numpy(), 100 * q))

    revenue = {v: quantile(f"revenue_{v}", 0.9) for v in ("y", "x", "pre_sessions", "predicted")}
    return {
        "revenue": revenue,
        "sessions": {"y": 5.0, "x": 5.0},
        "rps": {"y": 300.0, "x": 300.0},
        "biggest": {"y": quantile("biggest_y", 0.75)},
    }


def capped_reference(units: pd.DataFrame) -> pd.DataFrame:
    capped = units.copy()
    for metric, caps in reference_caps(units).items():
        for variable, cap in caps.items():
            capped[f"{metric}_{variable}"] = np.minimum(capped[f"{metric}_{variable}"], cap)
    return capped


def _assert_joint(actual: JointMoments, values: pd.DataFrame, metric: Metric) -> None:
    expected = JointMoments.from_values(
        {v: values[f"{metric.name}_{v}"].to_numpy() for v in metric.variables}, proportion=metric.kind == "proportion"
    )
    assert actual.names == metric.variables
    assert actual.n == expected.n
    assert actual.means == pytest.approx(expected.means, rel=1e-9, abs=1e-12)
    assert actual.covariance() == pytest.approx(expected.covariance(), rel=1e-9, abs=1e-9)
    raw, reference = actual.shifted((0.0,) * len(actual.names)), expected.shifted((0.0,) * len(actual.names))
    assert raw.sums == pytest.approx(reference.sums, rel=1e-9, abs=1e-9)
    assert np.asarray(raw.cross) == pytest.approx(np.asarray(reference.cross), rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def raw_data() -> dict[str, pd.DataFrame]:
    return raw_frames()


def test_caps_windows_and_joint_moments_equal_pandas_on_the_raw_rows(raw_data: dict[str, pd.DataFrame]) -> None:
    units = reference_units(raw_data)
    assert units["arm"].isna().sum() > 10  # units in both arms: left out of the quantiles and the comparison
    capped = capped_reference(units)
    with raw_connection(raw_data) as con:
        aggregates = aggregate(con, RAW_SOURCE, CAPPED_METRICS, ("country",), as_of=RAW_AS_OF)
        assert con.queries_run == 2  # the LIMIT 1 pilot and the one scan
    expected_caps = reference_caps(units)
    for metric, caps in expected_caps.items():  # every cap moves some units' values
        assert all((units[f"{metric}_{variable}"] > cap).sum() >= 5 for variable, cap in caps.items()), metric
    assert aggregates.caps.keys() == expected_caps.keys()
    for metric, caps in expected_caps.items():
        assert aggregates.caps[metric] == pytest.approx(caps, rel=1e-9), metric
    for metric in CAPPED_METRICS:
        for arm in ("control", "treatment"):
            _assert_joint(aggregates.joint[metric.name][arm], capped[capped["arm"] == arm], metric)
            for country in ("de", "fr", "us"):
                cell = capped[(capped["arm"] == arm) & (capped["country"] == country)]
                _assert_joint(aggregates.joint_segments["country", country][metric.name][arm], cell, metric)


def test_the_old_outputs_are_the_joint_moments_two_variables_at_a_time(raw_data: dict[str, pd.DataFrame]) -> None:
    with raw_connection(raw_data) as con:
        aggregates = aggregate(con, RAW_SOURCE, CAPPED_METRICS, ("country",), as_of=RAW_AS_OF)
    for metric in CAPPED_METRICS:
        for arm, joint in aggregates.joint[metric.name].items():
            old = aggregates.overall[metric.name][arm]
            if metric.kind == "ratio":
                assert old == joint.to_ratio()
            else:
                assert old == joint.to_moments("y", "x" if metric.has_covariate else None)


def test_the_sample_analysis_returns_joint_moments_at_no_extra_cost(con: abnb.Connection, spec: Experiment) -> None:
    query = build_query(spec.exposures, spec.metrics, spec.segments, has_start=True)
    assert not any(e.alias_or_name.startswith("j") for e in query.expressions)  # every joint sum is an old sum
    aggregates = aggregate(
        con, spec.exposures, spec.metrics, spec.segments, as_of=datetime(2026, 10, 15), experiment=spec.name
    )
    assert aggregates.caps == {}
    for metric in spec.metrics:
        for arm in spec.arms:
            joint, old = aggregates.joint[metric.name][arm], aggregates.overall[metric.name][arm]
            assert joint.names == metric.variables
            if isinstance(old, RatioMoments):
                assert joint.to_ratio() == old
            else:
                assert joint.to_moments("y", "x" if metric.has_covariate else None) == old
        for key, cell in aggregates.segments.items():
            for arm, old in cell[metric.name].items():
                joint = aggregates.joint_segments[key][metric.name][arm]
                assert (joint.to_ratio() if isinstance(old, RatioMoments) else joint.to_moments("y")).n == old.n


def test_windows_and_covariates_join_the_fused_scan(raw_data: dict[str, pd.DataFrame]) -> None:
    sql = build_query(RAW_SOURCE, CAPPED_METRICS, ("country",)).sql("duckdb")
    assert sql.count('FROM "#assignment" AS "a" JOIN (') == 2  # every events SQL in one pass; the predictions
    assert sql.count("MICROSECOND") == 6  # one window per windowed value (revenue, sessions, rps and d, ...)
    assert sql.count("QUANTILE_CONT") == 5
    assert "$cap_1" in sql
    assert "$cap_quantile_0" in sql
    spark = for_dialect(build_query(RAW_SOURCE, CAPPED_METRICS, ("country",)), "spark").sql("spark")
    assert "PERCENTILE(" in spark
    assert "PERCENTILE_CONT" not in spark
    assert "PERCENTILE_APPROX" not in spark


def test_a_window_counts_rows_from_exposure_to_just_before_its_end() -> None:
    exposed = pd.Timestamp("2026-10-02 10:00")
    hour = pd.Timedelta(hours=1)
    frames = {
        "exposures": pd.DataFrame({"unit": [1, 2], "arm": ["control", "control"], "ts": [exposed, exposed]}),
        "events": pd.DataFrame(
            {
                "unit": [1, 1, 1, 1, 2],
                "ts": [
                    exposed,
                    exposed + 2 * hour - pd.Timedelta(microseconds=1),
                    exposed + 2 * hour,
                    exposed - hour,
                    exposed + 3 * hour,
                ],
                "event": ["purchase"] * 5,
                "value": [1.0, 10.0, 100.0, 1000.0, 5.0],
            }
        ),
    }
    windowed = Metric("w", Sql(f"{EVENTS} WHERE event = 'purchase'", window_hours=2, covariate_days=1))
    counted = Metric("c", Sql(f"{EVENTS} WHERE event = 'purchase'", window_hours=2.5), aggregate="count")
    with raw_connection(frames) as con:
        for metric, expected in ((windowed, [11.0, 0.0]), (counted, [3.0, 0.0])):
            values = unit_values(con, RAW_SOURCE, metric, arm="control", as_of=RAW_AS_OF)
            assert sorted(values) == sorted(expected), metric.name
        aggregates = aggregate(con, RAW_SOURCE, (windowed, counted), as_of=RAW_AS_OF)
    joint = aggregates.joint["w"]["control"]
    assert joint.mean("y") == 5.5
    assert joint.mean("x") == 500.0  # the pre-period is not windowed


def test_a_capped_metric_samples_capped_values(raw_data: dict[str, pd.DataFrame]) -> None:
    metric = CAPPED_METRICS[0]
    cap = reference_caps(reference_units(raw_data))["revenue"]["y"]
    with raw_connection(raw_data) as con:
        values = unit_values(con, RAW_SOURCE, metric, arm="control", as_of=RAW_AS_OF, limit=10_000)
    assert max(values) == pytest.approx(cap, rel=1e-9)
    assert sum(v == pytest.approx(cap) for v in values) > 10


def test_unit_level_caps_and_covariate_columns_equal_pandas(raw_data: dict[str, pd.DataFrame]) -> None:
    units = reference_units(raw_data).reset_index()
    columns = ["unit", "arm", "country", "revenue_y", "revenue_x", "revenue_pre_sessions", "revenue_predicted"]
    table = units[columns].rename(columns=lambda c: c.removeprefix("revenue_"))
    raw = duckdb.connect()
    raw.register("t_frame", table)
    raw.execute("CREATE TABLE users AS SELECT * FROM t_frame")
    metric = Metric("revenue", Column("y", covariate="x", covariates=["pre_sessions", "predicted"]), cap_quantile=0.9)
    source = ExposureSource(table="users", ts=None, experiment_column=None, level="unit")
    with abnb.engine.as_connection(raw) as con:
        aggregates = aggregate(con, source, (metric,), ("country",), as_of=RAW_AS_OF)
    caps = reference_caps(units.set_index("unit"))["revenue"]
    assert aggregates.caps["revenue"] == pytest.approx(caps, rel=1e-9)
    capped = capped_reference(units.set_index("unit"))
    for arm in ("control", "treatment"):
        joint = aggregates.joint["revenue"][arm]
        assert joint.names == ("y", "x", "pre_sessions", "predicted")
        expected = capped[capped["arm"] == arm].rename(columns=lambda c: c.replace("revenue_", "revenue_", 1))
        _assert_joint(
            joint,
            expected,
            dataclasses.replace(
                CAPPED_METRICS[0], source=dataclasses.replace(CAPPED_METRICS[0].source, window_hours=None)
            ),
        )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"cap": 0}, r"`cap` of metric 'm' must be a finite number > 0"),
        ({"cap": float("inf")}, r"`cap` of metric 'm' must be a finite number > 0"),
        ({"cap": True}, r"`cap` of metric 'm'"),
        ({"cap_quantile": 1.0}, r"`cap_quantile` of metric 'm' is a quantile level in \(0, 1\)"),
        ({"cap": 5, "cap_quantile": 0.9}, "both `cap` and `cap_quantile`"),
        ({"kind": "proportion", "cap": 5}, "`cap` does not apply to a proportion"),
        ({"aggregate": "any", "cap_quantile": 0.9}, "`cap_quantile` does not apply"),
        ({"window_hours": -1}, r"`window_hours` of metric 'm' must be a finite number > 0"),
        ({"window_hours": float("nan")}, r"`window_hours` of metric 'm'"),
        (
            {"covariates": [{"name": "x", "sql": EVENTS}]},
            r"metric 'm', key `covariates`: covariate name 'x' is reserved",
        ),
        ({"covariates": [{"name": "a b", "sql": EVENTS}]}, r"key `covariates`: .*not a valid identifier"),
        ({"covariates": [{"name": "a", "sql": EVENTS, "days": 0}]}, r"`days` of covariate 'a' must be a whole number"),
        ({"covariates": [{"name": "a", "sql": EVENTS, "window": 3}]}, r"covariate 'a' has unknown key\(s\) window"),
        ({"covariates": [{"name": "a", "sql": "SELEC 1"}]}, r"the SQL of covariate 'a' does not parse"),
        ({"covariates": [{"name": "a", "sql": EVENTS, "aggregate": "mean"}]}, "unknown aggregate 'mean'"),
        ({"covariates": [{"name": "a", "sql": EVENTS}] * 2}, "'a' appear"),
        ({"covariates": ["pre"]}, "must be a table"),
        ({"covariates": {"name": "a"}}, "must be an array"),
        ({"covariate_columns": ["a"]}, "`covariate_columns` go with `column`"),
        (
            {"kind": "ratio", "denominator_sql": EVENTS, "covariates": [{"name": "a", "sql": EVENTS}]},
            "`covariates` is not supported for ratio metrics",
        ),
    ],
)
def test_new_metric_keys_are_validated(changes: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        Metric.from_dict({"name": "m", "sql": EVENTS, **changes})


def test_new_keys_at_unit_level_and_in_specs() -> None:
    with pytest.raises(SpecError, match="`window_hours` needs event rows"):
        Metric.from_dict({"name": "m", "column": "y", "window_hours": 24})
    with pytest.raises(SpecError, match="name its covariates with `covariate_columns`"):
        Metric.from_dict({"name": "m", "column": "y", "covariates": [{"name": "a", "sql": EVENTS}]})
    with pytest.raises(SpecError, match="'x' appear"):
        Metric("m", Column("y", covariate="a", covariates=["x"]))
    with pytest.raises(SpecError, match="`covariate_column` is not supported for ratio"):
        Metric("m", Column("y", denominator="d", covariate="a"), kind="ratio")
    with pytest.raises(SpecError, match="not a valid identifier"):
        Metric("m", Column("y", covariates=["a; DROP"]))
    ratio_cuped = Metric("r", Sql(EVENTS, denominator=EVENTS, covariate_days=14), kind="ratio")
    assert ratio_cuped.variables == ("y", "d", "x", "w")
    assert ratio_cuped.adjusted_by == ("x", "w")
    assert ratio_cuped.denominator is not None
    assert ratio_cuped.denominator.covariate_days == 14
    metric = CAPPED_METRICS[0]
    assert metric.variables == ("y", "x", "pre_sessions", "predicted")
    assert Metric.from_dict(metric.to_dict()) == metric
    assert json.loads(json.dumps(metric.to_dict()))["covariates"][0]["days"] == 7
    assert "capped at the P90" in metric.describe()
    loaded = Experiment.from_dict(
        {
            "name": "e",
            "metrics": [
                {
                    "name": "revenue",
                    "sql": EVENTS,
                    "cap_quantile": 0.99,
                    "window_hours": 72,
                    "covariates": [{"name": "predicted", "sql": "SELECT unit, value FROM predictions"}],
                }
            ],
        }
    )
    assert loaded.metrics[0].covariates[0].windowed is False
    with pytest.raises(SpecError, match=r"spec: metric 'revenue' has unknown key\(s\) caps"):
        Experiment.from_dict({"name": "e", "metrics": [{"name": "revenue", "sql": EVENTS, "caps": 3}]})


def test_a_covariates_sql_is_checked_without_a_scan(raw_data: dict[str, pd.DataFrame]) -> None:
    bad = [
        (Covariate("a", "SELECT unit, ts, value FROM predictions_missing", days=3), "predictions_missing"),
        (Covariate("a", "SELECT unit, ts AS t, value FROM events", days=3), r"missing: ts"),
        (Covariate("a", "SELECT unit, event AS value FROM events"), "must be numeric"),
        (Covariate("a", "SELECT unit, value, value AS ts FROM events", days=3), "needs a TIMESTAMP"),
    ]
    with raw_connection(raw_data) as con:
        for covariate, match in bad:
            metric = Metric("m", Sql(EVENTS, covariates=(covariate,)))
            with pytest.raises(SchemaError, match=match):
                aggregate(con, RAW_SOURCE, (metric,), as_of=RAW_AS_OF)


def test_the_incremental_store_refuses_the_new_keys() -> None:
    from abnb.incremental import _check_spec

    base = Metric("m", Sql(EVENTS))
    for changes, key in (
        ({"cap": 3.0}, "`cap`"),
        ({"cap_quantile": 0.99}, "`cap_quantile`"),
        ({"window_hours": 24}, "`window_hours`"),
        ({"covariates": [{"name": "p", "sql": "SELECT unit, value FROM predictions"}]}, "`covariates`"),
        ({"kind": "ratio", "denominator_sql": EVENTS, "covariate_days": 7}, r"`covariate_days \(ratio CUPED\)`"),
    ):
        spec = Experiment(name="e", metrics=(Metric.from_dict({"name": "m", "sql": EVENTS, **changes}),))
        with pytest.raises(SpecError, match=f"uses {key}.*run without --incremental"):
            _check_spec(spec)
    _check_spec(Experiment(name="e", metrics=(base,)))


def test_a_nan_covariate_names_the_metric(raw_data: dict[str, pd.DataFrame]) -> None:
    metric = Metric("revenue", Sql(f"{EVENTS} WHERE event = 'purchase'", covariates=CAPPED_METRICS[0].covariates[1:]))
    with raw_connection(raw_data) as con:
        con.execute("UPDATE predictions SET value = 'NaN'::DOUBLE WHERE unit = 5")
        with pytest.raises(DataError, match=r"metric 'revenue' has NaN.*covariates' SQL"):
            aggregate(con, RAW_SOURCE, (metric,), as_of=RAW_AS_OF)
