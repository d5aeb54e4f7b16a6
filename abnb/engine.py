"""Connecting to the SQL engine and running the queries abnb builds.

Queries are SQLGlot expression trees: identifiers are validated and quoted when the tree is built, and values
travel as bound parameters (``$name`` placeholders), never formatted into the text. The :class:`Connection`
adapter renders a tree for its dialect, runs it, and counts every row it hands back to Python, so tests can
prove that an analysis fetched aggregates rather than telemetry rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from abnb.errors import (
    DatabaseLockedError,
    DatabaseNotFoundError,
    EngineError,
    SchemaError,
    SpecError,
)

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

__all__ = [
    "Connection",
    "QueryResult",
    "connect",
    "default_database",
    "identifier",
    "validate_identifier",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATABASE = Path("data") / "telemetry.duckdb"


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
        raise SpecError(
            f"{what} {name!r} is not a valid identifier: use 1-63 letters, digits or underscores, "
            "starting with a letter or underscore (no spaces, quotes, dots or semicolons)."
        )
    return name


def identifier(name: str, what: str) -> exp.Identifier:
    """Return a quoted SQLGlot identifier for a validated ``name``."""
    from sqlglot import exp

    return exp.to_identifier(validate_identifier(name, what), quoted=True)


def default_database() -> Path:
    """The database used when none is given.

    ``$ABNB_DATABASE`` if set; otherwise ``data/telemetry.duckdb`` in the abnb checkout (editable install), or in
    the current directory.
    """
    env = os.environ.get("ABNB_DATABASE")
    if env:
        return Path(env)
    in_checkout = _PROJECT_ROOT / SAMPLE_DATABASE
    if (_PROJECT_ROOT / "pyproject.toml").exists():
        return in_checkout
    return Path.cwd() / SAMPLE_DATABASE


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows returned by one query."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Connection:
    """A DuckDB connection with abnb's query runner and a count of rows fetched.

    Attributes the adapter does not define (``sql``, ``execute``, ``table`` ...) are forwarded to the underlying
    ``duckdb.DuckDBPyConnection``, so the object can be used wherever a DuckDB connection is expected. Use it as a
    context manager to close it after use.
    """

    dialect = "duckdb"

    def __init__(self, raw: duckdb.DuckDBPyConnection, *, database: str, read_only: bool) -> None:
        self.raw = raw
        self.database = database
        self.read_only = read_only
        self.rows_fetched = 0
        self.queries_run = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection."""
        self.raw.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"abnb.Connection({self.database!r}, {mode}, rows_fetched={self.rows_fetched})"

    def render(self, query: exp.Expression) -> str:
        """The SQL text of ``query`` in this engine's dialect."""
        return query.sql(dialect=self.dialect)

    def run(self, query: exp.Expression, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``query`` with bound ``params`` and fetch its (small) result.

        Raises:
            SchemaError: A table or column the query references does not exist.
            EngineError: Any other engine failure, with the engine's message.
        """
        import duckdb

        sql = self.render(query)
        try:
            cursor = self.raw.execute(sql, dict(params or {}))
            rows = cursor.fetchall()
        except duckdb.CatalogException as error:
            raise SchemaError(f"{_first_line(error)} (database {self.database}).") from error
        except duckdb.BinderException as error:
            raise SchemaError(f"{_first_line(error)} (database {self.database}).") from error
        except duckdb.Error as error:
            raise EngineError(f"the query failed in DuckDB: {_first_line(error)}") from error
        self.queries_run += 1
        self.rows_fetched += len(rows)
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
        except duckdb.Error as error:
            raise EngineError(f"the query failed in DuckDB: {_first_line(error)}") from error

    def tables(self) -> list[str]:
        """Names of the tables and views in the database."""
        return [row[0] for row in self.raw.execute("SELECT table_name FROM information_schema.tables").fetchall()]


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def connect(database: str | os.PathLike[str] | None = None, *, read_only: bool = True) -> Connection:
    """Open a DuckDB database.

    Args:
        database: Path of a DuckDB file, ``":memory:"``, or ``None`` for the embedded sample database
            (``$ABNB_DATABASE`` overrides its location).
        read_only: Open read-only (the default), so a JupyterLab kernel and a scheduled report can share the file.

    Returns:
        A :class:`Connection`; close it after use (``with abnb.connect() as con: ...``).

    Raises:
        DatabaseNotFoundError: The file does not exist (for the sample: run ``abnb data generate``).
        DatabaseLockedError: Another process holds a write lock on the file.
        EngineError: The file is not a DuckDB database or cannot be opened.
    """
    import duckdb

    path = default_database() if database is None else Path(database)
    name = str(path)
    if name != ":memory:" and not path.exists() and (read_only or not path.parent.exists()):
        hint = (
            "generate the sample with `abnb data generate` (or `make data`)"
            if database is None
            else "check the path, or set ABNB_DATABASE"
        )
        raise DatabaseNotFoundError(f"database file {name} does not exist: {hint}.")
    try:
        raw = duckdb.connect(name, read_only=read_only and name != ":memory:")
    except duckdb.IOException as error:
        message = _first_line(error)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            holder = f"process {pid.group(1)}" if pid else "another process"
            raise DatabaseLockedError(
                f"database {name} is locked for writing by {holder} (a data generation job, or a notebook "
                "kernel that opened it with read_only=False). Close that connection or wait for the job to "
                "finish; abnb opens the file read-only, which DuckDB allows only while no process writes it."
            ) from error
        raise EngineError(f"cannot open database {name}: {message}") from error
    except duckdb.Error as error:
        raise EngineError(
            f"cannot open database {name}: {_first_line(error)}; is it a DuckDB file? "
            "Regenerate the sample with `abnb data generate`."
        ) from error
    raw.execute("SET enable_progress_bar = false")  # the progress bar has crashed Jupyter kernels
    return Connection(raw, database=name, read_only=read_only)


def as_connection(connection: Connection | duckdb.DuckDBPyConnection) -> Connection:
    """Wrap a raw DuckDB connection in the adapter (an adapter is returned as it is)."""
    if isinstance(connection, Connection):
        return connection
    import duckdb

    if isinstance(connection, duckdb.DuckDBPyConnection):
        return Connection(connection, database="<duckdb connection>", read_only=False)
    raise SpecError(f"expected a connection from abnb.connect() or duckdb.connect(), got {type(connection).__name__}.")
