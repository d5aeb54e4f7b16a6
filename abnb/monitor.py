"""Monitoring quality over time: windowed metrics, alert rules, release jumps, segment breakdowns and drift.

Everything here works on *aggregated* time series — one row per window (and group) with a timestamp column
and value or sum columns — never on raw events. :func:`windowed` produces such a series with one GROUP BY query
in the engine; the rest is small, pure computation on the few rows it returns. The functions that read model
telemetry (:func:`labelled_precision_by_window`, :func:`monitor_summary`) take the names of its tables and columns
as ``schema`` (:class:`abnb.telemetry.ModelTelemetry`; the sample's names by default).

| concept | names |
| --- | --- |
| windowed aggregates | ``windowed`` |
| alert rules | ``ThresholdRule``, ``EwmaRule``, ``CusumRule`` |
| replaying them over history | ``replay``, ``Replay``, ``false_alarm_rate``, ``FalseAlarmRate`` |
| before/after a release | ``release_jump``, ``ReleaseJump`` |
| is the metric uniform across populations? | ``segment_breakdown`` |
| drift of inputs and predictions | ``psi``, ``psi_from_values``, ``ks_drift``, ``chi2_drift``, ``drift_report`` |
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb._display import FlatResult
from abnb._display import format_value as _fmt
from abnb.engine import Connection, as_connection, identifier, table_expr
from abnb.errors import DataError, EngineError, ParameterError
from abnb.stats import Moments, adjust, mann_whitney, welch, ztest
from abnb.stats._alpha import check_alpha
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray
    from sqlglot import exp

__all__ = [
    "CusumRule",
    "DriftResult",
    "EwmaRule",
    "FalseAlarmRate",
    "ReleaseJump",
    "Replay",
    "Rule",
    "ThresholdRule",
    "chi2_drift",
    "drift_report",
    "false_alarm_rate",
    "ks_drift",
    "psi",
    "psi_from_values",
    "release_jump",
    "replay",
    "segment_breakdown",
    "windowed",
]

_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_SIMPLE_AGGREGATES = ("n", "mean", "sum", "sum_sq", "std", "min", "max")


class _Result(FlatResult):
    """Shared ``to_dict``/``to_frame``/``_repr_html_`` of this module's result dataclasses."""

    _html_class = "abnb-monitor"
    _html_skips_tuples = True


# ------------------------------------------------------------------------------------------------------
# windowed aggregates in the engine


