import hashlib
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from abnb.errors import DataError, ParameterError, SchemaError
from abnb.feedback import (
    cbpe,
    completeness_curve,
    corrected_rating,
    hash_sample,
    label_maturity,
    matured_cohorts,
    oversample_weights,
    proxy_trend,
    pseudonymise,
    realised_error,
    recall_from_corrections,
    sampled_precision_recall,
    suppress_small_cells,
)
from abnb.stats import RatioMoments

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


# ---------------------------------------------------------------- 1. sampled manual labels


def test_hajek_matches_hand_computation() -> None:
    predicted = [1, 1, 1, 0, 0, 0]
    label = [1, 0, 1, 1, 0, 0]
    pi = [0.5, 0.5, 0.25, 0.1, 0.1, 0.2]
    # weights 2, 2, 4, 10, 10, 5: TP total 2 + 4 = 6, predicted positives 2 + 2 + 4 = 8, positives 2 + 4 + 10 = 16
    result = sampled_precision_recall(predicted, label, pi, n_boot=200)
    assert result.true_positives_total == pytest.approx(6.0)
    assert result.predicted_positives_total == pytest.approx(8.0)
    assert result.positives_total == pytest.approx(16.0)
    assert result.precision.estimate == pytest.approx(6 / 8)
    assert result.recall.estimate == pytest.approx(6 / 16)
    assert result.naive_precision == pytest.approx(2 / 3)
    assert result.naive_recall == pytest.approx(2 / 3)
    assert result.n_sampled == 6
    assert "Hájek" in result.method
    assert result.to_frame().shape[0] == 1
    assert repr(result).startswith("PrecisionRecallResult(precision=0.75")
    assert result.to_frame().loc[0, "precision_ci_low"] == result.to_dict()["precision"]["ci_low"]
    again = sampled_precision_recall(predicted, label, pi, n_boot=200)
    assert (again.precision.ci_low, again.recall.ci_high) == (result.precision.ci_low, result.recall.ci_high)


