"""PostgreSQL: the adapter for a server reached with psycopg 3, read-only and bounded in time.

psycopg is imported only when a PostgreSQL connection is made (``pip install 'abnb[postgres]'``).

The queries abnb builds are SQLGlot trees; SQLGlot writes them in PostgreSQL's dialect, and five DuckDB
functions get a documented rewrite (:meth:`PostgresConnection.render`):

* ``time_bucket(width, ts)`` → ``date_bin(width, ts, TIMESTAMP '2000-01-03')``: DuckDB's default origin for
  buckets without months (a Monday), so windows of minutes, hours, days and weeks start at the same instants;
* ``to_days(n)`` → ``n * INTERVAL '1 day'``;
* ``epoch_us(ts)`` (SQLGlot's ``UnixMicros``) → ``CAST(EXTRACT(EPOCH FROM ts) * 1000000 AS BIGINT)``;
* ``array_slice(a, i, j)`` → ``(a)[i:j]``;
* ``arg_min(x, ts)`` (``arg_max``) → ``(ARRAY_AGG(x ORDER BY ts) FILTER (WHERE ts IS NOT NULL))[1]`` (the value
  at the first ``ts``; among tied times either engine may pick any).

Values are bound by psycopg (``%(name)s`` placeholders; a literal ``%`` in the text is doubled), never formatted
into the text. Every session is read-only (``default_transaction_read_only``) with a statement timeout, and in the
project's time zone, so a naive cutoff compared with a ``timestamptz`` column means wall-clock time there, as on
DuckDB. ``numeric`` results (PostgreSQL's type of ``sum`` over integers and of ``avg``) arrive as Python ``int``
when integral in type and ``float`` otherwise, as DuckDB returns them, not as ``Decimal``.

A password never travels in the connection string: libpq takes it from ``PGPASSWORD`` or ``~/.pgpass``, so it
cannot reach a report's parameters, its metadata or a log line. The adapter names its server without credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb.engine.base import BaseConnection, QueryResult, first_line
from abnb.engine.names import table_expr
from abnb.errors import EngineError, ParameterError, SchemaError, SpecError

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = [
    "PostgresConnection",
    "connect_postgres",
    "copy_from_duckdb",
    "has_password",
    "is_postgres_url",
    "redact",
    "refuse_password",
    "server_name",
]

_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)
STATEMENT_TIMEOUT_S = 600
"""Seconds a query may run before the server cancels it (``statement_timeout``)."""
BUCKET_ORIGIN = "2000-01-03 00:00:00"
"""The origin of ``date_bin``: DuckDB's ``time_bucket`` default for widths without months."""
_TYPES = {
    "smallint": "SMALLINT",
    "int2": "SMALLINT",
    "integer": "INTEGER",
    "int4": "INTEGER",
    "bigint": "BIGINT",
    "int8": "BIGINT",
    "real": "FLOAT",
    "float4": "FLOAT",
    "double precision": "DOUBLE",
    "float8": "DOUBLE",
    "numeric": "DECIMAL",
    "boolean": "BOOLEAN",
    "bool": "BOOLEAN",
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "varchar": "VARCHAR",
    "character": "VARCHAR",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
    "interval": "INTERVAL",
    "bytea": "BLOB",
}


def is_postgres_url(spec: object) -> bool:
    """Whether ``spec`` is a PostgreSQL connection URL (``postgresql://`` or ``postgres://``)."""
    return isinstance(spec, str) and bool(_URL.match(spec.strip()))


