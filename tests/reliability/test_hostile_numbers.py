"""Hostile numbers and names (issue 15, item 6 W5 and items 9-10): one test per case of the hostile-cases table.

Each test asserts the numbers of an independent computation (numpy / scipy / pandas on the same rows, or the same
analysis without the hostile twist) to 1e-9, or a clear ``AbnbError`` naming the input and the fix.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sqlglot import exp

import abnb
from abnb.aggregate import (
    MISSING,
    Aggregates,
    ExposureSource,
    aggregate,
    build_pilot_query,
    build_query,
    build_sample_query,
)
from abnb.charts import MAX_ROWS, segments_chart
from abnb.engine import validate_identifier
from abnb.errors import DataError, ParameterError, SpecError
from abnb.experiment import Experiment
from abnb.metrics import Column, Metric, Sql
from abnb.stats import Moments, RatioMoments, welch
from abnb.stats.sequential import confidence_sequence
from tests.test_aggregate import CAPPED_METRICS, RAW_AS_OF, raw_frames

# ---------------------------------------------------------------------------------------------------------------
# W5: internal names never collide with user names

UNIT_METRICS = (
    Metric("mean_y", Column("y", covariate="x"), cap_quantile=0.9),
    Metric("ratio_y", Column("y", denominator="d"), kind="ratio"),
    Metric("any_y", Column("y"), kind="proportion", aggregate="any"),
    Metric("capped", Column("x", covariates=("d",)), cap=30.0),
)


def _unit_source(table: str = "users", **kwargs: Any) -> ExposureSource:
    return ExposureSource(table=table, experiment_column=None, level="unit", ts=None, **kwargs)


def _internal_names() -> list[str]:
    """Every identifier the query builder emits for event- and unit-level analyses that a user could also write."""
    event = ExposureSource(table="exposures", experiment_column=None)
    queries: list[exp.Expression | None] = [
        build_query(event, CAPPED_METRICS, ("code",), has_start=True),
        build_pilot_query(event, CAPPED_METRICS),
        build_query(_unit_source(), UNIT_METRICS, ("code",)),
        build_pilot_query(_unit_source(), UNIT_METRICS),
        *[build_sample_query(event, m) for m in CAPPED_METRICS],
        build_sample_query(_unit_source(), UNIT_METRICS[0]),
    ]
    users = {"exposures", "events", "predictions", "users", "code", "event", "y", "x", "d"}
    found = {i.name for q in queries if q is not None for i in q.find_all(exp.Identifier)}
    names = []
    for name in sorted(found - users):
        try:
            names.append(validate_identifier(name, "name"))
        except SpecError:
            continue
    return names


def _numbers(m: Moments | RatioMoments) -> tuple[float, ...]:
    """A cell's sufficient statistics, unshifted (shifts depend on which row the engine reads first)."""
    if isinstance(m, RatioMoments):
        return (m.n, m.y_sum, m.y_sum_sq, m.d_sum, m.d_sum_sq, m.yd_sum)
    raw = m.shifted(0.0, 0.0 if m.x_sum is not None else None)
    return (raw.n, raw.sum, raw.sum_sq, *(v for v in (raw.x_sum, raw.x_sum_sq, raw.xy_sum) if v is not None))


def _flat(aggregates: Aggregates, metric: str, segment: str) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """One metric's numbers: per arm overall and per level of one segment, its caps, the units per arm."""
    flat: dict[tuple[Any, ...], tuple[float, ...]] = {}
    for arm, moments in aggregates.overall[metric].items():
        flat["overall", arm] = _numbers(moments)
    for (name, level), metrics in aggregates.segments.items():
        if name == segment:
            for arm, moments in metrics[metric].items():
                flat["segment", level, arm] = _numbers(moments)
    flat["caps",] = tuple(aggregates.caps.get(metric, {}).values())
    flat["units",] = (*tuple(aggregates.units[a] for a in sorted(aggregates.units)), aggregates.excluded_units)
    return flat


