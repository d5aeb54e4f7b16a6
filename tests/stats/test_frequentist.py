import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from abnb.errors import DataError, ParameterError
from abnb.stats import ConfidenceInterval, Effect, Moments, welch, ztest

# Published vector from GrowthBook's gbstats test suite (growthbook/growthbook,
# packages/stats/tests/frequentist/test_tests.py, TestTwoSidedTTest), given there to 5 decimals;
# the 6-decimal absolute values below were recomputed from the same sums.
GB_CONTROL = Moments(n=3407, sum=1396.87, sum_sq=52377.9767)
GB_TREATMENT = Moments(n=3461, sum=2422.7, sum_sq=134698.29)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _samples(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (rng.normal(10.0, 3.0, size=40), rng.normal(11.0, 1.0, size=95)),
        (rng.lognormal(0.0, 1.0, size=500), rng.lognormal(0.1, 1.2, size=430)),
        (rng.exponential(2.0, size=12), rng.exponential(2.5, size=9)),
    ]


# ---------------------------------------------------------------------------------------------------
# Welch, absolute


def test_welch_matches_scipy_ttest_ind(rng: np.random.Generator) -> None:
    for control, treatment in _samples(rng):
        effect = welch(Moments.from_values(control), Moments.from_values(treatment))
        reference = sps.ttest_ind(treatment, control, equal_var=False)
        assert effect.statistic == pytest.approx(reference.statistic, rel=1e-9)
        assert effect.pvalue == pytest.approx(reference.pvalue, rel=1e-9)
        assert effect.df == pytest.approx(reference.df, rel=1e-9)
        assert effect.estimate == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)
        for level in (0.95, 0.8):
            ci = reference.confidence_interval(confidence_level=level)
            mine = effect.confidence_interval(level)
            assert mine.low == pytest.approx(ci.low, rel=1e-9)
            assert mine.high == pytest.approx(ci.high, rel=1e-9)
        assert (effect.ci_low, effect.ci_high) == tuple(effect.confidence_interval(0.95))


def test_welch_matches_scipy_ttest_ind_from_stats() -> None:
    c, t = GB_CONTROL, GB_TREATMENT
    reference = sps.ttest_ind_from_stats(t.mean, t.std, t.n, c.mean, c.std, c.n, equal_var=False)
    effect = welch(c, t)
    assert effect.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert effect.pvalue == pytest.approx(reference.pvalue, rel=1e-9)


def test_welch_growthbook_published_absolute() -> None:
    effect = welch(GB_CONTROL, GB_TREATMENT)
    assert effect.estimate == pytest.approx(0.29, abs=1e-12)
    assert effect.se == pytest.approx(0.124784, abs=1e-6)
    assert effect.ci_low == pytest.approx(0.045378, abs=1e-6)
    assert effect.ci_high == pytest.approx(0.534622, abs=1e-6)
    assert effect.pvalue == pytest.approx(0.020158, abs=1e-6)
    assert effect.control_mean == pytest.approx(0.41)
    assert effect.treatment_mean == pytest.approx(0.7)
    assert not effect.relative


def test_welch_growthbook_published_relative_delta() -> None:
    # Same source, relative difference: lift 0.70732, se 0.37879, CI [-0.03526, 1.44989], p 0.06191.
    effect = welch(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="delta")
    assert effect.estimate == pytest.approx(0.70732, abs=5e-6)
    assert effect.se == pytest.approx(0.37879, abs=5e-6)
    assert effect.ci_low == pytest.approx(-0.03526, abs=5e-6)
    assert effect.ci_high == pytest.approx(1.44989, abs=5e-6)
    assert effect.pvalue == pytest.approx(0.06191, abs=5e-6)
    assert effect.relative
    assert "delta-method" in effect.method


def test_welch_growthbook_published_proportions() -> None:
    # Same source (test_two_sided_ttest_binom): 14/28 vs 16/30, relative: se 0.2717, CI [-0.47767, 0.61101],
    # p 0.80707 — a Welch test with Bernoulli variances p(1 - p).
    effect = welch(Moments.from_counts(14, 28), Moments.from_counts(16, 30), relative=True, relative_ci="delta")
    assert effect.estimate == pytest.approx(0.06667, abs=5e-6)
    assert effect.se == pytest.approx(0.2717, abs=5e-5)
    assert effect.ci_low == pytest.approx(-0.47767, abs=5e-6)
    assert effect.ci_high == pytest.approx(0.61101, abs=5e-6)
    assert effect.pvalue == pytest.approx(0.80707, abs=5e-6)


