import math

import numpy as np
import pytest

from abnb.errors import DataError, ParameterError
from abnb.stats.ratio import RatioMoments, ratio


def _users(rng: np.random.Generator, n: int, revenue_per_session: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-user sessions and revenue: sessions vary by user, revenue is correlated with them."""
    sessions = rng.poisson(3.0, size=n) + 1.0
    revenue = revenue_per_session * sessions * rng.gamma(2.0, 0.5, size=n) + rng.normal(0.0, 0.5, size=n)
    return revenue, sessions


def _complex_step_se(f: object, yc: np.ndarray, dc: np.ndarray, yt: np.ndarray, dt: np.ndarray) -> tuple[float, float]:
    """Independent delta method: complex-step gradient of f(ȳ_c, d̄_c, ȳ_t, d̄_t), numpy covariances of the pairs."""
    point = np.array([yc.mean(), dc.mean(), yt.mean(), dt.mean()], dtype=complex)
    h = 1e-20
    grad = np.array([f(point + 1j * h * np.eye(4)[k]).imag / h for k in range(4)])  # type: ignore[operator]
    sigma = np.zeros((4, 4))
    sigma[:2, :2] = np.cov(np.vstack([yc, dc])) / yc.size
    sigma[2:, 2:] = np.cov(np.vstack([yt, dt])) / yt.size
    return f(point).real, math.sqrt(grad @ sigma @ grad)  # type: ignore[operator]


def test_moments_from_values_and_properties() -> None:
    rng = np.random.default_rng(1)
    y, d = _users(rng, 500, 2.0)
    m = RatioMoments.from_values(y, d)
    assert m.n == 500
    assert m.ratio == pytest.approx(y.sum() / d.sum(), rel=1e-12)
    assert m.y_variance == pytest.approx(np.var(y, ddof=1), rel=1e-9)
    assert m.d_variance == pytest.approx(np.var(d, ddof=1), rel=1e-9)
    assert m.covariance == pytest.approx(np.cov(y, d)[0, 1], rel=1e-9)
    # the per-arm delta-method variance equals the variance of the linearised values (y − R d) / d̄
    linearised = (y - m.ratio * d) / d.mean()
    assert m.ratio_variance == pytest.approx(np.var(linearised, ddof=1) / y.size, rel=1e-9)


@pytest.mark.parametrize("relative", [False, True])
def test_matches_complex_step_delta_method(relative: bool) -> None:
    rng = np.random.default_rng(42)
    yc, dc = _users(rng, 800, 2.0)
    yt, dt = _users(rng, 750, 2.2)

    def absolute(m: np.ndarray) -> complex:
        return m[2] / m[3] - m[0] / m[1]

    def lift(m: np.ndarray) -> complex:
        return (m[2] / m[3]) / (m[0] / m[1]) - 1.0

    estimate, se = _complex_step_se(lift if relative else absolute, yc, dc, yt, dt)
    effect = ratio(
        RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt), relative=relative, relative_ci="delta"
    )
    assert effect.estimate == pytest.approx(estimate, rel=1e-9)
    assert effect.se == pytest.approx(se, rel=1e-9)
    assert effect.relative is relative
    assert effect.control_mean == pytest.approx(yc.sum() / dc.sum(), rel=1e-12)
    assert effect.treatment_mean == pytest.approx(yt.sum() / dt.sum(), rel=1e-12)
    from scipy import stats as sps

    assert effect.df is not None
    q = sps.t.ppf(0.975, effect.df)
    assert effect.ci_low == pytest.approx(estimate - q * se, rel=1e-9)
    assert effect.ci_high == pytest.approx(estimate + q * se, rel=1e-9)
    assert effect.pvalue == pytest.approx(2 * sps.t.sf(abs(estimate / se), effect.df), rel=1e-9)
    ci90 = effect.confidence_interval(0.9)
    assert ci90.high - ci90.low == pytest.approx(2 * sps.t.ppf(0.95, effect.df) * se, rel=1e-9)


def test_matches_bootstrap() -> None:
    rng = np.random.default_rng(7)
    n, boots = 2000, 2000
    yc, dc = _users(rng, n, 2.0)
    yt, dt = _users(rng, n, 2.1)
    effect = ratio(RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt))
    lift = ratio(RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt), relative=True)
    ic, it = rng.integers(0, n, size=(2, boots, n))
    r_c = yc[ic].sum(axis=1) / dc[ic].sum(axis=1)
    r_t = yt[it].sum(axis=1) / dt[it].sum(axis=1)
    assert effect.se == pytest.approx((r_t - r_c).std(ddof=1), rel=0.08)
    assert lift.se == pytest.approx((r_t / r_c - 1.0).std(ddof=1), rel=0.08)
    assert effect.estimate == pytest.approx(yt.sum() / dt.sum() - yc.sum() / dc.sum(), rel=1e-12)


def test_validation_errors() -> None:
    with pytest.raises(ParameterError, match="whole number"):
        RatioMoments(n=2.5, y_sum=1, y_sum_sq=1, d_sum=1, d_sum_sq=1, yd_sum=1)
    with pytest.raises(ParameterError, match="finite"):
        RatioMoments(n=3, y_sum=math.nan, y_sum_sq=1, d_sum=1, d_sum_sq=1, yd_sum=1)
    with pytest.raises(ParameterError, match="d_sum_sq is a sum of squares"):
        RatioMoments(n=3, y_sum=1, y_sum_sq=1, d_sum=1, d_sum_sq=-1, yd_sum=1)
    with pytest.raises(ParameterError, match="y_sum_sq"):
        RatioMoments(n=2, y_sum=10, y_sum_sq=1, d_sum=2, d_sum_sq=2, yd_sum=2)
    with pytest.raises(ParameterError, match="Cauchy–Schwarz"):
        RatioMoments(n=2, y_sum=0, y_sum_sq=2, d_sum=0, d_sum_sq=2, yd_sum=5)
    with pytest.raises(DataError, match="pass one pair"):
        RatioMoments.from_values([1.0, 2.0], [1.0])
    good = RatioMoments.from_values([1.0, 2.0, 4.0], [1.0, 1.0, 2.0])
    zero_d = RatioMoments.from_values([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(DataError, match="denominator sum"):
        ratio(zero_d, good)
    with pytest.raises(ParameterError, match="RatioMoments"):
        ratio((1, 2), good)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="at least 2"):
        ratio(RatioMoments.from_values([1.0], [1.0]), good)
    with pytest.raises(ParameterError, match="alpha"):
        ratio(good, good, alpha=0)
    constant = RatioMoments.from_values([2.0, 4.0], [1.0, 2.0])
    with pytest.raises(DataError, match="zero delta-method variance"):
        ratio(constant, constant)
    zero_ratio = RatioMoments.from_values([1.0, -1.0, 0.0], [1.0, 1.0, 2.0])
    with pytest.raises(DataError, match="control ratio is 0"):
        ratio(zero_ratio, good, relative=True)


def _linearised_arm(y: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """Ratio Σy/Σd and its delta-method variance from the linearised values (y − R d) / d̄, computed directly."""
    r = y.sum() / d.sum()
    return r, float(np.var((y - r * d) / d.mean(), ddof=1) / y.size)


def _two_arms(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yc, dc = _users(rng, 300, 2.0)
    yt, dt = _users(rng, 280, 2.3)
    return yc, dc, yt, dt


def _welch_df(var_c: float, var_t: float, n_c: int, n_t: int) -> float:
    return (var_c + var_t) ** 2 / (var_c**2 / (n_c - 1) + var_t**2 / (n_t - 1))


def test_relative_log_ci_matches_direct_formula() -> None:
    from scipy import stats as sps

    yc, dc, yt, dt = _two_arms(3)
    r_c, var_c = _linearised_arm(yc, dc)
    r_t, var_t = _linearised_arm(yt, dt)
    df = _welch_df(var_c, var_t, yc.size, yt.size)
    se_log = math.sqrt(var_t / r_t**2 + var_c / r_c**2)
    log_ratio = math.log(r_t / r_c)
    effect = ratio(RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt), relative=True, relative_ci="log")
    assert effect.df == pytest.approx(df, rel=1e-9)
    assert effect.estimate == pytest.approx(r_t / r_c - 1.0, rel=1e-9)
    assert effect.se == pytest.approx(r_t / r_c * se_log, rel=1e-9)
    assert effect.statistic == pytest.approx(log_ratio / se_log, rel=1e-9)
    assert effect.pvalue == pytest.approx(2 * sps.t.sf(abs(log_ratio / se_log), df), rel=1e-9)
    assert "log-ratio CI" in effect.method
    for level in (0.95, 0.9):
        q = sps.t.ppf((1 + level) / 2, df)
        ci = effect.confidence_interval(level)
        assert ci.low == pytest.approx(math.exp(log_ratio - q * se_log) - 1.0, rel=1e-9, abs=1e-12)
        assert ci.high == pytest.approx(math.exp(log_ratio + q * se_log) - 1.0, rel=1e-9, abs=1e-12)
    assert (effect.ci_low, effect.ci_high) == tuple(effect.confidence_interval(0.95))


def test_relative_fieller_endpoints_solve_fiellers_quadratic() -> None:
    from scipy import stats as sps

    yc, dc, yt, dt = _two_arms(4)
    r_c, var_c = _linearised_arm(yc, dc)
    r_t, var_t = _linearised_arm(yt, dt)
    df = _welch_df(var_c, var_t, yc.size, yt.size)
    control, treatment = RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt)
    effect = ratio(control, treatment, relative=True, relative_ci="fieller")
    for level in (0.95, 0.8):
        q = sps.t.ppf((1 + level) / 2, df)
        ci = effect.confidence_interval(level)
        for endpoint in (ci.low, ci.high):
            theta = endpoint + 1.0
            t_stat = abs(r_t - theta * r_c) / math.sqrt(var_t + theta**2 * var_c)
            assert t_stat == pytest.approx(q, abs=1e-8)
        assert ci.low < r_t / r_c - 1.0 < ci.high
    # the Fieller test of ratio 1 is the test of the difference of ratios; se is the delta-method one
    absolute = ratio(control, treatment)
    delta = ratio(control, treatment, relative=True)
    assert effect.pvalue == pytest.approx(absolute.pvalue, rel=1e-12)
    assert effect.se == pytest.approx(delta.se, rel=1e-12)
    assert effect.estimate == pytest.approx(delta.estimate, rel=1e-12)
    assert "Fieller CI" in effect.method


def test_relative_ci_default_is_fieller() -> None:
    yc, dc, yt, dt = _two_arms(5)
    control, treatment = RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt)
    default = ratio(control, treatment, relative=True)
    explicit = ratio(control, treatment, relative=True, relative_ci="fieller")
    assert default == explicit
    assert "Fieller CI" in default.method
    assert default.pvalue == ratio(control, treatment).pvalue  # interval and test of the difference agree
    # ignored for the absolute difference
    assert ratio(control, treatment, relative_ci="fieller") == ratio(control, treatment)


@pytest.mark.parametrize("relative_ci", ["delta", "log", "fieller"])
def test_unit_denominators_reduce_to_welch(relative_ci: str) -> None:
    # With d ≡ 1 the ratio is a mean and Var(R) = V_y / n, so every interval equals Welch's.
    from abnb.stats import Moments, welch

    rng = np.random.default_rng(6)
    yc, yt = rng.normal(2.0, 1.0, size=40), rng.normal(2.4, 1.5, size=45)
    effect = ratio(
        RatioMoments.from_values(yc, np.ones(40)),
        RatioMoments.from_values(yt, np.ones(45)),
        relative=True,
        relative_ci=relative_ci,  # type: ignore[arg-type]
    )
    reference = welch(Moments.from_values(yc), Moments.from_values(yt), relative=True, relative_ci=relative_ci)  # type: ignore[arg-type]
    for name in ("estimate", "se", "ci_low", "ci_high", "pvalue", "statistic", "df"):
        assert getattr(effect, name) == pytest.approx(getattr(reference, name), rel=1e-9), name


def test_relative_ci_errors() -> None:
    good = RatioMoments.from_values([1.0, 2.0, 4.0], [1.0, 1.0, 2.0])
    with pytest.raises(ParameterError, match="relative_ci must be one of 'delta', 'log', 'fieller'"):
        ratio(good, good, relative=True, relative_ci="bootstrap")  # type: ignore[arg-type]
    noisy = RatioMoments.from_values([-1.0, 1.2, -0.9, 0.8, 0.1, -0.3], np.ones(6))
    treatment = RatioMoments.from_values([1.0, 2.0, 1.5, 1.7, 2.2, 0.9], np.ones(6))
    unbounded = ratio(noisy, treatment, relative=True, relative_ci="fieller")
    assert (unbounded.ci_low, unbounded.ci_high) == (-np.inf, np.inf)
    assert "control ratio" in unbounded.ci_note
    negative = RatioMoments.from_values([-1.0, -2.0, -1.5], [1.0, 1.0, 1.0])
    with pytest.raises(DataError, match="ratios of the same sign"):
        ratio(good, negative, relative=True, relative_ci="log")
