"""Whole analyses on metrics that are negative, rare or absent in an arm: decisions and reports stay right."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abnb.experiment import Experiment

START = datetime(2026, 10, 1)


def _frames(values: dict[str, np.ndarray], crashes: dict[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """Exposures for each arm's units, one `profit` event per unit (the given values), and `crash` events."""
    exposures, events = [], []
    unit = 0
    for arm, profit in values.items():
        for i, value in enumerate(profit):
            unit += 1
            at = START + timedelta(minutes=unit)
            exposures.append((f"u{unit}", arm, at, "exp"))
            events.append((f"u{unit}", at + timedelta(hours=1), "profit", float(value)))
            if crashes and i < crashes.get(arm, 0):
                events.append((f"u{unit}", at + timedelta(hours=2), "crash", 1.0))
    return {
        "exposures": pd.DataFrame(exposures, columns=["unit", "arm", "ts", "experiment"]),
        "events": pd.DataFrame(events, columns=["unit", "ts", "event", "value"]),
    }


def _spec(arms: list[str], *metrics: dict[str, object]) -> Experiment:
    return Experiment.from_dict(
        {
            "name": "exp",
            "arms": arms,
            "control": arms[0],
            "start": "2026-10-01T00:00:00",
            "end": "2026-10-10T00:00:00",
            "correction": "none",
            "metrics": list(metrics),
        }
    )


PROFIT = {"name": "profit", "kind": "mean", "sql": "SELECT unit, ts, value FROM events WHERE event = 'profit'"}
CRASHES = {
    "name": "crashes",
    "kind": "proportion",
    "role": "guardrail",
    "direction": "decrease",
    "sql": "SELECT unit, ts, 1 AS value FROM events WHERE event = 'crash'",
}


def test_a_negative_metric_ships_the_arm_with_the_larger_gain() -> None:
    """Three arms of a profit metric below 0: ranked by the lift m_t/m_c − 1, the smaller gain used to ship."""
    rng = np.random.default_rng(1)
    values = {arm: rng.normal(mean, 5.0, 3000) for arm, mean in (("A", -10.0), ("B", -9.0), ("C", -7.0))}
    result = _spec(["A", "B", "C"], PROFIT).analyze(_frames(values), as_of="2026-10-09")
    b, c = result.effect("profit", "B"), result.effect("profit", "C")
    assert b.improved
    assert c.improved
    assert 0 < b.relative.estimate < c.relative.estimate  # (t − c)/|c|: +10% and +30%, not −10% and −30%
    assert result.decision.verdict == "ship"
    assert result.decision.arm == "C"


def test_zero_crashes_in_an_arm_keep_the_absolute_test_and_the_other_metrics() -> None:
    """Control 3/2000 crashes vs treatment 0/2000 used to stop the whole analysis (delta SE of the lift = 0)."""
    from statsmodels.stats.proportion import test_proportions_2indep

    rng = np.random.default_rng(2)
    values = {"control": rng.normal(5.0, 1.0, 2000), "treatment": rng.normal(5.3, 1.0, 2000)}
    frames = _frames(values, crashes={"control": 3, "treatment": 0})
    result = _spec(["control", "treatment"], PROFIT, CRASHES).analyze(frames, as_of="2026-10-09")
    crashes = result.effect("crashes")
    wald = test_proportions_2indep(0, 2000, 3, 2000, method="wald", compare="diff")
    assert crashes.absolute.pvalue == pytest.approx(wald.pvalue, rel=1e-9)  # ≈ 0.083
    assert crashes.relative.estimate == pytest.approx(-1.0)
    assert any("crashes" in note and "relative interval" in note for note in result.warnings)
    assert result.effect("profit").improved
    assert result.decision.verdict == "ship"


def test_a_control_without_events_has_no_lift_but_an_absolute_test() -> None:
    rng = np.random.default_rng(3)
    values = {"control": rng.normal(5.0, 1.0, 2000), "treatment": rng.normal(5.0, 1.0, 2000)}
    frames = _frames(values, crashes={"control": 0, "treatment": 3})
    result = _spec(["control", "treatment"], PROFIT, CRASHES).analyze(frames, as_of="2026-10-09")
    crashes = result.effect("crashes")
    assert math.isfinite(crashes.absolute.pvalue)
    assert math.isnan(crashes.relative.estimate)
    assert "control mean is 0" in crashes.relative.method
    assert any("no relative lift" in note and "absolute difference stands" in note for note in crashes.notes)
    assert result.summary()["effects"][1]["rel_estimate"] is None  # JSON null, not NaN


