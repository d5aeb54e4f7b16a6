"""One aggregate query per analysis: metrics → per-unit values → sufficient statistics per arm × segment.

The query is a SQLGlot tree with four steps, all executed by the engine in one statement:

1. ``assignment``: one row per exposed unit (first exposure time, arm, segment values at first exposure). A unit
   seen in more than one arm gets arm ``NULL``; it is counted and excluded from every comparison.
2. ``m<i>``: per metric, the unit's rows at or after its first exposure (and before ``as_of``) reduced to one value
   (and, when the metric has a covariate, its rows in the pre-exposure lookback reduced the same way).
3. ``units``: exposures left-joined to every metric, missing values as 0.
4. The result: ``n``, ``Σy``, ``Σy²`` (and ``Σx``, ``Σx²``, ``Σxy`` for covariates) per arm, and per arm × level
   of each segment column, via ``GROUPING SETS`` — a few dozen rows whatever the number of units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from abnb.engine import Connection, identifier, validate_identifier
from abnb.errors import DataError, ParameterError, SchemaError, SpecError
from abnb.metrics import Metric
from abnb.stats import Moments, RatioMoments

ArmStats = Moments | RatioMoments

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = ["Aggregates", "ArmStats", "ExposureSource", "aggregate", "build_query", "build_sample_query", "unit_values"]

MISSING = "(missing)"
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


@dataclass(frozen=True)
class ExposureSource:
    """Where exposures live and what their columns are called.

    Args:
        table: Table (or view) with one row per exposure.
        unit: Column with the randomisation unit id.
        arm: Column with the arm the unit was exposed to.
        ts: Column with the exposure time.
        experiment_column: Column holding the experiment name, when one table serves many experiments
            (``None`` if the table holds one experiment).
    """

    table: str = "exposures"
    unit: str = "unit"
    arm: str = "arm"
    ts: str = "ts"
    experiment_column: str | None = "experiment"

    def __post_init__(self) -> None:
        validate_identifier(self.table, "exposures table")
        for what in ("unit", "arm", "ts"):
            validate_identifier(getattr(self, what), f"exposures {what} column")
        if self.experiment_column is not None:
            validate_identifier(self.experiment_column, "exposures experiment column")

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the analysis reads."""
        cols = (self.unit, self.arm, self.ts)
        return cols + ((self.experiment_column,) if self.experiment_column else ())


def _col(name: str, table: str | None = None, what: str = "column") -> exp.Column:
    from sqlglot import exp

    return exp.Column(this=identifier(name, what), table=exp.to_identifier(table, quoted=True) if table else None)


def _alias(expression: exp.Expression, name: str) -> exp.Expression:
    from sqlglot import exp

    return exp.Alias(this=expression, alias=exp.to_identifier(name, quoted=True))


def _unit_value(metric: Metric, value: exp.Expression, in_window: exp.Expression) -> exp.Expression:
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


def _metric_cte(metric: Metric, index: int) -> exp.Select:
    from sqlglot import exp

    m, a = "m", "a"
    value = exp.Cast(this=_col("value", m), to=exp.DataType.build("DOUBLE"))
    ts, exposed_at = _col("ts", m), _col("exposed_at", a)
    after = exp.GTE(this=ts.copy(), expression=exposed_at.copy())
    selects: list[exp.Expression] = [_col("unit", a), _alias(_unit_value(metric, value, after), "y")]
    lower: exp.Expression = exposed_at.copy()
    if metric.covariate_days is not None:
        lookback = exp.ToDays(
            this=exp.Cast(this=exp.Placeholder(this=f"lookback_{index}"), to=exp.DataType.build("INT"))
        )
        lower = exp.Sub(this=exposed_at.copy(), expression=lookback)
        before = exp.LT(this=ts.copy(), expression=exposed_at.copy())
        selects.append(_alias(_unit_value(metric, value.copy(), before), "x"))
    condition = exp.and_(
        exp.GTE(this=ts.copy(), expression=lower),
        exp.LT(this=ts.copy(), expression=exp.Placeholder(this="as_of")),
    )
    return (
        exp.select(*selects)
        .from_(
            exp.Table(
                this=exp.to_identifier("assignment", quoted=True),
                alias=exp.TableAlias(this=exp.to_identifier(a, quoted=True)),
            )
        )
        .join(
            metric.query.subquery(exp.to_identifier(m, quoted=True)),
            on=exp.EQ(this=_col("unit", m), expression=_col("unit", a)),
        )
        .where(condition)
        .group_by(_col("unit", a))
    )