def _same(
    got: Aggregates, want: Aggregates, what: str, pairs: Iterable[tuple[str, str]] = (), segment: str = "code"
) -> None:
    """``got`` has ``want``'s numbers to 1e-9: metric ``a`` of ``got`` by ``segment`` vs ``b`` of ``want`` by code."""
    for a, b in list(pairs) or [(m, m) for m in want.overall]:
        mine, theirs = _flat(got, a, segment), _flat(want, b, "code")
        assert mine.keys() == theirs.keys(), (what, a)
        for key, values in theirs.items():
            assert mine[key] == pytest.approx(values, rel=1e-9, abs=1e-9), (what, a, key)


def _quoted(name: str) -> str:
    return '"' + name + '"'


@pytest.fixture(scope="module")
def named() -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """Telemetry whose tables also carry a column named like every internal name (copies of ``code``)."""
    names = _internal_names()
    frames = raw_frames(seed=5, n=400)
    exposures = frames["exposures"]
    exposures["code"] = exposures["country"].map({"de": 0, "fr": 1, "us": 2, "later": 3}).astype("int64")
    rng = np.random.default_rng(15)
    users = pd.DataFrame(
        {
            "unit": np.arange(600),
            "arm": rng.choice(["control", "treatment"], 600),
            "code": rng.integers(0, 4, 600),
            "y": rng.lognormal(2.0, 1.0, 600) * (rng.random(600) < 0.6),
            "x": rng.normal(20.0, 6.0, 600),
            "d": rng.integers(1, 9, 600).astype(float),
        }
    )
    raw = duckdb.connect()
    for table, frame in {**frames, "users": users}.items():
        raw.register(f"{table}_frame", frame)
        raw.execute(f"CREATE TABLE {table} AS SELECT * FROM {table}_frame")
    copies = ", ".join(f"code AS {_quoted(n)}" for n in names)
    raw.execute(
        f"CREATE TABLE exposures_wide AS SELECT exposures.*, {_wide(names, 'unit', 'arm', 'ts', 'code')} FROM exposures"
    )
    raw.execute(f"CREATE VIEW exposures_seg AS SELECT unit AS u0, arm AS a0, ts AS t0, code, {copies} FROM exposures")
    raw.execute(
        f"CREATE VIEW users_wide AS SELECT unit AS u0, arm AS a0, code, y, x, d, {_wide(names, '0')} FROM users"
    )
    return raw, names


def _wide(names: Iterable[str], *skip: str) -> str:
    """Extra columns named like the internal names (skipping the table's own), each holding a constant 7."""
    return ", ".join(f"7 AS {_quoted(n)}" for n in names if n not in skip) or "1 AS one"


