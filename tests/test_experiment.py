from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

import abnb
from abnb.datasets.sample import GROUND_TRUTH
from abnb.errors import DataError, ParameterError, SchemaError, SpecError
from abnb.experiment import Experiment, resolve_as_of
from abnb.metrics import Metric, Sql


def _per_unit(con: abnb.Connection, metric: Metric, *, covariate: bool = False) -> dict[str, np.ndarray]:
    """Independent per-unit values by a different route (test only: raw rows to numpy)."""
    window = (
        "m.ts >= a.first_ts - INTERVAL 14 DAY AND m.ts < a.first_ts"
        if covariate
        else ("m.ts >= a.first_ts AND m.ts < TIMESTAMP '2026-10-15'")
    )
    reduce = {
        "sum": "sum(m.value)",
        "count": "count(*)",
        "any": "max(CASE WHEN m.value > 0 THEN 1 ELSE 0 END)",
        "max": "max(m.value)",
    }[metric.aggregate or "sum"]
    sql = f"""
        WITH a AS (SELECT unit, min(arm) AS arm, min(ts) AS first_ts FROM exposures
                   WHERE experiment = 'checkout_redesign' GROUP BY unit HAVING count(DISTINCT arm) = 1),
             v AS (SELECT a.unit, {reduce} AS y FROM a JOIN ({metric.source.select}) m ON m.unit = a.unit
                   WHERE {window} GROUP BY a.unit)
        SELECT a.arm, coalesce(v.y, 0) FROM a LEFT JOIN v USING (unit) ORDER BY unit"""
    rows = con.raw.execute(sql).fetchall()
    arms = np.array([r[0] for r in rows])
    values = np.array([float(r[1]) for r in rows])
    return {arm: values[arms == arm] for arm in ("control", "treatment")}


def test_analysis_matches_an_independent_computation(con: abnb.Connection, spec: Experiment) -> None:
    result = spec.analyze(con)
    for metric in spec.metrics:
        if metric.kind == "ratio":
            continue  # test_ratio_metric_matches_unit_values
        values = _per_unit(con, metric)
        effect = result.effect(metric.name)
        c, t = values["control"], values["treatment"]
        assert effect.control.n == len(c)
        assert effect.treatment.n == len(t)
        assert effect.control.mean == pytest.approx(c.mean(), rel=1e-9)
        assert effect.treatment.mean == pytest.approx(t.mean(), rel=1e-9)
        if metric.kind == "mean":
            ref = sps.ttest_ind(t, c, equal_var=False)
            assert effect.absolute.pvalue == pytest.approx(ref.pvalue, rel=1e-6)
            ci = ref.confidence_interval(0.95)
            assert effect.absolute.ci_low == pytest.approx(ci.low, rel=1e-6)
            assert effect.absolute.ci_high == pytest.approx(ci.high, rel=1e-6)
        else:
            # unpooled z for two proportions, by hand from the raw 0/1 values
            se = np.sqrt(t.mean() * (1 - t.mean()) / len(t) + c.mean() * (1 - c.mean()) / len(c))
            z = (t.mean() - c.mean()) / se
            assert effect.absolute.pvalue == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-6)


def test_ratio_metric_matches_unit_values(con: abnb.Connection, spec: Experiment) -> None:
    metric = next(m for m in spec.metrics if m.kind == "ratio")
    assert metric.denominator is not None
    y, d = _per_unit(con, metric), _per_unit(con, metric.denominator)
    effect = spec.analyze(con).effect(metric.name)
    # an independent delta method on unit-level values: Var(R) = Var(y - R d) / (n d̄²)
    ratios, variances = {}, {}
    for arm in ("control", "treatment"):
        r = y[arm].sum() / d[arm].sum()
        ratios[arm] = r
        variances[arm] = np.var(y[arm] - r * d[arm], ddof=1) / (len(y[arm]) * d[arm].mean() ** 2)
    assert effect.absolute.estimate == pytest.approx(ratios["treatment"] - ratios["control"], rel=1e-9)
    assert effect.absolute.se == pytest.approx(np.sqrt(variances["control"] + variances["treatment"]), rel=1e-9)
    assert effect.relative.estimate == pytest.approx(ratios["treatment"] / ratios["control"] - 1, rel=1e-9)


