"""Opening an engine (the project's, a DuckDB file, in-memory frames or Spark) with its sources as views.

:func:`as_connection` wraps a connection made elsewhere (``duckdb.connect()``, a ``SparkSession``) in its adapter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, overload

from abnb.engine.access import restrict_access
from abnb.engine.base import BaseConnection, first_line
from abnb.engine.local import Connection, open_duckdb
from abnb.engine.names import identifier, validate_identifier
from abnb.engine.postgres import connect_postgres, is_postgres_url
from abnb.engine.sources import SOURCE_READERS, SourceSpec, parquet_sources, source_files
from abnb.engine.spark import SparkConnection, build_session, is_spark_session, is_spark_spec
from abnb.errors import EngineError, ParameterError, SpecError

if TYPE_CHECKING:
    import duckdb


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


class _ConnectOptions(TypedDict, total=False):
    """The keyword arguments of :func:`connect` after ``database``; their defaults and meaning are there."""

    read_only: bool
    parquet: str | os.PathLike[str] | None
    lock_timeout: float | None
    sources: Mapping[str, SourceSpec] | None
    frames: Mapping[str, Any] | None
    timezone: str | None
    external_access: bool


@overload
def connect(database: str | os.PathLike[str] | None = None, **options: Unpack[_ConnectOptions]) -> Connection: ...


@overload
def connect(database: Any = None, **options: Unpack[_ConnectOptions]) -> BaseConnection: ...


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
            Spark Connect URL (``"sc://host:15002"``). Or a PostgreSQL server: ``"postgresql://user@host:5432/db"``
            (:func:`abnb.engine.postgres.connect_postgres`: read-only, statement timeout, no password in the URL).
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
    if is_postgres_url(database):
        if extra or frames:
            raise ParameterError(
                "sources, parquet and frames are registered on DuckDB or Spark; on PostgreSQL, read tables of the "
                "server (or create views there)."
            )
        return connect_postgres(database, timezone=timezone)
    if is_spark_session(database) or (isinstance(database, str) and is_spark_spec(database)):
        if frames:
            raise ParameterError("frames are registered on DuckDB; with Spark, create temporary views instead.")
        return connect_spark(database, sources=extra, timezone=timezone)
    connection = open_duckdb(
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
                f"source {name!r} ({path}, {fmt}) cannot be read by {adapter.dialect}: {first_line(error)}"
            ) from error
    return sorted(checked)


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
    if is_spark_session(connection):
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
    if not is_spark_session(session):
        if not isinstance(session, str) or not is_spark_spec(session):
            raise ParameterError(
                f"Spark engine {session!r} is neither a SparkSession nor a spec such as 'spark', 'local[2]', "
                "'spark://host:7077' or 'sc://host:15002'."
            )
        settings = dict(config or {})
        if timezone is not None:
            settings.setdefault("spark.sql.session.timeZone", timezone)
        session = build_session(session.strip(), settings)
    connection = SparkConnection(session)
    connection.timezone = timezone
    views: dict[str, SourceSpec] = dict(sources or {})
    if parquet is not None:
        views.update({name: (path, "parquet") for name, path in parquet_sources(parquet).items()})
    register_sources(connection, views)
    return connection
