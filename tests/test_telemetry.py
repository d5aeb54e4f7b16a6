"""check_table: a table and its columns, named with the database it was looked up in and the fix."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from abnb.datasets.schemas import SCHEMAS, create_tables
from abnb.errors import AbnbError, SchemaError
from abnb.telemetry import check_table

EVENTS = [c for c, _ in SCHEMAS["events"]]


@pytest.fixture
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def test_missing_table_names_it_lists_what_exists_and_the_fix(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("CREATE TABLE clicks (unit BIGINT)")
    connection.execute("CREATE TABLE exposures (unit BIGINT)")
    with pytest.raises(SchemaError) as caught:
        check_table(connection, "events", ["unit", "ts"])
    message = str(caught.value)
    assert "'events' does not exist" in message
    assert "clicks, exposures" in message
    assert "abnb data generate" in message
    assert isinstance(caught.value, AbnbError)


def test_missing_table_in_an_empty_database(connection: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(SchemaError, match=r"'labels' does not exist \(tables present: none\)"):
        check_table(connection, "labels", ["unit"])


def test_missing_column_names_table_column_and_existing_columns(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    connection.execute("CREATE TABLE events (unit BIGINT, ts TIMESTAMP, name VARCHAR, amount DOUBLE)")
    with pytest.raises(SchemaError) as caught:
        check_table(connection, "events", EVENTS)
    message = str(caught.value)
    assert "table 'events' lacks columns 'event', 'value'" in message
    assert "it has: unit BIGINT, ts TIMESTAMP, name VARCHAR, amount DOUBLE" in message
    assert "rename the column" in message


def test_single_missing_column(connection: duckdb.DuckDBPyConnection) -> None:
    create_tables(connection)
    with pytest.raises(SchemaError, match="table 'exposures' lacks column 'segment' "):
        check_table(connection, "exposures", ["unit", "segment"])


def test_names_compare_case_insensitively_and_views_count(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute('CREATE TABLE "Raw" ("Unit" BIGINT, "TS" TIMESTAMP)')
    connection.execute("CREATE VIEW scores AS SELECT unit, 0.5 AS score FROM raw")
    assert check_table(connection, "raw", ["unit", "ts"]) == {"Unit": "BIGINT", "TS": "TIMESTAMP"}
    assert check_table(connection, "scores", ["score"]) == {"Unit": "BIGINT", "score": "DECIMAL(2,1)"}


def test_unknown_table_without_columns_only_checks_existence(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("CREATE TABLE clicks (unit BIGINT, label BOOLEAN)")
    assert check_table(connection, "clicks") == {"unit": "BIGINT", "label": "BOOLEAN"}


def test_table_name_is_bound_not_spliced(connection: duckdb.DuckDBPyConnection) -> None:
    create_tables(connection)
    hostile = "events' OR 1=1; DROP TABLE events; --"
    with pytest.raises(SchemaError, match="does not exist"):
        check_table(connection, hostile, ["unit"])
    assert check_table(connection, "events", EVENTS) == dict(SCHEMAS["events"])


def test_only_the_current_schema_is_searched(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("CREATE SCHEMA other")
    connection.execute("CREATE TABLE other.events (unit BIGINT)")
    with pytest.raises(SchemaError, match="'events' does not exist"):
        check_table(connection, "events", ["unit"])
