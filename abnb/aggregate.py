"""One aggregate query per analysis: metrics → per-unit values → sufficient statistics per arm × segment.

The query is a SQLGlot tree whose steps the engine runs in one statement (after a ``LIMIT 1`` pilot query that
finds the shifts of the mean metrics' sums, :func:`build_pilot_query`):

1. ``assignment`` (event level): one row per exposed unit (first and last exposure time, arm, segment values at
   first exposure). A unit seen in more than one arm gets arm ``NULL``; it is counted and excluded from every
   comparison. Exposure rows with a NULL unit are dropped; rows with a NULL arm carry no assignment (a unit with
   only such rows is excluded and counted like one in several arms).
2. ``p<k>`` (event level): per group of values one scan can serve (one table, same ``unit`` and ``ts``; other
   SQL alone), each unit's rows at or after its first exposure (before exposure + ``window_hours`` when the metric
   has a conversion window, and before ``as_of``) reduced to one value per metric and denominator, and the
   pre-exposure lookbacks reduced the same way for covariates (the metric's own ``covariate_days``, a ratio
   denominator's, and ``covariates`` of other SQL with ``days``); a covariate without a window (a model's
   prediction) is its SQL reduced per unit.
3. ``units``: exposures left-joined to those steps, missing values as 0 — or, at unit level, the table itself
   (trusted to hold one row per unit). Capped values are winsorised here: at ``$cap_<i>``, or at a quantile of the
   uncapped values (``units_raw``) over the units in a single arm, computed in a one-row ``caps`` step.
4. ``cells``: one ``GROUP BY`` of the units by arm × every segment column: ``n``, the latest exposure time,
   ``Σ(y − c)``, ``Σ(y − c)²`` (and ``Σx``, ``Σx²``, ``Σxy`` for covariates and denominators), and the sums and
   cross products of every variable of a metric with several (:class:`~abnb.stats.joint.JointMoments`); a sum
   needed twice is taken once.
5. The result: the cells rolled up by ``GROUPING SETS`` (arm; arm × each segment) — a few dozen rows whatever the
   number of units.

Names: the query never gives a user's name to anything it makes. Segments travel as ``seg<k>``, user columns are
read qualified by the alias of their own table, every step after ``#assignment`` reads only columns the query
made, and the steps are called ``#<name>``, which no table can be (identifiers have no ``#``). A segment, metric,
column or table named like an internal one (``s0``, ``m0_y``, ``n``, ``units``) is therefore read as itself.
A NULL segment value is its own level, :data:`MISSING`, distinct from every string. Per-unit values beyond 2^53 in
magnitude are refused (:func:`_check_magnitudes`): in double precision they would lose their last digits.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abnb._query import alias, col, exposure_filter, exposure_fixes, per_unit
from abnb.engine import BaseConnection, table_expr, validate_identifier, validate_table_name, wall_clock
from abnb.errors import DataError, ParameterError, SchemaError, SpecError
from abnb.metrics import Column, Covariate, Metric, Sql
from abnb.stats import Moments, RatioMoments
from abnb.stats.joint import JointMoments

ArmStats = Moments | RatioMoments

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = [
    "Aggregates",
    "ArmStats",
    "ExposureSource",
    "aggregate",
    "build_query",
    "build_sample_query",
    "check_covariate",
    "check_exposures",
    "check_inputs",
    "check_metric",
    "data_extent",
    "for_dialect",
    "unit_values",
]

LEVELS = ("event", "unit")
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
    "BOOLEAN",
)


class _NullLevel(str):
    """The segment level of units whose segment value is NULL (:data:`MISSING`).

    It is a ``str`` (it displays, sorts and serialises as ``"(NULL)"``) but equals no other string and hashes
    apart from them, so a unit with a NULL segment and one whose value is the literal text ``"(NULL)"`` or
    ``"(missing)"`` stay in two levels. Copies and pickles return the one instance.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NullLevel)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, _NullLevel)

    def __hash__(self) -> int:
        return hash((_NullLevel, "NULL"))

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _null_level, ()

    def __repr__(self) -> str:
        return "MISSING"


def _null_level() -> _NullLevel:
    return MISSING


MISSING: _NullLevel = _NullLevel("(NULL)")
"""The level of a NULL segment value: shown as ``(NULL)``, distinct from every string (even ``"(NULL)"``)."""


