"""Auditing an experiment's assignment from its exposure logs.

Four checks, each one aggregate query over an exposures table (``experiment, unit, arm, ts, ...``; every table and
column name is a parameter) followed by a few lines of statistics in Python:

* :func:`srm_by`: the sample ratio per day or per segment level, with multiple-testing control, plus overall;
* :func:`multi_arm_units`: units logged in more than one arm of the same experiment;
* :func:`assignment_mismatches`: logged arms that disagree with the arm re-derived from the unit id with
  :mod:`abnb.assign` (PlanOut hashing) — on a bounded, reproducible sample of units, fetched into Python;
* :func:`interaction`: two concurrent experiments on overlapping traffic — is assignment independent (arm × arm
  χ²; a shared salt makes it perfectly dependent), and do the treatments interact on a metric (factorial test)?

Units are counted once per (unit, arm): a unit logged several times in the same arm counts once, at its first
exposure. Queries are SQLGlot trees with quoted, validated identifiers; values are bound parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from abnb._display import escape_html, format_value
from abnb.engine import as_connection, identifier, validate_identifier
from abnb.errors import DataError, ParameterError, SpecError
from abnb.stats.moments import Moments
from abnb.stats.multiple import adjust
from abnb.stats.srm import SrmResult, srm

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import exp

    from abnb.engine import Connection

__all__ = [
    "InteractionResult",
    "MismatchResult",
    "MultiArmResult",
    "SrmByResult",
    "assignment_mismatches",
    "interaction",
    "multi_arm_units",
    "srm_by",
]

_CORRECTIONS = ("none", "bonferroni", "holm", "hochberg", "bh", "by")


# ------------------------------------------------------------------------------------------------------
# query helpers


@dataclass(frozen=True)
class _Columns:
    table: str
    experiment: str
    unit: str
    arm: str
    ts: str

    @classmethod
    def check(cls, table: str, experiment: str, unit: str, arm: str, ts: str) -> _Columns:
        return cls(
            validate_identifier(table, "table name"),
            validate_identifier(experiment, "experiment column"),
            validate_identifier(unit, "unit column"),
            validate_identifier(arm, "arm column"),
            validate_identifier(ts, "timestamp column"),
        )


def _col(name: str, table: str | None = None, what: str = "column") -> exp.Column:
    from sqlglot import exp

    return exp.Column(this=identifier(name, what), table=exp.to_identifier(table, quoted=True) if table else None)


def _alias(expression: exp.Expression, name: str) -> exp.Expression:
    from sqlglot import exp

    return exp.Alias(this=expression, alias=exp.to_identifier(name, quoted=True))


def _table(name: str, alias: str | None = None) -> exp.Table:
    from sqlglot import exp

    return exp.Table(
        this=exp.to_identifier(name, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)) if alias else None,
    )


def _of_experiment(cols: _Columns, placeholder: str) -> exp.Expression:
    from sqlglot import exp

    return exp.EQ(this=_col(cols.experiment), expression=exp.Placeholder(this=placeholder))


def _check_experiment(name: object, what: str = "experiment") -> str:
    if not isinstance(name, str) or not name:
        raise ParameterError(f"{what} must be the experiment's name as logged in the exposures table, got {name!r}.")
    return name


def _positive_int(value: object, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise ParameterError(f"{what} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)


def _probability(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 < float(value) < 1.0:
        raise ParameterError(f"{what} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


def _repr(result: object, *names: str, **computed: object) -> str:
    """``Name(key=value, …)`` of the fields ``names`` and the ``computed`` values.

    Floats are shown to 4 significant digits, strings and lists as their ``repr``, anything else as its ``str``.
    """

    def text(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return repr(value) if isinstance(value, str | list) else str(value)

    shown = [(name, getattr(result, name)) for name in names] + list(computed.items())
    return f"{type(result).__name__}({', '.join(f'{key}={text(value)}' for key, value in shown)})"


# ------------------------------------------------------------------------------------------------------
# SRM per day / segment


@dataclass(frozen=True)
class SrmByResult:
    """Sample ratio checks per level (day or segment value), adjusted for multiplicity, and overall.

    Attributes:
        experiment: The experiment audited.
        by: ``"day"`` or the segment column.
        arms: Arm names, in the order of the count columns.
        weights: Planned shares of the arms (normalised).
        levels: The days (``datetime.date``) or segment values (``None`` for a missing value), in SQL order.
        counts: Units per level and arm (``counts[i][k]``: level ``i``, arm ``k``).
        statistics: Pearson χ² per level.
        pvalues: Raw p-values per level.
        pvalues_adjusted: p-values adjusted over the levels with ``correction``.
        flagged: Whether each level's adjusted p-value is below ``alpha``.
        overall: The SRM test of all units together.
        alpha: Threshold of the per-level alarm.
        correction: Multiplicity correction (``"none"`` or a method of :func:`abnb.stats.adjust`).
        method: The procedure.
    """

    experiment: str
    by: str
    arms: tuple[str, ...]
    weights: tuple[float, ...]
    levels: tuple[object, ...]
    counts: tuple[tuple[int, ...], ...]
    statistics: tuple[float, ...]
    pvalues: tuple[float, ...]
    pvalues_adjusted: tuple[float, ...]
    flagged: tuple[bool, ...]
    overall: SrmResult
    alpha: float
    correction: str
    method: str

    @property
    def flagged_levels(self) -> tuple[object, ...]:
        """The levels whose adjusted p-value is below ``alpha``."""
        return tuple(level for level, flag in zip(self.levels, self.flagged, strict=True) if flag)

    def to_frame(self) -> pd.DataFrame:
        """One row per level.

        Columns: ``level``, one ``n_<arm>`` per arm, ``total``, ``statistic``, ``pvalue``, ``pvalue_adjusted``,
        ``flagged``.
        """
        import pandas as pd

        data: dict[str, list[Any]] = {"level": list(self.levels)}
        for k, arm in enumerate(self.arms):
            data[f"n_{arm}"] = [row[k] for row in self.counts]
        data["total"] = [sum(row) for row in self.counts]
        data["statistic"] = list(self.statistics)
        data["pvalue"] = list(self.pvalues)
        data["pvalue_adjusted"] = list(self.pvalues_adjusted)
        data["flagged"] = list(self.flagged)
        return pd.DataFrame(data)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape_html(arm)}</th>" for arm in self.arms)
        rows = "".join(
            f"<tr><td>{escape_html(level)}</td>{''.join(f'<td>{c}</td>' for c in counts)}"
            f"<td>{p:.4g}</td><td>{q:.4g}</td><td>{'SRM' if flag else ''}</td></tr>"
            for level, counts, p, q, flag in zip(
                self.levels, self.counts, self.pvalues, self.pvalues_adjusted, self.flagged, strict=True
            )
        )
        return (
            f"<p><b>Sample ratio by {escape_html(self.by)}</b> of {escape_html(self.experiment)}: "
            f"{sum(self.flagged)} of {len(self.levels)} levels flagged ({escape_html(self.correction)}, "
            f"α = {self.alpha:g}); overall p = {self.overall.pvalue:.4g}</p>"
            f"<table class='abnb-srm-by'><tr><th>{escape_html(self.by)}</th>{head}<th>p</th><th>p adjusted</th>"
            f"<th></th></tr>{rows}</table>"
        )

    def __repr__(self) -> str:
        return _repr(
            self,
            "experiment",
            "by",
            levels=len(self.levels),
            flagged=list(map(str, self.flagged_levels)),
            overall_pvalue=self.overall.pvalue,
        )


def _check_weights(weights: Mapping[str, float] | None, observed: Sequence[str]) -> tuple[list[str], list[float]]:
    """Arms (in order) and their weights; the arms of ``weights`` when given, else the observed arms, equal."""
    if weights is None:
        return list(observed), [1.0] * len(observed)
    if not isinstance(weights, Mapping):
        raise ParameterError(
            f"weights must be a mapping {{arm: planned weight}}, e.g. {{'control': 0.5, 'treatment': 0.5}}; "
            f"got {type(weights).__name__}."
        )
    arms = [str(arm) for arm in weights]
    unknown = sorted(set(observed) - set(arms))
    if unknown:
        raise DataError(
            f"the exposures log arms {unknown} that have no planned weight (weights has {arms}); "
            "add them to weights or fix the logging."
        )
    return arms, [float(w) for w in weights.values()]


def srm_by(
    connection: Connection | duckdb.DuckDBPyConnection,
    experiment: str,
    *,
    by: str = "day",
    weights: Mapping[str, float] | None = None,
    alpha: float = 0.001,
    correction: str = "holm",
    table: str = "exposures",
    experiment_column: str = "experiment",
    unit: str = "unit",
    arm: str = "arm",
    ts: str = "ts",
) -> SrmByResult:
    """Sample ratio mismatch per day or per segment level, with multiple-testing control, and overall.

    Each unit counts once per arm, in the level of its first exposure to that arm (its first day, or its segment
    value at first exposure). For level ``i`` with counts ``O_ik`` and planned shares ``w_k``, Pearson's
    ``χ²_i = Σ_k (O_ik − N_i w_k)² / (N_i w_k)`` with ``k − 1`` degrees of freedom (:func:`abnb.stats.srm`); the
    level p-values are adjusted with :func:`abnb.stats.adjust` and a level is flagged when its adjusted p-value
    is below ``alpha``. The overall test uses the column sums. One ``GROUP BY level, arm`` query.

    Args:
        connection: A connection from :func:`abnb.connect` or a DuckDB connection.
        experiment: The experiment's name in ``experiment_column``.
        by: ``"day"`` (the date of first exposure) or the name of a segment column (``country``, ``platform``).
        weights: Planned allocation ``{arm: weight}`` (any positive scale); ``None`` means equal shares of the
            observed arms.
        alpha: Threshold of the per-level alarm (0.001 is customary for SRM).
        correction: ``"holm"`` (default), ``"bonferroni"``, ``"hochberg"``, ``"bh"``, ``"by"`` or ``"none"``.
        table: The exposures table.
        experiment_column: Column naming the experiment.
        unit: Column with the randomisation unit.
        arm: Column with the logged arm.
        ts: Column with the exposure time.

    Returns:
        The per-level and overall results.

    Raises:
        SpecError: A table or column name is not a plain identifier.
        ParameterError: ``alpha``, ``correction`` or ``weights`` is malformed.
        DataError: The experiment has no exposures, or logs arms absent from ``weights``.
        SchemaError: The table or a column does not exist.

    References:
        Fabijan et al. (2019), "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD;
        S. Holm (1979), Scand. J. Statist. 6.
    """
    from sqlglot import exp

    con = as_connection(connection)
    cols = _Columns.check(table, experiment_column, unit, arm, ts)
    experiment = _check_experiment(experiment)
    alpha = _probability(alpha, "alpha")
    if correction not in _CORRECTIONS:
        raise ParameterError(f"correction must be one of {', '.join(map(repr, _CORRECTIONS))}, got {correction!r}.")
    if not isinstance(by, str):
        raise ParameterError(f"by must be 'day' or a segment column name, got {by!r}.")
    level: exp.Expression
    if by == "day":
        level = exp.Cast(this=exp.Min(this=_col(cols.ts)), to=exp.DataType.build("DATE"))
    else:
        level = exp.ArgMin(this=_col(by, what="segment column"), expression=_col(cols.ts))
    first = (
        exp.select(_alias(_col(cols.arm), "arm"), _alias(level, "level"))
        .from_(_table(cols.table))
        .where(_of_experiment(cols, "experiment"))
        .group_by(_col(cols.unit), _col(cols.arm))
    )
    query = (
        exp.select(_col("level"), _col("arm"), _alias(exp.Count(this=exp.Star()), "units"))
        .from_(first.subquery(exp.to_identifier("first_exposure", quoted=True)))
        .group_by(exp.Literal.number(1), exp.Literal.number(2))
        .order_by(exp.Ordered(this=exp.Literal.number(1), nulls_first=False), exp.Literal.number(2))
    )
    rows = con.run(query, {"experiment": experiment}).rows
    if not rows:
        raise DataError(f"no exposures of experiment {experiment!r} in table {cols.table}; check the name.")
    observed = sorted({str(r[1]) for r in rows})
    arms, planned = _check_weights(weights, observed)
    levels: list[object] = []
    table_counts: dict[object, dict[str, int]] = {}
    for lvl, arm_name, n in rows:
        if lvl not in table_counts:
            levels.append(lvl)
            table_counts[lvl] = {}
        table_counts[lvl][str(arm_name)] = int(n)
    counts = tuple(tuple(table_counts[lvl].get(a, 0) for a in arms) for lvl in levels)
    tests = [srm(list(c), planned) for c in counts]
    pvalues = [t.pvalue for t in tests]
    adjusted = pvalues if correction == "none" else [float(p) for p in adjust(pvalues, method=correction)]  # type: ignore[arg-type]
    overall = srm({a: sum(c[k] for c in counts) for k, a in enumerate(arms)}, dict(zip(arms, planned, strict=True)))
    what = "day of first exposure" if by == "day" else f"{by} at first exposure"
    return SrmByResult(
        experiment=experiment,
        by=by,
        arms=tuple(arms),
        weights=overall.weights,
        levels=tuple(levels),
        counts=counts,
        statistics=tuple(t.statistic for t in tests),
        pvalues=tuple(pvalues),
        pvalues_adjusted=tuple(adjusted),
        flagged=tuple(q < alpha for q in adjusted),
        overall=overall,
        alpha=alpha,
        correction=correction,
        method=f"Pearson χ² goodness of fit per {what}, {correction} adjustment, units counted once per arm",
    )


# ------------------------------------------------------------------------------------------------------
# units in several arms


@dataclass(frozen=True)
class MultiArmResult:
    """Units logged in more than one arm of an experiment.

    Attributes:
        experiment: The experiment audited.
        units: Distinct units exposed.
        multi_arm: Units seen in two or more arms.
        share: ``multi_arm / units``.
        max_arms: Largest number of arms one unit was seen in.
        examples: Up to ``examples`` of the offending unit ids (smallest ids first).
        method: What was counted.
    """

    experiment: str
    units: int
    multi_arm: int
    share: float
    max_arms: int
    examples: tuple[object, ...]
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row: ``experiment``, ``units``, ``multi_arm``, ``share``, ``max_arms``, ``examples``."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "experiment": self.experiment,
                    "units": self.units,
                    "multi_arm": self.multi_arm,
                    "share": self.share,
                    "max_arms": self.max_arms,
                    "examples": list(self.examples),
                }
            ]
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Units in several arms</b> of {escape_html(self.experiment)}: {self.multi_arm} of {self.units} "
            f"({100 * self.share:.3g}%); e.g. {escape_html(', '.join(map(str, self.examples)) or '—')}</p>"
        )

    def __repr__(self) -> str:
        return _repr(self, "experiment", "units", "multi_arm", "share", examples=list(self.examples))


def multi_arm_units(
    connection: Connection | duckdb.DuckDBPyConnection,
    experiment: str,
    *,
    examples: int = 10,
    table: str = "exposures",
    experiment_column: str = "experiment",
    unit: str = "unit",
    arm: str = "arm",
) -> MultiArmResult:
    """Count the units logged in more than one arm (and list a few), in one aggregate query.

    A unit in two arms means the assignment is not sticky (re-randomisation, a changed salt, a cookie reset that
    kept the user id, a cache serving the wrong variant) or that the logging attributes exposures wrongly; its
    outcomes belong to no arm. Ids are ordered ascending, so the examples are reproducible.

    Args:
        connection: A connection from :func:`abnb.connect` or a DuckDB connection.
        experiment: The experiment's name in ``experiment_column``.
        examples: How many offending unit ids to return (0 for none).
        table: The exposures table.
        experiment_column: Column naming the experiment.
        unit: Column with the randomisation unit.
        arm: Column with the logged arm.

    Returns:
        Counts, share and example ids.

    Raises:
        SpecError: A name is not a plain identifier.
        ParameterError: ``examples`` is negative.
        DataError: The experiment has no exposures.
    """
    from sqlglot import exp

    con = as_connection(connection)
    cols = _Columns.check(table, experiment_column, unit, arm, "ts")
    experiment = _check_experiment(experiment)
    examples = _positive_int(examples, "examples", minimum=0)
    per_unit = (
        exp.select(
            _alias(_col(cols.unit), "unit"),
            _alias(exp.Count(this=exp.Distinct(expressions=[_col(cols.arm)])), "arms"),
        )
        .from_(_table(cols.table))
        .where(_of_experiment(cols, "experiment"))
        .group_by(_col(cols.unit))
    )
    several = exp.GT(this=_col("arms"), expression=exp.Literal.number(1))
    ordered_ids = exp.ArrayAgg(this=exp.Order(this=_col("unit"), expressions=[exp.Ordered(this=_col("unit"))]))
    sample_ids = exp.ArraySlice(
        this=exp.Filter(this=ordered_ids, expression=exp.Where(this=several.copy())),
        start=exp.Literal.number(1),
        end=exp.Placeholder(this="examples"),
    )
    query = exp.select(
        _alias(exp.Count(this=exp.Star()), "units"),
        _alias(exp.Sum(this=exp.Case().when(several, exp.Literal.number(1)).else_(exp.Literal.number(0))), "multi"),
        _alias(exp.Max(this=_col("arms")), "max_arms"),
        _alias(sample_ids, "examples"),
    ).from_(per_unit.subquery(exp.to_identifier("per_unit", quoted=True)))
    units, multi, max_arms, ids = con.run(query, {"experiment": experiment, "examples": examples}).rows[0]
    if not units:
        raise DataError(f"no exposures of experiment {experiment!r} in table {cols.table}; check the name.")
    return MultiArmResult(
        experiment=experiment,
        units=int(units),
        multi_arm=int(multi),
        share=int(multi) / int(units),
        max_arms=int(max_arms),
        examples=tuple(ids or ())[:examples],
        method="distinct units with COUNT(DISTINCT arm) > 1",
    )


# ------------------------------------------------------------------------------------------------------
# re-derived assignment


@dataclass(frozen=True)
class MismatchResult:
    """Logged arms compared with the arms re-derived from the unit ids.

    Attributes:
        experiment: The experiment audited.
        salt: The full salt used to re-derive (``"{experiment_salt}.{parameter_salt}"``).
        arms: The choices, in the order of ``weights``.
        weights: Planned weights (``None``: PlanOut ``uniform_choice``).
        units_total: Distinct units of the experiment in the table.
        units_checked: Units fetched and re-derived (at most ``sample_limit``).
        sampled: Whether only a sample was checked (``units_checked < units_total``).
        mismatches: Checked units whose logged arms are not exactly ``{derived arm}``.
        share: ``mismatches / units_checked``.
        wrong_arm: Units logged in one arm that is not the derived one.
        multi_arm: Units logged in several arms.
        unknown_arm: Units with a logged arm that is not one of ``arms``.
        pairs: ``(logged, derived, units)`` for the single-arm units whose arm is wrong.
        examples: Up to ten ``(unit, logged arms, derived arm)`` of mismatched units.
        method: The derivation and the sampling.
    """

    experiment: str
    salt: str
    arms: tuple[str, ...]
    weights: tuple[float, ...] | None
    units_total: int
    units_checked: int
    sampled: bool
    mismatches: int
    share: float
    wrong_arm: int
    multi_arm: int
    unknown_arm: int
    pairs: tuple[tuple[str, str, int], ...]
    examples: tuple[tuple[object, tuple[str, ...], str], ...]
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row per (logged, derived) pair of wrongly assigned single-arm units.

        Columns: ``logged``, ``derived``, ``units``.
        """
        import pandas as pd

        return pd.DataFrame(list(self.pairs), columns=["logged", "derived", "units"])

    def _repr_html_(self) -> str:
        scope = f"a sample of {self.units_checked} of {self.units_total} units" if self.sampled else "all units"
        return (
            f"<p><b>Re-derived assignment</b> of {escape_html(self.experiment)} (salt "
            f"{escape_html(self.salt)!s}, {scope}): {self.mismatches} mismatches ({100 * self.share:.3g}%): "
            f"{self.wrong_arm} in the wrong arm, {self.multi_arm} in several arms, "
            f"{self.unknown_arm} with an unknown arm</p>"
        )

    def __repr__(self) -> str:
        return _repr(
            self, "experiment", "units_checked", "units_total", "mismatches", "wrong_arm", "multi_arm", "unknown_arm"
        )


