"""Tests of the Kayenta-compatible canary judge and scorer (hand-worked cases, Kayenta's published vector)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest

import abnb
from abnb.datasets.sample import generate
from abnb.engine import Connection
from abnb.errors import ParameterError
from abnb.rollout import judge, mann_whitney, score
from abnb.rollout.canary import Judgement

HIGH = ([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0])


def test_published_vector() -> None:
    # Kayenta MannWhitneySuite: experiment [10, 20, 30, 40] vs control [1, 2, 3, 4], 0.95 -> 22.5, [6, 39].
    shift = mann_whitney(experiment=HIGH[0], control=HIGH[1], alpha=0.05)
    assert shift.estimate == 22.5
    assert (shift.ci_low, shift.ci_high) == (6.0, 39.0)
    assert shift.pvalue == pytest.approx(2 / 70 * 1)  # exact: P(U = 16 or U = 0) = 2 / C(8, 4)


def test_high_hand_worked() -> None:
    # bounds ±0.25·22.5 = ±5.625; CI low 6 > 5.625 -> High; mean ratio 25 / 2.5 = 10.
    result = judge(*HIGH, alpha=0.05)
    assert result.classification == "High"
    assert result.upper_bound == 5.625
    assert result.lower_bound == -5.625
    assert result.deviation == 10.0


def test_low_hand_worked() -> None:
    result = judge(HIGH[1], HIGH[0], alpha=0.05)
    assert result.classification == "Low"
    assert (result.estimate, result.ci_low, result.ci_high) == (-22.5, -39.0, -6.0)
    assert result.deviation == pytest.approx(0.1)


def test_direction_restricts_failures() -> None:
    assert judge(*HIGH, alpha=0.05, direction="decrease").classification == "Pass"
    assert judge(*HIGH, alpha=0.05, direction="increase").classification == "High"
    assert judge(HIGH[1], HIGH[0], alpha=0.05, direction="increase").classification == "Pass"


def test_tolerance_and_effect_size() -> None:
    # 0.3·22.5 = 6.75 > CI low 6 -> Pass.
    assert judge(*HIGH, alpha=0.05, tolerance=0.3).classification == "Pass"
    # mean ratio 10 < allowed increase 20 -> Pass; 10 >= 5 -> High.
    assert judge(*HIGH, alpha=0.05, effect_size=(0.5, 20.0)).classification == "Pass"
    assert judge(*HIGH, alpha=0.05, effect_size=(0.5, 5.0)).classification == "High"


def test_pass_overlapping_and_identical() -> None:
    # experiment [2, 3, 4, 5] vs control [1, 2, 3, 4]: HL shift 1, 95% CI [-2, 4] covers 0 -> Pass.
    result = judge([2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0], alpha=0.05)
    assert result.classification == "Pass"
    assert result.estimate == 1.0
    identical = judge([3.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    assert identical.classification == "Pass"
    assert identical.estimate == 0.0


def test_nodata() -> None:
    result = judge([math.nan, math.nan], [1.0, 2.0])
    assert result.classification == "Nodata"
    assert result.n_experiment == 0
    assert result.n_control == 2
    assert judge([], [1.0], nan_strategy="replace").classification == "Pass"
    with pytest.raises(ParameterError):
        judge([1.0], [2.0], direction="up")  # type: ignore[arg-type]


def _verdict(classification: str, *, critical: bool = False) -> Judgement:
    nan = math.nan
    return Judgement(classification, "", nan, nan, nan, nan, nan, 1.0, nan, nan, 1, 1, "either", 0.25, 0.98, critical)


def test_score_weighted_groups() -> None:
    # latency: 1 of 2 Pass = 50; errors: Nodata excluded, 1 of 1 = 100; weights 50/50 -> 75 -> Marginal.
    results = {
        "latency": [_verdict("Pass"), _verdict("High")],
        "errors": [_verdict("Pass"), _verdict("Nodata")],
        "quality": [_verdict("Pass"), _verdict("Pass")],
    }
    run = score(results, {"latency": 50, "errors": 30, "quality": 20})
    # (50·50 + 30·100 + 20·100) / 100 = 75
    assert run.score == 75.0
    assert run.classification == "Marginal"
    assert run.n_metrics == 6
    assert run.n_nodata == 1
    assert score({"a": [_verdict("Pass")] * 20}, {"a": 1}).classification == "Pass"
    assert score({"a": [_verdict("Pass")] * 2 + [_verdict("Low")]}, {"a": 1}).classification == "Fail"


def test_score_hard_stops() -> None:
    critical = score({"a": [_verdict("Pass"), _verdict("High", critical=True)]}, {"a": 1})
    assert critical.score == 0.0
    assert critical.classification == "Fail"
    assert critical.critical_failed == ("a/1",)
    nodata = score({"a": [_verdict("Pass"), _verdict("Nodata")]}, {"a": 1})
    assert nodata.score == 0.0
    assert nodata.classification == "Fail"
    with pytest.raises(ParameterError):
        score({"a": [_verdict("Pass")]}, {"b": 1})


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    # The model telemetry of data/telemetry.duckdb: 100,000 requests, seed 20261001 (about 1 s to generate).
    path = tmp_path_factory.mktemp("canary") / "db.duckdb"
    generate(path, users=2_000, requests=100_000, seed=20261001, progress=False)
    with abnb.connect(path) as connection:
        yield connection


def test_ramp_rolls_back_v3_latency_creep(con: Connection) -> None:
    from abnb.rollout.canary import replay_ramp

    # v3's median latency creeps up 3 %/day: at 25 % on day 3 (+6-9 %) the latency interval clears the tolerance.
    replay = replay_ramp(con, "v3")
    assert replay.baseline_version == "v2"
    assert replay.outcome == "rolled back"
    assert replay.failed_metrics == ("latency",)
    assert replay.hours == 72.0
    assert replay.exposure == pytest.approx((1 + 5 + 25) / 100 * 24)
    assert list(replay.to_frame()["decision"]) == ["promote", "promote", "roll back"]


def test_ramp_promotes_a_clean_release(con: Connection) -> None:
    from abnb.rollout.canary import RampPlan, replay_ramp

    # Canary and baseline both drawn from v1 before any release: the plan must promote in 5 steps × 24 h.
    replay = replay_ramp(con, "v1", start="2026-10-05", baseline_version="v1")
    assert replay.outcome == "promoted"
    assert replay.hours == RampPlan().promote_hours == 120.0
    assert set(replay.to_frame()["verdict"]) == {"Pass"}


def test_ramp_plan_validation() -> None:
    from abnb.rollout.canary import RampPlan

    with pytest.raises(ParameterError):
        RampPlan(steps=(5.0, 1.0, 100.0))
    with pytest.raises(ParameterError):
        RampPlan(steps=(1.0, 50.0))


def test_replay_releases_tables(con: Connection) -> None:
    from abnb.rollout import replay_releases
    from abnb.rollout.canary import RampPlan, replay_ramp

    ramps = replay_releases(con, ["v3"], step_hours=(12.0,))
    assert ramps.replays == (replay_ramp(con, "v3"),)
    assert ramps.clean == replay_ramp(
        con, "v2", start=ramps.replays[0].start - timedelta(hours=120), baseline_version="v2"
    )
    assert ramps.speeds == ((12.0, (replay_ramp(con, "v3", plan=RampPlan(step_hours=12.0)),)),)
    outcomes = ramps.outcomes()
    assert list(outcomes.columns) == ["release", "start", "outcome", "hours", "exposure", "failed_metrics"]
    assert list(outcomes["release"]) == ["v3 (vs v2)", "v2 (vs v2)"]
    assert list(outcomes["outcome"]) == ["rolled back", ramps.clean.outcome]
    failing = ramps.failing()
    assert "Pass" not in set(failing["classification"])
    assert set(failing["release"]) == {"v3"}
    assert "High" in set(failing["classification"])
    assert "latency" in set(failing["metric"])
    speeds = ramps.speed_table()
    assert list(speeds.columns) == ["step_hours", "release", "outcome", "hours", "exposure", "failed"]
    assert speeds["step_hours"].tolist() == [12.0]
    assert ramps.headline() == "v3: ramp rolled back after 72 h"
    with pytest.raises(ParameterError, match="versions is empty"):
        replay_releases(con, [])