def test_covariate_sums_match_raw_values(con: abnb.Connection, spec: Experiment) -> None:
    result = spec.analyze(con)
    metric = spec.metrics[1]
    assert metric.covariate_days == 14
    y = _per_unit(con, metric)["control"]
    x = _per_unit(con, metric, covariate=True)["control"]
    moments = result.overall[metric.name]["control"].shifted(0.0, 0.0)  # raw sums, as the reference computes them
    assert moments.x_sum == pytest.approx(x.sum(), rel=1e-9)
    assert moments.x_sum_sq == pytest.approx((x**2).sum(), rel=1e-9)
    # both independent queries order units by id, so x and y are paired unit by unit
    assert moments.xy_sum == pytest.approx((x * y).sum(), rel=1e-9)
    assert moments.sum == pytest.approx(y.sum(), rel=1e-9)


def test_one_query_and_only_aggregates_reach_python(con: abnb.Connection, spec: Experiment) -> None:
    result = spec.analyze(con, as_of="2026-10-14")
    assert con.queries_run == 2  # the aggregate scan, and the LIMIT 1 pilot query of the shifts it binds
    levels = 5 + 3  # countries + platforms in the sample
    assert con.rows_fetched == result.rows_fetched + 1 <= (1 + len(spec.arms)) * (1 + levels) + 1


def test_default_as_of_costs_one_small_query(con: abnb.Connection, spec: Experiment) -> None:
    """Without as_of, one more query reads the last data time (max of ts per source): one row."""
    result = spec.analyze(con)
    assert con.queries_run == 3
    assert con.rows_fetched == result.rows_fetched + 2
    assert result.label == date(2026, 10, 14)  # exposures end on 2026-10-10; the events run to the 14th


def test_planted_truth_is_recovered(con: abnb.Connection, spec: Experiment) -> None:
    result = spec.analyze(con)
    conversion = result.effect("conversion")
    assert conversion.relative.ci_low < GROUND_TRUTH.conversion_lift < conversion.relative.ci_high
    sessions = result.effect("sessions")
    assert sessions.relative.ci_low < 0 < sessions.relative.ci_high
    assert not result.srm_detected


def test_units_in_two_arms_are_excluded_and_counted(con: abnb.Connection, spec: Experiment) -> None:
    (expected,) = con.raw.execute(
        "SELECT count(*) FROM (SELECT unit FROM exposures GROUP BY unit HAVING count(DISTINCT arm) > 1)"
    ).fetchone()
    result = spec.analyze(con)
    assert expected > 0
    assert result.excluded_units == expected
    assert any(f"{expected} unit(s)" in w for w in result.warnings)
    (total,) = con.raw.execute("SELECT count(DISTINCT unit) FROM exposures").fetchone()
    assert sum(result.units.values()) == total - expected


def test_segments_add_up_to_the_total(con: abnb.Connection, spec: Experiment) -> None:
    result = spec.analyze(con)
    for segment in spec.segments:
        for arm in spec.arms:
            n = sum(cell["revenue"][arm].n for (s, _), cell in result.segments.items() if s == segment)
            total = sum(cell["revenue"][arm].sum for (s, _), cell in result.segments.items() if s == segment)
            assert n == result.overall["revenue"][arm].n
            assert total == pytest.approx(result.overall["revenue"][arm].sum, rel=1e-9)
    frame = result.segments_frame()
    assert set(frame["segment"]) == set(spec.segments)