@dataclass(frozen=True)
class ExposureSource:
    """Where exposures live and what their columns are called.

    Args:
        table: Table (or view, frame, source; ``schema.table`` for a qualified name) with one row per exposure.
        unit: Column with the randomisation unit id.
        arm: Column with the arm the unit was exposed to.
        ts: Column with the exposure time (may be ``None`` at unit level: no time window then).
        experiment_column: Column holding the experiment name, when one table serves many experiments
            (``None`` if the table holds one experiment).
        level: ``"event"`` (default): exposures and metrics are events, reduced per unit in the engine.
            ``"unit"``: the table has exactly one row per unit with its metric values in columns (a warehouse
            "user table", or abnb's incremental store); metrics then name a ``column`` and the analysis is a
            single ``GROUP BY`` scan of the table.
    """

    table: str = "exposures"
    unit: str = "unit"
    arm: str = "arm"
    ts: str | None = "ts"
    experiment_column: str | None = "experiment"
    level: str = "event"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise SpecError(f"exposures level {self.level!r} is not one of {', '.join(LEVELS)}.")
        for what in ("ts", "experiment_column"):
            if getattr(self, what) == "":  # TOML has no null: an empty string means "none"
                object.__setattr__(self, what, None)
        validate_table_name(self.table, "exposures table")
        for what in ("unit", "arm"):
            validate_identifier(getattr(self, what), f"exposures {what} column")
        if self.ts is None and self.level == "event":
            raise SpecError("exposures at event level need a `ts` column (the exposure time).")
        if self.ts is not None:
            validate_identifier(self.ts, "exposures ts column")
        if self.experiment_column is not None:
            validate_identifier(self.experiment_column, "exposures experiment column")

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the analysis reads (metric columns of a unit-level table aside)."""
        cols = (self.unit, self.arm) + ((self.ts,) if self.ts else ())
        return cols + ((self.experiment_column,) if self.experiment_column else ())


def _step(name: str) -> str:
    """The name of a step (``WITH`` clause) of the query: ``#<name>``, which no table can be called.

    Table names are identifiers (:func:`~abnb.engine.validate_table_name`: letters, digits, underscores), so a
    metric reading a table called ``assignment``, ``units`` or ``p0`` reads that table, not a step of the query.
    """
    return f"#{name}"


def _cte(name: str) -> exp.TableAlias:
    from sqlglot import exp

    return exp.TableAlias(this=exp.to_identifier(_step(name), quoted=True))


def _segment(k: int) -> str:
    """The internal column of the ``k``-th segment (``seg<k>``).

    No user name is ever an alias of the query: segments travel as ``seg<k>``, user columns are read qualified by
    the alias of their own table, and every step after ``assignment`` reads only columns the query itself made. A
    segment, metric or column named like an internal column (``s0``, ``m0_y``, ``n``, ``arm``) thus cannot bind to
    it.
    """
    return f"seg{k}"


def _grouping(k: int) -> str:
    """The result column flagging rows broken down by the ``k``-th segment (``GROUPING``: 0 there)."""
    return f"g_seg{k}"


def _segment_columns(segments: Sequence[str], table: str | None = None) -> list[exp.Column]:
    return [col(_segment(k), table) for k in range(len(segments))]


@dataclass(frozen=True)
class _Part:
    """One per-unit value (or two) a per-unit step computes.

    Attributes:
        name: Prefix of its columns: ``m<i>`` (metric ``i``), ``d<i>`` (its denominator), ``k<i>_<j>`` (its
            ``j``-th covariate of other SQL).
        metric: The metric whose SQL and aggregate it reads.
        index: The metric's position in the analysis.
        post: Whether it computes ``<name>_y``, the value from exposure on (in the window, if any).
        lookback: Parameter with the days of its pre-period ``<name>_x`` (``None``: no pre-period).
        window: Parameter with the conversion window in microseconds (``None``: no window).
    """

    name: str
    metric: Metric
    index: int
    post: bool = True
    lookback: str | None = None
    window: str | None = None


def _single_table(query: exp.Query) -> exp.Table | None:
    """The table a ``SELECT ... FROM table`` reads (``None`` for anything else)."""
    from sqlglot import exp

    clause = query.args.get("from_") or query.args.get("from")
    if not isinstance(query, exp.Select) or not isinstance(clause, exp.From) or not isinstance(clause.this, exp.Table):
        return None
    return clause.this


def _scan_shape(query: exp.Query) -> tuple[str, exp.Expression | None, exp.Expression] | None:
    """``(key, where, value)`` if a metric's SQL is a plain filtered projection of one table, else ``None``.

    Metrics whose SQL reads the same table with the same ``unit`` and ``ts`` expressions share a key, so one scan
    can serve them all (:func:`_fused_rows`).
    """
    from sqlglot import exp

    source = _single_table(query)
    blocked = ("joins", "group", "having", "qualify", "distinct", "limit", "offset", "order", "with_", "with")
    if source is None or any(query.args.get(key) for key in blocked):
        return None
    outputs = {e.alias_or_name: e for e in query.expressions}
    if set(outputs) != {"unit", "ts", "value"} or any(e.find(exp.Window, exp.AggFunc) for e in query.expressions):
        return None

    def bare(expression: exp.Expression) -> exp.Expression:
        return expression.this if isinstance(expression, exp.Alias) else expression

    where = query.args.get("where")
    key = "|".join(x.sql("duckdb") for x in (source, bare(outputs["unit"]), bare(outputs["ts"])))
    return key, where.this if where is not None else None, bare(outputs["value"])


def _fused_rows(parts: Sequence[_Part]) -> exp.Select:
    """One scan for several metrics over the same table.

    Columns: ``unit``, ``ts`` and per part ``v_<name>`` (its value where its filter holds, else NULL) and, for a
    ``count`` (which counts rows whatever their value), ``f_<name>`` (1 where its filter holds); rows where any
    filter holds.
    """
    from sqlglot import exp

    shapes = [_scan_shape(p.metric.query) for p in parts]
    first = parts[0].metric.query
    outputs = {e.alias_or_name: e for e in first.expressions}
    selects: list[exp.Expression] = [outputs["unit"].copy(), outputs["ts"].copy()]
    conditions: list[exp.Expression] = []
    for part, shape in zip(parts, shapes, strict=True):
        assert shape is not None
        _, where, value = shape
        condition = where.copy() if where is not None else exp.true()
        conditions.append(exp.Paren(this=condition.copy()))
        selects.append(alias(exp.Case().when(condition.copy(), value.copy()), f"v_{part.name}"))
        if part.metric.aggregate == "count":
            selects.append(alias(exp.Case().when(condition, exp.Literal.number(1)), f"f_{part.name}"))
    table = _single_table(first)
    assert table is not None  # parts share a scan shape, which needs a single table
    fused = exp.select(*selects).from_(table.copy())
    return fused.where(exp.or_(*conditions)) if all(s[1] is not None for s in shapes if s) else fused


def _metric_cte(parts: Sequence[_Part], rows: exp.Query, *, fused: bool) -> exp.Select:
    """Per exposed unit, each part's ``<name>_y`` and, with a pre-period, ``<name>_x``.

    ``y`` reduces the rows at or after exposure (and before exposure + the window, if any), ``x`` those in the
    lookback before it, from ``rows`` (a metric's SQL, or the fused scan of several).
    """
    from sqlglot import exp

    m, a = "m", "a"
    ts, exposed_at = col("ts", m), col("exposed_at", a)
    selects: list[exp.Expression] = [col("unit", a)]
    lowers: list[exp.Expression] = []
    for part in parts:
        value = exp.Cast(this=col(f"v_{part.name}" if fused else "value", m), to=exp.DataType.build("DOUBLE"))
        counted = fused and part.metric.aggregate == "count"
        member: exp.Expression = (
            exp.Not(this=exp.Is(this=col(f"f_{part.name}", m), expression=exp.Null())) if counted else exp.true()
        )
        if part.post:
            after = exp.and_(exp.GTE(this=ts.copy(), expression=exposed_at.copy()), member.copy())
            if part.window is not None:
                end = exp.TimestampAdd(
                    this=exposed_at.copy(),
                    expression=exp.Cast(this=exp.Placeholder(this=part.window), to=exp.DataType.build("BIGINT")),
                    unit=exp.var("MICROSECOND"),
                )
                after = exp.and_(after, exp.LT(this=ts.copy(), expression=end))
            selects.append(alias(per_unit(part.metric, value, after), f"{part.name}_y"))
        lower: exp.Expression = exposed_at.copy()
        if part.lookback is not None:
            lookback = exp.ToDays(this=exp.Cast(this=exp.Placeholder(this=part.lookback), to=exp.DataType.build("INT")))
            lower = exp.Sub(this=exposed_at.copy(), expression=lookback)
            before = exp.and_(
                exp.LT(this=ts.copy(), expression=exposed_at.copy()),
                exp.GTE(this=ts.copy(), expression=lower.copy()),
                member.copy(),
            )
            selects.append(alias(per_unit(part.metric, value.copy(), before), f"{part.name}_x"))
        lowers.append(lower)
    earliest = lowers[0] if len(lowers) == 1 else exp.Least(this=lowers[0], expressions=lowers[1:])
    condition = exp.and_(
        exp.GTE(this=ts.copy(), expression=earliest),
        exp.LT(this=ts.copy(), expression=exp.Placeholder(this="as_of")),
    )
    return (
        exp.select(*selects)
        .from_(_assignment_table(a))
        .join(
            rows.subquery(exp.to_identifier(m, quoted=True)),
            on=exp.EQ(this=col("unit", m), expression=col("unit", a)),
        )
        .where(condition)
        .group_by(col("unit", a))
    )


def _assignment_table(name: str) -> exp.Table:
    from sqlglot import exp

    return exp.Table(
        this=exp.to_identifier(_step("assignment"), quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(name, quoted=True)),
    )


def _value_cte(part: _Part) -> exp.Select:
    """Per exposed unit, ``<name>_x``: the rows of a covariate without a window (``unit``, ``value``) reduced."""
    from sqlglot import exp

    m, a = "m", "a"
    value = exp.Cast(this=col("value", m), to=exp.DataType.build("DOUBLE"))
    return (
        exp.select(col("unit", a), alias(per_unit(part.metric, value, exp.true()), f"{part.name}_x"))
        .from_(_assignment_table(a))
        .join(
            part.metric.query.subquery(exp.to_identifier(m, quoted=True)),
            on=exp.EQ(this=col("unit", m), expression=col("unit", a)),
        )
        .group_by(col("unit", a))
    )


def _parts(metrics: Sequence[Metric]) -> list[_Part]:
    """Every per-unit value of an event-level analysis: metrics, denominators, covariates of other SQL."""
    parts = [
        _Part(
            f"m{i}",
            m,
            i,
            lookback=f"lookback_{i}" if m.covariate_days is not None else None,
            window=f"window_{i}" if m.window_hours is not None else None,
        )
        for i, m in enumerate(metrics)
    ]
    for i, m in enumerate(metrics):
        d = m.denominator
        if d is not None:
            lookback = f"lookback_{i}" if d.covariate_days is not None else None
            parts.append(_Part(f"d{i}", d, i, lookback=lookback, window=f"window_{i}" if d.window_hours else None))
    for i, m in enumerate(metrics):
        for j, covariate in enumerate(m.covariates):
            lookback = f"lookback_{i}_{j}" if covariate.windowed else None
            parts.append(_Part(f"k{i}_{j}", covariate.as_metric(m.name), i, post=False, lookback=lookback))
    return parts


def _metric_ctes(metrics: Sequence[Metric]) -> list[tuple[str, list[_Part], exp.Select]]:
    """The per-unit steps of an event-level analysis: one per group of values that one scan can serve."""
    groups: dict[str, list[_Part]] = {}
    for part in _parts(metrics):
        shape = _scan_shape(part.metric.query) if part.post or part.lookback is not None else None
        groups.setdefault(shape[0] if shape else f"alone:{part.name}", []).append(part)
    steps = []
    for k, members in enumerate(groups.values()):
        if len(members) == 1 and not members[0].post and members[0].lookback is None:
            steps.append((_step(f"p{k}"), members, _value_cte(members[0])))
        elif len(members) == 1:
            steps.append((_step(f"p{k}"), members, _metric_cte(members, members[0].metric.query, fused=False)))
        else:
            steps.append((_step(f"p{k}"), members, _metric_cte(members, _fused_rows(members), fused=True)))
    return steps


def _assignment(source: ExposureSource, segments: Sequence[str], *, has_start: bool) -> exp.Select:
    """One row per exposed unit: first exposure time, arm (NULL if seen in several), segments at first exposure."""
    from sqlglot import exp

    e = "e"
    if source.ts is None:
        raise SpecError(f"exposures table {source.table!r} at event level needs a `ts` column.")
    single_arm = exp.EQ(
        this=exp.Count(this=exp.Distinct(expressions=[col(source.arm, e)])), expression=exp.Literal.number(1)
    )
    assignment = (
        exp.select(
            alias(col(source.unit, e), "unit"),
            alias(exp.Min(this=col(source.ts, e)), "exposed_at"),
            alias(exp.Max(this=col(source.ts, e)), "last_exposure"),
            alias(exp.Case().when(single_arm, exp.Min(this=col(source.arm, e))), "arm"),
            *[
                alias(exp.ArgMin(this=col(s, e), expression=col(source.ts, e)), _segment(k))
                for k, s in enumerate(segments)
            ],
        )
        .from_(table_expr(source.table, "exposures table", alias=e))
        .where(exposure_filter(source, e, has_start=has_start))
        .group_by(col(source.unit, e))
    )
    return assignment


@dataclass(frozen=True)
class _Plan:
    """Where the ``units`` step keeps each metric's per-unit values, which are shifted, and which are capped.

    Attributes:
        y: Per metric, the ``units`` column with its value.
        x: Per metric, the column with its covariate or denominator (``None`` without one).
        pilots: Shifted column -> a scalar expression giving its shift (bound as ``$shift_<column>``).
        unit_values: At unit level, column -> the expression reading it from the table.
        indicators: Columns whose unit value is the indicator ``value > 0`` (``aggregate = "any"``): their Σy is
            ``COUNT_IF(value > 0)`` and their Σy² the same column, since 0/1 values are their own squares.
        variables: Per metric, ``(name, column)`` of each of its :attr:`Metric.variables` (``y``, ``d``, ``x``,
            ``w``, covariates), the layout of its :class:`JointMoments`.
        caps: Capped column -> the parameter of its cap: ``cap_<i>`` (a fixed cap, applied where the column is
            made) or ``cap_quantile_<i>`` (a quantile of the column over the analysed units, computed in the
            ``caps`` step).
    """

    y: tuple[str, ...]
    x: tuple[str | None, ...]
    pilots: dict[str, exp.Expression]
    unit_values: dict[str, exp.Expression]
    indicators: frozenset[str] = frozenset()
    variables: tuple[tuple[tuple[str, str], ...], ...] = ()
    caps: dict[str, str] = field(default_factory=dict)

    @property
    def quantile_caps(self) -> dict[str, str]:
        """The columns capped at a quantile, with their parameter."""
        return {column: p for column, p in self.caps.items() if p.startswith("cap_quantile_")}


def _shifted(metric: Metric) -> bool:
    """Whether the metric's sums are taken around a pilot value (means; counts, proportions and ratios are not)."""
    return metric.kind == "mean" and metric.aggregate in ("sum", "max")


def _cap_parameter(metric: Metric, index: int) -> str | None:
    """The parameter holding metric ``index``'s cap (``None`` if it is not capped)."""
    if metric.cap is not None:
        return f"cap_{index}"
    if metric.cap_quantile is not None:
        return f"cap_quantile_{index}"
    return None


def _pilot(source: ExposureSource, metric: Metric, column: str | None) -> exp.Expression:
    """A value of the right magnitude to shift a metric's sums by, from the first row the engine finds.

    At unit level, the first non-NULL value of ``column``; at event level, the first observation of the metric's
    SQL (a unit's value is a sum or maximum of such values). Without a row the shift is 0. The ``LIMIT 1`` lets the
    engine stop after one vector.
    """
    from sqlglot import exp

    double = exp.DataType.build("DOUBLE")
    if column is not None:
        first = exp.select(exp.Cast(this=col(column), to=double)).from_(table_expr(source.table, "exposures table"))
        first = first.where(exp.Not(this=exp.Is(this=col(column), expression=exp.Null())))
    else:
        first = exp.select(exp.Cast(this=col("value", "q"), to=double)).from_(
            metric.query.subquery(exp.to_identifier("q", quoted=True))
        )
        first = first.where(exp.Not(this=exp.Is(this=col("value", "q"), expression=exp.Null())))
    return exp.Coalesce(this=exp.Subquery(this=first.limit(1)), expressions=[exp.Literal.number(0)])


def _at_most(value: exp.Expression, cap: exp.Expression) -> exp.Expression:
    """``CASE WHEN value > cap THEN cap ELSE value END``: the value winsorised at ``cap`` (values are never NULL).

    A ``CASE`` rather than ``LEAST``, which SQLGlot wraps in NULL checks for DuckDB (whose ``LEAST`` skips NULLs).
    """
    from sqlglot import exp

    return exp.Case().when(exp.GT(this=value, expression=cap), cap.copy()).else_(value.copy())


def _fixed_cap(value: exp.Expression, parameter: str | None) -> exp.Expression:
    """``value`` winsorised at ``$cap_<i>`` for a fixed cap; the value itself otherwise (quantile caps come later)."""
    from sqlglot import exp

    if parameter is None or parameter.startswith("cap_quantile_"):
        return value
    return _at_most(value, exp.Cast(this=exp.Placeholder(this=parameter), to=exp.DataType.build("DOUBLE")))


def _plan(source: ExposureSource, metrics: Sequence[Metric]) -> _Plan:
    """Name the per-unit value columns; at unit level, metrics reading the same column the same way share one."""
    planner = _Planner(source)
    for i, metric in enumerate(metrics):
        if source.level == "unit":
            planner.add_column_metric(metric, _cap_parameter(metric, i))
        else:
            planner.add_sql_metric(i, metric, _cap_parameter(metric, i))
    return planner.plan()


@dataclass
class _Planner:
    """The columns of a :class:`_Plan` (see its attributes), named metric by metric."""

    source: ExposureSource
    ys: list[str] = field(default_factory=list)
    xs: list[str | None] = field(default_factory=list)
    pilots: dict[str, exp.Expression] = field(default_factory=dict)
    unit_values: dict[str, exp.Expression] = field(default_factory=dict)
    keys: dict[tuple[str, bool, bool, str | None], str] = field(default_factory=dict)
    indicators: set[str] = field(default_factory=set)
    variables: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    caps: dict[str, str] = field(default_factory=dict)

    def plan(self) -> _Plan:
        """The plan of the metrics added so far."""
        return _Plan(
            tuple(self.ys),
            tuple(self.xs),
            self.pilots,
            self.unit_values,
            frozenset(self.indicators),
            tuple(self.variables),
            self.caps,
        )

    def read(self, column: str, metric: Metric, *, indicator: bool, shifted: bool, cap: str | None = None) -> str:
        """The value column reading ``column`` of a unit-level table this way (made once, then shared)."""
        from sqlglot import exp

        name = self.keys.setdefault((column, indicator, shifted, cap), f"v{len(self.keys)}")
        if name not in self.unit_values:
            raw: exp.Expression = exp.Coalesce(
                this=exp.Cast(
                    this=col(column, "t", f"column of metric {metric.name!r}"), to=exp.DataType.build("DOUBLE")
                ),
                expressions=[exp.Literal.number(0)],
            )
            self.unit_values[name] = _fixed_cap(raw, cap)
            if indicator:
                self.indicators.add(name)
            if shifted:
                self.pilots[name] = _pilot(self.source, metric, column)
            if cap is not None:
                self.caps[name] = cap
        return name

    def add_column_metric(self, metric: Metric, cap: str | None) -> None:
        """A metric of a unit-level table: its columns, read once per way of reading them."""
        if metric.column is None:
            raise SpecError(
                f"metric {metric.name!r} has SQL, but exposures table {self.source.table!r} is declared unit-level; "
                "give the metric a `column` of that table, or declare the exposures at event level."
            )
        shifted = _shifted(metric)
        self.ys.append(self.read(metric.column, metric, indicator=metric.aggregate == "any", shifted=shifted, cap=cap))
        own: list[tuple[str, str]] = [("y", self.ys[-1])]
        second: str | None = None
        if metric.denominator_column is not None:
            second = self.read(metric.denominator_column, metric, indicator=False, shifted=shifted)
            own.append(("d", second))
        elif metric.covariate_column is not None:
            second = self.read(metric.covariate_column, metric, indicator=False, shifted=shifted, cap=cap)
            own.append(("x", second))
        self.xs.append(second)
        for column in metric.covariate_columns:
            own.append((column, self.read(column, metric, indicator=False, shifted=shifted, cap=cap)))
        self.variables.append(tuple(own))

    def add_sql_metric(self, i: int, metric: Metric, cap: str | None) -> None:
        """Metric ``i`` of an event-level analysis: its columns ``m<i>_…``, made by the per-unit steps."""
        if metric.column is not None:
            raise SpecError(
                f"metric {metric.name!r} reads column {metric.column!r}, which needs unit-level exposures; "
                f'declare `level = "unit"` for table {self.source.table!r} or give the metric SQL.'
            )
        self.ys.append(f"m{i}_y")
        self.xs.append(f"m{i}_x" if metric.has_covariate or metric.kind == "ratio" else None)
        if metric.aggregate == "any":  # already 0/1 per unit (a ratio's denominator has its own aggregate)
            self.indicators.update(c for c in (self.ys[-1], self.xs[-1] if metric.kind != "ratio" else None) if c)
        if _shifted(metric):
            self.pilots[f"m{i}_y"] = _pilot(self.source, metric, None)
            if metric.has_covariate:
                self.pilots[f"m{i}_x"] = self.pilots[f"m{i}_y"].copy()
        own, capped = _own_variables(i, metric)
        for j, covariate in enumerate(metric.covariates):
            column = f"m{i}_k{j}"
            own.append((covariate.name, column))
            capped.append(column)
            if covariate.aggregate in ("sum", "max"):
                self.pilots[column] = _pilot(self.source, covariate.as_metric(metric.name), None)
        self.variables.append(tuple(own))
        if cap is not None:
            self.caps.update(dict.fromkeys(capped, cap))


def _own_variables(i: int, metric: Metric) -> tuple[list[tuple[str, str]], list[str]]:
    """Event-level metric ``i``'s own variables ``(name, column)`` and the columns its cap applies to."""
    if metric.kind == "ratio":  # a ratio's denominator (and its pre-period) is not capped
        own = [("y", f"m{i}_y"), ("d", f"m{i}_x")]
        if metric.covariate_days is None:
            return own, [f"m{i}_y"]
        return [*own, ("x", f"m{i}_px"), ("w", f"m{i}_pw")], [f"m{i}_y", f"m{i}_px"]
    own = [("y", f"m{i}_y")] + ([("x", f"m{i}_x")] if metric.has_covariate else [])
    return own, [column for _, column in own]


def _units(
    source: ExposureSource, metrics: Sequence[Metric], segments: Sequence[str], plan: _Plan, *, has_start: bool
) -> tuple[exp.Select, exp.Select]:
    """The steps before ``units`` (as a query to add ``WITH`` clauses to) and ``units``: one row per unit.

    Fixed caps are applied where a column is made; quantile caps need every unit's value first, so the units are
    then made in three steps: ``units_raw`` (uncapped), ``caps`` (one row: each capped column's quantile over the
    units in a single arm) and ``units`` (each capped column at ``LEAST(value, cap)``, and the cap itself as
    ``cap_<column>``, which the cells and the result carry up).
    """
    from sqlglot import exp

    query = exp.select()
    if source.level == "unit":
        selects = [alias(col(source.unit, "t"), "unit"), alias(col(source.arm, "t"), "arm")]
        selects += [alias(col(s, "t"), _segment(k)) for k, s in enumerate(segments)]
        if source.ts is not None:
            selects.append(alias(col(source.ts, "t"), "last_exposure"))
        selects += [alias(value, name) for name, value in plan.unit_values.items()]
        units = (
            exp.select(*selects)
            .from_(table_expr(source.table, "exposures table", alias="t"))
            .where(exposure_filter(source, "t", has_start=has_start))
        )
        return _quantile_caps(query, units, segments, plan)
    query = query.with_(_cte("assignment"), as_=_assignment(source, segments, has_start=has_start))
    units_selects: list[exp.Expression] = [
        col("unit", "a"),
        col("arm", "a"),
        *_segment_columns(segments, "a"),
        col("last_exposure", "a"),
    ]
    units = exp.select().from_(_assignment_table("a"))
    zero = exp.Literal.number(0)
    columns: dict[str, tuple[str, str]] = {}  # step column -> (step, its column)
    for step, parts, cte in _metric_ctes(metrics):
        query = query.with_(exp.TableAlias(this=exp.to_identifier(step, quoted=True)), as_=cte)
        units = units.join(
            exp.Table(this=exp.to_identifier(step, quoted=True)),
            on=exp.EQ(this=col("unit", step), expression=col("unit", "a")),
            join_type="left",
        )
        for part in parts:
            if part.post:
                columns[f"{part.name}_y"] = (step, f"{part.name}_y")
            if part.lookback is not None or not part.post:
                columns[f"{part.name}_x"] = (step, f"{part.name}_x")
    for i, metric in enumerate(metrics):
        wanted = [(plan.y[i], f"m{i}_y")]
        if plan.x[i] is not None:  # the denominator of a ratio takes the covariate's place: x
            wanted.append((f"m{i}_x", f"d{i}_y" if metric.denominator is not None else f"m{i}_x"))
        if metric.kind == "ratio" and metric.covariate_days is not None:  # ratio CUPED: both pre-periods
            wanted += [(f"m{i}_px", f"m{i}_x"), (f"m{i}_pw", f"d{i}_x")]
        wanted += [(f"m{i}_k{j}", f"k{i}_{j}_x") for j in range(len(metric.covariates))]
        for name, source_column in wanted:
            step, column = columns[source_column]
            value = exp.Coalesce(this=col(column, step), expressions=[zero.copy()])
            units_selects.append(alias(_fixed_cap(value, plan.caps.get(name)), name))
    return _quantile_caps(query, units.select(*units_selects), segments, plan)


def _quantile_caps(
    query: exp.Select, units: exp.Select, segments: Sequence[str], plan: _Plan
) -> tuple[exp.Select, exp.Select]:
    """Cap the columns with a quantile cap (see :func:`_units`); without any, ``units`` as it is."""
    from sqlglot import exp

    capped = plan.quantile_caps
    if not capped:
        return query, units
    raw, caps = _step("units_raw"), _step("caps")
    query = query.with_(exp.TableAlias(this=exp.to_identifier(raw, quoted=True)), as_=units)
    double = exp.DataType.build("DOUBLE")
    quantiles = [
        alias(
            exp.PercentileCont(
                this=col(column, "r"), expression=exp.Cast(this=exp.Placeholder(this=parameter), to=double)
            ),
            column,
        )
        for column, parameter in capped.items()
    ]
    raw_table = exp.Table(
        this=exp.to_identifier(raw, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("r", quoted=True))
    )
    single_arm = exp.Not(this=exp.Is(this=col("arm", "r"), expression=exp.Null()))
    query = query.with_(
        exp.TableAlias(this=exp.to_identifier(caps, quoted=True)),
        as_=exp.select(*quantiles).from_(raw_table.copy()).where(single_arm),
    )
    selects: list[exp.Expression] = [col("unit", "r"), col("arm", "r"), *_segment_columns(segments, "r")]
    for expression in units.expressions:
        name = expression.alias_or_name
        if name in ("unit", "arm") or name in {_segment(k) for k in range(len(segments))}:
            continue
        if name in capped:
            selects.append(alias(_at_most(col(name, "r"), col(name, "c")), name))
            selects.append(alias(col(name, "c"), f"cap_{name}"))
        else:
            selects.append(col(name, "r"))
    caps_table = exp.Table(
        this=exp.to_identifier(caps, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("c", quoted=True))
    )
    return query, exp.select(*selects).from_(raw_table).join(caps_table, join_type="cross")


def build_pilot_query(source: ExposureSource, metrics: Sequence[Metric]) -> exp.Select | None:
    """One row with the shift of every shifted value column (``shift_<column>``), or ``None`` if there is none.

    Each shift is a scalar ``LIMIT 1`` subquery, so the engine reads one vector per metric, not the data.
    """
    from sqlglot import exp

    pilots = _plan(source, metrics).pilots
    return exp.select(*[alias(p, f"shift_{name}") for name, p in pilots.items()]) if pilots else None


@dataclass(frozen=True)
class _Joint:
    """Where the result holds one metric's :class:`JointMoments`.

    Attributes:
        names: The variables (:attr:`Metric.variables`).
        columns: The ``units`` column of each variable (its shift is ``$shift_<column>`` if shifted).
        sums: The result column with ``Σ(z_i − c_i)`` of each variable.
        cross: The result column with ``Σ(z_i − c_i)(z_j − c_j)`` of each pair (a symmetric table).
    """

    names: tuple[str, ...]
    columns: tuple[str, ...]
    sums: tuple[str, ...]
    cross: tuple[tuple[str, ...], ...]


def build_query(
    source: ExposureSource,
    metrics: Sequence[Metric],
    segments: Sequence[str] = (),
    *,
    has_start: bool = False,
) -> exp.Select:
    """Build the single aggregate query of an analysis.

    Steps: ``units`` (one row per unit: arm, segments and per-unit values; computed from events at event level,
    read from the table at unit level; capped), ``cells`` (one ``GROUP BY`` over arm × every segment column: the
    only pass over the units) and the result, a roll-up of the few cells by ``GROUPING SETS`` (arm; arm × each
    segment). Sums of a mean metric are taken around a shift bound as ``$shift_<column>``
    (:func:`build_pilot_query`).

    The query takes bound parameters ``$as_of`` (exclusive end of the data window; unused at unit level without
    ``ts``), ``$experiment`` (when the source has an experiment column), ``$start`` (when ``has_start``),
    ``$lookback_<i>`` (metrics with a covariate days window), ``$lookback_<i>_<j>`` (their covariates with a
    window), ``$window_<i>`` (conversion windows, in microseconds), ``$cap_<i>`` / ``$cap_quantile_<i>`` (caps)
    and the shifts. :func:`query_parameters` builds all but the shifts.

    Returns:
        A SQLGlot ``SELECT`` returning per arm (and arm × segment level) ``n`` and, for metric ``i``,
        ``m<i>_sum``, ``m<i>_sum_sq`` and, with a covariate or denominator, ``m<i>_x_sum``, ``m<i>_x_sum_sq``,
        ``m<i>_xy_sum``; the sums and cross products of its :attr:`Metric.variables` (``j<i>_…``, or the
        ``m<i>_…`` column holding the same sum); ``cap_<column>`` with each quantile cap; plus ``g_<segment>``
        grouping flags (0 when the row is broken down by that segment).
    """
    return _build_query(source, tuple(metrics), tuple(segments), has_start)[0]


def _build_query(
    source: ExposureSource, metrics: Sequence[Metric], segments: Sequence[str], has_start: bool
) -> tuple[exp.Select, tuple[_Joint, ...]]:
    """:func:`build_query` and where its result holds each metric's joint moments."""
    from sqlglot import exp

    if not metrics:
        raise SpecError("an analysis needs at least one metric.")
    for segment in segments:
        validate_identifier(segment, "segment column")
    plan = _plan(source, metrics)
    query, units = _units(source, metrics, segments, plan, has_start=has_start)
    query = query.with_(_cte("units"), as_=units)
    sums = _Sums(plan, segments, timed=source.ts is not None)
    for i, (y_column, x_column) in enumerate(zip(plan.y, plan.x, strict=True)):
        sums.add_moments(i, y_column, x_column)
    layout = tuple(sums.add_joint(i, variables) for i, variables in enumerate(plan.variables))
    sums.add_magnitudes()
    sums.add_quantile_caps()
    cells = (
        exp.select(*sums.cell_selects)
        .from_(
            exp.Table(
                this=exp.to_identifier(_step("units"), quoted=True),
                alias=exp.TableAlias(this=exp.to_identifier("u", quoted=True)),
            )
        )
        .group_by(col("arm", "u"), *_segment_columns(segments, "u"))
    )
    query = query.with_(_cte("cells"), as_=cells)
    query = query.select(*sums.final_selects).from_(exp.Table(this=exp.to_identifier(_step("cells"), quoted=True)))
    if segments:
        sets = [exp.Paren(this=col("arm"))] + [
            exp.Tuple(expressions=[col("arm"), column]) for column in _segment_columns(segments)
        ]
        query.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=sets)]))
    else:
        query = query.group_by(col("arm"))
    return query, layout


