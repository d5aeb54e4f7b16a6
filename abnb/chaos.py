"""Chaos experiments for AI components: inject faults, replay the alert rules, measure alert recall.

Does the monitoring catch a broken model? A chaos experiment states a steady-state hypothesis first
(:class:`SteadyStateHypothesis`, e.g. "precision stays within ±0.05 of baseline"), injects a :class:`Fault` into a
hashed fraction of units from a start time on, replays the rules of :mod:`abnb.monitor` on the faulted stream,
and rolls the fault back (at the first alarm, or at the end). :func:`detection_table` repeats that over salts
(blast radii land on different units) and fault sizes: **alert recall per size, time to detect, and false alarms
on the clean stream**.

What the faults act on, honestly: a *bounded per-request frame* (one row per request: ``ts``, ``unit``,
``segment``, ``score``, ``prediction``, ``label``, ``latency_ms``; ``error`` optional), not on per-window aggregates.
Only a few faults change an aggregate exactly (added latency on *all* requests scales every quantile); on a
fraction of units, a quantile of the mixture, a precision after flipped predictions or a count after dropped rows
is not a function of the clean aggregates. :func:`load_clean_requests` fetches such a frame from the model
telemetry (before the first release, capped at ``max_rows``; table and column names from
:class:`abnb.telemetry.ModelTelemetry`); :func:`simulate_requests` draws one with known parameters.
:func:`window_metrics` then aggregates it per window (exact quantiles), and the rules run on those few rows.

Blast radius: a request is affected when ``abnb.assign.uniform_many([unit], salt) < fraction`` — the PlanOut hash
that assigns arms — and ``start <= ts < end`` (and its segment is ``segment``, when set). The same ``(salt,
fraction)`` always hits the same units, and a larger fraction contains a smaller one.

References:
    Basiri et al., "Chaos Engineering", IEEE Software 33(3), 2016 (steady-state hypothesis, blast radius);
    Chaos Toolkit, "Experiment" specification (steady-state probes with tolerances, rollbacks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb._display import FlatResult
from abnb.assign import uniform_many
from abnb.errors import DataError, ParameterError
from abnb.monitor import CusumRule, EwmaRule, Rule, ThresholdRule, replay
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from numpy.typing import NDArray

    from abnb.engine import Connection

__all__ = [
    "FAULT_KINDS",
    "ChaosExperiment",
    "ChaosResult",
    "DetectionTable",
    "Fault",
    "Injection",
    "SteadyStateHypothesis",
    "baseline_rule",
    "detection_table",
    "load_clean_requests",
    "simulate_requests",
    "window_metrics",
]

FaultKind = Literal["latency", "error", "flip", "label_noise", "score_shift", "miscalibrate", "segment_bias", "drop"]
#: The fault kinds and what ``size`` means for each.
FAULT_KINDS: dict[str, str] = {
    "latency": "latency_ms × (1 + size) on affected requests (size 1 = +100%)",
    "error": "affected requests fail with probability size (error = True)",
    "flip": "prediction flipped (1 − prediction) with probability size",
    "label_noise": "label flipped with probability size",
    "score_shift": "score ← expit(logit(score) + size); prediction re-thresholded",
    "miscalibrate": "score ← expit(logit(score) · e^(−size)): under-confident for size > 0; prediction re-thresholded",
    "segment_bias": "score_shift restricted to one segment (needs segment=)",
    "drop": "affected rows missing from the telemetry with probability size",
}
_REQUIRED = ("ts", "unit")
_NEEDS = {
    "latency": "latency_ms",
    "flip": "prediction",
    "label_noise": "label",
    "score_shift": "score",
    "miscalibrate": "score",
    "segment_bias": "score",
}


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a number, got {value!r}.")
    if not math.isfinite(float(value)):
        raise ParameterError(f"{name} must be finite, got {value!r}.")
    return float(value)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------------------------------
# faults


@dataclass(frozen=True)
class Fault:
    """A fault of one kind and size, injected into a hashed fraction of units from ``start`` on.

    See :data:`FAULT_KINDS` for what ``size`` means per kind; ``size = 0`` leaves every value unchanged. Random
    effects (flips, noise, errors, drops) draw one uniform ``v_i`` per row from ``default_rng(seed)`` and apply
    where ``v_i < size``: the draws do not depend on ``size``, so a larger fault contains a smaller one (common
    random numbers, which makes recall monotone in size within one run).

    Attributes:
        kind: One of :data:`FAULT_KINDS`.
        size: Strength of the fault (≥ 0; a probability ≤ 1 for the random kinds).
        fraction: Blast radius: share of units affected, ``uniform_many(units, salt) < fraction``.
        start: First affected time (``None``: from the first row).
        end: First unaffected time again (``None``: until the end); :meth:`Injection.rollback` sets it.
        salt: Salt of the unit hash.
        segment: Restrict the fault to requests of this segment.
        unit: Column holding the unit id.
        threshold: Score threshold that turns a score into a prediction (``score >= threshold``).
        seed: Seed of the per-row draws.
    """

    kind: FaultKind
    size: float
    fraction: float = 1.0
    start: datetime | None = None
    end: datetime | None = None
    salt: str = "abnb.chaos"
    segment: str | None = None
    unit: str = "unit"
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ParameterError(f"kind must be one of {sorted(FAULT_KINDS)}, got {self.kind!r}.")
        size = _finite(self.size, "size")
        if self.kind not in ("score_shift", "segment_bias") and size < 0:
            raise ParameterError(f"size of a {self.kind!r} fault must be >= 0, got {size}.")
        if self.kind in ("error", "flip", "label_noise", "drop") and size > 1:
            raise ParameterError(f"size of a {self.kind!r} fault is a probability, got {size}.")
        if not 0.0 <= _finite(self.fraction, "fraction") <= 1.0:
            raise ParameterError(f"fraction (the blast radius) must lie in [0, 1], got {self.fraction}.")
        if self.kind == "segment_bias" and self.segment is None:
            raise ParameterError("a 'segment_bias' fault needs segment= (the segment to bias).")

    @property
    def method(self) -> str:
        """Description of the fault."""
        where = f" in segment {self.segment!r}" if self.segment is not None else ""
        return (
            f"{self.kind} size={self.size:g} on {self.fraction:.0%} of units (hash salt {self.salt!r}){where} "
            f"from {self.start}: {FAULT_KINDS[self.kind]}"
        )

    def with_size(self, size: float) -> Fault:
        """The same fault with another size."""
        return replace(self, size=size)

    def affected(self, frame: pd.DataFrame, *, hashes: NDArray[np.float64] | None = None) -> NDArray[np.bool_]:
        """Rows the fault touches: hashed unit below ``fraction``, ``start <= ts < end``, in ``segment``.

        Args:
            frame: The per-request frame.
            hashes: Precomputed ``uniform_many(frame[unit], salt)`` (for repeated injections).
        """
        import pandas as pd

        _check_frame(frame, (self.unit, "ts"))
        if hashes is None:
            hashes = _unit_hashes(frame[self.unit], self.salt)
        mask = hashes < self.fraction
        ts = pd.to_datetime(frame["ts"]).to_numpy()
        if self.start is not None:
            mask &= ts >= np.datetime64(pd.Timestamp(self.start))
        if self.end is not None:
            mask &= ts < np.datetime64(pd.Timestamp(self.end))
        if self.segment is not None:
            _check_frame(frame, ("segment",))
            mask &= (frame["segment"] == self.segment).to_numpy()
        return np.asarray(mask, dtype=bool)

    def inject(self, frame: pd.DataFrame, *, hashes: NDArray[np.float64] | None = None) -> Injection:
        """Apply the fault to a copy of ``frame`` (the clean frame is left untouched).

        Args:
            frame: Clean per-request frame (columns ``ts``, ``unit`` and the one the fault changes).
            hashes: Precomputed unit hashes (see :meth:`affected`).

        Returns:
            The injection: the faulted frame, the affected mask and :meth:`Injection.rollback`.
        """
        from scipy import special

        need = _NEEDS.get(self.kind)
        _check_frame(frame, (*_REQUIRED, *((need,) if need else ())))
        mask = self.affected(frame, hashes=hashes)
        out = frame.copy()
        draws = np.random.default_rng(self.seed).random(len(frame))
        hit = mask & (draws < self.size)
        kind = self.kind
        if kind == "latency":
            latency = out["latency_ms"].to_numpy(dtype=np.float64, copy=True)
            latency[mask] *= 1.0 + self.size
            out["latency_ms"] = latency
        elif kind == "error":
            error = out["error"].to_numpy(dtype=bool, copy=True) if "error" in out else np.zeros(len(out), bool)
            error[hit] = True
            out["error"] = error
        elif kind in ("flip", "label_noise"):
            column = "prediction" if kind == "flip" else "label"
            values = out[column].to_numpy(dtype=np.float64, copy=True)
            values[hit] = 1.0 - values[hit]
            out[column] = values
        elif kind in ("score_shift", "segment_bias", "miscalibrate"):
            score = out["score"].to_numpy(dtype=np.float64, copy=True)
            logit = special.logit(np.clip(score[mask], 1e-12, 1.0 - 1e-12))
            moved = logit + self.size if kind != "miscalibrate" else logit * math.exp(-self.size)
            score[mask] = np.where(np.isnan(score[mask]), np.nan, special.expit(moved))
            out["score"] = score
            prediction = np.where(np.isnan(score), np.nan, (score >= self.threshold).astype(np.float64))
            if "prediction" in out:
                old = out["prediction"].to_numpy(dtype=np.float64)
                out["prediction"] = np.where(mask, prediction, old)
        elif kind == "drop":
            out = out.loc[~hit]
        return Injection(fault=self, clean=frame, frame=out, affected=mask)


def _unit_hashes(units: pd.Series, salt: str) -> NDArray[np.float64]:
    """``uniform_many`` per row, hashing each distinct unit once."""
    codes, uniques = units.factorize()
    hashed: NDArray[np.float64] = uniform_many(list(uniques), salt)[codes]
    return hashed


def _check_frame(frame: Any, columns: Sequence[str]) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"expected a per-request pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"the request frame has no column(s) {missing}; its columns are {list(frame.columns)}.")


@dataclass(frozen=True)
class Injection:
    """A fault applied to a clean frame.

    Attributes:
        fault: The fault.
        clean: The clean frame it was applied to (unchanged).
        frame: The faulted frame.
        affected: Boolean mask over the rows of ``clean``: which requests the fault touched.
    """

    fault: Fault
    clean: pd.DataFrame
    frame: pd.DataFrame
    affected: NDArray[np.bool_]

    @property
    def affected_units(self) -> float:
        """Share of distinct units with at least one affected request."""
        units = self.clean[self.fault.unit]
        return float(units[self.affected].nunique() / max(units.nunique(), 1))

    def rollback(self, at: datetime | None = None) -> pd.DataFrame:
        """The stream with the fault rolled back.

        Args:
            at: Rollback time: the fault stays in ``[start, at)`` and the stream is clean from ``at`` on (same
                draws, so the faulted part is identical). ``None`` restores the clean stream entirely.

        Returns:
            A new per-request frame.
        """
        if at is None:
            return self.clean.copy()
        return replace(self.fault, end=at).inject(self.clean).frame

    def __repr__(self) -> str:
        return f"Injection(rows_affected={int(self.affected.sum())}, method={self.fault.method!r})"


# ------------------------------------------------------------------------------------------------------
# per-window metrics


def window_metrics(
    frame: pd.DataFrame,
    *,
    window: str | timedelta = "1 hour",
    served: pd.Series | None = None,
    segment: str | None = None,
) -> pd.DataFrame:
    """Per-window quality and ops metrics of a per-request frame (exact; pandas on a bounded frame).

    Per window ``w`` (``ts`` floored to the window): ``requests`` = logged rows; ``error_rate`` = mean of
    ``error``; ``latency_mean`` and ``latency_p95`` (linear interpolation, as ``quantile_cont``); ``flag_rate`` =
    mean prediction; ``precision`` = Σ label·prediction / Σ prediction; ``accuracy`` = mean(prediction = label);
    ``mean_score``; ``calibration_gap`` = mean score − mean label; ``completeness`` = logged rows / ``served``
    rows (1 without ``served``). Columns the frame lacks are skipped; rows with missing values count only in
    ``requests``.

    Args:
        frame: Per-request frame (``ts`` and any of ``latency_ms``, ``error``, ``score``, ``prediction``, ``label``).
        window: Window length (pandas offset alias such as ``"1h"``, ``"1 hour"``, or a timedelta).
        served: Requests served per window from an independent source (e.g. the serving layer's counts, or
            the clean stream's ``requests``), indexed by window; gives ``completeness``.
        segment: Only requests of this segment.

    Returns:
        One row per window, sorted: ``window`` and the metrics above.
    """
    import pandas as pd

    _check_frame(frame, ("ts",))
    data = frame if segment is None else frame[frame["segment"] == segment]
    key = pd.to_datetime(data["ts"]).dt.floor(pd.Timedelta(window))
    grouped = data.groupby(key.rename("window"), sort=True)
    out = pd.DataFrame({"requests": grouped.size()})
    if "error" in data:
        out["error_rate"] = grouped["error"].mean().astype(np.float64)
    if "latency_ms" in data:
        out["latency_mean"] = grouped["latency_ms"].mean()
        out["latency_p95"] = grouped["latency_ms"].quantile(0.95)
    if "prediction" in data:
        prediction = data["prediction"].astype(np.float64)
        out["flag_rate"] = prediction.groupby(key).mean()
        if "label" in data:
            label = data["label"].astype(np.float64)
            out["precision"] = (label * prediction).groupby(key).sum() / prediction.groupby(key).sum()
            correct = (prediction == label).astype(np.float64).where(prediction.notna() & label.notna())
            out["accuracy"] = correct.groupby(key).mean()
    if "score" in data:
        out["mean_score"] = grouped["score"].mean()
        if "label" in data:
            label = data["label"].astype(np.float64).where(data["score"].notna())
            out["calibration_gap"] = out["mean_score"] - label.groupby(key).mean()
    if served is not None:
        out["completeness"] = out["requests"] / served.reindex(out.index)
    else:
        out["completeness"] = 1.0
    return out.reset_index()


def baseline_rule(
    windows: pd.DataFrame,
    metric: str,
    *,
    kind: Literal["ewma", "cusum"] = "ewma",
    lambda_: float = 0.2,
    L: float = 3.0,  # noqa: N803
    k: float = 0.5,
    h: float = 5.0,
    before: datetime | None = None,
) -> Rule:
    """An :class:`~abnb.monitor.EwmaRule` or :class:`~abnb.monitor.CusumRule` (``reset=True``) fitted on clean windows.

    ``μ0`` and ``σ`` are the mean and sample SD (ddof = 1) of ``metric`` over the windows before ``before``.

    Args:
        windows: Output of :func:`window_metrics` on clean data.
        metric: Column to watch.
        kind: ``"ewma"`` or ``"cusum"``.
        lambda_: EWMA weight.
        L: EWMA limit width.
        k: CUSUM allowance in σ.
        h: CUSUM decision interval in σ.
        before: Use only windows strictly before this time (``None``: all).
    """
    import pandas as pd

    if metric not in windows.columns:
        raise ParameterError(f"the windows have no column {metric!r}; they have {list(windows.columns)}.")
    rows = windows if before is None else windows[pd.to_datetime(windows["window"]) < pd.Timestamp(before)]
    values = rows[metric].dropna().to_numpy(dtype=np.float64)
    if values.size < 3:
        raise DataError(f"need at least 3 clean windows of {metric!r} to fit a rule, got {values.size}.")
    mu, sd = float(values.mean()), float(values.std(ddof=1))
    if kind == "ewma":
        return EwmaRule(lambda_=lambda_, L=L, baseline_mean=mu, baseline_sd=sd, metric=metric, reset=True)
    if kind == "cusum":
        return CusumRule(k=k, h=h, baseline_mean=mu, baseline_sd=sd, metric=metric, reset=True)
    raise ParameterError(f"kind must be 'ewma' or 'cusum', got {kind!r}.")


# ------------------------------------------------------------------------------------------------------
# steady state and one experiment


@dataclass(frozen=True)
class SteadyStateHypothesis:
    """What "normal" means, stated before the run: a metric and its tolerance.

    The hypothesis holds over a period when ``m̄``, the mean of the per-window ``metric`` values there, satisfies
    ``|m̄ − baseline| ≤ tolerance`` (if ``tolerance`` is set), ``m̄ ≤ upper`` and ``m̄ ≥ lower`` (if set).
    ``baseline`` defaults to the same mean over the clean windows before the fault.

    Attributes:
        metric: A column of :func:`window_metrics` (e.g. ``"precision"``, ``"latency_p95"``).
        tolerance: Allowed absolute deviation from the baseline.
        upper: Absolute upper limit (e.g. p95 latency < 200 ms).
        lower: Absolute lower limit.
        baseline: Fixed baseline; ``None`` estimates it from the clean pre-fault windows.
    """

    metric: str
    tolerance: float | None = None
    upper: float | None = None
    lower: float | None = None
    baseline: float | None = None

    def __post_init__(self) -> None:
        if self.tolerance is None and self.upper is None and self.lower is None:
            raise ParameterError("a steady-state hypothesis needs a tolerance, an upper or a lower limit.")
        if self.tolerance is not None and _finite(self.tolerance, "tolerance") < 0:
            raise ParameterError(f"tolerance must be >= 0, got {self.tolerance}.")

    @property
    def method(self) -> str:
        """The hypothesis in words."""
        parts = []
        if self.tolerance is not None:
            base = "baseline" if self.baseline is None else f"{self.baseline:g}"
            parts.append(f"within ±{self.tolerance:g} of {base}")
        if self.upper is not None:
            parts.append(f"< {self.upper:g}")
        if self.lower is not None:
            parts.append(f"> {self.lower:g}")
        return f"mean per-window {self.metric} stays " + " and ".join(parts)

    def check(self, value: float, baseline: float) -> bool:
        """Does the period mean ``value`` satisfy the hypothesis, given the ``baseline``?"""
        if not math.isfinite(value):
            return True
        held = True
        if self.tolerance is not None:
            held &= abs(value - baseline) <= self.tolerance
        if self.upper is not None:
            held &= value <= self.upper
        if self.lower is not None:
            held &= value >= self.lower
        return bool(held)


@dataclass(frozen=True, repr=False)
class ChaosResult(FlatResult):
    """Outcome of one chaos experiment.

    Attributes:
        fault: Description of the fault.
        hypothesis: The steady-state hypothesis in words.
        baseline: Steady-state baseline of the hypothesis metric (clean, before the fault).
        value_during: Mean of the metric while the fault was active.
        hypothesis_held: Did the steady state hold during the fault?
        value_after_rollback: Mean of the metric after the rollback (``None`` without windows after it).
        hypothesis_held_after_rollback: Did it hold after the rollback (``None`` without windows)?
        detected: Did any rule fire in ``[start, start + horizon)``?
        first_alarm: Start of the first window in alarm at or after the fault start.
        first_rule: The rule that fired first.
        time_to_detect_minutes: End of that window − fault start, in minutes (when the alarm is known).
        n_alerts: Alert onsets of all rules on the faulted stream within the horizon.
        false_alarms_clean: Alert onsets of all rules on the clean stream over the same windows.
        rolled_back_at: When the fault was rolled back (end of the first alarm window, or the end).
        rows_affected: Requests the fault touched.
        units_affected: Share of units with a touched request.
        method: What was done.
    """

    fault: str
    hypothesis: str
    baseline: float
    value_during: float
    hypothesis_held: bool
    value_after_rollback: float | None
    hypothesis_held_after_rollback: bool | None
    detected: bool
    first_alarm: Any
    first_rule: str | None
    time_to_detect_minutes: float | None
    n_alerts: int
    false_alarms_clean: int
    rolled_back_at: Any
    rows_affected: int
    units_affected: float
    method: str

    def __repr__(self) -> str:
        return (
            f"ChaosResult(detected={self.detected}, time_to_detect_minutes={_fmt(self.time_to_detect_minutes)}, "
            f"hypothesis_held={self.hypothesis_held}, false_alarms_clean={self.false_alarms_clean}, "
            f"fault={self.fault!r})"
        )


def _rule_name(rule: Rule) -> str:
    return f"{type(rule).__name__}({rule.metric})"


def _onsets(rules: Sequence[Rule], windows: pd.DataFrame, stop: Any) -> list[tuple[int, str]]:
    """(window position, rule name) of every alarm onset of every rule, on windows before ``stop``."""
    import pandas as pd

    rows = windows if stop is None else windows[pd.to_datetime(windows["window"]) < stop]
    found: list[tuple[int, str]] = []
    for rule in rules:
        metric = rule.metric
        if metric is None or metric not in rows.columns:
            raise ParameterError(f"rule {rule.method!r} watches {metric!r}; name a column of window_metrics.")
        series = rows[["window", metric]].dropna()
        if series.empty:
            continue
        state = replay(rule, series)
        alarm = np.asarray(dict(state.state)["alarm"], dtype=bool)
        starts = np.flatnonzero(alarm & ~np.concatenate([[False], alarm[:-1]]))
        positions = series.index.to_numpy()[starts]
        found += [(int(p), _rule_name(rule)) for p in positions]
    return sorted(found)


@dataclass(frozen=True)
class ChaosExperiment:
    """Hypothesis → fault → alert rules → rollback, on a clean per-request stream.

    Attributes:
        hypothesis: The steady state, stated before the run.
        fault: The fault to inject (its ``start`` must be set).
        rules: Alert rules of :mod:`abnb.monitor` watching columns of :func:`window_metrics`.
        window: Window length of the metrics.
        horizon: Windows after the start in which an alarm counts as a detection (``None``: to the end).
        segment: Compute the metrics on this segment only (e.g. for a ``segment_bias`` fault).
        rollback_on_alarm: Roll the fault back at the end of the first alarm window (else at the end).
    """

    hypothesis: SteadyStateHypothesis
    fault: Fault
    rules: tuple[Rule, ...]
    window: str = "1h"
    horizon: int | None = None
    segment: str | None = None
    rollback_on_alarm: bool = True

    def __post_init__(self) -> None:
        if self.fault.start is None:
            raise ParameterError("the fault needs a start time: the steady state is measured before it.")
        if not self.rules or not all(isinstance(r, ThresholdRule | EwmaRule | CusumRule) for r in self.rules):
            raise ParameterError("rules must be a non-empty tuple of ThresholdRule/EwmaRule/CusumRule.")

    def _start(self) -> datetime:
        assert self.fault.start is not None
        return self.fault.start

    def _stop(self) -> Any:
        import pandas as pd

        if self.horizon is None:
            return None
        return pd.Timestamp(self._start()).floor(pd.Timedelta(self.window)) + self.horizon * pd.Timedelta(self.window)

    def run(self, clean: pd.DataFrame) -> ChaosResult:
        """Run the experiment on a clean per-request frame.

        Steps: (1) the hypothesis baseline from the clean windows before ``start``; (2) inject the fault;
        (3) replay every rule on the faulted and on the clean windows (up to ``start + horizon`` windows);
        (4) detection = first alarm onset in a window at or after the fault start; (5) roll the fault back at the
        end of that window (or at the end) and check the hypothesis during the fault and after the rollback.
        """
        import pandas as pd

        step = pd.Timedelta(self.window)
        start = pd.Timestamp(self._start())
        stop = self._stop()
        clean_w = window_metrics(clean, window=step, segment=self.segment)
        served = clean_w.set_index("window")["requests"]
        injection = self.fault.inject(clean)
        faulted_w = window_metrics(injection.frame, window=step, served=served, segment=self.segment)
        first_window = start.floor(step)
        times = pd.to_datetime(faulted_w["window"])
        onsets = [(p, r) for p, r in _onsets(self.rules, faulted_w, stop) if times[p] >= first_window]
        clean_onsets = _onsets(self.rules, clean_w, stop)
        clean_times = pd.to_datetime(clean_w["window"])
        false_alarms = sum(1 for p, _ in clean_onsets if clean_times[p] >= first_window)
        metric = self.hypothesis.metric
        if metric not in clean_w.columns:
            raise ParameterError(f"the hypothesis metric {metric!r} is not a column of window_metrics.")
        before = clean_w.loc[pd.to_datetime(clean_w["window"]) < start, metric].dropna()
        baseline = self.hypothesis.baseline if self.hypothesis.baseline is not None else float(before.mean())
        detected = bool(onsets)
        first_alarm: Any = times[onsets[0][0]] if detected else None
        end_time = times.iloc[-1] + step if stop is None else stop
        rolled_back = first_alarm + step if detected and self.rollback_on_alarm else end_time
        during = faulted_w.loc[(times >= first_window) & (times < rolled_back), metric].dropna()
        value_during = float(during.mean()) if len(during) else math.nan
        after_frame = injection.rollback(rolled_back.to_pydatetime())
        after_w = window_metrics(after_frame, window=step, served=served, segment=self.segment)
        after = after_w.loc[pd.to_datetime(after_w["window"]) >= rolled_back, metric].dropna()
        value_after = float(after.mean()) if len(after) else None
        return ChaosResult(
            fault=self.fault.method,
            hypothesis=self.hypothesis.method,
            baseline=float(baseline),
            value_during=value_during,
            hypothesis_held=self.hypothesis.check(value_during, baseline),
            value_after_rollback=value_after,
            hypothesis_held_after_rollback=None
            if value_after is None
            else self.hypothesis.check(value_after, baseline),
            detected=detected,
            first_alarm=first_alarm,
            first_rule=onsets[0][1] if detected else None,
            time_to_detect_minutes=((first_alarm + step - start).total_seconds() / 60.0) if detected else None,
            n_alerts=len(onsets),
            false_alarms_clean=false_alarms,
            rolled_back_at=rolled_back,
            rows_affected=int(injection.affected.sum()),
            units_affected=injection.affected_units,
            method=(
                f"{len(self.rules)} rule(s) replayed on {self.window} windows"
                f"{'' if self.horizon is None else f' for {self.horizon} windows after the start'}; "
                f"rollback {'at the first alarm' if self.rollback_on_alarm else 'at the end'}"
            ),
        )


# ------------------------------------------------------------------------------------------------------
# detection table


@dataclass(frozen=True, repr=False)
class DetectionTable:
    """Alert recall per fault size, time to detect, and false alarms on the clean stream.

    Per size ``s`` over ``R`` runs (different salts, so different units hit, and different seeds/starts):
    ``recall = detected / R`` with an exact Clopper–Pearson interval ``[B(α/2; x, R − x + 1),
    B(1 − α/2; x + 1, R − x)]``; ``median_ttd_minutes`` over the detected runs. ``false_alarm_rate`` is the share of
    runs in which some rule fired on the *clean* stream in the same windows — the floor of recall, which a chance
    alarm inside the fault period would otherwise inflate.

    Attributes:
        sizes: Fault sizes.
        runs: Runs per size.
        detected: Detected runs per size.
        recall: ``detected / runs``.
        ci_low: Lower Clopper–Pearson bound of recall.
        ci_high: Upper bound.
        median_ttd_minutes: Median time to detect of the detected runs (``nan`` if none).
        clean_runs: Runs replayed on the clean stream.
        false_alarm_runs: Clean runs with at least one alarm in the evaluated windows.
        false_alarm_rate: ``false_alarm_runs / clean_runs``.
        alpha: Level of the intervals.
        method: Fault, rules and windows.
    """

    sizes: tuple[float, ...]
    runs: int
    detected: tuple[int, ...]
    recall: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    median_ttd_minutes: tuple[float, ...]
    clean_runs: int
    false_alarm_runs: int
    false_alarm_rate: float
    alpha: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row per size.

        Columns ``size``, ``runs``, ``detected``, ``recall``, ``ci_low``, ``ci_high``, ``median_ttd_minutes`` and
        ``false_alarm_rate`` (of the clean runs, the same on every row).
        """
        import pandas as pd

        return pd.DataFrame(
            {
                "size": list(self.sizes),
                "runs": self.runs,
                "detected": list(self.detected),
                "recall": list(self.recall),
                "ci_low": list(self.ci_low),
                "ci_high": list(self.ci_high),
                "median_ttd_minutes": list(self.median_ttd_minutes),
                "false_alarm_rate": self.false_alarm_rate,
            }
        )

    def _repr_html_(self) -> str:
        return str(self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.3g}"))

    def __repr__(self) -> str:
        pairs = ", ".join(f"{s:g}: {r:.2f}" for s, r in zip(self.sizes, self.recall, strict=True))
        return f"DetectionTable(recall={{{pairs}}}, false_alarm_rate={self.false_alarm_rate:.3g}, runs={self.runs})"


def detection_table(
    clean: pd.DataFrame | Callable[[int], pd.DataFrame],
    fault: Fault,
    sizes: Sequence[float],
    rules: Sequence[Rule],
    *,
    repeats: int = 20,
    window: str = "1h",
    horizon: int = 12,
    starts: Sequence[datetime] | None = None,
    segment: str | None = None,
    alpha: float = 0.05,
) -> DetectionTable:
    """Repeat a fault over salts (and seeds, starts) and sizes; tabulate alert recall and time to detect.

    Run ``r`` uses salt ``f"{fault.salt}.{r}"`` (another set of units hit), seed ``fault.seed + r``, the clean
    frame ``clean(r)`` when ``clean`` is a function (a fresh simulated stream) and start ``starts[r % len]``.
    Within a run every size shares the unit hashes and the per-row draws (common random numbers), so detection
    is monotone in size within a run up to the noise the rules see. Detection = some rule's alarm onset in the
    ``horizon`` windows from the start; the clean stream is replayed over the same windows for the false alarms.

    Args:
        clean: Clean per-request frame, or a function of the run index returning one.
        fault: The fault template (its ``size`` is replaced by each of ``sizes``).
        sizes: Fault sizes to tabulate.
        rules: Alert rules watching columns of :func:`window_metrics`.
        repeats: Runs per size.
        window: Window length.
        horizon: Windows after the start in which an alarm counts.
        starts: Fault start times to rotate through (default: ``fault.start``).
        segment: Compute the metrics on this segment only.
        alpha: Level of the recall intervals.

    Returns:
        The table; :meth:`DetectionTable.to_frame` gives one row per size.
    """
    import pandas as pd
    from scipy import stats

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ParameterError(f"repeats must be a whole number >= 1, got {repeats!r}.")
    size_list = [_finite(s, "size") for s in sizes]
    if not size_list:
        raise ParameterError("sizes is empty.")
    start_list = list(starts) if starts else [fault.start]
    if any(s is None for s in start_list):
        raise ParameterError("the fault needs a start time (fault.start or starts=).")
    step = pd.Timedelta(window)
    detected = np.zeros(len(size_list), dtype=np.int64)
    ttd: list[list[float]] = [[] for _ in size_list]
    false_runs = 0
    for r in range(repeats):
        frame = clean(r) if callable(clean) else clean
        start = pd.Timestamp(start_list[r % len(start_list)])  # type: ignore[arg-type]
        first, stop = start.floor(step), start.floor(step) + horizon * step
        salt = f"{fault.salt}.{r}"
        _check_frame(frame, (fault.unit, "ts"))
        hashes = _unit_hashes(frame[fault.unit], salt)
        clean_w = window_metrics(frame, window=step, segment=segment)
        served = clean_w.set_index("window")["requests"]
        clean_t = pd.to_datetime(clean_w["window"])
        if any(clean_t[p] >= first for p, _ in _onsets(rules, clean_w, stop)):
            false_runs += 1
        for i, size in enumerate(size_list):
            run_fault = replace(fault, size=size, salt=salt, seed=fault.seed + r, start=start.to_pydatetime())
            faulted = run_fault.inject(frame, hashes=hashes).frame
            windows = window_metrics(faulted, window=step, served=served, segment=segment)
            times = pd.to_datetime(windows["window"])
            hits = [p for p, _ in _onsets(rules, windows, stop) if times[p] >= first]
            if hits:
                detected[i] += 1
                ttd[i].append((times[hits[0]] + step - start).total_seconds() / 60.0)
    recall = detected / repeats
    low = [0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, repeats - x + 1)) for x in detected]
    high = [1.0 if x == repeats else float(stats.beta.ppf(1 - alpha / 2, x + 1, repeats - x)) for x in detected]
    return DetectionTable(
        sizes=tuple(size_list),
        runs=repeats,
        detected=tuple(int(x) for x in detected),
        recall=tuple(float(x) for x in recall),
        ci_low=tuple(low),
        ci_high=tuple(high),
        median_ttd_minutes=tuple(float(np.median(t)) if t else math.nan for t in ttd),
        clean_runs=repeats,
        false_alarm_runs=false_runs,
        false_alarm_rate=false_runs / repeats,
        alpha=float(alpha),
        method=(
            f"{fault.kind} on {fault.fraction:.0%} of units; {repeats} runs per size (salts {fault.salt}.0…); "
            f"rules: {'; '.join(r.method for r in rules)}; {window} windows, horizon {horizon} windows; "
            "exact Clopper-Pearson interval of recall"
        ),
    )