def derive_arms(
    units: Sequence[object], *, arms: Sequence[str], weights: Sequence[float] | None, salt: str
) -> list[str]:
    """The arm PlanOut would give each unit: ``weighted_choice`` with ``weights``, else ``uniform_choice``.

    ``weighted_choice``: with cumulative weights ``c_k = w_1 + … + w_k`` and ``x = uniform(unit, salt)·Σw``, the
    first arm with ``x ≤ c_k``. ``uniform_choice``: ``arms[hash_unit(unit, salt) mod len(arms)]``.

    Args:
        units: Unit ids (as logged; rendered with ``str`` in the hash, as PlanOut does).
        arms: The choices, in the order of the experiment's definition (the order matters).
        weights: One positive weight per arm, or ``None`` for ``uniform_choice``.
        salt: The full salt ``"{experiment_salt}.{parameter_salt}"``.

    Returns:
        One arm per unit.

    References:
        Bakshy, Eckles & Bernstein (2014), "Designing and Deploying Online Field Experiments", WWW (PlanOut's
        ``WeightedChoice`` and ``UniformChoice`` operators).
    """
    import numpy as np

    from abnb.assign import hash_unit, uniform_many

    if weights is None:
        k = len(arms)
        return [arms[hash_unit(u, salt) % k] for u in units]
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    draws = uniform_many(units, salt) * float(cumulative[-1])
    index = np.searchsorted(cumulative, draws, side="left")
    return [arms[int(i)] for i in np.minimum(index, len(arms) - 1)]


