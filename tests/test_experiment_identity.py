"""A spec's identity (hypothesis, owner, links, plan), the result's health facts and decision reasons, and the
reasons given wherever a number is missing ("nothing silent")."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import abnb
from abnb.errors import DataError, SpecError
from abnb.experiment import PLAN_KEYS, Experiment, Plan, Progress
from abnb.stats import Moments, chance_to_beat, mde, quantile_difference, sample_size

START = datetime(2026, 10, 1)
SOURCE = "experiments/exp.toml"


def _metric(name: str, event: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "sql": f"SELECT unit, ts, value FROM events WHERE event = '{event}'", **keys}


def _spec(*metrics: dict[str, Any], **keys: Any) -> Experiment:
    data = {
        "name": "exp",
        "start": "2026-10-01T00:00:00",
        "end": "2026-10-10T00:00:00",
        "correction": "none",
        "metrics": list(metrics) or [_metric("goal", "goal")],
        **keys,
    }
    return Experiment.from_dict(data, source=SOURCE)


def _frames(values: dict[str, dict[str, np.ndarray]], days: int = 5) -> dict[str, pd.DataFrame]:
    """Exposures spread over the first ``days`` days of October (unit i on day i mod days); one event per value."""
    exposures, events = [], []
    unit = 0
    for arm, columns in values.items():
        n = len(next(iter(columns.values())))
        for i in range(n):
            unit += 1
            at = START + timedelta(days=i % days, minutes=i // days)
            exposures.append((f"u{unit}", arm, at, "exp"))
            events += [(f"u{unit}", at + timedelta(hours=1), event, float(v[i])) for event, v in columns.items()]
    return {
        "exposures": pd.DataFrame(exposures, columns=["unit", "arm", "ts", "experiment"]),
        "events": pd.DataFrame(events, columns=["unit", "ts", "event", "value"]),
    }


def _normal(seed: int, n: dict[str, int], **metrics: tuple[float, float]) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {arm: {m: rng.normal(mean, sd, size) for m, (mean, sd) in metrics.items()} for arm, size in n.items()}


# --- the spec's new keys ----------------------------------------------------------------------------------------


FULL = {
    "hypothesis": "A one-page checkout makes more visitors buy.",
    "owner": "payments team",
    "links": {"design_doc": "https://wiki.example.com/checkout", "dashboard": "http://dash.example.com/d/42?x=1"},
    "plan": {"mde": 0.02, "metric": "goal", "power": 0.9},
}


def test_the_new_keys_round_trip_through_dicts_and_json() -> None:
    spec = _spec(_metric("goal", "goal"), _metric("guard", "guard", role="guardrail"), **FULL)
    assert spec.hypothesis == FULL["hypothesis"]
    assert spec.owner == "payments team"
    assert spec.links == (
        ("design_doc", "https://wiki.example.com/checkout"),
        ("dashboard", "http://dash.example.com/d/42?x=1"),
    )
    assert spec.plan == Plan(mde=0.02, metric="goal", power=0.9)
    data = spec.to_dict()
    assert data["links"] == FULL["links"]
    assert list(data["links"]) == ["design_doc", "dashboard"]  # the file's order
    assert data["plan"] == {"mde": 0.02, "metric": "goal", "power": 0.9}
    assert Experiment.from_dict(data) == spec
    assert Experiment.from_dict(json.loads(json.dumps(data))) == spec  # the report's spec_json parameter
    units = dataclasses.replace(spec, plan=Plan(units_per_arm=50_000), links=())
    assert units.to_dict()["plan"] == {"units_per_arm": 50_000, "power": 0.8}
    assert units.to_dict()["links"] == {}
    assert Experiment.from_dict(units.to_dict()) == units
    assert tuple(f.name for f in dataclasses.fields(Plan)) == PLAN_KEYS


def test_the_defaults_leave_the_old_specs_as_they_were() -> None:
    spec = _spec()
    assert (spec.hypothesis, spec.owner, spec.links, spec.plan, spec.plan_metric) == ("", "", (), None, None)
    assert "plan" not in spec.to_dict()
    # a plan without a metric is about the first goal metric, else the first metric
    first_goal = _spec(_metric("a", "a", role="secondary"), _metric("b", "b"), plan={"units_per_arm": 10})
    assert first_goal.plan_metric == "b"
    no_goal = _spec(_metric("a", "a", role="secondary"), _metric("b", "b", role="guardrail"), plan={"mde": 0.1})
    assert no_goal.plan_metric == "a"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"hypothesis": 5}, "hypothesis of experiment 'exp' must be a string"),
        ({"owner": ["ana"]}, "owner of experiment 'exp' must be a string"),
        ({"description": None}, "description of experiment 'exp' must be a string"),
        ({"links": "https://example.com"}, r"links of experiment 'exp' must be a table of label = URL"),
        ({"links": {"doc": "javascript:alert(1)"}}, r"links of experiment 'exp': doc = 'javascript:alert\(1\)' is not"),
        ({"links": {"img": "data:text/html,<b>x</b>"}}, r"links .*: img = 'data:text/html.* Only http:// and https://"),
        ({"links": {"f": "ftp://example.com/x"}}, r"links .*: f = 'ftp://example.com/x' is not a web address"),
        ({"links": {"f": "https://"}}, r"links .*: f = 'https://' is not a web address"),
        ({"links": {"f": "https://example.com/a b"}}, r"links .*: f = .* without spaces"),
        ({"links": {"f": "https://example.com/" + "a" * 2000}}, r"links .*: f = .* at most 2,000 characters"),
        ({"links": {"f": 5}}, r"links .*: f = 5 is not a web address"),
        ({"links": {"": "https://example.com"}}, r"links .*: label '' must be a non-empty string"),
        ({"links": {"x" * 101: "https://example.com"}}, r"links .*: label 'x{101}' must be .* at most 100"),
        ({"plan": {}}, r"\[plan\] needs exactly one of units_per_arm .* and mde"),
        ({"plan": {"mde": 0.02, "units_per_arm": 10}}, r"\[plan\] needs exactly one of units_per_arm"),
        ({"plan": {"units_per_arm": 0}}, r"\[plan\] units_per_arm must be a positive whole number"),
        ({"plan": {"units_per_arm": 1.5}}, r"\[plan\] units_per_arm must be a positive whole number"),
        ({"plan": {"units_per_arm": True}}, r"\[plan\] units_per_arm must be a positive whole number"),
        ({"plan": {"mde": 0}}, r"\[plan\] mde is a relative lift .* \(0, 10\), got 0"),
        ({"plan": {"mde": 10}}, r"\[plan\] mde is a relative lift .* \(0, 10\), got 10"),
        ({"plan": {"mde": "2%"}}, r"\[plan\] mde is a relative lift .* got '2%'"),
        ({"plan": {"mde": math.nan}}, r"\[plan\] mde is a relative lift"),
        ({"plan": {"mde": 0.02, "power": 1}}, r"\[plan\] power must lie in \(0, 1\)"),
        ({"plan": {"mde": 0.02, "power": 0}}, r"\[plan\] power must lie in \(0, 1\)"),
        ({"plan": {"mde": 0.02, "metric": 3}}, r"\[plan\] metric must be the name of one of the experiment's metrics"),
        ({"plan": {"mde": 0.02, "metric": "nope"}}, r"\[plan\] metric 'nope' is not one of its metrics \(goal\)"),
        ({"plan": {"mde": 0.02, "alpha": 0.1}}, r"\[plan\]: unknown key\(s\) alpha; allowed: units_per_arm, mde"),
        ({"plan": 100000}, r"plan must be a table \(\[plan\] in TOML"),
    ],
)
def test_bad_identity_and_plan_values_name_the_key_and_the_file(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message) as error:
        _spec(**keys)
    assert str(error.value).startswith(f"{SOURCE}: ")


def test_the_constructor_takes_a_mapping_of_links_and_a_plan() -> None:
    metric = abnb.Metric("goal", abnb.Sql("SELECT unit, ts, value FROM events"))
    links: Any = {"doc": "https://a.example/b"}
    plan: Any = {"units_per_arm": 5}
    spec = Experiment("exp", (metric,), links=links, plan=plan)
    assert spec.links == (("doc", "https://a.example/b"),)
    assert spec.plan == Plan(units_per_arm=5)
    assert abnb.Plan is Plan
    with pytest.raises(SpecError, match=r"label 'doc' is given twice"):
        Experiment("exp", (metric,), links=(("doc", "https://a.example"), ("doc", "https://b.example")))


# --- progress, days running, last data day ---------------------------------------------------------------------


def test_progress_of_a_plan_in_units_is_the_smallest_arm_over_the_plan() -> None:
    values = {
        "control": {"goal": np.random.default_rng(1).normal(10.0, 3.0, 400)},
        "treatment": {"goal": np.random.default_rng(2).normal(10.0, 3.0, 410)},
    }
    result = _spec(plan={"units_per_arm": 500}).analyze(_frames(values), as_of="2026-10-09")
    progress = result.progress
    assert isinstance(progress, Progress)
    assert (progress.metric, progress.units_per_arm, progress.planned_units_per_arm) == ("goal", 400, 500.0)
    assert progress.fraction == pytest.approx(0.8, rel=1e-12)
    assert progress.mde_planned is None
    effect = result.effect("goal")
    c, t = effect.control, effect.treatment
    assert isinstance(c, Moments)
    expected = mde(c.n, abs(c.mean), relative=True, alpha=0.05, power=0.8, ratio=t.n / c.n, sd=c.std)
    assert progress.mde_now == pytest.approx(expected, rel=1e-12)
    assert progress.mde_now == pytest.approx(effect.mde, rel=1e-12)  # the power view's MDE at the same power
    assert progress.method.startswith("fraction = units in the smallest arm / planned units; planned: units_per_arm")
    assert progress.to_dict() == {
        "metric": "goal",
        "units_per_arm": 400,
        "planned_units_per_arm": 500.0,
        "fraction": progress.fraction,
        "mde_now": progress.mde_now,
        "mde_planned": None,
        "method": progress.method,
    }


@pytest.mark.parametrize("kind", ["mean", "proportion"])
def test_progress_of_an_mde_plan_is_measured_against_the_sample_size(kind: str) -> None:
    rng = np.random.default_rng(3)
    if kind == "mean":
        values = {arm: {"goal": rng.gamma(2.0, 5.0, n)} for arm, n in (("control", 600), ("treatment", 500))}
    else:
        values = {
            arm: {"goal": (rng.random(n) < 0.3).astype(float)} for arm, n in (("control", 600), ("treatment", 500))
        }
    goal = _metric("goal", "goal", kind=kind)
    spec = _spec(goal, plan={"mde": 0.05, "power": 0.9})
    result = spec.analyze(_frames(values), as_of="2026-10-09")
    progress = result.progress
    assert progress is not None
    c, t = result.effect("goal").control, result.effect("goal").treatment
    assert isinstance(c, Moments)
    assert isinstance(t, Moments)
    sd = None if kind == "proportion" else c.std
    needed = sample_size(abs(c.mean), 0.05, relative=True, alpha=0.05, power=0.9, ratio=t.n / c.n, sd=sd)
    assert progress.units_per_arm == 500  # the treatment arm is the smaller
    assert progress.planned_units_per_arm == pytest.approx(needed * 500 / 600, rel=1e-9)
    assert progress.fraction == pytest.approx(600 / needed, rel=1e-9)
    now = mde(c.n, abs(c.mean), relative=True, alpha=0.05, power=0.9, ratio=t.n / c.n, sd=sd)
    assert progress.mde_now == pytest.approx(now, rel=1e-9)  # at the plan's power, not the power view's 0.8
    assert progress.mde_now != pytest.approx(result.effect("goal").mde, rel=1e-3)
    assert progress.mde_planned == 0.05
    # a mean's MDE shrinks exactly as 1/√n: the fraction is (mde_planned / mde_now)² up to rounding the sample size
    # up; a proportion's variance depends on the rate it detects, so there the scaling is only a guide (~5% off)
    scaled = (0.05 / now) ** 2
    assert progress.fraction == pytest.approx(scaled, rel=0.002 if kind == "mean" else 0.1)
    assert "abnb.stats.sample_size for a 5.00% relative lift of goal" in progress.method
    summary = json.loads(json.dumps(result.summary(), allow_nan=False))
    assert summary["plan"] == {"mde": 0.05, "power": 0.9, "metric": "goal"}
    assert summary["progress"] == pytest.approx(progress.to_dict())


def test_an_mde_plan_on_a_ratio_metric_says_why_it_has_no_size() -> None:
    rng = np.random.default_rng(4)
    values = {
        arm: {"spend": rng.gamma(2.0, 5.0, 300), "visit": rng.integers(1, 4, 300)} for arm in ("control", "treatment")
    }
    ratio = _metric(
        "spv", "spend", kind="ratio", denominator_sql="SELECT unit, ts, value FROM events WHERE event = 'visit'"
    )
    result = _spec(ratio, plan={"mde": 0.1}).analyze(_frames(values), as_of="2026-10-09")
    progress = result.progress
    assert progress is not None
    assert math.isnan(progress.planned_units_per_arm)
    assert math.isnan(progress.fraction)
    assert math.isnan(progress.mde_now)
    assert progress.method == (
        "fraction = units in the smallest arm / planned units; planned: not computed (an mde plan needs a mean or "
        "proportion metric; spv is a ratio); MDE now: not computed (ratio metrics have none, delta-method ratio)."
    )
    assert progress.to_dict()["fraction"] is None
    assert json.loads(json.dumps(result.summary(), allow_nan=False))["progress"]["mde_now"] is None


def test_days_running_and_the_last_data_day() -> None:
    values = _normal(5, {"control": 100, "treatment": 100}, goal=(10.0, 3.0))
    frames = _frames(values, days=5)  # exposures on October 1 to 5
    with abnb.connect(frames=frames) as con:
        result = _spec().analyze(con, as_of="2026-10-09")
        assert con.queries_run == 2  # the last data day costs no query: it comes with the aggregate scan
    assert result.label == date(2026, 10, 9)
    assert result.last_data_day == date(2026, 10, 5)
    assert result.days_running == 9  # October 1 to 9, both counted
    earlier = _spec().analyze(frames, as_of="2026-10-03")
    assert earlier.last_data_day == date(2026, 10, 3)  # at or before the cutoff
    assert earlier.days_running == 3
    assert _spec(start=None).analyze(frames, as_of="2026-10-09").days_running is None
    later = _spec(start="2026-10-02T12:00:00").analyze(frames, as_of="2026-10-09")
    assert later.days_running == 8
    summary = result.summary()
    assert (summary["last_data_day"], summary["days_running"]) == ("2026-10-05", 9)
    assert summary["plan"] is None
    assert summary["progress"] is None
    assert (summary["hypothesis"], summary["owner"], summary["links"]) == ("", "", [])


def test_a_unit_table_without_time_has_no_last_data_day() -> None:
    rng = np.random.default_rng(6)
    users = pd.DataFrame(
        {
            "unit": np.arange(200),
            "arm": np.repeat(["control", "treatment"], 100),
            "y": rng.normal(5.0, 1.0, 200),
        }
    )
    spec = Experiment.from_dict(
        {
            "name": "exp",
            "exposures": {"table": "users", "level": "unit", "ts": "", "experiment_column": ""},
            "metrics": [{"name": "y", "column": "y"}],
        }
    )
    assert spec.analyze({"users": users}, as_of="2026-10-09").last_data_day is None
    timed = users.assign(ts=[START + timedelta(hours=i) for i in range(200)])
    spec = dataclasses.replace(spec, exposures=dataclasses.replace(spec.exposures, ts="ts"))
    assert spec.analyze({"users": timed}, as_of="2026-10-09").last_data_day == date(2026, 10, 9)


def test_the_summary_carries_the_identity_of_the_experiment() -> None:
    values = _normal(7, {"control": 100, "treatment": 100}, goal=(10.0, 3.0))
    spec = _spec(description="One page.", **FULL)
    summary = json.loads(json.dumps(spec.analyze(_frames(values), as_of="2026-10-09").summary(), allow_nan=False))
    assert summary["description"] == "One page."
    assert summary["hypothesis"] == FULL["hypothesis"]
    assert summary["owner"] == "payments team"
    assert summary["links"] == [
        {"label": "design_doc", "url": "https://wiki.example.com/checkout"},
        {"label": "dashboard", "url": "http://dash.example.com/d/42?x=1"},
    ]
    assert summary["plan"] == {"mde": 0.02, "metric": "goal", "power": 0.9}
    assert set(summary["progress"]) == {f.name for f in dataclasses.fields(Progress)}
    assert summary["decision"]["reasons"] == [
        "treatment: no goal metric is significantly better yet (lowest p-value: goal, "
        f"{summary['effects'][0]['pvalue']:.3g}; α = 0.05)."
    ]


# --- decision reasons -------------------------------------------------------------------------------------------


def test_a_continue_names_the_open_guardrail_and_the_missing_goal() -> None:
    values = _normal(30, {"control": 400, "treatment": 400}, goal=(10.0, 3.0), guard=(5.0, 2.0))
    spec = _spec(_metric("goal", "goal"), _metric("guard", "guard", role="guardrail", margin=0.01))
    result = spec.analyze(_frames(values), as_of="2026-10-09")
    goal, guard = result.effect("goal"), result.effect("guard")
    assert not goal.significant
    assert guard.noninferiority is not None
    assert not guard.noninferiority.passed
    decision = result.decision
    assert (decision.verdict, decision.arm) == ("continue", None)
    assert decision.reasons == (
        f"treatment: no goal metric is significantly better yet (lowest p-value: goal, {goal.pvalue:.3g}; α = 0.05).",
        "treatment: guardrail guard is not yet shown non-inferior "
        f"(margin 1.0%, p = {guard.noninferiority.pvalue:.3g}).",
    )
    assert decision.reason == " ".join(decision.reasons)
    assert result.summary()["decision"]["reasons"] == list(decision.reasons)


def test_an_early_look_names_the_goal_the_end_date_and_the_open_guardrail(sample_db: Path) -> None:
    """The old reason named only the anytime-valid interval; the guardrail's margin was not mentioned."""
    spec = abnb.load("checkout_redesign")
    with abnb.connect(sample_db) as con:
        early = dataclasses.replace(spec, end=datetime(2026, 11, 15)).analyze(con, as_of="2026-10-14")
    sessions = early.effect("sessions")
    assert sessions.noninferiority is not None
    assert early.decision.verdict == "continue"
    assert early.decision.reasons == (
        "treatment improves conversion at the fixed horizon, but the experiment runs until 2026-11-15 and the "
        "anytime-valid interval does not yet lie on the better side of 0.",
        "treatment improves conversion but sessions is not yet shown non-inferior "
        f"(margin 2.0%, p = {sessions.noninferiority.pvalue:.3g}).",
    )
    assert early.last_data_day == date(2026, 10, 10)  # the sample's exposures end on October 10
    assert early.label == date(2026, 10, 14)


