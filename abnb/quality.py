"""Model quality from production telemetry: the feedback estimators of :mod:`abnb.feedback` run on the database.

Each function takes a connection and optional filters on the served request (``start`` inclusive and ``end``
exclusive on ``predictions.ts``, ``model_version``, ``segment``), aggregates in DuckDB and hands the few
aggregated rows to the matching pure estimator. Table and column names come from ``schema``
(:class:`abnb.telemetry.ModelTelemetry`, the sample's names by default; in a project
``abnb.find_project().model_telemetry()``). Queries are SQLGlot trees with quoted identifiers; every filter value
and threshold is a bound parameter. Only :func:`labelled_precision_recall` fetches rows, and only those of the
labelled sample (bounded by ``max_rows``), because its bootstrap needs them.

| quality | function | feedback estimator |
| --- | --- | --- |
| precision/recall from sampled labels | :func:`labelled_precision_recall` | ``sampled_precision_recall`` |
| recall from user corrections | :func:`recall_from_user_corrections` | ``recall_from_corrections`` |
| satisfaction from biased ratings | :func:`satisfaction` | ``corrected_rating`` |
| fare error with delayed truth | :func:`fare_quality` | ``realised_error`` + completeness curve |
| label-free precision from scores | :func:`label_free_quality` | CBPE from score sums |
| edits as a weak proxy | :func:`edit_rate` | ``proxy_trend`` |

:func:`naive_vs_corrected` puts the naive and the corrected numbers of these results side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from abnb._display import format_value, html_table
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
from abnb.stats import check_alpha
from abnb.stats.ratio import RatioMoments
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import exp

    from abnb.engine import BaseConnection, Connection, QueryResult
    from abnb.telemetry import Predictions

__all__ = [
    "FareQualityResult",
    "edit_rate",
    "fare_quality",
    "label_free_quality",
    "labelled_precision_recall",
    "naive_vs_corrected",
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


def _filters(
    predictions: Predictions, start: object, end: object, model_version: object, segment: object
) -> tuple[list[exp.Expression], dict[str, Any]]:
    """SQL conditions on the predictions alias ``p`` and their bound values."""
    from sqlglot import exp

    conditions: list[exp.Expression] = []
    params: dict[str, Any] = {}
    if start is not None:
        params["start"] = _moment(start, "start")
        conditions.append(exp.GTE(this=predictions.column("ts", "p"), expression=exp.Placeholder(this="start")))
    if end is not None:
        params["end"] = _moment(end, "end")
        conditions.append(exp.LT(this=predictions.column("ts", "p"), expression=exp.Placeholder(this="end")))
    if "start" in params and "end" in params and params["start"] >= params["end"]:
        raise ParameterError(f"start ({params['start']}) must be before end ({params['end']}).")
    for name, value in (("model_version", model_version), ("segment", segment)):
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ParameterError(f"{name} must be a non-empty string, got {value!r}.")
        conditions.append(exp.EQ(this=predictions.column(name, "p"), expression=exp.Placeholder(this=name)))
        params[name] = value
    return conditions, params


def _where(query: exp.Select, conditions: Sequence[exp.Expression]) -> exp.Select:
    """``query`` with the conjunction of ``conditions`` (copied) as its WHERE clause, if there are any."""
    from sqlglot import exp

    return query.where(exp.and_(*[c.copy() for c in conditions])) if conditions else query


def _is_not_null(value: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Not(this=exp.Is(this=value, expression=exp.Null()))


def _coalesce0(value: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])


def _named(value: exp.Expression, name: str) -> exp.Alias:
    from sqlglot import exp

    return exp.Alias(this=value, alias=exp.to_identifier(name, quoted=True))


def _day(predictions: Predictions) -> exp.Expression:
    """``date_trunc('day', p.ts)``: the request's day."""
    from sqlglot import exp

    return exp.TimestampTrunc(this=predictions.column("ts", "p"), unit=exp.Var(this="DAY"))


def _joined(schema: ModelTelemetry, key: str, alias: str, select: Sequence[exp.Expression]) -> exp.Select:
    """``SELECT <select> FROM <key table> AS <alias> JOIN predictions AS p ON p.request_id = <alias>.request_id``."""
    from sqlglot import exp

    table = schema.table(key)
    on = exp.EQ(this=schema.predictions.column("request_id", "p"), expression=table.column("request_id", alias))
    return exp.select(*select).from_(table.expr(alias)).join(schema.predictions.expr("p"), on=on)