def assignment_mismatches(
    connection: Connection | duckdb.DuckDBPyConnection,
    experiment: str,
    *,
    arms: Sequence[str],
    weights: Sequence[float] | None = None,
    salt: str,
    sample_limit: int = 100_000,
    table: str = "exposures",
    experiment_column: str = "experiment",
    unit: str = "unit",
    arm: str = "arm",
) -> MismatchResult:
    """Re-derive each unit's arm from its id with :mod:`abnb.assign` and count disagreements with the log.

    Hashing happens in Python, so unit ids must be fetched: one query returns, per unit, its set of logged arms,
    for a bounded and reproducible sample — the ``sample_limit`` units with the smallest
    ``md5(CAST(unit AS VARCHAR) || salt)`` (an order unrelated to the SHA-1 assignment, hence unbiased across arms)
    — together with the total number of units (``COUNT(*) OVER ()``). ``result.sampled`` says whether the check
    covered every unit. The arm is re-derived with PlanOut's ``weighted_choice`` (``weights`` given) or
    ``uniform_choice`` (``weights=None``); see :func:`derive_arms`.

    Args:
        connection: A connection from :func:`abnb.connect` or a DuckDB connection.
        experiment: The experiment's name in ``experiment_column``.
        arms: The choices in the experiment's definition order, e.g. ``["control", "treatment"]``.
        weights: One positive weight per arm, or ``None`` for ``uniform_choice``.
        salt: The full salt, ``"{experiment_salt}.{parameter_salt}"``.
        sample_limit: Most units to fetch and check.
        table: The exposures table.
        experiment_column: Column naming the experiment.
        unit: Column with the randomisation unit.
        arm: Column with the logged arm.

    Returns:
        Counts of disagreements by kind, on the checked units.

    Raises:
        SpecError: A name is not a plain identifier.
        ParameterError: ``arms``, ``weights``, ``salt`` or ``sample_limit`` is malformed.
        DataError: The experiment has no exposures.
    """
    from sqlglot import exp

    con = as_connection(connection)
    cols = _Columns.check(table, experiment_column, unit, arm, "ts")
    experiment = _check_experiment(experiment)
    if isinstance(arms, str) or not isinstance(arms, Sequence) or len(arms) < 2:
        raise ParameterError(f"arms must be a sequence of at least 2 arm names, got {arms!r}.")
    choices = tuple(str(a) for a in arms)
    planned: tuple[float, ...] | None = None
    if weights is not None:
        if isinstance(weights, str) or not isinstance(weights, Sequence) or len(weights) != len(choices):
            raise ParameterError(f"weights must be {len(choices)} numbers, one per arm, got {weights!r}.")
        planned = tuple(float(w) for w in weights)
        if not all(math.isfinite(w) and w > 0 for w in planned):
            raise ParameterError(f"weights must be positive and finite, got {weights!r}.")
    if not isinstance(salt, str) or not salt:
        raise ParameterError(f"salt must be the non-empty salt string of the assignment, got {salt!r}.")
    sample_limit = _positive_int(sample_limit, "sample_limit")

    order_key = exp.MD5(
        this=exp.DPipe(
            this=exp.Cast(this=_col(cols.unit), to=exp.DataType.build("VARCHAR")),
            expression=exp.Placeholder(this="salt"),
        )
    )
    query = (
        exp.select(
            _alias(_col(cols.unit), "unit"),
            _alias(exp.ArrayAgg(this=exp.Distinct(expressions=[_col(cols.arm)])), "arms"),
            _alias(exp.Window(this=exp.Count(this=exp.Star())), "units_total"),
        )
        .from_(_table(cols.table))
        .where(_of_experiment(cols, "experiment"))
        .group_by(_col(cols.unit))
        .order_by(order_key, _col(cols.unit))
        .limit(exp.Placeholder(this="limit"))
    )
    rows = con.run(query, {"experiment": experiment, "salt": salt, "limit": sample_limit}).rows
    if not rows:
        raise DataError(f"no exposures of experiment {experiment!r} in table {cols.table}; check the name.")
    units = [r[0] for r in rows]
    derived = derive_arms(units, arms=choices, weights=planned, salt=salt)
    known = set(choices)
    wrong = multi = unknown = 0
    pairs: dict[tuple[str, str], int] = {}
    examples: list[tuple[object, tuple[str, ...], str]] = []
    for (unit_id, logged_raw, _), expected in zip(rows, derived, strict=True):
        logged = tuple(sorted(str(a) for a in logged_raw))
        if logged == (expected,):
            continue
        if len(logged) > 1:
            multi += 1
        else:
            wrong += 1
            pairs[(logged[0], expected)] = pairs.get((logged[0], expected), 0) + 1
        if not set(logged) <= known:
            unknown += 1
        if len(examples) < 10:
            examples.append((unit_id, logged, expected))
    mismatches = wrong + multi
    total = int(rows[0][2])
    operator = "uniform_choice" if planned is None else "weighted_choice"
    scope = (
        f"the {len(rows)} of {total} units with the smallest md5(unit || salt)" if len(rows) < total else "all units"
    )
    return MismatchResult(
        experiment=experiment,
        salt=salt,
        arms=choices,
        weights=planned,
        units_total=total,
        units_checked=len(rows),
        sampled=len(rows) < total,
        mismatches=mismatches,
        share=mismatches / len(rows),
        wrong_arm=wrong,
        multi_arm=multi,
        unknown_arm=unknown,
        pairs=tuple((a, b, n) for (a, b), n in sorted(pairs.items())),
        examples=tuple(examples),
        method=f"PlanOut {operator} re-derived with SHA-1 of 'salt.unit' on {scope}",
    )


