"""abnb on a real PostgreSQL server: every number equals DuckDB's, sessions are read-only, bound and bounded.

The server is a throwaway cluster on loopback (``postgres_server`` in tests/conftest.py), loaded with the suite's
20,000-user sample by psycopg's COPY. One xdist group owns it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

import abnb
from abnb import monitor, quality
from abnb.audit import multi_arm_units
from abnb.engine.postgres import PostgresConnection, connect_postgres, redact
from abnb.errors import EngineError, ParameterError, ProjectError, SchemaError, SpecError
from abnb.rollout import bluegreen, canary
from tests.conftest import assert_same_results

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("postgres")]

LABEL_FREE = monitor.MonitorSpec(
    "label_free",
    (
        monitor.MonitorRule("ScoreDrift", "score_psi", "threshold", threshold=0.6),
        monitor.MonitorRule("ExpectedPrecisionShift", "expected_precision", "cusum"),
    ),
)
EXPERIMENTS = sorted(path.stem for path in abnb.find_project().experiment_files())
CALLS: dict[str, Callable[[Any], Any]] = {
    **{name: (lambda con, name=name: abnb.load(name).analyze(con)) for name in EXPERIMENTS},
    "monitor_summary": lambda con: monitor.monitor_summary(con),
    "label_free_backtest": lambda con: monitor.monitor_state(con, LABEL_FREE),
    "replay_ramp": lambda con: canary.replay_ramp(con, "v2", plan=canary.RampPlan(steps=(5, 50, 100), step_hours=12)),
    "compare_switch": lambda con: bluegreen.compare_switch(con, "v3", hours_before=24, hours_after=48),
    "label_free_quality": lambda con: quality.label_free_quality(con, threshold=0.4, end="2026-10-20"),
    "fare_quality": lambda con: quality.fare_quality(con, "2026-10-28", 7),
    "labelled_precision_recall": lambda con: quality.labelled_precision_recall(con, n_boot=200),
    "multi_arm_units": lambda con: multi_arm_units(con, "checkout_redesign", examples=5),
}


@pytest.fixture(scope="module")
def pg(postgres_sample: str) -> PostgresConnection:
    connection = abnb.connect(postgres_sample)
    assert isinstance(connection, PostgresConnection)
    return connection


@pytest.mark.parametrize("name", list(CALLS))
def test_the_same_numbers_as_duckdb(name: str, sample_db: Path, pg: PostgresConnection) -> None:
    with abnb.connect(sample_db) as duck:
        expected = CALLS[name](duck)
    before = pg.rows_fetched
    actual = CALLS[name](pg)
    assert_same_results(expected, actual, name)
    if isinstance(expected, abnb.ExperimentResult):
        assert actual.decision == expected.decision
        assert sum(actual.units.values()) > 1000
        assert pg.rows_fetched - before < 200  # aggregate rows only


def test_the_checks_are_not_vacuous(pg: PostgresConnection) -> None:
    summary = monitor.monitor_summary(pg)
    assert len(summary.traffic) == 28
    assert summary.release_jumps["pvalue"].notna().all()
    assert len(summary.alerts) > 0
    state = monitor.monitor_state(pg, LABEL_FREE)
    assert state.backtest.of("ScoreDrift", "de").replay.n_alerts > 0
    assert set(EXPERIMENTS) >= {"checkout_redesign", "infinite_scroll", "onboarding_email"}


def test_the_session_is_read_only_bounded_and_binds_values(postgres_sample: str, pg: PostgresConnection) -> None:
    with pytest.raises(EngineError, match="refused a write: abnb's PostgreSQL sessions are read-only"):
        pg.run(sqlglot.parse_one("CREATE TABLE stolen (a int)", read="postgres"))
    hostile = "x'); DROP TABLE events; --%s %(y)s"
    query = exp.select(
        exp.Alias(this=exp.Placeholder(this="v"), alias=exp.to_identifier("v")),
        exp.Alias(
            this=exp.Mod(this=exp.Literal.number(7), expression=exp.Literal.number(4)), alias=exp.to_identifier("m")
        ),
        exp.Alias(this=exp.Literal.string("100%"), alias=exp.to_identifier("p")),
    )
    assert pg.run(query, {"v": hostile}).rows == [(hostile, 3, "100%")]
    assert "events" in pg.tables()
    with connect_postgres(postgres_sample, statement_timeout=0.2) as short:
        sleep = exp.select(exp.Anonymous(this="pg_sleep", expressions=[exp.Literal.number(3)]))
        with pytest.raises(EngineError, match="cancelled the query after its statement timeout"):
            short.run(sleep)


def test_rewrites_match_duckdb_bucketing_and_quantiles(sample_db: Path, pg: PostgresConnection) -> None:
    """date_bin with DuckDB's origin, exact quantiles and arg_min: windowed latency equal to the last digit."""
    for window in ("10 minutes", "6 hours", "1 day", "1 week"):
        with abnb.connect(sample_db) as duck:
            expected = monitor.windowed(duck, "predictions", ts="ts", value="latency_ms", window=window)
        actual = monitor.windowed(pg, "predictions", ts="ts", value="latency_ms", window=window)
        assert_same_results(expected, actual, window)
    assert pg.columns("predictions") is not None
    assert pg.columns("predictions")["ts"] == "TIMESTAMP"  # type: ignore[index]
    assert pg.columns("no_such_table") is None