# ---------------------------------------------------------------------------------------------------
# Welch, relative


def _numeric_delta_se(c: Moments, t: Moments) -> float:
    """Delta-method SE of m_t/m_c - 1 with the gradient taken by central finite differences."""

    def lift(m_c: float, m_t: float) -> float:
        return m_t / m_c - 1.0

    h_c, h_t = 1e-5 * abs(c.mean), 1e-5 * abs(t.mean)
    d_c = (lift(c.mean + h_c, t.mean) - lift(c.mean - h_c, t.mean)) / (2 * h_c)
    d_t = (lift(c.mean, t.mean + h_t) - lift(c.mean, t.mean - h_t)) / (2 * h_t)
    return math.sqrt(d_c**2 * c.variance / c.n + d_t**2 * t.variance / t.n)


def test_relative_delta_se_matches_numeric_gradient(rng: np.random.Generator) -> None:
    for control, treatment in _samples(rng):
        c, t = Moments.from_values(control), Moments.from_values(treatment)
        effect = welch(c, t, relative=True, relative_ci="delta")
        assert effect.se == pytest.approx(_numeric_delta_se(c, t), rel=1e-6)
        assert effect.estimate == pytest.approx(treatment.mean() / control.mean() - 1, rel=1e-12)
        assert effect.statistic == pytest.approx(effect.estimate / effect.se, rel=1e-12)
        assert effect.df == welch(c, t).df
        q = sps.t.ppf(0.975, effect.df)
        assert effect.ci_low == pytest.approx(effect.estimate - q * effect.se, rel=1e-9)
        assert effect.ci_high == pytest.approx(effect.estimate + q * effect.se, rel=1e-9)
        assert effect.pvalue == pytest.approx(2 * sps.t.sf(abs(effect.statistic), effect.df), rel=1e-9)


def test_relative_log_ci_matches_direct_formula() -> None:
    c, t = GB_CONTROL, GB_TREATMENT
    effect = welch(c, t, relative=True, relative_ci="log")
    se_log = math.sqrt(t.variance / (t.n * t.mean**2) + c.variance / (c.n * c.mean**2))
    log_ratio = math.log(t.mean / c.mean)
    df = welch(c, t).df
    for level in (0.95, 0.9):
        q = sps.t.ppf((1 + level) / 2, df)
        ci = effect.confidence_interval(level)
        assert ci.low == pytest.approx(math.exp(log_ratio - q * se_log) - 1, rel=1e-9)
        assert ci.high == pytest.approx(math.exp(log_ratio + q * se_log) - 1, rel=1e-9)
    assert effect.statistic == pytest.approx(log_ratio / se_log, rel=1e-12)
    assert effect.pvalue == pytest.approx(2 * sps.t.sf(abs(log_ratio / se_log), df), rel=1e-9)
    # asymmetric around the lift
    assert effect.ci_high - effect.estimate > effect.estimate - effect.ci_low


def _fieller_by_root_finding(c: Moments, t: Moments, q: float) -> tuple[float, float]:
    """Solve (m_t - R m_c)^2 = q^2 (v_t/n_t + R^2 v_c/n_c) for R numerically, on both sides of m_t/m_c."""
    var_c, var_t = c.variance / c.n, t.variance / t.n

    def f(ratio: float) -> float:
        return (t.mean - ratio * c.mean) ** 2 - q * q * (var_t + ratio * ratio * var_c)

    center = t.mean / c.mean
    step = abs(center) + 1.0
    while f(center - step) < 0 or f(center + step) < 0:
        step *= 2
    low = optimize.brentq(f, center - step, center, xtol=1e-14, rtol=1e-14)
    high = optimize.brentq(f, center, center + step, xtol=1e-14, rtol=1e-14)
    return low, high


