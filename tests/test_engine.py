"""Engine adapters without a Spark session: spec strings, Parquet export and registration, Spark SQL rendering."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import abnb
from abnb.aggregate import build_query
from abnb.engine import (
    BaseConnection,
    Connection,
    SparkConnection,
    as_connection,
    connect,
    export_parquet,
    is_spark_spec,
    parquet_sources,
    register_sources,
)
from abnb.engine.spark import _spark_zone
from abnb.errors import DatabaseNotFoundError, ParameterError, SchemaError, SpecError
from abnb.report import validate_parameters
from abnb.telemetry import check_table


def test_import_abnb_does_not_import_pyspark() -> None:
    code = "import sys, abnb, abnb.engine, abnb.report; abnb.connect; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    "spec", ["spark", "local", "local[2]", "local[*]", "local[4,2]", "yarn", "spark://h:7077", "sc://h:15002"]
)
def test_spark_specs(spec: str) -> None:
    assert is_spark_spec(spec)


@pytest.mark.parametrize("spec", ["data/telemetry.duckdb", ":memory:", "sparkly", "local[x]", "sc://", "duckdb"])
def test_not_spark_specs(spec: str) -> None:
    assert not is_spark_spec(spec)


def test_duckdb_connection_is_an_adapter(sample_db: Path) -> None:
    with connect(sample_db) as con:
        assert isinstance(con, BaseConnection)
        assert as_connection(con) is con
        assert as_connection(con.raw).dialect == "duckdb"
        assert con.columns("events") == {"unit": "BIGINT", "ts": "TIMESTAMP", "event": "VARCHAR", "value": "DOUBLE"}
        assert con.columns("nope") is None
        assert check_table(con, "events", ["unit"])["value"] == "DOUBLE"
    with pytest.raises(SpecError, match="pyspark SparkSession, got str"):
        as_connection("data.duckdb")


def test_parquet_folders_are_views_on_duckdb_too(sample_db: Path, tmp_path: Path) -> None:
    """--parquet used to be ignored with the DuckDB engine; now its files are views on either engine."""
    export_parquet(sample_db, tmp_path, tables=["exposures"])
    with connect(parquet=tmp_path) as con, connect(sample_db) as original:
        assert con.database == "in-memory DuckDB over exposures"
        assert con.tables() == ["exposures"]
        assert (
            con.execute("SELECT count(*) FROM exposures").fetchone()
            == original.execute("SELECT count(*) FROM exposures").fetchone()
        )
    with connect(sample_db, parquet=tmp_path) as both:  # a database and Parquet views side by side
        assert "events" in both.tables()
    with pytest.raises(DatabaseNotFoundError, match="abnb data export --parquet"):
        connect(parquet=tmp_path / "missing")


def test_export_parquet_round_trips_the_tables(sample_db: Path, tmp_path: Path) -> None:
    written = export_parquet(sample_db, tmp_path / "pq", tables=["exposures", "events"])
    assert [p.name for p in written] == ["exposures.parquet", "events.parquet"]
    with connect(sample_db, external_access=True) as con:  # reads files that are no declared source
        for path in written:
            table = path.stem
            (rows,) = con.execute(f'SELECT count(*) FROM "{table}"').fetchone() or (0,)
            (exported,) = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(path)}).fetchone() or (0,)
            (differing,) = con.execute(
                f'SELECT count(*) FROM (SELECT * FROM "{table}" EXCEPT ALL SELECT * FROM read_parquet($p))',
                {"p": str(path)},
            ).fetchone() or (0,)
            assert rows > 1000
            assert exported == rows
            assert differing == 0
    with pytest.raises(SchemaError, match="nope not in"):
        export_parquet(sample_db, tmp_path / "pq", tables=["nope"])


class _FakeReader:
    def __init__(self, views: dict[str, str]) -> None:
        self.views = views

    def parquet(self, path: str) -> Any:
        views = self.views

        class Frame:
            def createOrReplaceTempView(self, name: str) -> None:  # noqa: N802 (pyspark's name)
                views[name] = path

        return Frame()


class _FakeSession:
    def __init__(self, zone: str = "UTC") -> None:
        self.views: dict[str, str] = {}
        self.read = _FakeReader(self.views)
        self.conf = {"spark.sql.session.timeZone": zone, "spark.master": "local[1]"}


def test_parquet_folders_become_views_named_after_files(tmp_path: Path) -> None:
    (tmp_path / "exposures.parquet").write_bytes(b"")
    (tmp_path / "events.parquet").mkdir()  # a folder of part files, as Spark writes them
    (tmp_path / "events.parquet" / "part-0.parquet").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    session = _FakeSession()
    sources = parquet_sources(tmp_path)
    assert register_sources(SparkConnection(session), {n: (p, "parquet") for n, p in sources.items()}) == [
        "events",
        "exposures",
    ]
    assert session.views["events"].endswith("events.parquet/*.parquet")
    assert session.views["exposures"].endswith("exposures.parquet")
    with pytest.raises(DatabaseNotFoundError, match="abnb data export --parquet"):
        parquet_sources(tmp_path / "missing")
    (tmp_path / "bad name.parquet").write_bytes(b"")
    with pytest.raises(SpecError, match="bad name"):
        parquet_sources(tmp_path)


def test_spark_sql_is_transpiled_with_named_markers() -> None:
    spec = abnb.load("checkout_redesign")
    con = SparkConnection(_FakeSession(), database="test")
    assert con.database == "test"
    sql = con.render(build_query(spec.exposures, spec.metrics, spec.segments, has_start=True))
    assert "`e`.`ts` < :as_of" in sql
    assert "`a`.`exposed_at` - MAKE_DT_INTERVAL(CAST(:lookback_0 AS INT))" in sql
    assert "MIN_BY(" in sql
    assert "GROUPING SETS" in sql
    assert "GROUPING(`seg0`)" in sql  # segments travel under internal names (`country` is seg0)
    assert "$" not in sql
    assert "checkout_redesign" not in sql


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", timedelta(0)), ("Asia/Tokyo", timedelta(hours=9)), ("+05:30", timedelta(hours=5, minutes=30))],
)
def test_naive_datetimes_get_the_session_zone(zone: str, offset: timedelta) -> None:
    con = SparkConnection(_FakeSession(zone), database="test")
    bound = con._bind({"as_of": datetime(2026, 10, 15), "n": 3, "aware": datetime(2026, 1, 1, tzinfo=UTC)})
    assert bound["as_of"].utcoffset() == offset
    assert bound["as_of"].replace(tzinfo=None) == datetime(2026, 10, 15)  # wall-clock time kept
    assert bound["n"] == 3
    assert bound["aware"].tzinfo is UTC
    assert _spark_zone(_FakeSession("GMT-03:00")).utcoffset(None) == timedelta(hours=-3)


def test_report_engine_parameter() -> None:
    params = validate_parameters(experiment="x", engine="local[2]", parquet="/data/pq")
    assert (params.engine, params.parquet) == ("local[2]", "/data/pq")
    assert validate_parameters(experiment="x").engine is None  # the project's engine
    with pytest.raises(ParameterError, match=r"engine 'postgres' is not 'duckdb', a Spark spec .* or a PostgreSQL URL"):
        validate_parameters(experiment="x", engine="postgres")
    assert validate_parameters(experiment="x", parquet="/data/pq").parquet == "/data/pq"  # views on DuckDB too
    with pytest.raises(ParameterError, match="database names a DuckDB file, but engine is 'local"):
        validate_parameters(experiment="x", engine="local[2]", database="/data/x.duckdb")


def test_duckdb_adapter_still_forwards_to_duckdb(sample_db: Path) -> None:
    with connect(sample_db) as con:
        assert isinstance(con, Connection)
        assert isinstance(con.raw, duckdb.DuckDBPyConnection)
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_run_takes_sql_text_in_the_engines_dialect(sample_db: Path) -> None:
    with abnb.connect(sample_db) as con:
        rows = con.run("SELECT count(*) AS n FROM predictions WHERE segment = $segment", {"segment": "de"}).rows
        expected = con.raw.execute("SELECT count(*) FROM predictions WHERE segment = 'de'").fetchone()[0]
        assert rows == [(expected,)]
        assert expected > 0
        assert con.queries_run == 1  # counted like a tree
        with pytest.raises(ParameterError, match="does not parse as duckdb SQL"):
            con.run("SELECT (1")
