"""Errors raised by abnb.

Every error a user can trigger is a subclass of :class:`AbnbError`. Messages name the table, column, parameter or
file at fault and say how to fix it, so a notebook or a scheduled report never ends on a bare ``KeyError`` from
deep inside a library.
"""

from __future__ import annotations


class AbnbError(Exception):
    """Base class of every error abnb raises on purpose."""


class SpecError(AbnbError, ValueError):
    """An experiment spec, metric definition or parameter is malformed or inconsistent."""


class ProjectError(SpecError):
    """The project file (``abnb.toml``) or a file of the project is missing, malformed, or from a newer abnb."""


class ParameterError(SpecError):
    """A function or report parameter has the wrong type or value."""


class SchemaError(AbnbError):
    """A table or column the spec needs is missing, or has the wrong type."""


class DataError(AbnbError):
    """The data are present but cannot answer the question (empty, degenerate, inconsistent)."""


class EngineError(AbnbError):
    """The SQL engine could not be reached or failed to run a query."""


class DatabaseNotFoundError(EngineError, FileNotFoundError):
    """The database file does not exist."""


class DatabaseLockedError(EngineError):
    """Another process holds a write lock on the database file."""


class ReportError(AbnbError):
    """A report could not be rendered; the previous report is left in place."""


class ReportLockedError(ReportError):
    """Another run is writing the same report folder (its lock file is held); the previous report is untouched."""