def test_a_guardrail_margin_on_a_negative_metric_is_tested_and_gates_shipping() -> None:
    """noninferiority used to raise on a negative mean; the swallowed error let a ship through unchecked."""
    rng = np.random.default_rng(4)
    values = {"control": rng.normal(-10.0, 3.0, 400), "treatment": rng.normal(-10.2, 3.0, 400)}
    frames = _frames(values, crashes={"control": 40, "treatment": 10})
    guardrail = {**PROFIT, "role": "guardrail", "margin": 0.01}
    goal = {**CRASHES, "role": "goal"}
    result = _spec(["control", "treatment"], goal, guardrail).analyze(frames, as_of="2026-10-09")
    profit = result.effect("profit")
    assert profit.noninferiority is not None
    assert not profit.noninferiority.passed  # −2% ± 2%: not shown within 1%
    assert result.effect("crashes").improved
    assert result.decision.verdict == "continue"
    assert "profit is not yet shown non-inferior" in result.decision.reason


def test_the_bayesian_rule_is_named_in_the_spec(sample_db: Path) -> None:
    import abnb
    from abnb.datasets import experiment

    sample = experiment("checkout_redesign")
    bayesian = dataclasses.replace(sample, decision_rule="bayesian")
    with abnb.connect(sample_db) as con:
        result = bayesian.analyze(con, as_of="2026-10-14")
        frequentist = sample.analyze(con, as_of="2026-10-14")
    conversion = result.effect("conversion")
    assert conversion.bayes is not None
    assert conversion.bayes.chance > 0.95
    # at 20,000 users the guardrail's margin is not shown yet: both rules wait for it
    assert result.decision.verdict == frequentist.decision.verdict == "continue"
    assert "treatment is likely better but sessions is not yet shown non-inferior" in result.decision.reason
    relaxed = dataclasses.replace(
        bayesian,
        metrics=tuple(dataclasses.replace(m, margin=None) if m.name == "sessions" else m for m in sample.metrics),
    )
    with abnb.connect(sample_db) as con:
        shipped = relaxed.analyze(con, as_of="2026-10-14")
        waiting = dataclasses.replace(relaxed, chance_to_win=0.999, max_expected_loss=1e-9).analyze(
            con, as_of="2026-10-14"
        )
    assert shipped.decision.verdict == "ship"
    assert f"with probability {conversion.bayes.chance:.1%}" in shipped.decision.reason
    assert waiting.decision.verdict == "continue"
    assert "< 100%" in waiting.decision.reason


def test_the_bayesian_rule_calls_harm_on_a_likely_worse_guardrail() -> None:
    rng = np.random.default_rng(5)
    values = {"control": rng.normal(5.0, 1.0, 2000), "treatment": rng.normal(5.0, 1.0, 2000)}
    frames = _frames(values, crashes={"control": 5, "treatment": 40})
    spec = dataclasses.replace(_spec(["control", "treatment"], PROFIT, CRASHES), decision_rule="bayesian")
    result = spec.analyze(frames, as_of="2026-10-09")
    assert result.decision.verdict == "harm"
    assert "crashes is worse in treatment with probability" in result.decision.reason


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("decision_rule", "vibes", "decision_rule 'vibes'"),
        ("chance_to_win", 0.4, r"chance_to_win .* \(0.5, 1\)"),
        ("max_expected_loss", -1.0, "max_expected_loss .* positive"),
    ],
)
def test_bayesian_rule_keys_are_validated(key: str, value: object, message: str) -> None:
    from abnb.errors import SpecError

    with pytest.raises(SpecError, match=message):
        Experiment.from_dict(
            {"name": "exp", key: value, "metrics": [{"name": "m", "sql": "SELECT unit, ts, 1 AS value FROM e"}]}
        )
