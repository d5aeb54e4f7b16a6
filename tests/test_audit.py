"""Tests of abnb.audit on synthetic exposures assigned with abnb.assign, then corrupted at known places."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

import abnb
from abnb.assign import uniform_choice, weighted_choice
from abnb.audit import assignment_mismatches, derive_arms, interaction, multi_arm_units, srm_by
from abnb.errors import DataError, ParameterError, SpecError
from abnb.stats import Moments

ARMS = ["control", "treatment"]
N = 12_000
DAYS = 6
START = dt.datetime(2024, 3, 1)
BAD_DAY = dt.date(2024, 3, 4)  # day index 3
WRONG_ARM = list(range(101, 124))  # 23 units logged in the other arm
MULTI_ARM = list(range(501, 538))  # 37 units logged in both arms


def _rows(experiment: str, salt: str, units: range, weights: list[float] | None) -> list[dict[str, object]]:
    rows = []
    for unit in units:
        if weights is None:
            arm = uniform_choice(ARMS, unit=unit, salt=salt)
        else:
            arm = weighted_choice(ARMS, weights, unit=unit, salt=salt)
        rows.append(
            {
                "experiment": experiment,
                "unit": unit,
                "arm": arm,
                "ts": START + dt.timedelta(days=unit % DAYS, minutes=unit % 997),
                "country": ("US", "DE", "FR")[unit % 3],
                "platform": ("ios", "android", "web")[(unit // 3) % 3],
            }
        )
    return rows


def _other(arm: object) -> str:
    return "treatment" if arm == "control" else "control"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    # exp_a: 60/40 weighted_choice, corrupted: wrong arms, units in both arms, and a bad day losing treatment units.
    a = pd.DataFrame(_rows("exp_a", "exp_a.arm", range(1, N + 1), [0.6, 0.4]))
    a.loc[a.unit.isin(WRONG_ARM), "arm"] = a.loc[a.unit.isin(WRONG_ARM), "arm"].map(_other)
    extra = a[a.unit.isin(MULTI_ARM)].assign(arm=lambda d: d.arm.map(_other), ts=lambda d: d.ts + dt.timedelta(hours=1))
    day = a.ts.dt.date
    treated = a.index[(day == BAD_DAY) & (a.arm == "treatment") & ~a.unit.isin(WRONG_ARM + MULTI_ARM)]
    a = pd.concat([a.drop(treated[::4]), extra], ignore_index=True)  # drop a quarter of the bad day's treatment
    # exp_s: equal split, clean except that web users of the treatment are half lost (a segment SRM).
    s = pd.DataFrame(_rows("exp_s", "exp_s.arm", range(1, N + 1), None))
    lost = s.index[(s.platform == "web") & (s.arm == "treatment")]
    s = s.drop(lost[::2])
    # exp_b: independent salt, overlapping traffic; exp_c reuses exp_a's salt (and weights): arms perfectly correlated.
    b = pd.DataFrame(_rows("exp_b", "exp_b.arm", range(4_001, N + 4_001), None))
    c = pd.DataFrame(_rows("exp_c", "exp_a.arm", range(1, N + 1), [0.6, 0.4]))
    exposures = pd.concat([a, s, b, c], ignore_index=True)  # noqa: F841 (read by DuckDB's replacement scan)
    connection.execute("CREATE TABLE exposures AS SELECT * FROM exposures")
    # events: y depends on both experiments' arms with a planted interaction; several rows per unit, some units none.
    rng = np.random.default_rng(6)
    units = np.arange(1, N + 4_001)
    arm_a = dict(zip(a.unit, a.arm, strict=True))
    arm_b = dict(zip(b.unit, b.arm, strict=True))
    base = (
        1.0
        + 0.3 * np.array([arm_a.get(u) == "treatment" for u in units])
        + 0.2 * np.array([arm_b.get(u) == "treatment" for u in units])
        + 0.5 * np.array([arm_a.get(u) == "treatment" and arm_b.get(u) == "treatment" for u in units])
    )
    events = pd.DataFrame({"unit": np.repeat(units, 2), "value": np.repeat(base, 2) + rng.normal(0, 1, 2 * units.size)})
    events = events[(events.unit % 11) != 0]  # these units have no events: their metric is 0
    connection.execute("CREATE TABLE events AS SELECT * FROM events")
    return connection


# ---------------------------------------------------------------------------------------------- srm_by


def test_srm_by_day_flags_only_the_planted_day(con: duckdb.DuckDBPyConnection) -> None:
    result = srm_by(con, "exp_a", by="day", weights={"control": 0.6, "treatment": 0.4})
    assert len(result.levels) == DAYS
    assert result.levels[0] == dt.date(2024, 3, 1)
    assert result.flagged_levels == (BAD_DAY,)
    assert result.overall.pvalue > 0.001  # diluted in the total: the per-day check finds what the overall misses
    # counts are per (unit, arm): every unit once, multi-arm units once in each arm
    assert sum(map(sum, result.counts)) == result.overall.counts[0] + result.overall.counts[1]
    assert result.pvalues_adjusted == pytest.approx(list(abnb.stats.adjust(list(result.pvalues), method="holm")))
    frame = result.to_frame()
    assert list(frame.columns) == [
        "level",
        "n_control",
        "n_treatment",
        "total",
        "statistic",
        "pvalue",
        "pvalue_adjusted",
        "flagged",
    ]
    assert frame.flagged.sum() == 1
    assert "SrmByResult" in repr(result)
    assert "<table" in result._repr_html_()


def test_srm_by_day_matches_srm_on_each_day(con: duckdb.DuckDBPyConnection) -> None:
    result = srm_by(con, "exp_a", weights={"control": 3, "treatment": 2}, correction="none")
    for counts, p in zip(result.counts, result.pvalues, strict=True):
        assert p == pytest.approx(abnb.stats.srm(counts, [0.6, 0.4]).pvalue, rel=1e-12)
    assert result.pvalues_adjusted == result.pvalues


def test_srm_by_segment(con: duckdb.DuckDBPyConnection) -> None:
    platform = srm_by(abnb.engine.as_connection(con), "exp_s", by="platform")
    assert platform.levels == ("android", "ios", "web")
    assert platform.flagged_levels == ("web",)
    country = srm_by(con, "exp_s", by="country")
    assert country.flagged_levels == ("DE", "FR", "US")  # the web loss is spread evenly over every country
    # one GROUP BY query
    adapter = abnb.engine.as_connection(con)
    srm_by(adapter, "exp_s", by="country")
    assert adapter.queries_run == 1
    assert adapter.rows_fetched == 6


def test_srm_by_rejects_bad_input(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(SpecError):
        srm_by(con, "exp_a", by="country; drop table exposures")
    with pytest.raises(SpecError):
        srm_by(con, "exp_a", table="exposures x")
    with pytest.raises(ParameterError):
        srm_by(con, "exp_a", correction="fisher")
    with pytest.raises(DataError, match="no planned weight"):
        srm_by(con, "exp_a", weights={"control": 1.0})
    with pytest.raises(DataError, match="no exposures"):
        srm_by(con, "nope")


# ---------------------------------------------------------------------------------------------- multi-arm


def test_multi_arm_units_counted(con: duckdb.DuckDBPyConnection) -> None:
    result = multi_arm_units(con, "exp_a", examples=5)
    assert result.multi_arm == len(MULTI_ARM)
    assert result.examples == tuple(MULTI_ARM[:5])
    assert result.max_arms == 2
    n_units = con.execute("SELECT COUNT(DISTINCT unit) FROM exposures WHERE experiment = 'exp_a'").fetchone()
    assert n_units is not None
    assert result.units == n_units[0]
    assert result.share == pytest.approx(len(MULTI_ARM) / result.units)
    assert multi_arm_units(con, "exp_b").multi_arm == 0
    assert multi_arm_units(con, "exp_a", examples=0).examples == ()


# ---------------------------------------------------------------------------------------------- mismatches


def test_planout_uniform_choice_vector() -> None:
    # PlanOut python test suite (test_core_ops / assignment): experiment salt "test_salt", unit 4,
    # UniformChoice(["a", "b"]) for parameters foo, bar, baz gives "b", "a", "a".
    derived = [derive_arms([4], arms=["a", "b"], weights=None, salt=f"test_salt.{p}")[0] for p in ("foo", "bar", "baz")]
    assert derived == ["b", "a", "a"]


def test_derive_arms_agrees_with_the_public_operators() -> None:
    units = list(range(2_000))
    weighted = derive_arms(units, arms=["x", "y", "z"], weights=[0.2, 0.5, 0.3], salt="e.p")
    assert weighted == [weighted_choice(["x", "y", "z"], [0.2, 0.5, 0.3], unit=u, salt="e.p") for u in units]
    uniform = derive_arms(units, arms=["x", "y", "z"], weights=None, salt="e.p")
    assert uniform == [uniform_choice(["x", "y", "z"], unit=u, salt="e.p") for u in units]


def test_assignment_mismatches_found_exactly(con: duckdb.DuckDBPyConnection) -> None:
    result = assignment_mismatches(con, "exp_a", arms=ARMS, weights=[0.6, 0.4], salt="exp_a.arm")
    assert not result.sampled
    assert result.wrong_arm == len(WRONG_ARM)
    assert result.multi_arm == len(MULTI_ARM)
    assert result.mismatches == len(WRONG_ARM) + len(MULTI_ARM)
    assert result.unknown_arm == 0
    assert sum(n for _, _, n in result.pairs) == len(WRONG_ARM)
    assert {e[0] for e in result.examples} <= set(WRONG_ARM + MULTI_ARM)
    assert "all units" in result.method
    # a wrong salt disagrees with about 1 − (0.6² + 0.4²) = 48 % of units
    wrong_salt = assignment_mismatches(con, "exp_a", arms=ARMS, weights=[0.6, 0.4], salt="exp_a.other")
    assert 0.45 < wrong_salt.share < 0.51


def test_assignment_mismatches_sample_is_bounded_and_reproducible(con: duckdb.DuckDBPyConnection) -> None:
    adapter = abnb.engine.as_connection(con)
    first = assignment_mismatches(adapter, "exp_a", arms=ARMS, weights=[0.6, 0.4], salt="exp_a.arm", sample_limit=500)
    assert adapter.rows_fetched == 500
    assert adapter.queries_run == 1
    n_units = con.execute("SELECT COUNT(DISTINCT unit) FROM exposures WHERE experiment = 'exp_a'").fetchone()
    assert first.sampled
    assert first.units_checked == 500
    assert n_units is not None
    assert first.units_total == n_units[0]
    assert "500 of" in first.method
    assert "md5" in first.method
    again = assignment_mismatches(con, "exp_a", arms=ARMS, weights=[0.6, 0.4], salt="exp_a.arm", sample_limit=500)
    assert again == first
    clean = assignment_mismatches(con, "exp_b", arms=ARMS, salt="exp_b.arm", sample_limit=700)
    assert clean.mismatches == 0
    assert clean.units_checked == 700


def test_assignment_mismatches_rejects_bad_input(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ParameterError):
        assignment_mismatches(con, "exp_a", arms=ARMS, weights=[1.0], salt="s")
    with pytest.raises(ParameterError):
        assignment_mismatches(con, "exp_a", arms=ARMS, salt="")
    with pytest.raises(ParameterError):
        assignment_mismatches(con, "exp_a", arms=ARMS, salt="s", sample_limit=0)


# ---------------------------------------------------------------------------------------------- interaction


def test_independent_salts_give_independent_assignment(con: duckdb.DuckDBPyConnection) -> None:
    result = interaction(con, "exp_a", "exp_b")
    shared = con.execute(
        "SELECT COUNT(*) FROM (SELECT unit FROM exposures WHERE experiment = 'exp_a' "
        "INTERSECT SELECT unit FROM exposures WHERE experiment = 'exp_b')"
    ).fetchone()
    assert shared is not None
    assert result.units_both == shared[0] - len([u for u in MULTI_ARM if u > 4_000])
    assert result.independence_pvalue > 0.001
    assert result.cramers_v < 0.05
    assert result.independence_df == 1
    assert result.interaction_pvalue is None
    assert result.estimate is None


def test_shared_salt_is_detected(con: duckdb.DuckDBPyConnection) -> None:
    result = interaction(con, "exp_a", "exp_c")
    counts = np.array(result.counts)
    assert counts[0, 1] + counts[1, 0] == len(WRONG_ARM)  # only the corrupted rows break the perfect correlation
    assert result.independence_pvalue < 1e-300
    assert result.cramers_v > 0.99


def _unit_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per shared unit: the arms and y = Σ value (0 without events), computed independently of abnb.audit."""
    return con.execute(
        """
        WITH a AS (SELECT unit, MIN(arm) AS arm FROM exposures WHERE experiment = 'exp_a'
                   GROUP BY unit HAVING COUNT(DISTINCT arm) = 1),
             b AS (SELECT unit, MIN(arm) AS arm FROM exposures WHERE experiment = 'exp_b'
                   GROUP BY unit HAVING COUNT(DISTINCT arm) = 1),
             y AS (SELECT unit, SUM(value) AS y FROM events GROUP BY unit)
        SELECT a.arm AS a, b.arm AS b, COALESCE(y.y, 0) AS y
        FROM a JOIN b USING (unit) LEFT JOIN y USING (unit)
        """
    ).df()


