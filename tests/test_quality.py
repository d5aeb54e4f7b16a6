"""abnb.quality on a generated sample: each estimator recovers the planted truth of abnb.datasets.models.

Recovery checks use 99% intervals (alpha=0.01) so that several of them together rarely fail by chance.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import abnb
from abnb import feedback, quality
from abnb.datasets.models import MODEL_TRUTH as TRUTH
from abnb.datasets.sample import generate
from abnb.errors import DataError, ParameterError
from abnb.stats.ratio import RatioMoments

REQUESTS = 400_000
ALPHA = 0.01


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quality") / "db.duckdb"
    generate(path, users=2_000, requests=REQUESTS, seed=11, progress=False)
    return path


@pytest.fixture
def con(db: Path) -> Iterator[abnb.Connection]:
    with abnb.connect(db) as connection:
        yield connection


def _pooled_recall(version: str) -> float:
    """True recall over all segments: Σ share·ρ·R / Σ share·ρ (the load is the same in every segment and day)."""
    shares, rho = dict(TRUTH.segments), dict(TRUTH.prevalence)
    positives = {s: shares[s] * rho[s] for s in TRUTH.segment_names}
    return sum(positives[s] * TRUTH.recall(s, version) for s in positives) / sum(positives.values())


def test_labelled_precision_recovers_the_sharp_drop_in_de(con: abnb.Connection) -> None:
    before = quality.labelled_precision_recall(con, model_version="v1", segment="de", alpha=ALPHA, n_boot=500)
    after = quality.labelled_precision_recall(con, model_version="v2", segment="de", alpha=ALPHA, n_boot=500)
    assert before.precision.ci_low <= TRUTH.precision("de", "v1") == 0.90 <= before.precision.ci_high
    assert after.precision.ci_low <= TRUTH.precision("de", "v2") == 0.70 <= after.precision.ci_high
    assert after.precision.ci_high < before.precision.ci_low
    assert before.recall.ci_low <= TRUTH.recall("de", "v1") <= before.recall.ci_high
    # π depends on the prediction: the unweighted recall is far too high, outside the weighted interval
    assert before.naive_recall > before.recall.ci_high


def test_labelled_precision_fetches_only_the_labelled_sample(con: abnb.Connection) -> None:
    result = quality.labelled_precision_recall(con, model_version="v1", segment="de", n_boot=100)
    assert con.rows_fetched == result.n_sampled
    with pytest.raises(DataError, match="max_rows"):
        quality.labelled_precision_recall(con, max_rows=10, n_boot=100)
    with pytest.raises(DataError, match="no labelled"):
        quality.labelled_precision_recall(con, segment="xx")


def test_filters_are_bound_and_validated(con: abnb.Connection) -> None:
    hostile = "de' OR '1'='1"
    with pytest.raises(DataError, match="no labelled"):
        quality.labelled_precision_recall(con, segment=hostile)
    with pytest.raises(ParameterError, match="start"):
        quality.edit_rate(con, start=TRUTH.horizon, end=TRUTH.start)
    with pytest.raises(ParameterError, match="segment"):
        quality.edit_rate(con, segment=3)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="start"):
        quality.edit_rate(con, start=1.5)


def test_recall_from_corrections_recovers_pooled_recall(con: abnb.Connection) -> None:
    result = quality.recall_from_user_corrections(con, TRUTH.correction_rate, model_version="v1", alpha=ALPHA)
    assert result.ci_low <= _pooled_recall("v1") <= result.ci_high
    assert con.rows_fetched == 1
    # the HT variance of the labelled TP total widens the Poisson-only interval of recall_from_corrections
    poisson = feedback.recall_from_corrections(
        result.true_positives_found, result.corrections, TRUTH.correction_rate, alpha=ALPHA
    )
    assert result.recall == pytest.approx(poisson.recall)
    assert result.se > poisson.se


def test_recall_from_corrections_matches_a_hand_computation() -> None:
    con = abnb.connect(":memory:", read_only=False)
    con.execute(
        "CREATE TABLE predictions (request_id BIGINT, ts TIMESTAMP, model_version VARCHAR, segment VARCHAR, "
        "prediction INTEGER)"
    )
    con.execute("CREATE TABLE labels (request_id BIGINT, label INTEGER, inclusion_prob DOUBLE)")
    con.execute("CREATE TABLE corrections (request_id BIGINT)")
    ts = datetime(2026, 10, 1)
    con.executemany(
        "INSERT INTO predictions VALUES (?, ?, 'v1', 'en', ?)", [(i, ts, int(i <= 10)) for i in range(1, 21)]
    )
    con.executemany("INSERT INTO labels VALUES (?, ?, ?)", [(1, 1, 0.25), (2, 1, 0.5), (3, 0, 0.25), (11, 0, 0.1)])
    con.executemany("INSERT INTO corrections VALUES (?)", [(12,), (13,)])
    result = quality.recall_from_user_corrections(con, 0.5)
    tp, tp_var, c, r = 4 + 2, 16 + 4, 2, 0.5  # T̂ = 1/0.25 + 1/0.5; Σ1/π²
    m = c / r
    d = tp + m
    assert result.recall == pytest.approx(tp / d)
    assert result.se == pytest.approx(np.sqrt((m / d**2) ** 2 * tp_var + (tp / (r * d**2)) ** 2 * c))
    con.close()


def test_satisfaction_corrects_the_response_bias(con: abnb.Connection) -> None:
    result = quality.satisfaction(con, TRUTH.response_rates, alpha=ALPHA)
    assert result.ci_low <= TRUTH.true_mean_satisfaction == 3.75 <= result.ci_high
    z = 2.5758293035489004  # scipy.stats.norm.ppf(0.995)
    assert not result.naive_mean - z * result.naive_se <= 3.75 <= result.naive_mean + z * result.naive_se
    assert result.naive_mean == pytest.approx(TRUTH.expected_observed_rating, abs=0.03)
    assert con.rows_fetched == 5  # one row per rating level
    with pytest.raises(DataError, match="no response rate"):
        quality.satisfaction(con, [0.3, 0.2, 0.1])


def test_satisfaction_counts_match_the_table(con: abnb.Connection) -> None:
    counts = dict(con.raw.execute("SELECT rating, count(*) FROM ratings GROUP BY rating").fetchall())
    expected = feedback.corrected_rating({float(k): v for k, v in counts.items()}, TRUTH.response_rates)
    assert quality.satisfaction(con, TRUTH.response_rates).mean == pytest.approx(expected.mean)


def test_fare_quality_on_matured_cohorts(con: abnb.Connection) -> None:
    result = quality.fare_quality(con, TRUTH.horizon, alpha=ALPHA)
    realised = result.realised
    assert realised.mae.ci_low <= TRUTH.fare_mape <= realised.mae.ci_high
    # fares arrive exactly 7 days later: 21 cohorts matured, the last 7 days have no fares yet
    assert (realised.cohorts, realised.excluded_cohorts) == (21, 7)
    assert realised.completeness == 1.0
    assert result.naive_completeness == pytest.approx(21 / 28, abs=0.01)
    curve = result.completeness_curve()
    assert (curve.loc[curve["age_days"] < 7, "completeness"] == 0).all()
    assert (curve.loc[curve["age_days"] >= 7, "completeness"] == 1).all()
    assert con.rows_fetched == 28 + 28  # one row per day and one per age
    absolute = quality.fare_quality(con, TRUTH.horizon, error="absolute")
    assert absolute.realised.mae.estimate > 1.0  # USD


def test_fare_completeness_curve_matches_the_row_level_function(con: abnb.Connection) -> None:
    as_of = datetime(2026, 10, 20, 12)
    result = quality.fare_quality(con, as_of, start=datetime(2026, 10, 5), end=datetime(2026, 10, 15))
    rows = con.raw.execute(
        "SELECT p.ts, CASE WHEN f.ts <= $as_of THEN f.ts END FROM predictions p LEFT JOIN fares f USING (request_id) "
        "WHERE p.fare_predicted IS NOT NULL AND p.ts >= '2026-10-05' AND p.ts < '2026-10-15'",
        {"as_of": as_of},
    ).fetchall()
    expected = feedback.completeness_curve([r[0] for r in rows], [r[1] for r in rows], as_of=as_of)
    got = result.completeness_curve()
    assert got["age_days"].tolist() == expected["age_days"].tolist()
    assert got["labelled"].tolist() == expected["labelled"].tolist()
    assert got["predictions"].tolist() == expected["predictions"].tolist()


def test_label_free_estimate_misses_the_v3_drift(con: abnb.Connection) -> None:
    estimate = quality.label_free_quality(con, model_version="v3", segment="en")
    assert con.rows_fetched == 1
    assert estimate.expected_precision == pytest.approx(TRUTH.score_precision("en", "v3"), abs=0.01)
    measured = quality.labelled_precision_recall(con, model_version="v3", segment="en", alpha=ALPHA, n_boot=500)
    true_v3 = TRUTH.precision("en", "v3")  # 0.812, averaged over the v3 window
    assert measured.precision.ci_low <= true_v3 <= measured.precision.ci_high
    assert estimate.expected_precision > measured.precision.ci_high  # CBPE trusts the stale calibration
    # under v1 the scores are calibrated, and CBPE agrees with the labels
    v1 = quality.label_free_quality(con, model_version="v1", segment="en")
    labelled = quality.labelled_precision_recall(con, model_version="v1", segment="en", alpha=ALPHA, n_boot=500)
    assert labelled.precision.ci_low <= v1.expected_precision <= labelled.precision.ci_high


def test_label_free_sums_equal_cbpe_on_the_scores(con: abnb.Connection) -> None:
    scores = [
        r[0]
        for r in con.raw.execute(
            "SELECT score FROM predictions WHERE score IS NOT NULL AND ts < '2026-10-02'"
        ).fetchall()
    ]
    expected = feedback.cbpe(scores)
    got = quality.label_free_quality(con, end=datetime(2026, 10, 2))
    assert got.expected_precision == pytest.approx(expected.expected_precision, rel=1e-12)
    assert got.expected_recall == pytest.approx(expected.expected_recall, rel=1e-12)
    assert got.expected_accuracy == pytest.approx(expected.expected_accuracy, rel=1e-12)
    assert (got.n, got.predicted_positives) == (expected.n, expected.predicted_positives)


def test_edit_rate_trend_follows_the_planted_story(con: abnb.Connection) -> None:
    drifting = quality.edit_rate(con, start=TRUTH.release("v3"))
    assert drifting.direction == "increasing"  # the filter errs more every day after v3
    assert con.rows_fetched == len(drifting.days) == 11
    stable = quality.edit_rate(con, end=TRUTH.release("v2"))
    assert stable.direction == "no trend"  # v1 is stationary


def test_edit_rate_moments_match_row_level_values(con: abnb.Connection) -> None:
    day = datetime(2026, 10, 3)
    rows = con.raw.execute(
        "SELECT e.edit_chars, e.transcript_chars FROM edits e JOIN predictions p USING (request_id) "
        "WHERE p.ts >= $a AND p.ts < $b",
        {"a": day, "b": day + timedelta(days=1)},
    ).fetchall()
    expected = feedback.proxy_trend([RatioMoments.from_values([r[0] for r in rows], [r[1] for r in rows])] * 3)
    got = quality.edit_rate(con, start=day, end=day + timedelta(days=3))
    assert got.ratios[0] == pytest.approx(expected.ratios[0], rel=1e-12)
    assert got.ci_low[0] == pytest.approx(expected.ci_low[0], rel=1e-9)


def test_naive_vs_corrected_puts_each_pair_side_by_side() -> None:
    pr = feedback.sampled_precision_recall([1, 1, 0, 0, 1], [1, 0, 1, 0, 1], [0.5, 0.5, 0.1, 0.1, 0.5], n_boot=100)
    rc = feedback.recall_from_corrections(80, 6, 0.3)
    rating = feedback.corrected_rating({1: 10, 5: 30}, {1: 0.3, 5: 0.05})
    frame = quality.naive_vs_corrected(
        [("p", pr, "precision", 0.9), ("r", pr, "recall", None), ("c", rc, "recall", 0.7), ("m", rating, "mean", 4.0)]
    )
    assert list(frame.columns) == ["quality", "naive", "corrected", "ci_low", "ci_high", "truth"]
    assert list(frame["quality"]) == ["p", "r", "c", "m"]
    expected = [
        (pr.naive_precision, pr.precision.estimate, pr.precision.ci_low, pr.precision.ci_high),
        (pr.naive_recall, pr.recall.estimate, pr.recall.ci_low, pr.recall.ci_high),
        (80 / 86, rc.recall, rc.ci_low, rc.ci_high),
        (rating.naive_mean, rating.mean, rating.ci_low, rating.ci_high),
    ]
    assert [
        tuple(row) for row in frame[["naive", "corrected", "ci_low", "ci_high"]].itertuples(index=False)
    ] == expected
    assert frame["truth"].tolist()[0] == 0.9
    with pytest.raises(ParameterError, match="cannot compare the 'mean' of a RecallFromCorrectionsResult"):
        quality.naive_vs_corrected([("x", rc, "mean", None)])


def test_naive_vs_corrected_of_the_fare_quality(con: abnb.Connection) -> None:
    fq = quality.fare_quality(con, TRUTH.horizon, window_days=7)
    frame = quality.naive_vs_corrected([("mape", fq, "mae", None), ("completeness", fq, "completeness", 1.0)])
    assert frame.loc[0, ["naive", "corrected", "ci_low", "ci_high"]].tolist() == [
        fq.naive_mae,
        fq.realised.mae.estimate,
        fq.realised.mae.ci_low,
        fq.realised.mae.ci_high,
    ]
    assert frame.loc[1, ["naive", "corrected"]].tolist() == [fq.naive_completeness, fq.realised.completeness]
    assert frame.loc[1, ["ci_low", "ci_high"]].isna().all()
