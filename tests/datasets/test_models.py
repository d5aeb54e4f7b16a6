from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import abnb.datasets.sample
from abnb.datasets.models import MODEL_TRUTH, generate_models
from abnb.datasets.sample import generate
from abnb.datasets.schemas import MODEL_TABLES, SCHEMAS
from abnb.errors import DataError, ParameterError
from abnb.telemetry import check_table

REQUESTS = 40_000
SEED = 11

CHECKSUMS = {
    "predictions": "SELECT count(*), sum(hash(request_id, unit, ts, model_version, segment, score, prediction, "
    "fare_predicted, latency_ms, error)) FROM predictions",
    "labels": "SELECT count(*), sum(hash(request_id, ts, label, inclusion_prob)) FROM labels",
    "fares": "SELECT count(*), sum(hash(request_id, ts, fare_actual)) FROM fares",
    "ratings": "SELECT count(*), sum(hash(request_id, unit, ts, rating)) FROM ratings",
    "corrections": "SELECT count(*), sum(hash(request_id, ts)) FROM corrections",
    "edits": "SELECT count(*), sum(hash(request_id, ts, edit_chars, transcript_chars)) FROM edits",
    "ops": "SELECT count(*), sum(hash(ts, model_version, requests, errors, latency_p50, latency_p95, latency_p99)) "
    "FROM ops",
    "releases": "SELECT count(*), sum(hash(ts, model_version, description)) FROM releases",
    "truth": "SELECT count(*), sum(hash(request_id, label)) FROM truth",
}


def _build(requests: int = REQUESTS, seed: int = SEED) -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    con = duckdb.connect()
    return con, generate_models(con, requests=requests, seed=seed)