def test_relative_fieller_matches_root_finding(rng: np.random.Generator) -> None:
    pairs = [(Moments.from_values(a), Moments.from_values(b)) for a, b in _samples(rng)]
    for c, t in [*pairs, (GB_CONTROL, GB_TREATMENT)]:
        effect = welch(c, t, relative=True, relative_ci="fieller")
        q = sps.t.ppf(0.975, welch(c, t).df)
        low, high = _fieller_by_root_finding(c, t, q)
        assert effect.ci_low == pytest.approx(low - 1, rel=1e-9, abs=1e-12)
        assert effect.ci_high == pytest.approx(high - 1, rel=1e-9, abs=1e-12)
        # the Fieller test of ratio 1 is the Welch test of the difference
        assert effect.pvalue == pytest.approx(welch(c, t).pvalue, rel=1e-12)


def test_fieller_set_is_described_when_control_mean_is_not_significant() -> None:
    control = Moments.from_values([-1.0, 1.2, -0.9, 0.8, 0.1, -0.3])
    treatment = Moments.from_values([1.0, 2.0, 1.5, 1.7, 2.2, 0.9])
    effect = welch(control, treatment, relative=True, relative_ci="fieller")
    assert (effect.ci_low, effect.ci_high) == (-math.inf, math.inf)
    assert "control mean" in effect.ci_note
    assert "not distinguishable from 0" in effect.ci_note
    assert effect.pvalue == welch(control, treatment).pvalue  # the test of the difference stands
    # the delta method still answers with a finite (and here misleading) interval
    assert math.isfinite(welch(control, treatment, relative=True, relative_ci="delta").se)


# ---------------------------------------------------------------------------------------------------
# z-test


PROPORTION_CASES = [(100, 1000, 130, 1000), (480, 5000, 530, 5100), (3, 40, 9, 38), (70, 300, 64, 310)]


@pytest.mark.parametrize(("s_c", "n_c", "s_t", "n_t"), PROPORTION_CASES)
def test_ztest_pooled_matches_statsmodels(s_c: int, n_c: int, s_t: int, n_t: int) -> None:
    effect = ztest(Moments.from_counts(s_c, n_c), Moments.from_counts(s_t, n_t), pooled=True)
    statistic, pvalue = proportions_ztest([s_t, s_c], [n_t, n_c])
    assert effect.statistic == pytest.approx(statistic, rel=1e-9)
    assert effect.pvalue == pytest.approx(pvalue, rel=1e-9)
    assert effect.df is None
    low, high = confint_proportions_2indep(s_t, n_t, s_c, n_c, method="wald", compare="diff")
    assert effect.ci_low == pytest.approx(low, rel=1e-9)
    assert effect.ci_high == pytest.approx(high, rel=1e-9)


@pytest.mark.parametrize(("s_c", "n_c", "s_t", "n_t"), PROPORTION_CASES)
def test_ztest_unpooled_ci_matches_statsmodels_wald(s_c: int, n_c: int, s_t: int, n_t: int) -> None:
    effect = ztest(Moments.from_counts(s_c, n_c), Moments.from_counts(s_t, n_t), alpha=0.1)
    low, high = confint_proportions_2indep(s_t, n_t, s_c, n_c, method="wald", compare="diff", alpha=0.1)
    assert effect.ci_low == pytest.approx(low, rel=1e-9)
    assert effect.ci_high == pytest.approx(high, rel=1e-9)
    p_c, p_t = s_c / n_c, s_t / n_t
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    assert effect.se == pytest.approx(se, rel=1e-12)
    assert effect.statistic == pytest.approx((p_t - p_c) / se, rel=1e-12)
    assert effect.pvalue == pytest.approx(2 * sps.norm.sf(abs(p_t - p_c) / se), rel=1e-9)


@pytest.mark.parametrize(("s_c", "n_c", "s_t", "n_t"), [*PROPORTION_CASES, (50, 100, 51, 100)])
def test_ztest_continuity_matches_yates_chi2(s_c: int, n_c: int, s_t: int, n_t: int) -> None:
    effect = ztest(Moments.from_counts(s_c, n_c), Moments.from_counts(s_t, n_t), pooled=True, continuity=True)
    table = [[s_t, n_t - s_t], [s_c, n_c - s_c]]
    reference = sps.chi2_contingency(table, correction=True)
    assert effect.statistic**2 == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert effect.pvalue == pytest.approx(reference.pvalue, rel=1e-9)
    assert "Yates" in effect.method


