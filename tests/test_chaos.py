"""Chaos experiments: faults, blast radius, detection by the abnb.monitor rules, the detection table."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from abnb import chaos
from abnb.assign import uniform
from abnb.errors import ParameterError
from abnb.monitor import Rule, ThresholdRule

START = datetime(2026, 1, 2)


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return chaos.simulate_requests(windows=48, per_window=200, seed=1)


@pytest.fixture(scope="module")
def p95_rule(clean: pd.DataFrame) -> Rule:
    return chaos.baseline_rule(chaos.window_metrics(clean), "latency_p95", before=START)


def test_simulated_stream_has_its_planted_parameters(clean: pd.DataFrame) -> None:
    flagged = clean[clean["prediction"] == 1]
    assert flagged["label"].mean() == pytest.approx(0.90, abs=0.02)  # planted precision P
    assert clean["label"].mean() == pytest.approx(0.10, abs=0.01)  # planted prevalence
    # LogNormal(ln 80, 0.35): p95 = 80·e^{1.645·0.35} = 142.3 ms
    assert np.quantile(clean["latency_ms"], 0.95) == pytest.approx(142.3, rel=0.03)


def test_blast_radius_is_the_hashed_fraction_and_deterministic(clean: pd.DataFrame) -> None:
    fault = chaos.Fault("latency", 1.0, fraction=0.3, start=START, salt="s")
    mask = fault.affected(clean)
    assert np.array_equal(mask, fault.affected(clean))
    expected = np.array([uniform(u, "s") < 0.3 for u in clean["unit"]]) & (clean["ts"] >= START).to_numpy()
    assert np.array_equal(mask, expected)
    injection = fault.inject(clean)
    changed = injection.frame["latency_ms"].to_numpy() != clean["latency_ms"].to_numpy()
    assert np.array_equal(changed, mask)
    assert np.allclose(injection.frame["latency_ms"][mask], 2.0 * clean["latency_ms"][mask])
    units = clean["unit"].unique()
    hashed = np.mean([uniform(u, "s") < 0.3 for u in units])
    assert hashed == pytest.approx(0.3, abs=0.03)
    assert 0 < injection.affected_units <= hashed  # units seen only before the start are not touched
    # a larger radius contains the smaller one (same salt)
    assert not (mask & ~chaos.Fault("latency", 1.0, fraction=0.6, start=START, salt="s").affected(clean)).any()


def test_faults_change_what_they_say(clean: pd.DataFrame) -> None:
    after = (clean["ts"] >= START).to_numpy()
    flip = chaos.Fault("flip", 0.5, start=START).inject(clean).frame
    share = (flip["prediction"] != clean["prediction"]).to_numpy()
    assert share[after].mean() == pytest.approx(0.5, abs=0.02)
    assert not share[~after].any()
    dropped = chaos.Fault("drop", 0.4, fraction=1.0, start=START).inject(clean).frame
    assert len(dropped) == pytest.approx(len(clean) - 0.4 * after.sum(), rel=0.02)
    shifted = chaos.Fault("segment_bias", 2.0, start=START, segment="de").inject(clean).frame
    moved = (shifted["score"] != clean["score"]).to_numpy()
    assert np.array_equal(moved, after & (clean["segment"] == "de").to_numpy())
    assert (shifted["prediction"][moved] >= clean["prediction"][moved]).all()
    for kind in ("label_noise", "flip", "score_shift", "miscalibrate", "latency", "drop", "error"):
        zero = chaos.Fault(kind, 0.0, start=START).inject(clean).frame
        pd.testing.assert_frame_equal(zero.reset_index(drop=True), clean.reset_index(drop=True), check_dtype=False)


def test_rollback_restores_the_clean_stream(clean: pd.DataFrame) -> None:
    injection = chaos.Fault("flip", 0.5, start=START).inject(clean)
    pd.testing.assert_frame_equal(injection.rollback(), clean)
    partial = injection.rollback(datetime(2026, 1, 2, 6))
    late = (clean["ts"] >= datetime(2026, 1, 2, 6)).to_numpy()
    assert (partial["prediction"][late] == clean["prediction"][late]).all()
    assert (partial["prediction"][~late] == injection.frame["prediction"][~late]).all()


def test_large_latency_fault_is_detected_within_a_few_windows(clean: pd.DataFrame, p95_rule: Rule) -> None:
    # +100% latency on 50% of requests: p95 of the mixture ≈ 250 ms vs 142 ms
    experiment = chaos.ChaosExperiment(
        chaos.SteadyStateHypothesis("latency_p95", upper=200.0),
        chaos.Fault("latency", 1.0, fraction=0.5, start=START),
        (p95_rule, ThresholdRule("latency_p95", ">", 200.0)),
        horizon=12,
    )
    result = experiment.run(clean)
    assert result.detected
    assert result.time_to_detect_minutes is not None
    assert result.time_to_detect_minutes <= 120.0
    assert not result.hypothesis_held
    assert result.false_alarms_clean == 0
    assert result.rolled_back_at == pd.Timestamp(result.first_alarm) + pd.Timedelta("1h")
    assert result.hypothesis_held_after_rollback is True


def test_zero_size_fault_yields_no_alert(clean: pd.DataFrame, p95_rule: Rule) -> None:
    experiment = chaos.ChaosExperiment(
        chaos.SteadyStateHypothesis("precision", tolerance=0.05),
        chaos.Fault("latency", 0.0, fraction=0.5, start=START),
        (p95_rule,),
        horizon=24,
    )
    result = experiment.run(clean)
    assert not result.detected
    assert result.n_alerts == 0
    assert result.hypothesis_held


def test_detection_table_recall_rises_and_time_to_detect_falls(p95_rule: Rule) -> None:
    table = chaos.detection_table(
        lambda r: chaos.simulate_requests(windows=48, per_window=200, seed=100 + r),
        chaos.Fault("latency", 0.0, fraction=0.5, start=START),
        [0.0, 0.05, 0.1, 0.5],
        (p95_rule,),
        repeats=12,
    )
    frame = table.to_frame()
    recall = frame["recall"].to_numpy()
    assert recall[0] == 0.0
    assert recall[-1] == 1.0
    assert (np.diff(recall) >= -1 / 12).all()  # monotone within one run's noise
    ttd = frame["median_ttd_minutes"].to_numpy()[1:]
    assert ttd[-1] <= np.nanmin(ttd[:-1])
    assert table.false_alarm_rate == 0.0
    assert table.ci_high[0] == pytest.approx(1 - 0.025 ** (1 / 12))  # Clopper–Pearson upper bound for 0/12


def test_precision_fault_in_one_segment_is_caught_on_that_segment(clean: pd.DataFrame) -> None:
    windows = chaos.window_metrics(clean, segment="de")
    rule = chaos.baseline_rule(windows, "precision", kind="cusum", before=START)
    experiment = chaos.ChaosExperiment(
        chaos.SteadyStateHypothesis("precision", tolerance=0.05),
        chaos.Fault("segment_bias", 2.0, fraction=1.0, start=START, segment="de"),
        (rule,),
        segment="de",
        horizon=12,
    )
    result = experiment.run(clean)
    assert result.detected
    assert not result.hypothesis_held


def test_parameters_are_validated() -> None:
    with pytest.raises(ParameterError):
        chaos.Fault("melt", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        chaos.Fault("flip", 1.5)
    with pytest.raises(ParameterError):
        chaos.Fault("latency", 1.0, fraction=2.0)
    with pytest.raises(ParameterError):
        chaos.Fault("segment_bias", 1.0)
    with pytest.raises(ParameterError):
        chaos.SteadyStateHypothesis("precision")
