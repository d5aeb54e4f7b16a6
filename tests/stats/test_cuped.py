import math

import numpy as np
import pytest
from scipy import stats as sps

from abnb.errors import DataError, ParameterError
from abnb.stats import Moments, welch
from abnb.stats.cuped import CupedEffect, cuped

# Published vector from GrowthBook's gbstats test suite (growthbook/growthbook, packages/stats/tests/frequentist/
# test_tests.py, the regression-adjusted (CUPED) two-sided t-test with a relative difference): these sums give
# θ −0.0732119, lift −0.2817072, SE 0.0971049, p 0.0037325 and CI (−0.472068, −0.091347).
GB_CONTROL = Moments(n=3001, sum=300, sum_sq=600, x_sum=210, x_sum_sq=415, xy_sum=-20)
GB_TREATMENT = Moments(n=3000, sum=222, sum_sq=555, x_sum=120, x_sum_sq=405, xy_sum=-10)


def _arm(rng: np.random.Generator, n: int, effect: float, rho: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(5.0, 2.0, size=n)
    y = 3.0 + effect + rho * (x - 5.0) / 2.0 + math.sqrt(1.0 - rho**2) * rng.normal(size=n)
    return y, x


def test_growthbook_published_relative() -> None:
    effect = cuped(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="delta")  # GrowthBook's convention
    assert isinstance(effect, CupedEffect)
    assert effect.theta == pytest.approx(-0.0732119, abs=1e-7)
    assert effect.estimate == pytest.approx(-0.2817072, abs=1e-7)
    assert effect.se == pytest.approx(0.0971049, abs=1e-7)
    assert effect.pvalue == pytest.approx(0.0037325, abs=1e-7)
    assert effect.ci_low == pytest.approx(-0.472068, abs=1e-6)
    assert effect.ci_high == pytest.approx(-0.091347, abs=1e-6)
    assert effect.relative
    assert effect.control_unadjusted_mean == pytest.approx(300 / 3001)
    assert effect.treatment_unadjusted_mean == pytest.approx(222 / 3000)
    assert "theta" in effect.to_dict()
    assert "CUPED θ" in effect._repr_html_()
    assert "theta=" in repr(effect)


def test_absolute_equals_welch_on_adjusted_unit_values() -> None:
    # Independent route: adjust every unit with the pooled θ (numpy covariance of the raw data), then run scipy's
    # Welch test on the adjusted values.
    rng = np.random.default_rng(11)
    yc, xc = _arm(rng, 400, 0.0, 0.7)
    yt, xt = _arm(rng, 350, 0.2, 0.7)
    x_all, y_all = np.concatenate([xc, xt]), np.concatenate([yc, yt])
    theta = np.cov(x_all, y_all)[0, 1] / np.var(x_all, ddof=1)
    adj_c, adj_t = yc - theta * (xc - x_all.mean()), yt - theta * (xt - x_all.mean())
    reference = sps.ttest_ind(adj_t, adj_c, equal_var=False)
    effect = cuped(Moments.from_values(yc, xc), Moments.from_values(yt, xt))
    assert effect.theta == pytest.approx(theta, rel=1e-9)
    assert effect.estimate == pytest.approx(adj_t.mean() - adj_c.mean(), rel=1e-9)
    assert effect.control_mean == pytest.approx(adj_c.mean(), rel=1e-9)
    assert effect.treatment_mean == pytest.approx(adj_t.mean(), rel=1e-9)
    assert effect.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert effect.pvalue == pytest.approx(reference.pvalue, rel=1e-9)
    assert effect.df == pytest.approx(reference.df, rel=1e-9)
    for level in (0.95, 0.8):
        ci = reference.confidence_interval(confidence_level=level)
        mine = effect.confidence_interval(level)
        assert mine.low == pytest.approx(ci.low, rel=1e-9)
        assert mine.high == pytest.approx(ci.high, rel=1e-9)
    assert (effect.ci_low, effect.ci_high) == tuple(effect.confidence_interval(0.95))
    unadjusted = welch(Moments.from_values(yc), Moments.from_values(yt))
    assert effect.variance_reduction == pytest.approx(1.0 - effect.se**2 / unadjusted.se**2, rel=1e-9)
    assert effect.variance_reduction > 0.3


def test_relative_matches_complex_step_delta_method() -> None:
    # Independent numeric delta method: gradient of L = (a_t − a_c) / ȳ_c by complex-step differentiation,
    # per-arm covariance matrices of (y, x) from numpy, θ held fixed. The treatment covariate is shifted to the
    # control's mean so that the gradient point is the one GrowthBook's closed form uses (x̄_t = x̄_c).
    rng = np.random.default_rng(5)
    yc, xc = _arm(rng, 300, 0.0, 0.6)
    yt, xt = _arm(rng, 320, 0.3, 0.6)
    xt = xt - xt.mean() + xc.mean()
    effect = cuped(Moments.from_values(yc, xc), Moments.from_values(yt, xt), relative=True, relative_ci="delta")
    theta = effect.theta

    def lift(m: np.ndarray) -> complex:
        y_t, x_t, y_c, x_c = m
        return ((y_t - theta * x_t) - (y_c - theta * x_c)) / y_c

    point = np.array([yt.mean(), xt.mean(), yc.mean(), xc.mean()], dtype=complex)
    h = 1e-20
    grad = np.array([lift(point + 1j * h * np.eye(4)[k]).imag / h for k in range(4)])
    sigma = np.zeros((4, 4))
    sigma[:2, :2] = np.cov(np.vstack([yt, xt])) / yt.size
    sigma[2:, 2:] = np.cov(np.vstack([yc, xc])) / yc.size
    assert effect.estimate == pytest.approx(lift(point).real, rel=1e-9)
    assert effect.se == pytest.approx(math.sqrt(grad @ sigma @ grad), rel=1e-9)


def test_constant_covariate_reduces_to_welch() -> None:
    rng = np.random.default_rng(3)
    yc, yt = rng.normal(size=50), rng.normal(0.5, size=60)
    control = Moments.from_values(yc, np.ones(50))
    treatment = Moments.from_values(yt, np.ones(60))
    for relative in (False, True):
        effect = cuped(control, treatment, relative=relative)
        reference = welch(Moments.from_values(yc), Moments.from_values(yt), relative=relative)
        assert effect.theta == 0.0
        assert "θ = 0" in effect.method
        assert effect.estimate == pytest.approx(reference.estimate, rel=1e-12)
        assert effect.se == pytest.approx(reference.se, rel=1e-12)
        assert effect.pvalue == pytest.approx(reference.pvalue, rel=1e-9)
        assert effect.variance_reduction == pytest.approx(0.0, abs=1e-12)


def test_matches_statsmodels_regression() -> None:
    # Independent regression: OLS of y on treatment and the centred covariate. Its slope is the within-arm one,
    # CUPED's the pooled one; they differ by O(1/n), so the effects agree closely and the SEs approximately.
    import statsmodels.api as sm

    rng = np.random.default_rng(2013)
    n = 20_000
    yc, xc = _arm(rng, n, 0.0, 0.8)
    yt, xt = _arm(rng, n, 0.05, 0.8)
    y, x = np.concatenate([yc, yt]), np.concatenate([xc, xt])
    treated = np.r_[np.zeros(n), np.ones(n)]
    design = sm.add_constant(np.column_stack([treated, x - x.mean()]))
    fit = sm.OLS(y, design).fit(cov_type="HC2")
    effect = cuped(Moments.from_values(yc, xc), Moments.from_values(yt, xt))
    assert effect.estimate == pytest.approx(fit.params[1], abs=1e-3 * effect.se)
    assert effect.se == pytest.approx(fit.bse[1], rel=2e-3)
    assert effect.theta == pytest.approx(fit.params[2], rel=1e-2)


def test_simulated_coverage_and_variance_reduction() -> None:
    rng = np.random.default_rng(20130204)
    sims, n, rho, true_effect = 4000, 200, 0.6, 0.25
    x = rng.normal(size=(2, sims, n))
    y = rho * x + math.sqrt(1.0 - rho**2) * rng.normal(size=(2, sims, n))
    y[1] += true_effect
    sums = {
        "n": n,
        "sum": y.sum(axis=2),
        "sum_sq": (y * y).sum(axis=2),
        "x_sum": x.sum(axis=2),
        "x_sum_sq": (x * x).sum(axis=2),
        "xy_sum": (x * y).sum(axis=2),
    }
    covered, estimates, reductions = 0, np.empty(sims), np.empty(sims)
    for i in range(sims):
        arms = [Moments(**{k: (v if k == "n" else float(v[arm, i])) for k, v in sums.items()}) for arm in (0, 1)]
        effect = cuped(arms[0], arms[1])
        covered += effect.ci_low <= true_effect <= effect.ci_high
        estimates[i], reductions[i] = effect.estimate, effect.variance_reduction
    assert 0.93 <= covered / sims <= 0.97
    raw = y[1].mean(axis=1) - y[0].mean(axis=1)
    assert 1.0 - estimates.var() / raw.var() == pytest.approx(rho**2, abs=0.04)
    assert reductions.mean() == pytest.approx(rho**2, abs=0.02)
    assert estimates.mean() == pytest.approx(true_effect, abs=0.005)


def test_errors() -> None:
    with pytest.raises(ParameterError, match="covariate sums"):
        cuped(Moments(n=10, sum=5.0, sum_sq=10.0), GB_TREATMENT)
    with pytest.raises(ParameterError, match="alpha"):
        cuped(GB_CONTROL, GB_TREATMENT, alpha=1.5)
    with pytest.raises(ParameterError, match="Moments"):
        cuped((1, 2, 3), GB_TREATMENT)  # type: ignore[arg-type]
    zero = Moments.from_values([-1.0, 1.0, 0.0], [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="control mean is 0"):
        cuped(zero, GB_TREATMENT, relative=True)
    exact = Moments.from_values([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="zero variance"):
        cuped(exact, Moments.from_values([8.0, 10.0], [4.0, 5.0]))


def _adjusted_arms(seed: int) -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    """Two arms with a covariate, and their unit values adjusted with the pooled θ computed directly by numpy."""
    rng = np.random.default_rng(seed)
    yc, xc = _arm(rng, 250, 0.0, 0.7)
    yt, xt = _arm(rng, 270, 0.4, 0.7)
    x_all, y_all = np.concatenate([xc, xt]), np.concatenate([yc, yt])
    theta = np.cov(x_all, y_all)[0, 1] / np.var(x_all, ddof=1)
    adj_c, adj_t = yc - theta * (xc - x_all.mean()), yt - theta * (xt - x_all.mean())
    return Moments.from_values(yc, xc), Moments.from_values(yt, xt), adj_c, adj_t


def test_relative_log_ci_matches_direct_formula_on_adjusted_means() -> None:
    control, treatment, adj_c, adj_t = _adjusted_arms(21)
    a_c, a_t = adj_c.mean(), adj_t.mean()
    var_c, var_t = np.var(adj_c, ddof=1) / adj_c.size, np.var(adj_t, ddof=1) / adj_t.size
    df = sps.ttest_ind(adj_t, adj_c, equal_var=False).df
    se_log = math.sqrt(var_t / a_t**2 + var_c / a_c**2)
    log_ratio = math.log(a_t / a_c)
    effect = cuped(control, treatment, relative=True, relative_ci="log")
    assert effect.df == pytest.approx(df, rel=1e-9)
    assert effect.estimate == pytest.approx(a_t / a_c - 1.0, rel=1e-9)
    assert effect.se == pytest.approx(a_t / a_c * se_log, rel=1e-9)
    assert effect.statistic == pytest.approx(log_ratio / se_log, rel=1e-9)
    assert effect.pvalue == pytest.approx(2 * sps.t.sf(abs(log_ratio / se_log), df), rel=1e-9)
    for level in (0.95, 0.9):
        q = sps.t.ppf((1 + level) / 2, df)
        ci = effect.confidence_interval(level)
        assert ci.low == pytest.approx(math.exp(log_ratio - q * se_log) - 1.0, rel=1e-9, abs=1e-12)
        assert ci.high == pytest.approx(math.exp(log_ratio + q * se_log) - 1.0, rel=1e-9, abs=1e-12)
    assert "ratio of the adjusted means" in effect.method
    assert "log-ratio CI" in effect.method
    # variance reduction: of the difference in means, whatever the scale of the reported effect
    assert effect.variance_reduction == pytest.approx(cuped(control, treatment).variance_reduction, rel=1e-12)
    assert effect.variance_reduction > 0.3


def test_relative_fieller_endpoints_solve_fiellers_quadratic() -> None:
    control, treatment, adj_c, adj_t = _adjusted_arms(22)
    a_c, a_t = adj_c.mean(), adj_t.mean()
    var_c, var_t = np.var(adj_c, ddof=1) / adj_c.size, np.var(adj_t, ddof=1) / adj_t.size
    df = sps.ttest_ind(adj_t, adj_c, equal_var=False).df
    effect = cuped(control, treatment, relative=True, relative_ci="fieller")
    for level in (0.95, 0.8):
        q = sps.t.ppf((1 + level) / 2, df)
        ci = effect.confidence_interval(level)
        for endpoint in (ci.low, ci.high):
            theta = endpoint + 1.0
            t_stat = abs(a_t - theta * a_c) / math.sqrt(var_t + theta**2 * var_c)
            assert t_stat == pytest.approx(q, abs=1e-8)
        assert ci.low < a_t / a_c - 1.0 < ci.high
    assert effect.estimate == pytest.approx(a_t / a_c - 1.0, rel=1e-9)
    assert effect.se == pytest.approx(math.sqrt(var_t / a_c**2 + a_t**2 * var_c / a_c**4), rel=1e-9)
    # the Fieller test of ratio 1 is the CUPED test of the adjusted difference
    assert effect.pvalue == pytest.approx(cuped(control, treatment).pvalue, rel=1e-12)
    assert "ratio of the adjusted means" in effect.method
    assert "Fieller CI" in effect.method


def test_growthbook_published_relative_explicit_delta() -> None:
    default = cuped(GB_CONTROL, GB_TREATMENT, relative=True)
    explicit = cuped(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="delta")
    # the default is Fieller's interval on the adjusted means: it excludes 0 exactly when the adjusted test rejects
    assert default == cuped(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="fieller")
    assert default.pvalue == cuped(GB_CONTROL, GB_TREATMENT).pvalue
    assert explicit.estimate == pytest.approx(-0.2817072, abs=1e-7)
    assert explicit.se == pytest.approx(0.0971049, abs=1e-7)
    assert explicit.ci_low == pytest.approx(-0.472068, abs=1e-6)
    assert explicit.ci_high == pytest.approx(-0.091347, abs=1e-6)
    assert "unadjusted control mean|, delta-method CI" in explicit.method
    # the other conventions estimate the lift of the adjusted means instead, a close but different number
    log = cuped(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="log")
    assert log.estimate == pytest.approx(log.treatment_mean / log.control_mean - 1.0, rel=1e-12)
    assert log.estimate == pytest.approx(explicit.estimate, abs=0.05)
    # ignored for the absolute difference
    assert cuped(GB_CONTROL, GB_TREATMENT, relative_ci="log") == cuped(GB_CONTROL, GB_TREATMENT)


def test_relative_ci_errors() -> None:
    with pytest.raises(ParameterError, match="relative_ci must be one of 'delta', 'log', 'fieller'"):
        cuped(GB_CONTROL, GB_TREATMENT, relative=True, relative_ci="bootstrap")  # type: ignore[arg-type]
    noisy = Moments.from_values([-1.0, 1.2, -0.9, 0.8, 0.1, -0.3], [1.0, 0.0, 2.0, 1.0, 3.0, 0.5])
    treatment = Moments.from_values([1.0, 2.0, 1.5, 1.7, 2.2, 0.9], [1.0, 2.0, 0.0, 1.5, 2.5, 1.0])
    unbounded = cuped(noisy, treatment, relative=True, relative_ci="fieller")
    assert (unbounded.ci_low, unbounded.ci_high) == (-math.inf, math.inf)
    assert "adjusted mean" in unbounded.ci_note
    assert "not distinguishable from 0" in unbounded.ci_note
    negative = Moments.from_values([-1.0, -2.0, -1.5, -1.2], [1.0, 2.0, 3.0, 1.0])
    with pytest.raises(DataError, match="adjusted means of the same sign"):
        cuped(treatment, negative, relative=True, relative_ci="log")