def test_ztest_relative_log_matches_statsmodels_ratio() -> None:
    c, t = Moments.from_counts(100, 1000), Moments.from_counts(130, 1000)
    effect = ztest(c, t, relative=True, relative_ci="log")
    low, high = confint_proportions_2indep(130, 1000, 100, 1000, method="log", compare="ratio")
    assert effect.ci_low == pytest.approx(low - 1, rel=1e-9)
    assert effect.ci_high == pytest.approx(high - 1, rel=1e-9)


def test_ztest_relative_with_pooled_takes_the_pooled_p_value() -> None:
    c, t = Moments.from_counts(100, 1000), Moments.from_counts(130, 1000)
    relative = ztest(c, t, relative=True, pooled=True)
    assert relative.pvalue == pytest.approx(ztest(c, t, pooled=True).pvalue, rel=1e-12)
    assert relative.ci_low == pytest.approx(ztest(c, t, relative=True).ci_low, rel=1e-12)


def test_ztest_on_means(rng: np.random.Generator) -> None:
    control, treatment = rng.normal(5, 2, size=800), rng.normal(5.2, 2.5, size=900)
    c, t = Moments.from_values(control), Moments.from_values(treatment)
    unpooled = ztest(c, t)
    welch_ref = sps.ttest_ind(treatment, control, equal_var=False)
    assert unpooled.statistic == pytest.approx(welch_ref.statistic, rel=1e-9)
    assert unpooled.pvalue == pytest.approx(2 * sps.norm.sf(abs(welch_ref.statistic)), rel=1e-9)
    pooled = ztest(c, t, pooled=True)
    student = sps.ttest_ind(treatment, control, equal_var=True)
    assert pooled.statistic == pytest.approx(student.statistic, rel=1e-9)
    assert pooled.ci_low == pytest.approx(unpooled.ci_low, rel=1e-12)  # the CI stays unpooled
    z = sps.norm.ppf(0.975)
    assert unpooled.ci_low == pytest.approx(unpooled.estimate - z * unpooled.se, rel=1e-12)


# ---------------------------------------------------------------------------------------------------
# calibration by simulation


def _simulated_moments(
    rng: np.random.Generator, mean: float, sd: float, n: int, reps: int
) -> tuple[np.ndarray, np.ndarray]:
    y = rng.normal(mean, sd, size=(reps, n))
    return y.sum(axis=1), np.einsum("ij,ij->i", y, y)


def test_welch_calibration_false_positive_rate_and_coverage() -> None:
    rng = np.random.default_rng(12345)
    reps, n_c, n_t = 20_000, 30, 50
    c_sum, c_sq = _simulated_moments(rng, 1.0, 1.0, n_c, reps)
    a_sum, a_sq = _simulated_moments(rng, 1.0, 2.0, n_t, reps)  # A/A: same mean, unequal variance
    b_sum, b_sq = _simulated_moments(rng, 1.5, 2.0, n_t, reps)  # true difference 0.5
    rejections = covered = 0
    for i in range(reps):
        control = Moments(n=n_c, sum=c_sum[i], sum_sq=c_sq[i])
        rejections += welch(control, Moments(n=n_t, sum=a_sum[i], sum_sq=a_sq[i])).pvalue < 0.05
        effect = welch(control, Moments(n=n_t, sum=b_sum[i], sum_sq=b_sq[i]))
        covered += effect.ci_low <= 0.5 <= effect.ci_high
    assert 0.04 <= rejections / reps <= 0.06
    assert 0.94 <= covered / reps <= 0.96


# ---------------------------------------------------------------------------------------------------
# the Effect object


