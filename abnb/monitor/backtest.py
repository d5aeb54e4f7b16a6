"""Backtesting a monitoring spec: every rule replayed on the history of its series, as it would have run.

One :class:`RuleBacktest` per rule and segment holds the windowed series (from aggregate queries), the rule as
built (EWMA/CUSUM calibrated on the windows before the first release), abnb's replay of it window by window, its
false alarms on that clean baseline and how long after each release it first fired. The dashboard, the Prometheus
export (annotations, and the equality of firing steps checked with ``promtool``) and the exporter read the same
objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from abnb.monitor.rules import FalseAlarmRate, Replay, Rule, false_alarm_rate, replay

if TYPE_CHECKING:
    import pandas as pd

    from abnb.monitor.spec import MonitorRule, MonitorSpec

__all__ = ["Backtest", "Detection", "RuleBacktest", "backtest_rules"]


@dataclass(frozen=True)
class Detection:
    """The first alarm of a rule after a release (before the next one), or none.

    Attributes:
        release: The release marker's time.
        model_version: The release.
        first_alarm: The first window in alarm at or after the release; ``None`` if the rule stayed quiet.
        delay: ``first_alarm − release`` (``None`` if quiet).
    """

    release: datetime
    model_version: str
    first_alarm: datetime | None
    delay: timedelta | None


@dataclass(frozen=True)
class RuleBacktest:
    """One rule replayed on one series (a segment's, for per-segment rules).

    Attributes:
        rule: The spec's rule.
        segment: ``"all"``, or the segment of a per-segment rule.
        window: The window the series is aggregated over.
        built: The rule object replayed (with its calibrated baseline).
        series: Per window: ``window`` and the watched column (and the series' other columns).
        replay: abnb's replay: per-window state and the alert intervals.
        false_alarms: The replay on the windows before the first release (``None`` with fewer than two).
        detections: Per release: the first alarm after it and the delay.
    """

    rule: MonitorRule
    segment: str
    window: str
    built: Rule
    series: pd.DataFrame
    replay: Replay
    false_alarms: FalseAlarmRate | None
    detections: tuple[Detection, ...]

    def firing(self) -> list[bool]:
        """Whether the rule is in alarm at each window (abnb's replay)."""
        return [bool(v) for v in dict(self.replay.state)["alarm"]]

    def summary(self) -> str:
        """One line for an alert's annotation: the false-alarm rate on the baseline and the detection delays."""
        parts = []
        if self.false_alarms is not None:
            fa = self.false_alarms
            parts.append(
                f"{fa.n_alarms} false alarm(s) in {fa.n_windows} clean windows before the first release "
                f"(at most {fa.ci_high:.3g} per window, {1 - fa.alpha:.0%} upper bound)"
            )
        for d in self.detections:
            after = "no alarm" if d.delay is None else f"first alarm {_duration(d.delay)} later"
            parts.append(f"release {d.model_version}: {after}")
        return "; ".join(parts) or "no baseline and no release to backtest on"


def _duration(delta: timedelta) -> str:
    """``4 d 14 h 10 min``; ``0 min`` for none."""
    minutes = int(delta.total_seconds()) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) or "0 min"


@dataclass(frozen=True)
class Backtest:
    """Every rule of a spec replayed on history.

    Attributes:
        spec: The monitoring spec.
        end: Exclusive data cutoff.
        baseline_end: The first release (the clean baseline lies before it).
        rules: One :class:`RuleBacktest` per rule (and segment), in the spec's order.
    """

    spec: MonitorSpec
    end: datetime
    baseline_end: datetime
    rules: tuple[RuleBacktest, ...]

    def of(self, rule: str, segment: str = "all") -> RuleBacktest:
        """The backtest of rule ``rule`` (in ``segment``).

        Raises:
            ParameterError: No such rule or segment (the message lists what there is).
        """
        from abnb.errors import ParameterError

        for item in self.rules:
            if item.rule.name == rule and item.segment == segment:
                return item
        known = ", ".join(f"{r.rule.name}/{r.segment}" for r in self.rules)
        raise ParameterError(f"no backtest of rule {rule!r} in segment {segment!r}; there are: {known}.")

    def to_frame(self) -> pd.DataFrame:
        """One row per rule and segment: alerts, false alarms on the baseline and the first detection delay."""
        import pandas as pd

        rows = []
        for item in self.rules:
            fa = item.false_alarms
            delays = [d.delay for d in item.detections if d.delay is not None]
            rows.append(
                {
                    "rule": item.rule.name,
                    "segment": item.segment,
                    "kind": item.rule.kind,
                    "window": item.window,
                    "n_windows": item.replay.n_windows,
                    "n_alerts": item.replay.n_alerts,
                    "false_alarms": None if fa is None else fa.n_alarms,
                    "baseline_windows": None if fa is None else fa.n_windows,
                    "first_detection": min(delays) if delays else None,
                }
            )
        return pd.DataFrame(rows)

    def alerts(self) -> pd.DataFrame:
        """Every alert of every rule and segment, and when it started relative to the releases.

        Returns:
            One row per alert interval: ``rule``, ``segment``, ``start``, ``end`` (``None``: still firing),
            ``after`` (the release in force at ``start``, ``None`` on the clean baseline) and ``false_alarm``
            (started on the clean baseline, before the first release, where nothing was wrong).
        """
        import pandas as pd

        versions = [(d.release, d.model_version) for d in (self.rules[0].detections if self.rules else ())]
        rows = []
        for item in self.rules:
            for start, end in item.replay.intervals:
                began = pd.Timestamp(start).to_pydatetime()
                after = next((v for t, v in reversed(versions) if t <= began), None)
                rows.append(
                    {
                        "rule": item.rule.name,
                        "segment": item.segment,
                        "start": began,
                        "end": end,
                        "after": after,
                        "false_alarm": began < self.baseline_end,
                    }
                )
        return pd.DataFrame(rows, columns=["rule", "segment", "start", "end", "after", "false_alarm"])

    def story(self) -> list[str]:
        """One sentence per rule: how often it would have fired over the history, how often falsely, and when.

        A per-segment rule sums its segments. "Falsely" means on the clean baseline before the first release; an
        alert after a release may be right or wrong, which only the team's incident log can tell.
        """
        alerts = self.alerts()
        lines = []
        for rule in self.spec.rules:
            items = [item for item in self.rules if item.rule.name == rule.name]
            if not items:
                lines.append(f"{rule.name}: not replayed (too few windows before the first release to calibrate).")
                continue
            mine = alerts[alerts["rule"] == rule.name]
            days = (self.end - items[0].replay.times[0]).total_seconds() / 86_400 if items[0].replay.times else 0.0
            where = f" over {len(items)} segments" if rule.per_segment else ""
            clean = sum(item.false_alarms.n_windows for item in items if item.false_alarms is not None)
            head = f"{rule.name} ({rule.series} per {self.spec.window_of(rule)}, {rule.kind}){where}"
            if mine.empty:
                lines.append(
                    f"{head} would not have fired in {days:.0f} days ({clean:,} clean windows before the first "
                    "release)."
                )
                continue
            text = (
                f"{head} would have fired {_times(len(mine))} in {days:.0f} days, "
                f"{_times(int(mine['false_alarm'].sum()))} falsely (on the {clean:,} clean windows before the first "
                "release)"
            )
            later = mine[~mine["false_alarm"]]
            if len(later):
                when = ", ".join(
                    f"{f'{segment}: ' if rule.per_segment else ''}{_when(start)} ({after} in force)"
                    for segment, start, after in zip(later["segment"], later["start"], later["after"], strict=True)
                )
                text += f"; later: {when}"
            lines.append(text + ".")
        return lines


def _times(n: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(n, f"{n} times")  # "never falsely", "once", ...


def _when(value: Any) -> str:
    """A window start as ``2026-10-14 14:10`` (``2026-10-14`` at midnight)."""
    text: str = value.strftime("%Y-%m-%d %H:%M")
    return text.removesuffix(" 00:00")


def _calibrated(rule: MonitorRule, rows: pd.DataFrame, baseline_end: datetime) -> tuple[Rule, Any] | None:
    """The rule object for ``rows``, calibrated on its windows before ``baseline_end``; ``None`` if it cannot be."""
    import pandas as pd

    clean = rows[pd.to_datetime(rows["window"]) < baseline_end]
    baseline = None
    if rule.calibrated:
        baseline = rule.calibrate(clean)
        if baseline is None:
            return None
    return rule.build(baseline), clean


def _detections(result: Replay, releases: pd.DataFrame, end: datetime) -> tuple[Detection, ...]:
    """The first alarm onset at or after each release and before the next one."""
    import pandas as pd

    markers = [pd.Timestamp(t).to_pydatetime() for t in releases["ts"]]
    alarm = dict(result.state)["alarm"]
    times = [pd.Timestamp(t).to_pydatetime() for t in result.times]
    found = []
    for i, (marker, version) in enumerate(zip(markers, releases["model_version"], strict=True)):
        until = markers[i + 1] if i + 1 < len(markers) else end
        first = next((t for t, on in zip(times, alarm, strict=True) if on and marker <= t < until), None)
        found.append(Detection(marker, str(version), first, None if first is None else first - marker))
    return tuple(found)


def backtest_rules(
    spec: MonitorSpec,
    frame_of: Any,
    *,
    baseline_end: datetime,
    releases: pd.DataFrame,
    end: datetime,
) -> Backtest:
    """Replay every rule of ``spec`` on its series.

    Args:
        spec: The monitoring spec.
        frame_of: ``frame_of(series, window)`` returns the windowed frame of a series (columns ``window``, the
            series' column and, for precision, ``segment``, ``se``, ``sum_w``, ``sum_wy``); one aggregate query each.
        baseline_end: The first release: calibration and false alarms use the windows before it.
        releases: Release markers ``ts``, ``model_version`` (for the detection delays).
        end: Exclusive data cutoff.

    Returns:
        The backtest. A rule that needs calibration is left out of a segment with fewer than two baseline windows.
    """
    items = []
    for rule in spec.rules:
        window = spec.window_of(rule)
        frame = frame_of(rule.series, window)
        groups = frame.groupby("segment", sort=True) if rule.per_segment else [("all", frame)]
        for segment, rows in groups:
            rows = rows.reset_index(drop=True)
            made = _calibrated(rule, rows, baseline_end)
            if made is None:
                continue
            built, clean = made
            result = replay(built, rows)
            items.append(
                RuleBacktest(
                    rule=rule,
                    segment=str(segment),
                    window=window,
                    built=built,
                    series=rows,
                    replay=result,
                    false_alarms=false_alarm_rate(built, clean, alpha=spec.alpha) if len(clean) >= 2 else None,
                    detections=_detections(result, releases, end),
                )
            )
    return Backtest(spec=spec, end=end, baseline_end=baseline_end, rules=tuple(items))
