"""Connecting to the SQL engine and running the queries abnb builds.

Queries are SQLGlot expression trees: identifiers are validated and quoted when the tree is built, and values
travel as bound parameters (named placeholders), never formatted into the text. An adapter renders a tree for its
engine's dialect (SQLGlot transpiles it), runs it with the values bound, and counts every row it hands back to
Python, so tests can prove that an analysis fetched aggregates rather than telemetry rows.

Adapters share :class:`BaseConnection`: :class:`Connection` for DuckDB (the embedded default) and
:class:`SparkConnection` for Apache Spark (a ``pyspark`` session, local, on a cluster or through Spark Connect).
pyspark is imported only when a Spark connection is made.

Whatever the engine, a connection can expose files as views (``sources``: Parquet, CSV or JSON, never copied),
pandas or Arrow frames (``frames``, DuckDB) and works in one time zone (``timezone``, the project's; UTC by
default), so naive cutoffs and ``TIMESTAMPTZ`` columns compare the same way whatever zone the process runs in.

| module | concept |
| --- | --- |
| ``names`` | identifiers and qualified table names, validated and quoted |
| ``base`` | the adapter base (:class:`BaseConnection`), :class:`QueryResult`, timestamps read back |
| ``local`` | DuckDB: the :class:`Connection` adapter, opening a file, the session's time zone, DuckDB's errors |
| ``locks`` | waiting for a locked DuckDB file: timeout, backoff, who holds the lock |
| ``access`` | the trust boundary: :func:`restrict_access` (docs/security.md) |
| ``spark`` | Apache Spark: the :class:`SparkConnection` adapter, specs and sessions |
| ``sources`` | files exposed as views: paths, globs, formats, Parquet folders |
| ``connection`` | :func:`connect`, :func:`connect_spark`, :func:`as_connection`, :func:`register_sources` |
| ``tables`` | :func:`check_table`, :func:`import_table`, :func:`export_parquet` |
| ``snapshot`` | :class:`Snapshot`: one render reads one version of the files |
"""

from __future__ import annotations

from abnb.engine.access import allowed_location, restrict_access, view_files
from abnb.engine.base import BaseConnection, QueryResult, wall_clock
from abnb.engine.connection import (
    as_connection,
    connect,
    connect_spark,
    default_database,
    register_sources,
)
from abnb.engine.local import Connection, set_timezone
from abnb.engine.locks import LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_MAX, backoff_schedule, lock_timeout, process_kind
from abnb.engine.names import identifier, table_expr, validate_identifier, validate_table_name
from abnb.engine.snapshot import FileId, Snapshot
from abnb.engine.sources import SOURCE_READERS, SourceSpec, parquet_sources, source_files, source_pattern
from abnb.engine.spark import SparkConnection, is_spark_spec
from abnb.engine.tables import check_table, export_parquet, import_table

__all__ = [
    "LOCK_TIMEOUT_ENV",
    "LOCK_TIMEOUT_MAX",
    "SOURCE_READERS",
    "BaseConnection",
    "Connection",
    "FileId",
    "QueryResult",
    "Snapshot",
    "SourceSpec",
    "SparkConnection",
    "allowed_location",
    "as_connection",
    "backoff_schedule",
    "check_table",
    "connect",
    "connect_spark",
    "default_database",
    "export_parquet",
    "identifier",
    "import_table",
    "is_spark_spec",
    "lock_timeout",
    "parquet_sources",
    "process_kind",
    "register_sources",
    "restrict_access",
    "set_timezone",
    "source_files",
    "source_pattern",
    "table_expr",
    "validate_identifier",
    "validate_table_name",
    "view_files",
    "wall_clock",
]