def test_effect_presentation() -> None:
    effect = welch(GB_CONTROL, GB_TREATMENT)
    assert repr(effect) == (
        "Effect(estimate=0.29, ci=[0.04538, 0.5346], pvalue=0.02016, "
        "method='Welch t-test (Welch–Satterthwaite df), absolute difference')"
    )
    record = effect.to_dict()
    assert list(record) == [
        "estimate", "se", "ci_low", "ci_high", "pvalue", "statistic", "df", "alpha", "method",
        "relative", "control_mean", "treatment_mean", "ci_note",
    ]  # fmt: skip
    frame = effect.to_frame()
    assert frame.shape == (1, 13)  # the flat fields, ci_note included
    assert frame.loc[0, "pvalue"] == effect.pvalue
    html = effect._repr_html_()
    assert "<table" in html
    assert "0.04538" in html
    relative_html = welch(GB_CONTROL, GB_TREATMENT, relative=True)._repr_html_()
    assert "70.73%" in relative_html


def test_effect_confidence_interval_and_equality() -> None:
    effect = welch(GB_CONTROL, GB_TREATMENT, alpha=0.1)
    ci90 = effect.confidence_interval(0.9)
    assert isinstance(ci90, ConfidenceInterval)
    assert (ci90.low, ci90.high) == pytest.approx((effect.ci_low, effect.ci_high), rel=1e-12)
    low99, high99 = effect.confidence_interval(0.99)
    assert low99 < ci90.low
    assert high99 > ci90.high
    with pytest.raises(ParameterError, match="confidence_level"):
        effect.confidence_interval(1.0)
    # the interval function takes no part in equality
    assert effect == welch(GB_CONTROL, GB_TREATMENT, alpha=0.1)
    # an Effect built by hand knows only its own interval
    plain = Effect(**effect.to_dict())
    assert plain.confidence_interval(0.9) == ConfidenceInterval(effect.ci_low, effect.ci_high)
    with pytest.raises(ParameterError, match=r"only knows its 0\.9 interval"):
        plain.confidence_interval(0.95)


# ---------------------------------------------------------------------------------------------------
# errors


def test_zero_variance_in_both_arms_is_a_data_error() -> None:
    control, treatment = Moments.from_values([2.0] * 10), Moments.from_values([3.0] * 12)
    with pytest.raises(DataError, match=r"both arms have zero variance; the difference .* cannot be tested"):
        welch(control, treatment)
    with pytest.raises(DataError, match="both arms have zero variance"):
        ztest(Moments.from_counts(0, 10), Moments.from_counts(10, 10), pooled=True)
    # one arm with variance is enough
    assert welch(control, Moments.from_values([3.0, 4.0, 3.5])).df == pytest.approx(2.0)


@pytest.mark.parametrize("alpha", [1.5, 0.0, 1.0, -0.1, math.nan, True])
def test_alpha_outside_unit_interval_is_a_parameter_error(alpha: float) -> None:
    with pytest.raises(ParameterError, match="alpha must be a number strictly between 0 and 1"):
        welch(GB_CONTROL, GB_TREATMENT, alpha=alpha)
    with pytest.raises(ParameterError, match="alpha"):
        ztest(GB_CONTROL, GB_TREATMENT, alpha=alpha)


def test_argument_errors() -> None:
    one = Moments.from_values([1.0])
    with pytest.raises(ParameterError, match="control has n=1 unit"):
        welch(one, GB_TREATMENT)
    with pytest.raises(ParameterError, match=r"treatment must be abnb\.stats\.Moments, got list"):
        welch(GB_CONTROL, [1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="disagree on proportion"):
        ztest(Moments.from_counts(3, 10), GB_TREATMENT)
    with pytest.raises(ParameterError, match="relative_ci must be one of 'delta', 'log', 'fieller'"):
        welch(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="defined for proportions only"):
        ztest(GB_CONTROL, GB_TREATMENT, continuity=True)


def test_relative_effect_data_errors() -> None:
    zero_mean = Moments.from_values([-1.0, 1.0, -2.0, 2.0])
    with pytest.raises(DataError, match="control mean is 0"):
        welch(zero_mean, GB_TREATMENT, relative=True)
    negative = Moments.from_values([-1.0, -2.0, -1.5])
    with pytest.raises(DataError, match="same sign"):
        welch(GB_CONTROL, negative, relative=True, relative_ci="log")


def test_import_does_not_load_scipy_or_pandas() -> None:
    code = (
        "import sys, abnb.stats\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'scipy', 'pandas', 'statsmodels'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