def test_summary_is_json_safe_and_decides(con: abnb.Connection, spec: Experiment) -> None:
    import json

    result = spec.analyze(con)
    summary = json.loads(json.dumps(result.summary(), allow_nan=False))
    assert summary["experiment"] == "checkout_redesign"
    assert summary["as_of"] == "2026-10-14"
    assert summary["decision"]["verdict"] in {"ship", "continue", "harm", "invalid"}
    assert len(summary["effects"]) == len(spec.metrics)
    assert "<table" in result._repr_html_()
    assert "checkout_redesign" in repr(result)


def test_as_of_cuts_the_data(con: abnb.Connection, spec: Experiment) -> None:
    early = spec.analyze(con, as_of="2026-10-03")
    late = spec.analyze(con)
    assert early.label.isoformat() == "2026-10-03"
    assert sum(early.units.values()) < sum(late.units.values())


def test_resolve_as_of() -> None:
    from datetime import date, datetime

    assert resolve_as_of("2026-10-14", None) == (datetime(2026, 10, 15), date(2026, 10, 14))
    assert resolve_as_of(None, datetime(2026, 10, 15)) == (datetime(2026, 10, 15), date(2026, 10, 14))
    with pytest.raises(ParameterError, match="as_of"):
        resolve_as_of("yesterday", None)


def test_spec_round_trips_through_dict(spec: Experiment) -> None:
    assert Experiment.from_dict(spec.to_dict()) == spec


# --- bad input: each a clear AbnbError naming the thing and the fix -------------------------------------------


def test_missing_database_file(tmp_path: Path) -> None:
    with pytest.raises(abnb.DatabaseNotFoundError, match=r"does not exist"):
        abnb.connect(tmp_path / "nope.duckdb")


def test_missing_table(con: abnb.Connection, spec: Experiment) -> None:
    bad = dataclasses.replace(spec, exposures=dataclasses.replace(spec.exposures, table="exposure_log"))
    with pytest.raises(SchemaError, match=r"exposure_log.*does not exist.*exposures"):
        bad.analyze(con)


def test_missing_column(con: abnb.Connection, spec: Experiment) -> None:
    bad = dataclasses.replace(spec, segments=("browser",))
    with pytest.raises(SchemaError, match=r"'exposures'.*'browser'"):
        bad.analyze(con)


def test_metric_sql_referencing_missing_column(con: abnb.Connection, spec: Experiment) -> None:
    metric = Metric("latency", Sql("SELECT unit, ts, latency_ms AS value FROM events"))
    with pytest.raises(SchemaError, match=r"latency.*latency_ms"):
        dataclasses.replace(spec, metrics=(metric,)).analyze(con)


def test_non_numeric_metric(con: abnb.Connection, spec: Experiment) -> None:
    metric = Metric("event_name", Sql("SELECT unit, ts, event AS value FROM events"))
    with pytest.raises(SchemaError, match=r"event_name.*VARCHAR.*numeric"):
        dataclasses.replace(spec, metrics=(metric,)).analyze(con)


def test_metric_missing_output_column(con: abnb.Connection, spec: Experiment) -> None:
    metric = Metric("no_ts", Sql("SELECT unit, value FROM events"))
    with pytest.raises(SchemaError, match=r"no_ts.*missing: ts"):
        dataclasses.replace(spec, metrics=(metric,)).analyze(con)


def test_arm_without_exposures(con: abnb.Connection, spec: Experiment) -> None:
    bad = dataclasses.replace(spec, arms=("control", "treatment", "variant_b"), weights=None)
    with pytest.raises(DataError, match=r"variant_b.*no exposures"):
        bad.analyze(con)


def test_exposed_arm_missing_from_spec(con: abnb.Connection, spec: Experiment) -> None:
    bad = dataclasses.replace(spec, arms=("control", "variant"), weights=None)
    with pytest.raises(DataError, match=r"variant"):
        bad.analyze(con)


