"""Blue/green switches: before/after comparison at a switch time, the rollback decision and how fast it comes.

In a blue/green deployment both versions stay provisioned and all traffic moves at once at the switch time, so
rollback is one more switch. The questions are whether the new version (green) is worse than the old (blue), and
how long monitoring takes to say so. Both are answered from telemetry around the release marker with
:func:`abnb.monitor.release_jump` (per-window values before vs after) and :func:`abnb.monitor.replay` of a
threshold rule calibrated on the windows before the switch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb._display import json_fields
from abnb.errors import DataError, ParameterError
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from numpy.typing import NDArray

    from abnb.engine import Connection

__all__ = ["BlueGreenSwitch", "compare_switch"]

COLUMNS = (
    "metric", "better", "before_mean", "after_mean", "estimate", "ci_low", "ci_high", "pvalue", "rollback",
    "threshold", "rule_fired_at", "decided_at", "decision_hours", "n_before", "n_after",
)  # fmt: skip


@dataclass(frozen=True, repr=False)
class BlueGreenSwitch:
    """Before/after comparison of a blue/green switch and the rollback it calls for.

    Attributes:
        version: The version switched to (green).
        previous_version: The version switched from (blue).
        switch: Switch time (the release marker).
        window: Window of the per-window series.
        rollback: Roll back: some metric degraded significantly (:func:`abnb.monitor.release_jump`).
        reason: Why, in a sentence.
        detected_at: Earliest ``decided_at`` over the degraded metrics: when the replayed jump test first called
            for the rollback (at the close of a window).
        detection_hours: ``detected_at − switch`` in hours (NaN without rollback); the rollback itself is one
            traffic switch, so this is the time to rollback up to ``rollback_minutes``.
        rollback_minutes: Assumed time to switch traffic back.
        metrics: One row per metric, columns :data:`COLUMNS`.
        method: Description.
    """

    version: str
    previous_version: str
    switch: datetime
    window: str
    rollback: bool
    reason: str
    detected_at: datetime | None
    detection_hours: float
    rollback_minutes: float
    metrics: tuple[tuple[Any, ...], ...]
    method: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric."""
        import pandas as pd

        return pd.DataFrame.from_records(list(self.metrics), columns=list(COLUMNS))

    def summary(self) -> dict[str, Any]:
        """JSON-ready headline numbers."""
        return json_fields(
            self, ("version", "previous_version", "switch", "rollback", "reason", "detected_at", "detection_hours")
        )

    def __repr__(self) -> str:
        return (
            f"BlueGreenSwitch({self.previous_version} -> {self.version} at {self.switch:%Y-%m-%d %H:%M}: "
            f"rollback={self.rollback}, detection_hours={self.detection_hours:.3g})"
        )