def _assignment(source: ExposureSource, segments: Sequence[str], *, has_start: bool) -> exp.Select:
    """One row per exposed unit: first exposure time, arm (NULL if seen in several), segments at first exposure."""
    from sqlglot import exp

    e = "e"
    exposure_filter: list[exp.Expression] = [
        exp.LT(this=_col(source.ts, e), expression=exp.Placeholder(this="as_of")),
        exp.Not(this=exp.Is(this=_col(source.unit, e), expression=exp.Null())),
    ]
    if source.experiment_column:
        exposure_filter.append(
            exp.EQ(this=_col(source.experiment_column, e), expression=exp.Placeholder(this="experiment"))
        )
    if has_start:
        exposure_filter.append(exp.GTE(this=_col(source.ts, e), expression=exp.Placeholder(this="start")))
    single_arm = exp.EQ(
        this=exp.Count(this=exp.Distinct(expressions=[_col(source.arm, e)])), expression=exp.Literal.number(1)
    )
    assignment = (
        exp.select(
            _alias(_col(source.unit, e), "unit"),
            _alias(exp.Min(this=_col(source.ts, e)), "exposed_at"),
            _alias(exp.Case().when(single_arm, exp.Min(this=_col(source.arm, e))), "arm"),
            *[_alias(exp.ArgMin(this=_col(s, e), expression=_col(source.ts, e)), s) for s in segments],
        )
        .from_(
            exp.Table(
                this=identifier(source.table, "exposures table"),
                alias=exp.TableAlias(this=exp.to_identifier(e, quoted=True)),
            )
        )
        .where(exp.and_(*exposure_filter))
        .group_by(_col(source.unit, e))
    )
    return assignment


