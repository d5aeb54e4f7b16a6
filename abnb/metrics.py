"""Metrics: a quality of concern, the telemetry it reads, and its SQL operationalization.

A :class:`Metric` is a SQL query over telemetry that returns one row per observation with the columns
``unit`` (the randomisation unit), ``ts`` (when it happened) and ``value`` (a number). The analysis joins it to the
exposures (observations at or after the unit's first exposure only), reduces it to one value per unit with the
metric's ``aggregate`` (units without rows count as 0), and then to sufficient statistics per arm × segment —
all inside the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from abnb.engine import validate_identifier
from abnb.errors import SpecError

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = ["AGGREGATES", "DIRECTIONS", "KINDS", "ROLES", "Metric"]

Kind = Literal["mean", "proportion", "ratio"]
Role = Literal["goal", "guardrail", "secondary"]
Direction = Literal["increase", "decrease"]
Aggregate = Literal["sum", "count", "max", "any"]

KINDS: tuple[str, ...] = get_args(Kind)
ROLES: tuple[str, ...] = get_args(Role)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
METRIC_COLUMNS = ("unit", "ts", "value")


def _choice(value: object, allowed: tuple[str, ...], what: str, metric: str) -> str:
    if value not in allowed:
        raise SpecError(f"unknown {what} {value!r} for metric {metric!r}; choose one of {', '.join(allowed)}.")
    return str(value)


@dataclass(frozen=True)
class Metric:
    """One metric of an experiment.

    Args:
        name: Identifier used in results and SQL aliases (letters, digits, underscores).
        sql: A single ``SELECT`` over telemetry returning ``unit``, ``ts`` and a numeric ``value``.
        kind: ``"mean"`` (per-unit value averaged over units; Welch t-test), ``"proportion"`` (per-unit 0/1
            indicator; z-test with Bernoulli variance p(1−p)) or ``"ratio"`` (see ``denominator_sql``).
        role: ``"goal"`` (decides shipping), ``"guardrail"`` (must not get worse) or ``"secondary"``.
        direction: Which way is better: ``"increase"`` or ``"decrease"``.
        aggregate: How a unit's rows become its value: ``"sum"`` (default for means), ``"count"`` of rows,
            ``"max"``, or ``"any"`` (1 if any row has value > 0; the default for proportions).
        covariate_days: If set, the same SQL over the ``covariate_days`` days before each unit's first exposure
            gives a pre-period covariate (its sums feed variance reduction).
        denominator_sql: For ``kind="ratio"``: the denominator's SQL (``unit``, ``ts``, ``value``), reduced per
            unit with ``denominator_aggregate``. The metric is Σ numerator / Σ denominator over units (e.g. revenue
            per session with users randomised), analysed by the delta method.
        denominator_aggregate: How a unit's denominator rows become its value (default ``"sum"``).
        quantiles: Quantile levels (e.g. ``[0.5, 0.9, 0.99]``) whose differences the report shows, with a
            Mann–Whitney test, from a bounded sample of per-unit values.
        margin: Non-inferiority margin for a guardrail, relative to the control mean (0.02: the treatment may not
            be worse by 2% or more). A guardrail with a margin must pass its one-sided test before an arm ships.
        description: The quality of concern in words.
    """

    name: str
    sql: str
    kind: Kind = "mean"
    role: Role = "goal"
    direction: Direction = "increase"
    aggregate: Aggregate | None = None
    covariate_days: int | None = None
    margin: float | None = None
    denominator_sql: str | None = None
    denominator_aggregate: Aggregate = "sum"
    quantiles: tuple[float, ...] = ()
    description: str = ""
    _parsed: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_identifier(self.name, "metric name")
        _choice(self.kind, KINDS, "metric kind", self.name)
        _choice(self.role, ROLES, "role", self.name)
        _choice(self.direction, DIRECTIONS, "direction", self.name)
        if self.aggregate is None:
            object.__setattr__(self, "aggregate", "any" if self.kind == "proportion" else "sum")
        _choice(self.aggregate, AGGREGATES, "aggregate", self.name)
        if self.covariate_days is not None and (
            isinstance(self.covariate_days, bool)
            or not isinstance(self.covariate_days, int)
            or not 1 <= self.covariate_days <= 366
        ):
            raise SpecError(
                f"covariate_days of metric {self.name!r} must be a whole number of days from 1 to 366, "
                f"got {self.covariate_days!r}."
            )
        if self.margin is not None and (
            isinstance(self.margin, bool) or not isinstance(self.margin, int | float) or not 0 < self.margin < 1
        ):
            raise SpecError(
                f"margin of metric {self.name!r} is relative to the control mean and must lie in (0, 1), "
                f"got {self.margin!r}."
            )
        _choice(self.denominator_aggregate, AGGREGATES, "denominator_aggregate", self.name)
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
        if (self.kind == "ratio") != (self.denominator_sql is not None):
            raise SpecError(
                f"metric {self.name!r}: a ratio metric needs `denominator_sql`, and only a ratio metric takes one "
                f"(kind is {self.kind!r})."
            )
        if self.kind == "ratio" and self.covariate_days is not None:
            raise SpecError(
                f"metric {self.name!r}: CUPED for ratio metrics is not supported yet; remove covariate_days."
            )
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise SpecError(f"metric {self.name!r} needs `sql`: a SELECT returning unit, ts, value.")
        object.__setattr__(self, "_parsed", _parse_select(self.sql, self.name))

    @property
    def query(self) -> exp.Query:
        """The metric's SQL as a SQLGlot tree (a fresh copy each time, ready to embed)."""
        parsed: exp.Query = self._parsed
        return parsed.copy()

    @property
    def denominator(self) -> Metric | None:
        """The denominator of a ratio metric as a metric of its own (``None`` for other kinds)."""
        if self.denominator_sql is None:
            return None
        return Metric(
            f"{self.name}_denominator", self.denominator_sql, kind="mean", aggregate=self.denominator_aggregate
        )

    @property
    def higher_is_better(self) -> bool:
        """Whether an increase is an improvement."""
        return self.direction == "increase"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metric:
        """Build a metric from a TOML/JSON table, naming unknown keys."""
        allowed = {f.name for f in fields(cls) if f.init}
        name = data.get("name", "<unnamed>")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpecError(
                f"metric {name!r} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}."
            )
        if "name" not in data or "sql" not in data:
            raise SpecError(f"metric {name!r} needs both `name` and `sql`.")
        return cls(**dict(data))

    def describe(self) -> str:
        """A plain-text description: the quality, its operationalization and how it is analysed."""
        lines = [
            f"{self.name} ({self.kind}, {self.role}, {self.direction} is better)",
            f"  quality: {self.description or '(not described)'}",
            f"  per unit: {self.aggregate} of value after first exposure",
            f"  sql: {' '.join(self.sql.split())}",
        ]
        if self.covariate_days:
            lines.append(f"  covariate: the same SQL over {self.covariate_days} days before exposure")
        return "\n".join(lines)


def _parse_select(sql: str, name: str) -> exp.Query:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as error:
        raise SpecError(f"the SQL of metric {name!r} does not parse: {str(error).splitlines()[0]}") from error
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SpecError(
            f"the SQL of metric {name!r} must be exactly one SELECT statement returning unit, ts, value "
            f"(found {len(statements)} statement(s): {', '.join(type(s).__name__ for s in statements)})."
        )
    return statements[0]
