from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from abnb.errors import DataError, ParameterError
from abnb.stats import nonparametric as npm
from abnb.stats.nonparametric import bootstrap, mann_whitney, quantile_ci, quantile_difference

# ------------------------------------------------------------------------------------------------------
# Mann–Whitney / Hodges–Lehmann


def test_kayenta_published_vector() -> None:
    # spinnaker/kayenta, kayenta-mannwhitney/src/test/scala/.../MannWhitneySuite.scala, "returns expected values"
    # (the Mann–Whitney behind the NetflixACAJudge): experimentData [10, 20, 30, 40], controlData [1, 2, 3, 4],
    # mu 0, confidenceLevel 0.95 -> confidenceInterval [6, 39], estimate 22.5 (pValue 0.02857142857142857).
    res = mann_whitney([1, 2, 3, 4], [10, 20, 30, 40], alpha=0.05)
    assert res.estimate == 22.5
    assert res.ci_low == 6.0
    assert res.ci_high == 39.0
    assert res.statistic == 16.0
    assert res.auc == 1.0
    assert "exact" in res.method
    assert res.pvalue == pytest.approx(2 / 70, abs=1e-15)


def test_hollander_wolfe_permeability_example() -> None:
    # R ?wilcox.test example (Hollander & Wolfe 1973, p. 69): W = 35, two-sided exact p = 0.2544,
    # difference in location 0.305.
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    res = mann_whitney(y, x)
    assert res.statistic == 35.0
    assert res.pvalue == pytest.approx(0.2544, abs=5e-5)
    assert res.estimate == pytest.approx(0.305, abs=1e-12)
    assert mann_whitney(y, x, alternative="greater").pvalue == pytest.approx(0.1272, abs=5e-5)
    # the exact interval: ranks k = qwilcox(0.025, 10, 5) = 9 and 50 + 1 - 9 = 42 of the sorted differences
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    assert (res.ci_low, res.ci_high) == (diffs[8], diffs[41])


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("method", ["auto", "exact", "asymptotic"])
@pytest.mark.parametrize("continuity", [True, False])
@pytest.mark.parametrize("sizes", [(6, 7), (25, 31), (60, 45)])
def test_pvalue_matches_scipy(alternative: str, method: str, continuity: bool, sizes: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(sizes))
    c = rng.normal(size=sizes[0])
    t = rng.normal(0.4, size=sizes[1])
    res = mann_whitney(c, t, alternative=alternative, method=method, continuity=continuity)  # type: ignore[arg-type]
    ref = stats.mannwhitneyu(t, c, alternative=alternative, method=method, use_continuity=continuity)
    assert res.statistic == ref.statistic
    assert res.pvalue == pytest.approx(ref.pvalue, rel=0, abs=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_pvalue_matches_scipy_with_ties(alternative: str) -> None:
    rng = np.random.default_rng(3)
    c = rng.integers(0, 6, size=80).astype(float)
    t = rng.integers(0, 7, size=70).astype(float)
    res = mann_whitney(c, t, alternative=alternative)  # type: ignore[arg-type]
    ref = stats.mannwhitneyu(t, c, alternative=alternative)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=0, abs=1e-12)
    assert res.auc == pytest.approx(ref.statistic / (80 * 70), abs=1e-15)
    assert "tie-corrected" in res.method


@pytest.mark.parametrize("sizes", [(7, 9), (8, 9), (40, 33), (150, 101)])
def test_hodges_lehmann_equals_brute_force_median(sizes: tuple[int, int]) -> None:
    rng = np.random.default_rng(sizes[0])
    c = rng.exponential(size=sizes[0])
    t = rng.exponential(size=sizes[1]) + 0.2
    res = mann_whitney(c, t)
    assert res.estimate == np.median(np.subtract.outer(t, c))


