"""Estimators for sparse, delayed, sampled, biased and proxy feedback from production.

Every function here is pure (no database access): it takes arrays or small aggregated frames that the SQL layer
produced, and returns a frozen result whose ``method`` names the formula. The patterns:

| feedback pattern | estimator |
| --- | --- |
| sampled manual labels with inclusion probability π | :func:`sampled_precision_recall` (Hájek, bootstrap CI) |
| user corrections as mistakes, audited reporting rate | :func:`recall_from_corrections` (delta method) |
| sparse ratings with a response bias | :func:`corrected_rating` (inverse response-rate weighting) |
| delayed labels | :func:`completeness_curve`, :func:`label_maturity`, :func:`matured_cohorts`, :func:`realised_error` |
| no labels, calibrated scores | :func:`cbpe` (confidence-based performance estimation) |
| weak proxy | :func:`proxy_trend` (trend only) |

Engineering levers: :func:`hash_sample`, :func:`oversample_weights`, :func:`pseudonymise`,
:func:`suppress_small_cells`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb._display import FlatResult, html_table
from abnb.errors import DataError, ParameterError, SchemaError
from abnb.stats import IntervalEstimate, check_alpha
from abnb.stats.ratio import RatioMoments

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CbpeResult",
    "CorrectedRatingResult",
    "LabelMaturityResult",
    "OversampleWeights",
    "PrecisionRecallResult",
    "ProxyTrendResult",
    "RealisedErrorResult",
    "RecallFromCorrectionsResult",
    "cbpe",
    "completeness_curve",
    "corrected_rating",
    "hash_sample",
    "label_maturity",
    "matured_cohorts",
    "oversample_weights",
    "proxy_trend",
    "pseudonymise",
    "realised_error",
    "recall_from_corrections",
    "sampled_precision_recall",
    "suppress_small_cells",
]


class _Result(FlatResult):
    """Shared presentation of the result dataclasses in this module (sub-results shown as ``estimate [low, high]``)."""

    method: str

    def _repr_html_(self) -> str:
        return html_table([(k, _short(v)) for k, v in self._public_items().items()], "abnb-feedback")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self._public_items().items() if not isinstance(v, tuple))
        return f"{type(self).__name__}({shown})"


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple) and len(value) > 6:
        return f"({len(value)} values)"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _z(alpha: float) -> float:
    from scipy import special

    return float(-special.ndtri(alpha / 2.0))


def _array(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numbers, got {values!r:.80}.") from exc
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values; drop or impute them first.")
    return arr


def _binary(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    arr = _array(values, name)
    if not np.all((arr == 0) | (arr == 1)):
        raise DataError(f"{name} must hold 0/1 (or False/True) values only.")
    return arr.astype(bool)


# --------------------------------------------------------------------------------------------------------------
# 1. sampled manual labels
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PrecisionRecallResult(_Result):
    """Precision and recall of a binary classifier from a labelled probability sample.

    Attributes:
        precision: Hájek estimate ``Σ w·1[ŷ=1, y=1] / Σ w·1[ŷ=1]`` with its bootstrap percentile interval.
        recall: Hájek estimate ``Σ w·1[ŷ=1, y=1] / Σ w·1[y=1]`` with its bootstrap percentile interval.
        naive_precision: Unweighted precision of the sample (biased when π depends on the prediction).
        naive_recall: Unweighted recall of the sample (biased when π depends on the prediction).
        true_positives_total: Horvitz–Thompson total of true positives in the population, ``Σ w·1[ŷ=1, y=1]``.
        predicted_positives_total: Horvitz–Thompson total of predicted positives, ``Σ w·1[ŷ=1]``.
        positives_total: Horvitz–Thompson total of actual positives, ``Σ w·1[y=1]``.
        n_sampled: Labelled units in the sample.
        n_boot: Bootstrap resamples.
        alpha: Significance level of the intervals.
        method: The formulas used.
    """

    precision: IntervalEstimate
    recall: IntervalEstimate
    naive_precision: float
    naive_recall: float
    true_positives_total: float
    predicted_positives_total: float
    positives_total: float
    n_sampled: int
    n_boot: int
    alpha: float
    method: str


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def sampled_precision_recall(
    predicted: ArrayLike,
    label: ArrayLike,
    inclusion_prob: ArrayLike,
    *,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
) -> PrecisionRecallResult:
    """Precision and recall from manually labelled production samples with known inclusion probabilities.

    Each sampled unit ``i`` was drawn with probability ``π_i`` and gets the weight ``w_i = 1/π_i``. The
    Horvitz–Thompson totals ``T̂_tp = Σ w·1[ŷ=1, y=1]``, ``T̂_pp = Σ w·1[ŷ=1]``, ``T̂_p = Σ w·1[y=1]`` are
    unbiased for the population counts; their ratios (the Hájek estimators) give

        precision = T̂_tp / T̂_pp,        recall = T̂_tp / T̂_p,

    which are consistent (ratio-estimator bias O(1/n)). The unweighted sample ratios are also returned: they
    are biased whenever π depends on the prediction or the label (e.g. flagged items oversampled). The interval
    is the bootstrap percentile interval over units (resampling labelled units with replacement, weights
    attached — the with-replacement approximation of the sampling design).

    Args:
        predicted: 0/1 prediction per sampled unit.
        label: 0/1 manual label per sampled unit.
        inclusion_prob: Inclusion probability π of each unit in the labelled sample, in (0, 1].
        alpha: Significance level; the intervals have coverage ``1 − alpha``.
        n_boot: Number of bootstrap resamples (at least 100).
        seed: Seed of the resampling generator (results are reproducible).

    Returns:
        The estimates, intervals, HT totals and naive estimates.

    Raises:
        DataError: If the arrays are not 0/1, of different lengths, empty, or π is outside (0, 1].
        ParameterError: If ``alpha`` or ``n_boot`` is invalid.

    References:
        D. G. Horvitz, D. J. Thompson (1952), "A generalization of sampling without replacement from a finite
        universe", JASA 47; J. Hájek (1971), comment in "Foundations of Statistical Inference";
        C.-E. Särndal, B. Swensson, J. Wretman (1992), "Model Assisted Survey Sampling", ch. 5.7.
    """
    alpha = check_alpha(alpha)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ParameterError(f"n_boot must be a whole number >= 100, got {n_boot!r}.")
    pred = _binary(predicted, "predicted")
    lab = _binary(label, "label")
    pi = _array(inclusion_prob, "inclusion_prob")
    if not pred.size == lab.size == pi.size:
        raise DataError(
            f"predicted ({pred.size}), label ({lab.size}) and inclusion_prob ({pi.size}) must have one value per "
            "sampled unit."
        )
    if pred.size == 0:
        raise DataError("the labelled sample is empty.")
    if np.any(pi <= 0) or np.any(pi > 1):
        raise DataError("inclusion_prob must lie in (0, 1]; a unit with π = 0 could not have been sampled.")
    w = 1.0 / pi
    columns = np.stack([w * (pred & lab), w * pred, w * lab], axis=1)  # (n, 3)
    tp, pp, p = (float(v) for v in columns.sum(axis=0))

    rng = np.random.default_rng(seed)
    n = pred.size
    boot = np.empty((n_boot, 3))
    chunk = max(1, min(n_boot, 2_000_000 // n))
    uniform = np.full(n, 1.0 / n)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        counts = rng.multinomial(n, uniform, size=stop - start).astype(float)  # resample counts per unit
        boot[start:stop] = counts @ columns
    with np.errstate(invalid="ignore", divide="ignore"):
        b_prec = boot[:, 0] / boot[:, 1]
        b_rec = boot[:, 0] / boot[:, 2]
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    prec_lo, prec_hi = (float(v) for v in np.nanpercentile(b_prec, q))
    rec_lo, rec_hi = (float(v) for v in np.nanpercentile(b_rec, q))
    percentile = "Hájek ratio estimator; bootstrap percentile CI over units"
    return PrecisionRecallResult(
        precision=IntervalEstimate(_ratio(tp, pp), prec_lo, prec_hi, percentile),
        recall=IntervalEstimate(_ratio(tp, p), rec_lo, rec_hi, percentile),
        naive_precision=_ratio(float(np.sum(pred & lab)), float(np.sum(pred))),
        naive_recall=_ratio(float(np.sum(pred & lab)), float(np.sum(lab))),
        true_positives_total=tp,
        predicted_positives_total=pp,
        positives_total=p,
        n_sampled=int(n),
        n_boot=n_boot,
        alpha=alpha,
        method="Hájek ratio estimators with weights 1/π (Horvitz–Thompson totals); bootstrap percentile CI over units",
    )


# --------------------------------------------------------------------------------------------------------------
# 2. user corrections as mistakes
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RecallFromCorrectionsResult(_Result):
    """Recall estimated from user corrections with an audited reporting rate.

    Attributes:
        recall: ``TP / (TP + C/r)``.
        se: Delta-method standard error (Poisson counts, plus the uncertainty of ``r``).
        ci_low: Lower bound of the ``1 − alpha`` interval, clipped at 0.
        ci_high: Upper bound, clipped at 1.
        estimated_misses: ``C / r``, the false negatives including the unreported ones.
        true_positives_found: ``TP``.
        corrections: ``C``, the corrections users reported.
        reporting_rate: ``r``, the audited share of misses users report.
        reporting_rate_se: Standard error of ``r`` from the audit.
        alpha: Significance level.
        method: The formulas used.
    """

    recall: float
    se: float
    ci_low: float
    ci_high: float
    estimated_misses: float
    true_positives_found: float
    corrections: float
    reporting_rate: float
    reporting_rate_se: float
    alpha: float
    method: str


def _nonneg(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a non-negative number, got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ParameterError(f"{name} must be a non-negative finite number, got {value!r}.")
    return number


def recall_from_corrections(
    true_positives_found: float,
    corrections: float,
    reporting_rate: float,
    *,
    reporting_rate_se: float = 0.0,
    alpha: float = 0.05,
    true_positives_variance: float | None = None,
) -> RecallFromCorrectionsResult:
    """Recall when misses are seen only through user corrections, reported at an audited rate ``r``.

    With ``TP`` true positives found and ``C`` corrections (a reported miss each), the misses are estimated as
    ``M̂ = C / r`` and

        recall = TP / (TP + C/r) = TP / D.

    The delta method treats ``TP`` and ``C`` as independent Poisson counts (``Var = TP`` and ``C``; thinning a
    Poisson number of misses by reporting keeps ``C`` Poisson) and ``r`` as independent with standard error
    ``s_r``:

        Var = (M̂/D²)²·V_TP + (TP/(r·D²))²·C + (TP·C/(r²·D²))²·s_r²,   V_TP = Var(TP) = TP (Poisson).

    With ``r = 1`` and ``s_r = 0`` this is the binomial ``R(1−R)/D``. When ``TP`` is itself estimated (e.g. a
    Horvitz–Thompson total from a labelled sample), pass its variance as ``true_positives_variance`` to use it as
    ``V_TP`` instead of the Poisson ``TP``.

    Args:
        true_positives_found: Positives the system caught (``TP``).
        corrections: Misses users reported (``C``).
        reporting_rate: Share of misses users report, from an audit, in (0, 1].
        reporting_rate_se: Standard error of ``reporting_rate`` (e.g. ``sqrt(r(1−r)/n_audit)``).
        alpha: Significance level of the interval.
        true_positives_variance: Variance of ``TP`` when it is an estimate (``None``: Poisson, ``Var = TP``).

    Returns:
        The recall with its interval.

    Raises:
        ParameterError: If a count is negative, ``r`` is outside (0, 1], or ``TP + C`` is 0.

    References:
        G. Casella, R. L. Berger (2002), "Statistical Inference", §5.5.4 (delta method); the corrections-as-
        telemetry pattern follows C. Kästner's lecture "Quality Assessment in Production" (CMU 17-445).
    """
    alpha = check_alpha(alpha)
    tp = _nonneg(true_positives_found, "true_positives_found")
    c = _nonneg(corrections, "corrections")
    r = _nonneg(reporting_rate, "reporting_rate")
    s_r = _nonneg(reporting_rate_se, "reporting_rate_se")
    tp_var = tp if true_positives_variance is None else _nonneg(true_positives_variance, "true_positives_variance")
    if not 0 < r <= 1:
        raise ParameterError(f"reporting_rate must lie in (0, 1], got {reporting_rate!r}.")
    if tp + c == 0:
        raise ParameterError("true_positives_found and corrections are both 0; recall is undefined.")
    misses = c / r
    d = tp + misses
    recall = tp / d
    var = (misses / d**2) ** 2 * tp_var + (tp / (r * d**2)) ** 2 * c + (tp * c / (r**2 * d**2)) ** 2 * s_r**2
    se = math.sqrt(var)
    z = _z(alpha)
    return RecallFromCorrectionsResult(
        recall=recall,
        se=se,
        ci_low=max(0.0, recall - z * se),
        ci_high=min(1.0, recall + z * se),
        estimated_misses=misses,
        true_positives_found=tp,
        corrections=c,
        reporting_rate=r,
        reporting_rate_se=s_r,
        alpha=alpha,
        method="recall = TP/(TP + C/r); delta-method CI with "
        + ("Poisson TP and C" if true_positives_variance is None else "the given Var(TP), Poisson C")
        + " and the audit SE of r",
    )


# --------------------------------------------------------------------------------------------------------------
# 3. ratings with a response bias
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CorrectedRatingResult(_Result):
    """Mean rating corrected for level-dependent response rates.

    Attributes:
        mean: Inverse-response-rate weighted mean ``Σ v_k·c_k/ρ_k / Σ c_k/ρ_k``.
        se: Delta-method standard error of ``mean``.
        ci_low: Lower bound of the interval.
        ci_high: Upper bound of the interval.
        naive_mean: Mean of the responses, ``Σ v_k·c_k / Σ c_k``.
        naive_se: Standard error of ``naive_mean`` (``sd / sqrt(n)``).
        responses: Number of ratings given, ``Σ c_k``.
        estimated_population: Estimated number of rateable events, ``Σ c_k/ρ_k``.
        levels: Rating values ``v_k``.
        alpha: Significance level.
        method: The formulas used.
    """

    mean: float
    se: float
    ci_low: float
    ci_high: float
    naive_mean: float
    naive_se: float
    responses: int
    estimated_population: float
    levels: tuple[float, ...]
    alpha: float
    method: str


def corrected_rating(
    ratings_counts: Mapping[float, float] | Sequence[float],
    response_rates: Mapping[float, float] | Sequence[float],
    *,
    response_rate_se: Mapping[float, float] | Sequence[float] | None = None,
    alpha: float = 0.05,
) -> CorrectedRatingResult:
    """Mean satisfaction corrected for response bias by inverse-probability weighting per rating level.

    When an unhappy caller is more likely to answer the prompt, the mean of the responses is biased low. If the
    response rate ``ρ_k`` of each rating level ``v_k`` is known (from a follow-up survey of non-responders or an
    experiment that asked everyone), the count of events at each level is estimated as ``N̂_k = c_k/ρ_k`` and

        mean = Σ v_k·N̂_k / Σ N̂_k.

    Responses are Poisson samples with inclusion probability ``ρ_k`` (each event answers independently), so
    ``Var(N̂_k) = c_k(1−ρ_k)/ρ_k²`` (the HT variance estimator), and with ``N̂ = Σ N̂_k`` the delta method gives

        Var(mean) = Σ ((v_k − mean)/N̂)² · (c_k(1−ρ_k)/ρ_k² + (c_k/ρ_k²)²·s_k²),

    where ``s_k`` is the optional standard error of ``ρ_k``.

    Args:
        ratings_counts: Responses per rating level, as ``{level: count}`` or a sequence for levels 1, 2, ….
        response_rates: Response rate ``ρ_k`` per level, in (0, 1], with the same keys or order.
        response_rate_se: Optional standard errors of the response rates, same shape.
        alpha: Significance level of the interval.

    Returns:
        The corrected and the naive mean with their standard errors.

    Raises:
        ParameterError: If the levels do not match, a count is negative, a rate is outside (0, 1], or there are
            no responses.

    References:
        D. G. Horvitz, D. J. Thompson (1952), JASA 47; R. J. A. Little, D. B. Rubin (2019), "Statistical Analysis
        with Missing Data", 3rd ed., §3.3 (weighting class adjustments).
    """
    alpha = check_alpha(alpha)

    def as_mapping(values: Mapping[float, float] | Sequence[float], name: str) -> dict[float, float]:
        if isinstance(values, Mapping):
            return {float(k): _nonneg(v, f"{name}[{k}]") for k, v in values.items()}
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise ParameterError(f"{name} must be a mapping {{level: value}} or a sequence, got {values!r}.")
        return {float(i + 1): _nonneg(v, f"{name}[{i}]") for i, v in enumerate(values)}

    counts = as_mapping(ratings_counts, "ratings_counts")
    rates = as_mapping(response_rates, "response_rates")
    ses = (
        as_mapping(response_rate_se, "response_rate_se") if response_rate_se is not None else dict.fromkeys(rates, 0.0)
    )
    if set(counts) != set(rates) or set(ses) != set(rates):
        raise ParameterError(
            f"ratings_counts has levels {sorted(counts)} but response_rates has {sorted(rates)}"
            + ("" if set(ses) == set(rates) else f" and response_rate_se has {sorted(ses)}")
            + "; give one value per rating level."
        )
    levels = sorted(counts)
    v = np.array(levels)
    c = np.array([counts[k] for k in levels])
    rho = np.array([rates[k] for k in levels])
    s = np.array([ses[k] for k in levels])
    if np.any(rho <= 0) or np.any(rho > 1):
        raise ParameterError("response_rates must lie in (0, 1]; a level nobody answers cannot be corrected for.")
    n = float(c.sum())
    if n <= 0:
        raise ParameterError("ratings_counts sum to 0; there are no responses.")
    big_n = c / rho
    total = float(big_n.sum())
    mean = float(np.dot(v, big_n) / total)
    var = float(np.sum(((v - mean) / total) ** 2 * (c * (1 - rho) / rho**2 + (c / rho**2) ** 2 * s**2)))
    naive = float(np.dot(v, c) / n)
    naive_var = float(np.dot(c, (v - naive) ** 2) / (n - 1)) / n if n > 1 else math.nan
    se = math.sqrt(var)
    z = _z(alpha)
    return CorrectedRatingResult(
        mean=mean,
        se=se,
        ci_low=mean - z * se,
        ci_high=mean + z * se,
        naive_mean=naive,
        naive_se=math.sqrt(naive_var),
        responses=round(n),
        estimated_population=total,
        levels=tuple(levels),
        alpha=alpha,
        method="inverse response-rate weighting per rating level (Hájek); delta-method CI, Poisson response model",
    )


# --------------------------------------------------------------------------------------------------------------
# 4. delayed labels
# --------------------------------------------------------------------------------------------------------------


def _timestamps(values: ArrayLike, name: str) -> NDArray[np.datetime64]:
    import pandas as pd

    try:
        out = pd.to_datetime(pd.Series(np.asarray(values)), utc=False)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be timestamps, got {values!r:.80}.") from exc
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.to_numpy(dtype="datetime64[ns]")


def _as_of(value: object) -> Any:
    import pandas as pd

    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"as_of must be a timestamp, got {value!r}.") from exc
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_datetime64().astype("datetime64[ns]")


def _window(window_days: float) -> float:
    days = _nonneg(window_days, "window_days")
    if days <= 0:
        raise ParameterError(f"window_days must be positive, got {window_days!r}.")
    return days


def _prepare_labels(
    prediction_ts: ArrayLike, label_ts: ArrayLike, as_of: object
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Return the age of each prediction in days at ``as_of`` and whether its label had arrived by then."""
    pred = _timestamps(prediction_ts, "prediction_ts")
    lab = _timestamps(label_ts, "label_ts")
    if pred.size != lab.size:
        raise DataError(f"prediction_ts ({pred.size}) and label_ts ({lab.size}) must be aligned, one per prediction.")
    if np.any(np.isnat(pred)):
        raise DataError("prediction_ts contains missing timestamps.")
    cutoff = _as_of(as_of)
    keep = pred <= cutoff
    pred, lab = pred[keep], lab[keep]
    age = (cutoff - pred) / np.timedelta64(1, "D")
    arrived = ~np.isnat(lab) & (lab <= cutoff)
    return age.astype(float), arrived


