"""Telemetry tables as abnb meets them: does a table have the columns an analysis reads; loading and exporting.

:func:`check_table` tells a user, before any metric SQL runs, which table or column is missing, in which database,
and how to fix it. It works on every engine adapter (:meth:`abnb.engine.BaseConnection.columns`), and on any
relation the engine can name: tables, views, TEMP tables, pandas/Arrow frames registered on the connection,
project sources and schema-qualified names (``analytics.assignments``).

:func:`import_table` loads CSV, Parquet or JSON files into a DuckDB table once (``abnb data import``);
:func:`export_parquet` writes DuckDB tables to Parquet files (``abnb data export``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from abnb.engine.base import BaseConnection
from abnb.engine.connection import as_connection, connect, default_database
from abnb.engine.local import Connection
from abnb.engine.names import identifier, table_expr
from abnb.engine.sources import SOURCE_READERS, source_files
from abnb.errors import SchemaError

_MISSING_TABLE_FIX = (
    "create it, declare it under [sources] in abnb.toml, or point abnb at the database that holds it "
    "(`abnb data generate` writes the sample tables)"
)


def check_table(
    connection: BaseConnection | Any,
    table: str,
    columns: Iterable[str] = (),
    *,
    fixes: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Check that a table (or view, frame, source) exists and has the given columns.

    Names compare case-insensitively, as DuckDB and Spark identifiers do. The lookup reads the relation's schema
    only (``DESCRIBE``, or the Spark catalog), never its rows.

    Args:
        connection: An abnb engine adapter (``abnb.connect(...)``), a DuckDB connection or a ``SparkSession``.
        table: Table name, optionally qualified (``schema.table``, ``catalog.schema.table``).
        columns: Column names the caller needs (none: only check that the table exists).
        fixes: Per needed column, how to point abnb at another column when it is missing (e.g.
            ``{"arm": '[exposures] arm = "<column>"'}``); said in the error instead of the generic advice.

    Returns:
        The table's columns mapped to their upper-case SQL types, in table order.

    Raises:
        SchemaError: The table does not exist (the message names the database and lists the tables that do), or a
            column is missing (the message lists the missing and the existing columns).
    """
    adapter = as_connection(connection)
    wanted = list(columns)
    found = adapter.columns(table)
    if found is None:
        existing = adapter.tables()
        listing = ", ".join(existing) if existing else "none"
        raise SchemaError(
            f"table {table!r} does not exist (tables present: {listing}) in {adapter.database}; {_MISSING_TABLE_FIX}."
        )
    present = {name.lower() for name in found}
    missing = [name for name in wanted if name.lower() not in present]
    if missing:
        listing = ", ".join(f"{name} {sql_type}" for name, sql_type in found.items())
        noun = "column" if len(missing) == 1 else "columns"
        specific = [fixes[name] for name in missing if fixes and name in fixes]
        advice = (
            "; ".join(specific) + ", or rename the column in the table or a view over it"
            if specific
            else "rename the column in the table or a view over it, or name the column the table has in the spec"
        )
        raise SchemaError(
            f"table {table!r} lacks {noun} {', '.join(repr(name) for name in missing)} "
            f"(it has: {listing}; in {adapter.database}); {advice}."
        )
    return found


def import_table(
    database: str | os.PathLike[str],
    table: str,
    files: str | os.PathLike[str] | list[str | os.PathLike[str]],
    *,
    format: str | None = None,
    replace: bool = False,
    timezone: str = "UTC",
) -> int:
    """Load CSV, Parquet or JSON files into a table of a DuckDB file, once (``abnb data import``).

    The table is created from the files' columns (DuckDB detects CSV dialects and types) in one transaction: a
    failed load leaves the database as it was. To keep reading files as they change, declare them as sources in
    ``abnb.toml`` instead (views, no copy).

    Args:
        database: The DuckDB file (created if missing; its folder must exist).
        table: The new table's name (``schema.table`` allowed, in an existing schema).
        files: A path or glob, or several; all must share one format.
        format: ``parquet``, ``csv`` or ``json``; default from the file suffix.
        replace: Replace an existing table of that name (default: refuse).
        timezone: The session zone while loading (how CSV timestamps with offsets are shown; values keep
            their instant).

    Returns:
        The number of rows loaded.

    Raises:
        SchemaError: The table exists and ``replace`` is false.
        DatabaseNotFoundError: No file matches.
        EngineError: DuckDB cannot read the files or write the database (e.g. another process holds it).
    """
    from sqlglot import exp

    paths = [files] if isinstance(files, str | os.PathLike) else list(files)
    if not paths:
        raise SchemaError(f"no file given to load into table {table!r}.")
    checked = [source_files(table.split(".")[-1], (os.fspath(p), format) if format else p) for p in paths]
    formats = {fmt for _, fmt in checked}
    if len(formats) != 1:
        raise SchemaError(f"files for table {table!r} mix formats ({', '.join(sorted(formats))}); load one at a time.")
    reader = SOURCE_READERS[formats.pop()]
    listing = exp.Array(expressions=[exp.Literal.string(path) for path, _ in checked])
    select = exp.select("*").from_(exp.func(reader, listing))
    target = table_expr(table, "table name")
    with connect(database, read_only=False, timezone=timezone, external_access=True) as con:  # reads `files`
        if con.columns(table) is not None and not replace:
            raise SchemaError(
                f"table {table!r} already exists in {con.database}; pass replace=True (abnb data import --replace) to "
                "replace it, or choose another name."
            )
        create = exp.Create(this=target, kind="TABLE", replace=replace, expression=select)
        con.raw.execute("BEGIN TRANSACTION")
        try:
            con.raw.execute(con.render(create))
            count = con.run(exp.select(exp.Count(this=exp.Star())).from_(target.copy())).rows[0][0]
            con.raw.execute("COMMIT")
        except BaseException:
            con.raw.execute("ROLLBACK")
            raise
    return int(count)


def export_parquet(
    database: str | os.PathLike[str] | Connection | None,
    directory: str | os.PathLike[str],
    tables: Sequence[str] | None = None,
) -> list[Path]:
    """Export DuckDB tables to ``<directory>/<table>.parquet`` (one file per table), e.g. to analyse them on Spark.

    Args:
        database: A DuckDB file (``None``: the current project's database) or an open :class:`Connection`.
        directory: Output folder, created if needed; existing files of the same names are replaced.
        tables: Tables to export (default: every table of the database).

    Returns:
        The paths written.

    Raises:
        SchemaError: A requested table does not exist.
    """
    out = Path(directory)
    con = (
        database
        if isinstance(database, Connection)
        else connect(default_database() if database is None else database, external_access=True)
    )
    try:
        present = con.tables()
        names = list(present) if tables is None else list(tables)
        missing = [n for n in names if n not in present]
        if missing:
            raise SchemaError(f"table(s) {', '.join(missing)} not in {con.database} (tables: {', '.join(present)}).")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in names:
            quoted = identifier(name, "table name").sql(dialect="duckdb")
            path = out / f"{name}.parquet"
            con.raw.table(quoted).write_parquet(str(path))
            written.append(path)
        return written
    finally:
        if con is not database:
            con.close()
