"""The monitoring dashboard: traffic, alert rules, release jumps, segments and drift of the model telemetry."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb._verdicts import MonitorVerdict
from abnb.engine import Connection, as_connection
from abnb.errors import DataError, EngineError, ParameterError
from abnb.monitor._common import frame_of, grouped, psi_level, resolve_end
from abnb.monitor.backtest import Backtest, backtest_rules
from abnb.monitor.drift import chi2_drift
from abnb.monitor.precision import labelled_precision_by_window
from abnb.monitor.release import release_jump
from abnb.monitor.scores import (
    expected_precision_by_window,
    score_bin,
    score_histograms_by_window,
    score_psi_by_window,
    scored,
)
from abnb.monitor.segments import segment_breakdown
from abnb.monitor.spec import DEFAULT_MONITOR, MonitorSpec
from abnb.monitor.windows import windowed
from abnb.stats import adjust
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from numpy.typing import NDArray

__all__ = ["MAX_MONITOR_WINDOW", "MIN_MONITOR_WINDOW", "MonitorSummary", "monitor_summary"]

_ALERT_COLUMNS = ["rule", "segment", "metric", "start", "end", "method"]
_FALSE_ALARM_COLUMNS = ["rule", "segment", "n_windows", "n_alarms", "per_window", "ci_high"]
_JUMP_COLUMNS = [
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
]
_DRIFT_COLUMNS = [
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
        monitor: The monitoring spec's name (``"model"`` for abnb's default rules).
        backtest: Every rule of the spec replayed on the history (:func:`backtest`); the rule frames come from it.
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
    monitor: str
    backtest: Backtest

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
        verdict, reason = _verdict(advised, len(alerts))
        return {
            "kind": "monitoring",
            "experiment": report_name(self.monitor),
            "monitor": self.monitor,
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


def report_name(monitor: str) -> str:
    """The report (and its folder) of a monitor: ``monitoring`` for abnb's default rules, else ``monitoring-<name>``."""
    return "monitoring" if monitor == DEFAULT_MONITOR else f"monitoring-{monitor}"


def _verdict(advised: list[str], n_alerts: int) -> tuple[MonitorVerdict, str]:
    """The dashboard's verdict and why: ``rollback`` when a release degraded a metric, else ``alert``, else ``ok``."""
    if advised:
        return "rollback", f"roll back {', '.join(advised)}: a release degraded a metric."
    if n_alerts:
        return "alert", f"{n_alerts} alert(s) fired; no release needs a rollback."
    return "ok", "no alert fired and no release degraded a metric."


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
    query = (
        exp.select(
            exp.Alias(this=period, alias=exp.to_identifier("period", quoted=True)),
            predictions.aliased("segment"),
            exp.Alias(this=score_bin(score), alias=exp.to_identifier("bin", quoted=True)),
            exp.Alias(this=exp.Count(this=exp.Star()), alias=exp.to_identifier("n", quoted=True)),
        )
        .from_(predictions.expr())
        .where(
            exp.and_(
                scored(score),
                exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="lo")),
                exp.LT(this=ts.copy(), expression=exp.Placeholder(this="hi")),
            )
        )
    )
    return frame_of(con.run(grouped(query, 3), {"cut": cut, "lo": lo, "hi": hi, "bins": bins}))


def _binned_drift(before: NDArray[np.float64], after: NDArray[np.float64]) -> dict[str, float]:
    """PSI, χ² homogeneity and a KS distance on the binned CDFs (a lower bound of the exact D)."""
    from scipy import stats

    chi2 = chi2_drift(before, after)
    n, m = before.sum(), after.sum()
    d = float(np.max(np.abs(np.cumsum(before) / n - np.cumsum(after) / m)))
    ks_p = float(stats.kstwobign.sf(d * math.sqrt(n * m / (n + m))))
    return {"psi": chi2.psi, "ks_d": d, "ks_pvalue": ks_p, "chi2": chi2.statistic, "pvalue": chi2.pvalue}


def _span(con: Connection, schema: ModelTelemetry, end: datetime | None) -> tuple[datetime, datetime]:
    """The first prediction before ``end`` and the exclusive cutoff (just after the last prediction by default)."""
    from sqlglot import exp

    predictions = schema.predictions
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
    return first, end if end is not None else last + timedelta(microseconds=1)