def test_empty_experiment(con: abnb.Connection, spec: Experiment) -> None:
    with pytest.raises(DataError, match=r"no unit was exposed"):
        spec.analyze(con, as_of="2026-09-01")
    other = dataclasses.replace(spec, name="not_running")
    with pytest.raises(DataError, match=r"no unit was exposed"):
        other.analyze(con)


def test_zero_variance_in_both_arms_is_reported_and_the_rest_stands(con: abnb.Connection, spec: Experiment) -> None:
    metric = Metric("constant", Sql("SELECT unit, ts, 0 AS value FROM events"))
    result = dataclasses.replace(spec, metrics=(metric, *spec.metrics)).analyze(con, as_of="2026-10-14")
    constant = result.effect("constant")
    assert np.isnan(constant.absolute.pvalue)
    assert not constant.significant
    assert any("constant" in note and "zero variance" in note for note in result.warnings)
    assert result.effect("conversion").improved  # one degenerate metric hides nothing else


def test_zero_variance_in_one_arm_is_a_warning(sample_db: Path, tmp_path: Path, spec: Experiment) -> None:
    sql = (
        "SELECT unit, ts, 1 AS value FROM exposures WHERE arm = 'control' UNION ALL "
        "SELECT unit, ts, value FROM events WHERE event = 'session' "
        "AND unit IN (SELECT unit FROM exposures WHERE arm = 'treatment')"
    )
    with abnb.connect(sample_db) as con:
        result = dataclasses.replace(spec, metrics=(Metric("mixed", Sql(sql)),)).analyze(con)
    assert "metric 'mixed' has zero variance in arm 'control'." in result.warnings
    assert np.isfinite(result.effect("mixed").absolute.pvalue)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('name = "x"\nalpha = \n', r"not valid TOML.*line 2"),
        (
            'name = "x"\n[[metrics]]\nname = "m"\nkind = "median"\nsql = "SELECT 1"\n',
            r"unknown metric kind 'median'",
        ),
        ('name = "x"\ncolour = "red"\n[[metrics]]\nname = "m"\nsql = "SELECT 1"\n', r"unknown key.*colour"),
        ('name = "x"\ncontrol = "c"\n[[metrics]]\nname = "m"\nsql = "SELECT 1"\n', r"control arm 'c'"),
        ('name = "x"\nweights = [1, -1]\n[[metrics]]\nname = "m"\nsql = "SELECT 1"\n', r"weights"),
        ('name = "x"\nalpha = 5\n[[metrics]]\nname = "m"\nsql = "SELECT 1"\n', r"alpha"),
        ('name = "x"\n', r"at least one metric"),
    ],
)
def test_bad_specs(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=pattern):
        Experiment.from_toml(path)


@pytest.mark.parametrize("name", ["x; DROP TABLE exposures", "revenue--", 'a"b', "../../etc", "", "1st", "a b"])
def test_injection_in_names_is_refused(con: abnb.Connection, spec: Experiment, name: str) -> None:
    (before,) = con.raw.execute("SELECT count(*) FROM exposures").fetchone()
    with pytest.raises(SpecError, match="not a valid identifier"):
        Metric(name, Sql("SELECT unit, ts, value FROM events"))
    with pytest.raises(SpecError, match="not a valid identifier"):
        dataclasses.replace(spec, exposures=dataclasses.replace(spec.exposures, table=name))
    with pytest.raises(SpecError, match="not a valid identifier"):
        dataclasses.replace(spec, name=name)
    (after,) = con.raw.execute("SELECT count(*) FROM exposures").fetchone()
    assert before == after


def test_metric_sql_must_be_one_select(sample_db: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="exactly one SELECT"):
        Metric("m", Sql("SELECT unit, ts, value FROM events; DROP TABLE exposures"))
    with pytest.raises(SpecError, match="exactly one SELECT"):
        Metric("m", Sql("DELETE FROM events"))


def test_read_only_connection_cannot_write(con: abnb.Connection) -> None:
    import duckdb

    with pytest.raises(duckdb.Error):
        con.raw.execute("DELETE FROM events")