def completeness_curve(
    prediction_ts: ArrayLike, label_ts: ArrayLike, *, as_of: object, max_age_days: int | None = None
) -> pd.DataFrame:
    """Label completeness by prediction age: the share of predictions of each age whose label has arrived.

    Predictions are binned by whole days of age at ``as_of`` (``floor((as_of − t)/1 day)``); for each age the
    curve reports ``completeness = labelled / predictions``. A curve that plateaus after ``d`` days says that
    labels mature in ``d`` days; the plateau level is the share of predictions that ever get a label.

    Args:
        prediction_ts: Timestamp of each prediction.
        label_ts: Timestamp at which its label arrived (NaT/None when it has not).
        as_of: The moment of analysis; predictions after it are ignored, labels after it count as not arrived.
        max_age_days: Drop ages above this (None keeps all).

    Returns:
        DataFrame with columns ``age_days``, ``predictions``, ``labelled``, ``completeness``.

    Raises:
        DataError: If the timestamps are invalid or misaligned.
    """
    import pandas as pd

    age, arrived = _prepare_labels(prediction_ts, label_ts, as_of)
    days = np.floor(age).astype(int)
    frame = pd.DataFrame({"age_days": days, "labelled": arrived.astype(int)})
    out = frame.groupby("age_days", as_index=False).agg(predictions=("labelled", "size"), labelled=("labelled", "sum"))
    if max_age_days is not None:
        out = out[out["age_days"] <= max_age_days]
    out["completeness"] = out["labelled"] / out["predictions"]
    return out.reset_index(drop=True)


