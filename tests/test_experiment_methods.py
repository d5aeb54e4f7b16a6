"""The methods peers' users reach for, wired into specs and the analysis: each equals its statistics function."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from abnb.experiment import Experiment, ExperimentResult
from abnb.stats import (
    JointMoments,
    Moments,
    chance_to_beat,
    proportion_difference,
    proportion_ratio,
    ratio_cuped,
    regression_adjust,
)

START = datetime(2026, 10, 1)
N = 1500


@pytest.fixture(scope="module")
def users() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frames = []
    for arm, lift in (("control", 0.0), ("treatment", 0.08)):
        pre = rng.gamma(2.0, 2.0, N)
        predicted = 0.8 * pre + rng.normal(0.0, 0.5, N)  # a model's prediction from pre-exposure data (CUPAC)
        sessions = rng.integers(1, 6, N).astype(float)
        pre_sessions = rng.integers(1, 6, N).astype(float)
        revenue = (1.0 + lift) * (0.6 * pre + rng.gamma(1.5, 1.0, N))
        frames.append(
            pd.DataFrame(
                {
                    "unit": [f"{arm[0]}{i}" for i in range(N)],
                    "arm": arm,
                    "pre": pre,
                    "predicted": predicted,
                    "revenue": revenue,
                    "sessions": sessions,
                    "pre_sessions": pre_sessions,
                    "converted": (rng.random(N) < 0.05 + 0.02 * (arm == "treatment")).astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _frames(users: pd.DataFrame) -> dict[str, pd.DataFrame]:
    exposed = [START + timedelta(seconds=i) for i in range(len(users))]
    later = [t + timedelta(hours=1) for t in exposed]
    earlier = [t - timedelta(days=1) for t in exposed]
    events = [
        pd.DataFrame({"unit": users["unit"], "ts": later, "event": "revenue", "value": users["revenue"]}),
        pd.DataFrame({"unit": users["unit"], "ts": earlier, "event": "revenue", "value": users["pre"]}),
        pd.DataFrame({"unit": users["unit"], "ts": later, "event": "session", "value": users["sessions"]}),
        pd.DataFrame({"unit": users["unit"], "ts": earlier, "event": "session", "value": users["pre_sessions"]}),
        pd.DataFrame({"unit": users["unit"], "ts": later, "event": "buy", "value": users["converted"]}),
    ]
    return {
        "exposures": pd.DataFrame({"unit": users["unit"], "arm": users["arm"], "ts": exposed, "experiment": "exp"}),
        "events": pd.concat(events, ignore_index=True),
        "predictions": pd.DataFrame({"unit": users["unit"], "value": users["predicted"]}),
    }


REVENUE = "SELECT unit, ts, value FROM events WHERE event = 'revenue'"
SESSIONS = "SELECT unit, ts, value FROM events WHERE event = 'session'"


def _analyze(users: pd.DataFrame, *metrics: dict[str, object]) -> ExperimentResult:
    spec = Experiment.from_dict(
        {"name": "exp", "correction": "none", "start": "2026-10-01T00:00:00", "metrics": list(metrics)}
    )
    assert Experiment.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec  # the report's spec_json
    return spec.analyze(_frames(users), as_of=START + timedelta(days=2))


def _joint(users: pd.DataFrame, columns: list[str]) -> tuple[JointMoments, JointMoments]:
    arms = [users[users["arm"] == arm] for arm in ("control", "treatment")]
    names = ("y", *columns[1:])
    control, treatment = (
        JointMoments.from_values({name: arm[column].to_numpy() for name, column in zip(names, columns, strict=True)})
        for arm in arms
    )
    return control, treatment


def test_cupac_regression_adjustment_over_several_covariates(users: pd.DataFrame) -> None:
    metric = {
        "name": "revenue",
        "sql": REVENUE,
        "covariate_days": 2,
        "covariates": [{"name": "predicted", "sql": "SELECT unit, value FROM predictions"}],
    }
    result = _analyze(users, metric)
    adjusted = result.effect("revenue").adjusted
    control, treatment = _joint(users.rename(columns={"pre": "x"}), ["revenue", "x", "predicted"])
    expected = regression_adjust(control, treatment, covariates=("x", "predicted"), relative=True, pooling="total")
    assert adjusted is not None
    assert adjusted.estimate == pytest.approx(expected.estimate, rel=1e-9)
    assert (adjusted.ci_low, adjusted.ci_high) == pytest.approx((expected.ci_low, expected.ci_high), rel=1e-9)
    assert adjusted.variance_reduction > 0.3


def test_ratio_cuped_is_the_panel_of_a_ratio_with_a_covariate(users: pd.DataFrame) -> None:
    metric = {
        "name": "revenue_per_session",
        "kind": "ratio",
        "sql": REVENUE,
        "denominator_sql": SESSIONS,
        "covariate_days": 2,
    }
    result = _analyze(users, metric)
    adjusted = result.effect("revenue_per_session").adjusted
    frame = users.rename(columns={"revenue": "y", "sessions": "d", "pre": "x", "pre_sessions": "w"})
    control, treatment = _joint(frame, ["y", "d", "x", "w"])
    expected = ratio_cuped(control, treatment, relative=True)
    assert adjusted is not None
    assert adjusted.estimate == pytest.approx(expected.estimate, rel=1e-9)
    assert adjusted.pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_capping_is_done_in_the_engine_and_said(users: pd.DataFrame) -> None:
    result = _analyze(users, {"name": "revenue", "sql": REVENUE, "cap_quantile": 0.99})
    cap = float(np.percentile(users["revenue"], 99))
    note = next(w for w in result.warnings if "capped" in w)
    assert "P99" in note
    assert f"y at {cap:.6g}" in note
    capped = users.assign(revenue=users["revenue"].clip(upper=cap))
    control = Moments.from_values(capped.loc[capped["arm"] == "control", "revenue"])
    assert result.effect("revenue").control.mean == pytest.approx(control.mean, rel=1e-9)


def test_priors_reach_the_bayesian_panel(users: pd.DataFrame) -> None:
    result = _analyze(
        users,
        {
            "name": "converted",
            "kind": "proportion",
            "sql": "SELECT unit, ts, 1 AS value FROM events WHERE event = 'buy' AND value > 0",
            "prior": [2, 40],
        },
        {"name": "revenue", "sql": REVENUE, "prior": [0.0, 0.05]},
    )
    conversion, revenue = result.effect("converted"), result.effect("revenue")
    beta = chance_to_beat(conversion.control, conversion.treatment, method="beta", prior=(2.0, 40.0))
    lift = chance_to_beat(revenue.control, revenue.treatment, method="lift", prior=(0.0, 0.05**2))
    assert conversion.bayes is not None
    assert revenue.bayes is not None
    assert conversion.bayes.chance == pytest.approx(beta.chance, rel=1e-12)
    assert revenue.bayes.chance == pytest.approx(lift.chance, rel=1e-12)
    flat = chance_to_beat(revenue.control, revenue.treatment, method="lift")
    assert revenue.bayes.estimate < flat.estimate  # the sceptical prior shrinks the lift towards 0
    assert "N(0, 0.0025) prior" in revenue.bayes.method


def test_score_intervals_for_a_proportion(users: pd.DataFrame) -> None:
    sql = "SELECT unit, ts, 1 AS value FROM events WHERE event = 'buy' AND value > 0"
    result = _analyze(users, {"name": "converted", "kind": "proportion", "sql": sql, "interval": "newcombe"})
    effect = result.effect("converted")
    newcombe = proportion_difference(effect.control, effect.treatment, method="newcombe")  # type: ignore[arg-type]
    score = proportion_ratio(effect.control, effect.treatment, method="score")  # type: ignore[arg-type]
    assert (effect.absolute.ci_low, effect.absolute.ci_high) == pytest.approx((newcombe.ci_low, newcombe.ci_high))
    assert (effect.relative.ci_low, effect.relative.ci_high) == pytest.approx((score.ci_low - 1, score.ci_high - 1))
    assert tuple(effect.absolute.confidence_interval(0.9)) == pytest.approx(
        tuple(proportion_difference(effect.control, effect.treatment, alpha=0.1).confidence_interval())  # type: ignore[arg-type]
    )
    assert math.isfinite(effect.absolute.pvalue)  # the z-test's


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"name": "m", "sql": REVENUE, "prior": [1.0]}, "prior of metric 'm' must be two numbers"),
        ({"name": "m", "sql": REVENUE, "prior": [0.0, -1.0]}, "the sd must be > 0"),
        ({"name": "m", "kind": "proportion", "sql": REVENUE, "prior": [0, 1]}, "both Beta parameters must be > 0"),
        ({"name": "m", "sql": REVENUE, "interval": "newcombe"}, "is for proportions"),
        ({"name": "m", "kind": "proportion", "sql": REVENUE, "interval": "exact"}, "unknown interval 'exact'"),
    ],
)
def test_new_metric_keys_are_validated(metric: dict[str, object], message: str) -> None:
    from abnb.errors import SpecError

    with pytest.raises(SpecError, match=message):
        Experiment.from_dict({"name": "exp", "metrics": [metric]})


def test_post_stratification_by_a_segment_column(sample_db: object) -> None:
    import dataclasses

    import abnb
    from abnb.datasets import experiment
    from abnb.stats import poststratify

    spec = dataclasses.replace(experiment("checkout_redesign"), poststratify="country")
    with abnb.connect(sample_db) as con:  # type: ignore[arg-type]
        result = spec.analyze(con, as_of="2026-10-14")
    effect = result.effect("revenue")
    cells = {level: m["revenue"] for (column, level), m in result.segments.items() if column == "country"}
    expected = poststratify(
        {level: arms["control"] for level, arms in cells.items()},  # type: ignore[misc]
        {level: arms["treatment"] for level, arms in cells.items()},  # type: ignore[misc]
        relative=True,
        drop_sparse=True,
    )
    assert effect.stratified is not None
    assert effect.stratified.estimate == pytest.approx(expected.estimate, rel=1e-12)
    assert result.to_frame()["strat_rel_estimate"].notna().sum() == len(result.effects) - 1  # not the ratio metric
    assert len(result.table("stratified").data) == len(result.effects) - 1
    from abnb.errors import SpecError

    with pytest.raises(SpecError, match=r"poststratify 'browser' .* must be one of its segments"):
        dataclasses.replace(spec, poststratify="browser")
