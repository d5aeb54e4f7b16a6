"""Apache Spark: the adapter for a ``pyspark`` session (local, on a cluster or through Spark Connect), and its start.

pyspark is imported only when a Spark connection is made or used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb.engine.base import BaseConnection, QueryResult, first_line
from abnb.engine.names import validate_identifier
from abnb.errors import EngineError, SchemaError, SpecError

if TYPE_CHECKING:
    from sqlglot import exp

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
_LOG4J2 = (Path(__file__).parents[1] / "spark-log4j2.properties").as_uri()
_SPARK_MISSING = ("TABLE_OR_VIEW_NOT_FOUND", "UNRESOLVED_COLUMN", "UNRESOLVED_FIELD", "FIELD_NOT_FOUND")


def is_spark_spec(spec: str) -> bool:
    """Whether ``spec`` names a Spark engine rather than a DuckDB file.

    Spark specs: ``"spark"``, ``"yarn"``, ``"local"``, ``"local[N]"``, ``"local[*]"``, and URLs ``spark://``,
    ``sc://`` (Spark Connect), ``k8s://`` and ``mesos://``.
    """
    return bool(_SPARK_SPEC.match(spec.strip()))


def is_spark_session(obj: object) -> bool:
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
            raise SpecError(f"the SQL could not be parsed by Spark: {first_line(error)}") from error
        except AnalysisException as error:
            if _spark_condition(error).startswith(_SPARK_MISSING):
                raise SchemaError(f"{first_line(error)} (Spark {self.database}).") from error
            raise EngineError(f"the query failed in Spark: {first_line(error)}") from error

    def _execute(self, sql: str, params: dict[str, Any]) -> QueryResult:
        from pyspark.errors import PySparkException

        frame = self._dataframe(sql, params)
        try:
            rows = [tuple(row) for row in frame.collect()]
        except PySparkException as error:
            raise EngineError(f"the query failed in Spark: {first_line(error)}") from error
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
            raise EngineError(f"cannot read the schema of table {table!r} in Spark: {first_line(error)}") from error
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


def build_session(spec: str, config: Mapping[str, str]) -> Any:
    """The ``SparkSession`` for a spec (:func:`is_spark_spec`): the active one for ``"spark"``, else a new one.

    Raises:
        EngineError: pyspark is not installed, or the session cannot start (no Java, cluster unreachable ...).
    """
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
            f"cannot start a Spark session for {spec!r}: {first_line(error)}. A local session needs Java 17 or 21 "
            "(JAVA_HOME); Spark Connect needs pip install 'pyspark[connect]'."
        ) from error