def test_an_end_with_an_offset_is_compared_in_the_connections_zone(sample_db: Path) -> None:
    """A spec's ``end`` written with an offset used to break the decision (naive cutoff vs aware end)."""
    spec = abnb.load("checkout_redesign")
    with abnb.connect(sample_db) as con:
        naive = dataclasses.replace(spec, end=datetime(2026, 11, 14, 22)).analyze(con, as_of="2026-10-14")
        aware = dataclasses.replace(spec, end="2026-11-15T00:00:00+02:00").analyze(con, as_of="2026-10-14")
    assert aware.timezone == naive.timezone == "UTC"
    assert aware.window == (datetime(2026, 10, 1), datetime(2026, 11, 14, 22))
    assert aware.decision == naive.decision
    assert aware.decision.reasons[0].endswith(
        "runs until 2026-11-14 and the anytime-valid interval does not yet lie on the better side of 0."
    )
    assert "planned end 2026-11-14" in abnb.report.display.headline(aware).data


def test_a_start_with_an_offset_counts_days_in_the_connections_zone() -> None:
    frames = _frames(_normal(5, {"control": 100, "treatment": 100}, goal=(10.0, 3.0)), days=5)
    result = _spec(start="2026-10-02T01:00:00+02:00").analyze(frames, as_of="2026-10-09")
    assert result.window[0] == datetime(2026, 10, 1, 23)  # 23:00 UTC on October 1
    assert result.days_running == 9


