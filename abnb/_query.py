"""Pieces of SQL, and the spec keys behind them, shared by the aggregate query and the incremental store.

Both reduce the same exposure rows and metric rows per unit (:mod:`abnb.aggregate` in one query, :mod:`abnb.incremental`
in a store it updates), so they build them from the same parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from abnb.engine import identifier

if TYPE_CHECKING:
    from sqlglot import exp

    from abnb.aggregate import ExposureSource
    from abnb.metrics import Metric


def col(name: str, table: str | None = None, what: str = "column") -> exp.Column:
    """The column ``name`` (an identifier, checked), qualified by the alias ``table`` if given."""
    from sqlglot import exp

    return exp.Column(this=identifier(name, what), table=exp.to_identifier(table, quoted=True) if table else None)


def alias(expression: exp.Expression, name: str) -> exp.Expression:
    """``expression AS "name"``."""
    from sqlglot import exp

    return exp.Alias(this=expression, alias=exp.to_identifier(name, quoted=True))


def per_unit(metric: Metric, value: exp.Expression, in_window: exp.Condition) -> exp.Expression:
    """Reduce a unit's rows to one value with the metric's aggregate, counting only rows in the window."""
    from sqlglot import exp

    if metric.aggregate == "sum":
        return exp.Sum(this=exp.Case().when(in_window, value))
    if metric.aggregate == "count":
        return exp.Count(this=exp.Case().when(in_window, exp.Literal.number(1)))
    if metric.aggregate == "max":
        return exp.Max(this=exp.Case().when(in_window, value))
    positive = exp.and_(in_window, exp.GT(this=value, expression=exp.Literal.number(0)))
    return exp.Max(this=exp.Case().when(positive, exp.Literal.number(1)).else_(exp.Literal.number(0)))


def exposure_filter(source: ExposureSource, table: str, *, has_start: bool) -> exp.Condition:
    """Exposure rows (of table alias ``table``) of the experiment, in the window, with a unit."""
    from sqlglot import exp

    conditions: list[exp.Expression] = [exp.Not(this=exp.Is(this=col(source.unit, table), expression=exp.Null()))]
    if source.ts is not None:
        conditions.append(exp.LT(this=col(source.ts, table), expression=exp.Placeholder(this="as_of")))
        if has_start:
            conditions.append(exp.GTE(this=col(source.ts, table), expression=exp.Placeholder(this="start")))
    if source.experiment_column:
        conditions.append(
            exp.EQ(this=col(source.experiment_column, table), expression=exp.Placeholder(this="experiment"))
        )
    return exp.and_(*conditions)


def exposure_fixes(source: ExposureSource, metrics: Sequence[Metric], segments: Sequence[str]) -> dict[str, str]:
    """How to point the spec at another column, per column the analysis reads from the exposures table."""
    fixes = {
        getattr(source, key): f'name the column in the spec: `[exposures] {key} = "<column>"`'
        for key in ("unit", "arm", "ts", "experiment_column")
        if getattr(source, key) is not None
    }
    if source.experiment_column is not None:
        fixes[source.experiment_column] += ' (or `experiment_column = ""` if the table holds one experiment)'
    for segment in segments:
        fixes.setdefault(segment, f"drop segment {segment!r} from the spec's `segments`")
    for metric in metrics:
        for key in ("column", "covariate_column", "denominator_column"):
            column = getattr(metric, key)
            if column is not None:
                fixes.setdefault(column, f'set `{key} = "<column>"` of metric {metric.name!r}')
        for column in metric.covariate_columns:
            fixes.setdefault(column, f"fix `covariate_columns` of metric {metric.name!r}")
    return fixes