@dataclass(frozen=True, repr=False)
class LabelMaturityResult(_Result):
    """How complete the labels are for predictions older and younger than the maturity window.

    Attributes:
        window_days: The maturity window.
        matured_predictions: Predictions at least ``window_days`` old at ``as_of``.
        matured_labelled: Of those, the ones whose label has arrived.
        matured_completeness: ``matured_labelled / matured_predictions``.
        immature_predictions: Predictions younger than the window (excluded from realised metrics).
        immature_completeness: Label share among them (misleadingly low; never use them for realised error).
        method: The rule used.
    """

    window_days: float
    matured_predictions: int
    matured_labelled: int
    matured_completeness: float
    immature_predictions: int
    immature_completeness: float
    method: str


def label_maturity(
    prediction_ts: ArrayLike, label_ts: ArrayLike, *, as_of: object, window_days: float
) -> LabelMaturityResult:
    """Label completeness of the predictions that are older than the maturity window, and of the rest.

    A prediction has matured when ``as_of − t ≥ window_days``; only matured predictions may enter a realised
    metric, because the labels of younger ones are still arriving (and early labels are often a biased subset,
    e.g. cancelled trips). ``matured_completeness`` well below the curve's plateau means the window is too short.

    Args:
        prediction_ts: Timestamp of each prediction.
        label_ts: Label arrival timestamp per prediction (NaT when none yet).
        as_of: Moment of analysis.
        window_days: Maturity window in days (7 for a fare whose truth is known a week later).

    Returns:
        Counts and completeness on each side of the window.

    Raises:
        DataError: If the timestamps are invalid.
        ParameterError: If ``window_days`` is not positive.
    """
    window = _window(window_days)
    age, arrived = _prepare_labels(prediction_ts, label_ts, as_of)
    matured = age >= window
    n_m, n_i = int(matured.sum()), int((~matured).sum())
    l_m, l_i = int(arrived[matured].sum()), int(arrived[~matured].sum())
    return LabelMaturityResult(
        window_days=window,
        matured_predictions=n_m,
        matured_labelled=l_m,
        matured_completeness=_ratio(l_m, n_m),
        immature_predictions=n_i,
        immature_completeness=_ratio(l_i, n_i),
        method="prediction matured when as_of − prediction time ≥ window; completeness = labels arrived / predictions",
    )


