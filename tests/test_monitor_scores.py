"""Label-free series (score PSI and CBPE precision per window): numbers checked against raw-row computations."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import special

import abnb
from abnb.monitor import MonitorRule, MonitorSpec, backtest, monitor_state, monitor_summary, promtool_tests
from abnb.monitor.export import prometheus_rules, rules_yaml
from abnb.monitor.exporter import release_samples
from abnb.monitor.scores import expected_precision_by_window, score_histograms_by_window, score_psi_by_window
from abnb.telemetry import ModelTelemetry

BINS = 20
LABEL_FREE = MonitorSpec(
    "label_free",
    (
        # ~50-180 scored requests per segment-day in the test sample: PSI without drift reaches 0.54 there
        MonitorRule("ScoreDrift", "score_psi", "threshold", threshold=0.6, severity="ticket"),
        MonitorRule("ExpectedPrecisionShift", "expected_precision", "cusum"),
    ),
    score_bins=BINS,
)


@pytest.fixture(scope="module")
def raw(sample_db: Path) -> pd.DataFrame:
    """The scored predictions, row by row (the independent side of the checks only)."""
    with duckdb.connect(str(sample_db), read_only=True) as con:
        frame = con.execute(
            "SELECT time_bucket(INTERVAL 1 DAY, ts) AS window, segment, score, prediction FROM predictions "
            "WHERE score IS NOT NULL"
        ).df()
    frame["window"] = pd.to_datetime(frame["window"])
    return frame


@pytest.fixture(scope="module")
def first_release(sample_db: Path) -> pd.Timestamp:
    with duckdb.connect(str(sample_db), read_only=True) as con:
        return pd.Timestamp(con.execute("SELECT min(ts) FROM releases").fetchone()[0])


@pytest.fixture(scope="module")
def histograms(sample_db: Path) -> pd.DataFrame:
    with duckdb.connect(str(sample_db), read_only=True) as raw_con:
        end = raw_con.execute("SELECT max(ts) + INTERVAL 1 SECOND FROM predictions").fetchone()[0]
    with abnb.connect(sample_db, read_only=True) as con:
        return score_histograms_by_window(con, window="1 day", end=end, bins=BINS, schema=ModelTelemetry())


def test_expected_precision_is_the_mean_score_of_the_flagged(raw: pd.DataFrame, histograms: pd.DataFrame) -> None:
    got = expected_precision_by_window(histograms).set_index(["window", "segment"])
    flagged = raw[raw["prediction"] == 1]
    want = flagged.groupby(["window", "segment"])["score"].agg(["mean", "size"])
    assert len(got) == len(want) > 50
    pd.testing.assert_series_equal(
        got["expected_precision"].sort_index(), want["mean"].sort_index(), check_names=False, rtol=0, atol=1e-12
    )
    assert (got["n_flagged"].sort_index().to_numpy() == want["size"].sort_index().to_numpy()).all()


def test_expected_precision_matches_label_free_quality(sample_db: Path, histograms: pd.DataFrame) -> None:
    """CBPE of one day and segment by :func:`abnb.quality.label_free_quality` (threshold 0.5 is the sample's)."""
    got = expected_precision_by_window(histograms)
    row = got.iloc[len(got) // 2]
    day = pd.Timestamp(row["window"])
    with abnb.connect(sample_db, read_only=True) as con:
        cbpe = abnb.quality.label_free_quality(
            con, threshold=0.5, start=day, end=day + pd.Timedelta(days=1), segment=str(row["segment"])
        )
    assert cbpe.predicted_positives == row["n_flagged"]
    assert cbpe.expected_precision == pytest.approx(row["expected_precision"], abs=1e-12)


def _psi(p: np.ndarray, q: np.ndarray, eps: float = 1e-4) -> float:
    """PSI as the symmetrised KL divergence of the floored shares (scipy's rel_entr)."""
    p = np.maximum(p / p.sum(), eps)
    q = np.maximum(q / q.sum(), eps)
    return float(np.sum(special.rel_entr(q, p) + special.rel_entr(p, q)))


def test_score_psi_against_numpy_histograms(
    raw: pd.DataFrame, histograms: pd.DataFrame, first_release: pd.Timestamp
) -> None:
    got = score_psi_by_window(histograms, baseline_end=first_release, bins=BINS).set_index(["window", "segment"])
    edges = np.linspace(0.0, 1.0, BINS + 1)
    checked = 0
    for (window, segment), rows in raw.groupby(["window", "segment"]):
        current = np.histogram(rows["score"], bins=edges)[0].astype(float)
        same = raw[(raw["segment"] == segment) & (raw["window"] < first_release) & (raw["window"] != window)]
        reference = np.histogram(same["score"], bins=edges)[0].astype(float)
        assert got.loc[(window, segment), "score_psi"] == pytest.approx(_psi(reference, current), abs=1e-9)
        assert got.loc[(window, segment), "n"] == len(rows)
        checked += 1
    assert checked == len(got) > 50


def test_psi_without_drift_is_near_its_documented_null_mean() -> None:
    """E[PSI] ≈ (B − 1)(1/n + 1/m) with no drift (the scores module's note): 4,000 simulated window pairs."""
    from abnb.monitor.drift import psi

    rng = np.random.default_rng(7)
    shares = rng.dirichlet(np.full(BINS, 5.0))
    n, m = 2_000, 18_000
    values = [psi(rng.multinomial(m, shares), rng.multinomial(n, shares)) for _ in range(4_000)]
    null_mean = (BINS - 1) * (1 / n + 1 / m)
    assert np.mean(values) == pytest.approx(null_mean, rel=0.05)


def test_a_score_drift_rule_finds_the_planted_shift_without_false_alarms(sample_db: Path) -> None:
    """The sample's v2 breaks the German scorer: PSI jumps in de at once, nowhere else; the baseline stays quiet."""
    with abnb.connect(sample_db, read_only=True) as con:
        bt = backtest(con, LABEL_FREE)
    table = bt.to_frame().set_index(["rule", "segment"])
    assert table.loc[("ScoreDrift", "de"), "first_detection"] == pd.Timedelta(0)
    assert (table.xs("ScoreDrift", level="rule")["false_alarms"] == 0).all()
    assert table.loc[("ScoreDrift", "en"), "n_alerts"] == 0  # the biggest segment, undisturbed
    de = bt.of("ScoreDrift", "de").series
    assert de.loc[de["window"] < bt.baseline_end, "score_psi"].max() < 0.3
    assert de.loc[de["window"] >= bt.baseline_end, "score_psi"].max() > 1.0


def test_label_free_rules_export_and_pass_promtool(sample_db: Path, promtool: str, tmp_path: Path) -> None:
    import subprocess

    with abnb.connect(sample_db, read_only=True) as con:
        bt = backtest(con, LABEL_FREE)
    rules = tmp_path / "label_free.rules.yml"
    rules.write_text(rules_yaml(prometheus_rules(LABEL_FREE, backtest=bt)), encoding="utf-8")
    tests = tmp_path / "label_free.rules.test.yml"
    tests.write_text(rules_yaml(promtool_tests(LABEL_FREE, bt, rules.name)), encoding="utf-8")
    text = rules.read_text(encoding="utf-8")
    assert 'abnb_monitor_value{monitor="label_free",series="score_psi",window="1 day"} > 0.6' in text
    assert "abnb_monitor_rule_alarm" in text  # the CUSUM of the expected precision is abnb-computed
    for command in (["check", "rules", str(rules)], ["test", "rules", str(tests)]):
        done = subprocess.run([promtool, *command], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_state_serves_the_dashboards_verdicts_on_the_latest_release(sample_db: Path) -> None:
    with abnb.connect(sample_db, read_only=True) as con:
        state = monitor_state(con, LABEL_FREE)
        summary = monitor_summary(con, model_version=state.release)
    assert state.release == summary.releases["model_version"].iloc[-1]
    pd.testing.assert_frame_equal(state.release_jumps, summary.release_jumps)
    pd.testing.assert_frame_equal(state.release_drift, summary.drift)
    served = {(family, labels): value for family, labels, value in release_samples(state)}
    for row in summary.release_jumps.itertuples():
        labels = (row.model_version, row.metric, row.segment)
        assert served[("release_rollback", labels)] == float(row.rollback)
        assert served[("release_jump_pvalue", labels)] == row.pvalue
    assert served[("release_rollback", (state.release, "latency_p95", "all"))] == 1.0  # v3's planted slowdown
    for row in summary.drift.itertuples():
        assert served[("release_score_psi", (row.model_version, row.segment))] == row.psi
    assert len(served) == 3 * len(summary.release_jumps) + 2 * len(summary.drift) > 0