class _Sums:
    """The selects of the ``cells`` step and of the result, filled sum by sum (see :func:`_build_query`).

    A sum needed twice is taken once: :attr:`sums` maps ``(sum kind, columns)`` to its ``cells`` column, and
    :attr:`finals` a ``cells`` column to the first result column summing it.
    """

    def __init__(self, plan: _Plan, segments: Sequence[str], *, timed: bool = False) -> None:
        """Start both selects with the arm, the segments, the unit count ``n`` and (``timed``) the last exposure."""
        from sqlglot import exp

        self.plan = plan
        self.cell_selects: list[exp.Expression] = [col("arm", "u"), *_segment_columns(segments, "u")]
        self.cell_selects.append(alias(exp.Count(this=exp.Star()), "n"))
        self.final_selects: list[exp.Expression] = [col("arm"), *_segment_columns(segments)]
        self.final_selects += [
            alias(exp.Grouping(expressions=[col(_segment(k))]), _grouping(k)) for k in range(len(segments))
        ]
        self.final_selects.append(alias(exp.Sum(this=col("n")), "n"))
        if timed:  # the latest exposure time of the cell's units: the data's freshness, at no extra pass
            self.cell_selects.append(alias(exp.Max(this=col("last_exposure", "u")), "last_exposure"))
            self.final_selects.append(alias(exp.Max(this=col("last_exposure")), "last_exposure"))
        self.sums: dict[tuple[str, ...], str] = {}
        self.finals: dict[str, str] = {}

    def value(self, column: str) -> exp.Expression:
        """A unit's value of ``column``, less its shift when it is shifted."""
        from sqlglot import exp

        if column in self.plan.pilots:
            return exp.Paren(this=exp.Sub(this=col(column, "u"), expression=exp.Placeholder(this=f"shift_{column}")))
        return col(column, "u")

    @staticmethod
    def indicator(column: str) -> exp.Expression:
        """``CASE WHEN column > 0 THEN 1 ELSE 0 END``: a unit's 0/1 value of an indicator column."""
        from sqlglot import exp

        positive = exp.GT(this=col(column, "u"), expression=exp.Literal.number(0))
        return exp.Case().when(positive, exp.Literal.number(1)).else_(exp.Literal.number(0))

    def aggregated(self, key: tuple[str, ...]) -> exp.Expression:
        """The cell aggregate of a sum: a count of positives for an indicator (its square is itself)."""
        from sqlglot import exp

        indicators = self.plan.indicators
        kind, column = key[0], key[1]
        if column in indicators and kind in ("sum", "sum_sq"):
            return exp.CountIf(this=exp.GT(this=col(column, "u"), expression=exp.Literal.number(0)))
        y = self.indicator(key[2]) if len(key) > 2 and key[2] in indicators else self.value(key[-1])
        x = self.indicator(column) if column in indicators else self.value(column)
        if kind == "sum":
            return exp.Sum(this=x)
        return exp.Sum(this=exp.Mul(this=x, expression=x.copy() if kind == "sum_sq" else y))

    def cell(self, key: tuple[str, ...]) -> str:
        """The ``cells`` column with the sum ``key`` (``sum``, ``sum_sq`` or ``xy_sum`` and its columns)."""
        if key[0] == "sum_sq" and key[1] in self.plan.indicators:
            key = ("sum", key[1])
        if key[0] == "xy_sum" and key not in self.sums and (key[0], key[2], key[1]) in self.sums:
            key = (key[0], key[2], key[1])  # Σxy = Σyx: one sum whichever way round it was first asked for
        if key not in self.sums:
            self.sums[key] = f"s{len(self.sums)}"
            self.cell_selects.append(alias(self.aggregated(key), self.sums[key]))
        return self.sums[key]

    def result(self, key: tuple[str, ...], name: str) -> str:
        """The result column with the sum ``key``: one already summing its cells column, else a new ``name``."""
        from sqlglot import exp

        column = self.cell(key)
        if column not in self.finals:
            self.finals[column] = name
            self.final_selects.append(alias(exp.Sum(this=col(column)), name))
        return self.finals[column]

    def add_moments(self, i: int, y_column: str, x_column: str | None) -> None:
        """Metric ``i``'s ``m<i>_sum``, ``m<i>_sum_sq`` and, with a covariate or denominator, its ``x`` sums."""
        from sqlglot import exp

        keys: list[tuple[str, ...]] = [("sum", y_column), ("sum_sq", y_column)]
        if x_column is not None:
            keys += [("sum", x_column), ("sum_sq", x_column), ("xy_sum", x_column, y_column)]
        names = ["sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum"]
        for name, key in zip(names, keys, strict=False):
            column = self.cell(key)
            self.finals.setdefault(column, f"m{i}_{name}")
            self.final_selects.append(alias(exp.Sum(this=col(column)), f"m{i}_{name}"))

    def add_joint(self, i: int, variables: tuple[tuple[str, str], ...]) -> _Joint:
        """The sums and cross products of metric ``i``'s variables, and where the result holds them."""
        names, columns = tuple(n for n, _ in variables), tuple(c for _, c in variables)
        totals = tuple(self.result(("sum", c), f"j{i}_s{a}") for a, c in enumerate(columns))
        table = [["" for _ in columns] for _ in columns]
        for a, first in enumerate(columns):
            for b in range(a, len(columns)):
                key = ("sum_sq", first) if a == b else ("xy_sum", columns[b], first)
                table[a][b] = table[b][a] = self.result(key, f"j{i}_c{a}_{b}")
        return _Joint(names, columns, totals, tuple(map(tuple, table)))

    def add_magnitudes(self) -> None:
        """The largest ``|value|`` of each value column: doubles hold integers exactly to 2^53 only."""
        from sqlglot import exp

        magnitudes: list[str] = []
        for variables in self.plan.variables:
            for _, column in variables:
                if column not in self.plan.indicators and column not in magnitudes:
                    magnitudes.append(column)
                    largest = f"abs{len(magnitudes) - 1}"
                    self.cell_selects.append(alias(exp.Max(this=exp.Abs(this=col(column, "u"))), largest))
                    self.final_selects.append(alias(exp.Max(this=col(largest)), f"max_abs_{column}"))

    def add_quantile_caps(self) -> None:
        """Each quantile cap: every unit carries the same cap, so its maximum over the cells is the cap."""
        from sqlglot import exp

        for column in self.plan.quantile_caps:
            self.cell_selects.append(alias(exp.Max(this=col(f"cap_{column}", "u")), f"cap_{column}"))
            self.final_selects.append(alias(exp.Max(this=col(f"cap_{column}")), f"cap_{column}"))