def test_load_takes_a_project_folder_as_text(tmp_path: Path) -> None:
    """``project=`` accepted only a Project; a folder's path gave an AttributeError."""
    (tmp_path / "experiments").mkdir()
    source = Path(abnb.__file__).parent / "datasets" / "experiments" / "checkout_redesign.toml"
    (tmp_path / "experiments" / "mine.toml").write_text(source.read_text().replace('"checkout_redesign"', '"mine"'))
    assert abnb.load("mine", project=str(tmp_path)).name == "mine"
    assert abnb.load("mine", project=tmp_path).name == "mine"
    with pytest.raises(SpecError, match="mine2"):
        abnb.load("mine2", project=str(tmp_path))


def test_the_bayesian_rule_lists_every_missing_condition(sample_db: Path) -> None:
    spec = dataclasses.replace(
        abnb.load("checkout_redesign"), decision_rule="bayesian", chance_to_win=0.999, max_expected_loss=1e-9
    )
    with abnb.connect(sample_db) as con:
        result = spec.analyze(con, as_of="2026-10-14")
    conversion, sessions = result.effect("conversion"), result.effect("sessions")
    assert conversion.bayes is not None
    assert sessions.noninferiority is not None
    assert result.decision.verdict == "continue"
    assert result.decision.reasons == (
        f"treatment: chance to beat control on conversion {conversion.bayes.chance:.1%} < 100%.",
        f"treatment: expected loss on conversion {conversion.bayes.expected_loss:.3g} > 1e-09.",
        f"treatment: guardrail sessions is not yet shown non-inferior (margin 2.0%, p = "
        f"{sessions.noninferiority.pvalue:.3g}).",
    )


