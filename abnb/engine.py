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
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, overload

from abnb.errors import (
    DatabaseLockedError,
    DatabaseNotFoundError,
    EngineError,
    ParameterError,
    ReportError,
    SchemaError,
    SpecError,
)

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

__all__ = [
    "BaseConnection",
    "Connection",
    "QueryResult",
    "Snapshot",
    "SparkConnection",
    "as_connection",
    "connect",
    "connect_spark",
    "default_database",
    "export_parquet",
    "identifier",
    "is_spark_spec",
    "parquet_sources",
    "register_sources",
    "source_files",
    "table_expr",
    "validate_identifier",
    "validate_table_name",
    "wall_clock",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def validate_identifier(name: object, what: str) -> str:
    """Check that ``name`` is a plain SQL identifier (letters, digits, underscore; not starting with a digit).

    Args:
        name: The candidate table, column or metric name.
        what: What the name is, for the error message (e.g. ``"metric name"``).

    Returns:
        The name, unchanged.

    Raises:
        SpecError: If the name is not a string or contains anything but ``[A-Za-z0-9_]``.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        shown = (
            repr(name) if not isinstance(name, str) or len(name) <= 80 else f"{name[:60]!r}… ({len(name):,} characters)"
        )
        detail = ""
        if isinstance(name, str) and len(name) > 63:
            detail = f" It is {len(name):,} characters long; the limit is 63."
        elif isinstance(name, str) and not name.isascii():
            detail = " Non-ASCII letters are not allowed in identifiers (they are fine as values, e.g. arm names)."
        raise SpecError(
            f"{what} {shown} is not a valid identifier: use 1-63 ASCII letters (a-z, A-Z), digits or underscores, "
            f"starting with a letter or underscore (no spaces, quotes, dots or semicolons).{detail}"
        )
    return name


def identifier(name: str, what: str) -> exp.Identifier:
    """Return a quoted SQLGlot identifier for a validated ``name``."""
    from sqlglot import exp

    return exp.to_identifier(validate_identifier(name, what), quoted=True)


def validate_table_name(name: object, what: str) -> str:
    """Check a table name: an identifier, or a qualified ``schema.table`` / ``catalog.schema.table``.

    Each part follows :func:`validate_identifier`; the dots separate parts and are never part of a name.

    Returns:
        The name, unchanged.

    Raises:
        SpecError: A part is not a plain identifier, or there are more than three parts.
    """
    parts = name.split(".") if isinstance(name, str) else [name]
    if len(parts) == 1:
        return validate_identifier(name, what)
    if len(parts) > 3 or not all(isinstance(p, str) and _IDENTIFIER.match(p) for p in parts):
        raise SpecError(
            f"{what} {name!r} is not a valid identifier or qualified name: give table, schema.table or "
            "catalog.schema.table, each part 1-63 ASCII letters, digits or underscores, starting with a letter or "
            "underscore (no spaces, quotes or semicolons)."
        )
    return str(name)


def table_expr(name: str, what: str, alias: str | None = None) -> exp.Table:
    """A SQLGlot table for a validated, possibly qualified ``name``, every part quoted, optionally aliased."""
    from sqlglot import exp

    parts = validate_table_name(name, what).split(".")
    catalog, db, table = [None] * (3 - len(parts)) + parts
    return exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(db, quoted=True) if db else None,
        catalog=exp.to_identifier(catalog, quoted=True) if catalog else None,
        alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)) if alias else None,
    )


def default_database() -> Path:
    """The DuckDB file of the current project (``$ABNB_DATABASE`` overrides it).

    That is ``[engine] database`` of the ``abnb.toml`` found from the current directory upward (``$ABNB_PROJECT``
    chooses another project), or ``data/telemetry.duckdb`` in the current directory when there is no project file.

    Raises:
        ProjectError: The project's engine is not a DuckDB file (Spark, or sources only).
    """
    from abnb.errors import ProjectError
    from abnb.project import current_project

    project = current_project()
    if project.database is None:
        raise ProjectError(
            f"project {project.name!r} ({project.file}) has no DuckDB database ([engine] "
            f"{'url' if project.url else 'database'} is not a file); pass a database explicitly."
        )
    return project.database


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows returned by one query."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class BaseConnection:
    """What every engine adapter offers the analysis: render, run, describe, list tables and columns.

    Subclasses set :attr:`dialect` (a SQLGlot dialect name) and implement :meth:`_execute`, :meth:`describe`,
    :meth:`columns`, :meth:`tables` and :meth:`close`; :meth:`run` counts the queries and rows in one place.
    Use an adapter as a context manager to close it after use.

    Attributes:
        raw: The engine's own connection or session object.
        database: What the adapter is connected to, for messages.
        timezone: The session's time zone when abnb set it (``None``: the engine's own setting).
        rows_fetched: Rows handed back to Python so far.
        queries_run: Queries run so far.
    """

    dialect: str = ""

    def __init__(self, raw: Any, *, database: str) -> None:
        self.raw = raw
        self.database = database
        self.timezone: str | None = None
        self.rows_fetched = 0
        self.queries_run = 0
        self._rendered: dict[int, tuple[exp.Expression, str]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the engine connection."""
        raise NotImplementedError

    def render(self, query: exp.Expression) -> str:
        """The SQL text of ``query`` in this engine's dialect."""
        return query.sql(dialect=self.dialect)

    def run(self, query: exp.Expression, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``query`` with bound ``params`` and fetch its (small) result.

        Raises:
            SchemaError: A table or column the query references does not exist.
            EngineError: Any other engine failure, with the engine's message.
        """
        cached = self._rendered.get(id(query))
        if cached is None or cached[0] is not query:
            cached = self._rendered[id(query)] = (query, self.render(query))
            if len(self._rendered) > 64:  # a long-lived kernel analyses many specs; keep the newest texts
                del self._rendered[next(iter(self._rendered))]
        result = self._execute(cached[1], dict(params or {}))
        self.queries_run += 1
        self.rows_fetched += len(result.rows)
        return result

    def _execute(self, sql: str, params: dict[str, Any]) -> QueryResult:
        raise NotImplementedError

    def describe(self, query: exp.Query, params: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Column names and types that ``query`` would return, without running it over the data.

        Type names are upper-case SQL names (``BIGINT``, ``INTEGER``, ``DOUBLE``, ``DECIMAL(10,2)``, ``VARCHAR``,
        ``TIMESTAMP`` ...), whatever the engine.
        """
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str] | None:
        """Columns of ``table`` mapped to their types, in table order, or ``None`` if there is no such table."""
        raise NotImplementedError

    def tables(self) -> list[str]:
        """Names of the tables and views the engine sees."""
        raise NotImplementedError


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
            if isinstance(value, datetime):
                if value.tzinfo is not None:  # an instant: its wall-clock time in the session zone
                    from zoneinfo import ZoneInfo

                    value = value.astimezone(ZoneInfo(self.timezone or "UTC")).replace(tzinfo=None)
                value = value.isoformat(sep=" ")
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
        except duckdb.CatalogException as error:
            raise SchemaError(f"{_first_line(error)} (database {self.database}).") from error
        except duckdb.BinderException as error:
            raise SchemaError(f"{_first_line(error)} (database {self.database}).") from error
        except duckdb.PermissionException as error:
            raise _outside(error, self.database) from error
        except duckdb.IOException as error:
            raise EngineError(_read_failure(self.database, _first_line(error))) from error
        except duckdb.Error as error:
            raise _engine_failure(error) from error
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
        except (duckdb.CatalogException, duckdb.BinderException) as error:
            raise SchemaError(f"{_first_line(error)} (database {self.database}).") from error
        except duckdb.ParserException as error:
            raise SpecError(f"the SQL could not be parsed by DuckDB: {_first_line(error)}") from error
        except duckdb.PermissionException as error:
            raise _outside(error, self.database) from error
        except duckdb.IOException as error:
            raise EngineError(_read_failure(self.database, _first_line(error))) from error
        except duckdb.Error as error:
            raise _engine_failure(error) from error

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
            raise EngineError(_read_failure(self.database, _first_line(error))) from error
        except duckdb.Error as error:
            raise EngineError(
                f"cannot read the columns of {table!r} in {self.database}: {_first_line(error)}"
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


def wall_clock(value: Any, timezone: str | None) -> datetime | None:
    """A timestamp returned by an engine as a naive datetime: wall-clock time in ``timezone`` (UTC if ``None``).

    ``TIMESTAMPTZ`` values arrive aware (DuckDB gives them in the session zone); abnb binds and compares naive
    wall-clock times of the project's zone, so they are converted there. Naive values are returned as they are,
    dates become midnight, ``None`` stays ``None``.

    Raises:
        SchemaError: The value is not a timestamp or date.
    """
    from datetime import date, time

    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo(timezone or "UTC")).replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise SchemaError(f"expected a timestamp or date from the engine, got {type(value).__name__} {value!r}.")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