def redact(url: str) -> str:
    """``url`` without its password (``postgresql://user:***@host/db``, ``?password=***``), for messages and logs."""
    text = re.sub(r"^(postgres(?:ql)?://[^:/@]*):[^@]*@", r"\1:***@", url.strip(), flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", text, flags=re.IGNORECASE)


def has_password(url: str) -> bool:
    """Whether a PostgreSQL URL carries a password (``user:secret@`` or ``?password=``): abnb refuses it."""
    return redact(url) != url.strip()


def refuse_password(url: str) -> None:
    """Refuse a PostgreSQL URL with a password, naming the fix (the password is redacted in the message).

    Raises:
        ParameterError: The URL holds a password.
    """
    if has_password(url):
        raise ParameterError(
            f"the PostgreSQL URL {redact(url)!r} holds a password: remove it and set PGPASSWORD or a ~/.pgpass line, "
            "so that it never reaches a report, its parameters or a log."
        )


def server_name(url: str) -> str:
    """The server and database a URL names, without credentials or options: ``postgresql://host:5432/db``."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    host = str(info.get("host") or "localhost")
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{host}{port}/{info.get('dbname') or ''}"


class PostgresConnection(BaseConnection):
    """A PostgreSQL session with abnb's query runner and a count of rows fetched.

    Args:
        raw: A ``psycopg.Connection`` in autocommit mode, read-only (see :func:`connect_postgres`).
        database: The server and database, without credentials, for messages.
    """

    dialect = "postgres"

    def __init__(self, raw: Any, *, database: str) -> None:
        super().__init__(raw, database=database)

    def __repr__(self) -> str:
        return f"abnb.PostgresConnection({self.database!r}, rows_fetched={self.rows_fetched})"

    def close(self) -> None:
        """Close the session."""
        self.raw.close()

    def render(self, query: exp.Expression) -> str:
        """The PostgreSQL text of ``query``: SQLGlot's, with the rewrites of the module's text, ``%`` doubled."""
        from sqlglot import exp as sqlexp

        def rewrite(node: sqlexp.Expression) -> sqlexp.Expression:
            if isinstance(node, sqlexp.DateBin):
                origin = sqlexp.cast(sqlexp.Literal.string(BUCKET_ORIGIN), sqlexp.DataType.build("TIMESTAMP"))
                return sqlexp.Anonymous(this="DATE_BIN", expressions=[node.this, node.expression, origin])
            if isinstance(node, sqlexp.ToDays):
                day = sqlexp.Interval(this=sqlexp.Literal.string("1"), unit=sqlexp.var("DAY"))
                return sqlexp.Mul(this=sqlexp.Paren(this=node.this), expression=day)
            if isinstance(node, sqlexp.UnixMicros):
                seconds = sqlexp.Extract(this=sqlexp.var("EPOCH"), expression=node.this)
                micros = sqlexp.Mul(this=seconds, expression=sqlexp.Literal.number(1_000_000))
                return sqlexp.cast(micros, sqlexp.DataType.build("BIGINT"))
            if isinstance(node, sqlexp.ArraySlice):  # elements start..end (1-based, inclusive) as a slice
                bounds = sqlexp.Slice(this=node.args["start"], expression=node.args["end"])
                return sqlexp.Bracket(this=sqlexp.Paren(this=node.this), expressions=[bounds], offset=1)
            if isinstance(node, sqlexp.ArgMin | sqlexp.ArgMax):
                order = sqlexp.Ordered(this=node.expression, desc=isinstance(node, sqlexp.ArgMax))
                ordered = sqlexp.Order(this=node.this, expressions=[order])
                first = sqlexp.Filter(
                    this=sqlexp.ArrayAgg(this=ordered),
                    expression=sqlexp.Where(
                        this=sqlexp.Not(this=sqlexp.Is(this=node.expression.copy(), expression=sqlexp.Null()))
                    ),
                )
                return sqlexp.Bracket(this=sqlexp.Paren(this=first), expressions=[sqlexp.Literal.number(1)], offset=1)
            return node

        names: list[str] = []

        def bind(node: sqlexp.Expression) -> sqlexp.Expression:
            if isinstance(node, sqlexp.Placeholder):
                names.append(str(node.this))
                return sqlexp.var(f"__abnb_parameter_{len(names) - 1}__")
            return node

        text = query.transform(rewrite).transform(bind).sql(dialect=self.dialect).replace("%", "%%")
        for index, name in enumerate(names):
            token = f"__abnb_parameter_{index}__"
            if text.count(token) != 1:
                raise SpecError(f"a query's text holds the reserved word {token!r}; rename what holds it.")
            text = text.replace(token, f"%({name})s")
        return text

    def _execute(self, sql: str, params: dict[str, Any]) -> QueryResult:
        import psycopg

        try:
            with self.raw.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
                columns = tuple(d.name for d in cursor.description or ())
        except psycopg.Error as error:
            raise _query_failure(error, self.database) from error
        return QueryResult(columns, [tuple(row) for row in rows])

    def describe(self, query: exp.Query, params: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Column names and types that ``query`` would return (``LIMIT 0``: nothing is read)."""
        import psycopg
        from sqlglot import exp as sqlexp

        limited = sqlexp.select("*").from_(query.subquery("described")).limit(0)
        try:
            with self.raw.cursor() as cursor:
                cursor.execute(self.render(limited), dict(params or {}))
                description = cursor.description or ()
                types = self.raw.adapters.types
                named = {d.name: types.get(d.type_code) for d in description}
        except psycopg.Error as error:
            raise _query_failure(error, self.database) from error
        return {name: _type_name(info.name if info else "unknown") for name, info in named.items()}

    def columns(self, table: str) -> dict[str, str] | None:
        """Columns of ``table`` (``name`` or ``schema.name``) and their types, or ``None`` if there is no such one."""
        import psycopg

        try:
            name = table_expr(table, "table name").sql(dialect=self.dialect)
        except SpecError:
            return None
        try:
            with self.raw.cursor() as cursor:
                cursor.execute(
                    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                    "WHERE a.attrelid = to_regclass(%(name)s) AND a.attnum > 0 AND NOT a.attisdropped "
                    "ORDER BY a.attnum",
                    {"name": name},
                )
                rows = cursor.fetchall()
        except psycopg.Error as error:
            raise EngineError(
                f"cannot read the columns of {table!r} in {self.database}: {first_line(error)}"
            ) from error
        return {str(column): _type_name(str(kind)) for column, kind in rows} or None

    def tables(self) -> list[str]:
        """Tables and views the session sees: unqualified in the first schema of its search path, else qualified."""
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT table_schema, table_name, table_schema = current_schema() FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
            rows = cursor.fetchall()
        return sorted(str(name) if current else f"{schema}.{name}" for schema, name, current in rows)


def _type_name(name: str) -> str:
    """A PostgreSQL type name as abnb's common upper-case SQL name (``double precision`` → ``DOUBLE``)."""
    base = name.split("(")[0].strip().lower()
    if base == "numeric" and "(" in name:
        return "DECIMAL" + name[name.index("(") :].replace(" ", "")
    return _TYPES.get(base, name.upper())


def _query_failure(error: BaseException, database: str) -> SchemaError | SpecError | EngineError:
    """The error abnb raises for a failed PostgreSQL query.

    A missing table or column is a :class:`SchemaError`, an unknown function a :class:`SpecError`, the rest (a
    cancelled statement, a refused write ...) an :class:`EngineError`.
    """
    import psycopg.errors as pgerrors

    message = first_line(error)
    if isinstance(error, pgerrors.UndefinedTable | pgerrors.UndefinedColumn):
        return SchemaError(f"{message} (in {database}); check the spec's table and column names.")
    if isinstance(error, pgerrors.UndefinedFunction):
        return SpecError(
            f"PostgreSQL cannot run a construct of the query: {message} (in {database}). If a metric's or a source's "
            "SQL in the spec uses a DuckDB function, write it with one PostgreSQL has (docs/engines.md lists abnb's "
            "own rewrites)."
        )
    if isinstance(error, pgerrors.QueryCanceled):
        return EngineError(
            f"{database} cancelled the query after its statement timeout ({message}); aggregate less at once (a "
            "shorter window, fewer segments) or raise it with connect_postgres(statement_timeout=...)."
        )
    if isinstance(error, pgerrors.ReadOnlySqlTransaction):
        return EngineError(f"{database} refused a write: abnb's PostgreSQL sessions are read-only ({message}).")
    return EngineError(f"{database}: {message}")


def _number_loader() -> type:
    """A psycopg loader of ``numeric``: ``int`` for integral text, ``float`` otherwise (NaN and ±Infinity too)."""
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data).decode("ascii")
            if text.lstrip("-").isdigit():
                return int(text)
            return float(text)

    return NumberLoader


