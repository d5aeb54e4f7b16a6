import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from abnb.errors import DataError, ParameterError
from abnb.stats import Effect, Moments
from abnb.stats.sequential import (
    SequentialEffect,
    confidence_sequence,
    group_sequential_bounds,
    group_sequential_test,
    msprt,
)

# Published vectors from GrowthBook's gbstats test suite (growthbook/growthbook,
# packages/stats/tests/frequentist/test_tests.py, TestSequentialTTest): relative lift, two-sided, alpha=0.05.
GB_CONTROL = Moments(n=3000, sum=1396.87, sum_sq=52377.9767)
GB_TREATMENT = Moments(n=3461, sum=2422.7, sum_sq=134698.29)


def _gb_halfwidth(se: float, n: int, alpha: float, tuning: float) -> float:
    # Waudby-Smith et al. (2023) eq. 9 with rho from eq. 161, written out independently of the library
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    return (
        se * math.sqrt(n) * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    )


def test_growthbook_sequential_means_vector() -> None:
    # test_sequential_test_runs: tuning 1000 -> expected 0.50336, ci (-0.55844, 1.56516), stddev 0.33341, p 1
    result = confidence_sequence(GB_CONTROL, GB_TREATMENT, relative=True, tuning=1000)
    assert isinstance(result, SequentialEffect)
    assert isinstance(result, Effect)
    assert round(result.estimate, 5) == 0.50336
    assert (round(result.ci_low, 5), round(result.ci_high, 5)) == (-0.55844, 1.56516)
    assert round(result.se, 5) == 0.33341
    assert result.pvalue == 1.0
    assert not result.may_stop
    # full-precision point estimate and SE published in the same file (TestSequentialOneSidedGreaterTTest)
    assert result.estimate == pytest.approx(0.5033610858562358, abs=1e-12)
    assert result.se == pytest.approx(0.3334122146400735, abs=1e-12)
    half = _gb_halfwidth(0.3334122146400735, 6461, 0.05, 1000)
    assert result.ci_low == pytest.approx(0.5033610858562358 - half, abs=1e-9)
    assert result.ci_high == pytest.approx(0.5033610858562358 + half, abs=1e-9)


def test_growthbook_sequential_proportion_vector() -> None:
    # test_sequential_test_runs_prop: default tuning 5000 -> 0.50386, ci (0.40098, 0.60675), stddev 0.03386, p 0
    result = confidence_sequence(Moments.from_counts(1396, 3000), Moments.from_counts(2422, 3461), relative=True)
    assert round(result.estimate, 5) == 0.50386
    assert (round(result.ci_low, 5), round(result.ci_high, 5)) == (0.40098, 0.60675)
    assert round(result.se, 5) == 0.03386
    assert round(result.pvalue, 5) == 0.0
    assert result.may_stop
    assert "above 0" in result.reason


def test_tuning_narrowest_near_sample_size() -> None:
    # mirrors GrowthBook's test_sequential_test_tuning_as_expected (N = 6461)
    widths = {
        tuning: confidence_sequence(GB_CONTROL, GB_TREATMENT, relative=True, tuning=tuning).ci_high
        for tuning in (10, 6461, 10_000)
    }
    assert widths[6461] < widths[10_000] < widths[10]


def test_pvalue_and_interval_agree() -> None:
    rng = np.random.default_rng(3)
    for shift in np.linspace(0.0, 0.4, 15):
        c = Moments.from_values(rng.normal(0, 1, 800))
        t = Moments.from_values(rng.normal(shift, 1, 900))
        result = confidence_sequence(c, t, tuning=2000)
        excludes = result.ci_low > 0 or result.ci_high < 0
        assert (result.pvalue <= 0.05) == excludes == result.may_stop
        assert result.pvalue == pytest.approx(min(1.0, 1.0 / result.evalue), rel=1e-12)


def test_wider_than_fixed_horizon_and_interval_levels() -> None:
    from abnb.stats import welch

    result = confidence_sequence(GB_CONTROL, GB_TREATMENT)
    fixed = welch(GB_CONTROL, GB_TREATMENT)
    assert result.estimate == pytest.approx(fixed.estimate)
    assert result.ci_high - result.ci_low > fixed.ci_high - fixed.ci_low
    assert tuple(result.confidence_interval(0.95)) == pytest.approx((result.ci_low, result.ci_high))
    low90, high90 = result.confidence_interval(0.90)
    assert result.ci_low < low90 < high90 < result.ci_high
    assert "may stop" in result._repr_html_()
    assert "SequentialEffect" in repr(result)
    assert result.to_dict()["may_stop"] is False


