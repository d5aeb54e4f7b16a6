"""Kayenta-compatible canary judge: Mann–Whitney shift, Pass/High/Low/Nodata, scores and ramp replays.

The judge follows Kayenta's ``NetflixACAJudge`` (``MannWhitneyClassifier`` and the weighted-sum scorer), restated
in our own words: a metric is compared canary (experiment) vs baseline (control) by the Hodges–Lehmann location
shift and its Mann–Whitney confidence interval; groups of metrics are scored by their share of passing metrics.

References:
    Spinnaker Kayenta, ``kayenta-judge`` (NetflixACAJudge, MannWhitneyClassifier, WeightedSumScorer);
    H. B. Mann & D. R. Whitney (1947), Ann. Math. Statist. 18; J. L. Hodges & E. L. Lehmann (1963).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt

from abnb._display import json_fields
from abnb._verdicts import JudgeVerdict, RampDecision, RampOutcome, ReleaseVerdict, ScoreVerdict
from abnb.engine import BaseConnection, Snapshot
from abnb.errors import DataError, ParameterError
from abnb.stats import check_alpha
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from abnb.engine import Connection


__all__ = [
    "CanaryParameters",
    "CanaryScore",
    "Judgement",
    "RampPlan",
    "RampReplay",
    "Shift",
    "judge",
    "mann_whitney",
    "replay_ramp",
    "score",
    "validate_canary_parameters",
    "write_canary_summary",
]

Direction = Literal["either", "increase", "decrease"]
CLASSES: tuple[JudgeVerdict, ...] = get_args(JudgeVerdict)


class _Result:
    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the fields."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])


@dataclass(frozen=True, repr=False)
class Shift(_Result):
    """Hodges–Lehmann shift ``experiment − control`` with its Mann–Whitney interval.

    Attributes:
        estimate: ``median(e_i − c_j)`` over all pairs.
        ci_low: Lower end of the ``1 − alpha`` interval.
        ci_high: Upper end.
        pvalue: Two-sided Mann–Whitney p-value of no shift.
        alpha: Significance level; the interval is at ``1 − alpha``.
        n_experiment: Values of the experiment (canary).
        n_control: Values of the control (baseline).
        method: The formula used.
    """

    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    alpha: float
    n_experiment: int
    n_control: int
    method: str

    def __repr__(self) -> str:
        return (
            f"Shift(estimate={self.estimate:.6g}, ci=[{self.ci_low:.6g}, {self.ci_high:.6g}], "
            f"pvalue={self.pvalue:.4g}, alpha={self.alpha:g})"
        )


def mann_whitney(*, experiment: npt.ArrayLike, control: npt.ArrayLike, alpha: float = 0.05) -> Shift:
    """Location shift of ``experiment`` over ``control`` as Kayenta's Mann–Whitney test reports it.

    Argument order: both samples are keyword-only, because Kayenta's order ``(experiment, control)`` is the
    reverse of :func:`abnb.stats.mann_whitney`'s ``(control, treatment)``; a positional call would silently flip
    the sign of the shift. ``estimate`` is ``experiment − control`` (= ``treatment − control`` in
    :func:`abnb.stats.mann_whitney`, which this calls as ``mann_whitney(control, experiment)``).

    ``estimate = median_{i,j}(e_i − c_j)`` (Hodges–Lehmann) and the interval ``[D_(k), D_(mn+1−k)]`` inverting the
    rank-sum test (Bauer 1972), computed by :func:`abnb.stats.mann_whitney`.
    Kayenta's MannWhitneySuite vector: experiment ``[10, 20, 30, 40]`` vs control ``[1, 2, 3, 4]`` at confidence
    0.95 (``alpha=0.05``) gives estimate 22.5 and interval ``[6, 39]``.

    Args:
        experiment: Canary values.
        control: Baseline values.
        alpha: Significance level; the interval is at ``1 − alpha`` (Kayenta's confidence level is ``1 − alpha``).

    Returns:
        The shift, its interval and p-value.

    Raises:
        ParameterError: On empty or non-finite samples or an ``alpha`` outside ``(1e-10, 0.5]``.
        TypeError: If the samples are passed positionally (name them: ``experiment=``, ``control=``).
    """
    from abnb import stats

    alpha = check_alpha(alpha)
    result = stats.mann_whitney(control=control, treatment=experiment, alpha=alpha)
    return Shift(
        estimate=float(result.estimate),
        ci_low=float(result.ci_low),
        ci_high=float(result.ci_high),
        pvalue=float(result.pvalue),
        alpha=alpha,
        n_experiment=int(result.n_treatment),
        n_control=int(result.n_control),
        method=f"Kayenta Mann–Whitney: {result.method}",
    )


@dataclass(frozen=True, repr=False)
class Judgement(_Result):
    """One metric's verdict, canary vs baseline, with the numbers behind it.

    Attributes:
        classification: ``"Pass"``, ``"High"``, ``"Low"`` or ``"Nodata"``.
        reason: Why, in a sentence.
        estimate: Hodges–Lehmann shift (NaN when not computed).
        ci_low: Lower end of its interval.
        ci_high: Upper end of its interval.
        lower_bound: ``−tolerance·|estimate|``: the interval must lie below it for Low.
        upper_bound: ``tolerance·|estimate|``: the interval must lie above it for High.
        deviation: Effect size, the mean ratio ``mean(experiment) / mean(control)`` (1 if the control mean is 0).
        experiment_mean: Mean of the canary values.
        control_mean: Mean of the baseline values.
        n_experiment: Canary values after NaN handling.
        n_control: Baseline values after NaN handling.
        direction: Which deviations fail (``"increase"``: only High, ``"decrease"``: only Low, ``"either"``).
        tolerance: Fraction of ``|estimate|`` the interval must clear.
        alpha: Significance level; the interval is at ``1 − alpha``.
        critical: The metric is critical (a non-Pass verdict zeroes the score).
        method: The rule used.
    """

    classification: JudgeVerdict
    reason: str
    estimate: float
    ci_low: float
    ci_high: float
    lower_bound: float
    upper_bound: float
    deviation: float
    experiment_mean: float
    control_mean: float
    n_experiment: int
    n_control: int
    direction: str
    tolerance: float
    alpha: float
    critical: bool
    method: str = field(default="Kayenta NetflixACAJudge MannWhitneyClassifier")

    def __repr__(self) -> str:
        return (
            f"Judgement({self.classification!r}, estimate={self.estimate:.6g}, "
            f"ci=[{self.ci_low:.6g}, {self.ci_high:.6g}], bounds=[{self.lower_bound:.6g}, {self.upper_bound:.6g}], "
            f"deviation={self.deviation:.4g})"
        )


def _values(name: str, values: npt.ArrayLike, nan_strategy: str) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{name} must be numeric values: {error}") from error
    if np.isinf(arr).any():
        raise ParameterError(f"{name} has infinite values.")
    if nan_strategy == "remove":
        return arr[~np.isnan(arr)]
    return np.nan_to_num(arr, nan=0.0)


def judge(
    experiment: npt.ArrayLike,
    control: npt.ArrayLike,
    *,
    direction: Direction = "either",
    tolerance: float = 0.25,
    alpha: float = 0.02,
    effect_size: tuple[float, float] | None = None,
    critical: bool = False,
    nan_strategy: Literal["remove", "replace"] = "remove",
) -> Judgement:
    """Classify one metric of a canary against its baseline, as Kayenta's MannWhitneyClassifier does.

    1. NaN values are removed (``nan_strategy="remove"``) or replaced by 0 (``"replace"``). If either sample is
       then empty: Nodata with ``"remove"``, Pass with ``"replace"``.
    2. Identical samples (as multisets), or one single distinct value overall: Pass.
    3. ``[L, U]`` = Mann–Whitney interval of the Hodges–Lehmann shift ``θ̂`` at ``1 − alpha``; bounds
       ``±tolerance·|θ̂|``; deviation ``r = mean(experiment)/mean(control)`` (1 when the control mean is 0).
    4. High if ``direction ∈ {increase, either}``, ``L > tolerance·|θ̂|`` and ``r ≥ allowed_increase``;
       Low if ``direction ∈ {decrease, either}``, ``U < −tolerance·|θ̂|`` and ``r ≤ allowed_decrease``;
       otherwise Pass. ``effect_size = (allowed_decrease, allowed_increase)`` defaults to ``(1, 1)``, which
       never blocks a significant shift whose means move the same way.

    Note: ``direction`` names the deviation that *fails* (Kayenta): for latency and errors use ``"increase"``,
    for precision ``"decrease"``.

    Args:
        experiment: Canary values.
        control: Baseline values.
        direction: ``"increase"``, ``"decrease"`` or ``"either"``.
        tolerance: Fraction of ``|θ̂|`` the interval must clear (Kayenta's default 0.25).
        alpha: Significance level; the interval is at ``1 − alpha``. Kayenta's NetflixACAJudge sets a confidence
            level of 0.98, which is ``alpha = 0.02`` (the default).
        effect_size: ``(allowed_decrease, allowed_increase)`` mean-ratio bounds.
        critical: Mark the metric critical (see :func:`score`).
        nan_strategy: ``"remove"`` or ``"replace"`` (by 0).

    Returns:
        The verdict and the numbers behind it.

    Raises:
        ParameterError: On an unknown option or a bad tolerance, alpha or effect size.

    References:
        Spinnaker Kayenta, ``MannWhitneyClassifier.classify`` (kayenta-judge).
    """
    if direction not in ("either", "increase", "decrease"):
        raise ParameterError(f"direction must be 'either', 'increase' or 'decrease', got {direction!r}.")
    if nan_strategy not in ("remove", "replace"):
        raise ParameterError(f"nan_strategy must be 'remove' or 'replace', got {nan_strategy!r}.")
    tolerance = float(tolerance)
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ParameterError(f"tolerance must be a finite number >= 0, got {tolerance}.")
    alpha = check_alpha(alpha)
    allowed_decrease, allowed_increase = (1.0, 1.0) if effect_size is None else map(float, effect_size)
    if allowed_decrease > allowed_increase:
        raise ParameterError("effect_size must be (allowed_decrease, allowed_increase) with decrease <= increase.")
    e = _values("experiment", experiment, nan_strategy)
    c = _values("control", control, nan_strategy)
    nan = float("nan")
    common: dict[str, Any] = {
        "n_experiment": int(e.size),
        "n_control": int(c.size),
        "direction": direction,
        "tolerance": tolerance,
        "alpha": alpha,
        "critical": bool(critical),
    }
    if e.size == 0 or c.size == 0:
        no_data: JudgeVerdict = "Nodata" if nan_strategy == "remove" else "Pass"
        return Judgement(no_data, "no data for the canary or the baseline", nan, nan, nan, nan, nan, 1.0,
                         float(e.mean()) if e.size else nan, float(c.mean()) if c.size else nan, **common)  # fmt: skip
    e_mean, c_mean = float(e.mean()), float(c.mean())
    if np.array_equal(np.sort(e), np.sort(c)) or np.unique(np.concatenate([e, c])).size == 1:
        return Judgement("Pass", "canary and baseline data are identical", 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
                         e_mean, c_mean, **common)  # fmt: skip
    shift = mann_whitney(experiment=e, control=c, alpha=alpha)
    critical_value = tolerance * abs(shift.estimate)
    deviation = 1.0 if c_mean == 0.0 else e_mean / c_mean
    high = direction in ("increase", "either") and shift.ci_low > critical_value and deviation >= allowed_increase
    low = direction in ("decrease", "either") and shift.ci_high < -critical_value and deviation <= allowed_decrease
    verdict: JudgeVerdict
    if high:
        verdict, reason = "High", f"interval [{shift.ci_low:.4g}, {shift.ci_high:.4g}] above +{critical_value:.4g}"
    elif low:
        verdict, reason = "Low", f"interval [{shift.ci_low:.4g}, {shift.ci_high:.4g}] below −{critical_value:.4g}"
    else:
        verdict, reason = "Pass", "no deviation beyond the tolerance in a failing direction"
    return Judgement(verdict, reason, shift.estimate, shift.ci_low, shift.ci_high, -critical_value, critical_value,
                     deviation, e_mean, c_mean, **common)  # fmt: skip


@dataclass(frozen=True, repr=False)
class CanaryScore(_Result):
    """Score of a canary run over groups of metric verdicts.

    Attributes:
        score: 0–100.
        classification: ``"Pass"`` (score ≥ pass threshold), ``"Marginal"`` (≥ marginal threshold) or ``"Fail"``.
        group_scores: ``(group, % Pass among metrics with data or NaN, weight)`` triples.
        n_metrics: Metrics judged.
        n_nodata: Metrics with Nodata.
        critical_failed: Names ``group/index`` of critical metrics that did not pass.
        reason: Why, in a sentence.
        method: The rule used.
    """

    score: float
    classification: ScoreVerdict
    group_scores: tuple[tuple[str, float, float], ...]
    n_metrics: int
    n_nodata: int
    critical_failed: tuple[str, ...]
    reason: str
    method: str = "Kayenta weighted-sum scorer"

    def __repr__(self) -> str:
        return f"CanaryScore({self.score:.4g}, {self.classification!r}, reason={self.reason!r})"


def score(
    results: Mapping[str, Sequence[Judgement]],
    groups: Mapping[str, float],
    *,
    pass_threshold: float = 95.0,
    marginal_threshold: float = 75.0,
) -> CanaryScore:
    """Score a canary from its metric verdicts, grouped, as Kayenta's weighted-sum scorer does.

    Group score ``s_g = 100 · #Pass / #(metrics not Nodata)``; the run score is
    ``Σ_g w_g s_g / Σ_g w_g`` over groups that have at least one metric with data. Hard stops: any *critical*
    metric that is not Pass (High, Low or Nodata) → 0; half or more of all metrics Nodata → 0.

    Args:
        results: Group name → the verdicts of its metrics (:func:`judge` results).
        groups: Group name → weight (e.g. summing to 100).
        pass_threshold: Score at or above which the canary passes.
        marginal_threshold: Score at or above which it is Marginal.

    Returns:
        The score and the verdict.

    Raises:
        ParameterError: On a group without weight, a negative weight or thresholds out of order.
    """
    if not 0 <= marginal_threshold <= pass_threshold <= 100:
        raise ParameterError("thresholds must satisfy 0 <= marginal_threshold <= pass_threshold <= 100.")
    missing = sorted(set(results) - set(groups))
    if missing:
        raise ParameterError(f"groups has no weight for {missing}; give every group of results a weight.")
    if any(float(w) < 0 for w in groups.values()):
        raise ParameterError("group weights must be >= 0.")
    rows: list[tuple[str, float, float]] = []
    total = weighted = 0.0
    n_metrics = n_nodata = 0
    critical_failed: list[str] = []
    for group, verdicts in results.items():
        classes = [v.classification for v in verdicts]
        n_metrics += len(classes)
        n_nodata += classes.count("Nodata")
        critical_failed += [f"{group}/{i}" for i, v in enumerate(verdicts) if v.critical and v.classification != "Pass"]
        with_data = [c for c in classes if c != "Nodata"]
        weight = float(groups[group])
        if with_data:
            group_score = 100.0 * with_data.count("Pass") / len(with_data)
            total += weight
            weighted += weight * group_score
        else:
            group_score = float("nan")
        rows.append((group, group_score, weight))
    value = weighted / total if total > 0 else 0.0
    if critical_failed:
        value, reason = 0.0, f"critical metric(s) not Pass: {', '.join(critical_failed)}"
    elif n_metrics == 0 or n_nodata >= 0.5 * n_metrics:
        value, reason = 0.0, f"{n_nodata} of {n_metrics} metrics have no data (≥ 50%)"
    else:
        reason = f"weighted share of passing metrics over {len(rows)} group(s)"
    verdict: ScoreVerdict = "Pass" if value >= pass_threshold else "Marginal" if value >= marginal_threshold else "Fail"
    return CanaryScore(value, verdict, tuple(rows), n_metrics, n_nodata, tuple(critical_failed), reason)


# ---------------------------------------------------------------------------------------------------------------------
# ramp plans and their replay on history
# ---------------------------------------------------------------------------------------------------------------------

_GROUPS = {"latency": 1.0, "errors": 1.0, "quality": 1.0}


_MAX_RAMP_HOURS = 24 * 36_525  # a ramp longer than a century is a typo (and would overflow timedelta)


@dataclass(frozen=True)
class RampPlan:
    """A canary ramp: traffic percentages, how long each step is judged, and the judge's settings.

    At each step the canary serves ``steps[i]`` % of units (a hashed slice, :func:`abnb.assign.uniform_many`) and
    a baseline slice of the same size is compared with it over the step's window. Score Pass → promote to the
    next step (after the last one: promoted); a critical metric High/Low or a Fail score → roll back; Marginal or
    not enough data (critical Nodata, ≥ 50 % Nodata) → hold the step for another window, and roll back after
    ``max_holds`` holds of one step.

    Attributes:
        steps: Canary traffic per step, in percent, increasing, ending at 100.
        step_hours: Length of each step's judging window, in hours.
        alpha: Significance level of the Mann–Whitney intervals (Kayenta's confidence 0.98 is ``alpha = 0.02``).
        tolerance: Kayenta tolerance (fraction of ``|shift|`` the interval must clear).
        pass_threshold: Score needed to promote.
        marginal_threshold: Score below which the step fails.
        max_holds: Holds allowed per step before rolling back.
        groups: Weights of the metric groups ``latency``, ``errors`` and ``quality``.
        critical: Metrics whose High/Low (or Nodata) zeroes the score, e.g. ``("latency", "precision:de")``.
        error_window_minutes: Sub-window of the per-window error rates fed to the judge.
        precision_window_hours: Sub-window of the per-window labelled precision fed to the judge.
        segments: Segments whose precision is judged besides the overall precision; ``None``: the values of the
            predictions' segment column, most requests first (:meth:`abnb.telemetry.ModelTelemetry.segment_values`).
        quality_from: Smallest step (percent) at which precision is judged; below it the canary's few labels
            would make every quality metric Nodata, so only latency and errors are judged.
        min_values: A metric with fewer values in either arm is not judged in that window (recorded as skipped);
            Mann–Whitney on one or two values per arm gives degenerate intervals.
        salt: Salt of the hashed traffic slices.
        max_rows: Bound on the rows fetched per side (canary, baseline); more raises :class:`DataError`.
    """

    steps: tuple[float, ...] = (1.0, 5.0, 25.0, 50.0, 100.0)
    step_hours: float = 24.0
    alpha: float = 0.02
    tolerance: float = 0.25
    pass_threshold: float = 95.0
    marginal_threshold: float = 75.0
    max_holds: int = 1
    groups: tuple[tuple[str, float], ...] = tuple(_GROUPS.items())
    critical: tuple[str, ...] = ()
    error_window_minutes: int = 60
    precision_window_hours: float = 6.0
    segments: tuple[str, ...] | None = None
    quality_from: float = 25.0
    min_values: int = 3
    salt: str = "abnb.canary"
    max_rows: int = 500_000

    def __post_init__(self) -> None:
        steps = tuple(float(s) for s in self.steps)
        if not all(math.isfinite(s) for s in steps):
            raise ParameterError(f"steps must be finite percentages (no nan or inf), got {self.steps}.")
        if not steps or any(b <= a for a, b in itertools.pairwise(steps)) or steps[0] <= 0:
            raise ParameterError(f"steps must be increasing percentages > 0, got {self.steps}.")
        if steps[-1] != 100.0:
            raise ParameterError(f"the last step must be 100 (full rollout), got {steps[-1]:g}.")
        if not self.step_hours > 0 or not self.precision_window_hours > 0 or self.error_window_minutes <= 0:
            raise ParameterError("step_hours, precision_window_hours and error_window_minutes must be > 0.")
        windows = len(steps) * (1 + max(int(self.max_holds), 0))
        if not math.isfinite(self.step_hours) or self.step_hours * windows > _MAX_RAMP_HOURS:
            raise ParameterError(
                f"step_hours must be a finite number of hours whose ramp ({windows} windows) spans at most "
                f"{_MAX_RAMP_HOURS:,} hours (100 years), got {self.step_hours!r}."
            )
        if self.max_holds < 0 or self.max_rows < 1:
            raise ParameterError("max_holds must be >= 0 and max_rows >= 1.")
        check_alpha(self.alpha)

    @property
    def step(self) -> timedelta:
        """Length of one step's window."""
        return timedelta(hours=self.step_hours)

    @property
    def promote_hours(self) -> float:
        """Shortest time to full rollout: one window per step (Flagger: interval × number of steps)."""
        return self.step_hours * len(self.steps)


@dataclass(frozen=True, repr=False)
class RampReplay(_Result):
    """What a ramp plan would have done for one release, replayed on history.

    Attributes:
        canary_version: The release under test.
        baseline_version: The version it is compared with.
        start: When the ramp starts (the release marker).
        outcome: ``"promoted"``, ``"rolled back"`` or ``"incomplete"`` (history ended first).
        decided_at: End of the window of the final decision.
        hours: Hours from the start to the final decision.
        exposure: Traffic-hours on the canary, ``Σ_i p_i · hours_i`` (percent·hours / 100): the blast radius.
        failed_metrics: Metrics High/Low in the final (roll-back) step.
        steps: One row per judged window: ``(window start, window end, percent, score, verdict, decision,
            failing metrics, n canary requests, n baseline requests)``.
        judgements: Per window, ``(metric, classification, estimate, ci_low, ci_high, n_canary, n_baseline)``.
        method: Description.
    """

    canary_version: str
    baseline_version: str
    start: datetime
    outcome: RampOutcome
    decided_at: datetime | None
    hours: float
    exposure: float
    failed_metrics: tuple[str, ...]
    steps: tuple[tuple[Any, ...], ...]
    judgements: tuple[tuple[Any, ...], ...]
    method: str

    STEP_COLUMNS = ("window_start", "window_end", "percent", "score", "verdict", "decision", "failing", "n_canary",
                    "n_baseline")  # fmt: skip
    JUDGEMENT_COLUMNS = ("window_start", "percent", "metric", "classification", "estimate", "ci_low", "ci_high",
                         "n_canary", "n_baseline")  # fmt: skip
    _SUMMARY_FIELDS = ("canary_version", "baseline_version", "start", "outcome", "decided_at", "hours", "exposure",
                       "failed_metrics")  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """One row per judged window."""
        import pandas as pd

        return pd.DataFrame.from_records(list(self.steps), columns=list(self.STEP_COLUMNS))

    def judgement_frame(self) -> pd.DataFrame:
        """One row per judged window × metric."""
        import pandas as pd

        return pd.DataFrame.from_records(list(self.judgements), columns=list(self.JUDGEMENT_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """JSON-ready headline numbers."""
        return json_fields(self, self._SUMMARY_FIELDS)

    def __repr__(self) -> str:
        return (
            f"RampReplay({self.canary_version} vs {self.baseline_version}: {self.outcome} after {self.hours:g} h, "
            f"exposure {self.exposure:.3g} traffic-hours, failed={list(self.failed_metrics)})"
        )


def _scalar(con: Connection, query: Any, params: dict[str, Any]) -> Any:
    rows = con.run(query, params).rows
    return rows[0][0] if rows else None


def _sample(
    con: Connection,
    version: str,
    lo: datetime,
    hi: datetime,
    label_end: datetime,
    limit: int,
    schema: ModelTelemetry | None = None,
) -> pd.DataFrame:
    """Bounded per-request sample of one version in ``[lo, hi)`` with its manual label (if it arrived by then).

    Columns ``ts``, ``unit``, ``segment``, ``latency_ms``, ``prediction``, ``error`` (0/1), ``label`` and
    ``inclusion_prob``, whatever the schema's tables call them.
    """
    import pandas as pd
    from sqlglot import exp

    schema = schema or ModelTelemetry()
    p, lab = schema.predictions, schema.labels
    labelled = exp.and_(
        exp.EQ(this=lab.column("request_id", "l"), expression=p.column("request_id", "p")),
        exp.LT(this=lab.column("ts", "l"), expression=exp.Placeholder(this="label_end")),
    )
    query = (
        exp.select(
            *[p.aliased(c, "p") for c in ("ts", "unit", "segment", "latency_ms", "prediction")],
            exp.Alias(
                this=exp.Cast(this=p.column("error", "p"), to=exp.DataType.build("INT")),
                alias=exp.to_identifier("error", quoted=True),
            ),
            lab.aliased("label", "l"),
            lab.aliased("inclusion_prob", "l"),
        )
        .from_(p.expr("p"))
        .join(lab.expr("l"), on=labelled, join_type="left")
        .where(
            exp.and_(
                exp.EQ(this=p.column("model_version", "p"), expression=exp.Placeholder(this="version")),
                exp.GTE(this=p.column("ts", "p"), expression=exp.Placeholder(this="lo")),
                exp.LT(this=p.column("ts", "p"), expression=exp.Placeholder(this="hi")),
            )
        )
        .order_by(p.column("ts", "p"))
        .limit(exp.Literal.number(limit + 1))
    )
    with schema.reading(con, "predictions", "labels"):
        result = con.run(query, {"version": version, "lo": lo, "hi": hi, "label_end": label_end})
    if len(result.rows) > limit:
        raise DataError(
            f"more than max_rows={limit} requests of {version} in [{lo}, {hi}); raise RampPlan.max_rows or shorten "
            "step_hours (Mann–Whitney needs the values, which are fetched as a bounded sample)."
        )
    return pd.DataFrame.from_records(result.rows, columns=list(result.columns))


def _window_values(frame: pd.DataFrame, origin: datetime, minutes: float, value: str, weight: str | None) -> Any:
    """Per-sub-window (weighted) means of ``value``; windows without rows are absent."""
    if frame.empty:
        return np.empty(0)
    bucket = ((frame["ts"] - origin) / timedelta(minutes=minutes)).astype("int64")
    if weight is None:
        return frame.groupby(bucket)[value].mean().to_numpy(dtype=float)
    w = 1.0 / frame[weight]
    return ((frame[value] * w).groupby(bucket).sum() / w.groupby(bucket).sum()).to_numpy(dtype=float)


def _metric_values(frame: pd.DataFrame, origin: datetime, plan: RampPlan, segments: Sequence[str]) -> dict[str, Any]:
    ok = frame[frame["error"] == 0]
    values: dict[str, Any] = {
        "latency": frame["latency_ms"].dropna().to_numpy(dtype=float),
        "errors": _window_values(frame, origin, plan.error_window_minutes, "error", None),
    }
    flagged = ok[(ok["prediction"] == 1) & ok["label"].notna()]
    minutes = plan.precision_window_hours * 60.0
    values["precision"] = _window_values(flagged, origin, minutes, "label", "inclusion_prob")
    for segment in segments:
        part = flagged[flagged["segment"] == segment]
        values[f"precision:{segment}"] = _window_values(part, origin, minutes, "label", "inclusion_prob")
    return values


def _group(metric: str) -> str:
    return "quality" if metric.startswith("precision") else metric


def _horizon(con: Connection, schema: ModelTelemetry) -> datetime:
    """The time of the last prediction: history ends there."""
    import pandas as pd
    from sqlglot import exp

    predictions = schema.predictions
    with schema.reading(con, "predictions"):
        horizon_at = _scalar(con, exp.select(exp.Max(this=predictions.column("ts"))).from_(predictions.expr()), {})
    return pd.Timestamp(horizon_at).to_pydatetime()


def _check_served(
    con: Connection, schema: ModelTelemetry, arm: tuple[str, str, pd.DataFrame, datetime, datetime]
) -> None:
    """Refuse an arm without requests: a typo or an unknown version would otherwise be judged as "no data"."""
    from sqlglot import exp

    role, version, frame, lo, hi = arm
    if len(frame) > 0:
        return
    predictions = schema.predictions
    known = (
        exp.select(predictions.column("model_version"))
        .distinct()
        .from_(predictions.expr())
        .order_by(predictions.column("model_version"))
    )
    versions = [row[0] for row in con.run(known, {}).rows]
    what = (
        f"is not a {predictions.model_version} in {predictions.table}"
        if version not in versions
        else f"served no request in [{lo}, {hi})"
    )
    raise DataError(f"{role} {version!r} {what}; versions: {', '.join(map(str, versions))}. Pass another {role}.")


def _slices(
    canary: pd.DataFrame, baseline: pd.DataFrame, origin: datetime, a: datetime, b: datetime, p: float
) -> tuple[pd.DataFrame, pd.DataFrame, datetime]:
    """The canary and baseline slices of one window, and where the baseline's window starts.

    The canary slice is the units with ``u < p`` among the canary's requests in ``[a, b)`` (labels count if they
    arrived before ``b``); the baseline slice is the units with ``u >= 1 − p`` in the same hours of day, whole days
    before the release.
    """
    day = timedelta(days=1)
    k = math.ceil((b - origin) / day)
    c_rows = canary[(canary["ts"] >= a) & (canary["ts"] < b) & (canary["u"] < p)]
    c_rows = c_rows[c_rows["label"].isna() | (c_rows["ts"] < b)]
    lo, hi = a - k * day, b - k * day
    b_rows = baseline[(baseline["ts"] >= lo) & (baseline["ts"] < hi) & (baseline["u"] >= 1.0 - p)]
    return c_rows, b_rows, lo


def _judge_window(
    c_values: dict[str, Any], b_values: dict[str, Any], a: datetime, percent: float, plan: RampPlan
) -> tuple[dict[str, list[Judgement]], tuple[str, ...], list[tuple[Any, ...]]]:
    """Judge each metric of one window: the verdicts per group, the failing metrics and the judgement rows."""
    verdicts: dict[str, list[Judgement]] = {}
    names: dict[str, list[str]] = {}
    judged: list[tuple[Any, ...]] = []
    for metric, values in c_values.items():
        if metric.startswith("precision") and percent < plan.quality_from:
            continue
        if min(len(values), len(b_values[metric])) < plan.min_values:
            judged.append((a, percent, metric, "skipped", math.nan, math.nan, math.nan, len(values),
                           len(b_values[metric])))  # fmt: skip
            continue
        direction: Direction = "decrease" if metric.startswith("precision") else "increase"
        result = judge(values, b_values[metric], direction=direction, tolerance=plan.tolerance,
                       alpha=plan.alpha, critical=metric in plan.critical)  # fmt: skip
        verdicts.setdefault(_group(metric), []).append(result)
        names.setdefault(_group(metric), []).append(metric)
        judged.append((a, percent, metric, result.classification, result.estimate, result.ci_low, result.ci_high,
                       result.n_experiment, result.n_control))  # fmt: skip
    failing = tuple(
        name
        for group, results in verdicts.items()
        for name, result in zip(names[group], results, strict=True)
        if result.classification in ("High", "Low")
    )
    return verdicts, failing, judged


def _decision(run: CanaryScore, verdicts: dict[str, list[Judgement]], holds: int, plan: RampPlan) -> RampDecision:
    """Promote on Pass; roll back on Fail (unless for want of data) or after ``max_holds`` holds; else hold."""
    critical_failure = any(v.critical and v.classification in ("High", "Low") for r in verdicts.values() for v in r)
    short_of_data = not critical_failure and (bool(run.critical_failed) or run.n_nodata >= 0.5 * run.n_metrics)
    if run.classification == "Pass":
        return "promote"
    if run.classification == "Fail" and not short_of_data:
        return "roll back"
    return "hold" if holds < plan.max_holds else "roll back"


class _Walk(NamedTuple):
    """Where a ramp's walk through its windows ended, and what it judged on the way."""

    outcome: RampOutcome
    decided_at: datetime | None
    failed: tuple[str, ...]
    exposure: float
    windows: int
    steps: list[tuple[Any, ...]]
    judged: list[tuple[Any, ...]]


def _walk(
    canary: pd.DataFrame,
    baseline: pd.DataFrame,
    origin: datetime,
    horizon: datetime,
    plan: RampPlan,
    segments: Sequence[str],
) -> _Walk:
    """Judge window after window from ``origin``: promote, hold or roll back, until a decision or the horizon."""
    weights = dict(plan.groups)
    steps: list[tuple[Any, ...]] = []
    judged: list[tuple[Any, ...]] = []
    outcome: RampOutcome = "incomplete"
    decided_at: datetime | None = None
    failed: tuple[str, ...] = ()
    exposure = 0.0
    i, holds, j = 0, 0, 0
    while i < len(plan.steps):
        a, b = origin + j * plan.step, origin + (j + 1) * plan.step
        if b > horizon:
            break
        percent = plan.steps[i]
        c_rows, b_rows, lo = _slices(canary, baseline, origin, a, b, percent / 100.0)
        c_values = _metric_values(c_rows, a, plan, segments)
        b_values = _metric_values(b_rows, lo, plan, segments)
        verdicts, failing, rows = _judge_window(c_values, b_values, a, percent, plan)
        judged += rows
        run = score(verdicts, {g: weights.get(g, 0.0) for g in verdicts},
                    pass_threshold=plan.pass_threshold, marginal_threshold=plan.marginal_threshold)  # fmt: skip
        decision = _decision(run, verdicts, holds, plan)
        exposure += percent / 100.0 * plan.step_hours
        steps.append((a, b, percent, run.score, run.classification, decision, ", ".join(failing),
                      len(c_rows), len(b_rows)))  # fmt: skip
        j += 1
        if decision == "promote":
            i, holds = i + 1, 0
            if i == len(plan.steps):
                outcome, decided_at = "promoted", b
        elif decision == "hold":
            holds += 1
        else:
            outcome, decided_at, failed = "rolled back", b, failing
            break
    return _Walk(outcome, decided_at, failed, exposure, j, steps, judged)


def replay_ramp(
    connection: Connection | duckdb.DuckDBPyConnection,
    canary_version: str,
    *,
    plan: RampPlan | None = None,
    start: datetime | str | None = None,
    baseline_version: str | None = None,
    schema: ModelTelemetry | None = None,
) -> RampReplay:
    """Replay a canary ramp on history: what would the judge have decided, and when?

    History served every request of a release by that release, so the replay builds both arms from it: step ``i``
    with window ``[a, b)`` judges the canary slice (units with ``u < p_i``, ``u = uniform_many(unit, salt)``) of
    the canary version's requests in ``[a, b)`` against a baseline slice of the same size (``u ≥ 1 − p_i``) of the
    baseline version's requests in the same hours of day ``k = ⌈(b − start)/1 day⌉`` days earlier, before the
    release. Metrics (canary vs baseline, :func:`judge` with the plan's settings): per-request latency
    (direction increase), error rate per ``error_window_minutes`` (increase), and labelled precision (Hájek,
    ``Σ y/π ÷ Σ 1/π`` over the labelled flagged requests, as :func:`abnb.monitor.labelled_precision_by_window`)
    per ``precision_window_hours`` overall and per segment (decrease); a label counts only if it arrived before
    ``b``. Groups are scored by :func:`score`; the decision rule is described in :class:`RampPlan`.

    Data access: two bounded queries (requests of each version in the needed range with their labels, at most
    ``plan.max_rows`` rows each), because Mann–Whitney needs the values, not only their moments.

    Args:
        connection: A connection from :func:`abnb.connect` or a raw DuckDB connection.
        canary_version: The release to ramp (``model_version``).
        plan: The ramp plan (default :class:`RampPlan`).
        start: Ramp start; default the release marker of ``canary_version`` in ``releases``.
        baseline_version: The version compared with; default the version serving just before ``start``.
        schema: Names of the ``predictions``, ``labels`` and ``releases`` tables and columns (default: the sample's;
            in a project ``abnb.find_project().model_telemetry()``).

    Returns:
        The replay: outcome, time to decision, exposure, and each judged window.

    Raises:
        DataError: No release marker or baseline, or a window holds more than ``max_rows`` requests.
        SchemaError: A table or column is missing; the message names the ``[model]`` setting that names it.
    """
    import pandas as pd

    from abnb.assign import uniform_many
    from abnb.engine import as_connection

    plan = plan or RampPlan()
    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    segments = plan.segments if plan.segments is not None else schema.segment_values(con)
    if start is None:
        start = schema.release_time(con, canary_version)
        if start is None:
            raise DataError(f"no release marker for {canary_version!r} in table {schema.releases.table}; pass start=.")
    origin = pd.Timestamp(start).to_pydatetime()
    if baseline_version is None:
        baseline_version = schema.serving_version(con, origin)
        if baseline_version is None:
            raise DataError(f"no requests before {origin}; pass baseline_version=.")
    horizon = _horizon(con, schema)
    end = min(origin + len(plan.steps) * (1 + plan.max_holds) * plan.step, horizon + timedelta(microseconds=1))
    canary = _sample(con, canary_version, origin, end, end, plan.max_rows, schema)
    base_lo = origin - plan.step - timedelta(days=1)
    baseline = _sample(con, baseline_version, base_lo, origin, origin, plan.max_rows, schema)
    _check_served(con, schema, ("canary_version", canary_version, canary, origin, end))
    _check_served(con, schema, ("baseline_version", baseline_version, baseline, base_lo, origin))
    for frame in (canary, baseline):
        frame["u"] = uniform_many(frame["unit"].tolist(), plan.salt) if len(frame) else np.empty(0)
    walk = _walk(canary, baseline, origin, horizon, plan, segments)
    hours = (walk.decided_at - origin) / timedelta(hours=1) if walk.decided_at else walk.windows * plan.step_hours
    return RampReplay(
        canary_version=canary_version,
        baseline_version=str(baseline_version),
        start=origin,
        outcome=walk.outcome,
        decided_at=walk.decided_at,
        hours=float(hours),
        exposure=float(walk.exposure),
        failed_metrics=tuple(walk.failed),
        steps=tuple(walk.steps),
        judgements=tuple(walk.judged),
        method=(
            f"ramp {'/'.join(f'{s:g}' for s in plan.steps)} % × {plan.step_hours:g} h; Kayenta MW judge "
            f"(alpha {plan.alpha:g}, tolerance {plan.tolerance:g}); baseline = same hours of day before the "
            "release, hashed slice of equal size"
        ),
    )


# ---------------------------------------------------------------------------------------------------------------------
# notebook parameters and summary
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryParameters:
    """Validated parameters of ``notebooks/canary_release.ipynb``.

    Attributes:
        versions: Releases to replay.
        plan: The ramp plan.
        as_of: Label of the report (ISO date) or None.
        database: DuckDB file, None for the project's.
        summary_path: Where to write ``summary.json``, None for nowhere.
        snapshot: The files the render reads; each :meth:`connect` checks they are the ones the first one read.
    """

    versions: tuple[str, ...]
    plan: RampPlan
    as_of: str | None
    database: str | None
    summary_path: str | None
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(()), compare=False, repr=False)

    def connect(self) -> BaseConnection:
        """Open the database (read-only, confined); every section's connection must see the same files.

        Raises:
            ReportError: The database was replaced or written since the render's first connection.
        """
        from abnb.engine import connect

        return self.snapshot.connect(lambda: connect(self.database))


def validate_canary_parameters(**values: Any) -> CanaryParameters:
    """Validate the canary notebook's parameters (call it on the line after the ``parameters`` cell).

    Every parameter is a string: ``versions`` comma-separated release names (``"v2,v3"``; empty: every release
    in the releases table, :meth:`abnb.telemetry.ModelTelemetry.release_versions`); ``steps``
    comma-separated percentages ending at 100; ``step_hours`` a positive number; ``as_of`` an ISO date or empty;
    ``database`` a DuckDB file or empty (embedded sample); ``summary_path`` where to write ``summary.json`` or
    empty.

    Raises:
        ParameterError: A parameter is unknown, not a string, or malformed.
    """
    import re

    from abnb._parameters import string_parameters

    string_parameters(values, {"versions", "steps", "step_hours", "as_of", "database", "summary_path"}, "canary")
    versions = tuple(v.strip() for v in values.get("versions", "").split(",") if v.strip())
    if not all(re.fullmatch(r"[A-Za-z0-9_.\-]+", v) for v in versions):
        raise ParameterError(f"canary parameter versions must be comma-separated version names, got {versions!r}.")
    try:
        steps = tuple(float(s) for s in values.get("steps", "1,5,25,50,100").split(","))
        step_hours = float(values.get("step_hours", "24"))
    except ValueError as error:
        raise ParameterError(f"canary parameters steps and step_hours must be numbers: {error}") from error
    if not all(math.isfinite(s) for s in (*steps, step_hours)):
        raise ParameterError(
            f"canary parameters steps and step_hours must be finite numbers (no nan or inf), got steps "
            f"{values.get('steps', '1,5,25,50,100')!r} and step_hours {values.get('step_hours', '24')!r}."
        )
    as_of = values.get("as_of", "").strip() or None
    if as_of is not None:
        try:
            datetime.fromisoformat(as_of)
        except ValueError as error:
            raise ParameterError(f"canary parameter as_of must be an ISO date, got {as_of!r}.") from error
    database = values.get("database", "").strip() or None
    return CanaryParameters(
        versions=versions,
        plan=RampPlan(steps=steps, step_hours=step_hours),
        as_of=as_of,
        database=database,
        summary_path=values.get("summary_path", "").strip() or None,
        snapshot=Snapshot(_database_files(database)),
    )


def _database_files(database: str | None) -> list[str]:
    """The DuckDB file (``database``, else the project's) and its WAL; none when the project has no such file."""
    from abnb.engine import default_database
    from abnb.errors import ProjectError

    try:
        path = str(database or default_database())
    except ProjectError:
        return []
    return [path, f"{path}.wal"]


def write_canary_summary(
    replays: Sequence[RampReplay], switches: Sequence[Any], path: str | None, **extra: Any
) -> dict[str, Any]:
    """Write the report's ``summary.json`` (ramp replays, blue/green switches, extras) atomically; return it.

    ``decision.verdict`` is ``"rollback"`` when some ramp rolled back or some switch calls for a rollback, else
    ``"ship"`` (the reports index shows it). Nothing is written when ``path`` is falsy; non-finite numbers become
    ``null``.
    """
    import json
    from pathlib import Path

    from abnb._io import write_atomic

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    rolled = [r.canary_version for r in replays if r.outcome == "rolled back"]
    switched = [s.version for s in switches if s.rollback]
    verdict: ReleaseVerdict = "rollback" if rolled or switched else "ship"
    reason = (
        f"ramp rolls back {', '.join(rolled) or 'nothing'}; "
        f"blue/green switches back from {', '.join(switched) or 'none'}"
    )
    summary = clean(
        {
            "experiment": "canary",
            "decision": {"verdict": verdict, "reason": reason},
            "ramps": [r.summary() for r in replays],
            "switches": [s.summary() for s in switches],
            **extra,
        }
    )
    if path:
        write_atomic(Path(path), json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")
    return summary  # type: ignore[no-any-return]