def test_harm_names_every_worse_guardrail_and_invalid_the_mismatch() -> None:
    values = _normal(8, {"control": 2000, "treatment": 2000}, goal=(10.0, 3.0), a=(5.0, 1.0), b=(5.0, 1.0))
    values["treatment"]["a"] -= 0.5
    values["treatment"]["b"] -= 0.5
    guard = {"role": "guardrail"}
    spec = _spec(_metric("goal", "goal"), _metric("a", "a", **guard), _metric("b", "b", **guard))
    result = spec.analyze(_frames(values), as_of="2026-10-09")
    a, b = result.effect("a"), result.effect("b")
    assert result.decision.verdict == "harm"
    assert result.decision.arm == "treatment"
    assert result.decision.reasons == (
        f"guardrail a got worse in treatment ({a.relative.estimate:+.2%}, p = {a.absolute.pvalue:.3g}).",
        f"guardrail b got worse in treatment ({b.relative.estimate:+.2%}, p = {b.absolute.pvalue:.3g}).",
    )
    assert result.decision.reason == " ".join(result.decision.reasons)
    skewed = _normal(9, {"control": 1000, "treatment": 700}, goal=(10.0, 3.0))
    invalid = _spec().analyze(_frames(skewed), as_of="2026-10-09").decision
    assert invalid.verdict == "invalid"
    assert invalid.reasons == (invalid.reason,)
    assert invalid.reason.startswith("sample ratio mismatch (χ² p = ")


