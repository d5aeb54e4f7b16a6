"""The trust boundary: what SQL on an abnb connection may reach (docs/security.md).

Metric SQL comes from specs, which are reviewed like code but are not trusted with the host: a DuckDB session that
runs it reaches only its database, the declared sources and the registered frames, and its configuration is locked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from abnb.engine.base import first_line
from abnb.errors import EngineError

if TYPE_CHECKING:
    import duckdb

    from abnb.engine.local import Connection

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


def view_files(raw: duckdb.DuckDBPyConnection) -> list[str]:
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
    for item in [*(os.fspath(f) for f in files), *view_files(connection.raw)]:
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
                f"cannot confine the DuckDB session of {connection.database} ({statement}): {first_line(error)}"
            ) from error
    connection.restricted = True