def _population(rng: np.random.Generator, size: int = 20_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    predicted = rng.random(size) < 0.1
    label = np.where(predicted, rng.random(size) < 0.7, rng.random(size) < 0.02)
    reported = rng.random(size) < np.where(label, 0.5, 0.1)  # a user report, correlated with the label
    pi = np.where(predicted, 0.3, 0.03) * np.where(reported, 2.0, 1.0)
    return predicted, label, pi


def test_weighted_estimates_unbiased_naive_biased_and_ci_covers() -> None:
    rng = np.random.default_rng(11)
    predicted, label, pi = _population(rng)
    true_precision = (predicted & label).sum() / predicted.sum()
    true_recall = (predicted & label).sum() / label.sum()
    estimates, naive, covered = [], [], []
    for rep in range(150):
        sampled = rng.random(predicted.size) < pi  # Poisson sampling with the known π
        r = sampled_precision_recall(predicted[sampled], label[sampled], pi[sampled], n_boot=300, seed=rep)
        estimates.append((r.precision.estimate, r.recall.estimate))
        naive.append((r.naive_precision, r.naive_recall))
        covered.append(
            (
                r.precision.ci_low <= true_precision <= r.precision.ci_high,
                r.recall.ci_low <= true_recall <= r.recall.ci_high,
            )
        )
    mean_prec, mean_rec = np.mean(estimates, axis=0)
    naive_prec, naive_rec = np.mean(naive, axis=0)
    # The Hájek estimators are unbiased to O(1/n): the mean over repetitions sits on the truth.
    assert mean_prec == pytest.approx(true_precision, abs=0.005)
    assert mean_rec == pytest.approx(true_recall, abs=0.01)
    # Oversampling predicted positives and reported units biases both naive estimates upwards, by far more.
    assert naive_prec - true_precision > 0.05
    assert naive_rec - true_recall > 0.15
    coverage = np.mean(covered, axis=0)
    assert np.all(coverage >= 0.88), coverage
    assert np.all(coverage <= 0.995), coverage


def test_precision_recall_input_errors() -> None:
    with pytest.raises(DataError, match="inclusion_prob"):
        sampled_precision_recall([1, 0], [1, 0], [0.5, 0.0])
    with pytest.raises(DataError, match="0/1"):
        sampled_precision_recall([2, 0], [1, 0], [0.5, 0.5])
    with pytest.raises(DataError, match="one value per"):
        sampled_precision_recall([1, 0], [1], [0.5, 0.5])
    with pytest.raises(ParameterError, match="n_boot"):
        sampled_precision_recall([1, 0], [1, 0], [0.5, 0.5], n_boot=10)


# ---------------------------------------------------------------- 2. user corrections


def _recall(tp: float, c: float, r: float) -> float:
    return tp / (tp + c / r)


def test_recall_from_corrections_matches_numeric_delta_method() -> None:
    tp, c, r, s_r = 900.0, 60.0, 0.25, 0.03
    result = recall_from_corrections(tp, c, r, reporting_rate_se=s_r)
    assert result.recall == pytest.approx(900 / (900 + 240))
    assert result.estimated_misses == pytest.approx(240.0)
    # Independent check: central finite-difference gradient, covariance diag(TP, C, s_r²) (Poisson counts).
    x = np.array([tp, c, r])
    h = np.array([1e-3, 1e-3, 1e-7])
    grad = np.array([(_recall(*(x + h * e)) - _recall(*(x - h * e))) / (2 * h[i]) for i, e in enumerate(np.eye(3))])
    se = math.sqrt(float(grad @ np.diag([tp, c, s_r**2]) @ grad))
    assert result.se == pytest.approx(se, rel=1e-6)
    assert result.ci_low == pytest.approx(result.recall - Z95 * se, rel=1e-6)


def test_recall_from_corrections_binomial_special_case() -> None:
    # Every miss reported (r = 1, known): the delta variance reduces to the binomial R(1 − R)/(TP + C).
    result = recall_from_corrections(80, 20, 1.0)
    assert result.se == pytest.approx(math.sqrt(0.8 * 0.2 / 100), rel=1e-12)


def test_recall_from_corrections_simulation() -> None:
    rng = np.random.default_rng(5)
    true_r, n_audit = 0.3, 400
    tp = rng.poisson(800, 3000)
    misses = rng.poisson(200, 3000)
    corrections = rng.binomial(misses, true_r)
    r_hat = rng.binomial(n_audit, true_r, 3000) / n_audit  # the audit: n_audit misses checked for a report
    truth = 800 / 1000
    results = [
        recall_from_corrections(t, c, r, reporting_rate_se=math.sqrt(r * (1 - r) / n_audit))
        for t, c, r in zip(tp, corrections, r_hat, strict=True)
    ]
    estimates = np.array([x.recall for x in results])
    ses = np.array([x.se for x in results])
    assert estimates.mean() == pytest.approx(truth, abs=0.005)
    assert np.median(ses) == pytest.approx(estimates.std(), rel=0.1)
    coverage = np.mean([x.ci_low <= truth <= x.ci_high for x in results])
    assert 0.92 <= coverage <= 0.975
    # Ignoring the audit uncertainty under-covers: the naive interval is too narrow.
    narrow = [recall_from_corrections(t, c, r) for t, c, r in zip(tp, corrections, r_hat, strict=True)]
    assert np.mean([x.ci_low <= truth <= x.ci_high for x in narrow]) < coverage - 0.025


def test_recall_from_corrections_errors() -> None:
    with pytest.raises(ParameterError, match="reporting_rate"):
        recall_from_corrections(10, 2, 0.0)
    with pytest.raises(ParameterError, match="both 0"):
        recall_from_corrections(0, 0, 0.5)
    with pytest.raises(ParameterError, match="corrections"):
        recall_from_corrections(10, -1, 0.5)


# ---------------------------------------------------------------- 3. ratings with response bias


def test_corrected_rating_hand_computation() -> None:
    # counts 10 (level 1) and 30 (level 5), rates 0.5 and 0.1: N̂ = 20 and 300, mean = (20 + 1500) / 320.
    result = corrected_rating({1: 10, 5: 30}, {1: 0.5, 5: 0.1})
    assert result.mean == pytest.approx(1520 / 320)
    assert result.estimated_population == pytest.approx(320.0)
    mean = 1520 / 320
    var = ((1 - mean) / 320) ** 2 * 10 * 0.5 / 0.25 + ((5 - mean) / 320) ** 2 * 30 * 0.9 / 0.01
    assert result.se == pytest.approx(math.sqrt(var))
    assert result.naive_mean == pytest.approx((10 + 150) / 40)
    # A census (every rate 1) is the naive mean without sampling error.
    census = corrected_rating([3, 4, 5], [1.0, 1.0, 1.0])
    assert census.mean == pytest.approx(census.naive_mean)
    assert census.se == 0.0
    with pytest.raises(ParameterError, match="levels"):
        corrected_rating({1: 3, 2: 4}, {1: 0.5})


def test_corrected_rating_recovers_known_population() -> None:
    rng = np.random.default_rng(3)
    population = np.array([3000, 4000, 8000, 20000, 15000])  # calls per rating level 1..5
    truth = float(np.dot(np.arange(1, 6), population) / population.sum())
    rates = np.array([0.30, 0.15, 0.08, 0.05, 0.04])  # unhappy callers answer the prompt more often
    rate_se = np.full(5, 0.002)
    means, naives, covered, ses = [], [], [], []
    for _ in range(2000):
        counts = rng.binomial(population, rates)
        noisy_rates = np.clip(rates + rng.normal(0, rate_se), 1e-3, 1)  # rates known from a small audit
        r = corrected_rating(list(counts), list(noisy_rates), response_rate_se=list(rate_se))
        means.append(r.mean)
        naives.append(r.naive_mean)
        ses.append(r.se)
        covered.append(r.ci_low <= truth <= r.ci_high)
    assert np.mean(means) == pytest.approx(truth, abs=0.01)
    assert truth - np.mean(naives) > 0.4  # the naive mean is biased low
    assert np.median(ses) == pytest.approx(np.std(means), rel=0.1)
    assert 0.92 <= np.mean(covered) <= 0.975


# ---------------------------------------------------------------- 4. delayed labels


def _delayed_predictions() -> tuple[pd.Series, pd.Series, pd.Timestamp]:
    as_of = pd.Timestamp("2024-03-31")
    predictions = pd.Series(pd.to_datetime(["2024-03-20", "2024-03-20", "2024-03-28", "2024-03-30", "2024-04-02"]))
    labels = pd.Series(pd.to_datetime(["2024-03-27", None, "2024-03-30", "2024-04-05", None]))
    return predictions, labels, as_of


def test_completeness_curve_and_maturity() -> None:
    predictions, labels, as_of = _delayed_predictions()
    curve = completeness_curve(predictions, labels, as_of=as_of)
    # ages 11, 11, 3, 1 days (the prediction after as_of is ignored; the label of 3-30 arrives after as_of)
    assert list(curve["age_days"]) == [1, 3, 11]
    assert list(curve["predictions"]) == [1, 1, 2]
    assert list(curve["labelled"]) == [0, 1, 1]
    assert list(curve["completeness"]) == [0.0, 1.0, 0.5]
    maturity = label_maturity(predictions, labels, as_of=as_of, window_days=7)
    assert (maturity.matured_predictions, maturity.matured_labelled) == (2, 1)
    assert maturity.matured_completeness == 0.5
    assert (maturity.immature_predictions, maturity.immature_completeness) == (2, 0.5)
    with pytest.raises(ParameterError, match="window_days"):
        label_maturity(predictions, labels, as_of=as_of, window_days=0)


def test_matured_cohorts_keeps_only_old_days() -> None:
    daily = pd.DataFrame({"day": pd.date_range("2024-03-01", periods=10, freq="D"), "predictions": range(10)})
    kept = matured_cohorts(daily, as_of="2024-03-10", window_days=7)
    # day D matures when D + 1 + 7 days <= 03-10, i.e. D <= 03-02
    assert list(kept["day"].dt.day) == [1, 2]
    with pytest.raises(SchemaError, match="date"):
        matured_cohorts(daily, as_of="2024-03-10", window_days=7, day_column="date")


def test_realised_error_on_matured_cohorts() -> None:
    rng = np.random.default_rng(8)
    sigma, days, per_day = 4.0, 30, 400
    rows, matured_errors = [], []
    as_of = pd.Timestamp("2024-02-01")
    for i, day in enumerate(pd.date_range("2024-01-02", periods=days, freq="D")):
        young = day + pd.Timedelta(days=8) > as_of
        errors = rng.normal(0, sigma, per_day)
        if young:  # only the easy trips have resolved yet: a biased, small-error subset
            errors = errors[: per_day // (i - 20)] * 0.3
        else:
            matured_errors.append(errors)
        rows.append(
            {
                "day": day,
                "predictions": per_day,
                "labels": errors.size,
                "abs_error_sum": np.abs(errors).sum(),
                "sq_error_sum": np.square(errors).sum(),
            }
        )
    daily = pd.DataFrame(rows)
    result = realised_error(daily, as_of=as_of, window_days=7)
    assert result.cohorts + result.excluded_cohorts == days
    assert result.excluded_cohorts == 7  # 01-25 … 01-31 have not matured by 02-01
    values = np.concatenate(matured_errors)
    assert result.labelled == values.size
    assert result.completeness == 1.0
    mae = np.abs(values).mean()
    assert result.mae.estimate == pytest.approx(mae)
    mae_se = np.abs(values).std(ddof=1) / math.sqrt(values.size)
    assert result.mae.ci_high == pytest.approx(mae + Z95 * mae_se, rel=1e-9)
    assert result.rmse.estimate == pytest.approx(math.sqrt(np.square(values).mean()))
    # planted truth: MAE = σ·sqrt(2/π), RMSE = σ
    assert result.mae.ci_low <= sigma * math.sqrt(2 / math.pi) <= result.mae.ci_high
    assert result.rmse.ci_low <= sigma <= result.rmse.ci_high
    with pytest.raises(DataError, match="matured"):
        realised_error(daily, as_of="2024-01-05", window_days=7)


# ---------------------------------------------------------------- 5. CBPE


def test_cbpe_close_to_realised_under_calibration() -> None:
    rng = np.random.default_rng(2)
    scores = rng.beta(2, 3, 200_000)
    y = rng.random(scores.size) < scores
    pred = scores >= 0.5
    result = cbpe(scores)
    assert result.expected_precision == pytest.approx((y & pred).sum() / pred.sum(), abs=0.005)
    assert result.expected_recall == pytest.approx((y & pred).sum() / y.sum(), abs=0.005)
    assert result.expected_accuracy == pytest.approx((y == pred).mean(), abs=0.005)
    assert "calibrated" in result.assumption
    # hand check on four scores: pred = [0, 1, 1, 0]; E[TP] = 1.5, E[TN] = 0.9 + 0.6
    small = cbpe([0.1, 0.7, 0.8, 0.4])
    assert small.expected_precision == pytest.approx(1.5 / 2)
    assert small.expected_recall == pytest.approx(1.5 / 2.0)
    assert small.expected_accuracy == pytest.approx(3.0 / 4)


def test_cbpe_gap_grows_with_miscalibration() -> None:
    rng = np.random.default_rng(4)
    scores = rng.beta(2, 3, 200_000)
    logit = np.log(scores / (1 - scores))
    u = rng.random(scores.size)
    pred = scores >= 0.5
    gaps = []
    for temperature in (1.0, 1.5, 2.0, 3.0):  # production truth is flatter than the scores claim
        y = u < 1 / (1 + np.exp(-logit / temperature))
        gaps.append(abs(cbpe(scores).expected_precision - (y & pred).sum() / pred.sum()))
    assert gaps[0] < 0.005
    assert all(a < b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] > 0.05


# ---------------------------------------------------------------- 6. proxy trend


def _daily_edits(rng: np.random.Generator, rates: list[float]) -> list[RatioMoments]:
    out = []
    for rate in rates:
        chars = rng.integers(200, 2000, 300).astype(float)
        edits = rng.binomial(chars.astype(int), rate).astype(float)
        out.append(RatioMoments.from_values(edits, chars))
    return out


def test_proxy_trend_detects_rising_edit_rate() -> None:
    rng = np.random.default_rng(9)
    days = _daily_edits(rng, list(np.linspace(0.02, 0.04, 14)))
    result = proxy_trend({f"d{i}": m for i, m in enumerate(days)})
    assert result.direction == "increasing"
    assert result.days[0] == "d0"
    reference = sps.kendalltau(np.arange(14), [m.ratio for m in days])
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.pvalue == pytest.approx(reference.pvalue)
    assert result.ci_high[3] == pytest.approx(days[3].ratio + Z95 * math.sqrt(days[3].ratio_variance))
    assert "not an error rate" in result.interpretation
    assert list(result.to_frame().columns) == ["day", "ratio", "ci_low", "ci_high"]
    flat = proxy_trend(_daily_edits(rng, [0.03] * 14), test="spearman")
    assert flat.direction == "no trend"
    with pytest.raises(ParameterError, match="3 days"):
        proxy_trend(days[:2])


# ---------------------------------------------------------------- engineering levers


def test_hash_sample_by_unit_deterministic_and_uniform() -> None:
    ids = [f"user{i}" for i in range(100_000)]
    events = ids[:1000] * 3  # three events per unit
    mask = hash_sample(events, 0.2, salt="labels")
    assert np.array_equal(mask[:1000], mask[1000:2000])
    assert np.array_equal(mask, hash_sample(events, 0.2, salt="labels"))
    # Independent computation of the PlanOut draw for a few units.
    for unit, keep in zip(events[:20], mask[:20], strict=True):
        draw = int(hashlib.sha1(f"labels.{unit}".encode()).hexdigest()[:15], 16) / (16**15 - 1)
        assert keep == (draw < 0.2)
    # Uniformity: bin each unit by how many thresholds 0.1, ..., 0.9 it falls below; χ² over 10 equal bins.
    below = sum(hash_sample(ids, k / 10, salt="u").astype(int) for k in range(1, 10))
    counts = np.bincount(below, minlength=10)
    assert sps.chisquare(counts).pvalue > 0.001
    share = hash_sample(ids, 0.05, salt="other").mean()
    assert abs(share - 0.05) < 4 * math.sqrt(0.05 * 0.95 / len(ids))
    assert not hash_sample(ids[:100], 0.0, salt="x").any()
    assert hash_sample(ids[:100], 1.0, salt="x").all()
    with pytest.raises(ParameterError, match="rate"):
        hash_sample(ids[:3], 1.5, salt="x")


def test_oversample_weights() -> None:
    result = oversample_weights({"flagged": 500, "other": 1000}, {"flagged": 0.5, "other": 0.01})
    assert result.weight("other") == pytest.approx(100.0)
    assert result.estimated_population == pytest.approx((1000.0, 100_000.0))
    # Kish: (500·2 + 1000·100)² / (500·4 + 1000·10000)
    assert result.effective_sample_size == pytest.approx(101_000**2 / 10_002_000)
    with pytest.raises(ParameterError, match="strata"):
        oversample_weights({"a": 1}, {"b": 0.5})


def test_pseudonymise() -> None:
    out = pseudonymise(["alice", 42], "s3cret")
    assert out[0] == hashlib.sha256(b"s3cret.alice").hexdigest()
    assert out == pseudonymise(["alice", 42], "s3cret")
    assert len(out[1]) == 64
    assert pseudonymise(["alice"], "other") != out[:1]
    with pytest.raises(ParameterError, match="salt"):
        pseudonymise(["alice"], "")


def test_suppress_small_cells() -> None:
    frame = pd.DataFrame({"segment": ["a", "b", "c"], "units": [50, 9, 10], "rating": [4.1, 2.0, 3.3]})
    out = suppress_small_cells(frame, "units")
    assert out["suppressed"].tolist() == [False, True, False]
    assert math.isnan(out.loc[1, "rating"])
    assert out.loc[2, "rating"] == 3.3
    assert out["units"].tolist() == [50, 9, 10]
    assert frame.loc[1, "rating"] == 2.0  # the input is not modified
    with pytest.raises(SchemaError, match="n_units"):
        suppress_small_cells(frame, "n_units")