def query_parameters(
    metrics: Sequence[Metric],
    *,
    as_of: datetime,
    experiment: str | None,
    start: datetime | None,
    source: ExposureSource | None = None,
) -> dict[str, Any]:
    """The bound parameters for :func:`build_query` (a unit-level source without ``ts`` takes no time window)."""
    timed = source is None or source.ts is not None
    params: dict[str, Any] = {"as_of": as_of} if timed else {}
    if experiment is not None:
        params["experiment"] = experiment
    if start is not None and timed:
        params["start"] = start
    for i, metric in enumerate(metrics):
        if metric.covariate_days is not None:
            params[f"lookback_{i}"] = metric.covariate_days
        for j, covariate in enumerate(metric.covariates):
            if covariate.days is not None:
                params[f"lookback_{i}_{j}"] = covariate.days
        if metric.window_hours is not None:
            params[f"window_{i}"] = round(metric.window_hours * 3_600_000_000)  # microseconds
        if metric.cap is not None:
            params[f"cap_{i}"] = metric.cap
        if metric.cap_quantile is not None:
            params[f"cap_quantile_{i}"] = metric.cap_quantile
    return params


def _outcome_only(metric: Metric) -> Metric:
    """The metric without covariates of other SQL or columns (a sample of its values does not need them)."""
    if not metric.covariates and not metric.covariate_columns:
        return metric
    source = metric.source
    bare = (
        dataclasses.replace(source, covariates=())
        if isinstance(source, Sql)
        else Column(source.name, source.denominator, source.covariate)
    )
    return dataclasses.replace(metric, source=bare)


