"""DuckDB, the embedded default engine: its adapter, opening a file, the session's time zone, and its errors.

A file locked by another process is retried with backoff (:mod:`abnb.engine.locks`); what DuckDB refuses or cannot
read becomes an :class:`~abnb.errors.AbnbError` that says what to fix.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb.engine.base import BaseConnection, QueryResult, first_line, wall_clock
from abnb.engine.locks import backoff_schedule, lock_message, lock_timeout
from abnb.engine.names import table_expr
from abnb.errors import (
    AbnbError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    EngineError,
    ParameterError,
    SchemaError,
    SpecError,
)

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp


class Connection(BaseConnection):
    """A DuckDB connection with abnb's query runner and a count of rows fetched.

    Attributes the adapter does not define (``sql``, ``execute``, ``table`` ...) are forwarded to the underlying
    ``duckdb.DuckDBPyConnection``, so the object can be used wherever a DuckDB connection is expected. Use it as a
    context manager to close it after use.
    """

    dialect = "duckdb"
    raw: duckdb.DuckDBPyConnection

    def __init__(self, raw: duckdb.DuckDBPyConnection, *, database: str, read_only: bool) -> None:
        super().__init__(raw, database=database)
        self.read_only = read_only
        self.restricted = False  # set by restrict_access(): SQL reaches only the database, sources and frames

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def close(self) -> None:
        """Close the underlying connection."""
        self.raw.close()

    def time_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters with each ``datetime`` as ISO text, which DuckDB casts to the type of the column it meets.

        :meth:`run` binds every parameter this way.

        A naive cutoff then means wall-clock time for a ``TIMESTAMP`` column and the session zone (the project's)
        for ``TIMESTAMPTZ`` of any precision, folded to one constant, so the filter still prunes. Bound as a
        ``datetime``, DuckDB 2.0 compares it with ``TIMESTAMPTZ_NS`` columns (what pandas writes to Parquet) as
        if it were UTC. On a ``DATE`` column a cutoff inside a day counts that day out.
        """
        bound: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, datetime):  # an instant: its wall-clock time in the session zone
                value = wall_clock(value, self.timezone).isoformat(sep=" ")  # type: ignore[union-attr]
            bound[name] = value
        return bound

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"abnb.Connection({self.database!r}, {mode}, rows_fetched={self.rows_fetched})"

    def _execute(self, sql: str, params: dict[str, Any]) -> QueryResult:
        import duckdb

        try:
            cursor = self.raw.execute(sql, self.time_values(params))
            rows = cursor.fetchall()
        except duckdb.Error as error:
            raise _query_failure(error, self.database) from error
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns, rows)

    def describe(self, query: exp.Query, params: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Column names and types that ``query`` would return, without running it over the data."""
        from sqlglot import exp as sqlexp

        limited = sqlexp.select("*").from_(query.subquery("described")).limit(0)
        cursor = self._execute_for_description(limited, params)
        return {d[0]: str(d[1]) for d in cursor.description or ()}

    def _execute_for_description(
        self, query: exp.Expression, params: Mapping[str, Any] | None
    ) -> duckdb.DuckDBPyConnection:
        import duckdb

        try:
            return self.raw.execute(self.render(query), dict(params or {}))
        except duckdb.Error as error:
            raise _query_failure(error, self.database, describing=True) from error

    def columns(self, table: str) -> dict[str, str] | None:
        """Columns of ``table`` and their DuckDB types, or ``None`` if there is no such relation.

        Any relation DuckDB can name counts: tables and views of the current schema, TEMP tables, registered
        frames, project sources, and qualified names (``analytics.assignments``). Only the schema is read.
        """
        import duckdb
        from sqlglot import exp as sqlexp

        try:
            query = sqlexp.select("*").from_(table_expr(table, "table name"))
        except SpecError:
            return None  # no relation has a name that is not an identifier
        try:
            rows = self.raw.execute("DESCRIBE " + self.render(query)).fetchall()
        except duckdb.CatalogException:
            return None
        except duckdb.PermissionException as error:
            raise _outside(error, self.database) from error
        except duckdb.IOException as error:
            raise EngineError(_read_failure(self.database, first_line(error))) from error
        except duckdb.Error as error:
            raise EngineError(
                f"cannot read the columns of {table!r} in {self.database}: {first_line(error)}"
            ) from error
        return {str(row[0]): str(row[1]) for row in rows}

    def tables(self) -> list[str]:
        """Tables and views the connection sees (temporary ones and sources included), qualified where needed."""
        rows = self.raw.execute(
            """
            SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE NOT internal
            UNION ALL
            SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal
            """
        ).fetchall()
        current = self.raw.execute("SELECT current_database()").fetchall()[0][0]
        names = set()
        for catalog, schema, name in rows:
            if catalog in (current, "temp") and schema == "main":
                names.add(str(name))
            elif catalog == current:
                names.add(f"{schema}.{name}")
            else:
                names.add(f"{catalog}.{schema}.{name}")
        return sorted(names)


def _open_own_instance(name: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB instance of its own (in memory) with the file ``name`` attached and in use.

    ``duckdb.connect(path)`` shares one instance (and its configuration) among the connections of a process to the
    same file; :func:`~abnb.engine.access.restrict_access` sets and locks configuration per instance, so every abnb
    connection gets its own instance and attaches the file, under the catalog name DuckDB would give it (the file's
    stem). Read-only attachments of one file by several instances coexist; the file lock between processes is the
    same as for ``duckdb.connect``.
    """
    import duckdb
    from sqlglot import exp as sqlexp

    stem = re.sub(r"\W", "_", Path(name).stem) or "db"
    alias = f"db_{stem}" if stem[0].isdigit() or stem.lower() in {"memory", "temp", "system", "main"} else stem
    quoted = sqlexp.to_identifier(alias, quoted=True).sql(dialect="duckdb")
    raw = duckdb.connect(":memory:")
    try:
        raw.execute(f"ATTACH $path AS {quoted}{' (READ_ONLY)' if read_only else ''}", {"path": name})
        raw.execute(f"USE {quoted}")
        temp = sqlexp.Literal.string(f"{os.path.abspath(name)}.tmp").sql(dialect="duckdb")
        raw.execute(f"SET temp_directory = {temp}")  # where DuckDB spills for a file it opened itself
    except BaseException:
        raw.close()
        raise
    return raw


def open_duckdb(
    database: str | os.PathLike[str],
    *,
    read_only: bool,
    timeout: float | None = None,
    timezone: str = "UTC",
    own_instance: bool = False,
) -> Connection:
    """Open a DuckDB file (or ``":memory:"``) with its session in the zone ``timezone``.

    While another process holds a conflicting lock, the open is retried for up to ``timeout`` seconds
    (:func:`~abnb.engine.locks.lock_timeout`, waits of :func:`~abnb.engine.locks.backoff_schedule`).
    ``own_instance`` gives the connection a DuckDB instance of its own with the file attached, so that
    :func:`~abnb.engine.access.restrict_access` can lock its configuration.

    Raises:
        DatabaseNotFoundError: The file does not exist.
        DatabaseLockedError: The file is still locked after the timeout.
        EngineError: The path is a folder, or the file is not a DuckDB database.
    """
    import duckdb

    path = Path(database)
    name = str(path)
    if name != ":memory:" and not path.exists() and (read_only or not path.parent.exists()):
        raise DatabaseNotFoundError(
            f"database file {name} does not exist: check the path ([engine] database in abnb.toml, --database, or "
            "$ABNB_DATABASE); `abnb data generate` writes the sample there, `abnb data import` loads your files."
        )
    if name != ":memory:" and path.is_dir():
        raise EngineError(
            f"cannot open database {name}: Is a directory. Give the path of a DuckDB file inside it "
            "(e.g. data/telemetry.duckdb), or set ABNB_DATABASE."
        )
    waits = backoff_schedule(lock_timeout(timeout))
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            if own_instance and name != ":memory:":
                raw = _open_own_instance(name, read_only=read_only)
            else:
                raw = duckdb.connect(name, read_only=read_only and name != ":memory:")
            break
        except duckdb.IOException as error:
            message = first_line(error)
            if "lock" not in message.lower():
                raise EngineError(_not_duckdb(name, message)) from error
            if attempts > len(waits):
                raise DatabaseLockedError(
                    lock_message(
                        name, message, read_only=read_only, waited=time.monotonic() - started, attempts=attempts
                    )
                ) from error
            time.sleep(waits[attempts - 1])
        except duckdb.Error as error:
            message = first_line(error)
            if "file handle conflict" in message.lower() or "different configuration" in message.lower():
                raise EngineError(
                    f"database {name} is already open in this process with another mode ({message}): close the "
                    "other connection (a read-write one excludes every other), then connect again."
                ) from error
            raise EngineError(_not_duckdb(name, message)) from error
    # The progress bar has crashed Jupyter kernels. In a kernel without ipywidgets DuckDB refuses the setting:
    # then there is no bar to hide.
    with contextlib.suppress(duckdb.Error):
        raw.execute("SET enable_progress_bar = false")
    connection = Connection(raw, database=name, read_only=read_only)
    set_timezone(connection, timezone)
    return connection


def set_timezone(connection: Connection, timezone: str) -> None:
    """Set the DuckDB session's time zone (``SET TimeZone``), so no cutoff depends on the process' zone.

    Raises:
        ParameterError: ``timezone`` is not an IANA zone name.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sqlglot import exp as sqlexp

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        connection.close()
        raise ParameterError(
            f"time zone {timezone!r} is not an IANA zone name such as 'UTC' or 'Europe/Berlin'."
        ) from error
    connection.raw.execute(f"SET TimeZone = {sqlexp.Literal.string(timezone).sql(dialect='duckdb')}")
    connection.timezone = timezone


def _query_failure(error: duckdb.Error, database: str, *, describing: bool = False) -> AbnbError:
    """The error for a failed DuckDB query: a missing table or column, SQL outside the boundary, an unreadable file.

    Args:
        error: DuckDB's exception.
        database: What the connection is connected to, for the message.
        describing: The query was being described (:meth:`Connection.describe`): a parser error is then the spec's.
    """
    import duckdb

    if isinstance(error, duckdb.CatalogException | duckdb.BinderException):
        return SchemaError(f"{first_line(error)} (database {database}).")
    if describing and isinstance(error, duckdb.ParserException):
        return SpecError(f"the SQL could not be parsed by DuckDB: {first_line(error)}")
    if isinstance(error, duckdb.PermissionException):
        return _outside(error, database)
    if isinstance(error, duckdb.IOException):
        return EngineError(_read_failure(database, first_line(error)))
    return _engine_failure(error)


def _outside(error: BaseException, database: str) -> SpecError | EngineError:
    """The error for SQL that DuckDB refused to let reach a file, URL or extension outside the boundary.

    A ``SpecError`` naming the file or URL; for a relative path (which no spec can contain: metric SQL names no
    files) the message of :func:`_read_failure`: a view of the database reads a path relative to the working
    directory, which DuckDB looked for (as a file, then as a folder) in the wrong place.
    """
    message = first_line(error)
    found = re.search(r'Cannot access (?:file|directory) "([^"]*)"', message)
    target = re.sub(r"/\*\*/\*\.parquet$", "", found.group(1)) if found else ""
    if target and "://" not in target and not os.path.isabs(os.path.expanduser(target)):
        return EngineError(_read_failure(database, f'No files found that match the pattern "{target}"'))
    what = f"reads {target!r}" if found else f"was refused ({message})"
    return SpecError(
        f"the SQL {what}, outside what abnb lets SQL reach on database {database}: its tables and views, the project's "
        "declared [sources] and registered frames; no other file, URL, COPY, ATTACH or extension. Declare the files "
        "in abnb.toml [sources] (or use an absolute path in the database's view); see docs/security.md."
    )


_MISSING_FILES = re.compile(r'No files found that match the pattern "([^"]*)"')
_CORRUPT = re.compile(r"corrupt|checksum|truncat|not a valid DuckDB|could not read enough bytes|magic", re.IGNORECASE)


def _read_failure(database: str, message: str) -> str:
    """The message for a DuckDB ``IOException`` during a query: advice for what the text says went wrong.

    A missing file of a view or source is not a damaged database: a relative path is resolved against the
    working directory, which differs between a shell, a notebook kernel (``notebooks/``) and a scheduled job. Only
    DuckDB's own words for a damaged file (corrupt, checksum, truncated) lead to the advice to restore it.
    """
    missing = _MISSING_FILES.search(message)
    if missing:
        pattern = missing.group(1)
        where = (
            f"it is a relative path, read from the working directory ({os.getcwd()}), which differs between a shell, "
            "a notebook kernel (it runs in notebooks/) and a scheduled job"
            if not os.path.isabs(os.path.expanduser(pattern)) and "://" not in pattern
            else "check that the files exist"
        )
        return (
            f"a view or source of database {database} reads {pattern!r}, and no file matches it: {where}. Give the "
            "view an absolute path (CREATE OR REPLACE VIEW ... read_parquet('/abs/path/...')), or declare the files "
            "in abnb.toml [sources] (paths there are relative to the project folder)."
        )
    if _CORRUPT.search(message):
        return (
            f"database {database} could not be read: {message}. The file may be truncated or corrupt: restore it "
            "from a backup, or regenerate it (`abnb data generate` for the sample)."
        )
    return f"database {database}, or a file one of its views reads, could not be read: {message}."


def _engine_failure(error: BaseException) -> EngineError:
    message = first_line(error)
    if "Values were not provided for the following parameters" in message:
        return EngineError(
            f"the query failed in DuckDB: {message}. Metric SQL must not contain parameters ($name or ?): abnb binds "
            "the cutoffs itself; write the value into the SQL, or use the spec's start/end and as_of."
        )
    return EngineError(f"the query failed in DuckDB: {message}")


def _not_duckdb(name: str, message: str) -> str:
    return (
        f"cannot open database {name}: it is not a DuckDB database, or it is truncated or corrupt ({message}). "
        "Restore it from a backup, or regenerate it (`abnb data generate` for the sample)."
    )