def test_w5_internal_aliases_never_collide(named: tuple[duckdb.DuckDBPyConnection, list[str]]) -> None:
    """Every internal alias as a segment, a metric name and a column name: the numbers of the plain run, to 1e-9.

    Before: a segment ``s0`` bound ``SUM(s0)`` of the roll-up to itself (est 0, p 1), ``s1``/``n`` gave
    impossible moments, a VARCHAR ``s0`` a binder error.
    """
    raw, names = named
    assert {"s0", "s1", "n", "m0_y", "arm", "unit", "seg0", "g_seg0", "v0", "abs0"} <= set(names)
    con = abnb.engine.as_connection(raw)
    plain_source = ExposureSource(table="exposures", experiment_column=None)
    plain = aggregate(con, plain_source, CAPPED_METRICS, ("code",), as_of=RAW_AS_OF)
    # the plain run itself against pandas: units in a single arm per code, and the proportion metric's sum
    exposures = raw.execute("SELECT unit, arm, ts, code FROM exposures").df()
    arms = exposures.groupby("unit")["arm"].nunique()
    single = exposures[exposures["unit"].isin(arms[arms == 1].index)].sort_values("ts").groupby("unit").first()
    assert plain.units == single["arm"].value_counts().to_dict()
    for code, cell in single.groupby("code"):
        for arm, rows in cell.groupby("arm"):
            assert plain.segments["code", str(code)]["converted"][str(arm)].n == len(rows)

    # 1. every internal name as a segment column, all at once (each a copy of `code`), from a table whose user
    #    columns (unit, arm, ts) are named u0, a0, t0
    source = ExposureSource(table="exposures_seg", unit="u0", arm="a0", ts="t0", experiment_column=None)
    wide = aggregate(con, source, CAPPED_METRICS, ("code", *names), as_of=RAW_AS_OF)
    assert len(wide.segments) == len(plain.segments) * (1 + len(names))
    for name in ("code", *names):
        _same(wide, plain, f"segment {name!r}", segment=name)

    # 2. every internal name as a metric name: the query text does not change (names never enter the SQL), and the
    #    numbers of a run with the first names are the plain run's
    renamed = tuple(dataclasses.replace(CAPPED_METRICS[i % len(CAPPED_METRICS)], name=n) for i, n in enumerate(names))
    numbered = tuple(dataclasses.replace(m, name=f"metric_{i}") for i, m in enumerate(renamed))
    assert build_query(plain_source, renamed, ("code",)).sql() == build_query(plain_source, numbered, ("code",)).sql()
    risky = tuple(
        dataclasses.replace(m, name=n) for m, n in zip(CAPPED_METRICS, ["s0", "n", "m0_y", "arm", "seg0"], strict=False)
    )
    got = aggregate(con, plain_source, risky, ("code",), as_of=RAW_AS_OF)
    _same(got, plain, "metric names", [(a.name, b.name) for a, b in zip(risky, CAPPED_METRICS, strict=True)])

    # 3. every internal name as a column of the exposures table (next to unit, arm, ts); the unit, arm and ts
    #    columns named like the names the original bug and the assignment step use
    wide_source = ExposureSource(table="exposures_wide", experiment_column=None)
    _same(aggregate(con, wide_source, CAPPED_METRICS, ("code",), as_of=RAW_AS_OF), plain, "wide table")
    one = CAPPED_METRICS[:1]
    for unit, arm, ts in [("s0", "n", "m0_y"), ("arm", "unit", "exposed_at"), ("seg0", "g_seg0", "s1")]:
        raw.execute(
            f"CREATE OR REPLACE VIEW exposures_as AS SELECT unit AS {_quoted(unit)}, arm AS {_quoted(arm)}, "
            f"ts AS {_quoted(ts)}, code FROM exposures"
        )
        source = ExposureSource(table="exposures_as", unit=unit, arm=arm, ts=ts, experiment_column=None)
        got = aggregate(con, source, one, ("code",), as_of=RAW_AS_OF)
        _same(got, plain, f"exposure columns {unit!r}, {arm!r}, {ts!r}", [(one[0].name, one[0].name)])

    # 4. unit level: every internal name as a segment (at once), as a column of the table, and as the column a
    #    metric reads (the query differs from the plain one only in that qualified reference; one run with the
    #    names of the original bug)
    unit_plain = aggregate(con, _unit_source(), UNIT_METRICS, ("code",), as_of=RAW_AS_OF)
    segments = [n for n in names if n not in ("unit", "arm")]
    copies = ", ".join(f"code AS {_quoted(n)}" for n in segments)
    raw.execute(f"CREATE OR REPLACE VIEW users_seg AS SELECT *, {copies} FROM users")
    got = aggregate(con, _unit_source("users_seg"), UNIT_METRICS, ("code", *segments), as_of=RAW_AS_OF)
    for name in segments:
        _same(got, unit_plain, f"unit-level segment {name!r}", segment=name)
    wide_users = _unit_source("users_wide", unit="u0", arm="a0")
    _same(aggregate(con, wide_users, UNIT_METRICS, ("code",), as_of=RAW_AS_OF), unit_plain, "wide users")
    # every internal name as the column a metric reads, at once (a mean with a covariate, capped at a quantile)
    raw.execute(
        "CREATE OR REPLACE VIEW users_all AS SELECT unit AS u0, arm AS a0, code, x, d, "
        f"{', '.join(f'y AS {_quoted(n)}' for n in names)} FROM users"
    )
    first = UNIT_METRICS[0]
    reading = tuple(
        dataclasses.replace(first, name=f"metric_{i}", source=dataclasses.replace(first.source, name=n))
        for i, n in enumerate(names)
    )
    got = aggregate(con, _unit_source("users_all", unit="u0", arm="a0"), reading, ("code",), as_of=RAW_AS_OF)
    _same(got, unit_plain, "unit-level metric columns", [(m.name, UNIT_METRICS[0].name) for m in reading])
    for name in ("s0", "n", "v0", "m0_y"):
        raw.execute(
            f"CREATE OR REPLACE VIEW users_col AS SELECT unit, arm, code, x, d, y AS {_quoted(name)} FROM users"
        )
        metrics = tuple(
            dataclasses.replace(m, source=dataclasses.replace(m.source, name=name)) if m.column == "y" else m
            for m in UNIT_METRICS
        )
        got = aggregate(con, _unit_source("users_col"), metrics, ("code",), as_of=RAW_AS_OF)
        _same(got, unit_plain, f"unit-level metric column {name!r}")