def _releases(con: Connection, schema: ModelTelemetry, end: datetime, model_version: str | None) -> pd.DataFrame:
    """The release markers before ``end``; ``model_version`` must be one of them."""
    from sqlglot import exp

    rel = schema.releases
    with schema.reading(con, "releases"):
        releases = frame_of(
            con.run(
                exp.select(rel.aliased("ts"), rel.aliased("model_version"), rel.aliased("description"))
                .from_(rel.expr())
                .where(exp.LT(this=rel.column("ts"), expression=exp.Placeholder(this="end")))
                .order_by(exp.Literal.number(1)),
                {"end": end},
            )
        )
    if model_version is not None and model_version not in set(releases["model_version"]):
        raise ParameterError(
            f"model_version {model_version!r} has no release before {end}; releases: {list(releases['model_version'])}."
        )
    return releases


@dataclass
class _Series:
    """The windowed series the rules and charts read, one aggregate query per (source, window), fetched once."""

    con: Connection
    schema: ModelTelemetry
    end: datetime
    alpha: float
    baseline_end: datetime
    bins: int
    frames: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)

    def _ops(self, window: str) -> pd.DataFrame:
        ops = self.schema.ops
        with self.schema.reading(self.con, "ops"):
            sums = [
                windowed(self.con, ops.table, ts=ops.ts, value=value, window=window, end=self.end, aggregates=("sum",))
                for value in (ops.requests, ops.errors)
            ]
        frame = sums[0][["window"]].copy()
        frame["requests"] = sums[0]["sum"].astype("int64")
        frame["errors"] = sums[1]["sum"].astype("int64")
        frame["error_rate"] = frame["errors"] / frame["requests"]
        return frame

    def _latency(self, window: str) -> pd.DataFrame:
        predictions = self.schema.predictions
        with self.schema.reading(self.con, "predictions"):
            latency = windowed(
                self.con,
                predictions.table,
                ts=predictions.ts,
                value=predictions.latency_ms,
                window=window,
                end=self.end,
                aggregates=("n", "p50", "p95", "p99"),
            )
        return latency.drop(columns="n")

    def _precision(self, window: str) -> pd.DataFrame:
        return labelled_precision_by_window(
            self.con, window=window, by="segment", end=self.end, alpha=self.alpha, schema=self.schema
        )

    def _scores(self, window: str) -> pd.DataFrame:
        return score_histograms_by_window(self.con, window=window, end=self.end, bins=self.bins, schema=self.schema)

    def _fetched(self, source: str, window: str) -> pd.DataFrame:
        key = (source, window)
        if key not in self.frames:
            fetch = {"ops": self._ops, "latency": self._latency, "precision": self._precision, "scores": self._scores}
            self.frames[key] = fetch[source](window)
        return self.frames[key]

    def frame(self, series: str, window: str) -> pd.DataFrame:
        """The frame holding ``series`` per window (and segment, for the model-quality series)."""
        if series == "expected_precision":
            return expected_precision_by_window(self._fetched("scores", window))
        if series == "score_psi":
            return score_psi_by_window(self._fetched("scores", window), baseline_end=self.baseline_end, bins=self.bins)
        return self._fetched({"error_rate": "ops", "latency_p95": "latency", "precision": "precision"}[series], window)

    def traffic(self, window: str) -> pd.DataFrame:
        """Requests, errors, error rate and the exact latency quantiles per window."""
        return self.frame("error_rate", window).merge(self.frame("latency_p95", window), on="window", how="left")


def _rule_methods(spec: MonitorSpec) -> str:
    """Each rule as ``label (series, window): method`` (calibrated rules' baselines said in words)."""
    return "; ".join(f"{rule.label} ({rule.series}, {spec.window_of(rule)}): {rule.explained}" for rule in spec.rules)