FileId = tuple[str, int, int, int, int]
"""``(path, device, inode, size, mtime_ns)``: which file a path is, and whether it was written since."""


class Snapshot:
    """The local files one render reads, fingerprinted at its first connection; later connections must match.

    A report that opens the engine more than once (one connection per section) could otherwise read a database
    that was replaced in between and publish numbers from two of them. :meth:`connect` records the fingerprint
    of the files (:meth:`fingerprint`) before and after its first open; any later open that sees another file,
    size or modification time fails with a :class:`ReportError` (nothing is published). Tables of a Spark session
    or a SQL server are not local files; only local sources count there.

    Args:
        patterns: Paths or globs (``**`` recursive) of the files the render reads: the DuckDB file and its WAL,
            the project's sources, Parquet folders.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.files: tuple[FileId, ...] | None = None

    def fingerprint(self) -> tuple[FileId, ...]:
        """The identity of every file the patterns match now (missing files are left out)."""
        import glob

        found: list[FileId] = []
        for pattern in self.patterns:
            for name in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                try:
                    status = os.stat(name)
                except OSError:
                    continue
                found.append((name, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns))
        return tuple(found)

    def check(self, *seen: tuple[FileId, ...]) -> None:
        """Record the first fingerprint; fail if any of ``seen`` differs from it.

        Raises:
            ReportError: naming the files that changed; run again once the data are written.
        """
        if self.files is None and seen:
            self.files = seen[0]
        for files in seen:
            if files != self.files:
                changed = sorted({f[0] for f in set(files) ^ set(self.files or ())})
                raise ReportError(
                    "the data changed while the report was rendering: "
                    f"{', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''} "
                    "was replaced or written since the first query, so its sections would mix two versions of the "
                    "data. Nothing was published; run the report again once the data are written (abnb data "
                    "generate and imports replace the file at the end)."
                )

    def connect(self, opener: Callable[[], BaseConnection]) -> BaseConnection:
        """``opener()``, checked against the render's first fingerprint before and after the open.

        Raises:
            ReportError: A file changed since the first connection (the new connection is closed).
        """
        before = self.fingerprint()
        connection = opener()
        try:
            self.check(before, self.fingerprint())
        except BaseException:
            connection.close()
            raise
        return connection


SourceSpec = str | os.PathLike[str] | tuple[str, str]
"""A source: a file path or glob (format from the suffix), or ``(path, format)`` with format parquet/csv/json."""


@overload
def connect(
    database: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = True,
    parquet: str | os.PathLike[str] | None = None,
    lock_timeout: float | None = None,
    sources: Mapping[str, SourceSpec] | None = None,
    frames: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    external_access: bool = False,
) -> Connection: ...


@overload
def connect(
    database: Any = None,
    *,
    read_only: bool = True,
    parquet: str | os.PathLike[str] | None = None,
    lock_timeout: float | None = None,
    sources: Mapping[str, SourceSpec] | None = None,
    frames: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    external_access: bool = False,
) -> BaseConnection: ...


def connect(
    database: Any = None,
    *,
    read_only: bool = True,
    parquet: str | os.PathLike[str] | None = None,
    lock_timeout: float | None = None,
    sources: Mapping[str, SourceSpec] | None = None,
    frames: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    external_access: bool = False,
) -> BaseConnection:
    """Open the current project's engine, a DuckDB database, in-memory data, or Apache Spark.

    Args:
        database: ``None``: the current project's engine with its sources (``abnb.toml`` found from the current
            directory upward: its ``[engine] database`` — ``data/telemetry.duckdb`` without a project file,
            ``$ABNB_DATABASE`` overrides it — or its Spark ``url``), unless ``sources``, ``parquet`` or ``frames``
            are given: then an in-memory DuckDB holding just those. A path of a DuckDB file, or ``":memory:"``.
            Or a Spark engine: a ``pyspark`` ``SparkSession``, or a spec (see :func:`is_spark_spec`):
            ``"spark"``, a master URL (``"local[2]"``, ``"spark://host:7077"``, ``"yarn"``, ``"k8s://..."``) or a
            Spark Connect URL (``"sc://host:15002"``).
        read_only: Open the DuckDB file read-only (the default), so a JupyterLab kernel and a scheduled report can
            share it. Spark connections only read.
        parquet: A local folder whose Parquet files (e.g. from :func:`export_parquet`) become views named after
            them (:func:`parquet_sources`), on either engine.
        lock_timeout: Seconds to keep retrying while another process holds a conflicting lock on the DuckDB file
            (waits of 0.1 s doubling up to 2 s). ``None``: ``$ABNB_LOCK_TIMEOUT``, else 0 (fail at once); the
            ``abnb report``/``run`` commands default to 30 s.
        sources: Files exposed as views, by view name: a path or glob (``"data/orders/*.parquet"``; the format
            comes from the suffix) or ``(path, format)`` with format ``parquet``, ``csv`` or ``json``. Nothing is
            copied; relative paths are relative to the current directory.
        frames: pandas or Arrow frames (anything DuckDB can scan) registered as views, by name (DuckDB only).
        timezone: IANA zone of the session: naive cutoffs compare with ``TIMESTAMPTZ`` columns in it, and days
            are cut in it. ``None``: the current project's ``timezone`` (``UTC`` without a project file).
        external_access: DuckDB only. ``False`` (the default): SQL on the connection reaches only the database,
            ``sources``/``parquet`` and ``frames``: no other file, URL, ``COPY``, ``ATTACH`` or extension
            download, and the session's configuration is locked (:func:`restrict_access`, docs/security.md).
            ``True`` leaves DuckDB's own defaults, for trusted Python code that imports or exports files.

    Returns:
        A :class:`Connection` (DuckDB) or a :class:`SparkConnection`; close it after use
        (``with abnb.connect() as con: ...``).

    Raises:
        DatabaseNotFoundError: The file, or a source's files, do not exist (for the sample: ``abnb data generate``).
        DatabaseLockedError: Another process holds a conflicting lock on the file after ``lock_timeout`` seconds of
            retries; the message names that process (a Jupyter kernel, ``abnb data generate``, its command).
        EngineError: The file is not a DuckDB database (or is truncated) or cannot be opened; pyspark is missing or
            the Spark session cannot start.
        ParameterError: ``frames`` given for Spark, or a bad time zone or source.
    """
    extra: dict[str, SourceSpec] = dict(sources or {})
    if parquet is not None:
        extra.update({name: (path, "parquet") for name, path in parquet_sources(parquet).items()})
    if database is None and not extra and not frames:
        from abnb.project import current_project

        return current_project().connect(
            read_only=read_only, lock_timeout=lock_timeout, external_access=external_access
        )
    if timezone is None:
        from abnb.project import current_project

        timezone = current_project().timezone
    if _is_spark_session(database) or (isinstance(database, str) and is_spark_spec(database)):
        if frames:
            raise ParameterError("frames are registered on DuckDB; with Spark, create temporary views instead.")
        return connect_spark(database, sources=extra, timezone=timezone)
    connection = _connect_duckdb(
        ":memory:" if database is None else database,
        read_only=read_only,
        timeout=lock_timeout,
        timezone=timezone,
        own_instance=not external_access,
    )
    if connection.database == ":memory:" and (extra or frames):
        connection.database = f"in-memory DuckDB over {', '.join(sorted([*extra, *(frames or {})]))}"
    try:
        register_sources(connection, extra)
        for name, frame in (frames or {}).items():
            validate_identifier(name, "frame name")
            connection.raw.register(name, frame)
        if not external_access:
            restrict_access(connection, [str(s[0]) if isinstance(s, tuple) else os.fspath(s) for s in extra.values()])
    except BaseException:
        connection.close()
        raise
    return connection


_SOURCE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".json": "json"}
_SOURCE_FORMATS.update({".ndjson": "json", ".jsonl": "json", ".txt": "csv"})
SOURCE_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json_auto"}


def source_files(name: str, spec: SourceSpec) -> tuple[str, str]:
    """``(path or glob, format)`` of a source, with its files checked to exist.

    Raises:
        ParameterError: The format cannot be told from the name (and was not given).
        DatabaseNotFoundError: No file matches the path.
    """
    import glob

    validate_identifier(name, "source name")
    path, fmt = (str(spec[0]), spec[1]) if isinstance(spec, tuple) else (os.fspath(spec), None)
    path = str(Path(path).expanduser())
    if Path(path).is_dir():
        path, fmt = str(Path(path) / "**" / "*.parquet"), fmt or "parquet"
    if fmt is None:
        fmt = _SOURCE_FORMATS.get(Path(path.lower().removesuffix(".gz").removesuffix(".zst")).suffix)
    if fmt not in SOURCE_READERS:
        raise ParameterError(
            f"source {name!r} ({path}): cannot tell its format; give (path, 'parquet' | 'csv' | 'json'), or "
            "`format` in abnb.toml [sources]."
        )
    if not glob.glob(path, recursive=True):
        raise DatabaseNotFoundError(
            f"source {name!r}: no file matches {path}; check the path (relative paths are relative to the project "
            "folder in abnb.toml, to the current directory in abnb.connect)."
        )
    return path, fmt


def register_sources(connection: BaseConnection | Any, sources: Mapping[str, SourceSpec]) -> list[str]:
    """Expose files as views named after their sources, on a DuckDB connection or a Spark session.

    DuckDB gets ``CREATE TEMP VIEW name AS SELECT * FROM read_parquet('path')`` (``read_csv`` and
    ``read_json_auto`` for the other formats; the path is a quoted literal, globs allowed); Spark reads the files
    into temporary views. Nothing is copied: every query reads the files.

    Returns:
        The view names, sorted.

    Raises:
        DatabaseNotFoundError: No file matches a source's path.
        EngineError: The engine cannot read the files.
    """
    from sqlglot import exp as sqlexp

    checked = {name: source_files(name, spec) for name, spec in sources.items()}
    adapter = as_connection(connection)
    for name, (path, fmt) in checked.items():
        if isinstance(adapter, SparkConnection):
            reader = adapter.raw.read
            frame = (
                reader.parquet(path)
                if fmt == "parquet"
                else reader.csv(path, header=True, inferSchema=True)
                if fmt == "csv"
                else reader.json(path)
            )
            frame.createOrReplaceTempView(name)
            continue
        select = sqlexp.select("*").from_(sqlexp.func(SOURCE_READERS[fmt], sqlexp.Literal.string(path)))
        view = sqlexp.Create(
            this=sqlexp.Table(this=identifier(name, "source name")),
            kind="VIEW",
            replace=True,
            properties=sqlexp.Properties(expressions=[sqlexp.TemporaryProperty()]),
            expression=select,
        )
        try:
            adapter.raw.execute(adapter.render(view))
        except Exception as error:
            raise EngineError(
                f"source {name!r} ({path}, {fmt}) cannot be read by {adapter.dialect}: {_first_line(error)}"
            ) from error
    return sorted(checked)


def parquet_sources(directory: str | os.PathLike[str]) -> dict[str, str]:
    """The Parquet files (or Parquet folders, as Spark writes them) of ``directory`` by view name (their stem).

    Raises:
        DatabaseNotFoundError: ``directory`` does not exist or holds no Parquet file.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DatabaseNotFoundError(
            f"Parquet directory {root} does not exist; export one with `abnb data export --parquet {root}`."
        )
    found: dict[str, str] = {}
    for path in sorted(root.iterdir()):
        if path.is_dir() and any(path.glob("*.parquet")):
            target = str((path / "*.parquet").resolve())
        elif path.suffix == ".parquet":
            target = str(path.resolve())
        else:
            continue
        found[validate_identifier(path.stem, f"Parquet file name {path.name!r} (the view name)")] = target
    if not found:
        raise DatabaseNotFoundError(f"no Parquet file in {root}; export one with `abnb data export --parquet {root}`.")
    return found