def test_u_null_cdf_matches_enumeration() -> None:
    for m, n in [(1, 1), (2, 3), (4, 4), (3, 6), (5, 4)]:
        counts = np.zeros(m * n + 1)
        pooled = np.arange(m + n)
        for chosen in itertools.combinations(pooled, m):
            rank_sum = sum(chosen) + m  # 1-based ranks
            counts[rank_sum - m * (m + 1) // 2] += 1
        np.testing.assert_allclose(npm._u_null_cdf(m, n), np.cumsum(counts) / counts.sum(), rtol=0, atol=1e-15)


def test_exact_interval_coverage_is_guaranteed() -> None:
    cdf = npm._u_null_cdf(12, 15)
    k = npm._exact_rank(cdf, 0.025)
    assert 1.0 - 2.0 * cdf[k - 1] >= 0.95  # achieved coverage 1 − 2·P(U ≤ k − 1)
    assert 1.0 - 2.0 * cdf[k] < 0.95  # and k is the largest rank that keeps it


def test_normal_rank_approximates_exact_rank() -> None:
    for m, n in [(40, 40), (30, 45), (49, 49)]:
        cdf = npm._u_null_cdf(m, n)
        sigma = math.sqrt(m * n * (m + n + 1) / 12.0)
        for tail in (0.05, 0.025, 0.005):
            assert abs(npm._exact_rank(cdf, tail) - npm._normal_rank(m * n, sigma, tail, True)) <= 2


@pytest.mark.parametrize("ties", [False, True])
def test_large_sample_selection_matches_materialised_path(ties: bool) -> None:
    rng = np.random.default_rng(11)
    c = rng.lognormal(size=300)
    t = rng.lognormal(0.2, size=257)
    if ties:
        c, t = np.round(c, 1), np.round(t, 1)
    for alternative in ("two-sided", "less", "greater"):
        full = mann_whitney(c, t, alternative=alternative)  # type: ignore[arg-type]
        lean = mann_whitney(c, t, alternative=alternative, max_pairs=0)  # type: ignore[arg-type]
        assert lean.estimate == pytest.approx(full.estimate, rel=0, abs=1e-9)
        assert lean.ci_low == pytest.approx(full.ci_low, rel=0, abs=1e-9)
        assert lean.ci_high == pytest.approx(full.ci_high, rel=0, abs=1e-9)
        assert lean.pvalue == full.pvalue


def test_kth_pairwise_difference_is_exact() -> None:
    rng = np.random.default_rng(5)
    t = np.sort(rng.normal(size=97))
    c = np.sort(np.concatenate([rng.normal(size=60), np.full(20, 0.5)]))  # a tie group in control
    diffs = np.sort(np.subtract.outer(t, c).ravel())
    for k in [1, 2, 500, 3880, 7759, diffs.size, *rng.integers(1, diffs.size + 1, size=30).tolist()]:
        assert npm._kth_pairwise_difference(t, c, int(k), enumerate_below=0) == diffs[k - 1]
        assert npm._kth_pairwise_difference(t, c, int(k), enumerate_below=500) == diffs[k - 1]


def test_large_sample_runs_in_bounded_memory() -> None:
    rng = np.random.default_rng(2)
    c = rng.exponential(size=60_000)
    t = rng.exponential(size=50_000) + 0.05  # 3e9 pairs: would need 24 GB materialised
    res = mann_whitney(c, t)
    assert res.ci_low < res.estimate < res.ci_high
    assert res.estimate == pytest.approx(0.05, abs=0.02)


def test_interval_on_demand_and_one_sided() -> None:
    rng = np.random.default_rng(8)
    c = rng.normal(size=30)
    t = rng.normal(1.0, size=35)
    res = mann_whitney(c, t, alpha=0.1)
    assert tuple(res.confidence_interval(0.9)) == (res.ci_low, res.ci_high)
    wide = res.confidence_interval(0.99)
    assert wide.low <= res.ci_low
    assert wide.high >= res.ci_high
    greater = mann_whitney(c, t, alternative="greater")
    less = mann_whitney(c, t, alternative="less")
    assert greater.ci_high == math.inf
    assert less.ci_low == -math.inf
    # a one-sided 95% bound is the matching end of the two-sided 90% interval
    assert greater.ci_low == res.ci_low
    assert less.ci_high == res.ci_high


def test_shift_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(21)
    reps, hits_exact, hits_normal = 400, 0, 0
    for _ in range(reps):
        c = rng.standard_t(3, size=30)
        t = rng.standard_t(3, size=30) + 1.0
        exact = mann_whitney(c, t)
        hits_exact += exact.ci_low <= 1.0 <= exact.ci_high
        lo, hi = mann_whitney(c, t, method="asymptotic").confidence_interval(0.95)
        hits_normal += lo <= 1.0 <= hi
    assert 0.92 <= hits_exact / reps <= 0.985
    assert 0.92 <= hits_normal / reps <= 0.985


# ------------------------------------------------------------------------------------------------------
# bootstrap


def _two_sample_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    return rng.lognormal(0.0, 0.8, size=300), rng.lognormal(0.15, 0.8, size=250)


@pytest.mark.parametrize(("ours", "theirs"), [("percentile", "percentile"), ("bca", "BCa")])
def test_bootstrap_matches_scipy(ours: str, theirs: str) -> None:
    c, t = _two_sample_data()
    res = bootstrap(c, t, "mean", n_resamples=20_000, method=ours, seed=1)  # type: ignore[arg-type]

    def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    ref = stats.bootstrap(
        (t, c), diff, n_resamples=20_000, method=theirs, rng=np.random.default_rng(2), vectorized=True
    )
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert res.estimate == pytest.approx(t.mean() - c.mean(), abs=1e-12)
    assert abs(res.ci_low - ref.confidence_interval.low) <= 0.02 * width
    assert abs(res.ci_high - ref.confidence_interval.high) <= 0.02 * width
    assert res.se == pytest.approx(ref.standard_error, rel=0.03)


def test_bootstrap_is_reproducible() -> None:
    c, t = _two_sample_data()
    a = bootstrap(c, t, "p90", n_resamples=500, seed=7)
    b = bootstrap(c, t, "p90", n_resamples=500, seed=7)
    other = bootstrap(c, t, "p90", n_resamples=500, seed=8)
    assert (a.ci_low, a.ci_high, a.se) == (b.ci_low, b.ci_high, b.se)
    assert (a.ci_low, a.ci_high) != (other.ci_low, other.ci_high)
    assert a.estimate == pytest.approx(np.quantile(t, 0.9) - np.quantile(c, 0.9), abs=1e-12)


def test_bootstrap_batches_bound_memory_without_changing_the_answer_much() -> None:
    c, t = _two_sample_data()
    small = bootstrap(c, t, "median", n_resamples=4000, batch_size=7, seed=3)
    large = bootstrap(c, t, "median", n_resamples=4000, seed=3)
    assert small.estimate == large.estimate
    assert small.se == pytest.approx(large.se, rel=0.08)


def test_bootstrap_relative_and_callables() -> None:
    c, t = _two_sample_data()
    rel = bootstrap(c, t, np.median, n_resamples=300, relative=True)
    assert rel.estimate == pytest.approx(np.median(t) / np.median(c) - 1.0, abs=1e-12)
    assert rel.relative
    assert rel.estimator == "median"
    bca = bootstrap(c, t, np.std, n_resamples=300, method="bca")
    assert bca.ci_low < bca.estimate < bca.ci_high
    assert bca.confidence_interval(0.5).high < bca.ci_high


@pytest.mark.parametrize("q", [0.5, 0.9, 0.123])
def test_leave_one_out_quantile_closed_form(q: float) -> None:
    x = np.random.default_rng(9).normal(size=41)
    fast = npm._leave_one_out(x, lambda v, axis=-1: np.quantile(v, q, axis=axis), q, False, 8)
    slow = npm._leave_one_out(x, lambda v, axis=-1: np.quantile(v, q, axis=axis), None, False, 8)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    np.testing.assert_allclose(slow, [np.quantile(np.delete(x, i), q) for i in range(x.size)], atol=1e-15)


# ------------------------------------------------------------------------------------------------------
# quantiles


def test_quantile_ci_hand_examples() -> None:
    # n = 10, median, 95%: [x_(2), x_(9)] with coverage 1 − 2·11/1024 = 0.978515625 (Conover 1999, §3.2).
    res = quantile_ci(np.arange(1.0, 11.0), 0.5)
    assert (res.rank_low, res.rank_high, res.ci_low, res.ci_high) == (2, 9, 2.0, 9.0)
    assert res.coverage == pytest.approx(1.0 - 2.0 * 11.0 / 1024.0, abs=1e-12)
    assert res.estimate == 5.5
    # n = 100, median, 95%: ranks 40 and 61 (Campbell & Gardner, "Statistics with Confidence", table 18.4).
    big = quantile_ci(np.arange(1.0, 101.0), 0.5)
    assert (big.rank_low, big.rank_high) == (40, 61)
    # too small for the level: n = 5 cannot give a 95% interval for the median
    tiny = quantile_ci([3.0, 1.0, 2.0, 5.0, 4.0], 0.5)
    assert tiny.ci_low == -math.inf
    assert tiny.ci_high == math.inf


def test_quantile_ci_coverage_by_simulation() -> None:
    rng = np.random.default_rng(12)
    n, q = 300, 0.9
    res = quantile_ci(rng.exponential(size=n), q)
    assert 0.94 <= res.coverage <= 0.97
    samples = np.sort(rng.exponential(size=(20_000, n)), axis=1)
    truth = -math.log(1.0 - q)
    hit = (samples[:, res.rank_low - 1] <= truth) & (truth < samples[:, res.rank_high - 1])
    assert 0.94 <= hit.mean() <= 0.97
    assert hit.mean() == pytest.approx(res.coverage, abs=0.006)


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_difference_coverage_by_simulation(q: float) -> None:
    rng = np.random.default_rng(int(q * 100))
    truth = -math.log(1.0 - q) * 0.2  # Exp(scale 1.2) minus Exp(scale 1) quantiles
    reps = 1000
    hits = 0
    for _ in range(reps):
        res = quantile_difference(rng.exponential(size=800), rng.exponential(1.2, size=700), q)
        hits += res.ci_low <= truth <= res.ci_high
    assert 0.93 <= hits / reps <= 0.97


def test_quantile_difference_fields() -> None:
    rng = np.random.default_rng(1)
    c = rng.normal(size=2000)
    t = rng.normal(0.5, size=2000)
    res = quantile_difference(c, t, 0.5)
    assert res.estimate == pytest.approx(np.median(t) - np.median(c), abs=1e-12)
    # order-statistic se of the median of N(0,1): sqrt(π/2)/sqrt(n) ≈ 0.028
    assert res.control_se == pytest.approx(math.sqrt(math.pi / 2 / 2000), rel=0.15)
    assert res.se == pytest.approx(math.hypot(res.control_se, res.treatment_se))
    assert res.pvalue == pytest.approx(2 * stats.norm.sf(abs(res.estimate / res.se)), rel=1e-12)
    assert tuple(res.confidence_interval(0.95)) == pytest.approx((res.ci_low, res.ci_high), abs=1e-12)
    with pytest.raises(DataError):
        quantile_difference(c[:50], t[:50], 0.99)


# ------------------------------------------------------------------------------------------------------
# errors and presentation


@pytest.mark.parametrize(
    "call",
    [
        lambda: mann_whitney([], [1.0]),
        lambda: mann_whitney([1.0, np.nan], [1.0]),
        lambda: mann_whitney([1.0], [np.inf]),
        lambda: mann_whitney([[1.0]], [1.0]),
        lambda: mann_whitney([1.0], [2.0], alpha=1.5),
        lambda: mann_whitney([1.0], [2.0], alternative="bigger"),
        lambda: mann_whitney([1.0], [2.0], method="magic"),
        lambda: bootstrap([1.0, 2.0], [1.0], "p100"),
        lambda: bootstrap([1.0, 2.0], [1.0], "trimmed"),
        lambda: bootstrap([1.0, 2.0], [1.0], method="basic"),
        lambda: bootstrap([1.0, 2.0], [1.0], n_resamples=0),
        lambda: bootstrap([1.0, np.nan], [1.0]),
        lambda: quantile_ci([1.0, 2.0], 0.0),
        lambda: quantile_ci([1.0, 2.0], 1.0),
        lambda: quantile_ci([], 0.5),
        lambda: quantile_difference([1.0], [1.0], 1.2),
        lambda: quantile_difference([1.0, np.nan], [1.0], 0.5),
    ],
)
def test_parameter_errors(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError):
        call()


def test_relative_bootstrap_with_zero_control_raises() -> None:
    with pytest.raises(DataError):
        bootstrap([0.0, 0.0], [1.0, 2.0], relative=True)


def test_result_presentation() -> None:
    res = mann_whitney([1, 2, 3, 4], [10, 20, 30, 40])
    frame = res.to_frame()
    assert list(frame.columns[:7]) == ["statistic", "pvalue", "estimate", "ci_low", "ci_high", "method", "auc"]
    assert "_interval" not in frame.columns
    assert repr(res).startswith("ShiftResult(estimate=22.5, ci=[6, 39]")
    assert "<table" in res._repr_html_()
    q = quantile_ci(np.arange(10.0), 0.5)
    assert q.to_frame().loc[0, "rank_low"] == 2
    assert "QuantileResult" in repr(q)