def matured_cohorts(frame: pd.DataFrame, *, as_of: object, window_days: float, day_column: str = "day") -> pd.DataFrame:
    """Keep only the daily cohorts whose every prediction has matured.

    A cohort ``day`` holds predictions made in ``[day, day + 1)``; it has matured when
    ``day + 1 day + window_days ≤ as_of``.

    Args:
        frame: Aggregated frame with one row per prediction day.
        as_of: Moment of analysis.
        window_days: Maturity window in days.
        day_column: Column holding the cohort day.

    Returns:
        The matured rows (a copy), in the original order.

    Raises:
        SchemaError: If ``day_column`` is missing.
        ParameterError: If ``window_days`` is not positive.
    """
    import pandas as pd

    window = _window(window_days)
    if day_column not in frame.columns:
        raise SchemaError(f"frame has no column {day_column!r}; pass day_column= naming the cohort day.")
    days = pd.to_datetime(frame[day_column]).to_numpy(dtype="datetime64[ns]")
    end = days + np.timedelta64(1, "D") + np.timedelta64(round(window * 86_400_000_000_000), "ns")
    mask: NDArray[np.bool_] = np.asarray(end <= _as_of(as_of), dtype=bool)
    return frame.loc[mask].copy()


@dataclass(frozen=True, repr=False)
class RealisedErrorResult(_Result):
    """Realised error of a numeric prediction (e.g. a fare) on matured cohorts only.

    Attributes:
        mae: Mean absolute error ``Σ|e| / n`` with its normal interval.
        rmse: Root mean squared error ``sqrt(Σe² / n)`` with its interval (the square root of the MSE interval).
        labelled: Labelled predictions ``n`` in the matured cohorts.
        predictions: All predictions in the matured cohorts.
        completeness: ``labelled / predictions``.
        cohorts: Matured cohorts used.
        excluded_cohorts: Cohorts dropped because they had not matured.
        alpha: Significance level.
        method: The formulas used.
    """

    mae: IntervalEstimate
    rmse: IntervalEstimate
    labelled: int
    predictions: int
    completeness: float
    cohorts: int
    excluded_cohorts: int
    alpha: float
    method: str


