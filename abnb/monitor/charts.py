"""Charts of the monitoring dashboard: traffic metrics and labelled precision with the release markers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from abnb.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from abnb.monitor.dashboard import MonitorSummary

__all__ = ["ops_chart", "precision_chart"]


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