def test_confidence_sequence_errors() -> None:
    with pytest.raises(ParameterError, match="tuning"):
        confidence_sequence(GB_CONTROL, GB_TREATMENT, tuning=0)
    with pytest.raises(ParameterError, match="alpha"):
        confidence_sequence(GB_CONTROL, GB_TREATMENT, alpha=1.5)
    flat = Moments(n=10, sum=10.0, sum_sq=10.0)
    with pytest.raises(DataError, match="zero variance"):
        confidence_sequence(flat, flat)


# ------------------------------------------------------------------------------------------------------
# group sequential


def _crossing_probability(bounds: np.ndarray, t: np.ndarray) -> float:
    """P(|Z_k| >= c_k for some k) under H0 via the multivariate normal CDF (corr sqrt(t_i/t_j))."""
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    finite = np.where(np.isfinite(bounds), bounds, 40.0)
    mvn = sps.multivariate_normal(mean=np.zeros(t.size), cov=corr, seed=1, abseps=1e-6, releps=1e-6, maxpts=500_000)
    return 1.0 - float(mvn.cdf(finite, lower_limit=-finite))


def test_single_look_is_fixed_horizon() -> None:
    for spending in ("power", "obrien-fleming", "obrien-fleming-total"):
        assert group_sequential_bounds([1.0], spending=spending)[0] == pytest.approx(1.959964, abs=1e-6)


def test_obrien_fleming_matches_gsdesign() -> None:
    # gsDesign(k=5, test.type=2, alpha=0.025, sfu=sfLDOF) / ldbounds(t=(1:5)/5, iuse=1, alpha=0.05):
    # upper bounds 4.8769, 3.3569, 2.6803, 2.2898, 2.0310 (Lan-DeMets O'Brien-Fleming-like spending;
    # spending formula documented at https://keaven.github.io/gsDesign/reference/sfLDOF.html)
    bounds = group_sequential_bounds(np.linspace(0.2, 1.0, 5), spending="obrien-fleming")
    assert bounds == pytest.approx([4.8769, 3.3569, 2.6803, 2.2898, 2.0310], abs=1e-3)


@pytest.mark.parametrize(
    ("t", "spending", "rho"),
    [
        ([0.2, 0.4, 0.6, 0.8, 1.0], "obrien-fleming", 2.0),
        ([0.2, 0.4, 0.6, 0.8, 1.0], "obrien-fleming-total", 2.0),
        ([0.2, 0.4, 0.6, 0.8, 1.0], "power", 2.0),
        ([0.1, 0.35, 0.5, 1.0], "power", 1.0),
        ([0.25, 0.3, 0.7, 0.9], "power", 3.0),
    ],
)
def test_total_crossing_probability_equals_spent_alpha(t: list[float], spending: str, rho: float) -> None:
    t_arr = np.asarray(t)
    bounds = group_sequential_bounds(t_arr, alpha=0.05, rho=rho, spending=spending)  # type: ignore[arg-type]
    spent = 0.05 * t_arr[-1] ** rho if spending == "power" else 0.05
    assert _crossing_probability(bounds, t_arr) == pytest.approx(spent, abs=1e-4)
    # each look's own increment: P(cross by look k) matches alpha(t_k)
    k = 2
    partial = _crossing_probability(bounds[:k], t_arr[:k])
    if spending == "power":
        assert partial == pytest.approx(0.05 * t_arr[k - 1] ** rho, abs=1e-5)


def test_power_family_first_look_and_monotone() -> None:
    bounds = group_sequential_bounds(np.linspace(0.2, 1.0, 5), spending="power", rho=1.0)
    # alpha*t_1 = 0.01 is spent at the first look, so c_1 = z_{0.995}
    assert bounds[0] == pytest.approx(sps.norm.ppf(0.995), abs=1e-9)
    assert np.all(np.diff(bounds) < 0)


