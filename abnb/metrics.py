"""Metrics: a quality of concern, the telemetry it reads, and its SQL operationalization.

A :class:`Metric` is a SQL query over telemetry that returns one row per observation with the columns
``unit`` (the randomisation unit), ``ts`` (when it happened) and ``value`` (a number). The analysis joins it to the
exposures (observations at or after the unit's first exposure only), reduces it to one value per unit with the
metric's ``aggregate`` (units without rows count as 0), and then to sufficient statistics per arm × segment —
all inside the engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from abnb.engine import validate_identifier
from abnb.errors import SpecError

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = [
    "AGGREGATES",
    "DIRECTIONS",
    "KINDS",
    "RESERVED_NAMES",
    "ROLES",
    "Column",
    "Covariate",
    "Metric",
    "Sql",
    "Telemetry",
    "TelemetryCheck",
    "TelemetryDesign",
]

Kind = Literal["mean", "proportion", "ratio"]
Role = Literal["goal", "guardrail", "secondary"]
Direction = Literal["increase", "decrease"]
Aggregate = Literal["sum", "count", "max", "any"]

KINDS: tuple[str, ...] = get_args(Kind)
ROLES: tuple[str, ...] = get_args(Role)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
INTERVALS = ("wald", "newcombe", "agresti-caffo")
METRIC_COLUMNS = ("unit", "ts", "value")
#: Names of a metric's own per-unit variables in :class:`~abnb.stats.JointMoments`: the outcome, a ratio's
#: denominator, the pre-period of the metric's SQL (``covariate_days``/``covariate_column``) and of its denominator.
RESERVED_NAMES = ("y", "d", "x", "w")
_COVARIATE_KEYS = ("name", "sql", "days", "aggregate")


def _choice(value: object, allowed: tuple[str, ...], what: str, metric: str) -> str:
    if value not in allowed:
        raise SpecError(f"unknown {what} {value!r} for metric {metric!r}; choose one of {', '.join(allowed)}.")
    return str(value)


def _days(value: object, what: str) -> int | None:
    """``value`` as a whole number of days from 1 to 366 (``None`` stays ``None``), else a ``SpecError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 366:
        raise SpecError(f"{what} must be a whole number of days from 1 to 366, got {value!r}.")
    return value


