"""Names in SQL: plain identifiers and qualified table names, validated and quoted when a query is built."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from abnb.errors import SpecError

if TYPE_CHECKING:
    from sqlglot import exp


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