def realised_error(
    daily: pd.DataFrame,
    *,
    as_of: object,
    window_days: float,
    alpha: float = 0.05,
    day_column: str = "day",
    predictions_column: str = "predictions",
    labels_column: str = "labels",
    abs_error_column: str = "abs_error_sum",
    sq_error_column: str = "sq_error_sum",
) -> RealisedErrorResult:
    """MAE and RMSE of a numeric prediction over the matured daily cohorts, with confidence intervals.

    Over the matured cohorts (see :func:`matured_cohorts`) with ``n = Σ labels``, ``A = Σ|e|`` and ``S = Σe²``:
    ``MAE = A/n`` with the unit-level standard error ``sqrt((S/n − MAE²)/(n − 1))`` (exact, since ``|e|² = e²``);
    ``MSE = S/n`` with a standard error from the daily cohorts as clusters (ratio delta method over cohorts
    ``(S_d, n_d)``, which needs no fourth moment and allows day-level correlation), and the RMSE interval is
    the square root of the MSE interval (clipped at 0).

    Args:
        daily: One row per prediction day with predictions, labels arrived, ``Σ|error|`` and ``Σerror²``.
        as_of: Moment of analysis.
        window_days: Maturity window in days.
        alpha: Significance level.
        day_column: Cohort day column.
        predictions_column: Predictions per day.
        labels_column: Labels arrived per day (errors are summed over these).
        abs_error_column: ``Σ|error|`` per day.
        sq_error_column: ``Σerror²`` per day.

    Returns:
        The realised errors with intervals and how much of the data was used.

    Raises:
        SchemaError: If a column is missing.
        DataError: If fewer than 2 matured cohorts or 2 labels remain.

    References:
        A. Deng, U. Knoblich, J. Lu (2018), "Applying the Delta Method in Metric Analytics", KDD (cluster ratio).
    """
    alpha = check_alpha(alpha)
    needed = [day_column, predictions_column, labels_column, abs_error_column, sq_error_column]
    missing = [c for c in needed if c not in daily.columns]
    if missing:
        raise SchemaError(f"daily frame lacks column(s) {missing}; pass the *_column= arguments naming them.")
    matured = matured_cohorts(daily, as_of=as_of, window_days=window_days, day_column=day_column)
    if len(matured) < 2:
        raise DataError(
            f"only {len(matured)} cohort(s) have matured by {as_of} with a {window_days}-day window; "
            "wait, or analyse an earlier period."
        )
    n_d = matured[labels_column].to_numpy(dtype=float)
    a_d = matured[abs_error_column].to_numpy(dtype=float)
    s_d = matured[sq_error_column].to_numpy(dtype=float)
    n = float(n_d.sum())
    if n < 2:
        raise DataError("fewer than 2 labels arrived in the matured cohorts.")
    mae = float(a_d.sum()) / n
    mse = float(s_d.sum()) / n
    z = _z(alpha)
    mae_se = math.sqrt(max(mse - mae**2, 0.0) * n / (n - 1) / n)
    cluster = RatioMoments.from_values(s_d, n_d)
    mse_se = math.sqrt(cluster.ratio_variance)
    mse_lo, mse_hi = max(mse - z * mse_se, 0.0), mse + z * mse_se
    predictions = int(matured[predictions_column].sum())
    return RealisedErrorResult(
        mae=IntervalEstimate(mae, mae - z * mae_se, mae + z * mae_se, "normal CI from Σ|e|, Σe²"),
        rmse=IntervalEstimate(
            math.sqrt(mse),
            math.sqrt(mse_lo),
            math.sqrt(mse_hi),
            "sqrt of the MSE CI by the cohort-cluster delta method",
        ),
        labelled=round(n),
        predictions=predictions,
        completeness=_ratio(n, predictions),
        cohorts=len(matured),
        excluded_cohorts=len(daily) - len(matured),
        alpha=alpha,
        method=(
            "matured cohorts only; MAE normal CI from Σ|e|, Σe²; RMSE = sqrt of the MSE CI by the cohort-cluster delta "
            "method"
        ),
    )