def _aggregate_expression(name: str, value: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    if name == "n":
        return exp.Count(this=value)
    if name == "mean":
        return exp.Avg(this=value)
    if name == "sum":
        return exp.Sum(this=value)
    if name == "sum_sq":
        return exp.Sum(this=exp.Mul(this=value, expression=value.copy()))
    if name == "std":
        return exp.Stddev(this=value)
    if name == "min":
        return exp.Min(this=value)
    if name == "max":
        return exp.Max(this=value)
    match = _QUANTILE.match(name)
    if match is None or not 0.0 < float(match.group(1)) < 100.0:
        raise ParameterError(
            f"unknown aggregate {name!r}: use {', '.join(_SIMPLE_AGGREGATES)} or a percentile pNN "
            "(e.g. p50, p95, p99.9)."
        )
    fraction = float(match.group(1)) / 100.0
    return exp.Anonymous(this="quantile_cont", expressions=[value, exp.Literal.number(repr(fraction))])


def _bound(value: object, name: str) -> Any:
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


def _run_windowed(con: Any, query: Any, params: dict[str, Any], window: str | None) -> Any:
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
    import pandas as pd
    from sqlglot import exp

    con = as_connection(connection)
    groups = [by] if isinstance(by, str) else list(by or ())
    names = list(aggregates)
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

    ts_col = exp.Column(this=identifier(ts, "timestamp column"))
    value_col = exp.Column(this=identifier(value, "value column"))
    bucket = exp.Anonymous(
        this="time_bucket",
        expressions=[exp.Cast(this=exp.Placeholder(this="window"), to=exp.DataType.build("INTERVAL")), ts_col],
    )
    group_cols = [exp.Column(this=identifier(g, "group column")) for g in groups]
    selects: list[exp.Expression] = [exp.Alias(this=bucket, alias=exp.to_identifier("window", quoted=True))]
    selects += [g.copy() for g in group_cols]
    selects += [
        exp.Alias(this=_aggregate_expression(name, value_col.copy()), alias=exp.to_identifier(name, quoted=True))
        for name in names
    ]
    params: dict[str, Any] = {"window": window}
    conditions: list[exp.Expression] = []
    if start is not None:
        params["start"] = _bound(start, "start")
        conditions.append(exp.GTE(this=ts_col.copy(), expression=exp.Placeholder(this="start")))
    if end is not None:
        params["end"] = _bound(end, "end")
        conditions.append(exp.LT(this=ts_col.copy(), expression=exp.Placeholder(this="end")))
    positions = [exp.Literal.number(i) for i in range(1, len(groups) + 2)]
    query = exp.select(*selects).from_(table_expr(table, "table name"))
    if conditions:
        query = query.where(exp.and_(*conditions))
    query = query.group_by(*positions).order_by(*[p.copy() for p in positions])
    result = _run_windowed(con, query, params, window)
    frame = pd.DataFrame.from_records(result.rows, columns=list(result.columns))
    if "n" in frame.columns:
        frame["n"] = frame["n"].astype("int64")
    return frame


# ------------------------------------------------------------------------------------------------------
# alert rules


Op = Literal[">", ">=", "<", "<="]
_OPS: dict[str, Any] = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ParameterError(f"{name} must be a whole number >= 1, got {value!r}.")
    return int(value)


def _real(value: object, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ParameterError(f"{name} must be a finite number, got {value!r}.")
    if positive and float(value) <= 0.0:
        raise ParameterError(f"{name} must be > 0, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class ThresholdRule:
    """Alert when ``value op threshold`` held for ``for_windows`` consecutive windows, with hysteresis.

    The rule is *pending* while the condition holds for fewer than ``for_windows`` windows and *fires* at the
    ``for_windows``-th consecutive window (Prometheus' ``for:`` clause). A firing alert resolves only after the
    value was *clear* for ``clear_windows`` consecutive windows; clear means the condition evaluated against
    ``clear_threshold`` (default: ``threshold``) does not hold. A clear threshold on the safe side of
    ``threshold`` (e.g. fire above 5% errors, clear below 3%) stops an alert from flapping near the limit.

    Attributes:
        metric: Column of the series to watch (e.g. ``"mean"`` or ``"error_rate"``).
        op: ``">"``, ``">="``, ``"<"`` or ``"<="``: the *bad* side of the threshold.
        threshold: The limit.
        for_windows: Consecutive bad windows before the alert fires (≥ 1).
        clear_windows: Consecutive clear windows before a firing alert resolves (≥ 1).
        clear_threshold: The limit for clearing; ``None`` uses ``threshold``.
    """

    metric: str
    op: Op
    threshold: float
    for_windows: int = 1
    clear_windows: int = 1
    clear_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ParameterError(f"op must be one of {', '.join(map(repr, _OPS))}, got {self.op!r}.")
        _real(self.threshold, "threshold")
        _positive_int(self.for_windows, "for_windows")
        _positive_int(self.clear_windows, "clear_windows")
        if self.clear_threshold is not None:
            clear = _real(self.clear_threshold, "clear_threshold")
            if bool(_OPS[self.op](clear, self.threshold)) and clear != self.threshold:
                raise ParameterError(
                    f"clear_threshold {clear} lies on the bad side of threshold {self.threshold} (op {self.op!r}); "
                    "it must be at the threshold or on the safe side of it."
                )

    @property
    def method(self) -> str:
        """Description of the rule."""
        clear = self.threshold if self.clear_threshold is None else self.clear_threshold
        return (
            f"threshold: {self.metric} {self.op} {self.threshold:g} for {self.for_windows} window(s), "
            f"clear at {clear:g} for {self.clear_windows} window(s)"
        )

    def evaluate(self, values: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        """Per-window ``condition``, ``clear`` and ``alarm`` (firing) arrays for ``values``."""
        bad = _OPS[self.op](values, self.threshold)
        clear_at = self.threshold if self.clear_threshold is None else self.clear_threshold
        clear = ~_OPS[self.op](values, clear_at)
        firing = np.zeros(values.size, dtype=bool)
        active = False
        run_bad = run_clear = 0
        for i in range(values.size):
            run_bad = run_bad + 1 if bad[i] else 0
            run_clear = run_clear + 1 if clear[i] else 0
            if not active and run_bad >= self.for_windows:
                active = True
            elif active and run_clear >= self.clear_windows:
                active = False
            firing[i] = active
        return {"value": values, "condition": bad, "clear": clear, "alarm": firing}


@dataclass(frozen=True)
class EwmaRule:
    """EWMA control chart for small, persistent shifts (Roberts 1959).

    ``z_t = λ·x_t + (1 − λ)·z_{t−1}`` with ``z_0 = μ0``; the chart signals when ``z_t`` leaves
    ``μ0 ± L·σ·sqrt(λ/(2 − λ)·(1 − (1 − λ)^{2t}))`` (exact, time-varying limits; Montgomery,
    *Introduction to Statistical Quality Control*, §9.2). ``λ = 0.1, L = 2.814`` gives an in-control average
    run length of about 500 windows (Montgomery, Table 9.11).

    Attributes:
        lambda_: Smoothing weight λ in (0, 1].
        L: Width of the limits in standard deviations of ``z_t``.
        baseline_mean: In-control mean μ0 (e.g. from pre-release history).
        baseline_sd: In-control standard deviation σ of one window's value.
        metric: Column of the series to watch; ``None`` for the only numeric column / a Series.
        reset: Restart the chart (``z = μ0``, ``t = 0``) after each signal, as the ARL is defined; otherwise the
            alarm lasts while ``z_t`` is outside the limits.
    """

    lambda_: float
    L: float
    baseline_mean: float
    baseline_sd: float
    metric: str | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        lam = _real(self.lambda_, "lambda_", positive=True)
        if lam > 1.0:
            raise ParameterError(f"lambda_ must lie in (0, 1], got {lam}.")
        _real(self.L, "L", positive=True)
        _real(self.baseline_mean, "baseline_mean")
        _real(self.baseline_sd, "baseline_sd", positive=True)

    @property
    def method(self) -> str:
        """Description of the rule."""
        return f"EWMA chart (Roberts 1959): lambda={self.lambda_:g}, L={self.L:g}, exact time-varying limits"

    def limits(self, t: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Lower and upper control limits at steps ``t = 1, 2, ...`` since the (re)start."""
        steps = np.asarray(t, dtype=np.float64)
        lam = self.lambda_
        half = self.L * self.baseline_sd * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * steps)))
        return self.baseline_mean - half, self.baseline_mean + half

    def evaluate(self, values: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        """Per-window ``statistic`` (z), ``lower``, ``upper`` and ``alarm`` arrays for ``values``."""
        n = values.size
        z = np.empty(n)
        lower = np.empty(n)
        upper = np.empty(n)
        alarm = np.zeros(n, dtype=bool)
        lam = self.lambda_
        prev, step = self.baseline_mean, 0
        for i in range(n):
            step += 1
            prev = lam * values[i] + (1.0 - lam) * prev
            lo, hi = self.limits(step)
            z[i], lower[i], upper[i] = prev, float(lo), float(hi)
            alarm[i] = not lower[i] <= prev <= upper[i]
            if alarm[i] and self.reset:
                prev, step = self.baseline_mean, 0
        return {"value": values, "statistic": z, "lower": lower, "upper": upper, "alarm": alarm}


@dataclass(frozen=True)
class CusumRule:
    """Two-sided tabular CUSUM (Page 1954) for persistent shifts of the mean.

    ``C⁺_t = max(0, x_t − (μ0 + kσ) + C⁺_{t−1})`` and ``C⁻_t = max(0, (μ0 − kσ) − x_t + C⁻_{t−1})``, both
    starting at 0; the chart signals when ``C⁺_t > hσ`` or ``C⁻_t > hσ`` (Montgomery, §9.1). ``k = 0.5`` tunes
    it to a shift of one σ; ``h = 5`` gives an in-control ARL of about 465 windows for the two-sided chart
    (Montgomery, §9.1; Siegmund's approximation gives about 938 per side).

    Attributes:
        k: Reference value (allowance) in units of σ.
        h: Decision interval in units of σ.
        baseline_mean: In-control mean μ0.
        baseline_sd: In-control standard deviation σ of one window's value.
        metric: Column of the series to watch; ``None`` for the only numeric column / a Series.
        reset: Set both sums to 0 after each signal (as the ARL is defined); otherwise the alarm lasts while a
            sum stays above ``hσ``.
    """

    k: float
    h: float
    baseline_mean: float
    baseline_sd: float
    metric: str | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        if _real(self.k, "k") < 0.0:
            raise ParameterError(f"k must be >= 0, got {self.k}.")
        _real(self.h, "h", positive=True)
        _real(self.baseline_mean, "baseline_mean")
        _real(self.baseline_sd, "baseline_sd", positive=True)

    @property
    def method(self) -> str:
        """Description of the rule."""
        return f"two-sided tabular CUSUM (Page 1954): k={self.k:g} sd, h={self.h:g} sd"

    def evaluate(self, values: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        """Per-window ``upper_sum`` (C⁺), ``lower_sum`` (C⁻), ``limit`` (hσ) and ``alarm`` for ``values``."""
        n = values.size
        hi_sum = np.empty(n)
        lo_sum = np.empty(n)
        alarm = np.zeros(n, dtype=bool)
        slack = float(self.k) * float(self.baseline_sd)
        limit = float(self.h) * float(self.baseline_sd)
        c_hi = c_lo = 0.0
        for i in range(n):
            c_hi = max(0.0, values[i] - (self.baseline_mean + slack) + c_hi)
            c_lo = max(0.0, (self.baseline_mean - slack) - values[i] + c_lo)
            hi_sum[i], lo_sum[i] = c_hi, c_lo
            alarm[i] = c_hi > limit or c_lo > limit
            if alarm[i] and self.reset:
                c_hi = c_lo = 0.0
        return {
            "value": values,
            "upper_sum": hi_sum,
            "lower_sum": lo_sum,
            "limit": np.full(n, limit),
            "alarm": alarm,
        }


Rule = ThresholdRule | EwmaRule | CusumRule


@dataclass(frozen=True)
class Replay(_Result):
    """When a rule would have alerted over a series.

    Attributes:
        method: The rule's description.
        n_windows: Number of windows replayed.
        n_alerts: Number of alert intervals (alarm onsets).
        alarm_windows: Number of windows in alarm.
        first_alarm: Time (or position, for a series without timestamps) of the first alarm; ``None`` if none.
        first_alarm_index: Position of the first alarm window; ``None`` if none.
        intervals: Alert intervals ``(start, end)``: ``start`` is the first window in alarm, ``end`` the first
            window after it that is no longer in alarm (the resolve time); ``end`` is ``None`` while still firing
            at the end of the series.
        times: The window times (or positions).
        state: Per-window state as ``(column, values)`` pairs; see :meth:`to_frame`.
    """

    method: str
    n_windows: int
    n_alerts: int
    alarm_windows: int
    first_alarm: Any
    first_alarm_index: int | None
    intervals: tuple[tuple[Any, Any], ...]
    times: tuple[Any, ...]
    state: tuple[tuple[str, tuple[Any, ...]], ...]

    def to_frame(self) -> pd.DataFrame:
        """Per-window state: ``time``, ``value``, the rule's statistic and limits, and ``alarm``."""
        import pandas as pd

        return pd.DataFrame({"time": list(self.times), **{name: list(values) for name, values in self.state}})

    def alerts(self) -> pd.DataFrame:
        """The alert intervals as a frame with columns ``start`` and ``end``."""
        import pandas as pd

        return pd.DataFrame(list(self.intervals), columns=["start", "end"])

    def __repr__(self) -> str:
        return (
            f"Replay(n_windows={self.n_windows}, n_alerts={self.n_alerts}, first_alarm={self.first_alarm!r}, "
            f"method={self.method!r})"
        )


def _series(rule: Rule, series: Any, ts: str) -> tuple[NDArray[np.float64], list[Any]]:
    """Values and times of ``series`` (a DataFrame, a Series or an array) for ``rule``."""
    import pandas as pd

    if isinstance(series, pd.DataFrame):
        metric = rule.metric
        if metric is None:
            numeric = [c for c in series.columns if c != ts and pd.api.types.is_numeric_dtype(series[c])]
            if len(numeric) != 1:
                raise ParameterError(
                    f"the series has numeric columns {numeric}; name the one to watch with the rule's metric=."
                )
            metric = str(numeric[0])
        if metric not in series.columns:
            raise ParameterError(f"the series has no column {metric!r}; its columns are {list(series.columns)}.")
        raw: Any = series[metric]
        times = list(series[ts]) if ts in series.columns else list(series.index)
    elif isinstance(series, pd.Series):
        raw, times = series, list(series.index)
    else:
        raw = series
        times = []
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"the series values must be numbers ({error}).") from error
    if values.ndim != 1 or values.size == 0:
        raise DataError(f"the series must be a non-empty one-dimensional sequence, got shape {values.shape}.")
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"the series has {int(bad.sum())} missing or infinite value(s) (first at position "
            f"{int(np.flatnonzero(bad)[0])}); drop those windows or fill them before replaying a rule."
        )
    if not times:
        times = list(range(values.size))
    return values, times


def replay(rule: Rule, series: Any, *, ts: str = "window") -> Replay:
    """Replay an alert rule over a history of windows: when would it have fired, and for how long?

    Args:
        rule: A :class:`ThresholdRule`, :class:`EwmaRule` or :class:`CusumRule`.
        series: A DataFrame with a time column ``ts`` (else its index) and the rule's metric column (e.g. the
            output of :func:`windowed`), a pandas Series indexed by time, or a plain array of window values.
        ts: Name of the time column of a DataFrame.

    Returns:
        The alert intervals, the first alarm and the per-window state of the rule.

    Raises:
        ParameterError: If ``rule`` is not a rule, or the metric column is missing or ambiguous.
        DataError: If the series is empty or has missing values.
    """
    if not isinstance(rule, ThresholdRule | EwmaRule | CusumRule):
        raise ParameterError(f"rule must be a ThresholdRule, EwmaRule or CusumRule, got {type(rule).__name__}.")
    values, times = _series(rule, series, ts)
    state = rule.evaluate(values)
    alarm = state["alarm"]
    onsets = np.flatnonzero(alarm & ~np.concatenate([[False], alarm[:-1]]))
    intervals: list[tuple[Any, Any]] = []
    for start in onsets:
        stop = start
        while stop < alarm.size and alarm[stop]:
            stop += 1
        intervals.append((times[start], times[stop] if stop < alarm.size else None))
    first = int(onsets[0]) if onsets.size else None
    return Replay(
        method=rule.method,
        n_windows=int(values.size),
        n_alerts=len(intervals),
        alarm_windows=int(alarm.sum()),
        first_alarm=times[first] if first is not None else None,
        first_alarm_index=first,
        intervals=tuple(intervals),
        times=tuple(times),
        state=tuple((name, tuple(np.asarray(v).tolist())) for name, v in state.items()),
    )


@dataclass(frozen=True)
class FalseAlarmRate(_Result):
    """Alarms of a rule on history where nothing was wrong (A/A or pre-release).

    Attributes:
        n_windows: Windows replayed.
        n_alarms: Alarm onsets (alert intervals).
        per_window: ``n_alarms / n_windows``.
        per_day: Alarms per day when the series has timestamps spanning a positive time (``None`` otherwise).
        arl: Estimated in-control average run length ``n_windows / n_alarms`` (``inf`` without alarms).
        ci_low: Lower end of the exact Poisson (Garwood) ``1 − alpha`` interval of ``per_window``.
        ci_high: Upper end of that interval.
        alpha: Significance level of the interval.
        method: The rule's description and the interval formula.
    """

    n_windows: int
    n_alarms: int
    per_window: float
    per_day: float | None
    arl: float
    ci_low: float
    ci_high: float
    alpha: float
    method: str

    def __repr__(self) -> str:
        return (
            f"FalseAlarmRate(per_window={_fmt(self.per_window)}, ci=[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}], "
            f"arl={_fmt(self.arl)}, n_alarms={self.n_alarms})"
        )


def false_alarm_rate(rule: Rule, clean_series: Any, *, ts: str = "window", alpha: float = 0.05) -> FalseAlarmRate:
    """Alarm onsets per window (and per day) of ``rule`` on a clean history.

    Each alert interval counts once. For a control chart with ``reset=True`` the rate estimates ``1/ARL₀``;
    its exact Poisson interval is ``[χ²_{α/2}(2a)/2, χ²_{1−α/2}(2a + 2)/2] / n`` for ``a`` alarms in ``n``
    windows (Garwood 1936).

    Args:
        rule: The rule to measure.
        clean_series: History in which no alert was warranted, as accepted by :func:`replay`.
        ts: Name of the time column of a DataFrame.
        alpha: Significance level of the interval.

    Returns:
        The measured false-alarm rate.
    """
    from scipy import stats

    check_alpha(alpha)
    result = replay(rule, clean_series, ts=ts)
    n, a = result.n_windows, result.n_alerts
    low = 0.0 if a == 0 else float(stats.chi2.ppf(alpha / 2.0, 2 * a)) / 2.0 / n
    high = float(stats.chi2.ppf(1.0 - alpha / 2.0, 2 * a + 2)) / 2.0 / n
    per_day: float | None = None
    first, last = result.times[0], result.times[-1]
    if isinstance(first, datetime | np.datetime64) and n > 1:
        import pandas as pd

        span_days = (pd.Timestamp(last) - pd.Timestamp(first)).total_seconds() / 86400.0
        if span_days > 0:
            # n windows cover n/(n − 1) times the span from the first window start to the last one
            per_day = a / (span_days * n / (n - 1))
    return FalseAlarmRate(
        n_windows=n,
        n_alarms=a,
        per_window=a / n,
        per_day=per_day,
        arl=n / a if a else math.inf,
        ci_low=low,
        ci_high=high,
        alpha=float(alpha),
        method=f"{result.method}; exact Poisson (Garwood) interval",
    )


# ------------------------------------------------------------------------------------------------------
# before/after a release


@dataclass(frozen=True)
class ReleaseJump(_Result):
    """The jump of a metric at a release marker, and whether to roll back.

    Attributes:
        estimate: ``after − before``: difference in means (Welch) or Hodges–Lehmann shift (Mann–Whitney).
        ci_low: Lower end of the ``1 − alpha`` interval of ``estimate``.
        ci_high: Upper end of that interval.
        pvalue: Two-sided p-value of no jump.
        before_mean: Mean of the windows before the release.
        after_mean: Mean of the windows after it.
        n_before: Windows (or units) before.
        n_after: Windows (or units) after.
        alpha: Significance level.
        direction: ``"increase"`` if higher values are better, ``"decrease"`` if lower values are better.
        degraded: The metric moved significantly in the bad direction (and by more than ``min_effect``).
        rollback: The advice: roll back the release.
        reason: Why, in a sentence.
        method: The test used.
    """

    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    before_mean: float
    after_mean: float
    n_before: int
    n_after: int
    alpha: float
    direction: str
    degraded: bool
    rollback: bool
    reason: str
    method: str

    def __repr__(self) -> str:
        return (
            f"ReleaseJump(estimate={_fmt(self.estimate)}, ci=[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}], "
            f"pvalue={_fmt(self.pvalue)}, rollback={self.rollback}, method={self.method!r})"
        )


def release_jump(
    before: ArrayLike | Moments,
    after: ArrayLike | Moments,
    *,
    method: Literal["welch", "mann_whitney"] = "welch",
    alpha: float = 0.05,
    direction: Literal["increase", "decrease"] = "increase",
    min_effect: float = 0.0,
) -> ReleaseJump:
    """Compare the windows before and after a release marker and advise whether to roll back.

    ``"welch"`` tests the difference in means ``m_after − m_before`` with Welch's t-test
    (:func:`abnb.stats.welch`, before as control); it takes per-window values or their :class:`Moments`.
    ``"mann_whitney"`` tests a location shift with the rank-sum test and estimates it by the Hodges–Lehmann
    median of pairwise differences (:func:`abnb.stats.mann_whitney`); it needs the values. Roll back when
    the change is significant (``pvalue < alpha``) in the bad direction — down when ``direction="increase"``
    (higher is better), up when ``direction="decrease"`` — and larger than ``min_effect`` in magnitude.

    Args:
        before: Per-window values before the release (or their Moments, Welch only).
        after: Per-window values after the release (or their Moments, Welch only).
        method: ``"welch"`` or ``"mann_whitney"``.
        alpha: Significance level.
        direction: Which way is better for the metric.
        min_effect: Smallest degradation (absolute, in metric units) worth a rollback.

    When every window of both periods has the same value (e.g. a precision of 1 in every window of a small
    sample), no test applies: the jump is the exact difference, its interval is that single point and the p-value
    is the limit of the test as the spread goes to 0 (0 for a jump, 1 for none); the reason says so.

    Returns:
        The jump with its interval, p-value and the rollback advice.

    Raises:
        ParameterError: On an unknown method or direction, or Moments passed to Mann–Whitney.

    References:
        B. L. Welch (1947), Biometrika 34; H. B. Mann & D. R. Whitney (1947), Ann. Math. Statist. 18;
        J. L. Hodges & E. L. Lehmann (1963), Ann. Math. Statist. 34.
    """
    if direction not in ("increase", "decrease"):
        raise ParameterError(f"direction must be 'increase' (higher is better) or 'decrease', got {direction!r}.")
    min_effect = _real(min_effect, "min_effect")
    if min_effect < 0:
        raise ParameterError(f"min_effect must be >= 0, got {min_effect}.")
    if method not in ("welch", "mann_whitney"):
        raise ParameterError(f"method must be 'welch' or 'mann_whitney', got {method!r}.")
    if method == "mann_whitney" and (isinstance(before, Moments) or isinstance(after, Moments)):
        raise ParameterError("method='mann_whitney' ranks the values; pass per-window values, not Moments.")
    m_before = before if isinstance(before, Moments) else Moments.from_values(before)
    m_after = after if isinstance(after, Moments) else Moments.from_values(after)
    constant = (
        not m_before.proportion
        and not m_after.proportion
        and min(m_before.n, m_after.n) >= 2
        and m_before.variance == 0.0
        and m_after.variance == 0.0
    )
    if constant:
        # Every window of each period has the same value: the jump is known exactly and no test applies. Report
        # the limit of Welch's test as the spread goes to 0 (p = 0 for a jump, 1 for none) instead of failing.
        estimate = m_after.difference_from(m_before)
        low = high = estimate
        pvalue = 0.0 if estimate != 0.0 else 1.0
        name = "exact difference (both periods constant, no window-to-window variation to test against)"
        mean_before, mean_after, n_before, n_after = m_before.mean, m_after.mean, m_before.n, m_after.n
    elif method == "welch":
        effect = welch(m_before, m_after, alpha=alpha)
        estimate, low, high, pvalue, name = effect.estimate, effect.ci_low, effect.ci_high, effect.pvalue, effect.method
        mean_before, mean_after, n_before, n_after = m_before.mean, m_after.mean, m_before.n, m_after.n
    else:
        b = np.asarray(before, dtype=np.float64)
        a = np.asarray(after, dtype=np.float64)
        shift = mann_whitney(b, a, alpha=alpha)
        estimate, low, high, pvalue, name = shift.estimate, shift.ci_low, shift.ci_high, shift.pvalue, shift.method
        mean_before, mean_after, n_before, n_after = float(b.mean()), float(a.mean()), int(b.size), int(a.size)
    bad_sign = estimate < 0 if direction == "increase" else estimate > 0
    significant = pvalue < alpha
    degraded = bool(significant and bad_sign and abs(estimate) > min_effect)
    if degraded:
        advice = "roll back."
    elif bad_sign:
        advice = f"not larger than min_effect {min_effect:g}: keep watching."
    else:
        advice = "keep the release."
    if constant and estimate == 0.0:
        reason = f"both periods are constant at {mean_before:.4g}: no jump; keep the release and keep watching."
    elif constant:
        reason = (
            f"every window before the release is {mean_before:.4g} and every window after it {mean_after:.4g}: "
            f"an exact {'drop' if estimate < 0 else 'rise'} of {abs(estimate):.4g} with no variation to test "
            "(check that the metric has enough data per window); " + advice
        )
    elif degraded:
        reason = (
            f"the metric {'dropped' if estimate < 0 else 'rose'} by {abs(estimate):.4g} after the release "
            f"(p = {pvalue:.3g} < {alpha:g}; {1 - alpha:.0%} CI [{low:.4g}, {high:.4g}]), and "
            f"{'higher' if direction == 'increase' else 'lower'} is better: roll back."
        )
    elif significant and bad_sign:
        reason = (
            f"a significant degradation of {abs(estimate):.4g}, but not larger than min_effect {min_effect:g}: "
            "keep watching."
        )
    elif significant:
        reason = f"the metric improved by {abs(estimate):.4g} (p = {pvalue:.3g}): keep the release."
    else:
        reason = f"no significant jump (p = {pvalue:.3g} >= {alpha:g}): keep the release and keep watching."
    return ReleaseJump(
        estimate=float(estimate),
        ci_low=float(low),
        ci_high=float(high),
        pvalue=float(pvalue),
        before_mean=float(mean_before),
        after_mean=float(mean_after),
        n_before=int(n_before),
        n_after=int(n_after),
        alpha=float(alpha),
        direction=direction,
        degraded=degraded,
        rollback=degraded,
        reason=reason,
        method=name,
    )


# ------------------------------------------------------------------------------------------------------
# segment breakdown


def _proportion_ci(successes: NDArray[np.float64], trials: NDArray[np.float64], z: float, kind: str) -> Any:
    p = successes / trials
    if kind == "normal":
        half = z * np.sqrt(p * (1 - p) / trials)
        return np.clip(p - half, 0.0, 1.0), np.clip(p + half, 0.0, 1.0)
    denom = 1.0 + z**2 / trials
    center = (p + z**2 / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denom
    return center - half, center + half


def segment_breakdown(
    frame: pd.DataFrame,
    *,
    segment: str,
    successes: str,
    trials: str,
    alpha: float = 0.05,
    ci: Literal["wilson", "normal"] = "wilson",
    worse: Literal["higher", "lower", "either"] = "either",
) -> pd.DataFrame:
    """Is a rate (e.g. the mistake rate) uniform across segments? Per-segment CIs and FDR-controlled flags.

    Rows of ``frame`` (e.g. per window × segment) are summed per segment. For each segment ``s`` with rate
    ``p_s = x_s/n_s``:

    * the interval is Wilson's ``(p + z²/2n ± z·sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n)`` or the normal
      ``p ± z·sqrt(p(1 − p)/n)`` (clipped to [0, 1]), ``z = Φ⁻¹(1 − α/2)``;
    * the test compares the segment with the rest (all other segments pooled) by the two-proportion z-test
      with the pooled SE (:func:`abnb.stats.ztest`, ``pooled=True``);
    * the p-values are adjusted by Benjamini–Hochberg over the segments (:func:`abnb.stats.adjust`), and
      ``flag`` marks segments with adjusted p ≤ α (false discovery rate α) that differ from the rest in the
      ``worse`` direction.

    One bad segment raises the rate of "the rest" for every other segment, so with much data the good
    segments also differ significantly from the rest — in the good direction. ``worse="higher"`` (a mistake
    rate) or ``"lower"`` (a success rate) flags only the segments that are worse than the rest.

    Args:
        frame: Aggregated rows with a segment column and success/trial counts.
        segment: Segment column.
        successes: Column counting the events of interest (e.g. mistakes).
        trials: Column counting the opportunities (e.g. labelled predictions).
        alpha: Significance level of the intervals and FDR level of the flags.
        ci: ``"wilson"`` or ``"normal"``.
        worse: Which difference from the rest to flag: ``"higher"``, ``"lower"`` or ``"either"``.

    Returns:
        One row per segment: ``segment``, ``successes``, ``trials``, ``rate``, ``ci_low``, ``ci_high``,
        ``rest_rate``, ``difference`` (segment − rest), ``statistic``, ``pvalue``, ``pvalue_adjusted``, ``flag``.

    Raises:
        ParameterError: On a missing column, fewer than two segments, or counts that are not valid.

    References:
        E. B. Wilson (1927), JASA 22; Y. Benjamini & Y. Hochberg (1995), JRSS B 57.
    """
    import pandas as pd
    from scipy import special

    missing = [c for c in (segment, successes, trials) if c not in frame.columns]
    if missing:
        raise ParameterError(f"frame has no column(s) {missing}; its columns are {list(frame.columns)}.")
    if ci not in ("wilson", "normal"):
        raise ParameterError(f"ci must be 'wilson' or 'normal', got {ci!r}.")
    if worse not in ("higher", "lower", "either"):
        raise ParameterError(f"worse must be 'higher', 'lower' or 'either', got {worse!r}.")
    check_alpha(alpha)
    grouped = frame.groupby(segment, sort=True, dropna=False)[[successes, trials]].sum()
    if len(grouped) < 2:
        raise ParameterError(f"segment_breakdown needs at least two segments in {segment!r}, got {len(grouped)}.")
    x = grouped[successes].to_numpy(dtype=np.float64)
    n = grouped[trials].to_numpy(dtype=np.float64)
    if (n < 2).any() or (x < 0).any() or (x > n).any():
        bad = list(grouped.index[(n < 2) | (x < 0) | (x > n)])
        raise ParameterError(
            f"segments {bad} need at least 2 trials and 0 <= successes <= trials; merge small segments first."
        )
    total_x, total_n = x.sum(), n.sum()
    statistics, pvalues = [], []
    for xs, ns in zip(x, n, strict=True):
        rest = Moments.from_counts(int(total_x - xs), int(total_n - ns))
        seg = Moments.from_counts(int(xs), int(ns))
        if total_x in (0, total_n):
            statistics.append(0.0)
            pvalues.append(1.0)
            continue
        effect = ztest(rest, seg, alpha=alpha, pooled=True)
        statistics.append(effect.statistic)
        pvalues.append(effect.pvalue)
    z = float(special.ndtri(1.0 - alpha / 2.0))
    low, high = _proportion_ci(x, n, z, ci)
    rest_rate = (total_x - x) / (total_n - n)
    adjusted = adjust(np.asarray(pvalues), method="bh")
    difference = x / n - rest_rate
    if worse == "higher":
        bad_side = difference > 0
    elif worse == "lower":
        bad_side = difference < 0
    else:
        bad_side = np.ones(difference.size, dtype=bool)
    return pd.DataFrame(
        {
            "segment": list(grouped.index),
            "successes": x,
            "trials": n,
            "rate": x / n,
            "ci_low": low,
            "ci_high": high,
            "rest_rate": rest_rate,
            "difference": difference,
            "statistic": statistics,
            "pvalue": pvalues,
            "pvalue_adjusted": adjusted,
            "flag": (adjusted <= alpha) & bad_side,
        }
    )


# ------------------------------------------------------------------------------------------------------
# drift


def _counts(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        counts = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{name} must be numbers ({error}).") from error
    if counts.ndim != 1 or counts.size < 2:
        raise ParameterError(f"{name} must be one-dimensional with at least two bins, got shape {counts.shape}.")
    if not np.isfinite(counts).all() or (counts < 0).any() or counts.sum() <= 0:
        raise ParameterError(f"{name} must be finite non-negative counts with a positive total.")
    return counts


def psi(reference_counts: ArrayLike, current_counts: ArrayLike, *, epsilon: float = 1e-4) -> float:
    """Population stability index of two binned distributions.

    ``PSI = Σ_i (q_i − p_i)·ln(q_i / p_i)`` with ``p_i``, ``q_i`` the reference and current shares of bin
    ``i``; shares below ``epsilon`` are raised to ``epsilon`` so empty bins stay finite. PSI is the symmetrised
    Kullback–Leibler divergence ``KL(q‖p) + KL(p‖q)``; the usual reading is < 0.1 stable, 0.1–0.25 a moderate
    shift, > 0.25 a major shift (Siddiqi 2006, *Credit Risk Scorecards*, ch. 9).

    Args:
        reference_counts: Counts per bin in the reference period.
        current_counts: Counts per bin in the current period, same bins.
        epsilon: Floor of the shares.

    Returns:
        The PSI (≥ 0).

    Raises:
        ParameterError: If the counts are not non-negative with a positive total or the bins differ in number.
    """
    p = _counts(reference_counts, "reference_counts")
    q = _counts(current_counts, "current_counts")
    if p.size != q.size:
        raise ParameterError(f"reference has {p.size} bins but current has {q.size}; use the same bins.")
    eps = _real(epsilon, "epsilon", positive=True)
    p = np.maximum(p / p.sum(), eps)
    q = np.maximum(q / q.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def _numeric_values(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} must be numbers ({error}).") from error
    array = array[~np.isnan(array)] if array.ndim == 1 else array
    if array.ndim != 1 or array.size == 0:
        raise DataError(f"{name} must be a non-empty one-dimensional sample.")
    return array


def psi_from_values(reference: ArrayLike, current: ArrayLike, *, bins: int = 10) -> float:
    """PSI of a numeric feature over ``bins`` quantile bins of the reference sample.

    The inner bin edges are the reference quantiles ``1/bins, …, (bins − 1)/bins`` (duplicates dropped); the
    outer bins are open, so current values outside the reference range still count. Bins are right-closed
    ``(e_{i−1}, e_i]``. NaN values are dropped. Then :func:`psi` of the two count vectors.

    Args:
        reference: Reference values.
        current: Current values.
        bins: Number of quantile bins (≥ 2).

    Returns:
        The PSI.
    """
    ref = _numeric_values(reference, "reference")
    cur = _numeric_values(current, "current")
    n_bins = _positive_int(bins, "bins")
    if n_bins < 2:
        raise ParameterError(f"bins must be >= 2, got {n_bins}.")
    edges = np.unique(np.quantile(ref, np.arange(1, n_bins) / n_bins))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=edges.size + 1)
    if edges.size == 0:
        return 0.0
    return psi(ref_counts, cur_counts)


@dataclass(frozen=True)
class DriftResult(_Result):
    """A test of whether a feature's distribution moved between a reference and a current period.

    Attributes:
        statistic: KS ``D`` or Pearson χ².
        pvalue: p-value of no change.
        dof: Degrees of freedom of χ² (``None`` for KS).
        psi: Population stability index of the same comparison.
        n_reference: Reference sample size.
        n_current: Current sample size.
        method: The test used.
    """

    statistic: float
    pvalue: float
    dof: int | None
    psi: float
    n_reference: int
    n_current: int
    method: str

    def __repr__(self) -> str:
        return (
            f"DriftResult(statistic={_fmt(self.statistic)}, pvalue={_fmt(self.pvalue)}, psi={_fmt(self.psi)}, "
            f"method={self.method!r})"
        )


def ks_drift(reference: ArrayLike, current: ArrayLike, *, bins: int = 10) -> DriftResult:
    """Two-sample Kolmogorov–Smirnov test of a numeric feature (``scipy.stats.ks_2samp``), with its PSI.

    ``D = sup_x |F_ref(x) − F_cur(x)|``; the p-value is scipy's (exact for small samples, asymptotic else).
    NaN values are dropped.

    Args:
        reference: Reference values.
        current: Current values.
        bins: Quantile bins of the accompanying :func:`psi_from_values`.

    Returns:
        The test result.

    References:
        N. Smirnov (1948), Ann. Math. Statist. 19, 279–281.
    """
    from scipy import stats

    ref = _numeric_values(reference, "reference")
    cur = _numeric_values(current, "current")
    res = stats.ks_2samp(ref, cur)
    return DriftResult(
        statistic=float(res.statistic),
        pvalue=float(res.pvalue),
        dof=None,
        psi=psi_from_values(ref, cur, bins=bins),
        n_reference=int(ref.size),
        n_current=int(cur.size),
        method="two-sample Kolmogorov-Smirnov (scipy.stats.ks_2samp)",
    )


def chi2_drift(reference_counts: ArrayLike, current_counts: ArrayLike) -> DriftResult:
    """Pearson χ² test of homogeneity of a categorical feature (``scipy.stats.chi2_contingency``), with its PSI.

    The 2 × k table has the reference and current counts as rows; categories empty in both are dropped.
    ``χ² = Σ (O − E)²/E`` with ``E`` from the margins, ``dof = k − 1`` (Yates' correction when ``k = 2``, as
    scipy applies it).

    Args:
        reference_counts: Counts per category in the reference period.
        current_counts: Counts per category in the current period, same order.

    Returns:
        The test result.

    References:
        K. Pearson (1900), Phil. Mag. 50, 157–175.
    """
    from scipy import stats

    ref = _counts(reference_counts, "reference_counts")
    cur = _counts(current_counts, "current_counts")
    if ref.size != cur.size:
        raise ParameterError(f"reference has {ref.size} categories but current has {cur.size}; align them.")
    keep = (ref + cur) > 0
    if keep.sum() < 2:
        statistic, pvalue, dof = 0.0, 1.0, 0
    else:
        res = stats.chi2_contingency(np.vstack([ref[keep], cur[keep]]))
        statistic, pvalue, dof = float(res.statistic), float(res.pvalue), int(res.dof)
    return DriftResult(
        statistic=statistic,
        pvalue=pvalue,
        dof=dof,
        psi=psi(ref, cur),
        n_reference=int(ref.sum()),
        n_current=int(cur.sum()),
        method="Pearson chi-squared test of homogeneity (scipy.stats.chi2_contingency)",
    )


def _psi_level(value: float) -> str:
    if value < 0.1:
        return "stable"
    if value < 0.25:
        return "moderate"
    return "major"


def drift_report(
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    features: Sequence[str],
    *,
    alpha: float = 0.05,
    bins: int = 10,
) -> pd.DataFrame:
    """Drift of each feature between a reference and a current sample, the test chosen by dtype.

    Numeric features (not boolean) get :func:`ks_drift` and the quantile-bin PSI; boolean, categorical and
    string features get :func:`chi2_drift` over the union of categories (missing values as their own
    category). The p-values are adjusted by Benjamini–Hochberg across features; ``drift`` marks adjusted
    p ≤ α. With large samples tiny shifts are significant: read ``psi`` (``psi_level``) as the size.

    Args:
        reference_frame: Reference rows (e.g. training data or the pre-release period), or a bounded sample.
        current_frame: Current rows, or a bounded sample.
        features: Columns to compare.
        alpha: FDR level of the ``drift`` flag.
        bins: Quantile bins of the numeric PSI.

    Returns:
        One row per feature: ``feature``, ``kind``, ``test``, ``statistic``, ``pvalue``, ``dof``, ``psi``,
        ``psi_level``, ``pvalue_adjusted``, ``drift``.

    Raises:
        ParameterError: If a feature is missing from either frame or ``features`` is empty.
    """
    import pandas as pd

    names = list(features)
    if not names:
        raise ParameterError("features is empty; name at least one column to compare.")
    for frame, which in ((reference_frame, "reference_frame"), (current_frame, "current_frame")):
        missing = [f for f in names if f not in frame.columns]
        if missing:
            raise ParameterError(f"{which} has no column(s) {missing}; its columns are {list(frame.columns)}.")
    rows = []
    for feature in names:
        ref, cur = reference_frame[feature], current_frame[feature]
        numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
        if numeric:
            result = ks_drift(ref.to_numpy(dtype=np.float64), cur.to_numpy(dtype=np.float64), bins=bins)
            kind, test = "numeric", "ks"
        else:
            ref_counts = ref.astype(object).fillna("(missing)").value_counts()
            cur_counts = cur.astype(object).fillna("(missing)").value_counts()
            categories = sorted(set(ref_counts.index) | set(cur_counts.index), key=str)
            result = chi2_drift(
                ref_counts.reindex(categories, fill_value=0).to_numpy(),
                cur_counts.reindex(categories, fill_value=0).to_numpy(),
            )
            kind, test = "categorical", "chi2"
        rows.append(
            {
                "feature": feature,
                "kind": kind,
                "test": test,
                "statistic": result.statistic,
                "pvalue": result.pvalue,
                "dof": result.dof,
                "psi": result.psi,
                "psi_level": _psi_level(result.psi),
            }
        )
    report = pd.DataFrame(rows)
    report["pvalue_adjusted"] = adjust(report["pvalue"].to_numpy(dtype=np.float64), method="bh")
    report["drift"] = report["pvalue_adjusted"] <= alpha
    return report


# ------------------------------------------------------------------------------------------------------
# labelled precision, the monitoring summary and its charts


def _groups(by: str | Sequence[str] | None) -> list[str]:
    groups = [by] if isinstance(by, str) else list(by or ())
    for name in groups:
        if not isinstance(name, str):
            raise ParameterError(f"by must name columns of predictions, got {by!r}.")
    return groups


def _prediction_column(schema: ModelTelemetry, name: str, alias: str | None = None) -> exp.Expression:
    """A grouping column of the predictions, named ``name`` in the result.

    A field of :class:`abnb.telemetry.Predictions` (``segment``, ``model_version`` ...) is the schema's column for
    it; any other name is a column of the table as it is.
    """
    from sqlglot import exp

    predictions = schema.predictions
    if name in predictions.columns():
        return predictions.aliased(name, alias)
    column = exp.Column(this=identifier(name, "group column"), table=exp.to_identifier(alias) if alias else None)
    return exp.Alias(this=column, alias=identifier(name, "group column"))


def labelled_precision_by_window(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    window: str | None,
    by: str | Sequence[str] | None = "segment",
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    alpha: float = 0.05,
    schema: ModelTelemetry | None = None,
) -> pd.DataFrame:
    """Hájek estimate of precision per window × group from the sampled manual labels, computed in the engine.

    The labelled flagged requests (``labels ⋈ predictions`` on ``request_id`` with ``prediction = 1``) carry
    weights ``w = 1/π`` (``inclusion_prob``). One aggregate query returns per window and group
    ``n = count``, ``S_w = Σw``, ``S_wy = Σw·y``, ``S_w2 = Σw²`` and ``S_w2y = Σw²·y`` (``y`` the 0/1 label); then

    * precision ``R = S_wy / S_w`` (Hájek ratio estimator);
    * delta-method variance ``Var(R) ≈ Σ w² (y − R)² / S_w² = (S_w2y (1 − 2R) + R² S_w2) / S_w²``
      (``y² = y``). With ``w²`` rather than the design-only ``w² − w`` it also covers the Bernoulli noise of
      the labels, so the interval targets the model's precision, not only that of the served population;
    * a normal ``1 − alpha`` interval ``R ± z·SE``, clipped to [0, 1].

    A request is counted in the window of its prediction ``ts``; ``start``/``end`` bound that ts, and ``end``
    also drops labels that arrived at or after it (they were not known yet).

    Args:
        connection: A connection from :func:`abnb.connect` or a raw ``duckdb`` connection.
        window: Window length as a DuckDB interval (``"1 day"``); ``None`` for one row per group over the range.
        by: Column(s) of ``predictions`` to group by (e.g. ``"segment"``, ``"model_version"``), or ``None``. A
            field of :class:`abnb.telemetry.Predictions` means the schema's column for it (the result names it by
            the field); any other name is a column of the predictions table.
        start: Keep requests with ``ts >= start``.
        end: Keep requests with ``ts < end`` and labels with ``ts < end``.
        alpha: Significance level of the intervals.
        schema: Names of the ``predictions`` and ``labels`` tables and columns (default: the sample's).

    Returns:
        One row per window × group: ``window`` (when windowed), the ``by`` columns, ``n_labels``,
        ``n_true_positive`` (unweighted), ``sum_w``, ``sum_wy``, ``sum_w2``, ``sum_w2y``, ``precision``, ``se``,
        ``ci_low``, ``ci_high``.

    References:
        J. Hájek (1971), comment in *Foundations of Statistical Inference*; C.-E. Särndal, B. Swensson &
        J. Wretman (1992), *Model Assisted Survey Sampling*, §5.6–5.7 (ratio estimators, Taylor variance).
    """
    import pandas as pd
    from scipy import special
    from sqlglot import exp

    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    groups = _groups(by)
    check_alpha(alpha)
    if window is not None and (not isinstance(window, str) or not window.strip()):
        raise ParameterError(f"window must be an interval string such as '1 day' or None, got {window!r}.")

    def pcol(name: str) -> exp.Column:
        return schema.predictions.column(name, "p")

    def lcol(name: str) -> exp.Column:
        return schema.labels.column(name, "l")

    weight = exp.Div(this=exp.Literal.number(1), expression=lcol("inclusion_prob"))
    label = exp.Cast(this=lcol("label"), to=exp.DataType.build("DOUBLE"))
    squared = exp.Mul(this=exp.Paren(this=weight.copy()), expression=exp.Paren(this=weight.copy()))
    aggregates = {
        "n_labels": exp.Count(this=exp.Star()),
        "n_true_positive": exp.Sum(this=lcol("label")),
        "sum_w": exp.Sum(this=weight.copy()),
        "sum_wy": exp.Sum(this=exp.Mul(this=exp.Paren(this=weight.copy()), expression=label.copy())),
        "sum_w2": exp.Sum(this=squared.copy()),
        "sum_w2y": exp.Sum(this=exp.Mul(this=exp.Paren(this=squared.copy()), expression=label.copy())),
    }
    keys: list[exp.Expression] = []
    params: dict[str, Any] = {}
    if window is not None:
        bucket = exp.Anonymous(
            this="time_bucket",
            expressions=[exp.Cast(this=exp.Placeholder(this="window"), to=exp.DataType.build("INTERVAL")), pcol("ts")],
        )
        keys.append(exp.Alias(this=bucket, alias=exp.to_identifier("window", quoted=True)))
        params["window"] = window
    keys += [_prediction_column(schema, g, "p") for g in groups]
    selects = keys + [exp.Alias(this=e, alias=exp.to_identifier(n, quoted=True)) for n, e in aggregates.items()]
    conditions: list[exp.Expression] = [exp.EQ(this=pcol("prediction"), expression=exp.Literal.number(1))]
    if start is not None:
        params["start"] = _bound(start, "start")
        conditions.append(exp.GTE(this=pcol("ts"), expression=exp.Placeholder(this="start")))
    if end is not None:
        params["end"] = _bound(end, "end")
        conditions.append(exp.LT(this=pcol("ts"), expression=exp.Placeholder(this="end")))
        conditions.append(exp.LT(this=lcol("ts"), expression=exp.Placeholder(this="end")))
    query = (
        exp.select(*selects)
        .from_(schema.labels.expr("l"))
        .join(schema.predictions.expr("p"), on=exp.EQ(this=lcol("request_id"), expression=pcol("request_id")))
        .where(exp.and_(*conditions))
    )
    if keys:
        positions = [exp.Literal.number(i) for i in range(1, len(keys) + 1)]
        query = query.group_by(*positions).order_by(*[p.copy() for p in positions])
    with schema.reading(con, "labels", "predictions"):
        result = _run_windowed(con, query, params, window)
    frame = pd.DataFrame.from_records(result.rows, columns=list(result.columns))
    frame = frame[frame["n_labels"] > 0].reset_index(drop=True)
    frame["n_labels"] = frame["n_labels"].astype("int64")
    frame["n_true_positive"] = frame["n_true_positive"].astype("int64")
    for column in ("sum_w", "sum_wy", "sum_w2", "sum_w2y"):
        frame[column] = frame[column].astype("float64")
    ratio = frame["sum_wy"] / frame["sum_w"]
    variance = (frame["sum_w2y"] * (1.0 - 2.0 * ratio) + ratio**2 * frame["sum_w2"]) / frame["sum_w"] ** 2
    z = float(special.ndtri(1.0 - float(alpha) / 2.0))
    se = np.sqrt(np.maximum(variance.to_numpy(dtype=np.float64), 0.0))
    frame["precision"] = ratio
    frame["se"] = se
    frame["ci_low"] = np.clip(ratio - z * se, 0.0, 1.0)
    frame["ci_high"] = np.clip(ratio + z * se, 0.0, 1.0)
    return frame


@dataclass(frozen=True)
class MonitoringParameters:
    """The validated parameters of the monitoring notebook."""

    window: str
    as_of: str | None
    model_version: str | None
    database: str | None
    summary_path: str | None


def validate_monitoring_parameters(**values: Any) -> MonitoringParameters:
    """Validate the monitoring notebook's parameters (call it on the line after the ``parameters`` cell).

    Every parameter is a string (papermill's ``-p`` turns ``-p as_of 20261014`` into an integer: pass values
    with ``-r`` or through ``abnb monitor``). ``window`` is a positive DuckDB interval such as ``"1 day"`` or
    ``"6 hours"``; ``as_of`` an ISO date (data through that day) or datetime, empty for all data;
    ``model_version`` a release to focus on, empty for every release; ``database`` a DuckDB file, empty for the
    embedded sample; ``summary_path`` where to write ``summary.json``, empty for nowhere.

    Raises:
        ParameterError: A parameter is unknown, not a string, or malformed.
    """
    allowed = {"window", "as_of", "model_version", "database", "summary_path"}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ParameterError(
            f"unknown monitoring parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}."
        )
    for name, value in values.items():
        if not isinstance(value, str):
            raise ParameterError(
                f"monitoring parameter {name} must be a string, got {type(value).__name__} {value!r}; "
                f"pass it as a raw string (papermill -r {name} VALUE) or use `abnb monitor`."
            )
    window = values.get("window", "1 day").strip()
    if not re.fullmatch(r"[1-9]\d*\s+(minute|hour|day|week)s?", window):
        raise ParameterError(
            f"monitoring parameter window must look like '1 day', '6 hours' or '30 minutes', got {window!r}."
        )
    as_of = values.get("as_of", "").strip() or None
    if as_of is not None:
        _resolve_end(as_of)
    version = values.get("model_version", "").strip() or None
    if version is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]+", version):
        raise ParameterError(f"monitoring parameter model_version must be a version name, got {version!r}.")
    return MonitoringParameters(
        window=window,
        as_of=as_of,
        model_version=version,
        database=values.get("database", "").strip() or None,
        summary_path=values.get("summary_path", "").strip() or None,
    )


def _resolve_end(as_of: datetime | date | str | None) -> datetime | None:
    """The exclusive cutoff of ``as_of`` (:func:`abnb.experiment.resolve_as_of`), or ``None`` when not given."""
    from abnb.experiment import resolve_as_of

    if as_of is None or as_of == "":
        return None
    return resolve_as_of(as_of, None)[0]


@dataclass(frozen=True)
class MonitorSummary:
    """Everything the monitoring dashboard shows, from aggregated frames only.

    Attributes:
        as_of: The last day with data (the label of the report).
        end: Exclusive data cutoff.
        window: Window of the dashboard series and of the precision/latency rules.
        alert_window: Window of the error-rate threshold rule.
        model_version: The release the jumps and drift focus on (``None``: every release).
        baseline_end: End of the clean baseline (the first release); rules are calibrated before it.
        releases: Release markers ``ts``, ``model_version``, ``description``.
        traffic: Per window: ``requests``, ``errors``, ``error_rate`` (Σ errors / Σ requests over the per-minute
            ``ops`` rows) and exact latency ``p50``/``p95``/``p99`` from ``predictions``.
        error_windows: Per alert window: ``requests``, ``errors``, ``error_rate``.
        precision: Hájek precision per window × segment (:func:`labelled_precision_by_window`).
        rule_states: Long frame of every rule's per-window state: ``rule``, ``segment``, ``time``, ``value``,
            ``alarm``.
        alerts: One row per alert interval: ``rule``, ``segment``, ``metric``, ``start``, ``end``, ``method``.
        false_alarms: Per rule and segment, replayed on the clean baseline: ``n_windows``, ``n_alarms``,
            ``per_window``, ``ci_high``.
        release_jumps: Per release, metric and segment: before/after means, jump, CI, p-value, ``rollback``,
            ``reason``.
        segments: :func:`segment_breakdown` of the mistake rate among flagged, labelled requests per version.
        drift: Score distribution before vs after each release, overall and per segment: PSI, binned KS, χ².
        method: How the numbers were computed.
    """

    as_of: str
    end: datetime
    window: str
    alert_window: str
    model_version: str | None
    baseline_end: datetime
    releases: pd.DataFrame
    traffic: pd.DataFrame
    error_windows: pd.DataFrame
    precision: pd.DataFrame
    rule_states: pd.DataFrame
    alerts: pd.DataFrame
    false_alarms: pd.DataFrame
    release_jumps: pd.DataFrame
    segments: pd.DataFrame
    drift: pd.DataFrame
    method: str

    def to_frame(self) -> pd.DataFrame:
        """The alert table."""
        return self.alerts.copy()

    def summary(self) -> dict[str, Any]:
        """A JSON-safe digest: alerts, false alarms, rollback advice, flagged segments, drift and a verdict."""

        def iso(value: Any) -> Any:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return None
            return value.isoformat() if hasattr(value, "isoformat") else str(value)

        def num(value: Any) -> float | None:
            number = float(value)
            return number if math.isfinite(number) else None

        alerts = [
            {"rule": r.rule, "segment": r.segment, "metric": r.metric, "start": iso(r.start), "end": iso(r.end)}
            for r in self.alerts.itertuples()
        ]
        rollbacks = [
            {
                "model_version": r.model_version,
                "metric": r.metric,
                "segment": r.segment,
                "estimate": num(r.estimate),
                "pvalue": num(r.pvalue),
                "rollback": bool(r.rollback),
                "reason": r.reason,
            }
            for r in self.release_jumps.itertuples()
        ]
        advised = sorted({str(j["model_version"]) for j in rollbacks if j["rollback"]})
        flagged = [
            {"model_version": r.model_version, "segment": r.segment, "rate": num(r.rate)}
            for r in self.segments.itertuples()
            if r.flag
        ]
        drift = [
            {"model_version": r.model_version, "segment": r.segment, "psi": num(r.psi), "pvalue": num(r.pvalue)}
            for r in self.drift.itertuples()
            if r.drift
        ]
        if advised:
            verdict, reason = "rollback", f"roll back {', '.join(advised)}: a release degraded a metric."
        elif alerts:
            verdict, reason = "alert", f"{len(alerts)} alert(s) fired; no release needs a rollback."
        else:
            verdict, reason = "ok", "no alert fired and no release degraded a metric."
        return {
            "kind": "monitoring",
            "experiment": "monitoring",
            "as_of": self.as_of,
            "end": self.end.isoformat(),
            "window": self.window,
            "alert_window": self.alert_window,
            "model_version": self.model_version,
            "decision": {"verdict": verdict, "reason": reason},
            "alerts": alerts,
            "false_alarms": [
                {
                    "rule": r.rule,
                    "segment": r.segment,
                    "n_windows": int(str(r.n_windows)),
                    "n_alarms": int(str(r.n_alarms)),
                }
                for r in self.false_alarms.itertuples()
            ],
            "release_jumps": rollbacks,
            "flagged_segments": flagged,
            "drift": drift,
            "method": self.method,
        }

    def __repr__(self) -> str:
        return (
            f"MonitorSummary(as_of={self.as_of!r}, window={self.window!r}, alerts={len(self.alerts)}, "
            f"rollback={int(self.release_jumps['rollback'].sum()) if len(self.release_jumps) else 0})"
        )


#: Shortest window of :func:`monitor_summary`: the ``ops`` table has one row per minute, so a shorter window holds
#: no traffic (and no precision) in most buckets.
MIN_MONITOR_WINDOW = "1 minute"
#: Longest window of :func:`monitor_summary`: a rule and a release jump need several windows in the data.
MAX_MONITOR_WINDOW = "366 days"


def _check_window(con: Connection, window: object, name: str) -> str:
    """Refuse a monitoring window the dashboard cannot use, naming ``name`` and the valid range.

    The engine reads the interval (so ``"15 minutes"``, ``"1 day"``, ``"1 month"`` mean what they mean in SQL);
    it must lie between :data:`MIN_MONITOR_WINDOW` and :data:`MAX_MONITOR_WINDOW`.
    """
    from datetime import timedelta

    from sqlglot import exp

    if not isinstance(window, str) or not window.strip():
        raise ParameterError(f"{name} must be an interval string such as '1 day' or '10 minutes', got {window!r}.")
    query = exp.select(exp.Cast(this=exp.Placeholder(this="w"), to=exp.DataType.build("INTERVAL")))
    try:
        length = con.run(query, {"w": window}).rows[0][0]
    except EngineError as error:
        raise ParameterError(
            f"{name} {window!r} is not an interval the engine understands ({error}); "
            "use e.g. '10 minutes', '6 hours' or '1 day'."
        ) from error
    if isinstance(length, timedelta) and not timedelta(minutes=1) <= length <= timedelta(days=366):
        raise ParameterError(
            f"{name} must be an interval from {MIN_MONITOR_WINDOW} to {MAX_MONITOR_WINDOW} (the ops telemetry has one "
            f"row per minute), got {window!r} ({length})."
        )
    return window


def _fetch(con: Connection, query: exp.Expression, params: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    result = con.run(query, params)
    return pd.DataFrame.from_records(result.rows, columns=list(result.columns))


def _score_histograms(
    con: Connection,
    *,
    lo: datetime,
    cut: datetime,
    hi: datetime,
    bins: int,
    schema: ModelTelemetry | None = None,
) -> pd.DataFrame:
    """Counts of ``score`` in ``bins`` equal bins of [0, 1] per segment, before and after ``cut`` (one query)."""
    from sqlglot import exp

    predictions = (schema or ModelTelemetry()).predictions
    ts, score = predictions.column("ts"), predictions.column("score")
    period = exp.If(
        this=exp.LT(this=ts.copy(), expression=exp.Placeholder(this="cut")),
        true=exp.Literal.string("before"),
        false=exp.Literal.string("after"),
    )
    raw_bin = exp.Cast(
        this=exp.Floor(this=exp.Mul(this=score.copy(), expression=exp.Placeholder(this="bins"))),
        to=exp.DataType.build("INTEGER"),
    )
    bin_ = exp.Least(
        this=raw_bin, expressions=[exp.Sub(this=exp.Placeholder(this="bins"), expression=exp.Literal.number(1))]
    )
    query = (
        exp.select(
            exp.Alias(this=period, alias=exp.to_identifier("period", quoted=True)),
            predictions.aliased("segment"),
            exp.Alias(this=bin_, alias=exp.to_identifier("bin", quoted=True)),
            exp.Alias(this=exp.Count(this=exp.Star()), alias=exp.to_identifier("n", quoted=True)),
        )
        .from_(predictions.expr())
        .where(
            exp.and_(
                exp.Not(this=exp.Is(this=score.copy(), expression=exp.Null())),
                exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="lo")),
                exp.LT(this=ts.copy(), expression=exp.Placeholder(this="hi")),
            )
        )
        .group_by(*[exp.Literal.number(i) for i in (1, 2, 3)])
        .order_by(*[exp.Literal.number(i) for i in (1, 2, 3)])
    )
    return _fetch(con, query, {"cut": cut, "lo": lo, "hi": hi, "bins": bins})


def _binned_drift(before: NDArray[np.float64], after: NDArray[np.float64]) -> dict[str, float]:
    """PSI, χ² homogeneity and a KS distance on the binned CDFs (a lower bound of the exact D)."""
    from scipy import stats

    chi2 = chi2_drift(before, after)
    n, m = before.sum(), after.sum()
    d = float(np.max(np.abs(np.cumsum(before) / n - np.cumsum(after) / m)))
    ks_p = float(stats.kstwobign.sf(d * math.sqrt(n * m / (n + m))))
    return {"psi": chi2.psi, "ks_d": d, "ks_pvalue": ks_p, "chi2": chi2.statistic, "pvalue": chi2.pvalue}


def monitor_summary(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    window: str = "1 day",
    as_of: datetime | date | str | None = None,
    model_version: str | None = None,
    alert_window: str = "10 minutes",
    error_threshold: float = 0.05,
    error_clear: float = 0.02,
    for_windows: int = 2,
    clear_windows: int = 2,
    cusum_k: float = 0.5,
    cusum_h: float = 5.0,
    ewma_lambda: float = 0.2,
    ewma_width: float = 3.0,
    min_effect: float = 0.05,
    score_bins: int = 20,
    alpha: float = 0.05,
    schema: ModelTelemetry | None = None,
) -> MonitorSummary:
    """Monitor the model telemetry (``ops``, ``predictions``, ``labels``, ``releases``) up to ``as_of``.

    Every query aggregates in the engine; the frames hold one row per window (× segment), release or bin.

    * **Traffic**: per window Σ requests and Σ errors of the per-minute ``ops`` rows, error rate = Σ errors /
      Σ requests (not the mean of per-minute rates); latency quantiles are exact, ``quantile_cont`` over the
      requests of the window in ``predictions`` (per-minute quantiles cannot be combined into a quantile).
    * **Error-rate rule**: :class:`ThresholdRule` on the error rate of ``alert_window`` windows: fire above
      ``error_threshold`` for ``for_windows`` windows, clear below ``error_clear`` for ``clear_windows``.
    * **Precision rule**: per segment a two-sided :class:`CusumRule` (``k``, ``h`` in σ) on the windowed Hájek
      precision; μ0 is the pooled Hájek precision before the first release, σ the root mean square of the
      per-window standard errors there.
    * **Latency rule**: :class:`EwmaRule` on the windowed p95 (``reset=True``), μ0 and σ the mean and sample SD
      of the baseline windows.
    * False alarms of each rule are replayed on the baseline (:func:`false_alarm_rate`).
    * **Release jumps**: at each release, Welch on the per-window values between the previous marker (or the
      start) and the next one (or ``as_of``): precision per segment (higher is better), latency p95 and error
      rate (lower is better), roll back on a significant degradation larger than ``min_effect`` (precision
      only; latency and error rate need no minimum).
    * **Segments**: :func:`segment_breakdown` of the mistake rate among labelled flagged requests (1 −
      precision; all flagged requests share one inclusion probability, so unweighted counts are unbiased),
      per model version, flagging segments worse than the rest.
    * **Drift**: score histograms (``score_bins`` equal bins) in the periods before vs after each release,
      overall and per segment: PSI (Siddiqi 2006), χ² homogeneity and a KS distance of the binned CDFs;
      ``drift`` = BH-adjusted χ² p ≤ α and PSI ≥ 0.1.

    Args:
        connection: A connection from :func:`abnb.connect` or a raw ``duckdb`` connection.
        window: Window of the dashboard and of the precision/latency rules (``"1 day"``), from
            ``MIN_MONITOR_WINDOW`` (1 minute) to ``MAX_MONITOR_WINDOW`` (366 days).
        as_of: Data cutoff: a date means through that day; ``None`` for all data.
        model_version: Restrict release jumps and drift to this release; ``None`` for all.
        alert_window: Window of the error-rate rule (same range as ``window``).
        error_threshold: Error rate that fires the threshold rule.
        error_clear: Error rate below which a firing error alert clears.
        for_windows: Consecutive bad windows before the error alert fires.
        clear_windows: Consecutive clear windows before it resolves.
        cusum_k: CUSUM allowance in σ.
        cusum_h: CUSUM decision interval in σ.
        ewma_lambda: EWMA smoothing weight.
        ewma_width: EWMA limit width L.
        min_effect: Smallest precision drop worth a rollback.
        score_bins: Bins of the score histograms.
        alpha: Significance level of tests and intervals.
        schema: Names of the ``predictions``, ``labels``, ``ops`` and ``releases`` tables and of their columns
            (default: the sample's; in a project ``abnb.find_project().model_telemetry()``). The frames name their
            columns as the sample does (``ts``, ``model_version``, ``segment`` ...), whatever the tables call them.

    Returns:
        The frames and a JSON-safe :meth:`MonitorSummary.summary`.

    Raises:
        DataError: No predictions before ``as_of``, or no clean baseline (no window before the first release).
        ParameterError: Unknown ``model_version``, a ``window`` or ``alert_window`` outside 1 minute to 366 days,
            or malformed parameters.
        SchemaError: A table or column is missing; the message names the ``[model]`` setting that names it.
    """
    import pandas as pd
    from sqlglot import exp

    con = as_connection(connection)
    window = _check_window(con, window, "window")
    alert_window = _check_window(con, alert_window, "alert_window")
    schema = schema or ModelTelemetry()
    predictions, ops, rel = schema.predictions, schema.ops, schema.releases
    end = _resolve_end(as_of)
    span_params: dict[str, Any] = {}
    span = exp.select(
        exp.Alias(this=exp.Min(this=predictions.column("ts")), alias=exp.to_identifier("first")),
        exp.Alias(this=exp.Max(this=predictions.column("ts")), alias=exp.to_identifier("last")),
    ).from_(predictions.expr())
    if end is not None:
        span = span.where(exp.LT(this=predictions.column("ts"), expression=exp.Placeholder(this="end")))
        span_params["end"] = end
    with schema.reading(con, "predictions"):
        first, last = con.run(span, span_params).rows[0]
    if first is None:
        raise DataError(f"no predictions before {end}; nothing to monitor.")
    from datetime import timedelta

    if end is None:
        end = last + timedelta(microseconds=1)
    assert end is not None
    label = (end - timedelta(microseconds=1)).date().isoformat()
    with schema.reading(con, "releases"):
        releases = _fetch(
            con,
            exp.select(rel.aliased("ts"), rel.aliased("model_version"), rel.aliased("description"))
            .from_(rel.expr())
            .where(exp.LT(this=rel.column("ts"), expression=exp.Placeholder(this="end")))
            .order_by(exp.Literal.number(1)),
            {"end": end},
        )
    if model_version is not None and model_version not in set(releases["model_version"]):
        raise ParameterError(
            f"model_version {model_version!r} has no release before {end}; releases: {list(releases['model_version'])}."
        )
    markers = [pd.Timestamp(t).to_pydatetime() for t in releases["ts"]]
    baseline_end = markers[0] if markers else end
    if baseline_end <= first:
        raise DataError("no clean baseline: the first release is at or before the first prediction.")

    # traffic
    def ops_sums(value: str, length: str) -> pd.DataFrame:
        with schema.reading(con, "ops"):
            return windowed(con, ops.table, ts=ops.ts, value=value, window=length, end=end, aggregates=("sum",))

    ops_requests = ops_sums(ops.requests, window)
    ops_errors = ops_sums(ops.errors, window)
    with schema.reading(con, "predictions"):
        latency = windowed(
            con,
            predictions.table,
            ts=predictions.ts,
            value=predictions.latency_ms,
            window=window,
            end=end,
            aggregates=("n", "p50", "p95", "p99"),
        )
    traffic = pd.DataFrame(
        {
            "window": ops_requests["window"],
            "requests": ops_requests["sum"].astype("int64"),
            "errors": ops_errors["sum"].astype("int64"),
        }
    )
    traffic["error_rate"] = traffic["errors"] / traffic["requests"]
    traffic = traffic.merge(latency.drop(columns="n"), on="window", how="left")
    alert_requests = ops_sums(ops.requests, alert_window)
    alert_errors = ops_sums(ops.errors, alert_window)
    error_windows = pd.DataFrame(
        {
            "window": alert_requests["window"],
            "requests": alert_requests["sum"].astype("int64"),
            "errors": alert_errors["sum"].astype("int64"),
        }
    )
    error_windows["error_rate"] = error_windows["errors"] / error_windows["requests"]
    precision = labelled_precision_by_window(con, window=window, by="segment", end=end, alpha=alpha, schema=schema)

    states: list[pd.DataFrame] = []
    alert_rows: list[dict[str, Any]] = []
    false_rows: list[dict[str, Any]] = []

    def run_rule(name: str, segment: str, rule: Rule, series: pd.DataFrame, metric: str) -> None:
        result = replay(rule, series)
        state = result.to_frame()
        states.append(
            pd.DataFrame(
                {
                    "rule": name,
                    "segment": segment,
                    "time": state["time"],
                    "value": state["value"],
                    "alarm": state["alarm"],
                }
            )
        )
        for start_, stop in result.intervals:
            alert_rows.append(
                {
                    "rule": name,
                    "segment": segment,
                    "metric": metric,
                    "start": start_,
                    "end": stop,
                    "method": rule.method,
                }
            )
        clean = series[pd.to_datetime(series["window"]) < baseline_end]
        if len(clean) >= 2:
            rate = false_alarm_rate(rule, clean, alpha=alpha)
            false_rows.append(
                {
                    "rule": name,
                    "segment": segment,
                    "n_windows": rate.n_windows,
                    "n_alarms": rate.n_alarms,
                    "per_window": rate.per_window,
                    "ci_high": rate.ci_high,
                }
            )

    error_rule = ThresholdRule(
        "error_rate",
        ">",
        error_threshold,
        for_windows=for_windows,
        clear_windows=clear_windows,
        clear_threshold=error_clear,
    )
    run_rule("error rate threshold", "all", error_rule, error_windows, "error_rate")
    base_traffic = traffic[pd.to_datetime(traffic["window"]) < baseline_end]
    if len(base_traffic) >= 2:
        sd = float(base_traffic["p95"].std(ddof=1))
        latency_rule = EwmaRule(
            ewma_lambda, ewma_width, float(base_traffic["p95"].mean()), sd if sd > 0 else 1e-9, metric="p95", reset=True
        )
        run_rule("latency p95 EWMA", "all", latency_rule, traffic, "latency_p95")
    for segment, rows in precision.groupby("segment", sort=True):
        rows = rows.reset_index(drop=True)
        base = rows[pd.to_datetime(rows["window"]) < baseline_end]
        if len(base) < 2:
            continue
        mu0 = float(base["sum_wy"].sum() / base["sum_w"].sum())
        sigma = float(np.sqrt(np.mean(base["se"].to_numpy(dtype=np.float64) ** 2)))
        rule = CusumRule(cusum_k, cusum_h, mu0, sigma if sigma > 0 else 1e-9, metric="precision")
        run_rule("precision CUSUM", str(segment), rule, rows, "precision")

    # release jumps and drift
    jump_rows: list[dict[str, Any]] = []
    drift_rows: list[dict[str, Any]] = []
    bounds = [first, *markers, end]
    for i, (marker, version) in enumerate(zip(markers, releases["model_version"], strict=True)):
        if model_version is not None and version != model_version:
            continue
        lo, hi = bounds[i], bounds[i + 2]
        candidates: list[tuple[str, str, pd.DataFrame, str, Literal["increase", "decrease"], float]] = [
            ("latency_p95", "all", traffic, "p95", "decrease", 0.0),
            ("error_rate", "all", traffic, "error_rate", "decrease", 0.0),
        ]
        candidates += [
            ("precision", str(s), rows, "precision", "increase", min_effect)
            for s, rows in precision.groupby("segment", sort=True)
        ]
        for metric, segment, frame, column, direction, effect in candidates:
            times = pd.to_datetime(frame["window"])
            before = frame.loc[(times >= (lo if i else pd.Timestamp.min)) & (times < marker), column].to_numpy(
                dtype=np.float64
            )
            after = frame.loc[(times >= marker) & (times < hi), column].to_numpy(dtype=np.float64)
            if before.size < 2 or after.size < 2:
                continue
            jump = release_jump(before, after, alpha=alpha, direction=direction, min_effect=effect)
            jump_rows.append(
                {
                    "release": marker,
                    "model_version": version,
                    "metric": metric,
                    "segment": segment,
                    "before_mean": jump.before_mean,
                    "after_mean": jump.after_mean,
                    "estimate": jump.estimate,
                    "ci_low": jump.ci_low,
                    "ci_high": jump.ci_high,
                    "pvalue": jump.pvalue,
                    "n_before": jump.n_before,
                    "n_after": jump.n_after,
                    "rollback": jump.rollback,
                    "reason": jump.reason,
                }
            )
        with schema.reading(con, "predictions"):
            hist = _score_histograms(con, lo=lo, cut=marker, hi=hi, bins=score_bins, schema=schema)
        if hist.empty:
            continue
        table = hist.pivot_table(index=["segment", "bin"], columns="period", values="n", aggfunc="sum", fill_value=0)
        for column in ("before", "after"):
            if column not in table.columns:
                table[column] = 0
        full = pd.MultiIndex.from_product(
            [sorted(hist["segment"].unique()), range(score_bins)], names=["segment", "bin"]
        )
        table = table.reindex(full, fill_value=0)
        groups: list[tuple[str, Any]] = [("all", table.groupby(level="bin").sum())]
        groups += [(str(s), table.xs(s, level="segment")) for s in sorted(hist["segment"].unique())]
        for segment, counts in groups:
            b = counts["before"].to_numpy(dtype=np.float64)
            a = counts["after"].to_numpy(dtype=np.float64)
            if b.sum() == 0 or a.sum() == 0:
                continue
            drift_rows.append(
                {
                    "release": marker,
                    "model_version": version,
                    "segment": segment,
                    "n_before": int(b.sum()),
                    "n_after": int(a.sum()),
                    **_binned_drift(b, a),
                }
            )
    drift_columns = [
        "release",
        "model_version",
        "segment",
        "n_before",
        "n_after",
        "psi",
        "ks_d",
        "ks_pvalue",
        "chi2",
        "pvalue",
    ]
    drift = pd.DataFrame(drift_rows, columns=drift_columns)
    drift["psi_level"] = [_psi_level(v) for v in drift["psi"]]
    drift["pvalue_adjusted"] = adjust(drift["pvalue"].to_numpy(dtype=np.float64), method="bh") if len(drift) else []
    drift["drift"] = (drift["pvalue_adjusted"] <= alpha) & (drift["psi"] >= 0.1)

    # segment breakdown per version
    by_version = labelled_precision_by_window(
        con, window=None, by=["model_version", "segment"], end=end, alpha=alpha, schema=schema
    )
    by_version["n_false_positive"] = by_version["n_labels"] - by_version["n_true_positive"]
    parts = []
    for version, rows in by_version.groupby("model_version", sort=True):
        if rows["segment"].nunique() < 2 or (model_version is not None and version != model_version):
            continue
        part = segment_breakdown(
            rows, segment="segment", successes="n_false_positive", trials="n_labels", alpha=alpha, worse="higher"
        )
        part.insert(0, "model_version", version)
        parts.append(part)
    segments = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["model_version", "segment", "rate", "flag"])
    )

    alert_columns = ["rule", "segment", "metric", "start", "end", "method"]
    return MonitorSummary(
        as_of=label,
        end=end,
        window=window,
        alert_window=alert_window,
        model_version=model_version,
        baseline_end=baseline_end,
        releases=releases,
        traffic=traffic,
        error_windows=error_windows,
        precision=precision,
        rule_states=pd.concat(states, ignore_index=True) if states else pd.DataFrame(),
        alerts=pd.DataFrame(alert_rows, columns=alert_columns),
        false_alarms=pd.DataFrame(
            false_rows, columns=["rule", "segment", "n_windows", "n_alarms", "per_window", "ci_high"]
        ),
        release_jumps=pd.DataFrame(
            jump_rows,
            columns=[
                "release",
                "model_version",
                "metric",
                "segment",
                "before_mean",
                "after_mean",
                "estimate",
                "ci_low",
                "ci_high",
                "pvalue",
                "n_before",
                "n_after",
                "rollback",
                "reason",
            ],
        ),
        segments=segments,
        drift=drift,
        method=(
            f"{window} windows; error rate = sum(errors)/sum(requests) of ops; exact latency quantiles; Hajek "
            f"precision; rules: {error_rule.method}; CUSUM k={cusum_k:g}, h={cusum_h:g} on precision; EWMA "
            f"lambda={ewma_lambda:g}, L={ewma_width:g} on p95; baseline before {baseline_end.isoformat()}"
        ),
    )


def _release_rules(releases: pd.DataFrame) -> Any:
    import altair as alt

    marks = releases[["ts", "model_version"]].rename(columns={"ts": "release"})
    rules = alt.Chart(marks).mark_rule(color="#555555", strokeDash=[4, 3]).encode(x="release:T")
    text = (
        alt.Chart(marks)
        .mark_text(align="left", dx=3, dy=-4, color="#555555")
        .encode(x="release:T", y=alt.value(0), text="model_version:N")
    )
    return rules + text


def _check_rows(frame: pd.DataFrame, columns: Sequence[str], builder: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"{builder} needs columns {missing}; the frame has {list(frame.columns)}.")
    if len(frame) > 5000:
        raise ParameterError(f"{builder} got {len(frame)} rows; charts take aggregated frames.")


def precision_chart(summary: MonitorSummary, *, title: str = "Labelled precision per segment (Hájek, 95% CI)") -> Any:
    """Windowed precision per segment with its interval band and the release markers, one panel per segment.

    Args:
        summary: A :class:`MonitorSummary` (uses ``precision`` and ``releases``).
        title: Chart title.
    """
    import altair as alt

    frame = summary.precision
    _check_rows(frame, ["window", "segment", "precision", "ci_low", "ci_high"], "precision_chart")
    data = frame[["window", "segment", "precision", "ci_low", "ci_high", "n_labels"]]
    base = alt.Chart(data).encode(x=alt.X("window:T", title=None))
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("ci_low:Q", title="precision", scale=alt.Scale(zero=False)), y2="ci_high:Q"
    )
    line = base.mark_line(point=True).encode(y="precision:Q")
    panels = []
    for segment in sorted(data["segment"].unique()):
        subset = data[data["segment"] == segment]
        layer = alt.layer(
            band.properties(data=subset), line.properties(data=subset), _release_rules(summary.releases)
        ).properties(width=260, height=130, title=str(segment))
        panels.append(layer)
    rows = [alt.hconcat(*panels[i : i + 2]) for i in range(0, len(panels), 2)]
    return alt.vconcat(*rows).properties(title=title)


def ops_chart(summary: MonitorSummary, metric: str, *, title: str | None = None) -> Any:
    """One traffic metric per window (``requests``, ``error_rate``, ``p50``, ``p95``, ``p99``) with releases.

    Windows where a rule on that metric alarmed are drawn red.

    Args:
        summary: A :class:`MonitorSummary` (uses ``traffic``, ``rule_states`` and ``releases``).
        metric: Column of ``summary.traffic``.
        title: Chart title (default names the metric).
    """
    import altair as alt

    frame = summary.traffic
    _check_rows(frame, ["window", metric], "ops_chart")
    data = frame[["window", metric]].copy()
    states = summary.rule_states
    rule = {"p95": "latency p95 EWMA"}.get(metric)
    if rule is not None and len(states):
        alarms = states[(states["rule"] == rule) & states["alarm"]]["time"]
        data["alarm"] = data["window"].isin(set(alarms))
    else:
        data["alarm"] = False
    base = alt.Chart(data).encode(x=alt.X("window:T", title=None))
    line = base.mark_line(color="#4c78a8").encode(y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)))
    points = base.mark_point(filled=True).encode(
        y=f"{metric}:Q",
        color=alt.Color("alarm:N", scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#b2182b"]), legend=None),
    )
    return alt.layer(line, points, _release_rules(summary.releases)).properties(
        width=560, height=150, title=title or metric
    )