# ------------------------------------------------------------------------------------------------------
# two concurrent experiments


@dataclass(frozen=True)
class InteractionResult:
    """Independence of two experiments' assignments, and the interaction of their treatments on a metric.

    Attributes:
        experiment_a: The first experiment (rows of the cross-tab).
        experiment_b: The second experiment (columns).
        arms_a: Arms of ``experiment_a``; the first is the reference of the interaction contrasts.
        arms_b: Arms of ``experiment_b``; the first is the reference.
        counts: Units in both experiments per arm pair (``counts[i][j]``).
        units_a: Units in ``experiment_a`` (single-arm units only).
        units_b: Units in ``experiment_b``.
        units_both: Units in both.
        independence_statistic: Pearson χ² of independence of the cross-tab (no continuity correction).
        independence_df: Its degrees of freedom ``(r − 1)(c − 1)``.
        independence_pvalue: Its p-value; tiny means the assignments are dependent (e.g. a shared salt).
        cramers_v: ``sqrt(χ² / (n (min(r, c) − 1)))``: 0 independent, 1 one arm determines the other.
        cell_means: Metric mean per cell, or ``None`` without a metric.
        contrasts: ``(arm_a, arm_b, estimate, se)`` of each interaction contrast
            ``m_ij − m_i0 − m_0j + m_00`` (``i, j ≥ 1``); empty without a metric.
        estimate: For a 2×2 design, the interaction contrast ``(m_11 − m_10) − (m_01 − m_00)``; else ``None``.
        se: Its standard error ``sqrt(Σ s²_ij / n_ij)`` (2×2 only).
        ci_low: Lower end of its ``1 − alpha`` normal interval (2×2 only).
        ci_high: Upper end (2×2 only).
        statistic: ``estimate / se`` (2×2 only).
        interaction_statistic: Wald χ² of all contrasts being 0, or ``None`` without a metric.
        interaction_df: Its degrees of freedom ``(r − 1)(c − 1)``.
        interaction_pvalue: Its p-value (for 2×2, the two-sided normal p-value of ``statistic``).
        alpha: Level of the interval.
        method: The tests used.
    """

    experiment_a: str
    experiment_b: str
    arms_a: tuple[str, ...]
    arms_b: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    units_a: int
    units_b: int
    units_both: int
    independence_statistic: float
    independence_df: int
    independence_pvalue: float
    cramers_v: float
    cell_means: tuple[tuple[float, ...], ...] | None
    contrasts: tuple[tuple[str, str, float, float], ...]
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    statistic: float | None
    interaction_statistic: float | None
    interaction_df: int | None
    interaction_pvalue: float | None
    alpha: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: ``arm_a``, ``arm_b``, ``units``, and ``mean`` when a metric was given."""
        import pandas as pd

        rows = []
        for i, a in enumerate(self.arms_a):
            for j, b in enumerate(self.arms_b):
                row: dict[str, Any] = {"arm_a": a, "arm_b": b, "units": self.counts[i][j]}
                if self.cell_means is not None:
                    row["mean"] = self.cell_means[i][j]
                rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape_html(b)}</th>" for b in self.arms_b)
        body = "".join(
            f"<tr><th>{escape_html(a)}</th>{''.join(f'<td>{c}</td>' for c in row)}</tr>"
            for a, row in zip(self.arms_a, self.counts, strict=True)
        )
        factorial = (
            ""
            if self.interaction_pvalue is None
            else f"<p>Interaction: estimate {format_value(self.estimate)} (se {format_value(self.se)}), Wald χ² = "
            f"{self.interaction_statistic:.4g}, df = {self.interaction_df}, p = {self.interaction_pvalue:.4g}</p>"
        )
        return (
            f"<p><b>{escape_html(self.experiment_a)} × {escape_html(self.experiment_b)}</b>: {self.units_both} "
            f"units in both; independence χ² = {self.independence_statistic:.4g}, df = {self.independence_df}, "
            f"p = {self.independence_pvalue:.4g}, Cramér's V = {self.cramers_v:.3g}</p>"
            f"<table class='abnb-crosstab'><tr><th></th>{head}</tr>{body}</table>{factorial}"
        )

    def __repr__(self) -> str:
        return (
            f"InteractionResult({self.experiment_a!r} × {self.experiment_b!r}, units_both={self.units_both}, "
            f"independence_pvalue={self.independence_pvalue:.4g}, cramers_v={self.cramers_v:.3g}, "
            f"estimate={format_value(self.estimate)}, interaction_pvalue={format_value(self.interaction_pvalue)})"
        )


def _metric_query(metric: str | exp.Query) -> exp.Query:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    if isinstance(metric, exp.Query):
        return metric.copy()
    if not isinstance(metric, str) or not metric.strip():
        raise ParameterError(f"metric must be SQL text (a SELECT returning unit, value), got {metric!r}.")
    try:
        statements = [s for s in sqlglot.parse(metric, read="duckdb") if s is not None]
    except ParseError as error:
        raise SpecError(f"the metric SQL does not parse: {str(error).splitlines()[0]}") from error
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SpecError("the metric SQL must be exactly one SELECT statement returning unit, value.")
    return statements[0]


def _assigned(cols: _Columns, placeholder: str) -> exp.Select:
    """One row per unit seen in exactly one arm of the experiment: ``unit``, ``arm``."""
    from sqlglot import exp

    return (
        exp.select(_alias(_col(cols.unit), "unit"), _alias(exp.Min(this=_col(cols.arm)), "arm"))
        .from_(_table(cols.table))
        .where(_of_experiment(cols, placeholder))
        .group_by(_col(cols.unit))
        .having(
            exp.EQ(
                this=exp.Count(this=exp.Distinct(expressions=[_col(cols.arm)])),
                expression=exp.Literal.number(1),
            )
        )
    )


def _factorial(
    cells: Mapping[tuple[str, str], Moments], arms_a: Sequence[str], arms_b: Sequence[str], alpha: float
) -> tuple[
    tuple[tuple[float, ...], ...],
    tuple[tuple[str, str, float, float], ...],
    float,
    int,
    float,
    tuple[float, float, float, float, float] | None,
]:
    """Cell means, contrasts, Wald χ², df, p-value and, for 2×2, (estimate, se, z, ci_low, ci_high)."""
    import numpy as np
    from scipy import special

    r, c = len(arms_a), len(arms_b)
    means = np.empty((r, c))
    var_of_mean = np.empty((r, c))
    for i, a in enumerate(arms_a):
        for j, b in enumerate(arms_b):
            cell = cells.get((a, b))
            if cell is None or cell.n < 2:
                n = 0 if cell is None else cell.n
                raise DataError(
                    f"cell ({a!r}, {b!r}) has {n} unit(s) with a metric value; the interaction test needs at least 2 "
                    "per cell (is the overlap of the two experiments large enough?)."
                )
            means[i, j] = cell.mean
            var_of_mean[i, j] = cell.variance / cell.n
    index = [(i, j) for i in range(1, r) for j in range(1, c)]
    contrast = np.zeros((len(index), r * c))
    for row, (i, j) in enumerate(index):
        contrast[row, i * c + j] += 1.0
        contrast[row, i * c] -= 1.0
        contrast[row, j] -= 1.0
        contrast[row, 0] += 1.0
    estimates = contrast @ means.ravel()
    covariance = contrast @ np.diag(var_of_mean.ravel()) @ contrast.T
    ses = np.sqrt(np.diag(covariance))
    try:
        wald = float(estimates @ np.linalg.solve(covariance, estimates))
    except np.linalg.LinAlgError as error:
        raise DataError("the cells' metric variances are all zero; the interaction cannot be tested.") from error
    df = len(index)
    pvalue = float(special.chdtrc(df, wald))
    contrasts = tuple(
        (arms_a[i], arms_b[j], float(e), float(s)) for (i, j), e, s in zip(index, estimates, ses, strict=True)
    )
    two_by_two = None
    if df == 1:
        estimate, se = float(estimates[0]), float(ses[0])
        z = estimate / se
        pvalue = float(2.0 * special.ndtr(-abs(z)))
        half = float(special.ndtri(1.0 - alpha / 2.0)) * se
        two_by_two = (estimate, se, z, estimate - half, estimate + half)
    return tuple(tuple(float(m) for m in row) for row in means), contrasts, wald, df, pvalue, two_by_two


def interaction(
    connection: Connection | duckdb.DuckDBPyConnection,
    experiment_a: str,
    experiment_b: str,
    *,
    metric: str | exp.Query | None = None,
    moments: Mapping[tuple[str, str], Moments] | None = None,
    alpha: float = 0.05,
    table: str = "exposures",
    experiment_column: str = "experiment",
    unit: str = "unit",
    arm: str = "arm",
) -> InteractionResult:
    """Two concurrent experiments on overlapping traffic: independent assignment, and interacting treatments.

    One query returns the units per (arm of A, arm of B), including units in only one experiment, and — with
    ``metric`` — each cell's ``n``, ``Σy`` and ``Σy²`` of the per-unit metric ``y = Σ value`` (0 for a unit
    the metric SQL returns no row for). Units logged in several arms of one experiment are left out of it.

    * Independence of assignment: Pearson's χ² test of the r × c cross-tab of units in both experiments
      (``scipy.stats.chi2_contingency`` without continuity correction) and Cramér's V. With independent salts
      the arms of B are split alike within every arm of A; a reused salt (or a shared hash bucket) makes them
      dependent — for equal splits and the same arm order, perfectly so (V = 1).
    * Interaction on the metric, from cell means ``m_ij`` and variances ``s²_ij`` (Welch-style, no pooling):
      with the first arms as reference, the contrasts ``δ_ij = m_ij − m_i0 − m_0j + m_00`` (``i, j ≥ 1``) have
      covariance ``C diag(s²/n) Cᵀ``; the Wald statistic ``δᵀ Σ⁻¹ δ`` is χ² with ``(r − 1)(c − 1)`` df. For a 2×2
      design this is the single contrast ``(m_11 − m_10) − (m_01 − m_00)`` with
      ``se = sqrt(Σ s²_ij/n_ij)`` and a two-sided normal p-value; it equals the interaction coefficient of an OLS
      fit ``y ~ A * B`` with HC2 standard errors.

    Args:
        connection: A connection from :func:`abnb.connect` or a DuckDB connection.
        experiment_a: First experiment (cross-tab rows).
        experiment_b: Second experiment (columns).
        metric: Optional SQL (a single SELECT) returning ``unit`` and numeric ``value``; summed per unit over all
            its rows (restrict the time window inside the SQL).
        moments: Optional precomputed cell ``Moments`` keyed by ``(arm_a, arm_b)``, instead of ``metric``.
        alpha: Level of the 2×2 contrast's confidence interval.
        table: The exposures table.
        experiment_column: Column naming the experiment.
        unit: Column with the randomisation unit.
        arm: Column with the logged arm.

    Returns:
        The cross-tab, the independence test and (with a metric) the interaction test.

    Raises:
        SpecError: A name is not a plain identifier, or the metric SQL is not one SELECT.
        ParameterError: Both ``metric`` and ``moments`` are given, or an argument is malformed.
        DataError: Fewer than 2 arms of either experiment among the shared units, or a cell with fewer than 2
            units for the interaction test.

    References:
        K. Pearson (1900), Phil. Mag. 50; H. Cramér (1946), *Mathematical Methods of Statistics*; Box, Hunter &
        Hunter (2005), *Statistics for Experimenters*, ch. 5 (factorial designs); Kohavi, Tang & Xu (2020),
        *Trustworthy Online Controlled Experiments*, ch. 4 (interactions of concurrent experiments); Tang et al.
        (2010), "Overlapping Experiment Infrastructure", KDD.
    """
    from scipy import stats as sps

    con = as_connection(connection)
    cols = _Columns.check(table, experiment_column, unit, arm, "ts")
    experiment_a = _check_experiment(experiment_a, "experiment_a")
    experiment_b = _check_experiment(experiment_b, "experiment_b")
    if experiment_a == experiment_b:
        raise ParameterError(f"experiment_a and experiment_b are both {experiment_a!r}; pass two experiments.")
    if metric is not None and moments is not None:
        raise ParameterError("pass either metric (SQL) or moments (per cell), not both.")
    if moments is not None and not isinstance(moments, Mapping):
        raise ParameterError("moments must be a mapping {(arm_a, arm_b): Moments}.")
    alpha = _probability(alpha, "alpha")
    query = _crosstab_query(cols, metric)
    rows = con.run(query, {"experiment_a": experiment_a, "experiment_b": experiment_b}).rows

    both = {(str(r[0]), str(r[1])): r for r in rows if r[0] is not None and r[1] is not None}
    arms_a = sorted({k[0] for k in both})
    arms_b = sorted({k[1] for k in both})
    if len(arms_a) < 2 or len(arms_b) < 2:
        raise DataError(
            f"units in both {experiment_a!r} and {experiment_b!r} cover arms {arms_a} × {arms_b}; the audit needs "
            "at least 2 arms of each among the shared units (do the experiments overlap?)."
        )
    counts = tuple(tuple(int(both[(x, z)][2]) if (x, z) in both else 0 for z in arms_b) for x in arms_a)
    chi2, chi2_p, chi2_df, _ = sps.chi2_contingency(counts, correction=False)
    n_both = sum(map(sum, counts))
    method = "Pearson χ² test of independence of the arm × arm cross-tab"
    cells = _cells(both, moments) if metric is not None or moments is not None else None
    if cells is not None:
        method += "; interaction contrasts of cell means, unpooled (Welch-style) variances, Wald χ² (normal for 2×2)"
    return InteractionResult(
        experiment_a=experiment_a,
        experiment_b=experiment_b,
        arms_a=tuple(arms_a),
        arms_b=tuple(arms_b),
        counts=counts,
        units_a=sum(int(r[2]) for r in rows if r[0] is not None),
        units_b=sum(int(r[2]) for r in rows if r[1] is not None),
        units_both=n_both,
        independence_statistic=float(chi2),
        independence_df=int(chi2_df),
        independence_pvalue=float(chi2_p),
        cramers_v=math.sqrt(float(chi2) / (n_both * (min(len(arms_a), len(arms_b)) - 1))),
        alpha=alpha,
        method=method,
        **_interaction_fields(cells, arms_a, arms_b, alpha),
    )


def _crosstab_query(cols: _Columns, metric: str | exp.Query | None) -> exp.Select:
    """Units per (arm of A, arm of B), full outer join of the two experiments; with a metric, Σy and Σy² per cell."""
    from sqlglot import exp

    a, b, m = "_abnb_a", "_abnb_b", "_abnb_m"
    selects: list[exp.Expression] = [
        _alias(_col("arm", a), "arm_a"),
        _alias(_col("arm", b), "arm_b"),
        _alias(exp.Count(this=exp.Star()), "units"),
    ]
    query = exp.select().with_(a, as_=_assigned(cols, "experiment_a")).with_(b, as_=_assigned(cols, "experiment_b"))
    if metric is not None:
        per_unit = (
            exp.select(
                _alias(_col("unit"), "unit"),
                _alias(exp.Sum(this=exp.Cast(this=_col("value"), to=exp.DataType.build("DOUBLE"))), "y"),
            )
            .from_(_metric_query(metric).subquery(exp.to_identifier("metric", quoted=True)))
            .group_by(_col("unit"))
        )
        query = query.with_(m, as_=per_unit)
        y = exp.Coalesce(this=_col("y", m), expressions=[exp.Literal.number(0)])
        selects += [
            _alias(exp.Sum(this=y), "y_sum"),
            _alias(exp.Sum(this=exp.Mul(this=y.copy(), expression=y.copy())), "y_sum_sq"),
        ]
    query = (
        query.select(*selects)
        .from_(_table(a))
        .join(_table(b), on=exp.EQ(this=_col("unit", a), expression=_col("unit", b)), join_type="FULL OUTER")
    )
    if metric is not None:
        query = query.join(
            _table(m),
            on=exp.EQ(
                this=_col("unit", m), expression=exp.Coalesce(this=_col("unit", a), expressions=[_col("unit", b)])
            ),
            join_type="LEFT",
        )
    return query.group_by(exp.Literal.number(1), exp.Literal.number(2))


def _cells(
    both: Mapping[tuple[str, str], Sequence[Any]], moments: Mapping[tuple[str, str], Moments] | None
) -> dict[tuple[str, str], Moments]:
    """The cells' metric moments: given as ``moments``, or else from the cross-tab rows (units, Σy, Σy²)."""
    if moments is None:
        return {key: Moments(n=int(r[2]), sum=float(r[3]), sum_sq=float(r[4])) for key, r in both.items()}
    cells = dict(moments)
    for key, value in cells.items():
        if not isinstance(value, Moments):
            raise ParameterError(f"moments[{key!r}] must be abnb.stats.Moments, got {type(value).__name__}.")
    return cells


def _interaction_fields(
    cells: Mapping[tuple[str, str], Moments] | None, arms_a: Sequence[str], arms_b: Sequence[str], alpha: float
) -> dict[str, Any]:
    """The interaction fields of :class:`InteractionResult` (all ``None`` or empty without cells)."""
    fields: dict[str, Any] = {
        "cell_means": None,
        "contrasts": (),
        "estimate": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
        "statistic": None,
        "interaction_statistic": None,
        "interaction_df": None,
        "interaction_pvalue": None,
    }
    if cells is None:
        return fields
    means, contrasts, wald, df, pvalue, two = _factorial(cells, arms_a, arms_b, alpha)
    fields.update(
        cell_means=means,
        contrasts=contrasts,
        interaction_statistic=wald,
        interaction_df=df,
        interaction_pvalue=pvalue,
    )
    if two is not None:
        fields.update(estimate=two[0], se=two[1], statistic=two[2], ci_low=two[3], ci_high=two[4])
    return fields
