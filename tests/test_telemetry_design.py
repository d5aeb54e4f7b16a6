from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from abnb.errors import SchemaError, SpecError
from abnb.metrics import Metric, Sql, Telemetry, TelemetryDesign


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    start = datetime(2026, 10, 1)
    connection.execute("CREATE TABLE predictions (request_id BIGINT, ts TIMESTAMP)")
    connection.execute("CREATE TABLE fares (request_id BIGINT, ts TIMESTAMP, fare DOUBLE, pi DOUBLE)")
    # 30 days x 100 predictions; the true fare arrives 7 days later, so the last 7 days have none yet
    connection.executemany(
        "INSERT INTO predictions VALUES (?, ?)",
        [(day * 100 + i, start + timedelta(days=day, minutes=i)) for day in range(30) for i in range(100)],
    )
    connection.executemany(
        "INSERT INTO fares VALUES (?, ?, ?, ?)",
        [
            (day * 100 + i, start + timedelta(days=day + 7, minutes=i), 10.0, 0.5)
            for day in range(23)
            for i in range(100)
            if i % 10 != 0
        ],  # 10% of matured fares are lost
    )
    return connection


def _design(**telemetry: object) -> TelemetryDesign:
    return TelemetryDesign(
        quality="accuracy of the fare prediction",
        telemetry=Telemetry(
            table="fares",
            events="the fare actually paid",
            trigger="the end of the ride",
            key="request_id",
            delay_days=7,
            **telemetry,
        ),  # type: ignore[arg-type]
        operationalization=Metric("fare_error", Sql("SELECT request_id AS unit, ts, fare AS value FROM fares")),
        assumptions=("every finished ride reports its fare",),
    )


def test_check_measures_volume_coverage_and_weights(con: duckdb.DuckDBPyConnection) -> None:
    result = _design(weight_column="pi").check(con, population="predictions", population_key="request_id", min_rows=100)
    assert result.rows == 23 * 90
    assert result.keys == 23 * 90
    assert result.population == 3000
    assert result.coverage == pytest.approx(23 * 90 / 3000)
    # predictions older than 7 days before the last prediction: days 0..22 (the cutoff is day 29 + 99 min - 7 days)
    assert result.matured_coverage == pytest.approx(0.9, abs=0.01)
    assert result.invalid_weights == 0
    (issue,) = result.issues  # 10% of matured fares never arrived
    assert "only 90.0% of matured 'predictions' keys have telemetry" in issue
    assert "coverage" in repr(result)


def test_check_reports_lost_events_and_bad_weights(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE fares SET pi = 0 WHERE request_id % 7 = 0")
    result = _design(weight_column="pi", sampling=1.0).check(
        con, population="predictions", population_key="request_id", min_rows=100_000
    )
    assert not result.ok
    assert any("fewer than 100,000" in issue for issue in result.issues)
    assert any("invalid inclusion probability" in issue for issue in result.issues)


def test_describe_shows_the_three_steps() -> None:
    text = _design().describe()
    assert text.startswith("Metric: accuracy of the fare prediction")
    assert "Telemetry: the fare actually paid" in text
    assert "arrives after 7 days" in text
    assert "Operationalization:" in text
    assert "assumes: every finished ride reports its fare" in text


def test_bad_designs_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(SpecError, match="sampling"):
        Telemetry(table="fares", events="x", trigger="y", sampling=0)
    with pytest.raises(SpecError, match="not a valid identifier"):
        Telemetry(table="fares; DROP TABLE fares", events="x", trigger="y")
    with pytest.raises(SchemaError):
        _design().check(con, population="no_such_table", population_key="request_id")