# --------------------------------------------------------------------------------------------------------------
# 5. label-free estimate from calibrated scores
# --------------------------------------------------------------------------------------------------------------

CBPE_ASSUMPTION = (
    "scores are calibrated in production: P(y=1 | score s) = s; breaks under concept drift or a shift that "
    "changes P(y | x)"
)


@dataclass(frozen=True, repr=False)
class CbpeResult(_Result):
    """Expected classification metrics from calibrated scores, without labels.

    Attributes:
        expected_precision: ``Σ_{ŷ=1} s / n_{ŷ=1}``.
        expected_recall: ``Σ_{ŷ=1} s / Σ s``.
        expected_accuracy: ``(Σ_{ŷ=1} s + Σ_{ŷ=0} (1 − s)) / n``.
        n: Scored predictions.
        predicted_positives: ``n_{ŷ=1}``.
        threshold: Decision threshold, ``ŷ = 1[s ≥ threshold]``.
        assumption: The assumption the estimate rests on.
        method: The formulas used.
    """

    expected_precision: float
    expected_recall: float
    expected_accuracy: float
    n: int
    predicted_positives: int
    threshold: float
    assumption: str
    method: str


def cbpe(scores: ArrayLike, *, threshold: float = 0.5) -> CbpeResult:
    """Confidence-based performance estimation (CBPE) for a binary classifier with calibrated scores.

    If the score ``s`` is a calibrated probability, each prediction contributes its expected confusion-matrix
    entries: ``E[TP] = Σ_{ŷ=1} s``, ``E[FP] = Σ_{ŷ=1}(1 − s)``, ``E[FN] = Σ_{ŷ=0} s``, ``E[TN] = Σ_{ŷ=0}(1 − s)``, so

        precision ≈ Σ_{ŷ=1} s / n_{ŷ=1},   recall ≈ Σ_{ŷ=1} s / Σ s,   accuracy ≈ (E[TP] + E[TN]) / n.

    Assumption: calibration holds in production (``P(y=1 | s) = s``). Covariate shift that keeps ``P(y | x)``
    is fine; concept drift or a stale calibration makes the estimate wrong, silently — check it against
    whatever delayed labels arrive.

    Args:
        scores: Calibrated probability of the positive class per prediction, in [0, 1].
        threshold: Decision threshold.

    Returns:
        The expected metrics and the assumption.

    Raises:
        DataError: If scores are empty or outside [0, 1].
        ParameterError: If ``threshold`` is outside [0, 1].

    References:
        NannyML documentation, "Confidence-based Performance Estimation (CBPE)"; C. Guo et al. (2017),
        "On Calibration of Modern Neural Networks", ICML.
    """
    s = _array(scores, "scores")
    if s.size == 0:
        raise DataError("scores is empty.")
    if np.any(s < 0) or np.any(s > 1):
        raise DataError("scores must be probabilities in [0, 1]; calibrate raw model outputs first.")
    t = _nonneg(threshold, "threshold")
    if t > 1:
        raise ParameterError(f"threshold must lie in [0, 1], got {threshold!r}.")
    pred = s >= t
    e_tp = float(s[pred].sum())
    e_tn = float((1.0 - s[~pred]).sum())
    return CbpeResult(
        expected_precision=_ratio(e_tp, float(pred.sum())),
        expected_recall=_ratio(e_tp, float(s.sum())),
        expected_accuracy=(e_tp + e_tn) / s.size,
        n=int(s.size),
        predicted_positives=int(pred.sum()),
        threshold=t,
        assumption=CBPE_ASSUMPTION,
        method="CBPE: expected confusion matrix from calibrated scores",
    )


# --------------------------------------------------------------------------------------------------------------
# 6. weak proxies: trend only
# --------------------------------------------------------------------------------------------------------------

PROXY_INTERPRETATION = (
    "trend indicator only: the proxy (e.g. edit rate of transcripts) is not an error rate; read its direction, "
    "not its level"
)


