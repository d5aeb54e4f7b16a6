"""The sample's table schemas (abnb.datasets.schemas) and the tables create_tables makes from them."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from abnb.datasets.schemas import MODEL_TABLES, SCHEMAS, create_tables
from abnb.errors import SchemaError
from abnb.telemetry import check_table


@pytest.fixture
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def test_schemas_spell_out_the_sample_tables() -> None:
    assert list(SCHEMAS) == ["exposures", "events", *MODEL_TABLES]  # experiment tables, then model telemetry
    assert SCHEMAS["exposures"] == (
        ("experiment", "VARCHAR"),
        ("unit", "BIGINT"),
        ("arm", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("country", "VARCHAR"),
        ("platform", "VARCHAR"),
    )
    assert SCHEMAS["events"] == (
        ("unit", "BIGINT"),
        ("ts", "TIMESTAMP"),
        ("event", "VARCHAR"),
        ("value", "DOUBLE"),
    )


def test_create_tables_uses_the_declared_types(connection: duckdb.DuckDBPyConnection) -> None:
    create_tables(connection)
    for table, columns in SCHEMAS.items():
        rows = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        assert tuple(rows) == columns
        assert check_table(connection, table, [c for c, _ in columns]) == dict(columns)


def test_create_tables_refuses_to_overwrite_unless_asked(connection: duckdb.DuckDBPyConnection) -> None:
    create_tables(connection)
    connection.execute("INSERT INTO events VALUES (1, TIMESTAMP '2026-10-01 00:00:00', 'session', 3.0)")
    with pytest.raises(SchemaError, match="'exposures' already exists"):
        create_tables(connection)
    assert connection.execute("SELECT count(*) FROM events").fetchone() == (1,)
    create_tables(connection, replace=True)
    assert connection.execute("SELECT count(*) FROM events").fetchone() == (0,)