# ---------------------------------------------------------------------------------------------------------------
# Small hand-made databases: exposures (experiment t) and events


def _telemetry(
    arms: list[str],
    values: Sequence[object] | None = None,
    *,
    segment: list[str | None] | None = None,
    value_type: str = "DOUBLE",
) -> duckdb.DuckDBPyConnection:
    """Unit ``i`` in ``arms[i]`` (exposed 2026-10-02, segment ``country``) with one event of ``values[i]``."""
    raw = duckdb.connect()
    raw.execute("CREATE TABLE exposures (experiment VARCHAR, unit BIGINT, arm VARCHAR, ts TIMESTAMP, country VARCHAR)")
    raw.execute(f"CREATE TABLE events (unit BIGINT, ts TIMESTAMP, value {value_type})")
    countries = segment or ["x"] * len(arms)
    raw.executemany(
        "INSERT INTO exposures VALUES ('t', ?, ?, TIMESTAMP '2026-10-02', ?)",
        [(i, a, c) for i, (a, c) in enumerate(zip(arms, countries, strict=True))],
    )
    if values is not None:
        rows = [(i, None if v is None else str(v)) for i, v in enumerate(values) if v is not None]
        raw.executemany(f"INSERT INTO events VALUES (?, TIMESTAMP '2026-10-03', CAST(? AS {value_type}))", rows)
    return raw


def _experiment(*metrics: Metric, **kwargs: Any) -> Experiment:
    metrics = metrics or (Metric("revenue", Sql("SELECT unit, ts, value FROM events")),)
    return Experiment(name="t", metrics=metrics, start="2026-10-01", end="2026-10-10", **kwargs)  # type: ignore[arg-type]


def _welch(control: np.ndarray, treatment: np.ndarray) -> tuple[float, float]:
    test = sps.ttest_ind(treatment, control, equal_var=False)
    return float(np.mean(treatment) - np.mean(control)), float(test.pvalue)


# ---------------------------------------------------------------------------------------------------------------
# W7: NULL and the literal '(missing)' (or '(NULL)') are distinct segment levels