LOCK_TIMEOUT_ENV = "ABNB_LOCK_TIMEOUT"
_BACKOFF_FIRST = 0.1  # seconds before the second attempt; doubled each time
_BACKOFF_MAX = 2.0  # longest single wait between attempts
LOCK_TIMEOUT_MAX = 86_400.0  # one day: longer than any scheduled run should wait for a lock


def lock_timeout(value: float | None = None) -> float:
    """Seconds to keep retrying a locked DuckDB file: ``value``, else ``$ABNB_LOCK_TIMEOUT``, else 0.

    The library default is 0 (fail at once: a notebook user sees the error immediately); ``abnb report`` and
    ``abnb run`` set ``ABNB_LOCK_TIMEOUT=30`` unless it is already set, and their report kernels inherit it.

    Raises:
        ParameterError: The value (or the variable) is not a number from 0 to :data:`LOCK_TIMEOUT_MAX` (one day).
    """
    source = "lock_timeout"
    raw: object = value
    if value is None:
        raw = os.environ.get(LOCK_TIMEOUT_ENV, "0").strip() or "0"
        source = f"${LOCK_TIMEOUT_ENV}"
    try:
        seconds = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"{source} must be a number of seconds ≥ 0, got {raw!r}.") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ParameterError(f"{source} must be a finite number of seconds ≥ 0, got {raw!r}.")
    if seconds > LOCK_TIMEOUT_MAX:
        raise ParameterError(
            f"{source} must be at most {LOCK_TIMEOUT_MAX:,.0f} seconds (one day), got {raw!r}; a run that waits "
            "longer for a lock is stuck, not patient. Give a smaller number of seconds."
        )
    return seconds