@dataclass(frozen=True)
class _History:
    """What a spec is replayed on: the data's span, the releases and the windowed series (fetched on demand)."""

    spec: MonitorSpec
    first: datetime
    end: datetime
    releases: pd.DataFrame
    markers: list[datetime]
    series: _Series

    def release_effects(self, model_version: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Release jumps and score drift at every release, or at ``model_version``'s only."""
        window = self.spec.window
        return _release_effects(
            self.series.con,
            self.series.schema,
            [self.first, *self.markers, self.end],
            self.releases,
            model_version,
            (self.series.traffic(window), self.series.frame("precision", window)),
            self.spec,
        )

    def backtest(self) -> Backtest:
        return backtest_rules(
            self.spec,
            self.series.frame,
            baseline_end=self.series.baseline_end,
            releases=self.releases,
            end=self.end,
        )


def _history(
    con: Connection,
    spec: MonitorSpec,
    schema: ModelTelemetry | None,
    as_of: datetime | date | str | None,
    model_version: str | None = None,
) -> _History:
    """Check the spec's windows against the engine, find the span and the releases, and set up the series.

    Raises:
        DataError: No predictions before ``as_of``, or no window before the first release.
    """
    import pandas as pd

    _check_window(con, spec.window, "window")
    for rule in spec.rules:
        _check_window(con, spec.window_of(rule), f"rule {rule.name!r} window")
    schema = spec.schema(schema)
    first, end = _span(con, schema, resolve_end(as_of))
    releases = _releases(con, schema, end, model_version)
    markers = [pd.Timestamp(t).to_pydatetime() for t in releases["ts"]]
    if markers and markers[0] <= first:
        raise DataError("no clean baseline: the first release is at or before the first prediction.")
    baseline_end = markers[0] if markers else end
    return _History(
        spec, first, end, releases, markers, _Series(con, schema, end, spec.alpha, baseline_end, spec.score_bins)
    )


def backtest(
    connection: Connection | duckdb.DuckDBPyConnection,
    spec: MonitorSpec | None = None,
    *,
    as_of: datetime | date | str | None = None,
    schema: ModelTelemetry | None = None,
) -> Backtest:
    """Replay every rule of a monitoring spec on the telemetry's history, from aggregate queries only.

    Args:
        connection: A connection from :func:`abnb.connect` or a raw ``duckdb`` connection.
        spec: The monitoring spec (default: :meth:`MonitorSpec.default`).
        as_of: Data cutoff: a date means through that day; ``None`` for all data.
        schema: The telemetry's table and column names (default: the sample's); the spec's ``[model]`` applies
            over it.

    Returns:
        Per rule and segment: the series, abnb's replay, the false alarms before the first release and the delay
        to the first alarm after each release.

    Raises:
        DataError: No predictions before ``as_of``, or no window before the first release.
        ParameterError: A window outside 1 minute to 366 days.
    """
    con = as_connection(connection)
    return _history(con, spec or MonitorSpec.default(), schema, as_of).backtest()


@dataclass(frozen=True)
class MonitorState:
    """What a monitoring spec says now: its rules' backtest and the verdicts on the latest release.

    Attributes:
        backtest: Every rule replayed on the history (:func:`backtest`).
        release: The latest release's ``model_version``, or ``None`` when there is none.
        release_jumps: Its jumps (the dashboard's ``release_jumps`` rows of that release), with ``rollback``.
        release_drift: Its score drift before vs after (the dashboard's ``drift`` rows of that release).
    """

    backtest: Backtest
    release: str | None
    release_jumps: pd.DataFrame
    release_drift: pd.DataFrame


def monitor_state(
    connection: Connection | duckdb.DuckDBPyConnection,
    spec: MonitorSpec | None = None,
    *,
    as_of: datetime | date | str | None = None,
    schema: ModelTelemetry | None = None,
) -> MonitorState:
    """The backtest of a spec and the jump and drift verdicts on the latest release, sharing one set of queries.

    The verdicts are those of :func:`monitor_summary` for ``model_version`` = the latest release (Welch on the
    per-window values between the previous marker and ``as_of``; PSI/χ² of the score histograms).

    Args:
        connection: A connection from :func:`abnb.connect` or a raw ``duckdb`` connection.
        spec: The monitoring spec (default: :meth:`MonitorSpec.default`).
        as_of: Data cutoff: a date means through that day; ``None`` for all data.
        schema: The telemetry's table and column names (default: the sample's); the spec's ``[model]`` applies
            over it.

    Raises:
        DataError: No predictions before ``as_of``, or no window before the first release.
        ParameterError: A window outside 1 minute to 366 days.
    """
    import pandas as pd

    history = _history(as_connection(connection), spec or MonitorSpec.default(), schema, as_of)
    bt = history.backtest()
    if history.releases.empty:
        return MonitorState(bt, None, pd.DataFrame(columns=_JUMP_COLUMNS), pd.DataFrame(columns=_DRIFT_COLUMNS))
    latest = str(history.releases["model_version"].iloc[-1])
    return MonitorState(bt, latest, *history.release_effects(latest))


def _rule_frames(bt: Backtest) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The dashboard's long per-window rule states, its alert intervals and the false alarms on the baseline."""
    import pandas as pd

    states, alerts, false_alarms = [], [], []
    for item in bt.rules:
        rule, state = item.rule, item.replay.to_frame()
        states.append(
            pd.DataFrame(
                {
                    "rule": rule.label,
                    "segment": item.segment,
                    "time": state["time"],
                    "value": state["value"],
                    "alarm": state["alarm"],
                }
            )
        )
        alerts += [
            {
                "rule": rule.label,
                "segment": item.segment,
                "metric": rule.series,
                "start": start,
                "end": stop,
                "method": item.built.method,
            }
            for start, stop in item.replay.intervals
        ]
        if item.false_alarms is not None:
            fa = item.false_alarms
            false_alarms.append(
                {
                    "rule": rule.label,
                    "segment": item.segment,
                    "n_windows": fa.n_windows,
                    "n_alarms": fa.n_alarms,
                    "per_window": fa.per_window,
                    "ci_high": fa.ci_high,
                }
            )
    return (
        pd.concat(states, ignore_index=True) if states else pd.DataFrame(),
        pd.DataFrame(alerts, columns=_ALERT_COLUMNS),
        pd.DataFrame(false_alarms, columns=_FALSE_ALARM_COLUMNS),
    )


def _jumps_at(
    marker: datetime,
    version: str,
    lo: Any,
    hi: datetime,
    traffic: pd.DataFrame,
    precision: pd.DataFrame,
    s: MonitorSpec,
) -> list[dict[str, Any]]:
    """Release jumps at ``marker``: windows in ``[lo, marker)`` against ``[marker, hi)``, per metric and segment."""
    import pandas as pd

    candidates: list[tuple[str, str, pd.DataFrame, str, Literal["increase", "decrease"], float]] = [
        ("latency_p95", "all", traffic, "p95", "decrease", 0.0),
        ("error_rate", "all", traffic, "error_rate", "decrease", 0.0),
    ]
    candidates += [
        ("precision", str(segment), rows, "precision", "increase", s.min_effect)
        for segment, rows in precision.groupby("segment", sort=True)
    ]
    jumps = []
    for metric, segment, frame, column, direction, effect in candidates:
        times = pd.to_datetime(frame["window"])
        before = frame.loc[(times >= lo) & (times < marker), column].to_numpy(dtype=np.float64)
        after = frame.loc[(times >= marker) & (times < hi), column].to_numpy(dtype=np.float64)
        if before.size < 2 or after.size < 2:
            continue
        jump = release_jump(before, after, alpha=s.alpha, direction=direction, min_effect=effect)
        jumps.append(
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
    return jumps


def _drift_at(marker: datetime, version: str, hist: pd.DataFrame, bins: int) -> list[dict[str, Any]]:
    """Drift of the score histograms before vs after ``marker``, overall and per segment with scores on both sides."""
    import pandas as pd

    if hist.empty:
        return []
    table = hist.pivot_table(index=["segment", "bin"], columns="period", values="n", aggfunc="sum", fill_value=0)
    for column in ("before", "after"):
        if column not in table.columns:
            table[column] = 0
    full = pd.MultiIndex.from_product([sorted(hist["segment"].unique()), range(bins)], names=["segment", "bin"])
    table = table.reindex(full, fill_value=0)
    groups: list[tuple[str, Any]] = [("all", table.groupby(level="bin").sum())]
    groups += [(str(s), table.xs(s, level="segment")) for s in sorted(hist["segment"].unique())]
    rows = []
    for segment, counts in groups:
        b = counts["before"].to_numpy(dtype=np.float64)
        a = counts["after"].to_numpy(dtype=np.float64)
        if b.sum() == 0 or a.sum() == 0:
            continue
        rows.append(
            {
                "release": marker,
                "model_version": version,
                "segment": segment,
                "n_before": int(b.sum()),
                "n_after": int(a.sum()),
                **_binned_drift(b, a),
            }
        )
    return rows


def _release_effects(
    con: Connection,
    schema: ModelTelemetry,
    bounds: list[datetime],
    releases: pd.DataFrame,
    model_version: str | None,
    series: tuple[pd.DataFrame, pd.DataFrame],
    s: MonitorSpec,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Release jumps and score drift at each release (or only ``model_version``'s), between its neighbours.

    ``bounds`` is ``[first prediction, *release markers, end]``; ``series`` the traffic and precision frames.
    """
    import pandas as pd

    jumps: list[dict[str, Any]] = []
    drift_rows: list[dict[str, Any]] = []
    markers = bounds[1:-1]
    for i, (marker, version) in enumerate(zip(markers, releases["model_version"], strict=True)):
        if model_version is not None and version != model_version:
            continue
        lo, hi = bounds[i], bounds[i + 2]
        jumps += _jumps_at(marker, version, lo if i else pd.Timestamp.min, hi, *series, s)
        with schema.reading(con, "predictions"):
            hist = _score_histograms(con, lo=lo, cut=marker, hi=hi, bins=s.score_bins, schema=schema)
        drift_rows += _drift_at(marker, version, hist, s.score_bins)
    drift = pd.DataFrame(drift_rows, columns=_DRIFT_COLUMNS)
    drift["psi_level"] = [psi_level(v) for v in drift["psi"]]
    drift["pvalue_adjusted"] = adjust(drift["pvalue"].to_numpy(dtype=np.float64), method="bh") if len(drift) else []
    drift["drift"] = (drift["pvalue_adjusted"] <= s.alpha) & (drift["psi"] >= 0.1)
    return pd.DataFrame(jumps, columns=_JUMP_COLUMNS), drift


def _segments(
    con: Connection, schema: ModelTelemetry, end: datetime, model_version: str | None, alpha: float
) -> pd.DataFrame:
    """:func:`segment_breakdown` of the mistake rate among labelled flagged requests, per model version."""
    import pandas as pd

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
    if not parts:
        return pd.DataFrame(columns=["model_version", "segment", "rate", "flag"])
    return pd.concat(parts, ignore_index=True)


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
    spec: MonitorSpec | None = None,
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
            A spec's own ``[model]`` names are applied over it.
        spec: A monitoring spec (:func:`abnb.monitor.load_monitor`): its rules, window, alpha, min_effect and
            score_bins replace the arguments above, which must then keep their defaults. Default:
            :meth:`MonitorSpec.default` of those arguments.

    Returns:
        The frames and a JSON-safe :meth:`MonitorSummary.summary`.

    Raises:
        DataError: No predictions before ``as_of``, or no clean baseline (no window before the first release).
        ParameterError: Unknown ``model_version``, a ``window`` or ``alert_window`` outside 1 minute to 366 days,
            or malformed parameters.
        SchemaError: A table or column is missing; the message names the ``[model]`` setting that names it.
    """
    con = as_connection(connection)
    tuning: dict[str, Any] = {
        "window": window,
        "alert_window": alert_window,
        "error_threshold": error_threshold,
        "error_clear": error_clear,
        "for_windows": for_windows,
        "clear_windows": clear_windows,
        "cusum_k": cusum_k,
        "cusum_h": cusum_h,
        "ewma_lambda": ewma_lambda,
        "ewma_width": ewma_width,
        "min_effect": min_effect,
        "score_bins": score_bins,
        "alpha": alpha,
    }
    if spec is None:
        for name in ("window", "alert_window"):
            _check_window(con, tuning[name], name)
        spec = MonitorSpec.default(**tuning)
    else:
        changed = sorted(k for k, v in tuning.items() if v != (monitor_summary.__kwdefaults__ or {})[k])
        if changed:
            raise ParameterError(
                f"monitor_summary got spec={spec.name!r} and {', '.join(changed)}: the spec holds the rules and "
                "their tuning; change them in its file, or drop spec= to tune the default rules with arguments."
            )
    history = _history(con, spec, schema, as_of, model_version)
    window, series, end = spec.window, history.series, history.end
    traffic = series.traffic(window)
    alert_window = next((spec.window_of(r) for r in spec.rules if r.series == "error_rate"), window)
    error_windows = series.frame("error_rate", alert_window)
    precision = series.frame("precision", window)
    bt = history.backtest()
    rule_states, alerts, false_alarms = _rule_frames(bt)
    release_jumps, drift = history.release_effects(model_version)
    baseline_end = bt.baseline_end
    return MonitorSummary(
        as_of=(end - timedelta(microseconds=1)).date().isoformat(),
        end=end,
        window=window,
        alert_window=alert_window,
        model_version=model_version,
        baseline_end=baseline_end,
        releases=history.releases,
        traffic=traffic,
        error_windows=error_windows,
        precision=precision,
        rule_states=rule_states,
        alerts=alerts,
        false_alarms=false_alarms,
        release_jumps=release_jumps,
        segments=_segments(con, series.schema, end, model_version, spec.alpha),
        drift=drift,
        monitor=spec.name,
        backtest=bt,
        method=(
            f"{window} windows; error rate = sum(errors)/sum(requests) of ops; exact latency quantiles; Hajek "
            f"precision; rules of monitor {spec.name}: {_rule_methods(spec)}; baseline before "
            f"{baseline_end.isoformat()}"
        ),
    )