def test_interaction_contrast_matches_hand_computation_and_ols(con: duckdb.DuckDBPyConnection) -> None:
    import statsmodels.formula.api as smf

    result = interaction(con, "exp_a", "exp_b", metric="SELECT unit, value FROM events")
    frame = _unit_frame(con)
    cells = frame.groupby(["a", "b"]).y.agg(["mean", "var", "count"])
    m = cells["mean"]
    hand = (m["treatment", "treatment"] - m["treatment", "control"]) - (
        m["control", "treatment"] - m["control", "control"]
    )
    se = math.sqrt(float((cells["var"] / cells["count"]).sum()))
    assert result.estimate == pytest.approx(hand, abs=1e-9)
    assert result.se == pytest.approx(se, rel=1e-9)
    assert result.estimate == pytest.approx(0.5 * 2, abs=0.15)  # planted 0.5 per event row, 2 rows per unit
    assert result.interaction_pvalue is not None
    assert result.interaction_pvalue < 1e-6
    assert result.units_both == len(frame)

    fit = smf.ols("y ~ C(a) * C(b)", data=frame).fit(cov_type="HC2")
    name = "C(a)[T.treatment]:C(b)[T.treatment]"
    assert result.estimate == pytest.approx(fit.params[name], abs=1e-9)
    assert result.se == pytest.approx(fit.bse[name], rel=1e-9)
    assert result.interaction_pvalue == pytest.approx(fit.pvalues[name], rel=1e-6)
    assert result.interaction_statistic == pytest.approx(result.statistic**2)  # type: ignore[operator]
    assert result.ci_low is not None
    assert result.ci_low < hand < result.ci_high

    # the same test from cell Moments
    moments = {
        (a, b): Moments.from_values(group.y.to_numpy()) for (a, b), group in frame.groupby(["a", "b"], sort=True)
    }
    from_moments = interaction(con, "exp_a", "exp_b", moments=moments)
    assert from_moments.estimate == pytest.approx(result.estimate, abs=1e-9)
    assert from_moments.se == pytest.approx(result.se, rel=1e-9)
    assert len(result.to_frame()) == 4
    assert "InteractionResult" in repr(result)


