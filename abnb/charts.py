"""Altair chart builders: an aggregated frame in, an ``alt.Chart`` out, nothing rendered inside.

Every builder takes one of the small frames that result objects produce (``ExperimentResult.to_frame()``,
``arms_frame()``, ``segments_frame()``): one row per metric × arm (× segment level), never telemetry rows.
:func:`use_static` switches the notebook to static SVG output (vl-convert), which reports need to open offline.
A frame with more rows to draw than :data:`MAX_ROWS` (only the drawn metric counts) gives a chart holding a note
that says so, never an error: a report never fails for a chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from abnb.errors import ParameterError

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

__all__ = ["arm_means_chart", "describe", "effects_chart", "segments_chart", "timeline_chart", "use_static"]

_GOOD, _BAD, _NEUTRAL = "#1b7837", "#b2182b", "#6b6b6b"
# Static SVG text is measured with vl-convert's font and drawn with the browser's: leave room for wider labels.
_PADDING = {"left": 40, "right": 10, "top": 5, "bottom": 5}


def use_static() -> None:
    """Render charts as static SVG (via vl-convert) with a text alternative: no JavaScript, no network.

    The output's metadata carries ``{"image/svg+xml": {"alt": ...}}``, the chart's title and description, which the
    ``abnb_offline`` template writes as the ``alt`` of the chart's ``<img>`` in exported reports.
    """
    import altair as alt

    alt.renderers.enable("svg")
    svg: Any = alt.renderers.get()  # the "svg" renderer enabled on the line above

    def described(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return svg(spec, **metadata), {"image/svg+xml": {"alt": describe(spec)}}

    alt.renderers.register("abnb_static", described)
    alt.renderers.enable("abnb_static")


def describe(spec: dict[str, Any]) -> str:
    """A chart's text alternative from its Vega-Lite spec: ``"Chart: <title>. <description>"``.

    Facets and layers keep their title at the top level; a chart without one is named by its mark and fields.
    """
    title = spec.get("title")
    text = title.get("text", "") if isinstance(title, dict) else title
    if isinstance(text, list):
        text = " ".join(map(str, text))
    if not text:
        fields = sorted(
            {str(v.get("field")) for v in spec.get("encoding", {}).values() if isinstance(v, dict)} - {"None"}
        )
        text = "chart of " + (", ".join(fields) or "data")
    description = spec.get("description")
    return f"Chart: {text}." + (f" {description}" if isinstance(description, str) and description else "")


def _require(frame: pd.DataFrame, columns: Sequence[str], builder: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"{builder} needs columns {', '.join(missing)} in its frame (it has {', '.join(map(str, frame.columns))})."
        )


MAX_ROWS = 5000
"""Most rows a chart draws; past it a builder returns a note (:func:`_note`) instead of a chart."""


def _note(rows: int, builder: str, *, title: str, what: str) -> alt.Chart:
    """A chart holding only a sentence: why nothing is drawn (a report shows it and goes on, it never fails).

    Charts take aggregated frames: one row per metric × arm (× segment level). A frame of thousands of rows is a
    design problem (a segment column with thousands of levels, a thousand arms) that a chart cannot show legibly,
    and drawing it would cost minutes of rendering; the numbers stay in the table the frame came from.
    """
    import altair as alt
    import pandas as pd

    text = (
        f"Not drawn: {what} has {rows:,} rows, more than the {MAX_ROWS:,} a chart shows ({builder}). "
        "The table of the same frame holds every number."
    )
    return (  # type: ignore[no-any-return]
        alt.Chart(pd.DataFrame({"note": [text]}))
        .mark_text(align="left", baseline="top", fontSize=12)
        .encode(text="note:N", x=alt.value(0), y=alt.value(0))
        .properties(title=title, width=420, height=20, padding=_PADDING)
    )


def effects_chart(frame: pd.DataFrame, *, title: str = "Relative effect vs control") -> alt.Chart:
    """Relative effect of each metric and arm with its confidence interval, coloured by verdict.

    Args:
        frame: ``ExperimentResult.to_frame()`` (columns metric, arm, rel_estimate, rel_ci_low, rel_ci_high,
            improved, worsened, pvalue).
        title: Chart title.
    """
    import altair as alt

    _require(
        frame,
        ["metric", "arm", "rel_estimate", "rel_ci_low", "rel_ci_high", "improved", "worsened"],
        "effects_chart",
    )
    if len(frame) > MAX_ROWS:
        return _note(len(frame), "effects_chart", title=title, what="the effects frame")
    data = frame.assign(
        verdict=[
            "better" if imp else "worse" if wor else "no significant change"
            for imp, wor in zip(frame["improved"], frame["worsened"], strict=True)
        ],
        label=[f"{m} ({a})" for m, a in zip(frame["metric"], frame["arm"], strict=True)],
    )[["label", "rel_estimate", "rel_ci_low", "rel_ci_high", "verdict", "pvalue"]]
    color = alt.Color(
        "verdict:N",
        scale=alt.Scale(domain=["better", "worse", "no significant change"], range=[_GOOD, _BAD, _NEUTRAL]),
        legend=alt.Legend(title=None, orient="bottom"),
    )
    return _relative_intervals(data, color, title=title)


def arm_means_chart(frame: pd.DataFrame, *, title: str = "Mean per arm") -> alt.Chart:
    """Mean of each metric per arm with its confidence interval, one panel per metric.

    Args:
        frame: ``ExperimentResult.arms_frame()`` (columns metric, arm, mean, ci_low, ci_high, n).
        title: Chart title.
    """
    import altair as alt

    _require(frame, ["metric", "arm", "mean", "ci_low", "ci_high"], "arm_means_chart")
    if len(frame) > MAX_ROWS:
        return _note(len(frame), "arm_means_chart", title=title, what="the arms frame")
    data = frame[["metric", "arm", "mean", "ci_low", "ci_high", "n"]]
    base = alt.Chart().encode(y=alt.Y("arm:N", title=None), color=alt.Color("arm:N", legend=None))
    bars = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("ci_low:Q", title="mean (CI)", scale=alt.Scale(zero=False)), x2="ci_high:Q"
    )
    points = base.mark_point(filled=True, size=70).encode(
        x="mean:Q", tooltip=["arm", alt.Tooltip("mean:Q", format=".4g"), "n"]
    )
    return (  # type: ignore[no-any-return]
        alt.layer(bars, points, data=data)
        .properties(width=200, height=70)
        .facet(facet=alt.Facet("metric:N", title=None), columns=2)
        .resolve_scale(x="independent")
        .properties(title=title, padding=_PADDING)
    )


def segments_chart(frame: pd.DataFrame, metric: str, *, title: str | None = None) -> alt.Chart:
    """Relative effect of one metric per segment level (no multiplicity correction: for exploration).

    Args:
        frame: ``ExperimentResult.segments_frame()``.
        metric: The metric to show.
        title: Chart title (default names the metric).
    """
    import altair as alt

    _require(
        frame,
        ["segment", "level", "metric", "arm", "rel_estimate", "rel_ci_low", "rel_ci_high"],
        "segments_chart",
    )
    data = frame[frame["metric"] == metric]
    if data.empty:
        raise ParameterError(f"segments_chart: no rows for metric {metric!r}; metrics: {sorted(set(frame['metric']))}.")
    title = title or f"{metric}: relative effect by segment"
    if len(data) > MAX_ROWS:  # only the drawn metric counts (the frame holds every metric)
        return _note(len(data), "segments_chart", title=title, what=f"metric {metric!r} by segment level and arm")
    data = data.assign(label=[f"{s}={v}" for s, v in zip(data["segment"], data["level"], strict=True)])
    data = data[["label", "arm", "rel_estimate", "rel_ci_low", "rel_ci_high", "n_treatment"]]
    return _relative_intervals(data, alt.Color("arm:N"), title=title)


def _relative_intervals(data: pd.DataFrame, color: alt.Color, *, title: str) -> alt.Chart:
    """Point estimates and CIs of relative effects (``label``, ``rel_*`` columns) against a dashed zero line."""
    import altair as alt

    y = alt.Y("label:N", title=None, sort=None)
    base = alt.Chart(data)
    interval = base.mark_rule(strokeWidth=3).encode(
        y=y,
        x=alt.X("rel_ci_low:Q", title="relative effect (CI)", axis=alt.Axis(format="%")),
        x2="rel_ci_high:Q",
        color=color,
    )
    point = base.mark_point(filled=True, size=80).encode(
        y=y,
        x="rel_estimate:Q",
        color=color,
        tooltip=[
            alt.Tooltip("rel_estimate:Q", format="+.2%"),
            alt.Tooltip("rel_ci_low:Q", format="+.2%"),
            alt.Tooltip("rel_ci_high:Q", format="+.2%"),
        ],
    )
    zero = alt.Chart().mark_rule(strokeDash=[4, 4], color="black").encode(x=alt.datum(0))
    return (zero + interval + point).properties(  # type: ignore[no-any-return]
        title=title, width=420, padding=_PADDING
    )


def timeline_chart(frame: pd.DataFrame, metric: str, *, arm: str | None = None, title: str | None = None) -> alt.Chart:
    """The cumulative relative effect of one metric per cutoff day: the lift, its CI and its anytime-valid band.

    A line of the lift ``(t − c)/|c|`` at each day's cutoff, its confidence interval as a band, the confidence
    sequence (valid however often the experiment is looked at) as a lighter, wider band, and a dashed zero line.
    An interval end that is infinite (a Fieller set that is not an interval) or missing (no sequence for a ratio)
    leaves a gap in its band rather than stretching the axis.

    Args:
        frame: ``Timeline.to_frame()`` (columns metric, arm, day, estimate, ci_low, ci_high, seq_ci_low,
            seq_ci_high).
        metric: The metric to show.
        arm: The treatment arm to show (default: every arm in the frame, one colour each).
        title: Chart title (default names the metric).
    """
    import altair as alt
    import numpy as np
    import pandas as pd

    _require(
        frame,
        ["metric", "arm", "day", "estimate", "ci_low", "ci_high", "seq_ci_low", "seq_ci_high"],
        "timeline_chart",
    )
    data = frame[frame["metric"] == metric]
    if arm is not None:
        data = data[data["arm"] == arm]
    if data.empty:
        arms = sorted(set(frame.loc[frame["metric"] == metric, "arm"]))
        raise ParameterError(
            f"timeline_chart: no rows for metric {metric!r}"
            + (f" and arm {arm!r} (arms: {arms})" if arm is not None and arms else "")
            + f"; metrics: {sorted(set(frame['metric']))}."
        )
    title = title or f"{metric}: cumulative relative effect by day"
    if len(data) > MAX_ROWS:  # only the drawn metric counts
        return _note(len(data), "timeline_chart", title=title, what=f"metric {metric!r} by day and arm")
    numbers = ["estimate", "ci_low", "ci_high", "seq_ci_low", "seq_ci_high"]
    data = data[["arm", "day", *numbers]].assign(day=pd.to_datetime(data["day"]))
    data[numbers] = data[numbers].astype(float).replace([np.inf, -np.inf], np.nan)
    x = alt.X("day:T", title="data through", axis=alt.Axis(format="%b %d"))
    color = alt.Color("arm:N", legend=alt.Legend(title=None, orient="bottom"))
    base = alt.Chart(data).encode(x=x, color=color)
    scale = alt.Scale(domain=_focus(data))
    sequence = base.mark_area(opacity=0.12, clip=True).encode(
        y=alt.Y("seq_ci_low:Q", title="relative effect (cumulative)", axis=alt.Axis(format="%"), scale=scale),
        y2="seq_ci_high:Q",
    )
    interval = base.mark_area(opacity=0.3, clip=True).encode(y="ci_low:Q", y2="ci_high:Q")
    line = base.mark_line(point=True, clip=True).encode(
        y="estimate:Q",
        tooltip=[
            alt.Tooltip("day:T", format="%Y-%m-%d"),
            "arm:N",
            alt.Tooltip("estimate:Q", format="+.2%"),
            alt.Tooltip("ci_low:Q", format="+.2%"),
            alt.Tooltip("ci_high:Q", format="+.2%"),
            alt.Tooltip("seq_ci_low:Q", format="+.2%"),
            alt.Tooltip("seq_ci_high:Q", format="+.2%"),
        ],
    )
    zero = alt.Chart().mark_rule(strokeDash=[4, 4], color="black").encode(y=alt.datum(0))
    return (sequence + interval + line + zero).properties(  # type: ignore[no-any-return]
        title=title,
        width=420,
        height=220,
        padding=_PADDING,
        description="Bands of the first days run past the axis where they are wider than the later days' range.",
    )


def _focus(data: pd.DataFrame) -> list[float]:
    """The y range of a timeline: every estimate, 0, and the bands of the later two thirds of the days.

    The first days' intervals are often ten times wider than the rest and would flatten the days that matter; they
    are cut at the axis instead (the marks clip), with 5% of room on either side.
    """
    days = sorted(set(data["day"]))
    later = data[data["day"] >= days[len(days) // 3]]
    bands = later[["ci_low", "ci_high", "seq_ci_low", "seq_ci_high"]].to_numpy(dtype=float).ravel()
    values = [0.0, *(v for v in (*data["estimate"].to_numpy(dtype=float), *bands) if math.isfinite(v))]
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or 0.01
    return [low - pad, high + pad]