def test_shipping_has_no_blocking_reason() -> None:
    values = _normal(10, {"control": 2000, "treatment": 2000}, goal=(10.0, 3.0))
    values["treatment"]["goal"] += 1.0
    decision = _spec(end=None).analyze(_frames(values), as_of="2026-10-09").decision
    assert (decision.verdict, decision.arm, decision.reasons) == ("ship", "treatment", ())


# --- nothing silent ---------------------------------------------------------------------------------------------


RATIO = _metric(
    "spv", "spend", kind="ratio", denominator_sql="SELECT unit, ts, value FROM events WHERE event = 'visit'"
)


def _ratio_values(seed: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        arm: {"spend": rng.gamma(2.0, 5.0, 300), "visit": rng.integers(1, 4, 300), "goal": rng.normal(10, 3, 300)}
        for arm in ("control", "treatment")
    }


def test_ratio_rows_say_why_they_have_no_posterior_sequence_or_mde() -> None:
    result = _spec(_metric("goal", "goal"), {**RATIO, "role": "secondary"}).analyze(
        _frames(_ratio_values(11)), as_of="2026-10-09"
    )
    row = result.effect("spv").row()
    assert row["bayes_method"] == "not computed: no posterior for ratio metrics (delta-method ratio)"
    assert row["seq_method"] == "not computed: no confidence sequence for ratio metrics (delta-method ratio)"
    assert row["mde_method"] == "not computed: no MDE for ratio metrics (delta-method ratio)"
    goal = result.effect("goal").row()
    assert (
        goal["mde_method"]
        == "relative lift detectable with 80% power by the two-sided test at α = 0.05 (abnb.stats.mde)"
    )
    assert result.effect("spv").notes == ()  # no margin, no stratification: nothing more to say
    frame = result.to_frame()
    assert frame.loc[frame["metric"] == "spv", "bayes_method"].item() == row["bayes_method"]
    assert "mde_method" in result.table("power").data.columns