def test_interaction_generalises_to_larger_designs_as_a_wald_test() -> None:
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(3)
    arms_a, arms_b = ["a0", "a1", "a2"], ["b0", "b1"]
    frame = pd.DataFrame({"a": rng.choice(arms_a, 3_000), "b": rng.choice(arms_b, 3_000), "y": rng.normal(0, 1, 3_000)})
    frame["y"] += (frame.a == "a2") * (frame.b == "b1") * 0.3 + (frame.a == "a1") * 0.1
    con = duckdb.connect(":memory:")
    frame["unit"] = np.arange(len(frame))
    con.execute(
        "CREATE TABLE log AS SELECT 'A' AS e, unit, a AS arm FROM frame UNION ALL SELECT 'B', unit, b FROM frame"
    )
    moments = {(a, b): Moments.from_values(g.y.to_numpy()) for (a, b), g in frame.groupby(["a", "b"])}
    result = interaction(con, "A", "B", moments=moments, table="log", experiment_column="e")
    fit = smf.ols("y ~ C(a) * C(b)", data=frame).fit(cov_type="HC2")
    names = [n for n in fit.params.index if ":" in n]
    beta = fit.params[names].to_numpy()
    wald = float(beta @ np.linalg.solve(fit.cov_params().loc[names, names].to_numpy(), beta))
    assert result.interaction_df == 2
    assert result.estimate is None
    assert result.interaction_statistic == pytest.approx(wald, rel=1e-9)
    assert [c[2] for c in result.contrasts] == pytest.approx(list(beta), abs=1e-9)


def test_interaction_rejects_bad_input(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ParameterError):
        interaction(con, "exp_a", "exp_a")
    with pytest.raises(ParameterError):
        interaction(con, "exp_a", "exp_b", metric="SELECT unit, value FROM events", moments={})
    with pytest.raises(SpecError):
        interaction(con, "exp_a", "exp_b", metric="DELETE FROM events")
    with pytest.raises(DataError, match="at least 2 arms"):
        interaction(con, "exp_a", "nope")
    with pytest.raises(DataError, match="cell"):
        interaction(con, "exp_a", "exp_b", moments={("control", "control"): Moments.from_values([1.0, 2.0])})
