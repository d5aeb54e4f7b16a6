"""Alert rules on windowed series (threshold with ``for`` and hysteresis, EWMA, CUSUM) and their replay on history."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb._display import format_value as _fmt
from abnb.errors import DataError, ParameterError
from abnb.monitor._common import Result, positive_int, real
from abnb.stats import check_alpha

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray

__all__ = ["CusumRule", "EwmaRule", "FalseAlarmRate", "Replay", "Rule", "ThresholdRule", "false_alarm_rate", "replay"]

Op = Literal[">", ">=", "<", "<="]


_OPS: dict[str, Any] = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


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
        real(self.threshold, "threshold")
        positive_int(self.for_windows, "for_windows")
        positive_int(self.clear_windows, "clear_windows")
        if self.clear_threshold is not None:
            clear = real(self.clear_threshold, "clear_threshold")
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
        lam = real(self.lambda_, "lambda_", positive=True)
        if lam > 1.0:
            raise ParameterError(f"lambda_ must lie in (0, 1], got {lam}.")
        real(self.L, "L", positive=True)
        _check_baseline(self)

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
        if real(self.k, "k") < 0.0:
            raise ParameterError(f"k must be >= 0, got {self.k}.")
        real(self.h, "h", positive=True)
        _check_baseline(self)

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


def _check_baseline(rule: EwmaRule | CusumRule) -> None:
    """Refuse a control chart whose in-control mean is not finite or whose SD is not positive."""
    real(rule.baseline_mean, "baseline_mean")
    real(rule.baseline_sd, "baseline_sd", positive=True)


Rule = ThresholdRule | EwmaRule | CusumRule


@dataclass(frozen=True)
class Replay(Result):
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
class FalseAlarmRate(Result):
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