def test_a_failed_panel_puts_its_reason_in_the_method_column() -> None:
    values = {arm: {"flat": np.full(50, 3.0)} for arm in ("control", "treatment")}
    result = _spec(_metric("flat", "flat")).analyze(_frames(values), as_of="2026-10-09")
    with pytest.raises(DataError) as error:
        chance_to_beat(Moments.from_values([3.0] * 50), Moments.from_values([3.0] * 50), method="lift")
    row = result.effect("flat").row()
    assert row["bayes_method"] == f"not computed: {error.value}"
    assert f"metric 'flat', 'treatment' vs 'control': no chance to beat control ({error.value})." in result.warnings


def test_a_ratio_guardrail_with_a_margin_says_it_holds_back_shipping() -> None:
    values = _ratio_values(12)
    values["treatment"]["goal"] += 2.0
    spec = _spec(_metric("goal", "goal"), {**RATIO, "role": "guardrail", "margin": 0.05}, end=None)
    result = spec.analyze(_frames(values), as_of="2026-10-09")
    why = (
        "ratio metrics have none, delta-method ratio: the margin 5.0% cannot be shown, so it holds back shipping; "
        "drop the margin or use a mean metric"
    )
    assert result.effect("spv").notes == (f"metric 'spv', 'treatment' vs 'control': no non-inferiority test ({why}).",)
    assert result.decision.verdict == "continue"
    assert result.decision.reasons == (
        f"treatment improves goal but spv is not yet shown non-inferior (margin 5.0%; no test: {why}).",
    )