def test_errors_name_the_missing_table_and_never_a_password(pg: PostgresConnection) -> None:
    with pytest.raises(SchemaError, match="inference_log"):
        abnb.quality.label_free_quality(
            pg, schema=abnb.ModelTelemetry(predictions=abnb.telemetry.Predictions(table="inference_log"))
        )
    url = "postgresql://alice:s3cret@127.0.0.1:5432/db"
    assert redact(url) == "postgresql://alice:***@127.0.0.1:5432/db"
    for attempt in (url, "postgresql://alice@127.0.0.1/db?password=s3cret"):
        with pytest.raises(ParameterError, match="PGPASSWORD") as caught:
            abnb.connect(attempt)
        assert "s3cret" not in str(caught.value)


def test_a_duckdb_only_function_is_a_spec_error_naming_it(pg: PostgresConnection) -> None:
    query = sqlglot.parse_one("SELECT bar(value, 0, 100) FROM events", read="duckdb")
    with pytest.raises(SpecError, match=r"PostgreSQL cannot run a construct of the query: function bar\("):
        pg.run(query)


def test_a_project_url_with_a_password_is_refused(tmp_path: Path) -> None:
    (tmp_path / "abnb.toml").write_text(
        'schema_version = 1\n[engine]\nurl = "postgresql://bob:hunter2@db.internal/telemetry"\n', encoding="utf-8"
    )
    with pytest.raises(ProjectError, match=r"holds a password.*PGPASSWORD") as caught:
        abnb.find_project(tmp_path)
    assert "hunter2" not in str(caught.value)


@pytest.mark.slow
def test_a_report_renders_from_postgresql(postgres_sample: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from abnb.cli import main

    out = tmp_path / "reports"
    result = CliRunner().invoke(
        main,
        ["report", "checkout_redesign", "--engine", postgres_sample, "--output-dir", str(out), "--as-of", "2026-10-14"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "checkout_redesign" / "summary.json").read_text(encoding="utf-8"))
    with abnb.connect(postgres_sample) as pg:
        direct = abnb.load("checkout_redesign").analyze(pg, as_of="2026-10-14")
    assert summary["decision"]["verdict"] == direct.decision.verdict
    incremental = CliRunner().invoke(
        main, ["report", "checkout_redesign", "--engine", postgres_sample, "--output-dir", str(out), "--incremental"]
    )
    assert incremental.exit_code != 0
    assert "--incremental keeps its store beside a DuckDB database" in incremental.output
    page = (out / "checkout_redesign" / "2026-10-14.html").read_text(encoding="utf-8")
    assert "PostgreSQL postgresql://127.0.0.1:" in page
    assert "abnb@" not in page  # the user name stays out of the page too