def build_sample_query(source: ExposureSource, metric: Metric, *, has_start: bool = False) -> exp.Select:
    """Per-unit values of one metric in one arm, a reproducible pseudo-random sample of at most ``$limit`` units.

    Units are ordered by ``md5(unit || $salt)`` (uniform and repeatable for a salt), so the sample is the same on
    every run and engine. Parameters: those of :func:`build_query` plus ``$arm``, ``$salt`` and ``$limit``. The
    values are those the analysis compares (in the metric's window, capped); covariates of other SQL are left out.
    """
    from sqlglot import exp

    metric = _outcome_only(metric)
    plan = _plan(source, [metric])
    query, units = _units(source, [metric], (), plan, has_start=has_start)
    order = exp.MD5(
        this=exp.DPipe(
            this=exp.Cast(this=col("unit"), to=exp.DataType.build("VARCHAR")),
            expression=exp.Placeholder(this="salt"),
        )
    )
    y: exp.Expression = col(plan.y[0])
    if plan.y[0] in plan.indicators:
        y = (
            exp.Case()
            .when(exp.GT(this=y, expression=exp.Literal.number(0)), exp.Literal.number(1))
            .else_(exp.Literal.number(0))
        )
    return (
        query.with_(_cte("units"), as_=units)
        .select(alias(y, "y"))
        .from_(exp.Table(this=exp.to_identifier(_step("units"), quoted=True)))
        .where(exp.EQ(this=col("arm"), expression=exp.Placeholder(this="arm")))
        .order_by(order)
        .limit(exp.Placeholder(this="limit"))
    )