def build_query(
    source: ExposureSource,
    metrics: Sequence[Metric],
    segments: Sequence[str] = (),
    *,
    has_start: bool = False,
) -> exp.Select:
    """Build the single aggregate query of an analysis.

    The query takes bound parameters ``$as_of`` (exclusive end of the data window), ``$experiment`` (when the
    source has an experiment column), ``$start`` (when ``has_start``) and ``$lookback_<i>`` (metrics with a
    covariate). :func:`query_parameters` builds them.

    Returns:
        A SQLGlot ``SELECT`` returning per arm (and arm × segment level) ``n`` and, for metric ``i``,
        ``m<i>_sum``, ``m<i>_sum_sq`` and, with a covariate, ``m<i>_x_sum``, ``m<i>_x_sum_sq``, ``m<i>_xy_sum``,
        plus ``g_<segment>`` grouping flags (0 when the row is broken down by that segment).
    """
    from sqlglot import exp

    if not metrics:
        raise SpecError("an analysis needs at least one metric.")
    for segment in segments:
        validate_identifier(segment, "segment column")
    assignment = _assignment(source, segments, has_start=has_start)
    units_selects: list[exp.Expression] = [_col("arm", "a"), *[_col(s, "a") for s in segments]]
    units = exp.select().from_(
        exp.Table(
            this=exp.to_identifier("assignment", quoted=True),
            alias=exp.TableAlias(this=exp.to_identifier("a", quoted=True)),
        )
    )
    final_selects: list[exp.Expression] = [_col("arm"), *[_col(s) for s in segments]]
    final_selects += [_alias(exp.Grouping(expressions=[_col(s)]), f"g_{s}") for s in segments]
    final_selects.append(_alias(exp.Count(this=exp.Star()), "n"))
    query = exp.select().with_("assignment", as_=assignment)
    zero = exp.Literal.number(0)
    for i, metric in enumerate(metrics):
        cte = f"m{i}"
        query = query.with_(cte, as_=_metric_cte(metric, i))
        units = units.join(
            exp.Table(this=exp.to_identifier(cte, quoted=True)),
            on=exp.EQ(this=_col("unit", cte), expression=_col("unit", "a")),
            join_type="left",
        )
        columns = [("y", cte), ("x", cte)] if metric.covariate_days is not None else [("y", cte)]
        denominator = metric.denominator
        if denominator is not None:  # the denominator of a ratio takes the covariate's place: x
            query = query.with_(f"d{i}", as_=_metric_cte(denominator, i))
            units = units.join(
                exp.Table(this=exp.to_identifier(f"d{i}", quoted=True)),
                on=exp.EQ(this=_col("unit", f"d{i}"), expression=_col("unit", "a")),
                join_type="left",
            )
            columns.append(("y", f"d{i}"))
        for column, table in columns:
            name = f"{cte}_x" if table != cte else f"{cte}_{column}"
            units_selects.append(_alias(exp.Coalesce(this=_col(column, table), expressions=[zero.copy()]), name))
        y = _col(f"{cte}_y")
        final_selects += [
            _alias(exp.Sum(this=y.copy()), f"{cte}_sum"),
            _alias(exp.Sum(this=exp.Mul(this=y.copy(), expression=y.copy())), f"{cte}_sum_sq"),
        ]
        if metric.covariate_days is not None or denominator is not None:
            x = _col(f"{cte}_x")
            final_selects += [
                _alias(exp.Sum(this=x.copy()), f"{cte}_x_sum"),
                _alias(exp.Sum(this=exp.Mul(this=x.copy(), expression=x.copy())), f"{cte}_x_sum_sq"),
                _alias(exp.Sum(this=exp.Mul(this=x.copy(), expression=y.copy())), f"{cte}_xy_sum"),
            ]
    query = query.with_("units", as_=units.select(*units_selects))
    query = query.select(*final_selects).from_(exp.Table(this=exp.to_identifier("units", quoted=True)))
    if segments:
        sets = [exp.Paren(this=_col("arm"))] + [exp.Tuple(expressions=[_col("arm"), _col(s)]) for s in segments]
        query.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=sets)]))
    else:
        query = query.group_by(_col("arm"))
    return query


def query_parameters(
    metrics: Sequence[Metric], *, as_of: datetime, experiment: str | None, start: datetime | None
) -> dict[str, Any]:
    """The bound parameters for :func:`build_query`."""
    params: dict[str, Any] = {"as_of": as_of}
    if experiment is not None:
        params["experiment"] = experiment
    if start is not None:
        params["start"] = start
    for i, metric in enumerate(metrics):
        if metric.covariate_days is not None:
            params[f"lookback_{i}"] = metric.covariate_days
    return params


def build_sample_query(source: ExposureSource, metric: Metric, *, has_start: bool = False) -> exp.Select:
    """Per-unit values of one metric in one arm, a reproducible pseudo-random sample of at most ``$limit`` units.

    Units are ordered by ``md5(unit || $salt)`` (uniform and repeatable for a salt), so the sample is the same on
    every run and engine. Parameters: those of :func:`build_query` plus ``$arm``, ``$salt`` and ``$limit``.
    """
    from sqlglot import exp

    a, m = "a", "m0"
    value = exp.Coalesce(this=_col("y", m), expressions=[exp.Literal.number(0)])
    order = exp.MD5(
        this=exp.DPipe(
            this=exp.Cast(this=_col("unit", a), to=exp.DataType.build("VARCHAR")),
            expression=exp.Placeholder(this="salt"),
        )
    )
    return (
        exp.select(_alias(value, "y"))
        .with_("assignment", as_=_assignment(source, (), has_start=has_start))
        .with_(m, as_=_metric_cte(metric, 0))
        .from_(
            exp.Table(
                this=exp.to_identifier("assignment", quoted=True),
                alias=exp.TableAlias(this=exp.to_identifier(a, quoted=True)),
            )
        )
        .join(
            exp.Table(this=exp.to_identifier(m, quoted=True)),
            on=exp.EQ(this=_col("unit", m), expression=_col("unit", a)),
            join_type="left",
        )
        .where(exp.EQ(this=_col("arm", a), expression=exp.Placeholder(this="arm")))
        .order_by(order)
        .limit(exp.Placeholder(this="limit"))
    )