# --- statistical panels (issue 3) -------------------------------------------------------------------------------


def test_cuped_panel_uses_the_covariate_sums(con: abnb.Connection, spec: Experiment) -> None:
    from abnb.stats import cuped

    result = spec.analyze(con)
    for metric in spec.metrics:
        item = result.effect(metric.name)
        if metric.covariate_days is None:
            assert item.adjusted is None
            continue
        direct = cuped(item.control, item.treatment, alpha=spec.alpha, relative=True)
        assert item.adjusted is not None
        assert item.adjusted.estimate == pytest.approx(direct.estimate, rel=1e-12)
        assert 0 <= item.adjusted.variance_reduction < 1
    # pre-period sessions predict post-period sessions (ρ ≈ 0.5 in the sample): a much narrower interval
    sessions = result.effect("sessions")
    assert sessions.adjusted is not None
    assert sessions.adjusted.variance_reduction > 0.15
    width = sessions.relative.ci_high - sessions.relative.ci_low
    assert sessions.adjusted.ci_high - sessions.adjusted.ci_low < 0.95 * width


def test_goal_pvalues_are_holm_adjusted(con: abnb.Connection, spec: Experiment) -> None:
    from statsmodels.stats.multitest import multipletests

    result = spec.analyze(con)
    goals = [e for e in result.effects if e.metric.role == "goal"]
    expected = multipletests([e.absolute.pvalue for e in goals], method="holm")[1]
    assert [e.pvalue for e in goals] == pytest.approx(list(expected), rel=1e-12)
    guardrail = result.effect("sessions")
    assert guardrail.pvalue == guardrail.absolute.pvalue


def test_bayes_sequential_and_mde_panels(con: abnb.Connection, spec: Experiment) -> None:
    from abnb.stats import chance_to_beat, confidence_sequence

    result = spec.analyze(con)
    conversion = result.effect("conversion")
    assert conversion.bayes is not None
    assert conversion.sequential is not None
    assert conversion.bayes.chance == pytest.approx(
        chance_to_beat(conversion.control, conversion.treatment, method="beta").chance, rel=1e-12
    )
    sequential = confidence_sequence(conversion.control, conversion.treatment, relative=True, tuning=spec.tuning)
    assert conversion.sequential.ci_low == pytest.approx(sequential.ci_low, rel=1e-12)
    # an anytime-valid interval is wider than the fixed-horizon one
    assert conversion.sequential.ci_low < conversion.relative.ci_low
    assert conversion.mde is not None
    assert 0 < conversion.mde < 1
    frame = result.to_frame()
    assert {"chance_to_beat", "may_stop", "cuped_rel_estimate", "mde_relative", "pvalue_adjusted"} <= set(frame)


def test_guardrail_margin_gates_shipping(con: abnb.Connection, spec: Experiment) -> None:
    sessions = next(m for m in spec.metrics if m.name == "sessions")
    strict = dataclasses.replace(sessions, margin=0.0001)
    loose = dataclasses.replace(sessions, margin=0.5)
    goal = next(m for m in spec.metrics if m.name == "conversion")
    strict_result = dataclasses.replace(spec, metrics=(goal, strict)).analyze(con)
    loose_result = dataclasses.replace(spec, metrics=(goal, loose)).analyze(con)
    assert strict_result.effect("sessions").noninferiority is not None
    assert not strict_result.effect("sessions").noninferiority.passed
    assert loose_result.effect("sessions").noninferiority.passed
    if loose_result.decision.verdict == "ship":
        assert strict_result.decision.verdict == "continue"
        assert "not yet shown non-inferior" in strict_result.decision.reason


def test_bad_margin_and_correction_are_refused() -> None:
    with pytest.raises(SpecError, match="margin"):
        Metric("m", Sql("SELECT unit, ts, value FROM events"), margin=2.0)
    with pytest.raises(SpecError, match="correction 'sidak'"):
        Experiment("x", (Metric("m", Sql("SELECT unit, ts, value FROM events")),), correction="sidak")