def unit_values(
    connection: BaseConnection,
    source: ExposureSource,
    metric: Metric,
    *,
    arm: str,
    as_of: datetime,
    experiment: str | None = None,
    start: datetime | None = None,
    limit: int = 100_000,
    salt: str = "abnb",
) -> list[float]:
    """Fetch a bounded, reproducible sample of one arm's per-unit metric values (for rank and quantile methods).

    Raises:
        ParameterError: ``limit`` is not a positive whole number.
        DataError: A sampled unit's value is NaN or infinite (the message names the metric and arm).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ParameterError(f"limit must be a positive whole number of units, got {limit!r}.")
    if source.level == "event":
        check_metric(connection, metric)
    params = query_parameters([_outcome_only(metric)], as_of=as_of, experiment=experiment, start=start, source=source)
    params.update(arm=arm, salt=salt, limit=limit)
    has_start = start is not None and source.ts is not None
    result = connection.run(build_sample_query(source, metric, has_start=has_start), params)
    values = [float(row[0]) for row in result.rows]
    bad = sum(1 for v in values if not math.isfinite(v))
    if bad:
        where = f"column {metric.column!r} of table {source.table!r}" if source.level == "unit" else "its SQL"
        raise DataError(
            f"metric {metric.name!r} has {bad} unit(s) with a NaN or infinite value in arm {arm!r} (from {where}); "
            "filter them where the values come from (e.g. `WHERE isfinite(value)`) or clean the telemetry."
        )
    return values


@dataclass(frozen=True)
class Aggregates:
    """The sufficient statistics an analysis needs, as returned by the engine.

    Attributes:
        overall: ``{metric: {arm: Moments}}`` over all units (``RatioMoments`` for ratio metrics).
        segments: ``{(segment column, level): {metric: {arm: Moments}}}``.
        units: Units per arm (after exclusions).
        excluded_units: Units exposed to more than one arm, or whose every exposure row has a NULL arm (excluded
            from every comparison).
        rows_fetched: Rows the engine returned.
        joint: ``{metric: {arm: JointMoments}}`` over all units: the sums and cross products of every variable of
            the metric (:attr:`Metric.variables`: ``y``, ``d`` for a ratio, ``x`` and ``w`` for its pre-periods,
            then its covariates), the input of :func:`abnb.stats.regression.regression_adjust` and
            :func:`abnb.stats.regression.ratio_cuped`. ``joint[m][arm].to_moments("y", "x")`` (or ``to_ratio()``)
            is ``overall[m][arm]``.
        joint_segments: ``{(segment column, level): {metric: {arm: JointMoments}}}``.
        caps: ``{metric: {variable: cap}}`` for capped metrics: the fixed ``cap``, or the ``cap_quantile``
            quantile the engine computed (e.g. ``{"revenue": {"y": 412.7, "x": 380.2}}``).
        last_exposure: The latest exposure time in the window (``start`` ≤ ts < ``as_of``, units in several arms
            included), as wall-clock time of the connection's zone; ``None`` for a table without ``ts``. At unit
            level it is the latest ``ts`` of the table's rows (an incremental store's first exposures).
    """

    overall: dict[str, dict[str, ArmStats]]
    segments: dict[tuple[str, str], dict[str, dict[str, ArmStats]]]
    units: dict[str, int]
    excluded_units: int
    rows_fetched: int
    joint: dict[str, dict[str, JointMoments]] = field(default_factory=dict)
    joint_segments: dict[tuple[str, str], dict[str, dict[str, JointMoments]]] = field(default_factory=dict)
    caps: dict[str, dict[str, float]] = field(default_factory=dict)
    last_exposure: datetime | None = None


def check_metric(connection: BaseConnection, metric: Metric) -> None:
    """Check, without scanning data, that a metric's SQL returns ``unit``, a time ``ts`` and a numeric ``value``.

    The SQL runs under ``LIMIT 0``: the engine parses and binds it (tables, columns, types) and reads no row.
    """
    try:
        columns = connection.describe(metric.query)
    except SchemaError as error:
        raise SchemaError(f"metric {metric.name!r}: {error}") from error
    missing = [c for c in ("unit", "ts", "value") if c not in columns]
    if missing:
        raise SchemaError(
            f"the SQL of metric {metric.name!r} returns columns {', '.join(columns)}; it must return "
            f"unit, ts and value (missing: {', '.join(missing)}). Alias them, e.g. `SELECT user_id AS unit, ...`."
        )
    value_type = columns["value"].upper()
    if not value_type.startswith(_NUMERIC):
        raise SchemaError(
            f"metric {metric.name!r} returns a value of type {value_type}; it must be numeric or boolean. "
            "Cast it in the SQL (e.g. `CAST(x AS DOUBLE) AS value`) or use another column."
        )
    ts_type = columns["ts"].upper()
    if not ts_type.startswith(_TIMES):
        raise SchemaError(
            f"metric {metric.name!r} returns ts of type {ts_type}; it must be a TIMESTAMP, TIMESTAMPTZ or DATE (rows "
            "count from each unit's first exposure on). Convert it in the SQL, e.g. `to_timestamp(epoch_s) AS ts`."
        )


def data_extent(
    connection: BaseConnection,
    source: ExposureSource,
    metrics: Sequence[Metric] = (),
    *,
    experiment: str | None = None,
    start: datetime | None = None,
) -> tuple[datetime | None, datetime | None]:
    """The first exposure and the last data an analysis can read, as wall-clock time of the connection's zone.

    One query of ``min``/``max`` scalar subqueries: the experiment's exposures (from ``start`` on) and the ``ts``
    of every metric's rows (a metric that reads one table with a plain filter is read as that table, so metrics
    of one table share a subquery). Enrolment often ends before the outcome data do, so the last data time is
    the latest of them. ``TIMESTAMPTZ`` values come back in the session's zone and are returned naive (wall
    clock there), like every cutoff abnb binds.

    Returns:
        ``(first exposure, last data time)``; ``(None, None)`` for a unit-level table without ``ts`` or an
        experiment without exposures.
    """
    from sqlglot import exp

    if source.ts is None:
        return None, None
    conditions: list[exp.Expression] = []
    params: dict[str, Any] = {}
    if experiment is not None and source.experiment_column:
        conditions.append(exp.EQ(this=col(source.experiment_column), expression=exp.Placeholder(this="experiment")))
        params["experiment"] = experiment
    if start is not None:
        conditions.append(exp.GTE(this=col(source.ts), expression=exp.Placeholder(this="start")))
        params["start"] = start
    exposures = exp.select(exp.Min(this=col(source.ts)), exp.Max(this=col(source.ts))).from_(
        table_expr(source.table, "exposures table")
    )
    if conditions:
        exposures = exposures.where(exp.and_(*conditions))
    selects: list[exp.Expression] = [
        alias(exp.Subquery(this=exposures.select(exp.Min(this=col(source.ts)), append=False)), "first"),
        alias(exp.Subquery(this=exposures.select(exp.Max(this=col(source.ts)), append=False)), "last"),
    ]
    seen: set[str] = set()
    for metric in [m for m in metrics if not m.unit_level] + [
        m.denominator for m in metrics if m.denominator is not None and not m.unit_level
    ]:
        assert metric is not None
        shape = _scan_shape(metric.query)
        if shape is not None:
            key = shape[0]
            table = _single_table(metric.query)
            assert table is not None
            ts = {e.alias_or_name: e for e in metric.query.expressions}["ts"]
            ts = ts.this if isinstance(ts, exp.Alias) else ts
            latest = exp.select(exp.Max(this=ts.copy())).from_(table.copy())
        else:
            key = metric.query.sql("duckdb")
            latest = exp.select(exp.Max(this=col("ts", "q"))).from_(metric.query.subquery("q"))
        if key not in seen:
            seen.add(key)
            selects.append(alias(exp.Subquery(this=latest), f"last_{len(seen)}"))
    row = connection.run(exp.select(*selects), params).rows[0]
    first = wall_clock(row[0], connection.timezone)
    if first is None:
        return None, None
    lasts = [t for t in (wall_clock(v, connection.timezone) for v in row[1:]) if t is not None]
    return first, max(lasts)


def aggregate(
    connection: BaseConnection,
    source: ExposureSource,
    metrics: Sequence[Metric],
    segments: Sequence[str] = (),
    *,
    as_of: datetime,
    experiment: str | None = None,
    start: datetime | None = None,
) -> Aggregates:
    """Run the analysis' single aggregate query and parse its rows into :class:`Moments` and :class:`JointMoments`.

    Two queries: the ``LIMIT 1`` pilot (shifts) and the scan. The result also carries every metric's joint moments
    (``joint``, ``joint_segments``) and the caps used (``caps``).

    Raises:
        SchemaError: A table or column is missing, or a metric's value is not numeric.
        DataError: No unit was exposed in the window.
    """
    check_inputs(connection, source, metrics, segments)
    has_start = start is not None and source.ts is not None
    plan, layout, pilot, query = _compiled(source, tuple(metrics), tuple(segments), has_start, connection.dialect)
    params = query_parameters(metrics, as_of=as_of, experiment=experiment, start=start, source=source)
    shifts: dict[str, float] = {}
    if pilot is not None:
        (row,) = connection.run(pilot).records()
        shifts = {name.removeprefix("shift_"): float(value) for name, value in row.items()}
        params.update({f"shift_{name}": value for name, value in shifts.items()})
    result = connection.run(query, params)
    metric_shifts = [
        (shifts.get(y, 0.0), 0.0 if x is None else shifts.get(x, 0.0)) for y, x in zip(plan.y, plan.x, strict=True)
    ]
    records = result.records()
    try:
        parsed = _parse(records, metrics, segments, len(result.rows), metric_shifts, source)
        _check_magnitudes(records, metrics, plan, source)
        joint, joint_segments = _parse_joint(records, metrics, segments, layout, shifts, source)
        caps = _caps(records, metrics, plan, params)
        last = _last_exposure(records, segments, connection.timezone)
        return dataclasses.replace(parsed, joint=joint, joint_segments=joint_segments, caps=caps, last_exposure=last)
    except _NoUnitsError as error:
        window = f"before {as_of:%Y-%m-%d %H:%M}" if source.ts is not None else "in the table"
        if start is not None and source.ts is not None:
            window = f"from {start:%Y-%m-%d %H:%M} " + window
        of = f" of experiment {experiment!r}" if experiment is not None else ""
        several = f" ({error.excluded} unit(s) were exposed to several arms or to none)" if error.excluded else ""
        raise DataError(
            f"no unit was exposed to any single arm{of} in table {source.table!r} {window}{several}; check the "
            "experiment name, the exposures table, the spec's start and as_of (a later as_of includes more days)."
        ) from None


_TIMES = ("TIMESTAMP", "DATE")


def check_exposures(
    connection: BaseConnection, source: ExposureSource, metrics: Sequence[Metric] = (), segments: Sequence[str] = ()
) -> dict[str, str]:
    """Check, without scanning data, the exposures table: its columns, a time ``ts``, numeric unit-level metrics.

    Returns:
        The table's columns and their types.

    Raises:
        SchemaError: The table or a column is missing (the message names the spec key that maps it), ``ts`` is not
            a timestamp or date, or a unit-level metric column is not numeric.
    """
    from abnb.telemetry import check_table

    fixes = exposure_fixes(source, metrics, segments)
    columns = [c for m in metrics for c in (m.column, m.covariate_column, m.denominator_column) if c]
    columns += [c for m in metrics for c in m.covariate_columns if c not in columns]
    found = check_table(connection, source.table, [*source.columns, *segments, *columns], fixes=fixes)
    types = {name.lower(): kind.upper() for name, kind in found.items()}
    if source.ts is not None and not types[source.ts.lower()].startswith(_TIMES):
        raise SchemaError(
            f"column {source.ts!r} of exposures table {source.table!r} ({connection.database}) has type "
            f"{types[source.ts.lower()]}; the exposure time must be a TIMESTAMP, TIMESTAMPTZ or DATE. Convert it in a "
            f"view (e.g. `to_timestamp({source.ts}) AS {source.ts}` for epoch seconds) or name another column with "
            '`[exposures] ts = "<column>"`.'
        )
    if source.level == "unit":
        _check_unit_columns(source, metrics, types)
    return found


def check_inputs(
    connection: BaseConnection, source: ExposureSource, metrics: Sequence[Metric], segments: Sequence[str] = ()
) -> None:
    """Every schema check of an analysis, without scanning data: :func:`check_exposures` and :func:`check_metric`.

    Raises:
        SchemaError: The first problem found, naming the table, column or metric and the fix.
    """
    check_exposures(connection, source, metrics, segments)
    if source.level == "event":
        for metric in metrics:
            check_metric(connection, metric)
            if metric.denominator is not None:
                check_metric(connection, metric.denominator)
            for covariate in metric.covariates:
                check_covariate(connection, metric, covariate)


def check_covariate(connection: BaseConnection, metric: Metric, covariate: Covariate) -> None:
    """Check, without scanning data, a covariate's SQL: ``unit``, a numeric ``value`` and, with ``days``, a time ``ts``.

    Raises:
        SchemaError: A table or column is missing, or a column has the wrong type (the message names metric,
            covariate and fix).
    """
    where = f"covariate {covariate.name!r} of metric {metric.name!r}"
    try:
        columns = connection.describe(covariate.query)
    except SchemaError as error:
        raise SchemaError(f"{where}: {error}") from error
    needed = ("unit", "ts", "value") if covariate.windowed else ("unit", "value")
    missing = [c for c in needed if c not in columns]
    if missing:
        shape = "unit, ts and value (a pre-period window, `days`)" if covariate.windowed else "unit and value"
        raise SchemaError(
            f"the SQL of {where} returns columns {', '.join(columns)}; it must return {shape} (missing: "
            f"{', '.join(missing)}). Alias them, e.g. `SELECT user_id AS unit, ...`."
        )
    if not columns["value"].upper().startswith(_NUMERIC):
        raise SchemaError(
            f"{where} returns a value of type {columns['value'].upper()}; it must be numeric or boolean. Cast it in "
            "the SQL (e.g. `CAST(x AS DOUBLE) AS value`)."
        )
    if covariate.windowed and not columns["ts"].upper().startswith(_TIMES):
        raise SchemaError(
            f"{where} returns ts of type {columns['ts'].upper()}; a pre-period window needs a TIMESTAMP, TIMESTAMPTZ "
            "or DATE. Convert it in the SQL, e.g. `to_timestamp(epoch_s) AS ts`."
        )


def _check_unit_columns(source: ExposureSource, metrics: Sequence[Metric], types: Mapping[str, str]) -> None:
    """Refuse a unit-level metric column that is not numeric (a VARCHAR would be cast, or fail, row by row)."""
    for metric in metrics:
        named = [(key, getattr(metric, key)) for key in ("column", "covariate_column", "denominator_column")]
        named += [("covariate_columns", column) for column in metric.covariate_columns]
        for _, column in named:
            kind = types.get(column.lower(), "") if column is not None else ""
            if column is not None and not kind.upper().startswith(_NUMERIC):
                raise SchemaError(
                    f"metric {metric.name!r} reads column {column!r} of table {source.table!r}, of type {kind}; it "
                    f"must be numeric or boolean. Cast it in a view (e.g. `CAST({column} AS DOUBLE) AS {column}`) "
                    "or fix the table's type."
                )


class _NoUnitsError(Exception):
    """No unit in a single arm (internal: :func:`aggregate` turns it into a :class:`DataError` with context)."""

    def __init__(self, excluded: int) -> None:
        super().__init__(excluded)
        self.excluded = excluded


@functools.lru_cache(maxsize=64)
def _compiled(
    source: ExposureSource, metrics: tuple[Metric, ...], segments: tuple[str, ...], has_start: bool, dialect: str = ""
) -> tuple[_Plan, tuple[_Joint, ...], exp.Select | None, exp.Select]:
    """The plan, joint layout, pilot query and aggregate query of a spec, built once per spec and engine.

    The trees are never mutated and adapters cache their rendered text, so re-running an analysis (a notebook, a
    benchmark, a scheduled report in a long-lived kernel) pays only for the engine's work.
    """
    query, layout = _build_query(source, metrics, segments, has_start)
    return _plan(source, metrics), layout, build_pilot_query(source, metrics), for_dialect(query, dialect)


def for_dialect(query: exp.Select, dialect: str) -> exp.Select:
    """The aggregate tree with the one node SQLGlot does not transpile to an engine's own function.

    SQLGlot renders ``PercentileCont(x, q)`` as DuckDB's exact ``QUANTILE_CONT(x, q)`` but as Spark's
    ``PERCENTILE_CONT(x, q)``, which Spark does not accept (and ``WITHIN GROUP`` becomes the approximate
    ``PERCENTILE_APPROX``): for Spark it becomes ``Quantile``, rendered as Spark's exact ``PERCENTILE(x, q)``
    (linear interpolation between order statistics, as ``QUANTILE_CONT`` and numpy's default percentile).
    """
    from sqlglot import exp

    if dialect != "spark" or query.find(exp.PercentileCont) is None:
        return query

    def exact(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.PercentileCont):
            return exp.Quantile(this=node.this, quantile=node.expression)
        return node

    transformed = query.transform(exact)
    assert isinstance(transformed, exp.Select)
    return transformed


def _value_origin(metric: Metric, source: ExposureSource) -> tuple[str, list[str]]:
    """Where a metric's per-unit values come from, for an error message, and its columns.

    A unit-level table's columns (named with the table), or the metric's SQL (and its denominator's and
    covariates'); the columns are empty for SQL metrics.
    """
    if source.level == "unit":
        columns = [c for c in (metric.column, metric.covariate_column, metric.denominator_column) if c]
        columns += list(metric.covariate_columns)
        return f"column(s) {', '.join(repr(c) for c in columns)} of table {source.table!r}", columns
    where = "its SQL" + (" or its denominator's SQL" if metric.denominator is not None else "")
    where += " or its covariates' SQL" if metric.covariates else ""
    return where, []


def _finite(
    row: Mapping[str, Any], index: int, metric: Metric, shifts: tuple[float, float], source: ExposureSource, arm: str
) -> None:
    """Raise a :class:`DataError` naming the metric and the fix when its sums are NaN or infinite.

    The engine propagates one NaN or ±inf value into every sum it enters, so a single bad row would otherwise
    surface as an error deep inside :class:`Moments` or, worse, as NaN effects.
    """
    prefix = f"m{index}_"
    names = ("sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum")
    values = [row.get(prefix + name) for name in names] + list(shifts)
    values += [v for k, v in row.items() if k.startswith((f"j{index}_", "cap_"))]
    if all(v is None or math.isfinite(float(v)) for v in values):
        return
    where, columns = _value_origin(metric, source)
    if source.level == "unit":
        fix = (
            f"filter them where the values come from (a view over {source.table!r} with "
            f"`WHERE isfinite({columns[0]})`, or the SQL that fills the table) or clean the table"
        )
    else:
        fix = "filter them in the metric's SQL (e.g. `... WHERE isfinite(value)`) or clean the telemetry"
    raise DataError(
        f"metric {metric.name!r} has NaN or infinite values (or values whose squares overflow) in arm {arm!r}, "
        f"from {where}: every sum they enter becomes NaN/inf and no effect can be computed; {fix}."
    )


EXACT_LIMIT = 2.0**53
"""Largest magnitude at which every integer is a double: 9,007,199,254,740,992 (values beyond are refused)."""


def _check_magnitudes(
    records: list[dict[str, Any]], metrics: Sequence[Metric], plan: _Plan, source: ExposureSource
) -> None:
    """Refuse a metric whose per-unit values exceed 2^53 in magnitude (a :class:`DataError` naming it and the fix).

    The engine casts every value to DOUBLE, whose spacing beyond 2^53 is 2 or more (16,384 at 1e20): HUGEINT,
    UBIGINT or DECIMAL(38, …) values that differ by less would become equal before any sum, and the analysis
    would report, wrongly, that every unit has the same value (or a spread that is rounding noise). Abnb does not
    compute in exact arithmetic; the user subtracts a baseline or rescales where the values are made, which is
    exact in the engine's own type.
    """
    for metric, variables in zip(metrics, plan.variables, strict=True):
        largest = 0.0
        for row in records:
            if row["arm"] is None:
                continue
            for _, column in variables:
                value = row.get(f"max_abs_{column}")
                if value is not None and math.isfinite(float(value)):
                    largest = max(largest, float(value))
        if largest <= EXACT_LIMIT:
            continue
        where, _ = _value_origin(metric, source)
        fix = f"in a view over {source.table!r}" if source.level == "unit" else "in the metric's SQL"
        raise DataError(
            f"metric {metric.name!r} has per-unit values up to {largest:.6g} in magnitude (from {where}), beyond "
            f"2^53 = 9,007,199,254,740,992: abnb sums in double precision, where such values lose their last "
            "digits, so units that differ would look the same and the variance would be rounding noise. Subtract a "
            f"baseline or rescale {fix}, which the engine does exactly in the column's own type (e.g. "
            "`value - 100000000000000000000 AS value`, or `value / 1e6 AS value` for a unit of a million)."
        )


def _moments(row: Mapping[str, Any], index: int, metric: Metric, shifts: tuple[float, float]) -> ArmStats:
    prefix = f"m{index}_"
    n = int(row["n"])
    if metric.kind == "ratio":
        return RatioMoments(
            n=n,
            y_sum=float(row[prefix + "sum"] or 0.0),
            y_sum_sq=float(row[prefix + "sum_sq"] or 0.0),
            d_sum=float(row[prefix + "x_sum"] or 0.0),
            d_sum_sq=float(row[prefix + "x_sum_sq"] or 0.0),
            yd_sum=float(row[prefix + "xy_sum"] or 0.0),
        )
    fields: dict[str, Any] = {
        "n": n,
        "sum": float(row[prefix + "sum"] or 0.0),
        "sum_sq": float(row[prefix + "sum_sq"] or 0.0),
    }
    if metric.has_covariate:
        for name in ("x_sum", "x_sum_sq", "xy_sum"):
            fields[name] = float(row[prefix + name] or 0.0)
    fields["shift"], fields["x_shift"] = shifts
    if metric.kind == "proportion":
        return Moments(proportion=True, **fields)
    return Moments(**fields)


def _level(row: Mapping[str, Any], segments: Sequence[str], k: int) -> tuple[str, str]:
    """``(segment column, level)`` of a result row broken down by the ``k``-th segment; NULL is :data:`MISSING`."""
    value = row[_segment(k)]
    return segments[k], MISSING if value is None else str(value)


def _parse(
    records: list[dict[str, Any]],
    metrics: Sequence[Metric],
    segments: Sequence[str],
    rows: int,
    shifts: Sequence[tuple[float, float]],
    source: ExposureSource,
) -> Aggregates:
    overall: dict[str, dict[str, ArmStats]] = {m.name: {} for m in metrics}
    by_segment: dict[tuple[str, str], dict[str, dict[str, ArmStats]]] = {}
    units: dict[str, int] = {}
    excluded = 0
    for row in records:
        broken_down = [k for k in range(len(segments)) if row[_grouping(k)] == 0]
        arm = row["arm"]
        if arm is None:
            if not broken_down:
                excluded = int(row["n"])
            continue
        arm = str(arm)
        for i, metric in enumerate(metrics):
            _finite(row, i, metric, shifts[i], source, arm)
        if not broken_down:
            units[arm] = int(row["n"])
            for i, metric in enumerate(metrics):
                overall[metric.name][arm] = _moments(row, i, metric, shifts[i])
            continue
        cell = by_segment.setdefault(_level(row, segments, broken_down[0]), {m.name: {} for m in metrics})
        for i, metric in enumerate(metrics):
            cell[metric.name][arm] = _moments(row, i, metric, shifts[i])
    if not units:
        raise _NoUnitsError(excluded)
    return Aggregates(overall, by_segment, units, excluded, rows)


def _last_exposure(records: list[dict[str, Any]], segments: Sequence[str], timezone: str | None) -> datetime | None:
    """The latest ``last_exposure`` of the rows over all units (not broken down by a segment), or ``None``."""
    times = [
        wall_clock(row["last_exposure"], timezone)
        for row in records
        if row.get("last_exposure") is not None and all(row[_grouping(k)] != 0 for k in range(len(segments)))
    ]
    return max((t for t in times if t is not None), default=None)


def _joint_moments(row: Mapping[str, Any], joint: _Joint, metric: Metric, shifts: Mapping[str, float]) -> JointMoments:
    def number(column: str) -> float:
        return float(row[column] or 0.0)

    return JointMoments(
        n=int(row["n"]),
        names=joint.names,
        sums=tuple(number(c) for c in joint.sums),
        cross=tuple(tuple(number(c) for c in line) for line in joint.cross),
        shifts=tuple(shifts.get(c, 0.0) for c in joint.columns),
        proportion=metric.kind == "proportion",
    )


def _parse_joint(
    records: list[dict[str, Any]],
    metrics: Sequence[Metric],
    segments: Sequence[str],
    layout: Sequence[_Joint],
    shifts: Mapping[str, float],
    source: ExposureSource,
) -> tuple[dict[str, dict[str, JointMoments]], dict[tuple[str, str], dict[str, dict[str, JointMoments]]]]:
    """Every metric's :class:`JointMoments` per arm, overall and per segment level (rows as :func:`_parse`)."""
    overall: dict[str, dict[str, JointMoments]] = {m.name: {} for m in metrics}
    by_segment: dict[tuple[str, str], dict[str, dict[str, JointMoments]]] = {}
    for row in records:
        if row["arm"] is None:
            continue
        arm = str(row["arm"])
        broken_down = [k for k in range(len(segments)) if row[_grouping(k)] == 0]
        if broken_down:
            cell = by_segment.setdefault(_level(row, segments, broken_down[0]), {m.name: {} for m in metrics})
        else:
            cell = overall
        for metric, joint in zip(metrics, layout, strict=True):
            cell[metric.name][arm] = _joint_moments(row, joint, metric, shifts)
    return overall, by_segment


def _caps(
    records: list[dict[str, Any]], metrics: Sequence[Metric], plan: _Plan, params: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """The cap of each capped variable per metric: the bound fixed cap, or the quantile the query returned."""
    caps: dict[str, dict[str, float]] = {}
    row = records[0] if records else {}
    for metric, variables in zip(metrics, plan.variables, strict=True):
        found = {}
        for name, column in variables:
            parameter = plan.caps.get(column)
            if parameter is None:
                continue
            value = params[parameter] if column not in plan.quantile_caps else row.get(f"cap_{column}")
            if value is not None:
                found[name] = float(value)
        if found:
            caps[metric.name] = found
    return caps
