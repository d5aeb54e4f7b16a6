"""Telemetry table schemas and their validation.

abnb reads experiment telemetry from two tables:

* ``exposures``: one row per unit's first exposure to an experiment arm (a logging glitch may add more).
* ``events``: one row per thing a unit did, with a numeric ``value`` whose meaning depends on ``event``.
  The sample data (:mod:`abnb.sample`) use ``session`` (value = session minutes), ``page_view`` (value = pages
  viewed in that session, one summarised row per session) and ``purchase`` (value = revenue in USD).

and model-quality telemetry from the tables of :data:`MODEL_TABLES` (their sample data and planted truth are
described in :mod:`abnb.sample_models`):

* ``predictions``: one row per served request: model version, segment, classifier score and prediction,
  fare prediction, latency and error flag.
* ``labels``: manual labels of a sample of requests with its known inclusion probability.
* ``fares``: the true fare of a request, known 7 days after the prediction (delayed labels).
* ``ratings``: 1–5 star answers to a call-quality prompt (sparse, negatively biased).
* ``corrections``: user reports of missed positives (false negatives), at a known reporting rate.
* ``edits``: user edits of a transcript, a weak proxy of errors.
* ``ops``: per-minute summaries of traffic, errors and latency quantiles (a summarisation table).
* ``releases``: model release markers.
* ``truth``: the hidden true label of every request; ground truth the kit never sees in production, for tests
  and chaos experiments.
* ``shadow``: the scores a candidate model gave, in the shadow, to the same requests as the live model (joined to
  ``predictions`` by ``request_id``); its answers were never served.

:data:`SCHEMAS` is the single source of truth for their columns and DuckDB types; :func:`create_tables`
creates them and :func:`check_table` tells a user, before any metric SQL runs, which table or column is
missing and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import duckdb

from abnb.errors import SchemaError

if TYPE_CHECKING:
    from abnb.engine import BaseConnection

__all__ = ["EVENT_NAMES", "MODEL_TABLES", "SCHEMAS", "check_table", "create_tables"]

SCHEMAS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "exposures": (
            ("experiment", "VARCHAR"),
            ("unit", "BIGINT"),
            ("arm", "VARCHAR"),
            ("ts", "TIMESTAMP"),
            ("country", "VARCHAR"),
            ("platform", "VARCHAR"),
        ),
        "events": (
            ("unit", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("event", "VARCHAR"),
            ("value", "DOUBLE"),
        ),
        "predictions": (
            ("request_id", "BIGINT"),
            ("unit", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("model_version", "VARCHAR"),
            ("segment", "VARCHAR"),
            ("score", "DOUBLE"),
            ("prediction", "INTEGER"),
            ("fare_predicted", "DOUBLE"),
            ("latency_ms", "DOUBLE"),
            ("error", "BOOLEAN"),
        ),
        "labels": (
            ("request_id", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("label", "INTEGER"),
            ("inclusion_prob", "DOUBLE"),
        ),
        "fares": (
            ("request_id", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("fare_actual", "DOUBLE"),
        ),
        "ratings": (
            ("request_id", "BIGINT"),
            ("unit", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("rating", "INTEGER"),
        ),
        "corrections": (
            ("request_id", "BIGINT"),
            ("ts", "TIMESTAMP"),
        ),
        "edits": (
            ("request_id", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("edit_chars", "INTEGER"),
            ("transcript_chars", "INTEGER"),
        ),
        "ops": (
            ("ts", "TIMESTAMP"),
            ("model_version", "VARCHAR"),
            ("requests", "INTEGER"),
            ("errors", "INTEGER"),
            ("latency_p50", "DOUBLE"),
            ("latency_p95", "DOUBLE"),
            ("latency_p99", "DOUBLE"),
        ),
        "releases": (
            ("ts", "TIMESTAMP"),
            ("model_version", "VARCHAR"),
            ("description", "VARCHAR"),
        ),
        "truth": (
            ("request_id", "BIGINT"),
            ("label", "INTEGER"),
        ),
        "shadow": (
            ("request_id", "BIGINT"),
            ("ts", "TIMESTAMP"),
            ("model_version", "VARCHAR"),
            ("score", "DOUBLE"),
            ("prediction", "INTEGER"),
        ),
    }
)
"""Table name → ordered ``(column, DuckDB type)`` pairs of the telemetry tables."""

MODEL_TABLES: tuple[str, ...] = (
    "predictions",
    "labels",
    "fares",
    "ratings",
    "corrections",
    "edits",
    "ops",
    "releases",
    "truth",
    "shadow",
)
"""The model-quality tables of :data:`SCHEMAS`, written by :mod:`abnb.sample_models`."""

EVENT_NAMES: tuple[str, ...] = ("session", "page_view", "purchase")
"""Event names written by :mod:`abnb.sample`, in the order of their integer codes."""

_GENERATE_HINT = "run `abnb data generate` to (re)create the sample database"


def _quote_identifier(name: str) -> str:
    """Quote a SQL identifier for DuckDB.

    Args:
        name: A table or column name, used verbatim (case and special characters kept).

    Returns:
        The name in double quotes, with embedded double quotes doubled, e.g. ``"my ""odd"" col"``.
    """
    return '"' + name.replace('"', '""') + '"'


def create_tables(connection: duckdb.DuckDBPyConnection, *, replace: bool = False) -> None:
    """Create every table of :data:`SCHEMAS` on a read-write DuckDB connection.

    Args:
        connection: A DuckDB connection opened with ``read_only=False``.
        replace: Drop and recreate tables that already exist instead of failing.

    Raises:
        SchemaError: A table already exists and ``replace`` is false.
    """
    for table, columns in SCHEMAS.items():
        if not replace and _table_columns(connection, table) is not None:
            raise SchemaError(f"table {table!r} already exists; drop it first or call create_tables(..., replace=True)")
        column_sql = ", ".join(f"{_quote_identifier(column)} {sql_type}" for column, sql_type in columns)
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        connection.execute(f"{verb} {_quote_identifier(table)} ({column_sql})")


def check_table(
    connection: duckdb.DuckDBPyConnection | BaseConnection,
    table: str,
    columns: Iterable[str] | None = None,
    *,
    fixes: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Check that a table (or view) exists and has the given columns.

    On DuckDB the lookup goes through ``information_schema`` with bound parameters, in the connection's current
    database and schema; on another engine through its adapter (:meth:`abnb.engine.BaseConnection.columns`, e.g.
    the Spark catalog). Names compare case-insensitively, as DuckDB and Spark identifiers do.

    Args:
        connection: A DuckDB connection (read-only is fine) or an abnb engine adapter (``abnb.connect(...)``).
        table: Table or view name, e.g. ``"events"``.
        columns: Column names the caller needs. ``None`` means the columns of ``SCHEMAS[table]``, or none
            at all for a table abnb does not know.
        fixes: Per needed column, how to point abnb at another column when it is missing (e.g.
            ``{"arm": '[exposures] arm = "<column>"'}``); said in the error instead of the generic advice.

    Returns:
        The table's columns mapped to their types (DuckDB's, or the adapter's upper-case SQL names), in table order.

    Raises:
        SchemaError: The table does not exist (the message lists the tables that do), or a column is missing
            (the message lists the missing and the existing columns).
    """
    if columns is None:
        columns = [name for name, _ in SCHEMAS.get(table, ())]
    wanted = list(columns)
    from abnb.engine import Connection

    if isinstance(connection, Connection):
        connection = connection.raw
    if isinstance(connection, duckdb.DuckDBPyConnection):
        found = _table_columns(connection, table)
    else:
        found = connection.columns(table)
    if found is None:
        existing = (
            _existing_tables(connection)
            if isinstance(connection, duckdb.DuckDBPyConnection)
            else sorted(connection.tables())
        )
        listing = ", ".join(existing) if existing else "none"
        hint = _GENERATE_HINT if table in SCHEMAS else "create it, or point abnb at the database that holds it"
        raise SchemaError(f"table {table!r} does not exist (tables present: {listing}); {hint}")
    present = {name.lower() for name in found}
    missing = [name for name in wanted if name.lower() not in present]
    if missing:
        listing = ", ".join(f"{name} {sql_type}" for name, sql_type in found.items())
        noun = "column" if len(missing) == 1 else "columns"
        specific = [fixes[name] for name in missing if fixes and name in fixes]
        advice = (
            "; ".join(specific) + ", or rename the column in the table or a view over it"
            if specific
            else f"rename the column in the table or a view over it, or {_GENERATE_HINT}"
        )
        raise SchemaError(
            f"table {table!r} lacks {noun} {', '.join(repr(name) for name in missing)} (it has: {listing}); {advice}"
        )
    return found


def _table_columns(connection: duckdb.DuckDBPyConnection, table: str) -> dict[str, str] | None:
    """Columns and types of ``table`` in the current database and schema, or ``None`` if it does not exist."""
    rows = connection.execute(
        """
        SELECT column_name, data_type
        FROM information_schema.columns
        WHERE table_catalog = current_database()
          AND table_schema = current_schema()
          AND lower(table_name) = lower(?)
        ORDER BY ordinal_position
        """,
        [table],
    ).fetchall()
    if not rows:
        return None
    return {str(name): str(sql_type) for name, sql_type in rows}


def _existing_tables(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the tables and views in the current database and schema, sorted."""
    rows = connection.execute(
        """
        SELECT table_name
        FROM information_schema.tables
        WHERE table_catalog = current_database() AND table_schema = current_schema()
        ORDER BY table_name
        """
    ).fetchall()
    return [str(name) for (name,) in rows]