def _checksums(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    return {table: con.execute(sql).fetchall()[0] for table, sql in CHECKSUMS.items()}


@pytest.fixture(scope="module")
def built() -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    return _build()


@pytest.fixture(scope="module")
def con(built: tuple[duckdb.DuckDBPyConnection, dict[str, int]]) -> duckdb.DuckDBPyConnection:
    return built[0]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    return con.execute(sql, params or {}).fetchall()[0]


def test_same_seed_same_rows_other_seed_other_rows(built: tuple[duckdb.DuckDBPyConnection, dict[str, int]]) -> None:
    con, counts = built
    again, again_counts = _build()
    other, _ = _build(seed=SEED + 1)
    reference = _checksums(con)
    assert _checksums(again) == reference
    assert again_counts == counts
    different = _checksums(other)
    assert all(different[table] != reference[table] for table in CHECKSUMS if table != "releases")
    assert different["releases"] == reference["releases"]


def test_tables_have_the_schemas_and_counts(built: tuple[duckdb.DuckDBPyConnection, dict[str, int]]) -> None:
    con, counts = built
    assert list(counts) == list(MODEL_TABLES)
    for table in MODEL_TABLES:
        assert check_table(con, table, [c for c, _ in SCHEMAS[table]]) == dict(SCHEMAS[table])
        assert _one(con, f'SELECT count(*) FROM "{table}"') == (counts[table],)
    assert counts["predictions"] == counts["truth"] == REQUESTS
    assert counts["releases"] == 2
    ids = _one(
        con, "SELECT min(request_id), max(request_id), count(DISTINCT request_id), min(ts), max(ts) FROM predictions"
    )
    assert ids[:3] == (1, REQUESTS, REQUESTS)
    assert MODEL_TRUTH.start <= ids[3] < ids[4] < MODEL_TRUTH.horizon
    # request_id follows time; every request is served by the version live at its ts.
    unordered = _one(
        con, "SELECT count(*) FROM (SELECT ts < lag(ts) OVER (ORDER BY request_id) AS back FROM predictions) WHERE back"
    )
    assert unordered == (0,)
    for version in MODEL_TRUTH.versions:
        low, high = _one(con, "SELECT min(ts), max(ts) FROM predictions WHERE model_version = $v", {"v": version})
        assert MODEL_TRUTH.version_at(low) == MODEL_TRUTH.version_at(high) == version


def test_truth_table_values_are_hand_worked() -> None:
    truth = MODEL_TRUTH
    # q = (rho - L) / (P - L) with L = 0.02; recall = q P / rho.
    assert truth.flag_rate("de", "v2") == pytest.approx(0.10 / 0.68)
    assert truth.recall("de", "v2") == pytest.approx(0.10 / 0.68 * 0.7 / 0.12)
    assert truth.recall("en", "v1") == pytest.approx(0.08 / 0.88 * 0.9 / 0.10)
    assert truth.precision("de", "v1") == truth.precision("de", "v3", at=truth.release("v3")) == 0.90
    assert truth.precision("de", "v2") == 0.70
    assert truth.precision("en", "v2") == 0.90
    # phi = 0.02 * 11 = 0.22 at the horizon: 0.78 * 0.9 + 0.22 * 0.1.
    assert truth.precision("en", "v3", at=truth.horizon) == pytest.approx(0.724)
    assert truth.precision("en", "v3") == pytest.approx(0.89 * 0.9 + 0.11 * 0.1)
    assert truth.true_mean_satisfaction == pytest.approx(3.75)
    assert truth.rating_response_rate == pytest.approx(0.091)
    assert truth.expected_observed_rating == pytest.approx(0.274 / 0.091)
    assert truth.fare_mape == pytest.approx(math.exp(0.15**2 / 2) * math.erf(0.15 / math.sqrt(2)))
    assert truth.fare_completeness(date(2026, 10, 21)) == 1.0
    assert truth.fare_completeness(date(2026, 10, 22)) == 0.0
    assert truth.latency_quantile(0.5, datetime(2026, 10, 5)) == pytest.approx(80.0)
    assert truth.latency_quantile(0.5, datetime(2026, 10, 28)) == pytest.approx(80.0 * 1.3)
    assert truth.version_at(datetime(2026, 10, 9, 23, 59)) == "v1"
    assert truth.version_at(datetime(2026, 10, 10)) == "v2"
    frame = truth.quality_frame()
    assert len(frame) == 12
    with pytest.raises(ParameterError, match="segment"):
        truth.precision("xx", "v1")
    with pytest.raises(ParameterError, match="version"):
        truth.precision("en", "v9")


PRECISION = """
    SELECT avg(t.label) FILTER (WHERE p.prediction = 1) AS precision,
           sum(t.label * p.prediction) / sum(t.label) AS recall,
           count(*) FILTER (WHERE p.prediction = 1) AS flagged,
           sum(t.label) AS positives
    FROM predictions AS p JOIN truth AS t USING (request_id)
    WHERE NOT p.error AND p.segment = $segment AND p.model_version = $version
"""


@pytest.mark.parametrize("segment", ["en", "de", "es", "fr"])
@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_true_precision_and_recall_per_segment_and_version(
    con: duckdb.DuckDBPyConnection, segment: str, version: str
) -> None:
    precision, recall, flagged, positives = _one(con, PRECISION, {"segment": segment, "version": version})
    expected_p = MODEL_TRUTH.precision(segment, version)
    expected_r = MODEL_TRUTH.recall(segment, version)
    # 4 binomial standard errors of a proportion.
    assert abs(precision - expected_p) < 4 * math.sqrt(expected_p * (1 - expected_p) / flagged)
    assert abs(recall - expected_r) < 4 * math.sqrt(expected_r * (1 - expected_r) / positives)


def test_sharp_drop_only_in_de_under_v2(con: duckdb.DuckDBPyConnection) -> None:
    def precision(segment: str, version: str) -> float:
        return float(_one(con, PRECISION, {"segment": segment, "version": version})[0])

    assert precision("de", "v1") - precision("de", "v2") > 0.12
    for segment in ("en", "es", "fr"):
        assert abs(precision(segment, "v1") - precision(segment, "v2")) < 0.08


def test_slow_drift_under_v3_keeps_scores_but_not_calibration(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        SELECT ts >= TIMESTAMP '2026-10-23 12:00' AS late,
               avg(t.label) FILTER (WHERE prediction = 1) AS precision,
               avg(score) FILTER (WHERE prediction = 1) AS mean_flagged_score,
               avg(prediction) AS flag_rate
        FROM predictions AS p JOIN truth AS t USING (request_id)
        WHERE model_version = 'v3' AND NOT error
        GROUP BY late ORDER BY late
        """
    ).fetchall()
    (_, early_p, early_s, early_q), (_, late_p, late_s, late_q) = rows
    # Expected overall precision at t = 2.75 and 8.25 days: about 0.86 and 0.78.
    assert early_p - late_p > 0.04
    assert abs(early_s - late_s) < 0.02
    assert abs(early_q - late_q) < 0.015
    assert late_s - late_p > 0.07


def test_labels_follow_the_inclusion_probabilities(con: duckdb.DuckDBPyConnection) -> None:
    mismatched, wrong_pi, late = _one(
        con,
        """
        SELECT count(*) FILTER (WHERE l.label <> t.label),
               count(*) FILTER (WHERE l.inclusion_prob <> CASE WHEN p.prediction = 1 THEN 0.25 ELSE 0.02 END),
               count(*) FILTER (WHERE l.ts < p.ts OR l.ts >= p.ts + INTERVAL 6 HOUR OR p.error)
        FROM labels AS l JOIN truth AS t USING (request_id) JOIN predictions AS p USING (request_id)
        """,
    )
    assert (mismatched, wrong_pi, late) == (0, 0, 0)
    # Hájek-weighted label mean ~ prevalence of served requests; the unweighted mean is inflated by oversampling.
    weighted, unweighted = _one(
        con, "SELECT sum(label / inclusion_prob) / sum(1 / inclusion_prob), avg(label) FROM labels"
    )
    prevalence = _one(con, "SELECT avg(label) FROM truth")[0]
    assert abs(weighted - prevalence) < 0.02
    assert unweighted > prevalence + 0.1


def test_ratings_are_negatively_biased(con: duckdb.DuckDBPyConnection) -> None:
    observed, responses = _one(con, "SELECT avg(rating), count(*) FROM ratings")
    truth = MODEL_TRUTH
    assert observed < truth.true_mean_satisfaction - 0.5
    assert observed == pytest.approx(truth.expected_observed_rating, abs=0.1)
    assert responses == pytest.approx(REQUESTS * truth.rating_response_rate, rel=0.05)
    corrected = _one(
        con,
        "SELECT sum(rating / r) / sum(1 / r) FROM ratings JOIN "
        "(SELECT unnest($levels) AS k, unnest($rates) AS r) ON k = rating",
        {"levels": [1, 2, 3, 4, 5], "rates": list(truth.response_rates)},
    )[0]
    assert corrected == pytest.approx(truth.true_mean_satisfaction, abs=0.1)


def test_fare_completeness_by_day(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        SELECT p.ts::DATE AS day, count(f.request_id) / count(*) AS completeness,
               count(*) FILTER (WHERE f.ts <> p.ts + INTERVAL 7 DAY) AS off
        FROM predictions AS p LEFT JOIN fares AS f USING (request_id)
        GROUP BY day ORDER BY day
        """
    ).fetchall()
    assert len(rows) == 28
    for day, completeness, off in rows:
        assert off == 0
        assert completeness == MODEL_TRUTH.fare_completeness(day)
    assert all(c == 1.0 for _, c, _ in rows[:21])
    assert all(c < 1.0 for _, c, _ in rows[21:])
    mape = _one(
        con,
        "SELECT avg(abs(fare_predicted - fare_actual) / fare_actual) FROM predictions JOIN fares USING (request_id)",
    )[0]
    assert mape == pytest.approx(MODEL_TRUTH.fare_mape, abs=0.005)


def test_corrections_report_a_known_share_of_false_negatives(con: duckdb.DuckDBPyConnection) -> None:
    corrections, false_negatives, not_fn = _one(
        con,
        """
        SELECT (SELECT count(*) FROM corrections),
               count(*) FILTER (WHERE t.label = 1 AND p.prediction = 0 AND NOT p.error),
               (SELECT count(*) FROM corrections AS c JOIN truth AS u USING (request_id)
                  JOIN predictions AS q USING (request_id) WHERE u.label = 0 OR q.prediction = 1)
        FROM predictions AS p JOIN truth AS t USING (request_id)
        """,
    )
    assert not_fn == 0
    rate = MODEL_TRUTH.correction_rate
    assert abs(corrections - rate * false_negatives) < 4 * math.sqrt(false_negatives * rate * (1 - rate)) + 5


def test_edits_are_a_weak_proxy_of_errors(con: duckdb.DuckDBPyConnection) -> None:
    wrong_rate, right_rate, bad_chars = _one(
        con,
        """
        SELECT avg((e.request_id IS NOT NULL)::INTEGER) FILTER (WHERE p.prediction <> t.label),
               avg((e.request_id IS NOT NULL)::INTEGER) FILTER (WHERE p.prediction = t.label),
               count(*) FILTER (WHERE e.edit_chars < 1 OR e.edit_chars > e.transcript_chars)
        FROM predictions AS p JOIN truth AS t USING (request_id) LEFT JOIN edits AS e USING (request_id)
        WHERE NOT p.error AND p.ts < TIMESTAMP '2026-10-28 22:00'
        """,
    )
    assert bad_chars == 0
    assert wrong_rate == pytest.approx(MODEL_TRUTH.edit_prob_wrong, abs=0.03)
    assert right_rate == pytest.approx(MODEL_TRUTH.edit_prob_correct, abs=0.01)


def test_ops_summarise_predictions_and_show_outage_and_creep(con: duckdb.DuckDBPyConnection) -> None:
    total, errors = _one(con, "SELECT sum(requests), sum(errors) FROM ops")
    assert (total, errors) == _one(con, "SELECT count(*), count(*) FILTER (WHERE error) FROM predictions")
    outage = _one(
        con,
        "SELECT sum(errors) / sum(requests) FROM ops WHERE ts >= $start AND ts < $end",
        {"start": MODEL_TRUTH.outage_start, "end": MODEL_TRUTH.outage_end},
    )[0]
    assert outage > 0.25
    assert (
        _one(con, "SELECT count(*) FROM ops WHERE ts <> date_trunc('minute', ts) OR latency_p50 > latency_p99")[0] == 0
    )
    early, late = _one(
        con,
        "SELECT median(latency_ms) FILTER (WHERE ts < '2026-10-09'), "
        "median(latency_ms) FILTER (WHERE ts >= '2026-10-27') FROM predictions",
    )
    assert early == pytest.approx(80, rel=0.05)
    assert late / early == pytest.approx(1 + 0.03 * 9.5, abs=0.08)
    releases = con.execute("SELECT ts, model_version FROM releases ORDER BY ts").fetchall()
    assert releases == [(datetime(2026, 10, 10), "v2"), (datetime(2026, 10, 18), "v3")]


def test_errors_have_null_outputs(con: duckdb.DuckDBPyConnection) -> None:
    nulls, errors, unexpected = _one(
        con,
        "SELECT count(*) FILTER (WHERE score IS NULL AND prediction IS NULL AND fare_predicted IS NULL), "
        "count(*) FILTER (WHERE error), count(*) FILTER (WHERE NOT error AND (score IS NULL OR "
        "prediction <> (score >= 0.5)::INTEGER)) FROM predictions",
    )
    assert nulls == errors > 0
    assert unexpected == 0


def test_bad_arguments_and_non_empty_tables() -> None:
    con = duckdb.connect()
    for name, value in (("requests", -1), ("seed", -1), ("requests", 1.5), ("requests", True)):
        with pytest.raises(ParameterError, match=name):
            generate_models(con, **{name: value})  # type: ignore[arg-type]
    counts = generate_models(con, requests=0, seed=1)
    assert counts["predictions"] == 0
    assert counts["releases"] == 2
    with pytest.raises(DataError, match="releases"):
        generate_models(con, requests=10, seed=1)


def test_generate_writes_the_model_tables_without_touching_the_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = generate(tmp_path / "with.duckdb", users=3_000, seed=5, progress=False)
    assert summary.requests == 1_500
    assert summary.model_rows["predictions"] == 1_500
    assert "predictions=1,500" in repr(summary)
    experiment = {
        "exposures": "SELECT count(*), sum(hash(experiment, unit, arm, ts, country, platform)) FROM exposures",
        "events": "SELECT count(*), sum(hash(unit, ts, event, value)) FROM events",
    }
    with duckdb.connect(str(summary.path), read_only=True) as db:
        with_models = {table: db.execute(sql).fetchall() for table, sql in experiment.items()}
        for table in MODEL_TABLES:
            assert db.execute(f'SELECT count(*) FROM "{table}"').fetchall() == [(summary.model_rows[table],)]
    monkeypatch.setattr(abnb.datasets.sample, "generate_models", lambda connection, *, requests, seed: {})
    bare = generate(tmp_path / "without.duckdb", users=3_000, seed=5, progress=False)
    with duckdb.connect(str(bare.path), read_only=True) as db:
        assert {table: db.execute(sql).fetchall() for table, sql in experiment.items()} == with_models
    explicit = generate(tmp_path / "explicit.duckdb", users=100, seed=5, requests=700, progress=False)
    assert explicit.requests == 700
    with pytest.raises(ParameterError, match="requests"):
        generate(tmp_path / "bad.duckdb", users=100, requests=-1, progress=False)