def unit_values(
    connection: Connection,
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
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ParameterError(f"limit must be a positive whole number of units, got {limit!r}.")
    check_metric(connection, metric)
    params = query_parameters([metric], as_of=as_of, experiment=experiment, start=start)
    params.update(arm=arm, salt=salt, limit=limit)
    result = connection.run(build_sample_query(source, metric, has_start=start is not None), params)
    return [float(row[0]) for row in result.rows]


@dataclass(frozen=True)
class Aggregates:
    """The sufficient statistics an analysis needs, as returned by the engine.

    Attributes:
        overall: ``{metric: {arm: Moments}}`` over all units (``RatioMoments`` for ratio metrics).
        segments: ``{(segment column, level): {metric: {arm: Moments}}}``.
        units: Units per arm (after exclusions).
        excluded_units: Units exposed to more than one arm (excluded from every comparison).
        rows_fetched: Rows the engine returned.
    """

    overall: dict[str, dict[str, ArmStats]]
    segments: dict[tuple[str, str], dict[str, dict[str, ArmStats]]]
    units: dict[str, int]
    excluded_units: int
    rows_fetched: int


def check_metric(connection: Connection, metric: Metric) -> None:
    """Check, without scanning data, that a metric's SQL returns ``unit``, ``ts`` and a numeric ``value``."""
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


def aggregate(
    connection: Connection,
    source: ExposureSource,
    metrics: Sequence[Metric],
    segments: Sequence[str] = (),
    *,
    as_of: datetime,
    experiment: str | None = None,
    start: datetime | None = None,
) -> Aggregates:
    """Run the analysis' single aggregate query and parse its rows into :class:`Moments`.

    Raises:
        SchemaError: A table or column is missing, or a metric's value is not numeric.
        DataError: No unit was exposed in the window.
    """
    from abnb.telemetry import check_table

    check_table(connection.raw, source.table, [*source.columns, *segments])
    for metric in metrics:
        check_metric(connection, metric)
        if metric.denominator is not None:
            check_metric(connection, metric.denominator)
    query = build_query(source, metrics, segments, has_start=start is not None)
    params = query_parameters(metrics, as_of=as_of, experiment=experiment, start=start)
    result = connection.run(query, params)
    return _parse(result.records(), metrics, segments, len(result.rows))


def _moments(row: Mapping[str, Any], index: int, metric: Metric) -> ArmStats:
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
    if metric.covariate_days is not None:
        for name in ("x_sum", "x_sum_sq", "xy_sum"):
            fields[name] = float(row[prefix + name] or 0.0)
    if metric.kind == "proportion":
        return Moments(proportion=True, **fields)
    return Moments(**fields)


def _parse(records: list[dict[str, Any]], metrics: Sequence[Metric], segments: Sequence[str], rows: int) -> Aggregates:
    overall: dict[str, dict[str, ArmStats]] = {m.name: {} for m in metrics}
    by_segment: dict[tuple[str, str], dict[str, dict[str, ArmStats]]] = {}
    units: dict[str, int] = {}
    excluded = 0
    for row in records:
        broken_down = [s for s in segments if row[f"g_{s}"] == 0]
        arm = row["arm"]
        if arm is None:
            if not broken_down:
                excluded = int(row["n"])
            continue
        arm = str(arm)
        if not broken_down:
            units[arm] = int(row["n"])
            for i, metric in enumerate(metrics):
                overall[metric.name][arm] = _moments(row, i, metric)
            continue
        segment = broken_down[0]
        level = MISSING if row[segment] is None else str(row[segment])
        cell = by_segment.setdefault((segment, level), {m.name: {} for m in metrics})
        for i, metric in enumerate(metrics):
            cell[metric.name][arm] = _moments(row, i, metric)
    if not units:
        raise DataError(
            "no unit was exposed to any single arm in the window"
            + (f" ({excluded} unit(s) were exposed to several arms)" if excluded else "")
            + "; check the experiment name, the exposures table and as_of."
        )
    return Aggregates(overall, by_segment, units, excluded, rows)
