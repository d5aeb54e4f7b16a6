"""Post-stratification: against a direct computation on unit data, the interacted regression with HC2 errors
(statsmodels), Welch with one stratum, and coverage and variance reduction by simulation."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from abnb.errors import DataError, ParameterError
from abnb.stats import Effect, Moments, welch
from abnb.stats.stratify import poststratify

NAMES = ("mobile", "desktop", "tablet")


def _units(seed: int = 1, n: int = 900) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skewed unit values whose level and spread depend on the stratum (strata explain most of the variance)."""
    rng = np.random.default_rng(seed)
    s = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    t = rng.integers(0, 2, n)
    y = np.array([1.0, 3.0, 8.0])[s] + np.array([0.2, 0.5, 1.0])[s] * t + rng.lognormal(0.0, 0.7, n) * (1 + s)
    return s, t, y


def _arms(s: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[dict[str, Moments], dict[str, Moments]]:
    control = {NAMES[k]: Moments.from_values(y[(s == k) & (t == 0)]) for k in range(3)}
    treatment = {NAMES[k]: Moments.from_values(y[(s == k) & (t == 1)]) for k in range(3)}
    return control, treatment


def _direct(s: np.ndarray, t: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float]:
    """Σ w (ȳ_t − ȳ_c), its SE sqrt(Σ w² (s²_t/n_t + s²_c/n_c)) and the weighted arm means, from unit values."""
    diff = var = m_c = m_t = 0.0
    for k in range(3):
        yc, yt = y[(s == k) & (t == 0)], y[(s == k) & (t == 1)]
        diff += w[k] * (yt.mean() - yc.mean())
        var += w[k] ** 2 * (yt.var(ddof=1) / yt.size + yc.var(ddof=1) / yc.size)
        m_c += w[k] * yc.mean()
        m_t += w[k] * yt.mean()
    return diff, math.sqrt(var), m_c, m_t


@pytest.mark.parametrize("given", [None, {"mobile": 2.0, "desktop": 3.0, "tablet": 5.0}])
def test_matches_direct_computation_and_interacted_regression_hc2(given: dict[str, float] | None) -> None:
    s, t, y = _units()
    res = poststratify(*_arms(s, t, y), weights=given)
    if given is None:
        w = np.array([np.mean(s == k) for k in range(3)])
    else:
        w = np.array([given[name] for name in NAMES]) / sum(given.values())
    diff, se, m_c, m_t = _direct(s, t, y, w)
    assert res.estimate == pytest.approx(diff, rel=1e-12)
    assert res.se == pytest.approx(se, rel=1e-12)
    assert (res.control_mean, res.treatment_mean) == pytest.approx((m_c, m_t), rel=1e-12)
    z = sps.norm.ppf(0.975)
    assert (res.ci_low, res.ci_high) == pytest.approx((diff - z * se, diff + z * se), rel=1e-12)
    assert res.pvalue == pytest.approx(2 * sps.norm.sf(abs(diff / se)), rel=1e-12)
    # Lin (2013): OLS of y on treatment, stratum dummies centred at the weights and their interactions with
    # treatment; the treatment coefficient is the post-stratified estimate and its HC2 SE the formula's SE.
    dummies = np.column_stack([(s == k).astype(float) for k in (1, 2)]) - w[1:]
    design = np.column_stack([np.ones(s.size), t, dummies, t[:, None] * dummies])
    fit = sm.OLS(y, design).fit(cov_type="HC2")
    assert res.estimate == pytest.approx(fit.params[1], rel=1e-9)
    assert res.se == pytest.approx(fit.bse[1], rel=1e-9)
    assert isinstance(res, Effect)
    assert res.df is None
    assert not res.relative
    assert "post-stratified" in res.method


def test_proportions_per_stratum() -> None:
    control = {"new": Moments.from_counts(30, 400), "returning": Moments.from_counts(160, 600)}
    treatment = {"new": Moments.from_counts(45, 380), "returning": Moments.from_counts(170, 620)}
    res = poststratify(control, treatment)
    w = {"new": 780 / 2000, "returning": 1220 / 2000}
    rates = {k: (control[k].sum / control[k].n, treatment[k].sum / treatment[k].n) for k in w}
    diff = sum(w[k] * (rates[k][1] - rates[k][0]) for k in w)
    var = sum(
        w[k] ** 2 * (rates[k][1] * (1 - rates[k][1]) / treatment[k].n + rates[k][0] * (1 - rates[k][0]) / control[k].n)
        for k in w
    )
    assert res.estimate == pytest.approx(diff, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(var), rel=1e-12)


def test_one_stratum_is_welchs_difference() -> None:
    rng = np.random.default_rng(3)
    c, t = Moments.from_values(rng.normal(10, 2, 50)), Moments.from_values(rng.normal(11, 3, 70))
    res = poststratify({"all": c}, {"all": t})
    reference = welch(c, t)
    assert res.estimate == pytest.approx(reference.estimate, rel=1e-12)
    assert res.se == pytest.approx(reference.se, rel=1e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_relative_lift_delta_method(sign: float) -> None:
    s, t, y = _units(seed=5)
    y = sign * y  # a negative control mean: the lift divides by its absolute value
    control, treatment = _arms(s, t, y)
    absolute = poststratify(control, treatment)
    res = poststratify(control, treatment, relative=True, alpha=0.1)
    w = np.array([np.mean(s == k) for k in range(3)])
    diff, _, m_c, m_t = _direct(s, t, y, w)
    assert res.estimate == pytest.approx(diff / abs(m_c), rel=1e-12)
    assert math.copysign(1.0, res.estimate) == math.copysign(1.0, absolute.estimate)
    # delta method with Var(m_a) = Σ w² v_a/n_a, by a numerical gradient of (m_t − m_c)/|m_c|
    v = {
        arm: sum(w[k] ** 2 * y[(s == k) & (t == arm)].var(ddof=1) / np.sum((s == k) & (t == arm)) for k in range(3))
        for arm in (0, 1)
    }
    h = 1e-6 * abs(m_c)

    def lift(mc: float, mt: float) -> float:
        return (mt - mc) / abs(mc)

    d_c = (lift(m_c + h, m_t) - lift(m_c - h, m_t)) / (2 * h)
    d_t = (lift(m_c, m_t + h) - lift(m_c, m_t - h)) / (2 * h)
    assert res.se == pytest.approx(math.sqrt(d_c**2 * v[0] + d_t**2 * v[1]), rel=1e-7)
    z = sps.norm.ppf(0.95)
    assert (res.ci_low, res.ci_high) == pytest.approx((res.estimate - z * res.se, res.estimate + z * res.se))
    assert res.pvalue == absolute.pvalue  # the p-value is the difference's
    assert res.relative
    assert "relative lift" in res.method
    lo, hi = res.confidence_interval(0.95)
    z95 = sps.norm.ppf(0.975)
    assert (lo, hi) == pytest.approx((res.estimate - z95 * res.se, res.estimate + z95 * res.se), rel=1e-12)


def test_sparse_strata_are_refused_or_dropped() -> None:
    s, t, y = _units()
    control, treatment = _arms(s, t, y)
    only_treatment = {**treatment, "tv": Moments.from_values([1.0, 2.0, 3.0])}
    with pytest.raises(DataError, match=r"stratum 'tv' is present only in the treatment arm.*drop_sparse=True"):
        poststratify(control, only_treatment)
    thin = {**control, "watch": Moments.from_values([4.0])}
    thin_t = {**treatment, "watch": Moments.from_values([5.0, 6.0])}
    with pytest.raises(DataError, match=r"stratum 'watch' has 1 control and 2 treatment unit\(s\)"):
        poststratify(thin, thin_t)
    kept = poststratify(control, treatment)
    dropped = poststratify(thin, {**only_treatment, "watch": thin_t["watch"]}, drop_sparse=True)
    assert dropped.estimate == pytest.approx(kept.estimate, rel=1e-12)
    assert dropped.se == pytest.approx(kept.se, rel=1e-12)
    assert "dropped sparse strata: 'watch', 'tv'" in dropped.method
    # given weights of dropped strata are ignored, the rest renormalised
    weights = {"mobile": 1.0, "desktop": 1.0, "tablet": 2.0, "watch": 5.0}
    both = poststratify(thin, thin_t, weights=weights, drop_sparse=True)
    without = poststratify(control, treatment, weights={k: v for k, v in weights.items() if k != "watch"})
    assert both.estimate == pytest.approx(without.estimate, rel=1e-12)
    assert both.se == pytest.approx(without.se, rel=1e-12)
    with pytest.raises(DataError, match="no stratum"):
        poststratify({"a": Moments.from_values([1.0])}, {"a": Moments.from_values([2.0])}, drop_sparse=True)


def test_weights_validation() -> None:
    control, treatment = _arms(*_units())
    with pytest.raises(ParameterError, match=r"no weight for stratum\(s\) 'tablet'"):
        poststratify(control, treatment, weights={"mobile": 1.0, "desktop": 1.0})
    with pytest.raises(ParameterError, match=r"weights\['desktop'\] must be a finite number >= 0"):
        poststratify(control, treatment, weights={"mobile": 1.0, "desktop": -1.0, "tablet": 1.0})
    with pytest.raises(ParameterError, match="all be 0"):
        poststratify(control, treatment, weights=dict.fromkeys(NAMES, 0.0))
    with pytest.raises(DataError, match=r"'tv' that neither arm has data for"):
        poststratify(control, treatment, weights=dict.fromkeys((*NAMES, "tv"), 1.0))


def test_argument_validation() -> None:
    control, treatment = _arms(*_units())
    with pytest.raises(ParameterError, match=r"^control must be a non-empty mapping"):
        poststratify([Moments.from_values([1.0, 2.0])], treatment)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^treatment must be a non-empty mapping"):
        poststratify(control, {})
    with pytest.raises(ParameterError, match=r"^treatment\['mobile'\] must be abnb.stats.Moments"):
        poststratify(control, {**treatment, "mobile": (3, 10)})  # type: ignore[dict-item]
    with pytest.raises(ParameterError, match="mix proportions and means"):
        poststratify(control, {**treatment, "mobile": Moments.from_counts(3, 10)})
    with pytest.raises(ParameterError, match="alpha"):
        poststratify(control, treatment, alpha=0.0)
    flat = {"a": Moments.from_values([2.0, 2.0]), "b": Moments.from_values([3.0, 3.0])}
    with pytest.raises(DataError, match="zero variance"):
        poststratify(flat, flat)
    zero = {"a": Moments.from_values([0.0, 0.0, 1.0, -1.0])}
    with pytest.raises(DataError, match="control mean is 0"):
        poststratify(zero, {"a": Moments.from_values([1.0, 2.0])}, relative=True)


def test_coverage_and_variance_reduction_by_simulation() -> None:
    # 10,000 experiments of 600 units in 3 strata (shares 0.5/0.3/0.2) with stratum levels 0, 2, 5, skewed
    # (centred exponential) noise with sd 1, 1.5, 2 and stratum effects 0.1, 0.3, 0.5; coin-flip assignment.
    # Target: the effect on the experiment's own mix of strata, Σ ŵ_s τ_s (the estimand of the conditional variance).
    start = time.perf_counter()
    runs, units, strata = 10_000, 600, 3
    shares, level = np.array([0.5, 0.3, 0.2]), np.array([0.0, 2.0, 5.0])
    tau, sd = np.array([0.1, 0.3, 0.5]), np.array([1.0, 1.5, 2.0])
    rng = np.random.default_rng(2013)
    estimates, ses, targets, naive, covered = [], [], [], [], 0
    for _ in range(5):
        batch = runs // 5
        s = rng.choice(strata, (batch, units), p=shares)
        t = rng.integers(0, 2, (batch, units))
        y = level[s] + tau[s] * t + sd[s] * (rng.exponential(1.0, (batch, units)) - 1.0)
        cell = (np.arange(batch)[:, None] * 2 * strata + 2 * s + t).ravel()
        shape = (batch, strata, 2)
        n = np.bincount(cell, minlength=batch * 2 * strata).reshape(shape)
        total = np.bincount(cell, weights=y.ravel(), minlength=batch * 2 * strata).reshape(shape)
        squares = np.bincount(cell, weights=(y * y).ravel(), minlength=batch * 2 * strata).reshape(shape)
        for i in range(batch):
            arms = [
                {
                    str(k): Moments(int(n[i, k, a]), float(total[i, k, a]), float(squares[i, k, a]))
                    for k in range(strata)
                }
                for a in (0, 1)
            ]
            effect = poststratify(arms[0], arms[1])
            target = float(n[i].sum(axis=1) @ tau) / units
            estimates.append(effect.estimate - target)
            ses.append(effect.se)
            targets.append(target)
            covered += effect.ci_low <= target <= effect.ci_high
            naive.append(total[i, :, 1].sum() / n[i, :, 1].sum() - total[i, :, 0].sum() / n[i, :, 0].sum() - target)
    coverage = covered / runs
    assert 0.94 <= coverage <= 0.96
    var_ps, var_naive = float(np.var(estimates)), float(np.var(naive))
    # strata explain most of the variance: post-stratification needs about a third of the units for the same SE
    assert var_ps < 0.5 * var_naive
    assert float(np.mean(np.square(ses))) == pytest.approx(var_ps, rel=0.05)  # the SE estimates the spread
    assert abs(float(np.mean(estimates))) < 4 * math.sqrt(var_ps / runs)  # unbiased
    assert time.perf_counter() - start < 5.0
