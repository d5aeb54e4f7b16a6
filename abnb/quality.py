"""Model quality from production telemetry: the feedback estimators of :mod:`abnb.feedback` run on the database.

Each function takes a connection and optional filters on the served request (``start`` inclusive and ``end``
exclusive on ``predictions.ts``, ``model_version``, ``segment``), aggregates in DuckDB and hands the few
aggregated rows to the matching pure estimator. Table and column names are those of the model-quality schema
(:data:`abnb.telemetry.SCHEMAS`, sample data in :mod:`abnb.datasets.models`); every filter value and threshold is a
bound parameter. Only :func:`labelled_precision_recall` fetches rows, and only those of the labelled sample
(bounded by ``max_rows``), because its bootstrap needs them.

| quality | function | feedback estimator |
| --- | --- | --- |
| precision/recall from sampled labels | :func:`labelled_precision_recall` | ``sampled_precision_recall`` |
| recall from user corrections | :func:`recall_from_user_corrections` | ``recall_from_corrections`` |
| satisfaction from biased ratings | :func:`satisfaction` | ``corrected_rating`` |
| fare error with delayed truth | :func:`fare_quality` | ``realised_error`` + completeness curve |
| label-free precision from scores | :func:`label_free_quality` | CBPE from score sums |
| edits as a weak proxy | :func:`edit_rate` | ``proxy_trend`` |
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from abnb.engine import as_connection
from abnb.errors import DataError, ParameterError
from abnb.feedback import (
    CBPE_ASSUMPTION,
    CbpeResult,
    CorrectedRatingResult,
    PrecisionRecallResult,
    ProxyTrendResult,
    RealisedErrorResult,
    RecallFromCorrectionsResult,
    corrected_rating,
    proxy_trend,
    realised_error,
    recall_from_corrections,
    sampled_precision_recall,
)
from abnb.stats.ratio import RatioMoments

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from abnb.engine import Connection, QueryResult

__all__ = [
    "FareQualityResult",
    "edit_rate",
    "fare_quality",
    "label_free_quality",
    "labelled_precision_recall",
    "recall_from_user_corrections",
    "satisfaction",
]

_DAY_US = 86_400_000_000


# --------------------------------------------------------------------------------------------------------------
# filters and query plumbing
# --------------------------------------------------------------------------------------------------------------


def _moment(value: object, name: str) -> datetime:
    """A naive (UTC wall-clock) datetime from a datetime, date, ISO string or pandas Timestamp."""
    import pandas as pd

    if isinstance(value, bool) or not isinstance(value, datetime | date | str | pd.Timestamp):
        raise ParameterError(f"{name} must be a timestamp (datetime, date or ISO string), got {value!r}.")
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a timestamp (e.g. '2026-10-10'), got {value!r}.") from exc
    if pd.isna(ts):
        raise ParameterError(f"{name} must be a timestamp, got {value!r}.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def _filters(start: object, end: object, model_version: object, segment: object) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on the predictions alias ``p`` and their bound values."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if start is not None:
        conditions.append("p.ts >= $start")
        params["start"] = _moment(start, "start")
    if end is not None:
        conditions.append("p.ts < $end")
        params["end"] = _moment(end, "end")
    if "start" in params and "end" in params and params["start"] >= params["end"]:
        raise ParameterError(f"start ({params['start']}) must be before end ({params['end']}).")
    for name, value in (("model_version", model_version), ("segment", segment)):
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ParameterError(f"{name} must be a non-empty string, got {value!r}.")
        conditions.append(f"p.{name} = ${name}")
        params[name] = value
    return conditions, params


def _where(conditions: Sequence[str]) -> str:
    return "WHERE " + " AND ".join(conditions) if conditions else ""


def _run(con: Connection, sql: str, params: Mapping[str, Any]) -> QueryResult:
    """Parse the fixed query text (identifiers from the schema, values as ``$name``) and run it."""
    import sqlglot
    from sqlglot import exp

    query = sqlglot.parse_one(sql, dialect="duckdb")
    return con.run(cast("exp.Expression", query), params)


def _alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise ParameterError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    return float(alpha)


def _z(alpha: float) -> float:
    from scipy import special

    return float(-special.ndtri(alpha / 2.0))


# --------------------------------------------------------------------------------------------------------------
# 1. sampled manual labels
# --------------------------------------------------------------------------------------------------------------


def labelled_precision_recall(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    start: object = None,
    end: object = None,
    model_version: str | None = None,
    segment: str | None = None,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    max_rows: int = 200_000,
) -> PrecisionRecallResult:
    """Precision and recall of the profanity filter from the manually labelled sample (``labels ⋈ predictions``).

    The labelled requests of the window (served requests only: an error has no prediction) come back as
    ``(prediction, label, inclusion_prob)`` rows and go to :func:`abnb.feedback.sampled_precision_recall`:
    Hájek ratios of Horvitz–Thompson totals with weights ``1/π``, and percentile bootstrap intervals over the
    labelled requests. The ``labels`` table is a sample by design (π = 0.25 for flagged and 0.02 for unflagged
    requests in the sample data), so this is the one function here that fetches rows; at most ``max_rows``.

    Assumption: ``inclusion_prob`` is the true probability with which each served request was sent for
    labelling, independently of its label given the prediction, and the labellers are right. A label ``ts``
    after ``end`` still counts: labels belong to the request's window.

    Args:
        connection: An abnb or DuckDB connection to a database with ``predictions`` and ``labels``.
        start: First request time included.
        end: Request time bound (exclusive).
        model_version: Only requests served by this version.
        segment: Only requests of this segment.
        alpha: Significance level of the bootstrap intervals.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap.
        max_rows: Most labelled rows to fetch; more raises :class:`~abnb.errors.DataError`.

    Returns:
        The weighted precision and recall with intervals, and the naive (unweighted) ones for comparison.

    Raises:
        DataError: No labelled rows match the filters, or more than ``max_rows`` do.
        ParameterError: A filter has the wrong type.

    References:
        D. G. Horvitz, D. J. Thompson (1952), JASA 47; C.-E. Särndal, B. Swensson, J. Wretman (1992), "Model
        Assisted Survey Sampling", §5.7 (Hájek ratio).
    """
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ParameterError(f"max_rows must be a positive whole number, got {max_rows!r}.")
    con = as_connection(connection)
    conditions, params = _filters(start, end, model_version, segment)
    conditions.append("p.prediction IS NOT NULL")
    params["limit"] = max_rows + 1
    sql = f"""
        SELECT p.prediction, l.label, l.inclusion_prob
        FROM labels AS l JOIN predictions AS p ON p.request_id = l.request_id
        {_where(conditions)}
        ORDER BY l.request_id
        LIMIT $limit
    """  # noqa: S608 - fixed identifiers, values bound
    rows = _run(con, sql, params).rows
    if len(rows) > max_rows:
        raise DataError(
            f"more than {max_rows:,} labelled requests match the filters; narrow the window or raise max_rows."
        )
    if not rows:
        raise DataError("no labelled requests match the filters (table 'labels' joined to 'predictions').")
    predicted, label, inclusion = (list(column) for column in zip(*rows, strict=True))
    return sampled_precision_recall(predicted, label, inclusion, alpha=alpha, n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------------------------------------------
# 2. user corrections
# --------------------------------------------------------------------------------------------------------------


def recall_from_user_corrections(
    connection: Connection | duckdb.DuckDBPyConnection,
    reporting_rate: float,
    *,
    reporting_rate_se: float = 0.0,
    start: object = None,
    end: object = None,
    model_version: str | None = None,
    segment: str | None = None,
    alpha: float = 0.05,
) -> RecallFromCorrectionsResult:
    """Recall of the filter from user corrections (reported misses) and the labelled sample (caught positives).

    Construction: the misses come from ``corrections`` (a user reports a false negative with the audited
    probability ``r``), counted by the window of the request they correct: ``C`` corrections give
    ``M̂ = C/r`` misses. The positives the filter caught are not logged as such, so their number comes from the
    labelled sample as the Horvitz–Thompson total ``T̂ = Σ_{ŷ=1, y=1} 1/π``. Then
    :func:`abnb.feedback.recall_from_corrections` gives ``recall = T̂ / (T̂ + C/r)``. Its delta-method variance
    treats ``TP`` as a Poisson count (``Var = TP``); a sampled total varies more, so the ``TP`` term is replaced
    by the Horvitz–Thompson variance under a Poisson population, ``Var(T̂) = Σ_{ŷ=1, y=1} 1/π²``:

        Var = (M̂/D²)²·Σ1/π² + (T̂/(r·D²))²·C + (T̂·C/(r²·D²))²·s_r²,   D = T̂ + M̂.

    Assumptions: no false reports; each miss is reported independently with probability ``r`` (a rate from an
    audit, not from these data); the corrections for the window's requests have arrived (they come within
    hours in the sample, so the last hours before the horizon are short of corrections); ``π`` as in
    :func:`labelled_precision_recall`.

    Args:
        connection: A connection to a database with ``predictions``, ``labels`` and ``corrections``.
        reporting_rate: Share of misses users report, in (0, 1] (0.30 in the sample data).
        reporting_rate_se: Standard error of ``reporting_rate`` from its audit.
        start: First request time included.
        end: Request time bound (exclusive).
        model_version: Only requests served by this version.
        segment: Only requests of this segment.
        alpha: Significance level.

    Returns:
        The recall with its interval; ``true_positives_found`` holds ``T̂``.

    Raises:
        DataError: The window holds neither labelled true positives nor corrections.
        ParameterError: A rate or filter is invalid.

    References:
        G. Casella, R. L. Berger (2002), "Statistical Inference", §5.5.4 (delta method); Horvitz, Thompson (1952).
    """
    alpha = _alpha(alpha)
    con = as_connection(connection)
    conditions, params = _filters(start, end, model_version, segment)
    tp_where = _where([*conditions, "p.prediction = 1", "l.label = 1"])
    sql = f"""
        SELECT
            (SELECT coalesce(sum(1.0 / l.inclusion_prob), 0)
             FROM labels AS l JOIN predictions AS p ON p.request_id = l.request_id {tp_where}) AS tp_total,
            (SELECT coalesce(sum(1.0 / (l.inclusion_prob * l.inclusion_prob)), 0)
             FROM labels AS l JOIN predictions AS p ON p.request_id = l.request_id {tp_where}) AS tp_variance,
            (SELECT count(*)
             FROM corrections AS c JOIN predictions AS p ON p.request_id = c.request_id {_where(conditions)})
             AS corrections
    """  # noqa: S608 - fixed identifiers, values bound
    tp, tp_var, corrections = _run(con, sql, params).rows[0]
    tp, tp_var, corrections = float(tp), float(tp_var), int(corrections)
    if tp + corrections == 0:
        raise DataError("no labelled true positives and no corrections match the filters; recall is undefined.")
    base = recall_from_corrections(tp, corrections, reporting_rate, reporting_rate_se=reporting_rate_se, alpha=alpha)
    r, s_r = base.reporting_rate, base.reporting_rate_se
    misses = corrections / r
    d = tp + misses
    var = (
        (misses / d**2) ** 2 * tp_var
        + (tp / (r * d**2)) ** 2 * corrections
        + (tp * corrections / (r**2 * d**2)) ** 2 * s_r**2
    )
    se = math.sqrt(var)
    z = _z(alpha)
    return replace(
        base,
        se=se,
        ci_low=max(0.0, base.recall - z * se),
        ci_high=min(1.0, base.recall + z * se),
        method=(
            "recall = T̂/(T̂ + C/r); T̂ = Horvitz–Thompson total of labelled true positives; delta-method CI with "
            "Var(T̂) = Σ1/π², Poisson C and the audit SE of r"
        ),
    )


# --------------------------------------------------------------------------------------------------------------
# 3. ratings
# --------------------------------------------------------------------------------------------------------------


def satisfaction(
    connection: Connection | duckdb.DuckDBPyConnection,
    response_rates: Mapping[int, float] | Sequence[float],
    *,
    response_rate_se: Mapping[int, float] | Sequence[float] | None = None,
    start: object = None,
    end: object = None,
    model_version: str | None = None,
    segment: str | None = None,
    alpha: float = 0.05,
) -> CorrectedRatingResult:
    """Call-quality satisfaction corrected for who answers the rating prompt.

    One aggregate query counts the ratings per level (``ratings ⋈ predictions`` for the filters); the counts go
    to :func:`abnb.feedback.corrected_rating`, which weights level ``k`` by ``1/ρ_k``. Levels without a rating in
    the window count 0.

    Assumption: the response rate ``ρ_k`` of each true satisfaction level is known (from a survey that chased
    non-responders, or a period when everyone was asked) and the same in the analysed window; responders answer
    honestly. Without that the naive mean (also returned) is all the data say, and it is biased towards the
    levels that answer more often.

    Args:
        connection: A connection to a database with ``predictions`` and ``ratings``.
        response_rates: ``ρ_k`` per level, as ``{level: rate}`` or a sequence for levels 1, 2, ….
        response_rate_se: Optional standard errors of the rates, same shape.
        start: First request time included.
        end: Request time bound (exclusive).
        model_version: Only requests served by this version.
        segment: Only requests of this segment.
        alpha: Significance level.

    Returns:
        The corrected and the naive mean rating.

    Raises:
        DataError: A rating level in the data has no response rate.
        ParameterError: The rates or filters are invalid, or there are no ratings.

    References:
        R. J. A. Little, D. B. Rubin (2019), "Statistical Analysis with Missing Data", 3rd ed., §3.3.
    """
    con = as_connection(connection)
    conditions, params = _filters(start, end, model_version, segment)
    sql = f"""
        SELECT r.rating, count(*) AS responses
        FROM ratings AS r JOIN predictions AS p ON p.request_id = r.request_id
        {_where(conditions)}
        GROUP BY r.rating
        ORDER BY r.rating
    """  # noqa: S608 - fixed identifiers, values bound
    observed = {float(level): int(count) for level, count in _run(con, sql, params).rows if level is not None}
    if isinstance(response_rates, Mapping):
        levels = [float(k) for k in response_rates]
    else:
        levels = [float(i + 1) for i in range(len(response_rates))]
    unknown = sorted(set(observed) - set(levels))
    if unknown:
        raise DataError(f"ratings hold level(s) {unknown} that have no response rate; give a rate for every level.")
    counts = {level: observed.get(level, 0) for level in levels}
    rates = dict(
        zip(levels, response_rates.values() if isinstance(response_rates, Mapping) else response_rates, strict=True)
    )
    ses: dict[float, float] | None = None
    if response_rate_se is not None:
        values = response_rate_se.values() if isinstance(response_rate_se, Mapping) else response_rate_se
        ses = dict(zip(levels, values, strict=True))
    return corrected_rating(counts, rates, response_rate_se=ses, alpha=alpha)


# --------------------------------------------------------------------------------------------------------------
# 4. delayed fares
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FareQualityResult:
    """Realised fare error on matured cohorts, with the label-completeness curve it was judged by.

    Attributes:
        realised: MAE and RMSE over the matured daily cohorts (:func:`abnb.feedback.realised_error`).
        naive_mae: Mean error over every fare arrived by ``as_of``, matured or not.
        naive_completeness: Fares arrived / fare predictions over all cohorts (low only because of the delay).
        age_days: Ages of the completeness curve (whole days before ``as_of``).
        age_predictions: Fare predictions per age.
        age_labelled: Of those, fares arrived by ``as_of``.
        error: ``"relative"`` (``|ŷ − y|/y``, so ``mae`` is the MAPE) or ``"absolute"`` (USD).
        as_of: Moment of analysis.
        window_days: Maturity window.
        method: The formulas used.
    """

    realised: RealisedErrorResult
    naive_mae: float
    naive_completeness: float
    age_days: tuple[int, ...]
    age_predictions: tuple[int, ...]
    age_labelled: tuple[int, ...]
    error: str
    as_of: datetime
    window_days: float
    method: str

    def completeness_curve(self) -> pd.DataFrame:
        """The curve as :func:`abnb.feedback.completeness_curve` returns it: age, predictions, labelled, share."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "age_days": list(self.age_days),
                "predictions": list(self.age_predictions),
                "labelled": list(self.age_labelled),
            }
        )
        frame["completeness"] = frame["labelled"] / frame["predictions"]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The realised error's fields with the naive values and the setting, flat."""
        out = self.realised.to_dict()
        out.pop("method")
        out.update(
            naive_mae=self.naive_mae,
            naive_completeness=self.naive_completeness,
            error=self.error,
            as_of=self.as_of,
            window_days=self.window_days,
            method=self.method,
        )
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row: realised MAE/RMSE with intervals, naive values and the setting."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(_short(v))}</td></tr>"
            for k, v in self.to_dict().items()
        )
        return f"<table class='abnb-quality'>{rows}</table>"

    def __repr__(self) -> str:
        r = self.realised
        return (
            f"FareQualityResult(mae={r.mae:.4g} [{r.mae_ci_low:.4g}, {r.mae_ci_high:.4g}], rmse={r.rmse:.4g}, "
            f"naive_mae={self.naive_mae:.4g}, cohorts={r.cohorts}, excluded={r.excluded_cohorts}, "
            f"completeness={r.completeness:.4g}, error={self.error!r})"
        )


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def fare_quality(
    connection: Connection | duckdb.DuckDBPyConnection,
    as_of: object,
    window_days: float = 7,
    *,
    start: object = None,
    end: object = None,
    model_version: str | None = None,
    segment: str | None = None,
    error: Literal["relative", "absolute"] = "relative",
    alpha: float = 0.05,
) -> FareQualityResult:
    """Fare-prediction error from fares that arrive ``window_days`` after the request, on matured cohorts only.

    Two aggregate queries over ``predictions ⟕ fares`` (a fare counts only if its ``ts ≤ as_of``; requests
    with an error have no fare prediction and are left out): per request day, the fare predictions, fares
    arrived, ``Σ|e|`` and ``Σe²``, which go to :func:`abnb.feedback.realised_error` (days whose every request is
    ``window_days`` old at ``as_of``); and per age in whole days at ``as_of`` the predictions and fares arrived
    — the label-completeness curve of :func:`abnb.feedback.completeness_curve`, computed in SQL. The error is
    ``e = (ŷ − y)/y`` (``error="relative"``: the MAE is the MAPE) or ``ŷ − y`` in USD.

    Assumption: after ``window_days`` every fare that will ever arrive has arrived, and the fares that arrive
    early are not a biased subset of the cohort (the curve shows whether the window is long enough).

    Args:
        connection: A connection to a database with ``predictions`` and ``fares``.
        as_of: Moment of analysis (fares after it have not arrived; requests after it are ignored).
        window_days: Maturity window in days (7 in the sample data).
        start: First request time included.
        end: Request time bound (exclusive).
        model_version: Only requests served by this version.
        segment: Only requests of this segment.
        error: ``"relative"`` or ``"absolute"``.
        alpha: Significance level.

    Returns:
        The realised error, the naive error over every arrived fare, and the completeness curve.

    Raises:
        DataError: Fewer than 2 cohorts have matured, or no fares arrived.
        ParameterError: A filter or ``error`` is invalid.

    References:
        A. Deng, U. Knoblich, J. Lu (2018), "Applying the Delta Method in Metric Analytics", KDD.
    """
    import pandas as pd

    if error not in ("relative", "absolute"):
        raise ParameterError(f"error must be 'relative' or 'absolute', got {error!r}.")
    if isinstance(window_days, bool) or not isinstance(window_days, int | float) or not window_days > 0:
        raise ParameterError(f"window_days must be a positive number, got {window_days!r}.")
    con = as_connection(connection)
    cutoff = _moment(as_of, "as_of")
    conditions, params = _filters(start, end, model_version, segment)
    conditions += ["p.fare_predicted IS NOT NULL", "p.ts <= $as_of"]
    params["as_of"] = cutoff
    e = (
        "(p.fare_predicted - f.fare_actual) / nullif(f.fare_actual, 0)"
        if error == "relative"
        else "(p.fare_predicted - f.fare_actual)"
    )
    source = f"""
        FROM predictions AS p LEFT JOIN fares AS f ON f.request_id = p.request_id AND f.ts <= $as_of
        {_where(conditions)}
    """
    daily_sql = f"""
        SELECT date_trunc('day', p.ts) AS day, count(*) AS predictions, count({e}) AS labels,
               coalesce(sum(abs({e})), 0) AS abs_error_sum, coalesce(sum(({e}) * ({e})), 0) AS sq_error_sum
        {source}
        GROUP BY day ORDER BY day
    """
    daily_rows = _run(con, daily_sql, params)
    daily = pd.DataFrame(daily_rows.rows, columns=list(daily_rows.columns))
    if daily.empty or int(daily["labels"].sum()) == 0:
        raise DataError("no fares have arrived for the fare predictions that match the filters.")
    realised = realised_error(daily, as_of=cutoff, window_days=float(window_days), alpha=alpha)
    params["day_us"] = _DAY_US
    curve_sql = f"""
        SELECT (epoch_us($as_of) - epoch_us(p.ts)) // $day_us AS age_days, count(*) AS predictions,
               count(f.request_id) AS labelled
        {source}
        GROUP BY age_days ORDER BY age_days
    """
    curve = _run(con, curve_sql, params).rows
    labels, predictions = float(daily["labels"].sum()), float(daily["predictions"].sum())
    return FareQualityResult(
        realised=realised,
        naive_mae=float(daily["abs_error_sum"].sum()) / labels,
        naive_completeness=labels / predictions,
        age_days=tuple(int(row[0]) for row in curve),
        age_predictions=tuple(int(row[1]) for row in curve),
        age_labelled=tuple(int(row[2]) for row in curve),
        error=error,
        as_of=cutoff,
        window_days=float(window_days),
        method=f"{error} error; per-day sums in SQL; {realised.method}; completeness by age at as_of",
    )