# ------------------------------------------------------------------------------------------------------
# clean streams


def simulate_requests(
    *,
    windows: int = 48,
    per_window: int = 200,
    window: str = "1h",
    start: datetime = datetime(2026, 1, 1),
    segments: Sequence[tuple[str, float]] = (("en", 0.5), ("de", 0.5)),
    precision: float = 0.9,
    prevalence: float = 0.1,
    low_score_mean: float = 0.02,
    latency_median_ms: float = 80.0,
    latency_sigma: float = 0.35,
    requests_per_unit: int = 4,
    seed: int = 0,
) -> pd.DataFrame:
    """A clean per-request stream with known parameters (the model of :mod:`abnb.datasets.models`, flat in time).

    ``per_window`` requests per window, uniform within it; units uniform on ``1 … windows·per_window /
    requests_per_unit``; a calibrated score: a share ``q = (ρ − L)/(P − L)`` is flagged with score
    ``0.5 + 0.5·Beta(10(2P − 1), 10(2 − 2P))`` (mean P), the rest ``0.5·Beta(0.4, 9.6)`` (mean L = 0.02); label ~
    Bernoulli(score), so precision = P and prevalence = ρ; latency ~ LogNormal(ln median, σ), p95 =
    median·e^{1.645σ}; no errors.

    Returns:
        Columns ``ts``, ``unit``, ``segment``, ``score``, ``prediction``, ``label``, ``latency_ms``, ``error``.
    """
    import pandas as pd

    if not 0.5 < precision < 1.0 or not low_score_mean < prevalence < precision:
        raise ParameterError("need 0.5 < precision < 1 and low_score_mean < prevalence < precision.")
    rng = np.random.default_rng(seed)
    n = int(windows) * int(per_window)
    step = pd.Timedelta(window)
    offsets = np.repeat(np.arange(windows), per_window) + rng.random(n)
    ts = pd.Timestamp(start) + pd.to_timedelta(offsets * step.total_seconds(), unit="s")
    names = [s for s, _ in segments]
    weights = np.array([w for _, w in segments], dtype=np.float64)
    units = rng.integers(1, max(n // requests_per_unit, 1) + 1, size=n)
    # one segment per unit, from a hash-free deterministic draw per unit id
    unit_segment = np.random.default_rng([seed, 1]).choice(
        len(names), size=int(units.max()) + 1, p=weights / weights.sum()
    )
    q = (prevalence - low_score_mean) / (precision - low_score_mean)
    flagged = rng.random(n) < q
    high = 0.5 + 0.5 * rng.beta(10 * (2 * precision - 1), 10 * (2 - 2 * precision), size=n)
    low = 0.5 * rng.beta(0.4, 9.6, size=n)
    score = np.where(flagged, high, low)
    label = (rng.random(n) < score).astype(np.float64)
    latency = latency_median_ms * np.exp(latency_sigma * rng.standard_normal(n))
    return pd.DataFrame(
        {
            "ts": ts,
            "unit": units,
            "segment": np.asarray(names, dtype=object)[unit_segment[units]],
            "score": score,
            "prediction": (score >= 0.5).astype(np.float64),
            "label": label,
            "latency_ms": latency,
            "error": np.zeros(n, dtype=bool),
        }
    )


def load_clean_requests(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    max_rows: int = 200_000,
    schema: ModelTelemetry | None = None,
) -> pd.DataFrame:
    """The clean per-request stream of the model telemetry: ``predictions ⋈ truth`` before the first release.

    One query, ``SELECT p.ts, p.unit, p.segment, p.score, p.prediction, t.label, p.latency_ms, p.error FROM
    predictions p JOIN truth t USING (request_id) WHERE ts >= $start AND ts < $end ORDER BY ts`` (after a count of
    the same rows, to refuse more than ``max_rows``), with the table and column names of ``schema`` and the columns
    named as above whatever the tables call them. ``end`` defaults to the first release: the earliest ``ts`` of the
    releases table (one small query; without any release, every request counts). In the sample that is v2 on
    2026-10-10, and the planted outage lies after it. ``truth`` holds the hidden label of every request, so the
    chaos metrics use complete labels (production sees sampled ones; see
    :func:`abnb.monitor.labelled_precision_by_window`).

    Args:
        connection: A connection from :func:`abnb.connect` or a raw DuckDB connection.
        start: Keep requests with ``ts >= start`` (default: from the first one).
        end: Keep requests with ``ts < end`` (default: the first release).
        max_rows: Most requests to fetch.
        schema: Names of the ``predictions``, ``truth`` and ``releases`` tables and columns (default: the sample's).

    Returns:
        One row per request, ordered by ``ts``: ``ts``, ``unit``, ``segment``, ``score``, ``prediction``,
        ``latency_ms``, ``error``, ``label``.

    Raises:
        DataError: If the range holds more than ``max_rows`` requests (this fetches rows, so it is bounded).
        SchemaError: A table or column is missing, e.g. a team without a truth table: the message names the
            ``[model.truth]`` setting (complete labels are what chaos experiments need).
    """
    import pandas as pd
    from sqlglot import exp

    from abnb.engine import as_connection

    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    p, truth, releases = schema.predictions, schema.truth, schema.releases
    stop = end
    if stop is None:
        first_release = exp.select(exp.Min(this=releases.column("ts"))).from_(releases.expr())
        with schema.reading(con, "releases"):
            stop = con.run(first_release, {}).rows[0][0]
    ts = p.column("ts", "p")
    conditions: list[exp.Expression] = []
    params: dict[str, Any] = {}
    if stop is not None:
        conditions.append(exp.LT(this=ts, expression=exp.Placeholder(this="end")))
        params["end"] = stop
    if start is not None:
        conditions.append(exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start")))
        params["start"] = start
    p_cols = ["ts", "unit", "segment", "score", "prediction", "latency_ms", "error"]
    selects: list[exp.Expression] = [p.aliased(c, "p") for c in p_cols]
    selects.append(truth.aliased("label", "t"))
    base = (
        exp.select(*selects)
        .from_(p.expr("p"))
        .join(
            truth.expr("t"),
            on=exp.EQ(this=p.column("request_id", "p"), expression=truth.column("request_id", "t")),
        )
    )
    if conditions:
        base = base.where(exp.and_(*conditions))
    with schema.reading(con, "predictions", "truth"):
        count = con.run(exp.select(exp.Count(this=exp.Star())).from_(base.subquery("c")), params).rows[0][0]
        if count > max_rows:
            raise DataError(f"{count} requests in the range exceed max_rows={max_rows}; narrow start/end.")
        result = con.run(base.order_by(exp.Literal.number(1)), params)
    frame = pd.DataFrame.from_records(result.rows, columns=list(result.columns))
    for column in ("score", "prediction", "label", "latency_ms"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    frame["error"] = frame["error"].fillna(False).astype(bool)
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame
