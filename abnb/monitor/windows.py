"""Windowed aggregates of one column, computed in the engine with one GROUP BY query."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from abnb.engine import Connection, as_connection, identifier, table_expr
from abnb.errors import ParameterError
from abnb.monitor._common import frame_of, grouped, run_windowed, time_range, window_key

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import exp

__all__ = ["windowed"]

_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_SIMPLE_AGGREGATES = ("n", "mean", "sum", "sum_sq", "std", "min", "max")


def _aggregate_expression(name: str, value: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    simple: dict[str, type[exp.Expression]] = {
        "n": exp.Count,
        "mean": exp.Avg,
        "sum": exp.Sum,
        "std": exp.Stddev,
        "min": exp.Min,
        "max": exp.Max,
    }
    if name in simple:
        return simple[name](this=value)
    if name == "sum_sq":
        return exp.Sum(this=exp.Mul(this=value, expression=value.copy()))
    match = _QUANTILE.match(name)
    if match is None or not 0.0 < float(match.group(1)) < 100.0:
        raise ParameterError(
            f"unknown aggregate {name!r}: use {', '.join(_SIMPLE_AGGREGATES)} or a percentile pNN "
            "(e.g. p50, p95, p99.9)."
        )
    fraction = float(match.group(1)) / 100.0
    return exp.PercentileCont(this=value, expression=exp.Literal.number(repr(fraction)))


def _check_request(groups: list[str], names: list[str], window: object) -> None:
    """Refuse an empty or repeated aggregate list, a window that is not a string, and clashing group columns."""
    if not names:
        raise ParameterError("aggregates is empty; ask for at least one of n, mean, p50, ...")
    if len(set(names)) != len(names):
        raise ParameterError(f"aggregates has duplicates: {names}.")
    if not isinstance(window, str) or not window.strip():
        raise ParameterError(f"window must be an interval string such as '1 hour', got {window!r}.")
    reserved = {"window", *names}
    clash = [g for g in groups if g in reserved]
    if clash:
        raise ParameterError(f"group column(s) {clash} clash with output columns {sorted(reserved)}; rename them.")


def windowed(
    connection: Connection | duckdb.DuckDBPyConnection,
    table: str,
    *,
    ts: str,
    value: str,
    window: str = "1 hour",
    by: str | Sequence[str] | None = None,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    aggregates: Sequence[str] = ("n", "mean", "p50", "p95", "p99"),
) -> pd.DataFrame:
    """Per-window aggregates of one column, computed in the engine with one GROUP BY query.

    The query is ``SELECT time_bucket(CAST($window AS INTERVAL), ts) AS window, <by>, <aggregates> FROM table
    WHERE ts >= $start AND ts < $end GROUP BY ALL ORDER BY ALL``, built as a SQLGlot tree with quoted
    identifiers; the window and the bounds are bound parameters. DuckDB's ``time_bucket`` aligns buckets of
    a day or less to midnight (origin 2000-01-03), so hourly and daily windows match ``pandas.resample``.

    Aggregates (NULL values are ignored, as SQL does): ``n`` = ``count(value)``, ``mean`` = ``avg``, ``sum``,
    ``sum_sq`` = ``Σ value²``, ``std`` (sample, ddof=1), ``min``, ``max``, and ``pNN`` =
    ``quantile_cont(value, NN/100)`` (linear interpolation between order statistics, as ``numpy.quantile``'s
    default). ``n``, ``sum`` and ``sum_sq`` are the sufficient statistics of :class:`abnb.stats.Moments`.

    Args:
        connection: A connection from :func:`abnb.connect` or a raw ``duckdb`` connection.
        table: Table or view with one row per event (or per unit); ``schema.table`` allowed.
        ts: Timestamp column.
        value: Numeric column to aggregate (e.g. a rating, a latency, a 0/1 error flag).
        window: Window length as a DuckDB interval, e.g. ``"15 minutes"``, ``"1 hour"``, ``"1 day"``.
        by: Column(s) to group by besides the window (e.g. model version, segment).
        start: Keep rows with ``ts >= start``.
        end: Keep rows with ``ts < end``.
        aggregates: Which aggregates to return, as listed above.

    Returns:
        A pandas DataFrame with one row per window × group: ``window``, the ``by`` columns, then the aggregates,
        sorted by window and group. Windows without rows are absent.

    Raises:
        SpecError: If the table name is not an identifier or ``schema.table``, or a column name not an identifier.
        ParameterError: On an unknown aggregate, an empty aggregate list or a malformed bound.
        SchemaError: If the table or a column does not exist.
        ParameterError: If the engine rejects the window (e.g. ``"1 fortnight"``).
        EngineError: If the query fails otherwise.

    References:
        DuckDB documentation, "Timestamp functions: time_bucket" and "Aggregate functions: quantile_cont".
    """
    from sqlglot import exp

    con = as_connection(connection)
    groups = [by] if isinstance(by, str) else list(by or ())
    names = list(aggregates)
    _check_request(groups, names, window)
    ts_col = exp.Column(this=identifier(ts, "timestamp column"))
    value_col = exp.Column(this=identifier(value, "value column"))
    selects: list[exp.Expression] = [window_key(ts_col.copy())]
    selects += [exp.Column(this=identifier(g, "group column")) for g in groups]
    selects += [
        exp.Alias(this=_aggregate_expression(name, value_col.copy()), alias=exp.to_identifier(name, quoted=True))
        for name in names
    ]
    params: dict[str, Any] = {"window": window}
    conditions = time_range(ts_col, start, end, params)
    query = exp.select(*selects).from_(table_expr(table, "table name"))
    if conditions:
        query = query.where(exp.and_(*conditions))
    frame = frame_of(run_windowed(con, grouped(query, len(groups) + 1), params, window))
    if "n" in frame.columns:
        frame["n"] = frame["n"].astype("int64")
    return frame