def test_adjusted_intervals_agree_with_corrected_tests(con: abnb.Connection, spec: Experiment) -> None:
    result = spec.analyze(con)
    for item in result.effects:
        if item.metric.role != "goal":
            assert item.rel_ci_adjusted is None
            continue
        assert item.rel_ci_adjusted is not None
        assert item.rel_ci_adjusted.low <= item.relative.ci_low + 1e-12  # equal when the correction leaves p as is
        assert item.rel_ci_adjusted.high >= item.relative.ci_high - 1e-12


def test_distributions_use_all_units_below_the_limit(con: abnb.Connection, spec: Experiment) -> None:
    from abnb.stats import mann_whitney, quantile_difference

    metric = next(m for m in spec.metrics if m.name == "revenue")
    values = _per_unit(con, metric)
    (comparison,) = spec.distributions(con, "revenue")
    assert not comparison.sampled
    assert comparison.n_control == len(values["control"])
    assert comparison.shift.pvalue == pytest.approx(
        mann_whitney(values["control"], values["treatment"]).pvalue, rel=1e-12
    )
    direct = quantile_difference(values["control"], values["treatment"], 0.99)
    assert comparison.quantiles[-1].estimate == pytest.approx(direct.estimate, rel=1e-12)
    assert [q.q for q in comparison.quantiles] == list(metric.quantiles)


def test_distributions_fetch_a_bounded_reproducible_sample(sample_db: Path, spec: Experiment) -> None:
    with abnb.connect(sample_db) as con:
        (first,) = spec.distributions(con, "revenue", limit=500, as_of="2026-10-14")
        assert con.rows_fetched == 2 * 500  # two arms, never more than the limit
    with abnb.connect(sample_db) as con:
        (again,) = spec.distributions(con, "revenue", limit=500)  # the default as_of: the same data
    assert first.sampled
    assert "sample of 500 units" in first.note
    assert first.shift.pvalue == again.shift.pvalue
    with pytest.raises(ParameterError, match="ratio of sums"):
        spec.distributions(con, "revenue_per_session")
    with pytest.raises(ParameterError, match="limit"), abnb.connect(sample_db) as con:
        spec.distributions(con, "revenue", limit=0)


def test_early_looks_need_the_confidence_sequence(con: abnb.Connection, spec: Experiment) -> None:
    # the same data read as an early look (the plan runs a month longer): the fixed-horizon test finds conversion
    # better, but only the anytime-valid interval may end an experiment early, and at 20,000 users it includes 0
    early = dataclasses.replace(spec, end=datetime(2026, 11, 15)).analyze(con, as_of="2026-10-14")
    goal = early.effect("conversion")
    assert goal.improved
    assert goal.sequential is not None
    assert goal.sequential.ci_low < 0 < goal.sequential.ci_high
    assert early.decision.verdict == "continue"
    assert "anytime-valid interval does not yet lie on the better side of 0" in early.decision.reason
    assert not early.decision.stop
    assert early.summary()["decision"]["stop"] is False
    # with the guardrail margin met and the plan over, the fixed-horizon test decides
    sessions = next(m for m in spec.metrics if m.name == "sessions")
    relaxed = dataclasses.replace(
        spec, metrics=tuple(dataclasses.replace(m, margin=0.5) if m is sessions else m for m in spec.metrics)
    )
    final = relaxed.analyze(con)
    assert final.decision.verdict == "ship"
    assert final.decision.stop


def test_as_of_on_the_last_representable_day_is_refused_clearly() -> None:
    from datetime import date

    for value in ("9999-12-31", date(9999, 12, 31)):
        with pytest.raises(ParameterError, match=r"is out of range.*before 9999-12-31"):
            resolve_as_of(value, None)