@dataclass(frozen=True, repr=False)
class ProxyTrendResult(_Result):
    """Daily ratio proxy with intervals and a monotone-trend test.

    Attributes:
        days: Labels of the days, in order.
        ratios: Daily ratio ``Σ numerator / Σ denominator``.
        ci_low: Lower delta-method bounds per day.
        ci_high: Upper delta-method bounds per day.
        statistic: Kendall's τ (Mann–Kendall) or Spearman's ρ between day index and ratio.
        pvalue: Two-sided p-value of no monotone trend.
        slope: Theil–Sen slope of the ratio per day.
        direction: ``"increasing"``, ``"decreasing"`` or ``"no trend"`` at ``alpha``.
        alpha: Significance level.
        interpretation: What the proxy may and may not be read as.
        method: The formulas used.
    """

    days: tuple[str, ...]
    ratios: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    statistic: float
    pvalue: float
    slope: float
    direction: str
    alpha: float
    interpretation: str
    method: str

    def to_frame(self) -> pd.DataFrame:
        """One row per day: ``day``, ``ratio``, ``ci_low``, ``ci_high``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "day": list(self.days),
                "ratio": list(self.ratios),
                "ci_low": list(self.ci_low),
                "ci_high": list(self.ci_high),
            }
        )


def proxy_trend(
    daily_proxy_values: Sequence[RatioMoments] | Mapping[str, RatioMoments],
    *,
    alpha: float = 0.05,
    test: str = "mann-kendall",
) -> ProxyTrendResult:
    """Trend of a weak ratio proxy, e.g. the edit rate of transcripts ``Σ edit_chars / Σ transcript_chars``.

    Each day's :class:`~abnb.stats.RatioMoments` (one row per transcript: ``y`` = edited characters, ``d`` =
    transcript characters) gives the daily ratio ``R = Σy/Σd`` with the delta-method variance
    ``(V_y − 2R·C_yd + R²·V_d)/(n·d̄²)``. The trend test is Mann–Kendall (Kendall's τ between day index and
    ratio) or Spearman's ρ; the Theil–Sen slope gives its size. The result is a trend indicator, not an error
    rate: users edit for reasons other than recognition errors and skip errors they do not care about.

    Args:
        daily_proxy_values: Moments per day, in time order (a mapping keeps its keys as day labels).
        alpha: Significance level of the intervals and the test.
        test: ``"mann-kendall"`` or ``"spearman"``.

    Returns:
        Daily ratios with intervals, the trend test and the interpretation.

    Raises:
        ParameterError: If ``test`` is unknown or fewer than 3 days are given.

    References:
        H. B. Mann (1945), "Nonparametric tests against trend", Econometrica 13; M. G. Kendall (1975), "Rank
        Correlation Methods"; P. K. Sen (1968), JASA 63; A. Deng et al. (2018), KDD (delta method).
    """
    from scipy import stats as sps

    alpha = check_alpha(alpha)
    if test not in ("mann-kendall", "spearman"):
        raise ParameterError(f"test must be 'mann-kendall' or 'spearman', got {test!r}.")
    if isinstance(daily_proxy_values, Mapping):
        days = tuple(str(k) for k in daily_proxy_values)
        moments = list(daily_proxy_values.values())
    else:
        moments = list(daily_proxy_values)
        days = tuple(str(i) for i in range(len(moments)))
    if len(moments) < 3:
        raise ParameterError(f"a trend needs at least 3 days, got {len(moments)}.")
    for day, m in zip(days, moments, strict=True):
        if not isinstance(m, RatioMoments):
            raise ParameterError(f"day {day}: expected RatioMoments, got {type(m).__name__}.")
    ratios = np.array([m.ratio for m in moments])
    ses = np.array([math.sqrt(m.ratio_variance) for m in moments])
    z = _z(alpha)
    index = np.arange(len(moments), dtype=float)
    if test == "mann-kendall":
        res = sps.kendalltau(index, ratios)
        name = "Mann–Kendall (Kendall's τ vs time)"
    else:
        res = sps.spearmanr(index, ratios)
        name = "Spearman's ρ vs time"
    statistic, pvalue = float(res.statistic), float(res.pvalue)
    slope = float(sps.theilslopes(ratios, index).slope)
    direction = "no trend" if not pvalue < alpha else ("increasing" if statistic > 0 else "decreasing")
    return ProxyTrendResult(
        days=days,
        ratios=tuple(float(r) for r in ratios),
        ci_low=tuple(float(v) for v in ratios - z * ses),
        ci_high=tuple(float(v) for v in ratios + z * ses),
        statistic=statistic,
        pvalue=pvalue,
        slope=slope,
        direction=direction,
        alpha=alpha,
        interpretation=PROXY_INTERPRETATION,
        method=f"daily ratio with delta-method CI; {name} trend test; Theil–Sen slope",
    )


# --------------------------------------------------------------------------------------------------------------
# engineering levers
# --------------------------------------------------------------------------------------------------------------


def hash_sample(unit_ids: Iterable[object], rate: float, *, salt: str) -> NDArray[np.bool_]:
    """Deterministic sampling by unit: keep every event of the units whose hash falls below ``rate``.

    Sampling by unit (user, device, call) rather than by event keeps whole histories, so per-unit metrics and
    unit-level variances stay valid. The draw ``u = int(sha1("{salt}.{unit}")[:15], 16) / (16**15 − 1)`` is the
    PlanOut convention; a unit is kept when ``u < rate``. The same unit gets the same decision in every event,
    process and day; change ``salt`` to draw an independent sample.

    Args:
        unit_ids: Unit id of each event (repeated ids are allowed; each gets the same decision).
        rate: Sampling rate in [0, 1].
        salt: Salt of this sample (e.g. ``"labels.2024q3"``).

    Returns:
        Boolean mask aligned with ``unit_ids``.

    Raises:
        ParameterError: If ``rate`` is outside [0, 1] or ``salt`` is not a string.

    References:
        E. Bakshy, D. Eckles, M. Bernstein (2014), "Designing and Deploying Online Field Experiments", WWW
        (PlanOut).
    """
    r = _nonneg(rate, "rate")
    if r > 1:
        raise ParameterError(f"rate must lie in [0, 1], got {rate!r}.")
    if not isinstance(salt, str):
        raise ParameterError(f"salt must be a string, got {salt!r}.")
    import pandas as pd

    from abnb.assign import uniform_many

    codes, uniques = pd.factorize(pd.Series(list(unit_ids), dtype=object), use_na_sentinel=False)
    keep_unique = uniform_many([str(u) for u in uniques], salt) < r  # hash each distinct unit once, as its text
    return np.asarray(keep_unique[codes], dtype=bool)


@dataclass(frozen=True, repr=False)
class OversampleWeights(_Result):
    """Weights that undo stratified (rare-event) oversampling.

    Attributes:
        strata: Stratum names.
        weights: ``1 / rate`` per stratum.
        estimated_population: ``count / rate`` per stratum.
        effective_sample_size: Kish's ``(Σ w)² / Σ w²`` over the sampled units.
        method: The formulas used.
    """

    strata: tuple[str, ...]
    weights: tuple[float, ...]
    estimated_population: tuple[float, ...]
    effective_sample_size: float
    method: str

    def weight(self, stratum: str) -> float:
        """The weight of one stratum.

        Raises:
            ParameterError: If the stratum is unknown.
        """
        try:
            return self.weights[self.strata.index(str(stratum))]
        except ValueError as exc:
            raise ParameterError(f"unknown stratum {stratum!r}; known: {list(self.strata)}.") from exc

    def to_frame(self) -> pd.DataFrame:
        """One row per stratum: ``stratum``, ``weight``, ``estimated_population``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "stratum": list(self.strata),
                "weight": list(self.weights),
                "estimated_population": list(self.estimated_population),
            }
        )