def backoff_schedule(timeout: float) -> list[float]:
    """The waits between attempts on a locked file: 0.1 s, doubling, at most 2 s each, summing to ``timeout``.

    ``timeout`` is capped at :data:`LOCK_TIMEOUT_MAX` (one day), so the schedule has at most about 43,000 entries
    whatever it is given (a huge value such as ``1e308`` no longer loops forever: ``left -= 2`` did not change it).
    """
    waits: list[float] = []
    delay, left = _BACKOFF_FIRST, min(timeout, LOCK_TIMEOUT_MAX) if timeout == timeout else 0.0
    while left > 1e-9:
        wait = min(delay, left)
        waits.append(wait)
        left -= wait
        delay = min(delay * 2, _BACKOFF_MAX)
    return waits


def process_kind(pid: int) -> str:
    """What process ``pid`` is, from ``/proc/<pid>/cmdline``: a Jupyter kernel, an abnb command, or its command.

    Returns ``"process <pid>"`` where ``/proc`` is not readable (macOS, another user's process, a process that
    has exited).
    """
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return f"process {pid}"
    if not argv:
        return f"process {pid}"
    names = [Path(a).name for a in argv]
    if any(n.startswith("ipykernel") for n in names):
        return f"a Jupyter kernel (ipykernel_launcher, pid {pid})"
    start = None
    if names[0] == "abnb":
        start = 1
    elif len(names) > 1 and names[0].startswith("python") and names[1] == "abnb":  # a console script
        start = 2
    elif "-m" in argv[:-1] and argv[argv.index("-m") + 1] in {"abnb", "abnb.cli"}:
        start = argv.index("-m") + 2
    if start is not None:
        words = [a for a in argv[start:] if not a.startswith("-")][:2]
        return f"abnb {' '.join(words)} (pid {pid})" if words else f"abnb (pid {pid})"
    command = " ".join([names[0], *(Path(a).name if a.endswith(".py") else a for a in argv[1:])])
    if len(command) > 100:
        command = command[:97] + "..."
    return f"{command} (pid {pid})"