def connect_postgres(
    url: str, *, timezone: str | None = None, statement_timeout: float = STATEMENT_TIMEOUT_S
) -> PostgresConnection:
    """Open a read-only PostgreSQL session (psycopg 3) for abnb's queries.

    Args:
        url: ``postgresql://user@host:port/dbname`` (libpq's URL; ``?sslmode=...`` and other options allowed)
            without a password: libpq reads it from ``PGPASSWORD`` or ``~/.pgpass``.
        timezone: IANA zone of the session (``TimeZone``): naive cutoffs compare with ``timestamptz`` columns in it,
            and days are cut in it. ``None``: UTC.
        statement_timeout: Seconds a query may run before the server cancels it.

    Returns:
        A :class:`PostgresConnection`; close it after use.

    Raises:
        ParameterError: The URL holds a password, or the timeout is not positive.
        EngineError: psycopg is not installed, or the server cannot be reached (the message names the server, never
            the password).
    """
    from zoneinfo import ZoneInfo

    if not is_postgres_url(url):
        raise ParameterError(f"{redact(str(url))!r} is not a PostgreSQL URL: write postgresql://user@host:5432/db.")
    refuse_password(url)
    if not statement_timeout > 0:
        raise ParameterError(f"statement_timeout must be a positive number of seconds, got {statement_timeout!r}.")
    zone = timezone or "UTC"
    ZoneInfo(zone)  # an unknown zone fails here, with Python's message
    try:
        import psycopg
    except ImportError as error:
        raise EngineError("PostgreSQL needs psycopg 3: pip install 'abnb[postgres]'.") from error
    server = server_name(url)
    options = f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout * 1000)}"
    try:
        raw = psycopg.connect(url, autocommit=True, options=options, connect_timeout=10)
    except psycopg.Error as error:
        raise EngineError(f"cannot connect to {server}: {first_line(error)}") from error
    raw.adapters.register_loader("numeric", _number_loader())
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT set_config('TimeZone', %(zone)s, false)", {"zone": zone})
    except psycopg.Error as error:
        raw.close()
        raise EngineError(f"{server} refused the time zone {zone!r}: {first_line(error)}") from error
    connection = PostgresConnection(raw, database=server)
    connection.timezone = zone
    return connection


