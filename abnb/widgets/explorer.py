"""The experiment explorer: pick a metric, arm, segment, day, level and lift interval; see the report's charts.

:func:`explore` builds an :class:`~abnb.widgets.App` over an :class:`Explorer`, which fetches once and then answers
every change of the controls from the sums it holds:

* first load: one analysis (:meth:`Experiment.analyze <abnb.experiment.Experiment.analyze>`, skipped when an
  :class:`~abnb.experiment.ExperimentResult` is given) and one timeline (:func:`abnb.timeline.cumulative`, every
  metric it can follow), on one connection that is closed afterwards;
* a change of metric, arm, segment, confidence level or interval method: arithmetic on the result's per-arm and
  per-segment moments (``result.overall``, ``result.segments``), no query;
* a day not seen yet: one analysis at that cutoff (``spec.analyze(as_of=day)``), kept per day;
* the distributions panel: ``spec.distributions(metric, as_of=...)`` (bounded samples of unit values), fetched when
  first asked for a metric and day, and kept.

The logic is in pure functions of a frozen :class:`ExploreState` (the selection) and a result:
:func:`selected_effect`, :func:`segment_effects`, :func:`arm_means`, :func:`relative_lift`, :func:`effect_html`.
Charts are :mod:`abnb.charts`' (``timeline_chart``, ``segments_chart``, ``arm_means_chart``), drawn as inline SVG
and kept per chart input, so a change redraws only the charts it affects.

Connections: a factory (``project.connect``), a database path or ``None`` (the project's engine, :func:`abnb.connect`)
opens a read-only connection for each fetch and closes it right after; an open connection is used as it is and left
open (it is the caller's).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from abnb._display import escape_html, format_number, format_percent, format_pvalue, html_table
from abnb.engine import BaseConnection, as_connection
from abnb.errors import AbnbError, DataError, ParameterError
from abnb.experiment import Experiment, ExperimentResult, MetricEffect, compare, mean_interval
from abnb.stats import Effect, Moments, RatioMoments, ratio, welch, ztest
from abnb.widgets._app import App, View, dropdown, float_slider, number_in, svg

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from abnb.aggregate import ArmStats
    from abnb.experiment import DistributionComparison
    from abnb.metrics import Metric
    from abnb.timeline import Timeline

__all__ = [
    "OVERALL",
    "RELATIVE_CIS",
    "Choices",
    "ExploreState",
    "Explored",
    "Explorer",
    "SelectedEffect",
    "arm_means",
    "check_selection",
    "effect_html",
    "explore",
    "relative_lift",
    "segment_effects",
    "segment_name",
    "selected_effect",
]

OVERALL = "overall"
"""The segment choice meaning every unit (a segment level is ``"<column>=<level>"``)."""

RelativeChoice = Literal["analysis", "fieller", "delta", "log"]
RELATIVE_CIS: tuple[RelativeChoice, ...] = ("analysis", "fieller", "delta", "log")
"""Intervals of the relative lift: the analysis' own (what the report shows: Fieller, or a proportion's score
interval when the metric asks for one), or Fieller's, the delta method's or the log ratio's
(:func:`abnb.stats.welch`'s ``relative_ci``)."""

_CHART_CACHE = 128  # SVGs kept per explorer (a few kB each)

Connector = Callable[[], Any]


@dataclass(frozen=True)
class Choices:
    """What the controls may be set to: the spec's metrics and treatment arms, the segments and days with data."""

    metrics: tuple[str, ...]
    arms: tuple[str, ...]
    segments: tuple[str, ...]
    days: tuple[date, ...]
    relative_cis: tuple[str, ...] = RELATIVE_CIS


@dataclass(frozen=True)
class ExploreState:
    """One selection of the explorer's controls (checked by :func:`check_selection`).

    Attributes:
        metric: The metric's name.
        arm: The treatment arm compared with the control.
        segment: :data:`OVERALL` or ``"<column>=<level>"``.
        day: The last day of data (the cutoff is that day's end, or the analysis' own cutoff on its last day).
        confidence_level: Coverage of every interval shown, except the effect over time (the spec's level).
        relative_ci: The relative lift's interval, one of :data:`RELATIVE_CIS`.
        distributions: Whether to show the rank and quantile comparison (fetched once per metric and day).
    """

    metric: str
    arm: str
    segment: str
    day: date
    confidence_level: float
    relative_ci: str
    distributions: bool = False

    @property
    def segment_key(self) -> tuple[str, str] | None:
        """``(column, level)`` of the segment, ``None`` for :data:`OVERALL`."""
        if self.segment == OVERALL:
            return None
        column, level = self.segment.split("=", 1)
        return column, level


def segment_name(column: str, level: str) -> str:
    """The choice naming a segment level: ``"<column>=<level>"`` (a column name holds no ``=``)."""
    return f"{column}={level}"


def _choice(name: str, value: object, choices: Sequence[Any]) -> Any:
    if value not in choices:
        shown = ", ".join(repr(str(c)) for c in choices)
        raise ParameterError(f"{name} must be one of {shown}; got {value!r}.")
    return value


def _day(value: object, days: Sequence[date]) -> date:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = date.fromisoformat(value)
    return _choice("day", value, days)  # type: ignore[no-any-return]


def check_selection(
    choices: Choices,
    *,
    metric: str,
    arm: str,
    segment: str = OVERALL,
    day: date | str,
    confidence_level: float = 0.95,
    relative_ci: str = "analysis",
    distributions: bool = False,
) -> ExploreState:
    """The selection as an :class:`ExploreState`, every value checked against ``choices``.

    Raises:
        ParameterError: Naming the parameter and its choices (or range) when a value is not among them.
    """
    if not isinstance(distributions, bool):
        raise ParameterError(f"distributions must be True or False, got {distributions!r}.")
    return ExploreState(
        metric=_choice("metric", metric, choices.metrics),
        arm=_choice("arm", arm, choices.arms),
        segment=_choice("segment", segment, choices.segments),
        day=_day(day, choices.days),
        confidence_level=number_in("confidence_level", confidence_level, 0.0, 1.0, open_low=True, open_high=True),
        relative_ci=_choice("relative_ci", relative_ci, choices.relative_cis),
        distributions=distributions,
    )


def _metric(spec: Experiment, name: str) -> Metric:
    for metric in spec.metrics:
        if metric.name == name:
            return metric
    raise ParameterError(f"metric must be one of {', '.join(repr(m.name) for m in spec.metrics)}; got {name!r}.")


def _arm_stats(result: ExperimentResult, state: ExploreState) -> dict[str, ArmStats]:
    """The moments per arm of the selected metric, overall or in the selected segment level."""
    key = state.segment_key
    if key is None:
        return result.overall[state.metric]
    if key not in result.segments:
        raise DataError(
            f"segment {state.segment!r} has no units in the data through {result.label}; choose another segment "
            "or a later day."
        )
    return result.segments[key][state.metric]


def relative_lift(
    metric: Metric, control: ArmStats, treatment: ArmStats, *, confidence_level: float, relative_ci: str
) -> Effect:
    """The lift ``(t − c)/|c|`` with the interval ``relative_ci`` (``"fieller"``, ``"delta"`` or ``"log"``).

    The test of the metric's kind, as the analysis chooses it: :func:`~abnb.stats.ratio` (delta method) for ratios,
    :func:`~abnb.stats.ztest` for proportions, :func:`~abnb.stats.welch` otherwise, at ``alpha = 1 − level``.

    Raises:
        ParameterError: Arms with different kinds of sums, or an unknown ``relative_ci``.
        DataError: The data cannot support this interval (a control mean of 0, opposite signs for ``"log"``).
    """
    alpha = 1.0 - confidence_level
    how: Any = relative_ci  # checked by the test
    if isinstance(control, RatioMoments) and isinstance(treatment, RatioMoments):
        return ratio(control, treatment, alpha=alpha, relative=True, relative_ci=how)
    if isinstance(control, Moments) and isinstance(treatment, Moments):
        test = ztest if metric.kind == "proportion" else welch
        return test(control, treatment, alpha=alpha, relative=True, relative_ci=how)
    raise ParameterError(f"metric {metric.name!r}: both arms need the same kind of sufficient statistics.")


def _interval(effect: Effect, level: float, what: str, notes: list[str]) -> tuple[float, float]:
    try:
        low, high = effect.confidence_interval(level)
    except ParameterError as error:
        notes.append(f"no {what} interval at {level:.1%}: {error}")
        return math.nan, math.nan
    return float(low), float(high)


def _relative_at(
    effect: MetricEffect, level: float, relative_ci: str, notes: list[str]
) -> tuple[float, float, float, float, str]:
    """The lift's estimate, interval, p-value and method at ``level`` by ``relative_ci``."""
    if relative_ci == "analysis":
        low, high = _interval(effect.relative, level, "relative", notes)
        lift = effect.relative
        return lift.estimate, low, high, lift.pvalue, lift.method
    try:
        lift = relative_lift(
            effect.metric, effect.control, effect.treatment, confidence_level=level, relative_ci=relative_ci
        )
    except (DataError, ParameterError) as error:
        notes.append(f"no {relative_ci} interval of the lift: {error}")
        return effect.relative.estimate, math.nan, math.nan, math.nan, f"{relative_ci}: not available"
    if lift.ci_note:
        notes.append(f"the relative interval is {lift.ci_note}")
    return lift.estimate, lift.ci_low, lift.ci_high, lift.pvalue, lift.method


@dataclass(frozen=True)
class SelectedEffect:
    """The numbers the explorer shows for one selection (intervals at its confidence level).

    Attributes:
        n_control: Units in the control arm (of the segment level).
        n_treatment: Units in the treatment arm.
        control_mean: The control's mean (a ratio's ``Σy/Σd``).
        treatment_mean: The treatment's mean.
        estimate: Difference of means (the analysis' test).
        ci_low: Lower end of its interval at the selected level.
        ci_high: Upper end.
        pvalue: Two-sided p-value of the difference.
        pvalue_adjusted: The p-value after the spec's multiple-testing correction (overall only; NaN in a segment).
        rel_estimate: Relative lift ``(t − c)/|c|``.
        rel_ci_low: Lower end of the lift's interval (``relative_ci``, the selected level).
        rel_ci_high: Upper end.
        rel_pvalue: p-value of the lift's test.
        rel_method: The lift's test and interval.
        method: The difference's test and interval.
        notes: What could not be computed and why.
    """

    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    pvalue_adjusted: float
    rel_estimate: float
    rel_ci_low: float
    rel_ci_high: float
    rel_pvalue: float
    rel_method: str
    method: str
    notes: tuple[str, ...] = ()


def _base_effect(result: ExperimentResult, state: ExploreState) -> MetricEffect:
    """The analysis' comparison overall (``result.effect``), or :func:`compare` on the segment level's moments."""
    if state.segment_key is None:
        return result.effect(state.metric, state.arm)
    spec = result.experiment
    arms = _arm_stats(result, state)
    missing = [arm for arm in (spec.control, state.arm) if arm not in arms]
    if missing:
        raise DataError(
            f"segment {state.segment!r} has no units in arm(s) {', '.join(missing)} in the data through "
            f"{result.label}; choose another segment or a later day."
        )
    metric = _metric(spec, state.metric)
    try:
        return compare(metric, arms[spec.control], arms[state.arm], spec.control, state.arm, spec.alpha)
    except (DataError, ParameterError) as error:
        raise DataError(f"segment {state.segment!r}, metric {state.metric!r}: {error}") from error


def selected_effect(result: ExperimentResult, state: ExploreState) -> SelectedEffect:
    """The effect of the selected metric, arm and segment at the selected level and lift interval (no query).

    Overall, the numbers are ``result.effect(metric, arm)``'s, their intervals recomputed at the level
    (``confidence_interval``); in a segment level, those of :func:`abnb.experiment.compare` on its moments, as
    ``result.segments_frame()`` computes them.

    Raises:
        DataError: The segment level has no units in an arm on that day, or too few to compare.
    """
    effect = _base_effect(result, state)
    notes = list(effect.notes)
    level = state.confidence_level
    low, high = _interval(effect.absolute, level, "difference", notes)
    rel, rel_low, rel_high, rel_p, rel_method = _relative_at(effect, level, state.relative_ci, notes)
    return SelectedEffect(
        n_control=effect.control.n,
        n_treatment=effect.treatment.n,
        control_mean=effect.absolute.control_mean,
        treatment_mean=effect.absolute.treatment_mean,
        estimate=effect.absolute.estimate,
        ci_low=low,
        ci_high=high,
        pvalue=effect.absolute.pvalue,
        pvalue_adjusted=effect.pvalue if state.segment_key is None else math.nan,
        rel_estimate=rel,
        rel_ci_low=rel_low,
        rel_ci_high=rel_high,
        rel_pvalue=rel_p,
        rel_method=rel_method,
        method=effect.absolute.method,
        notes=tuple(notes),
    )


def segment_effects(result: ExperimentResult, state: ExploreState) -> pd.DataFrame:
    """The selected metric's lift in every segment level and treatment arm, at the selected level and interval.

    The columns of ``result.segments_frame()`` that :func:`abnb.charts.segments_chart` draws (segment, level,
    metric, arm, n_control, n_treatment, rel_estimate, rel_ci_low, rel_ci_high, pvalue, note); with the spec's
    level and ``"analysis"`` the numbers are that frame's (uncorrected p-values: this is exploration).
    """
    import pandas as pd

    spec = result.experiment
    _metric(spec, state.metric)  # names the metrics when the selection is unknown
    rows = []
    for column, level, metric, arm, c, t in result.segment_pairs([state.metric]):
        row: dict[str, Any] = {"segment": column, "level": level, "metric": metric.name, "arm": arm}
        row |= {"n_control": c.n, "n_treatment": t.n}
        notes: list[str] = []
        try:
            effect = compare(metric, c, t, spec.control, arm, spec.alpha)
        except (DataError, ParameterError) as error:
            nan = math.nan
            rows.append(row | dict.fromkeys(("rel_estimate", "rel_ci_low", "rel_ci_high", "pvalue"), nan))
            rows[-1]["note"] = f"not computed: {error}"
            continue
        estimate, low, high, _, _ = _relative_at(effect, state.confidence_level, state.relative_ci, notes)
        row |= {"rel_estimate": estimate, "rel_ci_low": low, "rel_ci_high": high}
        rows.append(row | {"pvalue": effect.absolute.pvalue, "note": "; ".join([*effect.notes, *notes])})
    columns = ["segment", "level", "metric", "arm", "n_control", "n_treatment"]
    columns += ["rel_estimate", "rel_ci_low", "rel_ci_high", "pvalue", "note"]
    return pd.DataFrame(rows, columns=columns)


def arm_means(result: ExperimentResult, state: ExploreState) -> pd.DataFrame:
    """Each arm's mean of the selected metric (in the segment level) with its interval at the selected level.

    The columns of ``result.arms_frame()`` (metric, arm, n, mean, ci_low, ci_high), by
    :func:`abnb.experiment.mean_interval`; overall at the spec's level they are that frame's rows.
    """
    import pandas as pd

    arms = _arm_stats(result, state)
    rows = []
    for arm in result.experiment.arms:
        if arm in arms:
            center, low, high = mean_interval(arms[arm], state.confidence_level)
            rows.append({"metric": state.metric, "arm": arm, "n": arms[arm].n, "mean": center, "ci_low": low})
            rows[-1]["ci_high"] = high
    return pd.DataFrame(rows, columns=["metric", "arm", "n", "mean", "ci_low", "ci_high"])


@dataclass(frozen=True)
class Explored:
    """What the explorer shows for one selection: the numbers and the frames behind the charts.

    Attributes:
        state: The selection.
        control: The control arm.
        correction: The spec's multiple-testing correction (behind ``effect.pvalue_adjusted``).
        effect: The effect's numbers.
        segments: :func:`segment_effects`.
        means: :func:`arm_means`.
        timeline: The effect over time of the metric and arm (``Timeline.to_frame()`` rows; empty without one).
        distributions: The rank and quantile comparison of the metric and arm (``DistributionComparison.to_frame()``)
            when asked for and available, else ``None``.
        notes: What is not shown and why (a metric not followed over time, a ratio's distributions).
    """

    state: ExploreState
    control: str
    correction: str
    effect: SelectedEffect
    segments: pd.DataFrame
    means: pd.DataFrame
    timeline: pd.DataFrame
    distributions: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()


def _signed(value: float) -> str:
    return format_number(value, signed=True)


def effect_html(explored: Explored) -> str:
    """The selection's numbers as a two-column HTML table (every value escaped)."""
    s, e = explored.state, explored.effect
    level = f"{s.confidence_level:.1%} CI"
    rows = [
        ("comparison", f"{s.metric}: {s.arm} vs {explored.control}"),
        ("segment", s.segment),
        ("data through", s.day.isoformat()),
        ("units", f"{e.n_control:,} control, {e.n_treatment:,} treatment"),
        ("means", f"{e.control_mean:.4g} control, {e.treatment_mean:.4g} treatment"),
        ("difference", f"{_signed(e.estimate)} [{_signed(e.ci_low)}, {_signed(e.ci_high)}] ({level})"),
        ("p-value", format_pvalue(e.pvalue)),
    ]
    if math.isfinite(e.pvalue_adjusted):
        rows.append((f"p-value after correction ({explored.correction})", format_pvalue(e.pvalue_adjusted)))
    rows += [
        (
            "relative lift",
            f"{format_percent(e.rel_estimate)} [{format_percent(e.rel_ci_low)}, {format_percent(e.rel_ci_high)}] "
            f"({level}, {s.relative_ci})",
        ),
        ("lift p-value", format_pvalue(e.rel_pvalue)),
        ("methods", f"difference: {e.method}; lift: {e.rel_method}"),
    ]
    if e.notes:
        rows.append(("notes", "; ".join(e.notes)))
    return html_table(rows, "abnb-explore")


def _frame_html(frame: pd.DataFrame) -> str:
    return str(frame.to_html(index=False, escape=True, na_rep="—", float_format=lambda v: f"{v:.4g}"))


@dataclass
class _Fetched:
    """What the explorer has fetched: results per day, the timeline, distributions per metric and day."""

    results: dict[date, ExperimentResult] = field(default_factory=dict)
    timeline: Timeline | None = None
    timeline_note: str = ""
    distributions: dict[tuple[str, date], tuple[DistributionComparison, ...] | str] = field(default_factory=dict)
    charts: dict[Hashable, str] = field(default_factory=dict)


def _connector(connection: object) -> tuple[Connector, bool]:
    """A function opening a connection, and whether the explorer closes what it opens."""
    from abnb.engine import connect

    if connection is None:
        return connect, True
    if isinstance(connection, str | os.PathLike):
        path = connection
        return (lambda: connect(path)), True
    if isinstance(connection, BaseConnection):
        given = connection
        return (lambda: given), False
    if callable(connection):
        return connection, True
    raise ParameterError(
        "connection must be None (the project's engine), a database path, a function opening a connection "
        f"(project.connect) or an open abnb connection; got {type(connection).__name__}."
    )


class Explorer:
    """The aggregates an explorer has fetched, its caches, and the computations of :func:`explore`'s app.

    Args:
        spec_or_result: The experiment (analysed at the first load) or its result (reused as it is).
        connection: ``None`` (the project's engine), a DuckDB path, a function opening a connection
            (``project.connect``), or an open connection (used and left open). Connections the explorer opens are
            read-only (the defaults of :func:`abnb.connect` and ``Project.connect``) and closed after each fetch.
        as_of: The first load's cutoff, as for ``analyze`` (only with a spec: a result has its own).

    Attributes:
        spec: The experiment.
        result: The first load's result.
        choices: What the controls may be set to.
        queries_run: Queries run by the explorer so far (every fetch counted).
        connections_opened: Connections opened so far.

    Raises:
        ParameterError: ``as_of`` with a result, or a connection of another kind.
    """

    def __init__(
        self,
        spec_or_result: Experiment | ExperimentResult,
        connection: object = None,
        *,
        as_of: date | str | None = None,
    ) -> None:
        self._open, self._close = _connector(connection)
        self.queries_run = 0
        self.connections_opened = 0
        self._fetched = _Fetched()
        if isinstance(spec_or_result, ExperimentResult):
            if as_of is not None:
                raise ParameterError("as_of: a result has its own cutoff; pass the experiment to choose one.")
            self.spec, first = spec_or_result.experiment, spec_or_result
            with self._session() as con:
                self._load_timeline(con, first)
        elif isinstance(spec_or_result, Experiment):
            self.spec = spec_or_result
            with self._session() as con:
                first = self.spec.analyze(con, as_of=as_of)
                self._load_timeline(con, first)
        else:
            raise ParameterError(
                f"spec_or_result must be an Experiment or an ExperimentResult, got {type(spec_or_result).__name__}."
            )
        self.result = first
        self._fetched.results[first.label] = first
        timeline = self._fetched.timeline
        days = {first.label, *(d for d in (timeline.days if timeline else ()) if d <= first.label)}
        segments = [segment_name(column, level) for column, level in sorted(first.segments)]
        self.choices = Choices(
            metrics=tuple(m.name for m in self.spec.metrics),
            arms=self.spec.treatments,
            segments=(OVERALL, *segments),
            days=tuple(sorted(days)),
        )

    @contextlib.contextmanager
    def _session(self) -> Iterator[BaseConnection]:
        con = as_connection(self._open())
        self.connections_opened += 1
        before = con.queries_run
        try:
            yield con
        finally:
            self.queries_run += con.queries_run - before
            if self._close:
                con.close()

    def _load_timeline(self, con: BaseConnection, result: ExperimentResult) -> None:
        from abnb.timeline import cumulative

        names = [m.name for m in self.spec.metrics]
        try:
            timeline = cumulative(self.spec, con, as_of=result.as_of, metrics=names)
        except AbnbError as error:
            self._fetched.timeline_note = f"no effect over time: {error}"
            return
        self._fetched.timeline = timeline
        self._fetched.timeline_note = "; ".join(f"not followed over time: {line}" for line in timeline.omitted)

    @property
    def timeline(self) -> Timeline | None:
        """The effect over time fetched at the first load (``None`` when it could not be computed)."""
        return self._fetched.timeline

    def result_at(self, day: date) -> ExperimentResult:
        """The analysis with data through ``day``: fetched once (one analysis), then kept."""
        results = self._fetched.results
        if day not in results:
            with self._session() as con:
                results[day] = self.spec.analyze(con, as_of=day)
        return results[day]

    def distributions(self, metric: str, day: date) -> tuple[DistributionComparison, ...] | str:
        """The metric's distribution comparisons through ``day`` (fetched once), or why there are none."""
        cache = self._fetched.distributions
        if (metric, day) not in cache:
            cutoff = self.result_at(day).as_of
            try:
                with self._session() as con:
                    cache[metric, day] = tuple(self.spec.distributions(con, metric, as_of=cutoff))
            except (DataError, ParameterError) as error:
                cache[metric, day] = f"no distributions: {error}"
        return cache[metric, day]

    def _distribution_frame(self, state: ExploreState, notes: list[str]) -> pd.DataFrame | None:
        if not state.distributions:
            return None
        found = self.distributions(state.metric, state.day)
        if isinstance(found, str):
            notes.append(found)
            return None
        comparison = next(c for c in found if c.arm == state.arm)
        where = "" if state.segment == OVERALL else " (all units: the samples are not split by segment)"
        notes.append(f"distributions{where}: {comparison.note}")
        return comparison.to_frame()

    def compute(self, **values: Any) -> Explored:
        """The explorer's view of a selection (the names of :func:`check_selection`).

        No query runs, except for a day not fetched yet (one analysis) or the first distributions of a metric and
        day.

        Raises:
            ParameterError: A value that is not among the choices.
            DataError: The selected segment level has no units (or too few) in an arm that day.
        """
        state = check_selection(self.choices, **values)
        result = self.result_at(state.day)
        notes = [self._fetched.timeline_note] if self._fetched.timeline_note else []
        timeline = self._fetched.timeline
        frame = timeline.to_frame() if timeline is not None else None
        if frame is not None:
            frame = frame[(frame["metric"] == state.metric) & (frame["arm"] == state.arm)]
        explored = Explored(
            state=state,
            control=self.spec.control,
            correction=self.spec.correction,
            effect=selected_effect(result, state),
            segments=segment_effects(result, state),
            means=arm_means(result, state),
            timeline=frame if frame is not None else _empty_timeline(),
        )
        distributions = self._distribution_frame(state, notes)
        return replace(explored, distributions=distributions, notes=tuple(notes))

    def _chart(self, key: Hashable, build: Callable[[], alt.TopLevelMixin]) -> str:
        charts = self._fetched.charts
        if key not in charts:
            if len(charts) >= _CHART_CACHE:
                charts.pop(next(iter(charts)))
            charts[key] = svg(build())
        return charts[key]

    def render(self, explored: Explored) -> View:
        """The numbers, the three charts (inline SVG, kept per input) and the distributions, as HTML."""
        from abnb import charts

        s = explored.state
        parts = [effect_html(explored)]
        key: Hashable
        if explored.timeline.empty:
            parts.append(f"<p>No effect over time for {escape_html(s.metric)}.</p>")
        else:
            key = ("timeline", s.metric, s.arm)
            parts.append(self._chart(key, lambda: charts.timeline_chart(explored.timeline, s.metric, arm=s.arm)))
            level = f"{1 - self.spec.alpha:.0%}"
            parts.append(
                f"<p>The effect over time is the overall lift with the analysis' {escape_html(level)} interval and "
                "its anytime-valid band, whatever the segment, level and interval chosen above.</p>"
            )
        if not explored.segments.empty:
            key = ("segments", s.day, s.metric, s.confidence_level, s.relative_ci)
            parts.append(self._chart(key, lambda: charts.segments_chart(explored.segments, s.metric)))
        key = ("means", s.day, s.metric, s.segment, s.confidence_level)
        title = f"{s.metric}: mean per arm ({s.segment}, {s.confidence_level:.1%} CI)"
        parts.append(self._chart(key, lambda: charts.arm_means_chart(explored.means, title=title)))
        if explored.distributions is not None:
            parts.append(_frame_html(explored.distributions))
        parts += [f"<p>{escape_html(note)}</p>" for note in explored.notes]
        return View(None, "".join(parts))

    def app(self, **initial: Any) -> App:
        """The ipywidgets app over this explorer; ``initial`` sets controls (names as :func:`check_selection`)."""
        import ipywidgets

        spec, choices = self.spec, self.choices
        level = 1.0 - spec.alpha
        controls = {
            "metric": dropdown("metric", choices.metrics, choices.metrics[0]),
            "arm": dropdown("arm", choices.arms, choices.arms[0]),
            "segment": dropdown("segment", choices.segments, OVERALL),
            "day": dropdown("through", [(d.isoformat(), d) for d in choices.days], self.result.label),
            "confidence_level": float_slider(
                "level", level, min(0.5, level), max(0.999, level), 0.001, readout_format=".1%"
            ),
            "relative_ci": dropdown("lift CI", choices.relative_cis, "analysis"),
            "distributions": ipywidgets.Checkbox(value=False, description="distributions"),
        }
        title = f"Explore {spec.name}"
        return App(title, controls, self.compute, self.render, initial=initial)


def _empty_timeline() -> pd.DataFrame:
    import pandas as pd

    from abnb.timeline import COLUMNS

    return pd.DataFrame(columns=list(COLUMNS))


def explore(
    spec_or_result: Experiment | ExperimentResult,
    connection: object = None,
    *,
    as_of: date | str | None = None,
    **initial: Any,
) -> App:
    """An app to explore an experiment's results in JupyterLab: every change answered from the sums already fetched.

    Controls: metric, treatment arm, segment (overall or a level of a segment column), the day the data runs through,
    the confidence level, the relative lift's interval (:data:`RELATIVE_CIS`) and the distributions panel. The view:
    the effect's numbers, the effect over time (:func:`abnb.charts.timeline_chart`), the lift per segment level
    (:func:`abnb.charts.segments_chart`) and the mean per arm (:func:`abnb.charts.arm_means_chart`), as the report
    draws them. The app also publishes a static HTML snapshot of its last state.

    Args:
        spec_or_result: The experiment, or a result already computed (its analysis is not repeated).
        connection: ``None`` (the project's engine), a DuckDB path, a function opening a connection
            (``project.connect``) or an open connection; see :class:`Explorer`.
        as_of: The first cutoff (with a spec only).
        **initial: Starting values of the controls (``metric``, ``arm``, ``segment``, ``day``, ``confidence_level``,
            ``relative_ci``, ``distributions``).

    Returns:
        The app (``app.state`` is the :class:`Explored` shown).
    """
    return Explorer(spec_or_result, connection, as_of=as_of).app(**initial)
