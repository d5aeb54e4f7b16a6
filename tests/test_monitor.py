"""Tests of abnb.monitor: numbers against pandas, scipy, statsmodels and hand computations."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from abnb.engine import connect
from abnb.errors import DataError, ParameterError, SpecError
from abnb.monitor import (
    CusumRule,
    EwmaRule,
    ThresholdRule,
    chi2_drift,
    drift_report,
    false_alarm_rate,
    ks_drift,
    psi,
    psi_from_values,
    release_jump,
    replay,
    segment_breakdown,
    windowed,
)
from abnb.stats import Moments

# ------------------------------------------------------------------------------------------------------
# windowed


@pytest.fixture
def events() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 3000
    start = pd.Timestamp("2024-03-01 00:00")
    offsets = rng.uniform(0, 2 * 86400, n)
    frame = pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(np.sort(offsets), unit="s"),
            "latency": rng.lognormal(3.0, 0.5, n),
            "version": rng.choice(["v1", "v2"], n),
        }
    )
    frame.loc[::97, "latency"] = np.nan  # NULLs are ignored, as in pandas
    return frame


def _pandas_windows(frame: pd.DataFrame, freq: str, by: list[str]) -> pd.DataFrame:
    grouped = frame.groupby([pd.Grouper(key="ts", freq=freq), *by])["latency"]
    expected = grouped.agg(
        n="count",
        mean="mean",
        p50=lambda s: s.quantile(0.5),
        p95=lambda s: s.quantile(0.95),
        p99=lambda s: s.quantile(0.99),
    ).reset_index()
    return expected[expected["n"] > 0].rename(columns={"ts": "window"}).reset_index(drop=True)


def test_windowed_matches_pandas_resample_per_group(events: pd.DataFrame) -> None:
    raw = duckdb.connect()
    raw.register("events_df", events)
    raw.execute("CREATE TABLE events AS SELECT * FROM events_df")
    got = windowed(raw, "events", ts="ts", value="latency", window="1 hour", by="version")
    expected = _pandas_windows(events, "1h", ["version"])
    assert list(got.columns) == ["window", "version", "n", "mean", "p50", "p95", "p99"]
    assert len(got) == len(expected) == 96
    pd.testing.assert_series_equal(got["window"], expected["window"], check_dtype=False)
    assert list(got["version"]) == list(expected["version"])
    assert list(got["n"]) == list(expected["n"])
    for column in ("mean", "p50", "p95", "p99"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-10)


def test_windowed_bounds_window_length_and_row_count(events: pd.DataFrame) -> None:
    con = connect(":memory:", read_only=False)
    con.raw.register("events_df", events)
    con.raw.execute("CREATE TABLE events AS SELECT * FROM events_df")
    start, end = pd.Timestamp("2024-03-01 06:00"), pd.Timestamp("2024-03-01 12:00")
    names = ("n", "sum", "sum_sq", "std", "min", "max", "p99.9")
    got = windowed(con, "events", ts="ts", value="latency", window="15 minutes", start=start, end=end, aggregates=names)
    subset = events[(events["ts"] >= start) & (events["ts"] < end)].assign(sq=lambda f: f["latency"] ** 2)
    grouped = subset.groupby(pd.Grouper(key="ts", freq="15min"))
    expected = grouped["latency"].agg(["count", "sum", "std", "min", "max", lambda s: s.quantile(0.999)])
    assert len(got) == 24
    assert list(got["n"]) == list(expected["count"])
    np.testing.assert_allclose(got["sum_sq"], grouped["sq"].sum(), rtol=1e-12)
    pairs = {"sum": "sum", "std": "std", "min": "min", "max": "max", "p99.9": "<lambda_0>"}
    for column, reference in pairs.items():
        np.testing.assert_allclose(got[column], expected[reference], rtol=1e-10)
    assert con.rows_fetched == 24  # only the aggregated rows travel to Python


def test_windowed_rejects_bad_names_and_aggregates(events: pd.DataFrame) -> None:
    raw = duckdb.connect()
    raw.execute("CREATE TABLE t (ts TIMESTAMP, v DOUBLE)")
    with pytest.raises(SpecError):
        windowed(raw, "t; DROP TABLE t", ts="ts", value="v")
    with pytest.raises(SpecError):
        windowed(raw, "t", ts="ts", value='v" --')
    with pytest.raises(ParameterError):
        windowed(raw, "t", ts="ts", value="v", aggregates=("median",))


# ------------------------------------------------------------------------------------------------------
# threshold rule with hysteresis (hand-worked)


def test_threshold_for_duration_and_clear_duration() -> None:
    values = [5, 12, 8, 12, 13, 14, 9, 11, 9, 8, 7, 15]
    rule = ThresholdRule("value", ">", 10, for_windows=2, clear_windows=2)
    result = replay(rule, np.array(values, dtype=float))
    # 12 at 1 is only pending (run of 1); the run 12, 13 fires at 4; 9 at 6 clears once but 11 breaks the
    # clear run; 9, 8 at 8, 9 are two clear windows, so the alert resolves at 9; 15 at 11 is pending again.
    alarm = result.to_frame()["alarm"].tolist()
    assert alarm == [False] * 4 + [True] * 5 + [False] * 3
    assert result.intervals == ((4, 9),)
    assert result.first_alarm == 4
    assert result.first_alarm_index == 4
    assert result.n_alerts == 1
    assert result.alarm_windows == 5


def test_threshold_separate_clear_threshold_and_open_interval() -> None:
    values = [5, 12, 8, 12, 13, 14, 9, 11, 9, 8, 7, 15]
    rule = ThresholdRule("value", ">", 10, for_windows=2, clear_windows=2, clear_threshold=8.5)
    # clear now needs value <= 8.5: 9, 11, 9 are not clear; 8, 7 at 9, 10 resolve the alert at 10.
    assert replay(rule, np.array(values, dtype=float)).intervals == ((4, 10),)
    still_firing = replay(ThresholdRule("value", "<", 0, for_windows=1), np.array([1.0, -1.0, -2.0]))
    assert still_firing.intervals == ((1, None),)
    with pytest.raises(ParameterError):
        ThresholdRule("value", ">", 10, clear_threshold=11)  # the clear limit must not be on the bad side


def test_threshold_on_windowed_frame_reports_times() -> None:
    times = pd.date_range("2024-01-01", periods=6, freq="h")
    frame = pd.DataFrame({"window": times, "error_rate": [0.01, 0.06, 0.07, 0.02, 0.01, 0.01], "n": 100})
    result = replay(ThresholdRule("error_rate", ">=", 0.05, for_windows=2), frame)
    assert result.first_alarm == times[2]
    assert result.intervals == ((times[2], times[3]),)
    with pytest.raises(ParameterError):
        replay(ThresholdRule("missing", ">", 1.0), frame)
    with pytest.raises(DataError):
        replay(ThresholdRule("value", ">", 1.0), np.array([1.0, np.nan]))


# ------------------------------------------------------------------------------------------------------
# EWMA and CUSUM


def test_ewma_limits_follow_the_formula() -> None:
    rule = EwmaRule(lambda_=0.2, L=3.0, baseline_mean=10.0, baseline_sd=2.0)
    t = np.arange(1, 30)
    low, high = rule.limits(t)
    half = 3.0 * 2.0 * np.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * t)))
    np.testing.assert_allclose(high, 10 + half, rtol=1e-14)
    np.testing.assert_allclose(low, 10 - half, rtol=1e-14)
    # by hand: at t = 1 the variance factor is λ² = 0.04, so the limits are 10 ± 6·0.2; asymptotically 10 ± 2
    assert (low[0], high[0]) == pytest.approx((8.8, 11.2), abs=1e-12)
    assert high[-1] == pytest.approx(12.0, abs=1e-3)


def test_ewma_statistic_by_hand() -> None:
    rule = EwmaRule(lambda_=0.2, L=3.0, baseline_mean=10.0, baseline_sd=2.0)
    state = replay(rule, np.array([12.0, 9.0, 14.0])).to_frame()
    # z1 = .2·12 + .8·10 = 10.4; z2 = .2·9 + .8·10.4 = 10.12; z3 = .2·14 + .8·10.12 = 10.896
    np.testing.assert_allclose(state["statistic"], [10.4, 10.12, 10.896], rtol=1e-12)
    assert not state["alarm"].any()
    jump = replay(rule, np.array([17.0]))  # z1 = 11.4 > 11.2
    assert jump.first_alarm_index == 0


def test_cusum_by_hand() -> None:
    rule = CusumRule(k=0.5, h=2.0, baseline_mean=0.0, baseline_sd=1.0)
    state = replay(rule, np.array([1.0, 2.0, -1.0, 3.0, 0.0, -3.0, -2.0])).to_frame()
    # C+ = max(0, x − 0.5 + C+): 0.5, 2.0, 0.5, 3.0, 2.5, 0, 0
    # C− = max(0, −0.5 − x + C−): 0, 0, 0.5, 0, 0, 2.5, 4.0
    np.testing.assert_allclose(state["upper_sum"], [0.5, 2.0, 0.5, 3.0, 2.5, 0.0, 0.0])
    np.testing.assert_allclose(state["lower_sum"], [0.0, 0.0, 0.5, 0.0, 0.0, 2.5, 4.0])
    # C+ = 2.0 = hσ at position 1 does not signal (strict >); the upper and then lower sum hold it from 3 on
    assert state["alarm"].tolist() == [False, False, False, True, True, True, True]
    result = replay(rule, np.array([1.0, 2.0, -1.0, 3.0, 0.0, -3.0, -2.0]))
    assert result.intervals == ((3, None),)
    reset = replay(CusumRule(k=0.5, h=2.0, baseline_mean=0.0, baseline_sd=1.0, reset=True), np.array([3.0, 0.0]))
    assert reset.to_frame()["upper_sum"].tolist() == [2.5, 0.0]  # after the signal both sums restart at 0


def _shift_series(kind: str, seed: int = 3) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    change = 150
    x = rng.normal(0.0, 1.0, 550)
    if kind == "drop":
        x[change:] -= 4.0
    else:  # a slow linear drift down to −2 σ over 400 windows
        x[change:] -= np.linspace(0.0, 2.0, 400)
    return x, change


def test_sharp_drop_is_caught_by_threshold_and_charts() -> None:
    x, change = _shift_series("drop")
    threshold = ThresholdRule("value", "<", -3.0, for_windows=2)
    cusum = CusumRule(k=0.5, h=8.0, baseline_mean=0.0, baseline_sd=1.0)
    ewma = EwmaRule(lambda_=0.1, L=3.0, baseline_mean=0.0, baseline_sd=1.0)
    for rule, max_delay in ((threshold, 4), (cusum, 4), (ewma, 4)):
        first = replay(rule, x).first_alarm_index
        assert first is not None, rule
        assert change <= first <= change + max_delay, (rule, first)


def test_slow_drift_is_caught_by_charts_not_by_threshold() -> None:
    x, change = _shift_series("drift")
    threshold = replay(ThresholdRule("value", "<", -3.0, for_windows=2), x)
    cusum = replay(CusumRule(k=0.5, h=8.0, baseline_mean=0.0, baseline_sd=1.0), x)
    ewma = replay(EwmaRule(lambda_=0.1, L=3.0, baseline_mean=0.0, baseline_sd=1.0), x)
    for result in (cusum, ewma):
        assert result.first_alarm_index is not None
        # no alarm on the clean part; detected while the drift is still below 1.5 σ
        assert change < result.first_alarm_index < change + 300, result
        # and long before the 3-σ threshold, which waits for two single windows far out in the tail
        assert threshold.first_alarm_index is None or result.first_alarm_index < threshold.first_alarm_index - 100


def test_false_alarm_rates_on_clean_data() -> None:
    x = np.random.default_rng(11).normal(0.0, 1.0, 40_000)
    # CUSUM k=0.5, h=5 (two-sided): in-control ARL ≈ 465 (Montgomery §9.1); EWMA λ=0.1, L=2.814: ARL ≈ 500
    cusum = false_alarm_rate(CusumRule(k=0.5, h=5.0, baseline_mean=0.0, baseline_sd=1.0, reset=True), x)
    ewma = false_alarm_rate(EwmaRule(lambda_=0.1, L=2.814, baseline_mean=0.0, baseline_sd=1.0, reset=True), x)
    for result in (cusum, ewma):
        assert 200 < result.arl < 1000, result
        assert result.ci_low < result.per_window < result.ci_high
    # a one-window threshold at 3 σ alarms with probability Φ(−3)(1 − Φ(−3)) per window (new onsets)
    threshold = false_alarm_rate(ThresholdRule("value", ">", 3.0), x, alpha=0.01)
    p = stats.norm.sf(3.0)
    assert threshold.ci_low < p * (1 - p) < threshold.ci_high


def test_false_alarm_rate_per_day() -> None:
    times = pd.date_range("2024-01-01", periods=48, freq="h")
    values = np.zeros(48)
    values[[5, 30]] = 10.0
    result = false_alarm_rate(ThresholdRule("v", ">", 1.0), pd.DataFrame({"window": times, "v": values}))
    assert result.n_alarms == 2
    assert result.per_window == pytest.approx(2 / 48)
    assert result.per_day == pytest.approx(1.0)
    # Garwood interval for 2 events: [χ²_.025(4)/2, χ²_.975(6)/2] = [0.2422, 7.2247]
    assert result.ci_low * 48 == pytest.approx(0.2422, abs=1e-4)
    assert result.ci_high * 48 == pytest.approx(7.2247, abs=1e-4)


# ------------------------------------------------------------------------------------------------------
# release jump


def test_release_jump_welch_rolls_back_a_drop() -> None:
    rng = np.random.default_rng(5)
    before, after = rng.normal(4.2, 0.2, 48), rng.normal(4.0, 0.2, 48)
    result = release_jump(before, after, method="welch", direction="increase")
    reference = stats.ttest_ind(after, before, equal_var=False)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.estimate == pytest.approx(after.mean() - before.mean(), rel=1e-12)
    assert result.rollback
    assert result.degraded
    assert "roll back" in result.reason
    same = release_jump(Moments.from_values(before), Moments.from_values(after))
    assert same.pvalue == pytest.approx(result.pvalue, rel=1e-12)
    # the same drop of a metric where lower is better is an improvement
    assert not release_jump(before, after, direction="decrease").rollback
    # a degradation smaller than min_effect is not worth a rollback
    assert not release_jump(before, after, min_effect=1.0).rollback


def test_release_jump_mann_whitney_and_no_jump() -> None:
    rng = np.random.default_rng(6)
    before, after = rng.exponential(1.0, 60), rng.exponential(1.0, 60) + 0.8
    result = release_jump(before, after, method="mann_whitney", direction="decrease")
    reference = stats.mannwhitneyu(after, before)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.rollback  # latency went up and lower is better
    flat = release_jump(rng.normal(0, 1, 40), rng.normal(0, 1, 40), method="mann_whitney")
    assert not flat.rollback
    with pytest.raises(ParameterError):
        release_jump(Moments.from_values(before), Moments.from_values(after), method="mann_whitney")


# ------------------------------------------------------------------------------------------------------
# segment breakdown


@pytest.fixture
def mistakes() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    rows = []
    for day in range(3):
        for segment in "ABCDEF":
            rate = 0.09 if segment == "E" else 0.05
            trials = 2000
            rows.append({"day": day, "segment": segment, "mistakes": rng.binomial(trials, rate), "labels": trials})
    return pd.DataFrame(rows)


def test_segment_breakdown_flags_the_planted_segment(mistakes: pd.DataFrame) -> None:
    table = segment_breakdown(mistakes, segment="segment", successes="mistakes", trials="labels", worse="higher")
    assert table.set_index("segment")["flag"].to_dict() == {s: s == "E" for s in "ABCDEF"}
    # two-sided, the planted segment makes some clean ones look significantly *better* than the rest
    either = segment_breakdown(mistakes, segment="segment", successes="mistakes", trials="labels")
    assert either.set_index("segment").loc["E", "flag"]
    assert (either.loc[either["flag"], "segment"] != "E").any()
    assert (either.loc[either["flag"] & (either["segment"] != "E"), "difference"] < 0).all()
    totals = mistakes.groupby("segment")[["mistakes", "labels"]].sum()
    x_all, n_all = totals.sum()
    for row in table.itertuples():
        x, n = totals.loc[row.segment]
        _, p = proportions_ztest([x, x_all - x], [n, n_all - n])  # pooled two-proportion z-test
        assert row.pvalue == pytest.approx(p, rel=1e-9)
        low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-12)
    _, bh, _, _ = multipletests(table["pvalue"], method="fdr_bh")
    np.testing.assert_allclose(table["pvalue_adjusted"], bh, rtol=1e-12)


def test_segment_breakdown_normal_interval_and_errors(mistakes: pd.DataFrame) -> None:
    table = segment_breakdown(mistakes, segment="segment", successes="mistakes", trials="labels", ci="normal")
    x, n = table.loc[0, "successes"], table.loc[0, "trials"]
    low, high = proportion_confint(x, n, alpha=0.05, method="normal")
    assert (table.loc[0, "ci_low"], table.loc[0, "ci_high"]) == pytest.approx((low, high), rel=1e-12)
    with pytest.raises(ParameterError):
        segment_breakdown(mistakes, segment="country", successes="mistakes", trials="labels")


# ------------------------------------------------------------------------------------------------------
# drift


def test_psi_hand_example() -> None:
    # p = (.5, .3, .2), q = (.4, .3, .3): PSI = −.1·ln(.8) + 0 + .1·ln(1.5) = 0.0628608659
    assert psi([50, 30, 20], [40, 30, 30]) == pytest.approx(0.0628608659, rel=1e-9)
    assert psi([10, 20], [1, 2]) == 0.0
    # an empty reference bin is floored at epsilon: p = (1, 1e-4), q = (.5, .5)
    expected = -0.5 * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi([10, 0], [5, 5]) == pytest.approx(expected, rel=1e-12)


def test_psi_from_values_uses_reference_quantile_bins() -> None:
    rng = np.random.default_rng(9)
    reference, current = rng.normal(0, 1, 5000), rng.normal(0.3, 1.2, 3000)
    _, edges = pd.qcut(reference, 10, retbins=True)
    cut = [-np.inf, *edges[1:-1], np.inf]
    p = pd.Series(pd.cut(reference, cut)).value_counts(sort=False).to_numpy() / reference.size
    q = pd.Series(pd.cut(current, cut)).value_counts(sort=False).to_numpy() / current.size
    assert psi_from_values(reference, current, bins=10) == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-9)
    assert psi_from_values(reference, reference) == pytest.approx(0.0, abs=1e-12)


def test_ks_and_chi2_match_scipy() -> None:
    rng = np.random.default_rng(10)
    reference, current = rng.normal(0, 1, 400), rng.normal(0.2, 1, 300)
    ks = ks_drift(reference, current)
    expected = stats.ks_2samp(reference, current)
    assert (ks.statistic, ks.pvalue) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)
    ref_counts, cur_counts = [120, 80, 40, 0], [90, 95, 60, 0]
    chi2 = chi2_drift(ref_counts, cur_counts)
    table = stats.chi2_contingency([[120, 80, 40], [90, 95, 60]])  # the empty category is dropped
    assert (chi2.statistic, chi2.pvalue, chi2.dof) == pytest.approx((table.statistic, table.pvalue, 2), rel=1e-12)


def test_drift_report_chooses_the_test_by_dtype() -> None:
    rng = np.random.default_rng(12)
    n = 2000
    reference = pd.DataFrame(
        {
            "score": rng.normal(0, 1, n),
            "length": rng.normal(50, 10, n),
            "country": rng.choice(["de", "fr", "us"], n, p=[0.3, 0.3, 0.4]),
            "mobile": rng.random(n) < 0.5,
        }
    )
    current = pd.DataFrame(
        {
            "score": rng.normal(0.5, 1, n),
            "length": rng.normal(50, 10, n),
            "country": rng.choice(["de", "fr", "us"], n, p=[0.1, 0.3, 0.6]),
            "mobile": rng.random(n) < 0.5,
        }
    )
    report = drift_report(reference, current, ["score", "length", "country", "mobile"]).set_index("feature")
    assert report["test"].to_dict() == {"score": "ks", "length": "ks", "country": "chi2", "mobile": "chi2"}
    assert report["drift"].to_dict() == {"score": True, "length": False, "country": True, "mobile": False}
    assert report.loc["score", "pvalue"] == pytest.approx(stats.ks_2samp(reference.score, current.score).pvalue)
    assert report.loc["country", "psi_level"] in ("moderate", "major")
    _, bh, _, _ = multipletests(report["pvalue"], method="fdr_bh")
    np.testing.assert_allclose(report["pvalue_adjusted"], bh, rtol=1e-12)