def _series(con: Connection, lo: datetime, hi: datetime, window: str, precision_window: str,
            segments: Sequence[str], schema: ModelTelemetry | None = None) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Per-window series from aggregate queries: error rate, latency p95, labelled precision (all, per segment)."""
    from abnb.monitor import labelled_precision_by_window, windowed

    schema = schema or ModelTelemetry()
    ops, predictions = schema.ops, schema.predictions
    with schema.reading(con, "ops"):
        errors = windowed(con, ops.table, ts=ops.ts, value=ops.errors, window=window, start=lo, end=hi,
                          aggregates=("sum",))  # fmt: skip
        requests = windowed(con, ops.table, ts=ops.ts, value=ops.requests, window=window, start=lo, end=hi,
                            aggregates=("sum",))  # fmt: skip
    rate = errors[["window"]].copy()
    rate["value"] = errors["sum"].to_numpy(dtype=float) / requests["sum"].to_numpy(dtype=float)
    with schema.reading(con, "predictions"):
        latency = windowed(con, predictions.table, ts=predictions.ts, value=predictions.latency_ms, window=window,
                           start=lo, end=hi, aggregates=("p95",))  # fmt: skip
    out = {"error_rate": rate, "latency_p95": latency.rename(columns={"p95": "value"})[["window", "value"]]}
    overall = labelled_precision_by_window(con, window=precision_window, by=None, start=lo, end=hi, schema=schema)
    out["precision"] = overall.rename(columns={"precision": "value"})[["window", "value"]]
    by_segment = labelled_precision_by_window(con, window=precision_window, by="segment", start=lo, end=hi,
                                              schema=schema)  # fmt: skip
    for segment in segments:
        part = by_segment[by_segment["segment"] == segment]
        out[f"precision:{segment}"] = part.rename(columns={"precision": "value"})[["window", "value"]]
    return out


def _decision_time(
    b: NDArray[np.float64], after: pd.DataFrame, width: Any, alpha: float, direction: Literal["increase", "decrease"]
) -> datetime | None:
    """The close of the first window after the switch whose jump test (all windows so far) calls for a rollback."""
    import pandas as pd

    from abnb.monitor import release_jump

    a = after["value"].to_numpy(dtype=float)
    for n in range(2, a.size + 1):
        if release_jump(b, a[:n], alpha=alpha, direction=direction).rollback:
            decided: datetime = (pd.Timestamp(after["window"].iloc[n - 1]) + width).to_pydatetime()
            return decided
    return None


def _compare_metric(
    metric: str, frame: pd.DataFrame, at: datetime, alpha: float, k_sigma: float, for_windows: int
) -> tuple[Any, ...]:
    """One row of :data:`COLUMNS`: the jump of ``metric`` at the switch, the detection rule and the decision time."""
    import pandas as pd

    from abnb.monitor import ThresholdRule, release_jump, replay

    higher_better = metric.startswith("precision")
    better = "higher" if higher_better else "lower"
    before = frame[frame["window"] < at]
    after = frame[frame["window"] >= at]
    if len(before) < 2 or len(after) < 2:  # too little data to compare: reported, never a rollback
        nan = math.nan
        return (metric, better, nan, nan, nan, nan, nan, nan, False, nan, None, None, nan, len(before), len(after))
    direction: Literal["increase", "decrease"] = "increase" if higher_better else "decrease"
    b = before["value"].to_numpy(dtype=float)
    jump = release_jump(b, after["value"].to_numpy(dtype=float), alpha=alpha, direction=direction)
    sd = float(np.std(b, ddof=1))
    threshold = float(b.mean() - k_sigma * sd if higher_better else b.mean() + k_sigma * sd)
    rule = ThresholdRule(metric="value", op="<" if higher_better else ">", threshold=threshold,
                         for_windows=for_windows)  # fmt: skip
    fired = replay(rule, after.reset_index(drop=True), ts="window")
    width = after["window"].iloc[1] - after["window"].iloc[0]
    rule_at = (pd.Timestamp(fired.first_alarm) + width).to_pydatetime() if fired.first_alarm is not None else None
    decided = _decision_time(b, after, width, alpha, direction) if jump.rollback else None
    hours = (decided - at) / timedelta(hours=1) if decided else math.nan
    return (metric, better, jump.before_mean, jump.after_mean, jump.estimate, jump.ci_low, jump.ci_high, jump.pvalue,
            jump.rollback, threshold, rule_at, decided, hours, jump.n_before, jump.n_after)  # fmt: skip


def compare_switch(
    connection: Connection | duckdb.DuckDBPyConnection,
    version: str,
    *,
    switch: datetime | str | None = None,
    hours_before: float = 48.0,
    hours_after: float = 96.0,
    window: str = "1 hour",
    precision_window: str = "6 hours",
    segments: Sequence[str] | None = None,
    alpha: float = 0.01,
    k_sigma: float = 3.0,
    for_windows: int = 2,
    rollback_minutes: float = 1.0,
    schema: ModelTelemetry | None = None,
) -> BlueGreenSwitch:
    """Compare the windows before and after a blue/green switch and time the rollback a rule would trigger.

    For each metric (error rate and latency p95 per ``window``; labelled Hájek precision per
    ``precision_window``, overall and per segment), :func:`abnb.monitor.release_jump` compares the per-window
    values of ``[switch − hours_before, switch)`` with those of ``[switch, switch + hours_after)`` (Welch on
    window values; lower is better for errors and latency, higher for precision). Roll back if any metric
    degraded at level ``alpha``. Detection: a :class:`abnb.monitor.ThresholdRule` with threshold
    ``mean_before ± k_sigma · sd_before`` (bad side) and ``for_windows`` consecutive windows, replayed on the
    windows after the switch (``rule_fired_at``: the close of the window where the condition held the
    ``for_windows``-th time). The decision time of a degraded metric (``decided_at``) replays the jump test
    itself: after each window after the switch, ``release_jump(before, after so far)``; the first window whose
    test calls for a rollback. (Looking after every window inflates the false-alarm rate, as any peeking does;
    the replay shows the timing, the full-period test is the decision.) Time to rollback ≈ decision delay +
    ``rollback_minutes`` (one traffic switch).

    All data access is aggregate queries (:func:`abnb.monitor.windowed`,
    :func:`abnb.monitor.labelled_precision_by_window`); no request row is fetched.

    Args:
        connection: A connection from :func:`abnb.connect` or a raw DuckDB connection.
        version: The version switched to.
        switch: Switch time; default the release marker of ``version`` in ``releases``.
        hours_before: Length of the comparison period before the switch.
        hours_after: Length of the period after it.
        window: Window of the error-rate and latency series.
        precision_window: Window of the precision series (labels are sparse: use hours).
        segments: Segments whose precision is compared besides the overall precision; ``None``: the values of the
            predictions' segment column, most requests first.
        alpha: Significance level of the jump tests (several metrics: keep it strict).
        k_sigma: Width of the detection threshold in before-switch standard deviations.
        for_windows: Consecutive bad windows before the detection rule fires.
        rollback_minutes: Time to switch traffic back (blue is still provisioned).
        schema: Names of the ``ops``, ``predictions``, ``labels`` and ``releases`` tables and columns (default: the
            sample's; in a project ``abnb.find_project().model_telemetry()``).

    Returns:
        The comparison, the decision and the detection time.

    A metric with fewer than two windows on a side is reported with NaN numbers and never triggers a rollback.

    Raises:
        DataError: No release marker for ``version`` (and no ``switch``).
        SchemaError: A table or column is missing; the message names the ``[model]`` setting that names it.
    """
    import pandas as pd

    from abnb.engine import as_connection

    if hours_before <= 0 or hours_after <= 0 or k_sigma <= 0:
        raise ParameterError("hours_before, hours_after and k_sigma must be > 0.")
    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    releases = schema.releases
    if switch is None:
        switch = schema.release_time(con, version)
        if switch is None:
            raise DataError(f"no release marker for {version!r} in table {releases.table}; pass switch=.")
    at = pd.Timestamp(switch).to_pydatetime()
    previous = schema.serving_version(con, at) or ""
    lo, hi = at - timedelta(hours=hours_before), at + timedelta(hours=hours_after)
    if segments is None:
        segments = schema.segment_values(con)
    series = _series(con, lo, hi, window, precision_window, segments, schema)
    table: list[tuple[Any, ...]] = []
    detections: list[datetime] = []
    degraded: list[str] = []
    for metric, frame in series.items():
        row = _compare_metric(metric, frame.dropna(), at, alpha, k_sigma, for_windows)
        table.append(row)
        fields = dict(zip(COLUMNS, row, strict=True))
        if fields["rollback"]:
            degraded.append(metric)
        if fields["decided_at"] is not None:
            detections.append(fields["decided_at"])
    detected_at = min(detections) if detections else None
    if degraded:
        reason = f"degraded after the switch: {', '.join(degraded)} (release_jump at alpha {alpha:g}): switch back."
    else:
        reason = f"no metric degraded significantly at alpha {alpha:g}: keep green, keep blue warm for a while."
    return BlueGreenSwitch(
        version=version,
        previous_version=previous,
        switch=at,
        window=window,
        rollback=bool(degraded),
        reason=reason,
        detected_at=detected_at,
        detection_hours=(detected_at - at) / timedelta(hours=1) if detected_at else math.nan,
        rollback_minutes=float(rollback_minutes),
        metrics=tuple(table),
        method=(
            f"Welch release jump on per-window values ({hours_before:g} h before vs {hours_after:g} h after); "
            f"detection: threshold mean ± {k_sigma:g} sd of the before windows, for {for_windows} windows"
        ),
    )