def test_group_sequential_test_decisions() -> None:
    t = [0.2, 0.4, 0.6]
    keep = group_sequential_test([1.0, 2.5, 2.0], t, spending="obrien-fleming")
    assert not keep.may_stop
    assert keep.crossed_at is None
    assert keep.look == 3
    assert "keep collecting" in keep.reason
    stop = group_sequential_test([1.0, 2.5, -2.9], t, spending="obrien-fleming")
    assert stop.may_stop
    assert stop.crossed_at == 3
    earlier = group_sequential_test([5.0, 1.0], [0.2, 0.4], spending="obrien-fleming")
    assert earlier.crossed_at == 1
    assert "already crossed at look 1" in earlier.reason


def test_group_sequential_errors() -> None:
    with pytest.raises(ParameterError, match="increase strictly"):
        group_sequential_bounds([0.5, 0.4])
    with pytest.raises(ParameterError, match="increase strictly"):
        group_sequential_bounds([0.5, 1.2])
    with pytest.raises(ParameterError, match="spending"):
        group_sequential_bounds([1.0], spending="pocock")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="rho"):
        group_sequential_bounds([1.0], rho=0)
    with pytest.raises(ParameterError, match="one z-statistic per look"):
        group_sequential_test([1.0], [0.5, 1.0])


# ------------------------------------------------------------------------------------------------------
# mSPRT


def _mixture_lr_by_quadrature(estimate: float, variance: float, tau: float) -> float:
    def integrand(theta: float) -> float:
        log_ratio = (-((estimate - theta) ** 2) + estimate**2) / (2 * variance)
        return math.exp(log_ratio) * sps.norm.pdf(theta, scale=tau)

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    return value


@pytest.mark.parametrize(("shift", "tau"), [(0.0, 0.05), (0.05, 0.1), (0.12, 0.02), (-0.2, 0.3)])
def test_msprt_closed_form_matches_quadrature(shift: float, tau: float) -> None:
    rng = np.random.default_rng(11)
    c = Moments.from_values(rng.normal(1.0, 1.0, 600))
    t = Moments.from_values(rng.normal(1.0 + shift, 1.2, 700))
    result = msprt(c, t, tau=tau)
    variance = result.se**2
    assert result.evalue == pytest.approx(_mixture_lr_by_quadrature(result.estimate, variance, tau), rel=1e-8)
    assert result.pvalue == pytest.approx(min(1.0, 1.0 / result.evalue), rel=1e-12)
    assert result.may_stop == (result.evalue >= 20.0)


def test_msprt_interval_inverts_the_test() -> None:
    c = Moments.from_counts(480, 5000)
    t = Moments.from_counts(560, 5000)
    tau = 0.02
    result = msprt(c, t, tau=tau, alpha=0.05)
    variance = result.se**2
    for bound in (result.ci_low, result.ci_high):
        # at the interval's ends the mixture LR of H0: theta = bound equals 1/alpha
        assert _mixture_lr_by_quadrature(result.estimate - bound, variance, tau) == pytest.approx(20.0, rel=1e-7)
    assert result.may_stop == (result.ci_low > 0 or result.ci_high < 0)


def test_msprt_history_gives_running_minimum() -> None:
    rng = np.random.default_rng(5)
    c_values, t_values = rng.normal(0, 1, 3000), rng.normal(0.1, 1, 3000)
    looks = [(Moments.from_values(c_values[:n]), Moments.from_values(t_values[:n])) for n in (1000, 2000, 3000)]
    single = [msprt(c, t, tau=0.1) for c, t in looks]
    running = msprt(*looks[-1], tau=0.1, history=looks[:-1])
    assert running.pvalue == pytest.approx(min(r.pvalue for r in single))
    assert running.ci_low == pytest.approx(max(r.ci_low for r in single))
    assert running.ci_high == pytest.approx(min(r.ci_high for r in single))
    assert running.evalue == pytest.approx(single[-1].evalue)
    assert "3 look(s)" in running.method


def test_msprt_errors() -> None:
    with pytest.raises(ParameterError, match="tau"):
        msprt(GB_CONTROL, GB_TREATMENT, tau=0.0)
    with pytest.raises(ParameterError, match="history"):
        msprt(GB_CONTROL, GB_TREATMENT, tau=1.0, history=[GB_CONTROL])  # type: ignore[list-item]