def test_post_stratification_of_a_ratio_metric_is_said_to_be_missing() -> None:
    frames = _frames(_ratio_values(13))
    frames["exposures"]["country"] = np.where(np.arange(len(frames["exposures"])) % 2 == 0, "de", "fr")
    spec = _spec(_metric("goal", "goal"), {**RATIO, "role": "secondary"}, segments=["country"], poststratify="country")
    result = spec.analyze(frames, as_of="2026-10-09")
    note = (
        "metric 'spv', 'treatment' vs 'control': no post-stratification by country (not available for ratio "
        "metrics, delta-method ratio; the unstratified lift stands)."
    )
    assert result.effect("spv").notes == (note,)
    assert note in result.warnings
    assert result.effect("goal").stratified is not None


def test_the_segments_frame_says_why_a_level_has_no_lift() -> None:
    rng = np.random.default_rng(14)
    values = {arm: {"crash": (rng.random(400) < 0.1).astype(float)} for arm in ("control", "treatment")}
    frames = _frames(values)
    exposures, events = frames["exposures"], frames["events"]
    exposures["country"] = np.where(np.arange(len(exposures)) % 4 == 0, "de", "fr")
    quiet = exposures.loc[(exposures["country"] == "de") & (exposures["arm"] == "control"), "unit"]
    events.loc[events["unit"].isin(quiet), "value"] = 0.0  # no crash in the control arm in Germany
    spec = _spec(
        _metric("crash", "crash", kind="proportion", role="guardrail", direction="decrease"), segments=["country"]
    )
    frame = spec.analyze(frames, as_of="2026-10-09").segments_frame()
    de = frame[frame["level"] == "de"].iloc[0]
    assert math.isnan(de["rel_estimate"])
    assert math.isfinite(de["pvalue"])
    assert de["note"].startswith("no relative lift (")
    assert de["note"].endswith("); the absolute difference stands.")
    assert frame[frame["level"] == "fr"].iloc[0]["note"] == ""


def test_a_degenerate_quantile_is_a_row_with_its_reason() -> None:
    rng = np.random.default_rng(5)
    values = {
        arm: {"spend": np.where(rng.random(300) < 0.2, rng.gamma(2.0, 10.0, 300), 0.0)}
        for arm in ("control", "treatment")
    }
    frames = _frames(values)
    spec = _spec(_metric("spend", "spend", quantiles=[0.5, 0.9]))
    with abnb.connect(frames=frames) as con:
        (comparison,) = spec.distributions(con, "spend", as_of="2026-10-09")
    with pytest.raises(DataError) as error:
        quantile_difference([0.0] * 300, [0.0] * 300, 0.5)
    reason = str(error.value)
    assert [q.q for q in comparison.quantiles] == [0.9]
    assert comparison.missing == ((0.5, reason),)
    assert comparison.notes == (f"metric 'spend', 'treatment' vs 'control': no P50 difference ({reason}).",)
    frame = comparison.to_frame()
    assert frame["statistic"].tolist() == [
        "location shift (Hodges–Lehmann)",
        "P50 difference",
        "P90 difference",
    ]
    p50 = frame.iloc[1]
    assert p50["method"] == f"not computed: {reason}"
    assert math.isnan(p50["estimate"])
    assert comparison.note.endswith(f"treatment values). P50 not computed: {reason}")