# --------------------------------------------------------------------------------------------------------------
# 5. label-free estimate
# --------------------------------------------------------------------------------------------------------------


def label_free_quality(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    threshold: float = 0.5,
    start: object = None,
    end: object = None,
    model_version: str | None = None,
    segment: str | None = None,
) -> CbpeResult:
    """Precision, recall and accuracy expected from the filter's scores alone (CBPE), from sums in SQL.

    One aggregate query over the scored requests gives ``n``, ``n₁ = #{s ≥ t}``, ``Σ_{s≥t} s``, ``Σ s`` and
    ``Σ_{s<t} (1 − s)``; the expected confusion matrix of :func:`abnb.feedback.cbpe` follows from these sums
    exactly: precision ``Σ_{s≥t} s / n₁``, recall ``Σ_{s≥t} s / Σ s``, accuracy
    ``(Σ_{s≥t} s + Σ_{s<t}(1 − s)) / n``.

    Assumption: the scores are calibrated in production, ``P(y = 1 | s) = s``. Concept drift breaks it
    silently: in the sample data the estimate stays at 0.90 while the true precision drifts down after v3.

    Args:
        connection: A connection to a database with ``predictions``.
        threshold: Decision threshold of the score.
        start: First request time included.
        end: Request time bound (exclusive).
        model_version: Only requests served by this version.
        segment: Only requests of this segment.

    Returns:
        The expected metrics and the assumption they rest on.

    Raises:
        DataError: No scored requests match, or a score lies outside [0, 1].
        ParameterError: ``threshold`` is outside [0, 1] or a filter is invalid.

    References:
        NannyML documentation, "Confidence-based Performance Estimation (CBPE)".
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ParameterError(f"threshold must lie in [0, 1], got {threshold!r}.")
    con = as_connection(connection)
    conditions, params = _filters(start, end, model_version, segment)
    conditions.append("p.score IS NOT NULL")
    params["threshold"] = float(threshold)
    sql = f"""
        SELECT count(*) AS n,
               count(*) FILTER (WHERE p.score >= $threshold) AS positives,
               coalesce(sum(p.score) FILTER (WHERE p.score >= $threshold), 0) AS tp,
               coalesce(sum(p.score), 0) AS score_sum,
               coalesce(sum(1 - p.score) FILTER (WHERE p.score < $threshold), 0) AS tn,
               count(*) FILTER (WHERE p.score < 0 OR p.score > 1) AS invalid
        FROM predictions AS p
        {_where(conditions)}
    """  # noqa: S608 - fixed identifiers, values bound
    n, positives, tp, score_sum, tn, invalid = _run(con, sql, params).rows[0]
    if not n:
        raise DataError("no scored requests match the filters.")
    if invalid:
        raise DataError(f"{invalid} scores lie outside [0, 1]; CBPE needs calibrated probabilities.")
    tp, score_sum, tn = float(tp), float(score_sum), float(tn)
    return CbpeResult(
        expected_precision=tp / positives if positives else math.nan,
        expected_recall=tp / score_sum if score_sum > 0 else math.nan,
        expected_accuracy=(tp + tn) / n,
        n=int(n),
        predicted_positives=int(positives),
        threshold=float(threshold),
        assumption=CBPE_ASSUMPTION,
        method="CBPE: expected confusion matrix from calibrated scores (score sums in SQL)",
    )


# --------------------------------------------------------------------------------------------------------------
# 6. edits as a weak proxy
# --------------------------------------------------------------------------------------------------------------


def edit_rate(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    start: object = None,
    end: object = None,
    model_version: str | None = None,
    segment: str | None = None,
    alpha: float = 0.05,
    test: Literal["mann-kendall", "spearman"] = "mann-kendall",
) -> ProxyTrendResult:
    """Daily share of transcript characters users edit, read as a trend of transcript errors, never as a level.

    Per request day, one aggregate query over ``edits ⋈ predictions`` sums ``y`` = ``edit_chars`` and ``d`` =
    ``transcript_chars`` with ``Σy²``, ``Σd²`` and ``Σyd``; each day becomes a
    :class:`~abnb.stats.ratio.RatioMoments` (one row per edited transcript) and
    :func:`abnb.feedback.proxy_trend` tests for a monotone trend of ``Σy/Σd``. The telemetry logs a transcript's
    length only when it is edited, so the ratio is the share of characters changed *in edited transcripts*:
    when the filter errs more, more of the edits are the large ones that fix its errors.

    Assumption: why and how much users edit for other reasons does not change over the window, so a trend in
    the ratio reflects a trend in errors; the level itself has no meaning as an error rate.

    Args:
        connection: A connection to a database with ``predictions`` and ``edits``.
        start: First request time included.
        end: Request time bound (exclusive).
        model_version: Only requests served by this version.
        segment: Only requests of this segment.
        alpha: Significance level of the daily intervals and the trend test.
        test: ``"mann-kendall"`` or ``"spearman"``.

    Returns:
        Daily ratios with intervals, the trend test and its interpretation.

    Raises:
        DataError: Fewer than 3 days with edits match the filters.
        ParameterError: A filter or ``test`` is invalid.

    References:
        H. B. Mann (1945), Econometrica 13; A. Deng et al. (2018), KDD (delta method for ratios).
    """
    con = as_connection(connection)
    conditions, params = _filters(start, end, model_version, segment)
    sql = f"""
        SELECT date_trunc('day', p.ts) AS day, count(*) AS n,
               sum(e.edit_chars::DOUBLE) AS y_sum, sum(e.edit_chars::DOUBLE * e.edit_chars) AS y_sum_sq,
               sum(e.transcript_chars::DOUBLE) AS d_sum,
               sum(e.transcript_chars::DOUBLE * e.transcript_chars) AS d_sum_sq,
               sum(e.edit_chars::DOUBLE * e.transcript_chars) AS yd_sum
        FROM edits AS e JOIN predictions AS p ON p.request_id = e.request_id
        {_where(conditions)}
        GROUP BY day ORDER BY day
    """  # noqa: S608 - fixed identifiers, values bound
    rows = _run(con, sql, params).rows
    if len(rows) < 3:
        raise DataError(f"only {len(rows)} day(s) with edits match the filters; a trend needs at least 3.")
    daily = {row[0].date().isoformat(): RatioMoments(int(row[1]), *(float(v) for v in row[2:])) for row in rows}
    return proxy_trend(daily, alpha=alpha, test=test)
