"""What every engine adapter shares: :class:`BaseConnection`, :class:`QueryResult`, timestamps read back.

:meth:`BaseConnection.run` renders a query for the adapter's dialect, runs it with the values bound and counts
every row it hands back to Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from abnb.errors import SchemaError

if TYPE_CHECKING:
    from sqlglot import exp


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

    def run(self, query: exp.Expression | str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``query`` with bound ``params`` and fetch its (small) result.

        ``query`` is a SQLGlot tree, or SQL text in this engine's dialect (parsed by SQLGlot, so named parameters
        are written as the dialect writes them: ``$name`` on DuckDB, ``:name`` on Spark, ``%(name)s`` on
        PostgreSQL).

        Raises:
            ParameterError: SQL text SQLGlot cannot parse, or a query that is neither text nor a tree.
            SchemaError: A table or column the query references does not exist.
            EngineError: Any other engine failure, with the engine's message.
        """
        if isinstance(query, str):
            query = _parsed(query, self.dialect)
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


def first_line(error: BaseException) -> str:
    """The first line of an engine's error message (the exception's class name when it has none)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _parsed(text: str, dialect: str) -> exp.Expression:
    """SQL text as a SQLGlot tree of ``dialect`` (one statement)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    from abnb.errors import ParameterError

    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except ParseError as error:
        raise ParameterError(f"the SQL text does not parse as {dialect} SQL: {first_line(error)}") from error
    if not isinstance(tree, exp.Expression):
        raise ParameterError(f"the SQL text is not one {dialect} statement: {text[:80]!r}.")
    return tree