def _run(
    con: BaseConnection, query: exp.Expression, params: Mapping[str, Any], schema: ModelTelemetry, *keys: str
) -> QueryResult:
    """Run a query over the model tables ``keys``; a missing table or column names its ``[model]`` setting."""
    with schema.reading(con, *keys):
        return con.run(query, params)


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
    schema: ModelTelemetry | None = None,
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
        schema: Names of the model-telemetry tables and columns (default: the sample's).

    Returns:
        The weighted precision and recall with intervals, and the naive (unweighted) ones for comparison.

    Raises:
        DataError: No labelled rows match the filters, or more than ``max_rows`` do.
        ParameterError: A filter has the wrong type.

    References:
        D. G. Horvitz, D. J. Thompson (1952), JASA 47; C.-E. Särndal, B. Swensson, J. Wretman (1992), "Model
        Assisted Survey Sampling", §5.7 (Hájek ratio).
    """
    from sqlglot import exp

    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ParameterError(f"max_rows must be a positive whole number, got {max_rows!r}.")
    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    p, lab = schema.predictions, schema.labels
    conditions, params = _filters(p, start, end, model_version, segment)
    conditions.append(_is_not_null(p.column("prediction", "p")))
    params["limit"] = max_rows + 1
    query = _joined(
        schema,
        "labels",
        "l",
        [p.aliased("prediction", "p"), lab.aliased("label", "l"), lab.aliased("inclusion_prob", "l")],
    )
    query = _where(query, conditions).order_by(lab.column("request_id", "l")).limit(exp.Placeholder(this="limit"))
    rows = _run(con, query, params, schema, "labels", "predictions").rows
    if len(rows) > max_rows:
        raise DataError(
            f"more than {max_rows:,} labelled requests match the filters; narrow the window or raise max_rows."
        )
    if not rows:
        raise DataError(f"no labelled requests match the filters (table {lab.table!r} joined to {p.table!r}).")
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
    schema: ModelTelemetry | None = None,
) -> RecallFromCorrectionsResult:
    """Recall of the filter from user corrections (reported misses) and the labelled sample (caught positives).

    Construction: the misses come from ``corrections`` (a user reports a false negative with the audited
    probability ``r``), counted by the window of the request they correct: ``C`` corrections give
    ``M̂ = C/r`` misses. The positives the filter caught are not logged as such, so their number comes from the
    labelled sample as the Horvitz–Thompson total ``T̂ = Σ_{ŷ=1, y=1} 1/π``. Then
    :func:`abnb.feedback.recall_from_corrections` gives ``recall = T̂ / (T̂ + C/r)``. Its delta-method variance
    treats ``TP`` as a Poisson count (``Var = TP``); a sampled total varies more, so the ``TP`` term is replaced
    by the Horvitz–Thompson variance under a Poisson population, ``Var(T̂) = Σ_{ŷ=1, y=1} 1/π²`` (passed as its
    ``true_positives_variance``):

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
        schema: Names of the model-telemetry tables and columns (default: the sample's).

    Returns:
        The recall with its interval; ``true_positives_found`` holds ``T̂``.

    Raises:
        DataError: The window holds neither labelled true positives nor corrections.
        ParameterError: A rate or filter is invalid.

    References:
        G. Casella, R. L. Berger (2002), "Statistical Inference", §5.5.4 (delta method); Horvitz, Thompson (1952).
    """
    from sqlglot import exp

    alpha = check_alpha(alpha)
    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    p, lab = schema.predictions, schema.labels
    conditions, params = _filters(p, start, end, model_version, segment)
    one = exp.Literal.number(1)
    tp_conditions = [
        *conditions,
        exp.EQ(this=p.column("prediction", "p"), expression=one.copy()),
        exp.EQ(this=lab.column("label", "l"), expression=one.copy()),
    ]
    pi = lab.column("inclusion_prob", "l")
    weight = exp.Div(this=exp.Literal.number("1.0"), expression=pi.copy())
    weight_sq = exp.Div(
        this=exp.Literal.number("1.0"), expression=exp.Paren(this=exp.Mul(this=pi.copy(), expression=pi.copy()))
    )

    def total(value: exp.Expression) -> exp.Expression:
        return exp.Subquery(
            this=_where(_joined(schema, "labels", "l", [_coalesce0(exp.Sum(this=value))]), tp_conditions)
        )

    reports = _where(_joined(schema, "corrections", "c", [exp.Count(this=exp.Star())]), conditions)
    query = exp.select(
        _named(total(weight), "tp_total"),
        _named(total(weight_sq), "tp_variance"),
        _named(exp.Subquery(this=reports), "corrections"),
    )
    tp, tp_var, corrections = _run(con, query, params, schema, "labels", "corrections", "predictions").rows[0]
    tp, tp_var, corrections = float(tp), float(tp_var), int(corrections)
    if tp + corrections == 0:
        raise DataError("no labelled true positives and no corrections match the filters; recall is undefined.")
    base = recall_from_corrections(
        tp,
        corrections,
        reporting_rate,
        reporting_rate_se=reporting_rate_se,
        alpha=alpha,
        true_positives_variance=tp_var,
    )
    return replace(
        base,
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
    schema: ModelTelemetry | None = None,
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
        schema: Names of the model-telemetry tables and columns (default: the sample's).

    Returns:
        The corrected and the naive mean rating.

    Raises:
        DataError: A rating level in the data has no response rate.
        ParameterError: The rates or filters are invalid, or there are no ratings.

    References:
        R. J. A. Little, D. B. Rubin (2019), "Statistical Analysis with Missing Data", 3rd ed., §3.3.
    """
    from sqlglot import exp

    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    ratings = schema.ratings
    conditions, params = _filters(schema.predictions, start, end, model_version, segment)
    query = _where(
        _joined(
            schema, "ratings", "r", [ratings.aliased("rating", "r"), _named(exp.Count(this=exp.Star()), "responses")]
        ),
        conditions,
    )
    query = query.group_by(ratings.column("rating", "r")).order_by(ratings.column("rating", "r"))
    rows = _run(con, query, params, schema, "ratings", "predictions").rows
    observed = {float(level): int(count) for level, count in rows if level is not None}
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

    def _setting(self) -> dict[str, Any]:
        return {
            "naive_mae": self.naive_mae,
            "naive_completeness": self.naive_completeness,
            "error": self.error,
            "as_of": self.as_of,
            "window_days": self.window_days,
            "method": self.method,
        }

    def to_dict(self) -> dict[str, Any]:
        """The realised error's fields (``mae``, ``rmse`` as dictionaries) with the naive values and the setting."""
        return {**{k: v for k, v in self.realised.to_dict().items() if k != "method"}, **self._setting()}

    def to_frame(self) -> pd.DataFrame:
        """One row: realised MAE/RMSE with intervals (``mae_estimate``, ``mae_ci_low``, …), naive values, setting."""
        return self.realised.to_frame().drop(columns="method").assign(**self._setting())

    def _repr_html_(self) -> str:
        realised = [(f.name, getattr(self.realised, f.name)) for f in fields(self.realised) if f.name != "method"]
        rows = [*realised, *self._setting().items()]
        return html_table([(k, format_value(v)) for k, v in rows], "abnb-quality")

    def __repr__(self) -> str:
        r = self.realised
        return (
            f"FareQualityResult(mae={r.mae}, rmse={r.rmse.estimate:.4g}, "
            f"naive_mae={self.naive_mae:.4g}, cohorts={r.cohorts}, excluded={r.excluded_cohorts}, "
            f"completeness={r.completeness:.4g}, error={self.error!r})"
        )


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
    schema: ModelTelemetry | None = None,
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
        schema: Names of the model-telemetry tables and columns (default: the sample's).

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
    from sqlglot import exp

    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    p, fares = schema.predictions, schema.fares
    cutoff = _moment(as_of, "as_of")
    conditions, params = _filters(p, start, end, model_version, segment)
    conditions += [
        _is_not_null(p.column("fare_predicted", "p")),
        exp.LTE(this=p.column("ts", "p"), expression=exp.Placeholder(this="as_of")),
    ]
    params["as_of"] = cutoff
    difference = exp.Paren(
        this=exp.Sub(this=p.column("fare_predicted", "p"), expression=fares.column("fare_actual", "f"))
    )
    e: exp.Expression = (
        exp.Div(
            this=difference,
            expression=exp.Nullif(this=fares.column("fare_actual", "f"), expression=exp.Literal.number(0)),
        )
        if error == "relative"
        else difference
    )
    arrived = exp.and_(
        exp.EQ(this=fares.column("request_id", "f"), expression=p.column("request_id", "p")),
        exp.LTE(this=fares.column("ts", "f"), expression=exp.Placeholder(this="as_of")),
    )

    def source(*select: exp.Expression) -> exp.Select:
        query = exp.select(*select).from_(p.expr("p")).join(fares.expr("f"), on=arrived.copy(), join_type="left")
        positions = exp.Literal.number(1)
        return _where(query, conditions).group_by(positions).order_by(positions.copy())

    daily_query = source(
        _named(_day(p), "day"),
        _named(exp.Count(this=exp.Star()), "predictions"),
        _named(exp.Count(this=e.copy()), "labels"),
        _named(_coalesce0(exp.Sum(this=exp.Abs(this=e.copy()))), "abs_error_sum"),
        _named(
            _coalesce0(exp.Sum(this=exp.Mul(this=exp.Paren(this=e.copy()), expression=exp.Paren(this=e.copy())))),
            "sq_error_sum",
        ),
    )
    daily_rows = _run(con, daily_query, params, schema, "predictions", "fares")
    daily = pd.DataFrame(daily_rows.rows, columns=list(daily_rows.columns))
    if daily.empty or int(daily["labels"].sum()) == 0:
        raise DataError("no fares have arrived for the fare predictions that match the filters.")
    realised = realised_error(daily, as_of=cutoff, window_days=float(window_days), alpha=alpha)
    params["day_us"] = _DAY_US
    age = exp.IntDiv(
        this=exp.Paren(
            this=exp.Sub(
                this=exp.UnixMicros(
                    this=exp.Cast(this=exp.Placeholder(this="as_of"), to=exp.DataType.build("TIMESTAMP"))
                ),
                expression=exp.UnixMicros(this=p.column("ts", "p")),
            )
        ),
        expression=exp.Placeholder(this="day_us"),
    )
    curve_query = source(
        _named(age, "age_days"),
        _named(exp.Count(this=exp.Star()), "predictions"),
        _named(exp.Count(this=fares.column("request_id", "f")), "labelled"),
    )
    curve = _run(con, curve_query, params, schema, "predictions", "fares").rows
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
    schema: ModelTelemetry | None = None,
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
        schema: Names of the model-telemetry tables and columns (default: the sample's).

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
    from sqlglot import exp

    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    p = schema.predictions
    conditions, params = _filters(p, start, end, model_version, segment)
    conditions.append(_is_not_null(p.column("score", "p")))
    params["threshold"] = float(threshold)

    def score() -> exp.Column:
        return p.column("score", "p")

    def where(aggregate: exp.Expression, condition: exp.Expression | exp.Condition) -> exp.Expression:
        return exp.Filter(this=aggregate, expression=exp.Where(this=condition))

    above = exp.GTE(this=score(), expression=exp.Placeholder(this="threshold"))
    below = exp.LT(this=score(), expression=exp.Placeholder(this="threshold"))
    outside = exp.or_(
        exp.LT(this=score(), expression=exp.Literal.number(0)), exp.GT(this=score(), expression=exp.Literal.number(1))
    )
    query = exp.select(
        _named(exp.Count(this=exp.Star()), "n"),
        _named(where(exp.Count(this=exp.Star()), above.copy()), "positives"),
        _named(_coalesce0(where(exp.Sum(this=score()), above.copy())), "tp"),
        _named(_coalesce0(exp.Sum(this=score())), "score_sum"),
        _named(_coalesce0(where(exp.Sum(this=exp.Sub(this=exp.Literal.number(1), expression=score())), below)), "tn"),
        _named(where(exp.Count(this=exp.Star()), outside), "invalid"),
    ).from_(p.expr("p"))
    query = _where(query, conditions)
    n, positives, tp, score_sum, tn, invalid = _run(con, query, params, schema, "predictions").rows[0]
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
    schema: ModelTelemetry | None = None,
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
        schema: Names of the model-telemetry tables and columns (default: the sample's).

    Returns:
        Daily ratios with intervals, the trend test and its interpretation.

    Raises:
        DataError: Fewer than 3 days with edits match the filters.
        ParameterError: A filter or ``test`` is invalid.

    References:
        H. B. Mann (1945), Econometrica 13; A. Deng et al. (2018), KDD (delta method for ratios).
    """
    from sqlglot import exp

    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    edits = schema.edits
    conditions, params = _filters(schema.predictions, start, end, model_version, segment)

    def dbl(name: str) -> exp.Expression:
        return exp.Cast(this=edits.column(name, "e"), to=exp.DataType.build("DOUBLE"))

    def product(a: str, b: str) -> exp.Expression:
        return exp.Sum(this=exp.Mul(this=dbl(a), expression=edits.column(b, "e")))

    query = _joined(
        schema,
        "edits",
        "e",
        [
            _named(_day(schema.predictions), "day"),
            _named(exp.Count(this=exp.Star()), "n"),
            _named(exp.Sum(this=dbl("edit_chars")), "y_sum"),
            _named(product("edit_chars", "edit_chars"), "y_sum_sq"),
            _named(exp.Sum(this=dbl("transcript_chars")), "d_sum"),
            _named(product("transcript_chars", "transcript_chars"), "d_sum_sq"),
            _named(product("edit_chars", "transcript_chars"), "yd_sum"),
        ],
    )
    first = exp.Literal.number(1)
    query = _where(query, conditions).group_by(first).order_by(first.copy())
    rows = _run(con, query, params, schema, "edits", "predictions").rows
    if len(rows) < 3:
        raise DataError(f"only {len(rows)} day(s) with edits match the filters; a trend needs at least 3.")
    daily = {row[0].date().isoformat(): RatioMoments(int(row[1]), *(float(v) for v in row[2:])) for row in rows}
    return proxy_trend(daily, alpha=alpha, test=test)


# --------------------------------------------------------------------------------------------------------------
# naive versus corrected
# --------------------------------------------------------------------------------------------------------------


def _naive_and_corrected(estimate: object, quantity: str) -> tuple[float, float, float | None, float | None]:
    """The naive value, the corrected one and its interval (``None`` when it has none) of one quantity."""
    if isinstance(estimate, PrecisionRecallResult) and quantity in ("precision", "recall"):
        naive = estimate.naive_precision if quantity == "precision" else estimate.naive_recall
        corrected = estimate.precision if quantity == "precision" else estimate.recall
        return naive, corrected.estimate, corrected.ci_low, corrected.ci_high
    if isinstance(estimate, RecallFromCorrectionsResult) and quantity == "recall":
        found = estimate.true_positives_found
        return found / (found + estimate.corrections), estimate.recall, estimate.ci_low, estimate.ci_high
    if isinstance(estimate, CorrectedRatingResult) and quantity == "mean":
        return estimate.naive_mean, estimate.mean, estimate.ci_low, estimate.ci_high
    if isinstance(estimate, FareQualityResult) and quantity == "mae":
        realised = estimate.realised
        return estimate.naive_mae, realised.mae.estimate, realised.mae.ci_low, realised.mae.ci_high
    if isinstance(estimate, FareQualityResult) and quantity == "completeness":
        return estimate.naive_completeness, estimate.realised.completeness, None, None
    raise ParameterError(
        f"cannot compare the {quantity!r} of a {type(estimate).__name__}; see naive_vs_corrected for the pairs."
    )


def naive_vs_corrected(rows: Sequence[tuple[str, object, str, float | None]]) -> pd.DataFrame:
    """The naive and the design-corrected estimate of each quality side by side, with the truth where it is known.

    Args:
        rows: ``(label, estimate, quantity, truth)`` per row. ``quantity`` names the number of ``estimate``:
            ``"precision"`` or ``"recall"`` of a :class:`~abnb.feedback.PrecisionRecallResult` (naive: unweighted);
            ``"recall"`` of a :class:`~abnb.feedback.RecallFromCorrectionsResult` (naive: ``TP / (TP + C)``, every
            correction one miss, as if every user reported every miss); ``"mean"`` of a
            :class:`~abnb.feedback.CorrectedRatingResult`; ``"mae"`` or ``"completeness"`` of a
            :class:`FareQualityResult` (naive: over every arrived fare; corrected: over the matured cohorts, the
            completeness without an interval). ``truth`` is the known value, or ``None``.

    Returns:
        One row per entry: ``quality``, ``naive``, ``corrected``, ``ci_low``, ``ci_high``, ``truth``.

    Raises:
        ParameterError: A quantity that the estimate does not have.
    """
    import pandas as pd

    records = []
    for label, estimate, quantity, truth in rows:
        naive, corrected, low, high = _naive_and_corrected(estimate, quantity)
        records.append(
            {"quality": label, "naive": naive, "corrected": corrected, "ci_low": low, "ci_high": high, "truth": truth}
        )
    return pd.DataFrame(records)
