"""Helpers shared by the modules of :mod:`abnb.monitor`: argument checks, time bounds and query plumbing."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb._display import FlatResult
from abnb.errors import EngineError, ParameterError

if TYPE_CHECKING:
    import pandas as pd
    from sqlglot import exp

    from abnb.engine import QueryResult


class Result(FlatResult):
    """Shared ``to_dict``/``to_frame``/``_repr_html_`` of the monitoring result dataclasses."""

    _html_class = "abnb-monitor"
    _html_skips_tuples = True


WINDOW_PATTERN = re.compile(r"\s*([1-9]\d*)\s+(minute|hour|day|week)s?\s*")
"""A window abnb can export and validate without an engine: ``<n> minute(s)|hour(s)|day(s)|week(s)``."""


def positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a whole number >= 1, else :class:`ParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ParameterError(f"{name} must be a whole number >= 1, got {value!r}.")
    return int(value)


def real(value: object, name: str, *, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number (and > 0 when ``positive``), else :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ParameterError(f"{name} must be a finite number, got {value!r}.")
    if positive and float(value) <= 0.0:
        raise ParameterError(f"{name} must be > 0, got {value!r}.")
    return float(value)


def bound(value: object, name: str) -> Any:
    """A time bound to bind in a query: a datetime, a date or an ISO string (checked), ``None`` for none."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError as error:
            raise ParameterError(
                f"{name} must be an ISO date or timestamp such as 2026-10-14 or 2026-10-14T06:00, got {value!r}."
            ) from error
        return value
    raise ParameterError(f"{name} must be a datetime, date or ISO timestamp string, got {value!r}.")


def time_range(ts: exp.Expression, start: object, end: object, params: dict[str, Any]) -> list[exp.Expression]:
    """Conditions ``ts >= $start`` and ``ts < $end`` for the bounds given; their values are added to ``params``."""
    from sqlglot import exp

    conditions: list[exp.Expression] = []
    if start is not None:
        params["start"] = bound(start, "start")
        conditions.append(exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start")))
    if end is not None:
        params["end"] = bound(end, "end")
        conditions.append(exp.LT(this=ts.copy(), expression=exp.Placeholder(this="end")))
    return conditions


def window_key(ts: exp.Expression) -> exp.Expression:
    """``time_bucket(CAST($window AS INTERVAL), ts) AS "window"`` (a typed ``DateBin``, so other engines rewrite it)."""
    from sqlglot import exp

    bucket = exp.DateBin(
        this=exp.Cast(this=exp.Placeholder(this="window"), to=exp.DataType.build("INTERVAL")), expression=ts
    )
    return exp.Alias(this=bucket, alias=exp.to_identifier("window", quoted=True))


def grouped(query: exp.Select, keys: int) -> exp.Select:
    """``query`` grouped by and ordered by its first ``keys`` columns."""
    from sqlglot import exp

    positions = [exp.Literal.number(i) for i in range(1, keys + 1)]
    return query.group_by(*positions).order_by(*[p.copy() for p in positions])


def run_windowed(con: Any, query: Any, params: dict[str, Any], window: str | None) -> Any:
    """Run a windowed query; an interval the engine cannot read is reported as a bad ``window`` parameter."""
    try:
        return con.run(query, params)
    except EngineError as error:
        if window is not None and "interval" in str(error).lower():
            raise ParameterError(
                f"window {window!r} is not an interval the engine understands ({error}); "
                "use e.g. '15 minutes', '1 hour' or '1 day'."
            ) from error
        raise


def frame_of(result: QueryResult) -> pd.DataFrame:
    """The rows of a query result as a pandas DataFrame with its column names."""
    import pandas as pd

    return pd.DataFrame.from_records(result.rows, columns=list(result.columns))


def resolve_end(as_of: datetime | date | str | None) -> datetime | None:
    """The exclusive cutoff of ``as_of`` (:func:`abnb.experiment.resolve_as_of`), or ``None`` when not given."""
    from abnb.experiment import resolve_as_of

    if as_of is None or as_of == "":
        return None
    return resolve_as_of(as_of, None)[0]


def psi_level(value: float) -> str:
    """The usual reading of a PSI: ``"stable"`` below 0.1, ``"moderate"`` below 0.25, else ``"major"``."""
    if value < 0.1:
        return "stable"
    if value < 0.25:
        return "moderate"
    return "major"