def oversample_weights(strata_counts: Mapping[str, float], rates: Mapping[str, float]) -> OversampleWeights:
    """Design weights for a sample that oversamples rare strata (e.g. flagged items at 50 %, the rest at 1 %).

    Each unit of stratum ``h`` sampled at rate ``p_h`` gets ``w_h = 1/p_h``; the stratum's population is
    estimated as ``n_h/p_h``, and Kish's effective sample size ``(Σ n_h w_h)² / Σ n_h w_h²`` shows what the
    oversampling costs for whole-population estimates.

    Args:
        strata_counts: Sampled units per stratum.
        rates: Sampling rate per stratum, in (0, 1], same keys.

    Returns:
        The weights per stratum.

    Raises:
        ParameterError: If the keys differ, a count is negative or a rate outside (0, 1].

    References:
        L. Kish (1965), "Survey Sampling", Wiley, §11.7.
    """
    if set(map(str, strata_counts)) != set(map(str, rates)):
        raise ParameterError(
            f"strata_counts has strata {sorted(map(str, strata_counts))} but rates has {sorted(map(str, rates))}."
        )
    rate_of = {str(k): _nonneg(v, f"rates[{k}]") for k, v in rates.items()}
    strata = tuple(str(k) for k in strata_counts)
    counts = np.array([_nonneg(strata_counts[k], f"strata_counts[{k}]") for k in strata_counts])
    p = np.array([rate_of[h] for h in strata])
    if np.any(p <= 0) or np.any(p > 1):
        raise ParameterError("rates must lie in (0, 1].")
    w = 1.0 / p
    denom = float(np.dot(counts, w**2))
    return OversampleWeights(
        strata=strata,
        weights=tuple(float(v) for v in w),
        estimated_population=tuple(float(v) for v in counts * w),
        effective_sample_size=float(np.dot(counts, w)) ** 2 / denom if denom > 0 else 0.0,
        method="w = 1/rate per stratum; Kish effective sample size",
    )


def pseudonymise(unit_ids: Iterable[object], salt: str) -> list[str]:
    """Replace unit ids by salted SHA-256 pseudonyms, ``sha256("{salt}.{unit}").hexdigest()``.

    Deterministic for a given salt (joins across tables still work) and not reversible without the salt; keep
    the salt secret and rotate it to unlink old exports. This is pseudonymisation, not anonymisation (GDPR
    recital 26): the data stay personal data.

    Args:
        unit_ids: Unit ids.
        salt: Secret salt (non-empty).

    Returns:
        64-character hex pseudonyms, aligned with ``unit_ids``.

    Raises:
        ParameterError: If ``salt`` is empty or not a string.
    """
    if not isinstance(salt, str) or not salt:
        raise ParameterError("salt must be a non-empty string; an unsalted hash of an id is trivially reversible.")
    return [hashlib.sha256(f"{salt}.{u}".encode()).hexdigest() for u in unit_ids]


def suppress_small_cells(
    frame: pd.DataFrame,
    count_column: str,
    minimum: int = 10,
    *,
    metric_columns: Sequence[str] | None = None,
    flag_column: str = "suppressed",
) -> pd.DataFrame:
    """Minimum-cell-size suppression: blank the metrics of segment rows with fewer than ``minimum`` units.

    Args:
        frame: A segment table, one row per cell.
        count_column: Column with the number of units in the cell.
        minimum: Smallest publishable cell size.
        metric_columns: Columns to blank (default: every numeric column except ``count_column``).
        flag_column: Name of the added boolean column marking suppressed rows.

    Returns:
        A copy with the metrics of small cells set to NaN and ``flag_column`` added.

    Raises:
        SchemaError: If a named column is missing.
        ParameterError: If ``minimum`` is not a positive whole number.
    """
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise ParameterError(f"minimum must be a positive whole number, got {minimum!r}.")
    if count_column not in frame.columns:
        raise SchemaError(f"frame has no column {count_column!r}; name the column with the units per cell.")
    if metric_columns is None:
        metric_columns = [
            c for c in frame.select_dtypes(include="number").columns if c != count_column and c != flag_column
        ]
    missing = [c for c in metric_columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"frame lacks metric column(s) {missing}.")
    out = frame.copy()
    small = out[count_column].to_numpy() < minimum
    for column in metric_columns:
        out[column] = out[column].astype(float)
        out.loc[small, column] = np.nan
    out[flag_column] = small
    return out