def _positive(value: object, what: str) -> float | None:
    """``value`` as a finite number > 0 (``None`` stays ``None``), else a ``SpecError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise SpecError(f"{what} must be a finite number > 0, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class Covariate:
    """A covariate of a metric read from other telemetry (``covariates = [...]`` in a spec).

    Two forms:

    * a pre-period window of another SQL (``days`` set): the SQL returns ``unit``, ``ts`` and ``value``; each
      unit's rows in ``[first exposure − days, first exposure)`` are reduced with ``aggregate`` (e.g. the orders
      of the 14 days before exposure, for a revenue metric);
    * a per-unit value that needs no window (``days`` left out): the SQL returns ``unit`` and ``value`` — e.g. a
      model's prediction of the metric from pre-exposure features (CUPAC) — reduced per unit with ``aggregate``
      (one row per unit is expected; the default ``sum`` adds duplicates). The value must not depend on the
      treatment: compute it from data before exposure.

    Units without rows get 0, as for metrics.

    Args:
        name: Identifier of the covariate in results (letters, digits, underscores; not ``y``, ``d``, ``x`` or
            ``w``, which name the metric's own variables).
        sql: One ``SELECT`` returning ``unit``, (``ts``,) ``value``.
        days: Length of the pre-period window in days (1 to 366), or ``None`` for a per-unit value.
        aggregate: How a unit's rows become its value: ``sum`` (default), ``count``, ``max`` or ``any``.
    """

    name: str
    sql: str
    days: int | None = None
    aggregate: Aggregate = "sum"
    _parsed: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise SpecError(f"covariate name must be a string, got {self.name!r}.")
        validate_identifier(self.name, "covariate name")
        if self.name in RESERVED_NAMES:
            raise SpecError(
                f"covariate name {self.name!r} is reserved ({', '.join(RESERVED_NAMES)} name the metric's own "
                "outcome, denominator and pre-periods); choose another name."
            )
        _days(self.days, f"`days` of covariate {self.name!r}")
        _choice(self.aggregate, AGGREGATES, "aggregate", f"covariate {self.name!r}")
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise SpecError(f"covariate {self.name!r} needs `sql` (a SELECT returning unit, [ts,] value).")
        object.__setattr__(self, "_parsed", _parse_select(self.sql, self.name, "covariate"))

    @classmethod
    def from_dict(cls, data: object) -> Covariate:
        """Build a covariate from a TOML/JSON table, naming unknown keys."""
        if isinstance(data, Covariate):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(
                "an entry of `covariates` must be a table with `name`, `sql` and optionally `days` and `aggregate`, "
                f"got {data!r}."
            )
        unknown = sorted(set(data) - set(_COVARIATE_KEYS))
        if unknown:
            raise SpecError(
                f"covariate {data.get('name', '<unnamed>')!r} has unknown key(s) {', '.join(map(str, unknown))}; "
                f"allowed: {', '.join(_COVARIATE_KEYS)}."
            )
        if "name" not in data or "sql" not in data:
            raise SpecError(f"covariate {data.get('name', '<unnamed>')!r} needs `name` and `sql`.")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping that :meth:`from_dict` turns back into this covariate."""
        data: dict[str, Any] = {"name": self.name, "sql": self.sql, "aggregate": self.aggregate}
        if self.days is not None:
            data["days"] = self.days
        return data

    @property
    def windowed(self) -> bool:
        """Whether the covariate is a pre-period window (``days``) rather than a per-unit value."""
        return self.days is not None

    @property
    def query(self) -> exp.Query:
        """The covariate's SQL as a SQLGlot tree (a fresh copy)."""
        parsed: exp.Query = self._parsed
        return parsed.copy()

    def as_metric(self, owner: str) -> Metric:
        """The covariate as a metric of its own (same SQL, aggregate and window), for the per-unit step."""
        return Metric(f"{owner}_{self.name}", Sql(self.sql, covariate_days=self.days), aggregate=self.aggregate)


@dataclass(frozen=True)
class Sql:
    """Where an event-level metric's values come from: SQL over the telemetry (``sql = ...`` in a spec).

    The analysis joins the rows to the exposures (rows at or after a unit's first exposure, and before ``as_of``),
    reduces them per unit with the metric's ``aggregate`` (units without rows count as 0), then to sums per arm.

    Args:
        select: One ``SELECT`` returning ``unit``, ``ts`` and a numeric ``value`` (spec key ``sql``).
        denominator: For a ratio metric: the denominator's SQL (``unit``, ``ts``, ``value``), reduced per unit with
            ``denominator_aggregate``. The metric is Σ numerator / Σ denominator over units (e.g. revenue per session
            with users randomised), analysed by the delta method (spec key ``denominator_sql``).
        denominator_aggregate: How a unit's denominator rows become its value (default ``"sum"``).
        covariate_days: If set, the same SQL over the ``covariate_days`` days before each unit's first exposure
            gives a pre-period covariate (its sums feed variance reduction). For a ratio metric, the numerator's
            and the denominator's SQL over those days give the pre-period ratio that adjusts it (ratio CUPED).
        covariates: Covariates from other telemetry (:class:`Covariate`, or tables with ``name``, ``sql`` and
            optionally ``days`` and ``aggregate``): several covariates adjust the metric by regression
            (multivariate CUPED; CUPAC with a model's prediction). Not for ratio metrics.
        window_hours: Conversion window: only a unit's rows with ``exposed_at <= ts < exposed_at + window_hours``
            (and before ``as_of``) count; a finite number > 0. A ratio's denominator takes the same window; the
            pre-period of covariates is not affected.
    """

    select: str
    denominator: str | None = None
    denominator_aggregate: Aggregate = "sum"
    covariate_days: int | None = None
    covariates: tuple[Covariate, ...] = ()
    window_hours: float | None = None


@dataclass(frozen=True)
class Column:
    """Where a unit-level metric's values come from: columns of a table with one row per unit (``column = ...``).

    For exposures at unit level (``ExposureSource(level="unit")``), whose rows carry each unit's metric values
    already computed. A proportion counts a unit with a value > 0 as a success; NULL counts as 0.

    Args:
        name: The column holding the unit's value (spec key ``column``).
        denominator: For a ratio metric: the column holding the unit's denominator (``denominator_column``).
        covariate: The column holding the unit's pre-period covariate, for CUPED (``covariate_column``).
        covariates: Further columns holding covariates, each named after its column in the results
            (``covariate_columns``).
    """

    name: str
    denominator: str | None = None
    covariate: str | None = None
    covariates: tuple[str, ...] = ()


#: Spec keys of a metric table that describe its source, and the field of :class:`Sql` / :class:`Column` each fills.
_SQL_KEYS = {
    "sql": "select",
    "denominator_sql": "denominator",
    "denominator_aggregate": "denominator_aggregate",
    "covariate_days": "covariate_days",
    "covariates": "covariates",
    "window_hours": "window_hours",
}
_COLUMN_KEYS = {
    "column": "name",
    "denominator_column": "denominator",
    "covariate_column": "covariate",
    "covariate_columns": "covariates",
}
#: What a unit-level metric uses instead of an event-level key, and the other way round (for error messages).
_UNIT_LEVEL_HINTS = {
    "sql": "use covariate_column / denominator_column, or drop `column` and use SQL.",
    "window_hours": "`window_hours` needs event rows; compute the window where the table is built, or use SQL.",
    "covariates": "name its covariates with `covariate_columns`, not `covariates` (which are SQL over events).",
}
_EVENT_LEVEL_HINTS = {
    "column": "`sql`",
    "denominator_column": "denominator_sql",
    "covariate_column": "covariate_days",
    "covariate_columns": "`covariates` (or covariate_days)",
}


@dataclass(frozen=True)
class Metric:
    """One metric of an experiment.

    Args:
        name: Identifier used in results and SQL aliases (letters, digits, underscores).
        source: Where the values come from: :class:`Sql` over event-level telemetry, or a :class:`Column` of a
            unit-level exposures table. A spec names the source by its keys (``sql``, ``denominator_sql``,
            ``covariate_days``, ``covariates``, ``window_hours``, ``denominator_aggregate``; or ``column``,
            ``denominator_column``, ``covariate_column``, ``covariate_columns``): see :meth:`from_dict`.
        kind: ``"mean"`` (per-unit value averaged over units; Welch t-test), ``"proportion"`` (per-unit 0/1
            indicator; z-test with Bernoulli variance p(1−p)) or ``"ratio"`` (needs the source's ``denominator``).
        role: ``"goal"`` (decides shipping), ``"guardrail"`` (must not get worse) or ``"secondary"``.
        direction: Which way is better: ``"increase"`` or ``"decrease"``.
        aggregate: How a unit's rows become its value: ``"sum"`` (default for means), ``"count"`` of rows,
            ``"max"``, or ``"any"`` (1 if any row has value > 0; the default for proportions). A unit-level column
            is one value per unit already: ``"sum"`` takes it as is, ``"any"`` as the indicator value > 0.
        margin: Non-inferiority margin for a guardrail, relative to the control mean (0.02: the treatment may not
            be worse by 2% or more). A guardrail with a margin must pass its one-sided test before an arm ships.
        quantiles: Quantile levels (e.g. ``[0.5, 0.9, 0.99]``) whose differences the report shows, with a
            Mann–Whitney test, from a bounded sample of per-unit values.
        description: The quality of concern in words.
        cap: Winsorise each unit's value at this upper cap (a finite number > 0: units without rows count as 0,
            which a cap must not move) after it is reduced per unit and before the sums. Covariates of the metric
            are capped at the same number; a ratio's denominator (and its pre-period) is not capped. Not for
            proportions or ``aggregate = "any"`` (0/1 per unit).
        cap_quantile: Instead of ``cap``, cap at this quantile (in (0, 1), e.g. 0.99) of the per-unit values over
            every analysed unit (both arms pooled, units in several arms left out), computed in the engine in the
            same query (linear interpolation, as numpy's default percentile). Each covariate is capped at the same
            quantile of its own per-unit values. The caps used are returned in ``Aggregates.caps``.
        prior: A proper prior for the Bayesian panel (:func:`abnb.stats.chance_to_beat`): for a proportion
            ``[a, b]`` of a Beta(a, b) prior on each arm's rate (both > 0; default Beta(1, 1)); for a mean
            ``[mean, sd]`` of a normal prior on the relative lift (sd > 0; default flat). Not for ratios.
        interval: Interval of a proportion's difference: ``"wald"`` (default; agrees with the z-test),
            ``"newcombe"`` (hybrid score, stays within [−1, 1]) or ``"agresti-caffo"``; with either of the last two
            the lift gets Koopman's score interval for the ratio of rates. The p-value stays the z-test's.
    """

    name: str
    source: Sql | Column
    kind: Kind = "mean"
    role: Role = "goal"
    direction: Direction = "increase"
    aggregate: Aggregate | None = None
    margin: float | None = None
    quantiles: tuple[float, ...] = ()
    description: str = ""
    cap: float | None = None
    cap_quantile: float | None = None
    prior: tuple[float, float] | None = None
    interval: str = "wald"
    _parsed: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_bayes_and_interval()
        self._check_choices()
        self._check_quantiles()
        if isinstance(self.source, Sql):
            self._check_sql(self.source)
        elif isinstance(self.source, Column):
            self._check_columns(self.source)
        else:
            raise SpecError(
                f"the source of metric {self.name!r} must be abnb.Sql(...) (a SELECT returning unit, ts, value) or, "
                f"for unit-level exposures, abnb.Column(...); got {self.source!r}."
            )
        self._check_caps(f"metric {self.name!r}")
        self._check_covariates(f"metric {self.name!r}")

    def _check_choices(self) -> None:
        """Validate the name, the keys with a fixed set of values and ``margin``."""
        validate_identifier(self.name, "metric name")
        _choice(self.kind, KINDS, "metric kind", self.name)
        _choice(self.role, ROLES, "role", self.name)
        _choice(self.direction, DIRECTIONS, "direction", self.name)
        if self.aggregate is None:
            object.__setattr__(self, "aggregate", "any" if self.kind == "proportion" else "sum")
        _choice(self.aggregate, AGGREGATES, "aggregate", self.name)
        if self.margin is not None and (
            isinstance(self.margin, bool) or not isinstance(self.margin, int | float) or not 0 < self.margin < 1
        ):
            raise SpecError(
                f"margin of metric {self.name!r} is relative to the control mean and must lie in (0, 1), "
                f"got {self.margin!r}."
            )

    def _check_quantiles(self) -> None:
        """Validate ``quantiles`` (levels in (0, 1), kept as a tuple; not for ratios)."""
        if not isinstance(self.quantiles, list | tuple) or not all(
            isinstance(q, float) and 0 < q < 1 for q in self.quantiles
        ):
            raise SpecError(
                f"quantiles of metric {self.name!r} must be a list of levels in (0, 1) such as [0.5, 0.9], "
                f"got {self.quantiles!r}."
            )
        object.__setattr__(self, "quantiles", tuple(self.quantiles))
        if self.quantiles and self.kind == "ratio":
            raise SpecError(f"metric {self.name!r}: quantiles need per-unit values; a ratio metric has none.")

    def _check_sql(self, source: Sql) -> None:
        """Validate an event-level source: its SQL parses and reaches only tables, a ratio has its denominator."""
        where = f"metric {self.name!r}"
        if not isinstance(source.select, str) or not source.select.strip():
            raise SpecError(
                f"{where} needs `sql` (a SELECT returning unit, ts, value) or, for unit-level exposures, `column`."
            )
        if (self.kind == "ratio") != (source.denominator is not None):
            raise SpecError(
                f"{where}: a ratio metric needs `denominator_sql`, and only a ratio metric takes one "
                f"(kind is {self.kind!r})."
            )
        _choice(source.denominator_aggregate, AGGREGATES, "denominator_aggregate", self.name)
        _days(source.covariate_days, f"covariate_days of {where}")
        window = _positive(source.window_hours, f"`window_hours` of {where}")
        covariates = source.covariates
        if isinstance(covariates, Mapping | str) or not isinstance(covariates, Sequence):
            raise SpecError(f"`covariates` of {where} must be an array of tables, got {covariates!r}.")
        try:
            parsed = tuple(Covariate.from_dict(entry) for entry in covariates)
        except SpecError as error:
            raise SpecError(f"{where}, key `covariates`: {error}") from None
        object.__setattr__(source, "window_hours", window)
        object.__setattr__(source, "covariates", parsed)
        object.__setattr__(self, "_parsed", _parse_select(source.select, self.name))
        if source.denominator is not None:  # what a ratio's denominator reads is checked at load too
            _parse_select(source.denominator, f"{self.name}_denominator")

    def _check_columns(self, source: Column) -> None:
        """Validate a unit-level source: identifiers only, a ratio has its denominator column."""
        where = f"metric {self.name!r}"
        validate_identifier(source.name, f"column of {where}")
        for what, value in (("covariate_column", source.covariate), ("denominator_column", source.denominator)):
            if value is not None:
                validate_identifier(value, f"{what} of {where}")
        columns = source.covariates
        if isinstance(columns, str) or not isinstance(columns, Sequence):
            raise SpecError(f"`covariate_columns` of {where} must be an array of column names, got {columns!r}.")
        for column in columns:
            if not isinstance(column, str):
                raise SpecError(f"`covariate_columns` of {where} must hold column names, got {column!r}.")
            validate_identifier(column, f"covariate_columns of {where}")
        object.__setattr__(source, "covariates", tuple(columns))
        if self.aggregate not in ("sum", "any"):
            raise SpecError(
                f"{where}: a unit-level column is already one value per unit, so aggregate {self.aggregate!r} does "
                "not apply; leave aggregate out."
            )
        if (self.kind == "ratio") != (source.denominator is not None):
            raise SpecError(
                f"{where}: a ratio metric over a unit-level table needs `denominator_column`, and only a ratio "
                f"metric takes one (kind is {self.kind!r})."
            )

    def _check_caps(self, where: str) -> None:
        """Validate ``cap`` and ``cap_quantile`` (kept as floats): at most one, not for 0/1 values."""
        object.__setattr__(self, "cap", _positive(self.cap, f"`cap` of {where}"))
        quantile = self.cap_quantile
        if quantile is not None and (
            isinstance(quantile, bool) or not isinstance(quantile, int | float) or not 0 < quantile < 1
        ):
            raise SpecError(f"`cap_quantile` of {where} is a quantile level in (0, 1) such as 0.99, got {quantile!r}.")
        if quantile is not None:
            object.__setattr__(self, "cap_quantile", float(quantile))
        if self.cap is not None and self.cap_quantile is not None:
            raise SpecError(f"{where} has both `cap` and `cap_quantile`; choose one (a fixed cap or a quantile).")
        if self.capped and (self.kind == "proportion" or self.aggregate == "any"):
            key = "cap" if self.cap is not None else "cap_quantile"
            raise SpecError(
                f"{where}: `{key}` does not apply to a proportion or to aggregate 'any' (each unit's value is 0 or "
                f"1); remove `{key}`."
            )

    def _check_covariates(self, where: str) -> None:
        """Refuse covariates on a ratio (it has its own pre-period ratio) and covariates named twice."""
        if self.kind == "ratio" and (self.covariates or self.covariate_columns or self.covariate_column is not None):
            key = (
                "covariates"
                if self.covariates
                else "covariate_columns"
                if self.covariate_columns
                else "covariate_column"
            )
            raise SpecError(
                f"{where}: a ratio metric is adjusted by its own pre-period ratio (`covariate_days`, ratio CUPED); "
                f"`{key}` is not supported for ratio metrics."
            )
        names = self.variables
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise SpecError(
                f"{where}: covariate names must be unique, but {', '.join(map(repr, twice))} appear(s) twice "
                "(a covariate column counts once; covariate_column is named 'x')."
            )

    def _check_bayes_and_interval(self) -> None:
        """Validate ``prior`` (a pair of finite numbers, positive where they must be) and ``interval``."""
        if self.prior is not None:
            pair = self.prior
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
            ):
                raise SpecError(
                    f"prior of metric {self.name!r} must be two numbers: [a, b] of a Beta prior for a proportion, "
                    f"[mean, sd] of a normal prior on the lift for a mean; got {pair!r}."
                )
            if self.kind == "ratio":
                raise SpecError(f"metric {self.name!r}: a ratio metric has no Bayesian panel; remove `prior`.")
            first, second = float(pair[0]), float(pair[1])
            if second <= 0 or (self.kind == "proportion" and first <= 0):
                raise SpecError(
                    f"prior of metric {self.name!r}: "
                    + ("both Beta parameters must be > 0" if self.kind == "proportion" else "the sd must be > 0")
                    + f", got {list(pair)!r}."
                )
            object.__setattr__(self, "prior", (first, second))
        _choice(self.interval, INTERVALS, "interval", self.name)
        if self.interval != "wald" and self.kind != "proportion":
            raise SpecError(
                f"metric {self.name!r}: interval {self.interval!r} is for proportions (a score interval of two rates); "
                f"this metric is a {self.kind}."
            )

    @property
    def unit_level(self) -> bool:
        """Whether the metric reads a column of a unit-level table (its source is a :class:`Column`)."""
        return isinstance(self.source, Column)

    @property
    def column(self) -> str | None:
        """The unit-level column holding the value (``None`` for SQL)."""
        return self.source.name if isinstance(self.source, Column) else None

    @property
    def covariate_column(self) -> str | None:
        """The unit-level column holding the pre-period covariate (``None`` for SQL or without one)."""
        return self.source.covariate if isinstance(self.source, Column) else None

    @property
    def denominator_column(self) -> str | None:
        """The unit-level column holding a ratio's denominator (``None`` for SQL or other kinds)."""
        return self.source.denominator if isinstance(self.source, Column) else None

    @property
    def covariate_columns(self) -> tuple[str, ...]:
        """Further unit-level covariate columns (empty for SQL)."""
        return self.source.covariates if isinstance(self.source, Column) else ()

    @property
    def covariate_days(self) -> int | None:
        """Days of the pre-period of the metric's own SQL (``None`` for a column, or without one)."""
        return self.source.covariate_days if isinstance(self.source, Sql) else None

    @property
    def covariates(self) -> tuple[Covariate, ...]:
        """Covariates from other telemetry (empty for a column)."""
        return self.source.covariates if isinstance(self.source, Sql) else ()

    @property
    def window_hours(self) -> float | None:
        """The conversion window in hours (``None`` for a column, or without one)."""
        return self.source.window_hours if isinstance(self.source, Sql) else None

    @property
    def has_covariate(self) -> bool:
        """Whether the metric has a pre-period covariate (``covariate_days`` or ``covariate_column``).

        For a ratio metric, ``covariate_days`` means ratio CUPED: the pre-period numerator ``x`` and denominator
        ``w`` (see :attr:`variables`).
        """
        return self.covariate_days is not None or self.covariate_column is not None

    @property
    def capped(self) -> bool:
        """Whether each unit's value is capped (``cap`` or ``cap_quantile``)."""
        return self.cap is not None or self.cap_quantile is not None

    @property
    def variables(self) -> tuple[str, ...]:
        """The per-unit variables of the metric, as named in :class:`~abnb.stats.JointMoments`.

        ``y`` (the value), ``d`` (a ratio's denominator), ``x`` (the pre-period of the metric's own SQL, or
        ``covariate_column``), ``w`` (a ratio denominator's pre-period), then the names of ``covariates`` or the
        ``covariate_columns``.
        """
        if self.kind == "ratio":
            return ("y", "d", "x", "w") if self.covariate_days is not None else ("y", "d")
        own = ("x",) if self.has_covariate else ()
        return ("y", *own, *(c.name for c in self.covariates), *self.covariate_columns)

    @property
    def adjusted_by(self) -> tuple[str, ...]:
        """The covariates that adjust the metric (its :attr:`variables` after ``y``, and ``d`` for a ratio)."""
        return tuple(v for v in self.variables if v not in ("y", "d"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping with the spec's keys (covariates as tables), which :meth:`from_dict` turns back."""
        data: dict[str, Any] = {"name": self.name}
        keys = _SQL_KEYS if isinstance(self.source, Sql) else _COLUMN_KEYS
        data.update({key: getattr(self.source, attribute) for key, attribute in keys.items()})
        if isinstance(self.source, Sql):
            data["covariates"] = [c.to_dict() for c in self.source.covariates]
        else:
            data["covariate_columns"] = list(self.source.covariates)
        data.update(
            {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name not in ("name", "source")}
        )
        return data

    @property
    def query(self) -> exp.Query:
        """The metric's SQL as a SQLGlot tree (a fresh copy each time, ready to embed).

        Raises:
            SpecError: The metric reads a unit-level column and has no SQL.
        """
        parsed: exp.Query | None = self._parsed
        if parsed is None:
            raise SpecError(f"metric {self.name!r} reads column {self.column!r} of a unit-level table and has no SQL.")
        return parsed.copy()

    @property
    def denominator(self) -> Metric | None:
        """The denominator of a ratio metric as a metric of its own (``None`` for other kinds)."""
        source = self.source
        if source.denominator is None:
            return None
        if isinstance(source, Column):
            return Metric(f"{self.name}_denominator", Column(source.denominator))
        return Metric(
            f"{self.name}_denominator",
            Sql(
                source.denominator,
                covariate_days=source.covariate_days,  # ratio CUPED: the denominator's pre-period w
                window_hours=source.window_hours,  # a denominator counts in its metric's window
            ),
            kind="mean",
            aggregate=source.denominator_aggregate,
        )

    @property
    def higher_is_better(self) -> bool:
        """Whether an increase is an improvement."""
        return self.direction == "increase"

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a spec's metric table may hold: the metric's own, then those of :class:`Sql` and :class:`Column`."""
        own = tuple(f.name for f in fields(cls) if f.init and f.name != "source")
        return (*own, *_SQL_KEYS, *_COLUMN_KEYS)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metric:
        """Build a metric from a spec's table: the source from its keys (:class:`Sql` or :class:`Column`).

        Raises:
            SpecError: An unknown key, neither or both of ``sql`` and ``column``, or a key of the other source.
        """
        own = {f.name for f in fields(cls) if f.init} - {"source"}
        name = data.get("name", "<unnamed>")
        unknown = sorted(set(data) - own - set(_SQL_KEYS) - set(_COLUMN_KEYS))
        if unknown:
            allowed = sorted(own | set(_SQL_KEYS) | set(_COLUMN_KEYS))
            raise SpecError(f"metric {name!r} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}.")
        if "name" not in data or ("sql" not in data and "column" not in data):
            raise SpecError(f"metric {name!r} needs `name` and either `sql` or (unit-level exposures) `column`.")
        unit_level = "column" in data
        keys, other = (_COLUMN_KEYS, _SQL_KEYS) if unit_level else (_SQL_KEYS, _COLUMN_KEYS)
        clashes = [key for key in other if data.get(key) not in (None, [], ())]
        if clashes:
            key = clashes[0]
            if unit_level:
                raise SpecError(
                    f"metric {name!r} reads `column` {data['column']!r} of a unit-level table, which is already one "
                    f"value per unit, so it takes no {key}: {_UNIT_LEVEL_HINTS.get(key, _UNIT_LEVEL_HINTS['sql'])}"
                )
            raise SpecError(
                f"metric {name!r}: keys such as `{key}` go with `column` (unit-level exposures); with `sql`, use "
                f"{_EVENT_LEVEL_HINTS[key]}."
            )
        for key in ("covariates", "covariate_columns"):
            if key in data and not isinstance(data[key], list | tuple):
                raise SpecError(f"`{key}` of metric {name!r} must be an array, got {data[key]!r}.")
        found = {attribute: data[key] for key, attribute in keys.items() if key in data and data[key] is not None}
        source = Column(**found) if unit_level else Sql(**found)
        return cls(source=source, **{key: value for key, value in data.items() if key in own})

    def describe(self) -> str:
        """A plain-text description: the quality, its operationalization and how it is analysed."""
        lines = [
            f"{self.name} ({self.kind}, {self.role}, {self.direction} is better)",
            f"  quality: {self.description or '(not described)'}",
        ]
        if isinstance(self.source, Column):
            lines.append(f"  per unit: column {self.source.name} of the unit-level table")
            if self.source.covariate:
                lines.append(f"  covariate: column {self.source.covariate}")
            lines += [f"  covariate: column {column}" for column in self.source.covariates]
        else:
            lines += [
                f"  per unit: {self.aggregate} of value after first exposure",
                f"  sql: {' '.join(self.source.select.split())}",
            ]
            if self.source.covariate_days:
                lines.append(f"  covariate: the same SQL over {self.source.covariate_days} days before exposure")
            for covariate in self.source.covariates:
                window = f"over {covariate.days} days before exposure" if covariate.days else "per unit (no window)"
                lines.append(
                    f"  covariate {covariate.name}: {covariate.aggregate} of {' '.join(covariate.sql.split())} {window}"
                )
            if self.source.window_hours is not None:
                lines.append(f"  window: rows within {self.source.window_hours:g} hours of first exposure")
        if self.cap is not None:
            lines.append(f"  capped at {self.cap:g} per unit")
        if self.cap_quantile is not None:
            lines.append(f"  capped at the P{100 * self.cap_quantile:g} of per-unit values")
        return "\n".join(lines)


def _parse_select(sql: str, name: str, what: str = "metric") -> exp.Query:
    """Parse one SELECT of a ``what`` (metric or covariate) called ``name``, or raise a ``SpecError`` naming it."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as error:
        raise SpecError(f"the SQL of {what} {name!r} does not parse: {str(error).splitlines()[0]}") from error
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SpecError(
            f"the SQL of {what} {name!r} must be exactly one SELECT statement returning unit, ts, value "
            f"(found {len(statements)} statement(s): {', '.join(type(s).__name__ for s in statements)})."
        )
    _check_reach(statements[0], name, what)
    return statements[0]


# Table functions metric SQL may use: they generate rows and read nothing.
_ROW_GENERATORS = ("GenerateSeries", "Unnest", "ExplodingGenerateSeries")
# Functions that read files, URLs, other databases, the environment or the engine's settings, or run SQL text.
_REACHING = re.compile(
    r"^(read_\w+|\w+_scan|\w+_attach|\w+_metadata|\w+_schema|glob|getenv|query|query_table|current_setting|"
    r"duckdb_secrets|which_secret|load_extension|install_extension|sniff_csv|iceberg_\w+|delta_\w+)$",
    re.IGNORECASE,
)
_FILE_NAME = re.compile(
    r"[/\\:]|\.(csv|tsv|txt|parquet|pq|json|jsonl|ndjson|gz|zst|db|duckdb|sqlite|xlsx)$", re.IGNORECASE
)


def _check_reach(query: exp.Query, name: str, what: str) -> None:
    """Refuse metric SQL that reaches beyond tables and views, or that carries parameters (docs/security.md).

    Metric SQL may read the engine's tables and views (the database's, the project's ``[sources]``, registered
    frames) and generate rows (``range``, ``generate_series``, ``unnest``); it may not name a file
    (``FROM 'x.csv'``), call a function that reads files, URLs or other databases (``read_csv``, ``read_text``,
    ``glob``, ``sqlite_scan`` ...), run SQL text (``query``) or read the environment (``getenv``). On DuckDB the
    engine enforces the same boundary (:func:`abnb.engine.restrict_access`); this check names the metric before any
    query runs, on every engine.

    Raises:
        SpecError: naming the metric and the function, file or parameter.
    """
    from sqlglot import exp

    where = f"the SQL of {what} {name!r}"
    fix = (
        "metric SQL may read only tables and views: declare files in abnb.toml [sources] (they become views) and "
        "select from the view; see docs/security.md."
    )
    for parameter in query.find_all(exp.Placeholder, exp.Parameter):
        shown = parameter.sql(dialect="duckdb")
        raise SpecError(
            f"{where} contains the parameter {shown}: metric SQL must not contain parameters ($name or ?). abnb "
            "binds its own cutoffs (the spec's start/end and as_of); write constant values into the SQL."
        )
    for table in query.find_all(exp.Table):
        target = table.this
        if isinstance(target, exp.Func) and type(target).__name__ not in _ROW_GENERATORS:
            reader = target.sql_name() if not isinstance(target, exp.Anonymous) else str(target.this)
            raise SpecError(f"{where} reads the table function {reader.lower()}(...): {fix}")
        parts = [part.name for part in table.parts]
        if any(_FILE_NAME.search(part) for part in parts if isinstance(part, str)):
            raise SpecError(f"{where} names the file {'.'.join(parts)!r} as a table: {fix}")
    for function in query.find_all(exp.Func):
        named = str(function.this) if isinstance(function, exp.Anonymous) else function.sql_name()
        if _REACHING.match(named or ""):
            raise SpecError(f"{where} calls {named.lower()}(...), which reaches outside the telemetry: {fix}")


@dataclass(frozen=True)
class Telemetry:
    """A data collection procedure: what is logged, who triggers it, how much of it, how late, with which bias.

    Args:
        table: Table the events land in.
        events: What one row records, in words.
        trigger: Who or what produces a row (the model on every request, a user who answers a prompt, ...).
        key: Column that links a row to the population it describes (request id, user id).
        ts: Column with the event time.
        sampling: Probability that an eligible event is logged (1.0: all of them).
        weight_column: Column holding each row's inclusion probability π, when rows were sampled unequally.
        delay_days: Days until the data of an event arrive (0 for immediate logging; 7 for a fare known later).
        known_bias: Who is over- or under-represented, in words (e.g. unhappy users answer more often).
    """

    table: str
    events: str
    trigger: str
    key: str = "unit"
    ts: str = "ts"
    sampling: float = 1.0
    weight_column: str | None = None
    delay_days: float = 0.0
    known_bias: str = ""

    def __post_init__(self) -> None:
        validate_identifier(self.table, "telemetry table")
        validate_identifier(self.key, "telemetry key column")
        validate_identifier(self.ts, "telemetry ts column")
        if self.weight_column is not None:
            validate_identifier(self.weight_column, "telemetry weight column")
        if isinstance(self.sampling, bool) or not isinstance(self.sampling, int | float) or not 0 < self.sampling <= 1:
            raise SpecError(f"sampling of telemetry {self.table!r} must lie in (0, 1], got {self.sampling!r}.")
        if isinstance(self.delay_days, bool) or not isinstance(self.delay_days, int | float) or self.delay_days < 0:
            raise SpecError(f"delay_days of telemetry {self.table!r} must be >= 0, got {self.delay_days!r}.")


@dataclass(frozen=True)
class TelemetryCheck:
    """What the data say about a telemetry design: volume, coverage of the population, completeness, weights."""

    table: str
    rows: int
    keys: int
    first_ts: Any
    last_ts: Any
    population: int | None
    coverage: float | None
    matured_coverage: float | None
    invalid_weights: int | None
    issues: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No issue found."""
        return not self.issues

    def to_frame(self) -> Any:
        """One row with every measured quantity."""
        import pandas as pd

        return pd.DataFrame([{f.name: getattr(self, f.name) for f in fields(self) if f.name != "issues"}])

    def __repr__(self) -> str:
        coverage = "n/a" if self.coverage is None else f"{self.coverage:.1%}"
        status = "ok" if self.ok else "; ".join(self.issues)
        return f"TelemetryCheck({self.table!r}: {self.rows:,} rows, {self.keys:,} keys, coverage {coverage}; {status})"


@dataclass(frozen=True)
class TelemetryDesign:
    """The three steps of measuring a quality in production, as one object.

    1. **Metric**: the quality of concern, in words (``quality``).
    2. **Telemetry**: the data collection procedure (:class:`Telemetry`).
    3. **Operationalization**: the SQL that turns the telemetry into numbers (a :class:`Metric`), with the
       assumptions under which it measures the quality.

    Args:
        quality: The quality of concern (e.g. "precision of the profanity filter").
        telemetry: How the data are collected.
        operationalization: The metric computed from the telemetry.
        assumptions: What must hold for the operationalization to measure the quality.
    """

    quality: str
    telemetry: Telemetry
    operationalization: Metric
    assumptions: tuple[str, ...] = ()

    def describe(self) -> str:
        """The three steps in plain text."""
        t = self.telemetry
        lines = [
            f"Metric: {self.quality}",
            f"Telemetry: {t.events} in table {t.table!r}, triggered by {t.trigger}",
            f"  sampling {t.sampling:g}"
            + (f", inclusion probability in {t.weight_column!r}" if t.weight_column else "")
            + (f", arrives after {t.delay_days:g} days" if t.delay_days else ", immediate"),
        ]
        if t.known_bias:
            lines.append(f"  known bias: {t.known_bias}")
        lines.append(
            "Operationalization:\n" + "\n".join("  " + line for line in self.operationalization.describe().splitlines())
        )
        lines += [f"  assumes: {a}" for a in self.assumptions]
        return "\n".join(lines)

    def check(
        self,
        connection: Any,
        *,
        population: str | None = None,
        population_key: str | None = None,
        population_ts: str = "ts",
        as_of: Any = None,
        min_rows: int = 1000,
    ) -> TelemetryCheck:
        """Measure, in one aggregate query per table, whether the telemetry supports the metric.

        Volume and time range of the telemetry; with a ``population`` table (e.g. every prediction), the share of
        its keys that have telemetry (coverage), also among events older than ``delay_days`` (matured coverage:
        what the completeness will be once late data have arrived); invalid inclusion probabilities (missing or
        outside (0, 1]) when the design declares a weight column.

        Raises:
            SchemaError: A table or column is missing.
        """
        from sqlglot import exp

        from abnb.engine import as_connection, identifier

        con = as_connection(connection)
        t = self.telemetry
        table = exp.Table(this=identifier(t.table, "telemetry table"))
        key, ts = exp.Column(this=identifier(t.key, "key column")), exp.Column(this=identifier(t.ts, "ts column"))
        selects: list[exp.Expression] = [
            exp.Count(this=exp.Star()),
            exp.Count(this=exp.Distinct(expressions=[key])),
            exp.Min(this=ts.copy()),
            exp.Max(this=ts.copy()),
        ]
        if t.weight_column:
            weight = exp.Column(this=identifier(t.weight_column, "weight column"))
            valid = exp.and_(
                exp.GT(this=weight, expression=exp.Literal.number(0)),
                exp.LTE(this=weight.copy(), expression=exp.Literal.number(1)),
            )
            selects.append(exp.Sum(this=exp.Case().when(valid, exp.Literal.number(0)).else_(exp.Literal.number(1))))
        row = con.run(exp.select(*selects).from_(table)).rows[0]
        rows, keys, first_ts, last_ts = int(row[0]), int(row[1]), row[2], row[3]
        invalid = int(row[4] or 0) if t.weight_column else None
        issues: list[str] = []
        if rows < min_rows:
            issues.append(f"only {rows:,} rows in {t.table!r} (fewer than {min_rows:,}): too little volume to measure")
        if invalid:
            issues.append(f"{invalid:,} rows have a missing or invalid inclusion probability in {t.weight_column!r}")
        coverage = matured = None
        total = None
        if population is not None:
            total, coverage, matured = self._coverage(con, population, population_key or t.key, population_ts, as_of)
            expected = t.sampling
            if matured is not None and matured < 0.95 * expected:
                issues.append(
                    f"only {matured:.1%} of matured {population!r} keys have telemetry (sampling {expected:g} "
                    "expected): events are lost or the key does not join"
                )
        return TelemetryCheck(t.table, rows, keys, first_ts, last_ts, total, coverage, matured, invalid, tuple(issues))

    def _coverage(
        self, con: Any, population: str, population_key: str, population_ts: str, as_of: Any
    ) -> tuple[int, float | None, float | None]:
        from datetime import datetime, timedelta

        from sqlglot import exp

        from abnb.engine import identifier

        t = self.telemetry
        p_key = exp.Column(this=identifier(population_key, "population key"), table=exp.to_identifier("p"))
        p_ts = exp.Column(this=identifier(population_ts, "population ts"), table=exp.to_identifier("p"))
        covered = (
            exp.Select()
            .select(exp.Literal.number(1))
            .from_(
                exp.Table(
                    this=identifier(t.table, "telemetry table"), alias=exp.TableAlias(this=exp.to_identifier("t"))
                )
            )
            .where(
                exp.EQ(this=exp.Column(this=identifier(t.key, "key"), table=exp.to_identifier("t")), expression=p_key)
            )
        )
        has = exp.Exists(this=covered)
        matured_at = exp.LT(this=p_ts, expression=exp.Placeholder(this="matured"))
        query = exp.select(
            exp.Count(this=exp.Star()),
            exp.Sum(this=exp.Case().when(has, exp.Literal.number(1)).else_(exp.Literal.number(0))),
            exp.Sum(this=exp.Case().when(matured_at, exp.Literal.number(1)).else_(exp.Literal.number(0))),
            exp.Sum(
                this=exp.Case()
                .when(exp.and_(matured_at.copy(), has.copy()), exp.Literal.number(1))
                .else_(exp.Literal.number(0))
            ),
        ).from_(
            exp.Table(
                this=identifier(population, "population table"), alias=exp.TableAlias(this=exp.to_identifier("p"))
            )
        )
        cutoff = as_of if isinstance(as_of, datetime) else datetime.max.replace(year=9000)
        if as_of is None:
            last = con.run(
                exp.select(exp.Max(this=p_ts.copy())).from_(
                    exp.Table(
                        this=identifier(population, "population table"),
                        alias=exp.TableAlias(this=exp.to_identifier("p")),
                    )
                )
            ).rows[0][0]
            cutoff = last if last is not None else cutoff
        matured = cutoff - timedelta(days=t.delay_days)
        total, with_data, old, old_with = (int(v or 0) for v in con.run(query, {"matured": matured}).rows[0])
        return total, (with_data / total if total else None), (old_with / old if old else None)