def test_w7_null_and_the_literal_missing_label_are_distinct_levels() -> None:
    rng = np.random.default_rng(7)
    n = 240
    arms = ["control" if i % 2 else "treatment" for i in range(n)]
    levels: list[str | None] = [[None, "(missing)", "(NULL)", "de"][(i // 2) % 4] for i in range(n)]
    values = rng.normal(10.0, 2.0, n).round(6)
    raw = _telemetry(arms, list(values), segment=levels)
    result = _experiment(segments=("country",)).analyze(raw)
    keys = set(result.segments)
    assert ("country", MISSING) in keys
    assert ("country", "(missing)") in keys
    assert ("country", "(NULL)") in keys
    assert len(keys) == 4  # NULL, '(missing)', '(NULL)', 'de': none merged
    assert MISSING != "(NULL)"
    assert MISSING != "(NULL)"
    assert MISSING != "(missing)"
    assert str(MISSING) == "(NULL)"
    assert hash(MISSING) != hash("(NULL)")
    for level in (None, "(missing)", "(NULL)", "de"):
        key = MISSING if level is None else level
        for arm in ("control", "treatment"):
            mine = [v for v, a, s in zip(values, arms, levels, strict=True) if a == arm and s == level]
            moments = result.segments["country", key]["revenue"][arm]
            assert isinstance(moments, Moments)
            assert moments.n == len(mine)
            assert moments.mean == pytest.approx(np.mean(mine), rel=1e-9)
            assert moments.variance == pytest.approx(np.var(mine, ddof=1), rel=1e-9)
    frame = result.segments_frame()
    assert sorted(frame["level"].astype(str)) == sorted(["(NULL)", "(NULL)", "(missing)", "de"])
    assert len(frame) == 4


# ---------------------------------------------------------------------------------------------------------------
# D6: values beyond 2^53 are refused (they would round to one value); a shifted SQL gives the exact numbers


@pytest.mark.parametrize("value_type", ["HUGEINT", "UBIGINT", "DECIMAL(38,0)"])
def test_d6_values_beyond_double_precision_are_refused_with_the_fix(value_type: str) -> None:
    base = 10**19 if value_type == "UBIGINT" else 10**20
    n = 140
    arms = ["control" if i % 2 else "treatment" for i in range(n)]
    offsets = [(i % 7) + (3 if i % 2 == 0 else 0) for i in range(n)]
    raw = _telemetry(arms, [base + o for o in offsets], value_type=value_type)
    with pytest.raises(DataError, match=r"metric 'revenue' has per-unit values up to 1e\+(19|20) .*2\^53.*baseline"):
        _experiment().analyze(raw)
    # the fix the message gives: subtract a baseline in the metric's SQL (exact in the column's own type)
    shifted = Metric("revenue", Sql(f"SELECT unit, ts, CAST(value - {base} AS DOUBLE) AS value FROM events"))
    effect = _experiment(shifted).analyze(raw).effect("revenue").absolute
    control = np.array([o for o, a in zip(offsets, arms, strict=True) if a == "control"], dtype=float)
    treatment = np.array([o for o, a in zip(offsets, arms, strict=True) if a == "treatment"], dtype=float)
    estimate, pvalue = _welch(control, treatment)
    assert effect.estimate == pytest.approx(estimate, rel=1e-9)
    assert effect.pvalue == pytest.approx(pvalue, rel=1e-9)


def test_d6_wide_integer_types_with_small_values_are_exact() -> None:
    n = 100
    arms = ["control" if i % 2 else "treatment" for i in range(n)]
    values = [float(i % 11 + (2 if i % 2 == 0 else 0)) for i in range(n)]
    effect = _experiment().analyze(_telemetry(arms, values, value_type="HUGEINT")).effect("revenue").absolute
    c = np.array([v for v, a in zip(values, arms, strict=True) if a == "control"])
    t = np.array([v for v, a in zip(values, arms, strict=True) if a == "treatment"])
    estimate, pvalue = _welch(c, t)
    assert effect.estimate == pytest.approx(estimate, rel=1e-9)
    assert effect.pvalue == pytest.approx(pvalue, rel=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# D14, C10: alpha is bounded to (1e-10, 0.5] in specs and in the stats API


@pytest.mark.parametrize("alpha", [0.999999, 0.6, 1e-20, 1e-10])
def test_d14_c10_alpha_outside_the_supported_range_is_refused(alpha: float) -> None:
    with pytest.raises(
        SpecError, match=r"alpha of experiment 't' = .* outside the supported range 1e-10 < alpha <= 0\.5"
    ):
        _experiment(alpha=alpha)
    control, treatment = Moments.from_values([1.0, 2.0, 3.0, 4.0]), Moments.from_values([2.0, 3.0, 5.0, 4.5])
    with pytest.raises(ParameterError, match=r"alpha = .* outside the supported range"):
        welch(control, treatment, alpha=alpha)
    with pytest.raises(ParameterError, match=r"alpha"):
        confidence_sequence(control, treatment, alpha=alpha)


def test_d14_c10_alpha_at_the_edges_of_the_range_gives_scipy_numbers() -> None:
    c, t = np.array([1.0, 2.0, 3.0, 4.0, 2.5]), np.array([2.0, 3.0, 5.0, 4.5, 3.5])
    for alpha in (0.5, 2e-10):
        effect = welch(Moments.from_values(c), Moments.from_values(t), alpha=alpha)
        test = sps.ttest_ind(t, c, equal_var=False)
        low, high = test.confidence_interval(1.0 - alpha)
        assert (effect.ci_low, effect.ci_high) == pytest.approx((low, high), rel=1e-9)
        assert effect.pvalue == pytest.approx(test.pvalue, rel=1e-9)
    sequence = confidence_sequence(Moments.from_values(c), Moments.from_values(t), alpha=2e-10)
    assert math.isfinite(sequence.ci_low)
    assert math.isfinite(sequence.ci_high)
    assert _experiment(alpha=0.5).alpha == 0.5


# ---------------------------------------------------------------------------------------------------------------
# C14: an arm with 0 conversions


@pytest.mark.parametrize(("control", "treatment"), [(50, 0), (0, 50)])
def test_c14_an_arm_without_conversions_is_analysed(control: int, treatment: int) -> None:
    arms = ["control"] * 200 + ["treatment"] * 200
    values: list[float | None] = [1.0 if i < control else None for i in range(200)]
    values += [1.0 if i < treatment else None for i in range(200)]
    metric = Metric("conv", Sql("SELECT unit, ts, value FROM events"), kind="proportion", aggregate="any")
    result = _experiment(metric).analyze(_telemetry(arms, values))
    effect = result.effect("conv")
    p1, p2 = control / 200, treatment / 200
    se = math.sqrt(p1 * (1 - p1) / 200 + p2 * (1 - p2) / 200)  # unpooled z-test, as the method says
    assert effect.absolute.estimate == pytest.approx(p2 - p1, rel=1e-12)
    assert effect.absolute.pvalue == pytest.approx(2 * sps.norm.sf(abs(p2 - p1) / se), rel=1e-9)
    if control:
        assert effect.relative.estimate == pytest.approx(-1.0, rel=1e-12)
    else:
        assert math.isnan(effect.relative.estimate)  # undefined lift: said in the method, the difference stands
        assert "undefined" in effect.relative.method
    assert result.decision.verdict in ("continue", "stop", "ship")
    assert result.summary()["experiment"] == "t"
    result.table()


# ---------------------------------------------------------------------------------------------------------------
# D9, D10: charts never fail a report


def _segments_frame(metrics: int, levels: int, arms: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    rows = [
        {
            "segment": "country",
            "level": f"l{level}",
            "metric": f"m{m}",
            "arm": f"t{a}",
            "n_control": 10,
            "n_treatment": 10,
            "rel_estimate": e,
            "rel_ci_low": e - 0.1,
            "rel_ci_high": e + 0.1,
            "pvalue": 0.5,
        }
        for m in range(metrics)
        for level in range(levels)
        for a in range(arms)
        for e in [float(rng.normal(0, 0.05))]
    ]
    return pd.DataFrame(rows)


def test_d9_the_segment_chart_counts_only_the_metric_it_draws() -> None:
    frame = _segments_frame(10, 600)  # 6,000 rows: 600 per metric
    assert len(frame) > MAX_ROWS
    chart = segments_chart(frame, "m3")
    data = chart.to_dict()["datasets"]
    (rows,) = [d for d in data.values() if len(d) == 600]
    drawn = pd.DataFrame(rows).sort_values("label")
    want = frame[frame["metric"] == "m3"].assign(label=lambda f: "country=" + f["level"]).sort_values("label")
    assert drawn["rel_estimate"].to_numpy() == pytest.approx(want["rel_estimate"].to_numpy(), rel=1e-12)


def test_d9_d10_a_chart_past_the_limit_becomes_a_note_not_an_error() -> None:
    frame = _segments_frame(2, 3000, arms=2)  # 6,000 rows of the drawn metric
    chart = segments_chart(frame, "m0")
    text = str(chart.to_dict())
    assert "Not drawn" in text
    assert "6,000 rows" in text
    assert "m0" in text


def test_d10_many_metrics_and_segment_columns_analyse_and_chart() -> None:
    rng = np.random.default_rng(10)
    n = 3000
    raw = duckdb.connect()
    columns = ", ".join(f"'v' || CAST(hash(i * {k + 1}) % 300 AS VARCHAR) AS s{k}" for k in range(4))
    raw.execute(
        "CREATE TABLE exposures AS SELECT 't' AS experiment, i AS unit, CASE WHEN i % 2 = 0 THEN 'control' ELSE "
        f"'treatment' END AS arm, TIMESTAMP '2026-10-02' AS ts, {columns} FROM range({n}) r(i)"
    )
    raw.execute("CREATE TABLE events (unit BIGINT, ts TIMESTAMP, kind INTEGER, value DOUBLE)")
    raw.executemany(
        "INSERT INTO events VALUES (?, TIMESTAMP '2026-10-03', ?, ?)",
        [
            (int(u), int(k), float(v))
            for u, k, v in zip(range(n), rng.integers(0, 10, n), rng.exponential(5, n), strict=False)
        ],
    )
    metrics = tuple(Metric(f"m{k}", Sql(f"SELECT unit, ts, value FROM events WHERE kind = {k}")) for k in range(10))
    spec = _experiment(*metrics, segments=tuple(f"s{k}" for k in range(4)), correction="none")
    result = spec.analyze(raw)
    frame = result.segments_frame()
    assert len(frame) > MAX_ROWS  # every metric × ~1,200 levels: more than a chart takes ...
    segments_chart(frame, "m0")  # ... but the drawn metric's rows are fewer: drawn, no error
    values = raw.execute(
        "SELECT e.arm, coalesce(sum(v.value), 0) FROM exposures e LEFT JOIN events v "
        "ON v.unit = e.unit AND v.kind = 0 GROUP BY e.unit, e.arm"
    ).fetchall()
    control = np.array([v for a, v in values if a == "control"])
    moments = result.overall["m0"]["control"]
    assert isinstance(moments, Moments)
    assert moments.mean == pytest.approx(control.mean(), rel=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# O15, O16: column types and views; 50 and 1000 arms


@pytest.mark.parametrize(
    ("ts", "value", "unit"),
    [
        ("CAST(ts AS DATE)", "value", "unit"),
        ("CAST(ts AS TIMESTAMP_NS)", "CAST(value AS DECIMAL(18,2))", "CAST(unit AS DOUBLE)"),
        ("CAST(ts AS TIMESTAMPTZ)", "value", "CAST(unit AS VARCHAR)"),
    ],
)
def test_o15_column_types_and_views_give_scipy_numbers(ts: str, value: str, unit: str) -> None:
    n = 120
    arms = ["control" if i % 2 else "treatment" for i in range(n)]
    values = [round(float(v), 2) for v in np.random.default_rng(15).normal(10, 3, n)]
    raw = _telemetry(arms, values)
    raw.execute("ALTER TABLE exposures RENAME TO exposures_t")
    raw.execute(f"CREATE VIEW exposures AS SELECT experiment, {unit} AS unit, arm, {ts} AS ts FROM exposures_t")
    raw.execute("ALTER TABLE events RENAME TO events_t")
    raw.execute(f"CREATE VIEW events AS SELECT {unit} AS unit, ts, {value} AS value FROM events_t")
    effect = _experiment().analyze(raw).effect("revenue").absolute
    c = np.array([v for v, a in zip(values, arms, strict=True) if a == "control"])
    t = np.array([v for v, a in zip(values, arms, strict=True) if a == "treatment"])
    estimate, pvalue = _welch(c, t)
    assert effect.estimate == pytest.approx(estimate, rel=1e-9)
    assert effect.pvalue == pytest.approx(pvalue, rel=1e-9)


def test_o15_boolean_values_are_proportions() -> None:
    n = 200
    arms = ["control" if i % 2 else "treatment" for i in range(n)]
    hits = [(i % 5 == 0) if i % 2 else (i % 3 == 0) for i in range(n)]
    raw = _telemetry(arms, hits, value_type="BOOLEAN")
    metric = Metric("hit", Sql("SELECT unit, ts, value FROM events"), kind="proportion", aggregate="any")
    moments = _experiment(metric).analyze(raw).overall["hit"]
    for arm in ("control", "treatment"):
        mine = moments[arm]
        assert isinstance(mine, Moments)
        assert mine.mean == pytest.approx(np.mean([h for h, a in zip(hits, arms, strict=True) if a == arm]), rel=1e-12)


@pytest.mark.parametrize("arms", [50, 1000])
def test_o16_many_arms(arms: int) -> None:
    names = [f"a{k}" for k in range(arms)]
    units = [names[i % arms] for i in range(max(1000, 4 * arms))]
    values = [float((i * 7919) % 13) for i in range(len(units))]
    started = time.perf_counter()
    result = _experiment(arms=tuple(names), control="a0").analyze(_telemetry(units, values))
    elapsed = time.perf_counter() - started
    assert len(result.to_frame()) == arms - 1
    counts = [units.count(a) for a in names]
    assert result.srm.pvalue == pytest.approx(sps.chisquare(counts).pvalue, rel=1e-9, abs=1e-12)
    effect = result.effect("revenue", "a1").absolute
    c = np.array([v for v, u in zip(values, units, strict=False) if u == "a0"])
    t = np.array([v for v, u in zip(values, units, strict=False) if u == "a1"])
    assert effect.estimate == pytest.approx(t.mean() - c.mean(), rel=1e-9, abs=1e-12)
    assert elapsed < 60


@pytest.mark.parametrize("table", ["assignment", "p0", "units", "units_raw", "caps", "cells"])
def test_w5_tables_named_like_the_steps_of_the_query(table: str) -> None:
    """A metric reading a table called like a ``WITH`` step of the query read the step (a binder error, or worse)."""
    n = 100
    arms = ["control" if i % 2 else "treatment" for i in range(n)]
    raw = _telemetry(arms)
    raw.execute(
        f"CREATE TABLE {table} AS SELECT i AS unit, TIMESTAMP '2026-10-03' AS ts, (i % 7)::DOUBLE AS value "
        f"FROM range({n}) r(i)"
    )
    first = Metric("first", Sql("SELECT unit, ts, 1.0 AS value FROM exposures GROUP BY ALL"))  # its own step, p0
    metric = Metric("x", Sql(f"SELECT unit, ts, value FROM {table}"), cap_quantile=0.9)
    result = _experiment(first, metric, exposures=ExposureSource(table=table if table != "p0" else "exposures"))
    if table != "p0":  # the exposures table itself named like a step, too
        raw.execute(f"ALTER TABLE {table} ADD COLUMN experiment VARCHAR DEFAULT 't'")
        raw.execute(f"ALTER TABLE {table} ADD COLUMN arm VARCHAR")
        raw.execute(f"UPDATE {table} SET arm = CASE WHEN unit % 2 = 1 THEN 'control' ELSE 'treatment' END")
        raw.execute(f"UPDATE {table} SET ts = TIMESTAMP '2026-10-02 12:00'")
    effect = result.analyze(raw).effect("x").absolute
    values = np.minimum(np.arange(n) % 7, np.quantile(np.arange(n) % 7, 0.9)).astype(float)
    c, t = values[1::2], values[0::2]
    estimate, pvalue = _welch(c, t)
    assert effect.estimate == pytest.approx(estimate, rel=1e-9)
    assert effect.pvalue == pytest.approx(pvalue, rel=1e-9)
