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
    effect = ratio(RatioMoments.from_values(yc, dc), RatioMoments.from_values(yt, dt), relative=relative)
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