_FROM_DUCKDB = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def copy_from_duckdb(
    duckdb_file: str | Path, url: str, *, tables: list[str] | None = None, replace: bool = False
) -> dict[str, int]:
    """Copy tables of a DuckDB file (e.g. the sample, ``abnb data generate``) into PostgreSQL with ``COPY``.

    Each table is written to a CSV file by DuckDB and streamed to the server with ``COPY ... FROM STDIN`` (psycopg),
    in one transaction per table; column types map to PostgreSQL's (``DOUBLE`` → ``double precision``,
    ``TIMESTAMP WITH TIME ZONE`` → ``timestamptz`` ...). The session writing them is not an abnb connection (those
    are read-only).

    Args:
        duckdb_file: The DuckDB database to read.
        url: The PostgreSQL database to write (no password in it, as for :func:`connect_postgres`).
        tables: The tables to copy (default: every table of the file's main schema).
        replace: Drop a table of the same name first; otherwise an existing table is an error.

    Returns:
        Rows copied per table.

    Raises:
        ParameterError: The URL holds a password.
        EngineError: A type has no PostgreSQL counterpart here, or the server refused a statement.
    """
    import tempfile

    import duckdb
    import psycopg
    from psycopg import sql

    refuse_password(url)
    copied: dict[str, int] = {}
    with duckdb.connect(str(duckdb_file), read_only=True) as source, psycopg.connect(url) as target:
        names = tables or [
            row[0]
            for row in source.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
            ).fetchall()
        ]
        for table in names:
            quoted = '"' + table.replace('"', '""') + '"'
            described = source.execute(f"DESCRIBE {quoted}").fetchall()
            columns = []
            for column, kind, *_ in described:
                if str(kind) not in _FROM_DUCKDB:
                    raise EngineError(f"column {table}.{column} has type {kind}, which copy_from_duckdb does not map.")
                columns.append(sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(_FROM_DUCKDB[str(kind)])))
            with tempfile.TemporaryDirectory() as folder:
                csv = Path(folder) / "table.csv"
                target_file = str(csv).replace("'", "''")
                source.execute(f"COPY {quoted} TO '{target_file}' (HEADER false, DELIMITER ',', NULL '')")
                with target.transaction(), target.cursor() as cursor:
                    if replace:
                        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
                    cursor.execute(
                        sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(columns))
                    )
                    copy = sql.SQL("COPY {} FROM STDIN (FORMAT csv, NULL '')").format(sql.Identifier(table))
                    with cursor.copy(copy) as stream, csv.open("rb") as handle:
                        while chunk := handle.read(1 << 20):
                            stream.write(chunk)
                    cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
                    cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                    copied[table] = int(cursor.fetchone()[0])  # type: ignore[index]
    return copied