def _lock_fix(kind: str) -> str:
    if "Jupyter kernel" in kind:
        return (
            "restart or shut down that kernel (or close its connection; notebooks should open the file with "
            "abnb.connect(), which is read-only)"
        )
    if kind.startswith("abnb data"):
        return "wait for the data generation to finish"
    if kind.startswith("abnb "):
        return "wait for that abnb command to finish"
    return "close that connection or wait for the process to finish"


def _lock_message(name: str, message: str, *, read_only: bool, waited: float, attempts: int) -> str:
    pid = re.search(r"PID (\d+)", message)
    kind = process_kind(int(pid.group(1))) if pid else "another process"
    if read_only:
        what = f"database {name} is locked for writing by {kind}"
        why = "abnb opens the file read-only, which DuckDB allows only while no process writes it"
    else:
        what = f"database {name} is open in {kind}"
        why = "a writer needs the file to itself, so no other process may have it open, even read-only"
    tried = f" (tried {attempts} times over {waited:.1f} s)" if attempts > 1 else ""
    return (
        f"{what}{tried}: {_lock_fix(kind)}, then run again. {why[0].upper()}{why[1:]}; "
        f"set {LOCK_TIMEOUT_ENV}=<seconds> to wait longer for the lock."
    )


def _open_own_instance(name: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB instance of its own (in memory) with the file ``name`` attached and in use.

    ``duckdb.connect(path)`` shares one instance (and its configuration) among the connections of a process to the
    same file; :func:`restrict_access` sets and locks configuration per instance, so every abnb connection gets its
    own instance and attaches the file, under the catalog name DuckDB would give it (the file's stem). Read-only
    attachments of one file by several instances coexist; the file lock between processes is the same as for
    ``duckdb.connect``.
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


def _connect_duckdb(
    database: str | os.PathLike[str],
    *,
    read_only: bool,
    timeout: float | None = None,
    timezone: str = "UTC",
    own_instance: bool = False,
) -> Connection:
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
            message = _first_line(error)
            if "lock" not in message.lower():
                raise EngineError(_not_duckdb(name, message)) from error
            if attempts > len(waits):
                raise DatabaseLockedError(
                    _lock_message(
                        name, message, read_only=read_only, waited=time.monotonic() - started, attempts=attempts
                    )
                ) from error
            time.sleep(waits[attempts - 1])
        except duckdb.Error as error:
            message = _first_line(error)
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


# --- the trust boundary: what SQL on an abnb connection may reach (docs/security.md) ---------------------------

_GLOB_CHARS = re.compile(r"[*?\[{]")
# Settings a notebook may still change after the session is locked: they bound resources, they reach nothing.
_ALLOWED_CONFIGS = ("threads", "memory_limit", "max_temp_directory_size", "enable_progress_bar")


def allowed_location(path: str) -> tuple[str, str]:
    """``("path", file)`` or ``("directory", folder/)`` that DuckDB must allow for a source path or glob to be read.

    A glob allows the folder before its first wildcard (``data/orders/*.parquet`` → ``data/orders/``), a folder
    itself; a plain file only itself. Relative paths are made absolute against the current directory, as DuckDB
    resolves them.
    """
    text = os.path.abspath(os.path.expanduser(path))
    match = _GLOB_CHARS.search(text)
    if match is None:
        return ("directory", text.rstrip(os.sep) + os.sep) if os.path.isdir(text) else ("path", text)
    folder = text[: match.start()].rsplit(os.sep, 1)[0]
    return "directory", (folder or os.sep).rstrip(os.sep) + os.sep


def _view_files(raw: duckdb.DuckDBPyConnection) -> list[str]:
    """String literals that the views stored in the database pass to table functions (the files they read).

    The database's own views were written by whoever writes the database (the data pipeline), so the files they
    read count as declared; temporary views are abnb's sources, allowed on their own.
    """
    import sqlglot
    from sqlglot import exp as sqlexp

    try:
        texts = [
            row[0]
            for row in raw.execute("SELECT sql FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall()
        ]
    except Exception:
        return []
    files: list[str] = []
    for text in texts:
        try:
            tree = sqlglot.parse_one(text or "", read="duckdb")
        except Exception:
            continue
        for table in tree.find_all(sqlexp.Table):
            if isinstance(table.this, sqlexp.Func):
                files += [str(lit.this) for lit in table.this.find_all(sqlexp.Literal) if lit.is_string]
            elif isinstance(table.this, sqlexp.Identifier) and ("/" in table.name or "." in table.name):
                files.append(table.name)  # FROM 'file.parquet'
    return files


def restrict_access(connection: Connection, files: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Confine a DuckDB session to its database, the given files and its registered frames, then lock it.

    The trust boundary of docs/security.md: metric SQL comes from specs, which are reviewed like code but are not
    trusted with the host. After this call the session has ``allowed_directories``/``allowed_paths`` set to
    ``files`` (globs allow their folder) and the files the database's own views read; DuckDB adds the database file,
    its WAL and its temporary directory itself. ``enable_external_access`` is off (no other file, no URL, no
    ``COPY``, no ``ATTACH``, no ``getenv``), extensions are neither installed nor loaded on demand (no download),
    community extensions are refused, and ``lock_configuration`` is set last, after the time zone and progress
    bar, so no statement can undo it. Only ``threads``, ``memory_limit``, ``max_temp_directory_size`` and
    ``enable_progress_bar`` can still be set.

    Raises:
        EngineError: DuckDB refused a setting.
    """
    import duckdb

    directories: set[str] = set()
    paths: set[str] = set()
    for item in [*(os.fspath(f) for f in files), *_view_files(connection.raw)]:
        if "://" in item:  # a URL is never allowed
            continue
        kind, location = allowed_location(item)
        (directories if kind == "directory" else paths).add(location)
    if connection.database not in (":memory:", "") and Path(connection.database).exists():
        database = os.path.abspath(connection.database)
        paths.update({database, f"{database}.wal"})

    def listing(values: set[str]) -> str:
        from sqlglot import exp as sqlexp

        return sqlexp.Array(expressions=[sqlexp.Literal.string(v) for v in sorted(values)]).sql(dialect="duckdb")

    statements = [
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET allow_community_extensions = false",
        f"SET allowed_directories = {listing(directories)}",
        f"SET allowed_paths = {listing(paths)}",
        "SET enable_external_access = false",
        f"SET allowed_configs = {listing(set(_ALLOWED_CONFIGS))}",
        "SET lock_configuration = true",
    ]
    for statement in statements:
        try:
            connection.raw.execute(statement)
        except duckdb.Error as error:
            raise EngineError(
                f"cannot confine the DuckDB session of {connection.database} ({statement}): {_first_line(error)}"
            ) from error
    connection.restricted = True


def _outside(error: BaseException, database: str) -> SpecError | EngineError:
    """The error for SQL that DuckDB refused to let reach a file, URL or extension outside the boundary.

    A ``SpecError`` naming the file or URL; for a relative path (which no spec can contain: metric SQL names no
    files) the message of :func:`_read_failure`: a view of the database reads a path relative to the working
    directory, which DuckDB looked for (as a file, then as a folder) in the wrong place.
    """
    message = _first_line(error)
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
    message = _first_line(error)
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


@overload
def as_connection(connection: Connection | duckdb.DuckDBPyConnection) -> Connection: ...


@overload
def as_connection(connection: Any) -> BaseConnection: ...


def as_connection(connection: Any) -> BaseConnection:
    """Wrap a raw DuckDB connection or a ``SparkSession`` in its adapter (an adapter is returned as it is).

    Raises:
        SpecError: ``connection`` is none of these.
    """
    if isinstance(connection, BaseConnection):
        return connection
    if _is_spark_session(connection):
        return SparkConnection(connection)
    import duckdb

    if isinstance(connection, duckdb.DuckDBPyConnection):
        return Connection(connection, database=_duckdb_name(connection), read_only=False)
    raise SpecError(
        "expected a connection from abnb.connect(), duckdb.connect() or a pyspark SparkSession, "
        f"got {type(connection).__name__}; to analyse pandas or Arrow frames, use abnb.connect(frames={...})."
    )


def _duckdb_name(raw: duckdb.DuckDBPyConnection) -> str:
    """The file of a raw DuckDB connection's current database, for messages (``:memory:`` for none)."""
    try:
        rows = raw.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    except Exception:  # a closed connection: the error surfaces where it is used
        return "<duckdb connection>"
    return str(rows[0][0]) if rows and rows[0][0] else ":memory:"


# --- Apache Spark ---------------------------------------------------------------------------------------------

_SPARK_SPEC = re.compile(r"^(spark|yarn|local(\[(\*|\d+)(,\d+)?\])?|(spark|sc|k8s|mesos)://\S+)$")
_SPARK_TYPES = {
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
    "binary": "BLOB",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
}
_LOG4J2 = Path(__file__).with_name("spark-log4j2.properties").as_uri()
_SPARK_MISSING = ("TABLE_OR_VIEW_NOT_FOUND", "UNRESOLVED_COLUMN", "UNRESOLVED_FIELD", "FIELD_NOT_FOUND")


def is_spark_spec(spec: str) -> bool:
    """Whether ``spec`` names a Spark engine rather than a DuckDB file.

    Spark specs: ``"spark"``, ``"yarn"``, ``"local"``, ``"local[N]"``, ``"local[*]"``, and URLs ``spark://``,
    ``sc://`` (Spark Connect), ``k8s://`` and ``mesos://``.
    """
    return bool(_SPARK_SPEC.match(spec.strip()))


def _is_spark_session(obj: object) -> bool:
    """A pyspark ``SparkSession`` (classic or Spark Connect), recognised without importing pyspark."""
    cls = type(obj)
    return cls.__name__ == "SparkSession" and cls.__module__.startswith("pyspark.")


class SparkConnection(BaseConnection):
    """An Apache Spark session with abnb's query runner and a count of rows fetched.

    Queries are transpiled by SQLGlot to Spark SQL; values are bound with Spark's named parameter markers
    (``:name``, ``spark.sql(text, args=...)``, Spark 3.4+), never formatted into the text. The aggregation runs
    in Spark; only its few result rows are collected.

    Closing the adapter leaves the session running (sessions are shared by the whole process); pass
    ``stop_on_close=True`` to stop it, or call ``connection.raw.stop()``.

    Args:
        session: A ``pyspark.sql.SparkSession`` (classic or Spark Connect).
        database: What to call it in messages (default: the session's master URL).
        stop_on_close: Stop the session when the adapter is closed.
    """

    dialect = "spark"

    def __init__(self, session: Any, *, database: str | None = None, stop_on_close: bool = False) -> None:
        super().__init__(session, database=database or _spark_master(session))
        self.stop_on_close = stop_on_close

    def __repr__(self) -> str:
        return f"abnb.SparkConnection({self.database!r}, rows_fetched={self.rows_fetched})"

    def close(self) -> None:
        """Stop the session if the adapter was asked to (``stop_on_close``); otherwise leave it running."""
        if self.stop_on_close:
            self.raw.stop()

    def render(self, query: exp.Expression) -> str:
        """The Spark SQL text of ``query``.

        Besides SQLGlot's transpilation, DuckDB's ``to_days(n)`` (a day interval) becomes ``make_dt_interval(n)``.
        """
        from sqlglot import exp as sqlexp

        def spark_only(node: sqlexp.Expression) -> sqlexp.Expression:
            if isinstance(node, sqlexp.ToDays):
                return sqlexp.Anonymous(this="MAKE_DT_INTERVAL", expressions=[node.this])
            return node

        return query.transform(spark_only).sql(dialect=self.dialect)

    def _bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameter values for ``spark.sql(args=...)``.

        A naive ``datetime`` means wall-clock time, as in DuckDB's ``TIMESTAMP``: it is given the session time
        zone, so it compares right with ``TIMESTAMP_NTZ`` and ``TIMESTAMP`` columns whatever the Python process'
        own zone.
        """
        zone: tzinfo | None = None
        bound: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                if zone is None:
                    zone = _spark_zone(self.raw)
                value = value.replace(tzinfo=zone)
            bound[name] = value
        return bound

    def _dataframe(self, sql: str, params: Mapping[str, Any]) -> Any:
        from pyspark.errors import AnalysisException, ParseException

        try:
            with _quiet_query_context():
                return self.raw.sql(sql, args=self._bind(params)) if params else self.raw.sql(sql)
        except ParseException as error:
            raise SpecError(f"the SQL could not be parsed by Spark: {_first_line(error)}") from error
        except AnalysisException as error:
            if _spark_condition(error).startswith(_SPARK_MISSING):
                raise SchemaError(f"{_first_line(error)} (Spark {self.database}).") from error
            raise EngineError(f"the query failed in Spark: {_first_line(error)}") from error

    def _execute(self, sql: str, params: dict[str, Any]) -> QueryResult:
        from pyspark.errors import PySparkException

        frame = self._dataframe(sql, params)
        try:
            rows = [tuple(row) for row in frame.collect()]
        except PySparkException as error:
            raise EngineError(f"the query failed in Spark: {_first_line(error)}") from error
        return QueryResult(tuple(frame.columns), rows)

    def describe(self, query: exp.Query, params: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Column names and types of ``query``: Spark analyses the plan, no data is read."""
        tree: exp.Expression = query  # type: ignore[assignment]  # sqlglot types Query apart from Expression
        frame = self._dataframe(self.render(tree), dict(params or {}))
        return {field.name: _spark_type(field.dataType.simpleString()) for field in frame.schema.fields}

    def columns(self, table: str) -> dict[str, str] | None:
        """Columns of ``table`` (a table of the current catalog/database, or a temporary view) and their types."""
        from pyspark.errors import AnalysisException

        validate_identifier(table, "table name")
        try:
            schema = self.raw.table(table).schema
        except AnalysisException as error:
            if _spark_condition(error).startswith("TABLE_OR_VIEW_NOT_FOUND"):
                return None
            raise EngineError(f"cannot read the schema of table {table!r} in Spark: {_first_line(error)}") from error
        return {field.name: _spark_type(field.dataType.simpleString()) for field in schema.fields}

    def tables(self) -> list[str]:
        """Tables of the current database and temporary views, sorted."""
        return sorted({str(t.name) for t in self.raw.catalog.listTables()})


@contextmanager
def _quiet_query_context() -> Iterator[None]:
    """Silence pyspark's ``SQLQueryContextLogger`` while abnb runs a query.

    It logs every failed query with the JVM stack trace on stderr; abnb turns the failure into an
    :class:`~abnb.errors.AbnbError` whose message names the table or column and the fix, so the log only adds noise
    to notebooks and reports.
    """
    logger = logging.getLogger("SQLQueryContextLogger")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


def _spark_condition(error: BaseException) -> str:
    get = getattr(error, "getCondition", None) or getattr(error, "getErrorClass", None)
    condition = get() if get is not None else None
    return str(condition or "")


def _spark_type(name: str) -> str:
    return _SPARK_TYPES.get(name, name.upper())


def _spark_master(session: Any) -> str:
    try:
        return str(session.conf.get("spark.master"))
    except Exception:  # Spark Connect sessions may not expose it
        return "spark"


def _spark_zone(session: Any) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = str(session.conf.get("spark.sql.session.timeZone"))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        offset = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", name)
        if name in ("UTC", "GMT", "Z") or offset is None:
            return UTC
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0)))


def connect_spark(
    session: Any = "spark",
    *,
    parquet: str | os.PathLike[str] | None = None,
    config: Mapping[str, str] | None = None,
    sources: Mapping[str, SourceSpec] | None = None,
    timezone: str | None = None,
) -> SparkConnection:
    """Connect to Apache Spark.

    Args:
        session: A ``SparkSession``, or a spec: ``"spark"`` (the active session, else ``getOrCreate()`` with what
            ``spark-submit``/``spark-defaults.conf`` configured), a master URL (``"local[2]"``,
            ``"spark://host:7077"``, ``"yarn"``, ``"k8s://..."``), or a Spark Connect URL (``"sc://host:15002"``,
            needs ``pyspark[connect]``).
        parquet: A local directory whose Parquet files become temporary views (:func:`parquet_sources`).
        config: Extra Spark settings for a session this call builds (ignored for an existing session).
        sources: Files to expose as temporary views, as in :func:`connect`.
        timezone: The zone naive cutoffs are bound in (``spark.sql.session.timeZone`` of a session this call
            builds); ``None``: the session's own zone.

    Returns:
        A :class:`SparkConnection` (closing it leaves the session running).

    Raises:
        EngineError: pyspark is not installed, or the session cannot start (e.g. no Java).
        ParameterError: ``session`` is not a Spark spec.
    """
    if not _is_spark_session(session):
        if not isinstance(session, str) or not is_spark_spec(session):
            raise ParameterError(
                f"Spark engine {session!r} is neither a SparkSession nor a spec such as 'spark', 'local[2]', "
                "'spark://host:7077' or 'sc://host:15002'."
            )
        settings = dict(config or {})
        if timezone is not None:
            settings.setdefault("spark.sql.session.timeZone", timezone)
        session = _build_session(session.strip(), settings)
    connection = SparkConnection(session)
    connection.timezone = timezone
    views: dict[str, SourceSpec] = dict(sources or {})
    if parquet is not None:
        views.update({name: (path, "parquet") for name, path in parquet_sources(parquet).items()})
    register_sources(connection, views)
    return connection


def _build_session(spec: str, config: Mapping[str, str]) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError(
            "the Spark engine needs pyspark: pip install 'abnb[spark]' (and Java 17 or 21 for a local session)."
        ) from error
    if spec == "spark":
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
    builder: Any = SparkSession.builder.appName("abnb")
    if spec.startswith("sc://"):
        builder = builder.remote(spec)
    elif spec != "spark":
        builder = builder.master(spec)
    if spec.startswith("local"):  # a session for this process: no progress bars or start-up warnings in notebooks
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        if "spark.driver.extraJavaOptions" not in config:
            builder = builder.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG4J2}")
    for key, value in config.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as error:  # Java missing, cluster unreachable, Spark Connect deps missing ...
        raise EngineError(
            f"cannot start a Spark session for {spec!r}: {_first_line(error)}. A local session needs Java 17 or 21 "
            "(JAVA_HOME); Spark Connect needs pip install 'pyspark[connect]'."
        ) from error


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
