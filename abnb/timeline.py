"""Effect over time: each metric's cumulative lift at every cutoff day, from one aggregate query.

:func:`cumulative` gives, per metric × treatment arm × day, the numbers :meth:`Experiment.analyze
<abnb.experiment.Experiment.analyze>` would report with ``as_of=<that day>``: the units per arm, the two means, the
relative lift ``(t − c)/|c|`` with its interval and p-value, and the anytime-valid confidence sequence of the lift.

Why per-day sums are not enough: a unit's value at cutoff ``k`` is its running aggregate ``c_k`` (a sum, count,
maximum or "any" of its rows from its first exposure on), and ``Σ c_k²`` over units is not a sum of per-day
quantities. What does add up over days are the *changes*. Per unit, the running value changes only on days with
rows (or when the unit enters or leaves the comparison), so with ``v_k`` the unit's value at cutoff ``k`` (0 while
it is not in the comparison) and ``v_{k−1}`` its previous value,

    Σ_units v_K   = Σ_{k ≤ K} Σ_units (v_k − v_{k−1})
    Σ_units v_K²  = Σ_{k ≤ K} Σ_units (v_k² − v_{k−1}²)

and likewise ``Σ y·d`` of a ratio and the unit count. In the query each of a unit's rows adds its value ``v``
(and ``v²``, ``y·d``) on its day and takes it away on the day of the unit's next row, which telescopes to the
same sums; these are summed per arm × day and cumulated over days (a window over the few arm × day rows): ``n``,
``Σ(y − c)`` and ``Σ(y − c)²`` per arm at every cutoff, shifted by the same pilot value ``c`` as the analysis
(:func:`abnb.aggregate.build_pilot_query`), so a metric with mean 1e9 and sd 1 keeps its variance. Python turns
each day's sums into :class:`~abnb.stats.Moments` and calls the analysis' own comparison
(:func:`abnb.experiment.compare`, and :func:`abnb.stats.confidence_sequence` as the analysis calls it), so the
numbers are those of ``analyze`` up to the order of the engine's floating-point sums.

The query's steps (``WITH`` clauses named ``#<step>``, which no table can be):

1. ``first``: per unit (exposures of the experiment from ``start``, before ``as_of``) the first exposure, the first
   arm and when it was first seen, and whether another arm was seen; ``conflicts``: for those few units, when
   another arm was first seen; ``assignment``: the unit's arm, its first exposure, the day it enters the comparison
   and the day it leaves it. A unit seen in two arms is compared until the day the second arm appears, as the
   analysis at each cutoff compares it; one seen in both arms on its first day never is.
2. ``events``: the rows of every *part* (one SQL reduced with one aggregate: metrics reading the same rows the
   same way share a part), tagged with the part, one ``UNION ALL``.
3. ``changes``: the rows joined to the assignment, kept from the unit's first exposure (and within the metric's
   ``window_hours``) until it leaves, with a day: the row's wall-clock day in the session's zone, or the unit's
   entry day if earlier; plus one row per unit entering (+1) and leaving (−1).
4. ``running``: per row, each part's running aggregate through the row's day (a ``RANGE`` window per unit, so
   all rows of a day agree) and the day of the unit's next row; ``values``: each metric's value (capped, shifted),
   or 0 on the exit row (the only row of a unit's exit day); ``contributions``: +value on the row's day and
   −value on the next row's day; ``per_day``: their sums per arm × day.
5. The result: the sums cumulated per arm over days, a few rows per arm × day with changes.

Cost: one pass over the exposures (and a join for the few units seen in two arms), one scan per part of the
metric rows joined to the units, and a window over each unit's rows from exposure on (about one row per unit and
row; the analysis instead groups them per unit).

Days are wall-clock days in the connection's time zone (``CAST(ts AS DATE)``), as cutoffs are midnights there; a
final cutoff inside a day gives a last, partial day. A metric whose per-unit cap is a quantile of every unit's
value at the cutoff (``cap_quantile``) has a cap that changes with the cutoff: it is left out, with the reason in
:attr:`Timeline.omitted`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from abnb._display import escape_html, styled
from abnb._query import alias, col, exposure_filter
from abnb.aggregate import EXACT_LIMIT, ArmStats, ExposureSource, build_pilot_query, check_inputs
from abnb.engine import BaseConnection, as_connection, table_expr
from abnb.errors import DataError, ParameterError, SpecError
from abnb.experiment import Experiment, MetricEffect, arm_spelling_hint, compare
from abnb.metrics import Metric
from abnb.stats import ConfidenceInterval, Moments, RatioMoments, confidence_sequence

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import exp

__all__ = ["Timeline", "TimelinePoint", "build_query", "cumulative"]

COLUMNS = (
    "metric",
    "arm",
    "day",
    "n_control",
    "n_treatment",
    "control_mean",
    "treatment_mean",
    "estimate",
    "ci_low",
    "ci_high",
    "pvalue",
    "seq_ci_low",
    "seq_ci_high",
    "note",
)
"""The columns of :meth:`Timeline.to_frame`, in order."""

_METHOD = (
    "cumulative relative lift (t − c)/|c| per cutoff day, as Experiment.analyze(as_of=day) reports it (its test and "
    "interval: Welch t, unpooled z or delta-method ratio, Fieller's interval unless the metric asks for a score "
    "interval; no covariate adjustment), and the anytime-valid confidence sequence of the lift (tuning {tuning:,}); "
    "from one query of per-unit running values' changes cumulated per arm × day"
)


@dataclass(frozen=True)
class TimelinePoint:
    """One metric × treatment arm at one cutoff day: what ``analyze(as_of=day)`` reports for it.

    Attributes:
        metric: The metric's name.
        arm: The treatment arm.
        day: The last day the cutoff covers (the cutoff is the next midnight, or the final cutoff on the last day).
        n_control: Units in the control arm.
        n_treatment: Units in the treatment arm.
        control_mean: Mean of the metric in the control arm.
        treatment_mean: Mean in the treatment arm.
        estimate: Relative lift ``(t − c)/|c|`` (:attr:`MetricEffect.relative <abnb.experiment.MetricEffect>`).
        ci_low: Lower end of its ``1 − alpha`` interval.
        ci_high: Upper end of the interval.
        pvalue: Two-sided p-value of the lift's test (not corrected for multiple testing).
        sequential: The anytime-valid confidence sequence of the lift (NaN ends where the analysis has none: ratio
            metrics, or when it could not be computed; ``note`` says why).
        note: What could not be computed and why (the analysis' notes), else ``""``.
    """

    metric: str
    arm: str
    day: date
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    sequential: ConfidenceInterval
    note: str = ""

    @classmethod
    def from_effect(cls, effect: MetricEffect, day: date) -> TimelinePoint:
        """The point of ``effect`` (a comparison at ``day``'s cutoff)."""
        sequence = effect.sequential
        return cls(
            metric=effect.metric.name,
            arm=effect.arm,
            day=day,
            n_control=effect.control.n,
            n_treatment=effect.treatment.n,
            control_mean=effect.relative.control_mean,
            treatment_mean=effect.relative.treatment_mean,
            estimate=effect.relative.estimate,
            ci_low=effect.relative.ci_low,
            ci_high=effect.relative.ci_high,
            pvalue=effect.relative.pvalue,
            sequential=ConfidenceInterval(math.nan, math.nan)
            if sequence is None
            else ConfidenceInterval(sequence.ci_low, sequence.ci_high),
            note="; ".join(effect.notes),
        )

    def row(self) -> dict[str, Any]:
        """A flat record with the columns of :data:`COLUMNS`."""
        return {
            "metric": self.metric,
            "arm": self.arm,
            "day": self.day,
            "n_control": self.n_control,
            "n_treatment": self.n_treatment,
            "control_mean": self.control_mean,
            "treatment_mean": self.treatment_mean,
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pvalue": self.pvalue,
            "seq_ci_low": self.sequential.low,
            "seq_ci_high": self.sequential.high,
            "note": self.note,
        }


@dataclass(frozen=True)
class Timeline:
    """The cumulative effect of each metric per cutoff day (:func:`cumulative`).

    Attributes:
        experiment: The experiment's name.
        control: The control arm.
        as_of: The final (exclusive) cutoff, wall-clock time in the connection's zone.
        alpha: The level of every interval (``1 − alpha``) and of the confidence sequence.
        points: One :class:`TimelinePoint` per metric × treatment arm × day, by metric, arm and day.
        omitted: ``"<metric>: <reason>"`` for each requested metric left out of the timeline.
        notes: Days without points and why (before every arm had two units).
        method: The estimate, its intervals and how the sums were obtained.
        rows_fetched: Rows the engine returned (the pilot and the arm × day rows).
    """

    experiment: str
    control: str
    as_of: datetime
    alpha: float
    points: tuple[TimelinePoint, ...]
    omitted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    method: str = ""
    rows_fetched: int = 0

    @property
    def days(self) -> tuple[date, ...]:
        """The cutoff days with points, in order."""
        return tuple(sorted({p.day for p in self.points}))

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics with points, in the spec's order."""
        return tuple(dict.fromkeys(p.metric for p in self.points))

    def cutoff(self, day: date) -> datetime:
        """The exclusive cutoff behind ``day``'s points: the next midnight, or :attr:`as_of` on the last day."""
        return min(datetime.combine(day, time()) + timedelta(days=1), self.as_of)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric × arm × day with the columns of :data:`COLUMNS` (the chart's input)."""
        import pandas as pd

        return pd.DataFrame([p.row() for p in self.points], columns=list(COLUMNS))

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        formats = dict.fromkeys(("estimate", "ci_low", "ci_high", "seq_ci_low", "seq_ci_high"), "{:+.2%}")
        formats.update({"control_mean": "{:.4g}", "treatment_mean": "{:.4g}", "pvalue": "{:.3g}"})
        table = styled(frame, formats, na_rep="—").to_html()
        extra = [f"<p>Left out: {escape_html(line)}</p>" for line in self.omitted]
        extra += [f"<p>{escape_html(line)}</p>" for line in self.notes]
        head = (
            f"<p><b>{escape_html(self.experiment)}</b>: cumulative effect vs {escape_html(self.control)} through "
            f"{escape_html(f'{self.as_of:%Y-%m-%d %H:%M}')}</p>"
        )
        return f"<div class='abnb-timeline'>{head}{table}{''.join(extra)}<p>{escape_html(self.method)}</p></div>"

    def __repr__(self) -> str:
        days = self.days
        span = f"{days[0]}..{days[-1]}" if days else "none"
        return (
            f"Timeline(experiment={self.experiment!r}, metrics={list(self.metrics)!r}, days={span}, "
            f"points={len(self.points)}, omitted={len(self.omitted)}, rows_fetched={self.rows_fetched})"
        )


# ---------------------------------------------------------------------------------------------------------------
# The query


def _step(name: str) -> str:
    return f"#{name}"


def _table(name: str, alias_name: str | None = None) -> exp.Table:
    from sqlglot import exp

    return exp.Table(
        this=exp.to_identifier(_step(name), quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(alias_name, quoted=True)) if alias_name else None,
    )


def _cte(name: str) -> exp.TableAlias:
    from sqlglot import exp

    return exp.TableAlias(this=exp.to_identifier(_step(name), quoted=True))


def _number(value: int) -> exp.Expression:
    from sqlglot import exp

    return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))


def _null(kind: str) -> exp.Expression:
    from sqlglot import exp

    return exp.Cast(this=exp.Null(), to=exp.DataType.build(kind))


def _day(ts: exp.Expression) -> exp.Expression:
    """The wall-clock day of a time in the session's zone (a ``DATE`` stays itself)."""
    from sqlglot import exp

    return exp.Cast(this=ts, to=exp.DataType.build("DATE"))


def _window(function: exp.Expression, partition: str, order: str, *, frame: bool = True) -> exp.Expression:
    """``function OVER (PARTITION BY partition ORDER BY order [RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW])``.

    The ``RANGE`` frame takes every row up to the current row's ``order`` value, its peers included.
    """
    from sqlglot import exp

    spec = None
    if frame:
        spec = exp.WindowSpec(kind="RANGE", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW")
    return exp.Window(
        this=function,
        partition_by=[col(partition)],
        order=exp.Order(expressions=[exp.Ordered(this=col(order), nulls_first=False)]),
        spec=spec,
        over="OVER",
    )


@dataclass(frozen=True)
class _Part:
    """Rows the query follows per unit: one SQL reduced with one aggregate (within one conversion window).

    Metrics that read the same SQL the same way (a ratio's numerator and a mean of the same rows, a denominator
    counting the rows of a count metric) share a part: their rows are read, joined and windowed once.

    Attributes:
        name: Column prefix (``p<k>``).
        metric: The metric whose SQL and aggregate it reads (a ratio's denominator is a metric of its own).
        tag: The number tagging its rows in the ``events`` step.
        window: The parameter with its conversion window in microseconds, or ``None``.
    """

    name: str
    metric: Metric
    tag: int
    window: str | None


@dataclass(frozen=True)
class _Variable:
    """A per-unit value whose sums the result holds: a metric's outcome (``y<i>``) or a ratio's denominator (``d<i>``).

    Attributes:
        name: Prefix of its result columns.
        part: The part it reads.
        index: The position of its metric (its ``$shift_<i>`` and ``$cap_<i>``).
        shifted: Whether its sums are taken around the analysis' shift (mean metrics summing or taking maxima).
        capped: Whether it is winsorised at the metric's fixed cap (a ratio's denominator never is).
    """

    name: str
    part: str
    index: int
    shifted: bool = False
    capped: bool = False


@dataclass(frozen=True)
class _Plan:
    """The parts, the variables and the ``(numerator, denominator)`` variables of each ratio."""

    parts: tuple[_Part, ...]
    variables: tuple[_Variable, ...]
    ratios: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=32)
def _plan(metrics: tuple[Metric, ...]) -> _Plan:
    """Name the parts (one per SQL × aggregate × window) and the variables of ``metrics``."""
    parts: dict[tuple[str, str | None, float | None], _Part] = {}

    def part(metric: Metric, index: int) -> str:
        key = (metric.query.sql("duckdb"), metric.aggregate, metric.window_hours)
        if key not in parts:
            window = f"window_{index}" if metric.window_hours is not None else None
            parts[key] = _Part(f"p{len(parts)}", metric, len(parts), window)
        return parts[key].name

    variables: list[_Variable] = []
    ratios: list[tuple[str, str]] = []
    for i, metric in enumerate(metrics):
        shifted = metric.kind == "mean" and metric.aggregate in ("sum", "max")  # as the analysis shifts
        variables.append(_Variable(f"y{i}", part(metric, i), i, shifted, metric.cap is not None))
        if metric.denominator is not None:
            variables.append(_Variable(f"d{i}", part(metric.denominator, i), i))
            ratios.append((f"y{i}", f"d{i}"))
    return _Plan(tuple(parts.values()), tuple(variables), tuple(ratios))


def _first(source: ExposureSource, *, has_start: bool) -> exp.Select:
    """Per unit: first exposure, first arm (and when), whether another arm was seen (NULL arms count as none)."""
    from sqlglot import exp

    e = "e"
    assert source.ts is not None
    ts, arm = col(source.ts, e), col(source.arm, e)
    with_arm = exp.Not(this=exp.Is(this=arm.copy(), expression=exp.Null()))
    armed_ts = exp.Case().when(with_arm, ts.copy())
    return (
        exp.select(
            alias(col(source.unit, e), "unit"),
            alias(exp.Min(this=ts.copy()), "exposed_at"),
            alias(exp.Min(this=armed_ts.copy()), "armed_at"),
            alias(exp.ArgMin(this=arm.copy(), expression=armed_ts), "arm"),
            alias(exp.NEQ(this=exp.Min(this=arm.copy()), expression=exp.Max(this=arm.copy())), "mixed"),
        )
        .from_(table_expr(source.table, "exposures table", alias=e))
        .where(exposure_filter(source, e, has_start=has_start))
        .group_by(col(source.unit, e))
    )


def _conflicts(source: ExposureSource, *, has_start: bool) -> exp.Select:
    """For units seen in two arms: when an arm other than their first was first seen."""
    from sqlglot import exp

    e, f = "e", "f"
    assert source.ts is not None
    other = exp.NEQ(this=col(source.arm, e), expression=col("arm", f))
    return (
        exp.select(col("unit", f), alias(exp.Min(this=col(source.ts, e)), "conflict_at"))
        .from_(_table("first", f))
        .join(
            table_expr(source.table, "exposures table", alias=e),
            on=exp.EQ(this=col(source.unit, e), expression=col("unit", f)),
        )
        .where(exp.and_(col("mixed", f), other, exposure_filter(source, e, has_start=has_start)))
        .group_by(col("unit", f))
    )


def _assignment() -> exp.Select:
    """Units with an arm: first exposure, the day they enter the comparison and the day they leave it (or NULL)."""
    from sqlglot import exp

    f, c = "f", "c"
    enter, leave = _day(col("armed_at", f)), _day(col("conflict_at", c))
    never_left = exp.Is(this=col("conflict_at", c), expression=exp.Null())
    return (
        exp.select(
            col("unit", f),
            col("arm", f),
            col("exposed_at", f),
            alias(enter, "enter_day"),
            alias(leave, "exit_day"),
        )
        .from_(_table("first", f))
        .join(_table("conflicts", c), on=exp.EQ(this=col("unit", c), expression=col("unit", f)), join_type="left")
        .where(
            exp.and_(
                exp.Not(this=exp.Is(this=col("arm", f), expression=exp.Null())),
                exp.or_(never_left, exp.GT(this=leave.copy(), expression=enter.copy())),
            )
        )
    )


def _events(parts: Sequence[_Part]) -> exp.Query:
    """Every part's rows: ``unit``, ``ts``, ``value`` (DOUBLE) and ``part`` (its tag), one ``UNION ALL``."""
    from sqlglot import exp

    q = "q"
    branches = [
        exp.select(
            alias(col("unit", q), "unit"),
            alias(col("ts", q), "ts"),
            alias(exp.Cast(this=col("value", q), to=exp.DataType.build("DOUBLE")), "value"),
            alias(_number(part.tag), "part"),
        ).from_(part.metric.query.subquery(exp.to_identifier(q, quoted=True)))
        for part in parts
    ]
    union: exp.Query = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    return union


def _changes(parts: Sequence[_Part]) -> exp.Query:
    """Rows after exposure (in the window) with their day, plus the entries (+1) and exits (−1) of units."""
    from sqlglot import exp

    a, m = "a", "m"
    ts, exposed_at = col("ts", m), col("exposed_at", a)
    day = _day(ts.copy())
    conditions: list[exp.Condition] = [
        exp.GTE(this=ts.copy(), expression=exposed_at.copy()),
        exp.LT(this=ts.copy(), expression=exp.Placeholder(this="as_of")),
        exp.or_(
            exp.Is(this=col("exit_day", a), expression=exp.Null()),
            exp.LT(this=day.copy(), expression=col("exit_day", a)),
        ),
    ]
    for part in parts:
        if part.window is not None:
            end = exp.TimestampAdd(
                this=exposed_at.copy(),
                expression=exp.Cast(this=exp.Placeholder(this=part.window), to=exp.DataType.build("BIGINT")),
                unit=exp.var("MICROSECOND"),
            )
            conditions.append(
                exp.or_(
                    exp.NEQ(this=col("part", m), expression=_number(part.tag)),
                    exp.LT(this=ts.copy(), expression=end),
                )
            )
    later = exp.Case().when(exp.LT(this=day.copy(), expression=col("enter_day", a)), col("enter_day", a)).else_(day)
    rows = (
        exp.select(
            col("unit", a),
            col("arm", a),
            alias(later, "day"),
            alias(_number(0), "dn"),
            col("part", m),
            col("value", m),
        )
        .from_(_table("assignment", a))
        .join(_table("events", m), on=exp.EQ(this=col("unit", m), expression=col("unit", a)))
        .where(exp.and_(*conditions))
    )
    entries = exp.select(
        col("unit"),
        col("arm"),
        alias(col("enter_day"), "day"),
        alias(_number(1), "dn"),
        alias(_null("INT"), "part"),
        alias(_null("DOUBLE"), "value"),
    ).from_(_table("assignment"))
    exits = (
        exp.select(
            col("unit"),
            col("arm"),
            alias(col("exit_day"), "day"),
            alias(_number(-1), "dn"),
            alias(_null("INT"), "part"),
            alias(_null("DOUBLE"), "value"),
        )
        .from_(_table("assignment"))
        .where(exp.Not(this=exp.Is(this=col("exit_day"), expression=exp.Null())))
    )
    return exp.union(exp.union(entries, exits, distinct=False), rows, distinct=False)


def _aggregate(part: _Part) -> exp.Expression:
    """The part's aggregate of a unit's rows (a running one over a window): NULL without rows, but 0 for a count."""
    from sqlglot import exp

    mine = exp.EQ(this=col("part"), expression=_number(part.tag))
    aggregate = part.metric.aggregate
    if aggregate == "count":
        return exp.Count(this=exp.Case().when(mine, exp.Literal.number(1)))
    if aggregate == "any":
        positive = exp.and_(mine.copy(), exp.GT(this=col("value"), expression=exp.Literal.number(0)))
        return exp.Max(this=exp.Case().when(positive, exp.Literal.number(1)).when(mine.copy(), exp.Literal.number(0)))
    inner = exp.Case().when(mine, col("value"))
    return exp.Sum(this=inner) if aggregate == "sum" else exp.Max(this=inner)


def _running(parts: Sequence[_Part]) -> exp.Select:
    """Per row of ``changes``: the unit's running aggregates through the row's day, and the day of its next row.

    The frame is ``RANGE`` (every row of the same day included), so the rows of one day all carry the day's value;
    ``next_day`` is the day of the unit's next row (the same day for all but the day's last row, NULL at the end).
    """
    from sqlglot import exp

    selects: list[exp.Expression] = [col("arm"), col("day"), col("dn")]
    selects += [alias(_window(_aggregate(part), "unit", "day"), f"{part.name}_run") for part in parts]
    lead = exp.Lead(this=col("day"), offset=exp.Literal.number(1))
    selects.append(alias(_window(lead, "unit", "day", frame=False), "next_day"))
    return exp.select(*selects).from_(_table("changes"))


def _raw(variable: _Variable) -> exp.Expression:
    """The unit's value through the day, capped (0 without rows, as the analysis counts a unit without rows)."""
    from sqlglot import exp

    double = exp.DataType.build("DOUBLE")
    value: exp.Expression = exp.Coalesce(
        this=exp.Cast(this=col(f"{variable.part}_run"), to=double), expressions=[exp.Literal.number(0)]
    )
    if variable.capped:
        cap = exp.Cast(this=exp.Placeholder(this=f"cap_{variable.index}"), to=double)
        value = exp.Case().when(exp.GT(this=value, expression=cap), cap.copy()).else_(value.copy())
    return value


def _values(plan: _Plan) -> exp.Select:
    """Per row: each variable's value ``v`` while the unit is compared (else 0) and ``|value|`` (the 2^53 check).

    A shifted variable's ``v`` is ``value − shift`` except at value 0, where the unit is counted in ``<name>_z``
    instead: a unit without rows yet sits at ``−shift``, and telescoping its ``(−shift)²`` away on its first row's
    day would cost the sums their precision when the shift is large (mean 1e9, sd 1); Python adds
    ``z·(−shift)`` and ``z·shift²`` back, exactly as many as there are such units.
    """
    from sqlglot import exp

    # a unit is compared on every day of its rows but its exit day, whose only row is the exit (dn = −1)
    member = exp.GTE(this=col("dn"), expression=exp.Literal.number(0))
    selects: list[exp.Expression] = [col("arm"), col("day"), col("next_day"), col("dn")]
    for variable in plan.variables:
        value = _raw(variable)
        if variable.shifted:
            zero = exp.EQ(this=value.copy(), expression=exp.Literal.number(0))
            shifted = exp.Sub(this=value.copy(), expression=exp.Placeholder(this=f"shift_{variable.index}"))
            v = exp.Case().when(exp.and_(member.copy(), exp.Not(this=zero.copy())), exp.Paren(this=shifted))
            at_zero = exp.Case().when(exp.and_(member.copy(), zero), exp.Literal.number(1))
            selects.append(alias(at_zero.else_(exp.Literal.number(0)), f"{variable.name}_z"))
        else:
            v = exp.Case().when(member.copy(), value.copy())
        selects.append(alias(v.else_(exp.Literal.number(0)), f"{variable.name}_v"))
        selects.append(alias(exp.Abs(this=value), f"{variable.name}_abs"))
    return exp.select(*selects).from_(_table("running"))


def _contributions(plan: _Plan) -> exp.Select:
    """Each row's value counts from its day (sign +1) until the unit's next row's day (sign −1).

    Summed over a unit's rows up to a cutoff day, the contributions telescope to its value at that day (0 before
    it enters and after it leaves); rows of the same day cancel out but for one.
    """
    from sqlglot import exp

    sign = col("sign", "s")
    plus = exp.EQ(this=sign.copy(), expression=exp.Literal.number(1))
    selects: list[exp.Expression] = [
        col("arm", "v"),
        alias(exp.Case().when(plus.copy(), col("day", "v")).else_(col("next_day", "v")), "day"),
        alias(exp.Case().when(plus.copy(), col("dn", "v")).else_(exp.Literal.number(0)), "dn"),
    ]
    for variable in plan.variables:
        v = col(f"{variable.name}_v", "v")
        selects.append(alias(exp.Mul(this=sign.copy(), expression=v.copy()), f"{variable.name}_s"))
        square = exp.Mul(this=v.copy(), expression=v.copy())
        selects.append(alias(exp.Mul(this=sign.copy(), expression=square), f"{variable.name}_q"))
        if variable.shifted:
            zero = col(f"{variable.name}_z", "v")
            selects.append(alias(exp.Mul(this=sign.copy(), expression=zero), f"{variable.name}_z"))
        selects.append(col(f"{variable.name}_abs", "v"))
    for y, d in plan.ratios:
        product = exp.Mul(this=col(f"{y}_v", "v"), expression=col(f"{d}_v", "v"))
        selects.append(alias(exp.Mul(this=sign.copy(), expression=product), f"{y}_{d}_p"))
    signs = exp.Values(
        expressions=[exp.Tuple(expressions=[_number(1)]), exp.Tuple(expressions=[_number(-1)])],
        alias=exp.TableAlias(
            this=exp.to_identifier("s", quoted=True), columns=[exp.to_identifier("sign", quoted=True)]
        ),
    )
    counted = exp.or_(plus, exp.Not(this=exp.Is(this=col("next_day", "v"), expression=exp.Null())))
    return exp.select(*selects).from_(_table("values", "v")).join(signs, join_type="cross").where(counted)


def _sums(plan: _Plan) -> list[str]:
    """The summed and cumulated columns: per variable Σv and Σv², per ratio Σy·d (``|value|`` columns aside)."""
    columns = [f"{variable.name}_{kind}" for variable in plan.variables for kind in ("s", "q")]
    columns += [f"{variable.name}_z" for variable in plan.variables if variable.shifted]
    return columns + [f"{y}_{d}_p" for y, d in plan.ratios]


def _per_day(plan: _Plan) -> exp.Select:
    from sqlglot import exp

    selects: list[exp.Expression] = [col("arm"), col("day"), alias(exp.Sum(this=col("dn")), "dn")]
    selects += [alias(exp.Sum(this=col(c)), c) for c in _sums(plan)]
    selects += [alias(exp.Max(this=col(f"{v.name}_abs")), f"{v.name}_abs") for v in plan.variables]
    return exp.select(*selects).from_(_table("contributions")).group_by(col("arm"), col("day"))


def build_query(source: ExposureSource, metrics: Sequence[Metric], *, has_start: bool = False) -> exp.Select:
    """The timeline's one aggregate query (built once per spec; the tree is shared, never mutate it).

    See :func:`_build_query`.
    """
    return _compiled(source, tuple(metrics), has_start)


@functools.lru_cache(maxsize=32)
def _compiled(source: ExposureSource, metrics: tuple[Metric, ...], has_start: bool) -> exp.Select:
    return _build_query(source, metrics, has_start=has_start)


def _build_query(source: ExposureSource, metrics: Sequence[Metric], *, has_start: bool) -> exp.Select:
    """The timeline's one aggregate query (see the module's docstring for its steps).

    Parameters: ``$as_of`` (exclusive final cutoff), ``$experiment`` (with an experiment column), ``$start`` (with
    ``has_start``), ``$window_<i>`` (conversion windows, microseconds), ``$cap_<i>`` (fixed caps) and
    ``$shift_<i>`` (the pilot's shift of each shifted metric, :func:`build_pilot_query`).

    Returns:
        A ``SELECT`` returning per arm × day with changes, ordered by arm and day: ``arm``, ``day``, ``n`` (units at
        that cutoff) and, per variable (``y<i>`` metric ``i``'s value, ``d<i>`` its denominator if a ratio):
        ``<var>_s`` = Σ v and ``<var>_q`` = Σ v², with ``v`` the value less the shift ``c`` for a shifted variable
        (taken over the units whose value is not 0; ``<var>_z`` counts the others, each at ``v = −c``) and the
        value itself otherwise; ``<var>_abs`` = the largest |value| so far; per ratio ``y<i>_d<i>_p`` = Σ y·d. Every
        sum is over the units in the arm at that day's cutoff.

    Raises:
        SpecError: No metric, or exposures without a time (a unit-level table).
    """
    from sqlglot import exp

    if not metrics:
        raise SpecError("a timeline needs at least one metric.")
    if source.level != "event" or source.ts is None:
        raise SpecError(
            f"exposures table {source.table!r} is unit-level: it holds one value per unit and no event times, so "
            "there is no value per day to follow. A timeline needs event-level exposures and metric SQL."
        )
    plan = _plan(tuple(metrics))
    parts = plan.parts
    query = exp.select()
    steps: list[tuple[str, exp.Query]] = [
        ("first", _first(source, has_start=has_start)),
        ("conflicts", _conflicts(source, has_start=has_start)),
        ("assignment", _assignment()),
        ("events", _events(parts)),
        ("changes", _changes(parts)),
        ("running", _running(parts)),
        ("values", _values(plan)),
        ("contributions", _contributions(plan)),
        ("per_day", _per_day(plan)),
    ]
    for name, step in steps:
        query = query.with_(_cte(name), as_=step)
    selects: list[exp.Expression] = [col("arm"), col("day"), alias(_window(exp.Sum(this=col("dn")), "arm", "day"), "n")]
    selects += [alias(_window(exp.Sum(this=col(c)), "arm", "day"), c) for c in _sums(plan)]
    selects += [
        alias(_window(exp.Max(this=col(f"{v.name}_abs")), "arm", "day"), f"{v.name}_abs") for v in plan.variables
    ]
    return query.select(*selects).from_(_table("per_day")).order_by(col("arm"), col("day"))


# ---------------------------------------------------------------------------------------------------------------
# From the rows to the points


def _omission(metric: Metric) -> str | None:
    """Why a metric cannot be followed exactly over days, or ``None`` if it can."""
    if metric.cap_quantile is not None:
        return (
            f"{metric.name}: its values are capped at the P{100 * metric.cap_quantile:g} of every unit's value at the "
            "cutoff (cap_quantile), a cap that changes with the cutoff and cannot be cumulated over days; analyse "
            "it with Experiment.analyze(as_of=day) per day"
        )
    return None


def _selected(experiment: Experiment, metrics: Sequence[str] | None) -> tuple[Metric, ...]:
    """The metrics asked for: by name, or every goal and guardrail metric.

    Raises:
        ParameterError: An unknown name, no name, or no goal or guardrail metric to default to.
    """
    if metrics is None:
        chosen = tuple(m for m in experiment.metrics if m.role in ("goal", "guardrail"))
        if not chosen:
            raise ParameterError(
                f"experiment {experiment.name!r} has no goal or guardrail metric to follow; name the metrics with "
                f"metrics=[...] (its metrics: {', '.join(m.name for m in experiment.metrics)})."
            )
        return chosen
    if isinstance(metrics, str):
        metrics = [metrics]
    known = {m.name: m for m in experiment.metrics}
    unknown = [name for name in metrics if name not in known]
    if unknown:
        raise ParameterError(
            f"metrics: no metric {', '.join(map(repr, unknown))} in experiment {experiment.name!r}; its metrics are "
            f"{', '.join(known)}."
        )
    if not metrics:
        raise ParameterError(
            f"metrics: name at least one metric of experiment {experiment.name!r} ({', '.join(known)})."
        )
    return tuple(known[name] for name in dict.fromkeys(metrics))


def _parameters(
    experiment: Experiment, metrics: Sequence[Metric], cutoff: datetime, start: datetime | None
) -> dict[str, Any]:
    """The values :func:`build_query` binds, the shifts aside (the engine refuses a value the query does not use)."""
    params: dict[str, Any] = {"as_of": cutoff}
    if experiment.exposures.experiment_column:
        params["experiment"] = experiment.name
    if start is not None:
        params["start"] = start
    plan = _plan(tuple(metrics))
    for part in plan.parts:
        if part.window is not None and part.metric.window_hours is not None:
            params[part.window] = round(part.metric.window_hours * 3_600_000_000)  # microseconds, as the analysis
    for variable in plan.variables:
        cap = metrics[variable.index].cap
        if variable.capped and cap is not None:
            params[f"cap_{variable.index}"] = cap
    return params


def _shifts(connection: BaseConnection, source: ExposureSource, metrics: Sequence[Metric]) -> dict[int, float]:
    """The analysis' shift of each shifted metric (its pilot query, :func:`abnb.aggregate.build_pilot_query`)."""
    pilot = build_pilot_query(source, metrics)
    if pilot is None:
        return {}
    (row,) = connection.run(pilot).records()
    shifted = [v.index for v in _plan(tuple(metrics)).variables if v.shifted]
    return {i: float(row.get(f"shift_m{i}_y") or 0.0) for i in shifted}


def _arm_stats(row: Mapping[str, Any], i: int, metric: Metric, shift: float) -> ArmStats:
    """The metric's sufficient statistics at a cutoff, built as the analysis builds them from its sums."""
    n = int(row["n"])
    if metric.kind == "ratio":
        return RatioMoments(
            n=n,
            y_sum=float(row[f"y{i}_s"] or 0.0),
            y_sum_sq=float(row[f"y{i}_q"] or 0.0),
            d_sum=float(row[f"d{i}_s"] or 0.0),
            d_sum_sq=float(row[f"d{i}_q"] or 0.0),
            yd_sum=float(row[f"y{i}_d{i}_p"] or 0.0),
        )
    at_zero = int(row.get(f"y{i}_z") or 0)  # units whose value is 0, i.e. −shift once shifted (see _values)
    return Moments(
        n=n,
        sum=float(row[f"y{i}_s"] or 0.0) - at_zero * shift,
        sum_sq=float(row[f"y{i}_q"] or 0.0) + at_zero * shift * shift,
        shift=shift,
        x_shift=0.0,
        proportion=metric.kind == "proportion",
    )


def _check_values(row: Mapping[str, Any], i: int, metric: Metric, arm: str) -> None:
    """Refuse NaN or infinite sums and per-unit values beyond 2^53, as the analysis does (a ``DataError``)."""
    names = [f"y{i}_s", f"y{i}_q"] + ([f"d{i}_s", f"d{i}_q", f"y{i}_d{i}_p"] if metric.kind == "ratio" else [])
    if not all(row[c] is None or math.isfinite(float(row[c])) for c in names):
        raise DataError(
            f"metric {metric.name!r} has NaN or infinite values (or values whose squares overflow) in arm {arm!r}: "
            "every sum they enter becomes NaN/inf; filter them in the metric's SQL (e.g. `... WHERE "
            "isfinite(value)`) or clean the telemetry."
        )
    largest = max(float(row[c] or 0.0) for c in [f"y{i}_abs"] + ([f"d{i}_abs"] if metric.kind == "ratio" else []))
    if largest > EXACT_LIMIT:
        raise DataError(
            f"metric {metric.name!r} has per-unit values up to {largest:.6g} in magnitude, beyond 2^53: abnb sums in "
            "double precision, where such values lose their last digits. Subtract a baseline or rescale in the "
            "metric's SQL (e.g. `value / 1e6 AS value`)."
        )


def _cumulative_rows(records: list[dict[str, Any]], days: Sequence[date]) -> dict[date, dict[str, dict[str, Any]]]:
    """``{day: {arm: row}}`` for every day: an arm without changes on a day keeps its previous row."""
    by_arm: dict[str, dict[date, dict[str, Any]]] = {}
    for record in records:
        by_arm.setdefault(str(record["arm"]), {})[_as_date(record["day"])] = record
    filled: dict[date, dict[str, dict[str, Any]]] = {day: {} for day in days}
    for arm, rows in by_arm.items():
        current: dict[str, Any] | None = None
        for day in days:
            current = rows.get(day, current)
            if current is not None:
                filled[day][arm] = current
    return filled


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _check_arms(experiment: Experiment, found: set[str], cutoff: datetime) -> None:
    """The errors the analysis raises about arms: one in the data but not the spec, or one without units."""
    extra = sorted(found - set(experiment.arms))
    if extra:
        raise DataError(
            f"table {experiment.exposures.table!r} has exposures of experiment {experiment.name!r} in arm(s) "
            f"{', '.join(map(repr, extra))} that the spec does not list; add them to `arms` or fix the logging."
        )
    missing = [a for a in experiment.arms if a not in found]
    if missing:
        raise DataError(
            f"arm(s) {', '.join(map(repr, missing))} of experiment {experiment.name!r} have no exposures in table "
            f"{experiment.exposures.table!r} before {cutoff:%Y-%m-%d %H:%M}; arms found: "
            f"{', '.join(map(repr, sorted(found)))}.{arm_spelling_hint(missing, found)} "
            "Check the arm names in the spec or the exposure logging."
        )


def _compare(experiment: Experiment, metric: Metric, control: ArmStats, treatment: ArmStats, arm: str) -> MetricEffect:
    """The analysis' comparison of one metric and arm (:func:`abnb.experiment.compare`) with its confidence sequence.

    The other panels of the analysis (Bayes, CUPED, MDE, non-inferiority) are not needed here; the sequence is the
    call the analysis makes (the lift's, at the spec's ``tuning``), and one that cannot be computed is a note.
    """
    effect = compare(metric, control, treatment, experiment.control, arm, experiment.alpha)
    if not isinstance(control, Moments) or not isinstance(treatment, Moments):
        return effect  # the analysis has no confidence sequence for a ratio (delta method)
    try:
        sequence = confidence_sequence(
            control, treatment, relative=True, tuning=experiment.tuning, alpha=experiment.alpha
        )
    except (DataError, ParameterError) as error:
        note = f"metric {metric.name!r}, {arm!r} vs {experiment.control!r}: no anytime-valid interval ({error})."
        return replace(effect, notes=(*effect.notes, note))
    return replace(effect, sequential=sequence)


def _points_of_day(
    experiment: Experiment,
    metrics: Sequence[Metric],
    rows: Mapping[str, Mapping[str, Any]],
    shifts: Mapping[int, float],
    day: date,
) -> list[TimelinePoint]:
    """Every metric × treatment arm at one cutoff, compared as the analysis compares them."""
    points = []
    for i, metric in enumerate(metrics):
        for arm in experiment.arms:
            _check_values(rows[arm], i, metric, arm)
        stats = {arm: _arm_stats(rows[arm], i, metric, shifts.get(i, 0.0)) for arm in experiment.arms}
        for arm in experiment.treatments:
            effect = _compare(experiment, metric, stats[experiment.control], stats[arm], arm)
            points.append(TimelinePoint.from_effect(effect, day))
    return points


def _all_days(records: list[dict[str, Any]], label: date) -> list[date]:
    if not records:
        return []
    first = min(_as_date(r["day"]) for r in records)
    return [first + timedelta(days=k) for k in range((label - first).days + 1)]


def _points(
    experiment: Experiment,
    metrics: Sequence[Metric],
    records: list[dict[str, Any]],
    shifts: Mapping[int, float],
    cutoff: datetime,
    label: date,
) -> tuple[list[TimelinePoint], list[str]]:
    """The points of every day on which every arm has two units (the analysis' minimum), and notes on the rest."""
    days = [d for d in _all_days(records, label) if d <= label]
    filled = _cumulative_rows(records, days)
    _check_arms(experiment, {arm for rows in filled.values() for arm in rows}, cutoff)
    points: list[TimelinePoint] = []
    skipped: list[date] = []
    for day in days:
        rows = filled[day]
        if any(arm not in rows or int(rows[arm]["n"]) < 2 for arm in experiment.arms):
            skipped.append(day)
            continue
        points.extend(_points_of_day(experiment, metrics, rows, shifts, day))
    notes = []
    if skipped:
        notes.append(
            f"no estimate on {len(skipped)} day(s) ({skipped[0]} to {skipped[-1]}): an arm had fewer than 2 units "
            "(the analysis needs two per arm)"
        )
    if not points:
        raise DataError(
            f"experiment {experiment.name!r} has too few units to compare on any day before "
            f"{cutoff:%Y-%m-%d %H:%M}: every arm needs at least 2 units. Wait for more exposures or check the logging."
        )
    order = {m.name: k for k, m in enumerate(metrics)}
    points.sort(key=lambda p: (order[p.metric], experiment.arms.index(p.arm), p.day))
    return points, notes


def cumulative(
    experiment: Experiment,
    connection: BaseConnection | duckdb.DuckDBPyConnection | Mapping[str, Any],
    *,
    as_of: date | datetime | str | None = None,
    metrics: Sequence[str] | None = None,
) -> Timeline:
    """The cumulative effect of each metric at every cutoff day, from one aggregate query.

    For each day ``d`` from the first day with exposures to ``as_of``'s last day, every number is the one
    ``experiment.analyze(connection, as_of=d)`` reports (the last day with ``as_of`` itself): units per arm, means,
    the relative lift with its interval and p-value (:attr:`MetricEffect.relative
    <abnb.experiment.MetricEffect>`, uncorrected for multiple testing) and the anytime-valid confidence sequence
    of the lift (:attr:`MetricEffect.sequential <abnb.experiment.MetricEffect>`). Days before every arm has two
    units have no points (:attr:`Timeline.notes` says so).

    Cost: a ``LIMIT 1`` pilot query for the shifts and one query whose result is a few rows per arm × day; the
    engine does one pass over the exposures and the metrics' rows, a window over each unit's days with rows, and a
    window over the arm × day rows. No unit or event row reaches Python.

    Args:
        experiment: The experiment (its exposures must be event-level: a unit-level table has no times).
        connection: From :func:`abnb.connect` (or a DuckDB connection, or a ``SparkSession``), or a mapping of table
            name to frame, analysed in an in-memory DuckDB.
        as_of: The final cutoff, as for :meth:`Experiment.analyze` (default: the earlier of the spec's ``end`` and
            the end of the last day with data).
        metrics: Names of the metrics to follow (default: every goal and guardrail metric). A metric that cannot
            be followed exactly (a ``cap_quantile``) is left out and named in :attr:`Timeline.omitted`.

    Raises:
        ParameterError: An unknown metric name.
        SpecError: Unit-level exposures.
        SchemaError: A missing table or column, or a non-numeric metric.
        DataError: No unit in some arm, arms the spec does not list, or NaN/huge values (as the analysis).
    """
    if isinstance(connection, Mapping):
        from abnb.engine import connect

        with connect(frames=connection) as frames:
            return cumulative(experiment, frames, as_of=as_of, metrics=metrics)
    con = as_connection(connection)
    chosen = _selected(experiment, metrics)
    omitted = tuple(reason for reason in map(_omission, chosen) if reason is not None)
    followed = tuple(m for m in chosen if _omission(m) is None)
    source = experiment.exposures
    if source.level != "event" or source.ts is None:
        build_query(source, followed or chosen)  # raises the SpecError naming the table
    if not followed:
        raise ParameterError(
            f"no metric of experiment {experiment.name!r} asked for can be followed over days: {'; '.join(omitted)}."
        )
    check_inputs(con, source, followed)
    cutoff, label = experiment.cutoff(con, as_of)
    start = experiment.window(con.timezone)[0]
    fetched = con.rows_fetched
    shifts = _shifts(con, source, followed)
    params = _parameters(experiment, followed, cutoff, start)
    params.update({f"shift_{i}": value for i, value in shifts.items()})
    records = con.run(build_query(source, followed, has_start=start is not None), params).records()
    if not records:
        raise DataError(
            f"no unit was exposed to any single arm of experiment {experiment.name!r} in table {source.table!r} "
            f"before {cutoff:%Y-%m-%d %H:%M}; check the experiment name, the exposures table, the spec's start and "
            "as_of."
        )
    points, notes = _points(experiment, followed, records, shifts, cutoff, label)
    return Timeline(
        experiment=experiment.name,
        control=experiment.control,
        as_of=cutoff,
        alpha=experiment.alpha,
        points=tuple(points),
        omitted=omitted,
        notes=tuple(notes),
        method=_METHOD.format(tuning=experiment.tuning),
        rows_fetched=con.rows_fetched - fetched,
    )
