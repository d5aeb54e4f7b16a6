"""The schemas of abnb's sample telemetry: tables, columns and DuckDB types.

Experiment telemetry (:mod:`abnb.datasets.sample`):

* ``exposures``: one row per unit's first exposure to an experiment arm (a planted logging glitch adds a few more).
* ``events``: one row per thing a unit did, with a numeric ``value`` whose meaning depends on ``event``:
  ``session`` (value = session minutes), ``page_view`` (value = pages viewed in that session, one summarised row
  per session) and ``purchase`` (value = revenue in USD).

Model-quality telemetry (:mod:`abnb.datasets.models`):

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

These are the sample's tables, not a contract: the library reads a team's own tables through the names a spec
or :class:`abnb.telemetry.ModelTelemetry` gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import duckdb

from abnb.errors import SchemaError

__all__ = ["EVENT_NAMES", "MODEL_TABLES", "SCHEMAS", "create_tables"]

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
"""The model-quality tables of :data:`SCHEMAS`, written by :mod:`abnb.datasets.models`."""

EVENT_NAMES: tuple[str, ...] = ("session", "page_view", "purchase")
"""Event names written by :mod:`abnb.datasets.sample`, in the order of their integer codes."""


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
        if not replace and _exists(connection, table):
            raise SchemaError(f"table {table!r} already exists; drop it first or call create_tables(..., replace=True)")
        column_sql = ", ".join(f"{_quote_identifier(column)} {sql_type}" for column, sql_type in columns)
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        connection.execute(f"{verb} {_quote_identifier(table)} ({column_sql})")


def _exists(connection: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = connection.execute(
        "SELECT 1 FROM duckdb_tables() WHERE lower(table_name) = lower(?) AND schema_name = current_schema()",
        [table],
    ).fetchall()
    return bool(rows)
