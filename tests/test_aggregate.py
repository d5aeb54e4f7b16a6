"""The aggregate query: unit-level tables, shifted sums (precision), shared sums, validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import duckdb
import numpy as np
import pytest
from scipy import stats as sps

import abnb
from abnb.aggregate import ExposureSource, build_pilot_query, build_query
from abnb.errors import SchemaError, SpecError
from abnb.experiment import Experiment
from abnb.metrics import Metric
from abnb.stats import Moments

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
        Metric("conversion", column="purchases", kind="proportion"),
        Metric("revenue", column="revenue", covariate_column="revenue_pre"),
        Metric("sessions", column="sessions", covariate_column="sessions_pre", role="guardrail", margin=0.02),
        Metric("revenue_per_session", column="revenue", kind="ratio", denominator_column="sessions", role="secondary"),
    )
    source = ExposureSource(table="users", ts="exposed_at", experiment_column=None, level="unit")
    return dataclasses.replace(spec, metrics=metrics, exposures=source)


def _event_spec(spec: Experiment) -> Experiment:
    keep = {"conversion", "revenue", "sessions", "revenue_per_session"}
    metrics = tuple(
        dataclasses.replace(m, covariate_days=None) if m.name == "conversion" else m
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
    shared = (*unit_spec.metrics, Metric("revenue_plain", column="revenue", role="secondary"))
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
        metric = Metric("y", column="y")
        source = ExposureSource(table="t", ts=None, experiment_column=None, level="unit")
    else:
        raw.execute("CREATE VIEW exposures AS SELECT unit, arm, TIMESTAMP '2026-10-01' AS ts FROM t")
        metric = Metric("y", "SELECT unit, TIMESTAMP '2026-10-02' AS ts, y AS value FROM t")
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
    only_proportion = (Metric("c", column="purchases", kind="proportion"),)
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
        dataclasses.replace(spec, metrics=(Metric("r", column="revenue"),))
    with pytest.raises(SpecError, match="takes no covariate_days"):
        Metric("r", column="revenue", covariate_days=14)
    with pytest.raises(SpecError, match="needs `denominator_column`"):
        Metric("r", column="revenue", kind="ratio")
    with pytest.raises(SpecError, match="aggregate 'count' does not apply"):
        Metric("r", column="revenue", aggregate="count")
    with pytest.raises(SpecError, match="not a valid identifier"):
        Metric("r", column="revenue; DROP TABLE users")
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
    broken = dataclasses.replace(_unit_spec(spec), metrics=(Metric("revenue", column="revenu"),))
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
    assert sql.count('FROM "assignment" AS "a" JOIN (') == 1  # five metrics and a denominator: one pass over events
    # a metric whose SQL aggregates or joins cannot share it and gets its own pass
    grouped = Metric(
        "purchase_days",
        "SELECT unit, min(ts) AS ts, count(*) AS value FROM events WHERE event = 'purchase' GROUP BY unit, ts::DATE",
        role="secondary",
    )
    mixed = dataclasses.replace(spec, metrics=(*spec.metrics, grouped))
    sql = build_query(mixed.exposures, mixed.metrics, mixed.segments).sql("duckdb")
    assert sql.count('FROM "assignment" AS "a" JOIN (') == 2
    together = mixed.analyze(con)
    for metric in mixed.metrics:  # each metric alone, unfused, gives the same numbers
        alone = dataclasses.replace(mixed, metrics=(metric,), correction="none").analyze(con)
        a, b = together.effect(metric.name), alone.effect(metric.name)
        assert a.absolute.estimate == pytest.approx(b.absolute.estimate, rel=1e-9, abs=1e-12)
        assert a.absolute.se == pytest.approx(b.absolute.se, rel=1e-9)
        if a.adjusted is not None and b.adjusted is not None:
            assert a.adjusted.estimate == pytest.approx(b.adjusted.estimate, rel=1e-9, abs=1e-12)
