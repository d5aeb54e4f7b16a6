"""Regression adjustment (several covariates, CUPAC) and ratio CUPED from JointMoments, checked independently.

References: statsmodels OLS on the per-unit values (the estimate and θ of ``regression_adjust`` are the OLS
coefficients of ``y ~ 1 + arm + x₁ + x₂``); ``abnb.stats.cuped`` for one covariate; the delta-method influence
functions of both ratios computed with numpy on the per-unit values; GrowthBook's published test vector for ratio
regression adjustment; Monte Carlo replications for the standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abnb.errors import DataError, ParameterError
from abnb.stats import CupedEffect, Moments, RatioMoments, cuped, ratio, welch
from abnb.stats.joint import JointMoments
from abnb.stats.regression import RegressionEffect, ratio_cuped, regression_adjust

sm = pytest.importorskip("statsmodels.api")


def _experiment(n: int, seed: int, *, share: float = 0.4) -> dict[str, np.ndarray]:
    """Per-unit data: arm 0/1 (unequal sizes), two correlated covariates, heteroskedastic outcome."""
    rng = np.random.default_rng(seed)
    arm = (rng.random(n) < share).astype(float)
    x1 = rng.normal(10.0, 3.0, n)
    x2 = rng.gamma(2.0, 2.0, n) + 0.3 * x1
    y = 5.0 + 0.8 * x1 + 0.5 * x2 + 0.3 * arm + rng.normal(0.0, 1.0, n) * (2.0 + arm)
    return {"arm": arm, "y": y, "x1": x1, "x2": x2}


def _arms(data: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple[JointMoments, JointMoments]:
    control, treatment = data["arm"] == 0, data["arm"] == 1
    return (
        JointMoments.from_values({k: data[k][control] for k in names}),
        JointMoments.from_values({k: data[k][treatment] for k in names}),
    )


def test_the_adjusted_difference_is_the_ols_coefficient_of_arm() -> None:
    data = _experiment(20_000, 5)
    control, treatment = _arms(data, ("y", "x1", "x2"))
    effect = regression_adjust(control, treatment, covariates=["x1", "x2"])
    assert isinstance(effect, RegressionEffect)
    centred = [data[k] - data[k].mean() for k in ("x1", "x2")]
    design = sm.add_constant(np.column_stack([data["arm"], *centred]))
    fits = {kind: sm.OLS(data["y"], design).fit(cov_type=kind) for kind in ("nonrobust", "HC0", "HC2")}
    ols = fits["HC2"]
    assert effect.estimate == pytest.approx(ols.params[1], rel=1e-9)
    assert effect.theta == pytest.approx(list(ols.params[2:]), rel=1e-9)
    # the adjusted means: intercept (+ arm) of the OLS with centred covariates
    assert effect.control_mean == pytest.approx(ols.params[0], rel=1e-9)
    assert effect.treatment_mean == pytest.approx(ols.params[0] + ols.params[1], rel=1e-9)
    # se: the HC2 (Welch) standard error of the residuals y − θᵀx regressed on arm, θ fixed — exactly
    residual = data["y"] - np.asarray(effect.theta) @ np.vstack([data["x1"], data["x2"]])
    two_step = sm.OLS(residual, sm.add_constant(data["arm"])).fit(cov_type="HC2")
    assert effect.se == pytest.approx(two_step.bse[1], rel=1e-9)
    assert effect.estimate == pytest.approx(two_step.params[1], rel=1e-9)
    # the one-step heteroskedasticity-robust SE (which adds the uncertainty of θ) differs by O(k/n) only; the
    # homoskedastic one does not apply here (the treatment arm's noise is larger)
    for kind in ("HC0", "HC2"):
        assert effect.se == pytest.approx(fits[kind].bse[1], rel=1e-3)
    assert abs(effect.se / fits["nonrobust"].bse[1] - 1) > 0.03
    n_c, n_t = control.n, treatment.n
    v_c, v_t = np.var(residual[data["arm"] == 0], ddof=1) / n_c, np.var(residual[data["arm"] == 1], ddof=1) / n_t
    assert effect.df == pytest.approx((v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1)), rel=1e-9)
    assert 0.5 < effect.variance_reduction < 1.0


@pytest.mark.parametrize("proportion", [False, True])
@pytest.mark.parametrize("relative", [False, True])
def test_one_covariate_pooled_over_both_arms_is_cuped(relative: bool, proportion: bool) -> None:
    rng = np.random.default_rng(8 + proportion)
    n = 3000
    x_c, x_t = rng.normal(10, 2, n), rng.normal(10, 2, n + 200)
    if proportion:
        y_c = (rng.random(n) < 0.1 + 0.02 * (x_c > 10)).astype(float)
        y_t = (rng.random(n + 200) < 0.12 + 0.02 * (x_t > 10)).astype(float)
    else:
        y_c, y_t = 3 + x_c + rng.normal(0, 1, n), 3.2 + x_t + rng.normal(0, 1.5, n + 200)
    c = JointMoments.from_values({"y": y_c, "x": x_c}, proportion=proportion)
    t = JointMoments.from_values({"y": y_t, "x": x_t}, proportion=proportion)
    mine = regression_adjust(c, t, covariates=["x"], relative=relative, pooling="total")
    reference = cuped(c.to_moments("y", "x"), t.to_moments("y", "x"), relative=relative, relative_ci="delta")
    fields = ("estimate", "se", "ci_low", "ci_high", "pvalue", "df", "control_mean", "treatment_mean")
    for field in (*fields, "control_unadjusted_mean", "treatment_unadjusted_mean"):
        assert getattr(mine, field) == pytest.approx(getattr(reference, field), rel=1e-9, abs=1e-15), field
    # the share of variance removed: of the absolute difference, or of the lift when relative (cuped reports the
    # absolute share in both cases)
    absolute = regression_adjust(c, t, covariates=["x"], pooling="total")
    assert absolute.variance_reduction == pytest.approx(reference.variance_reduction, rel=1e-9)
    assert mine.theta == pytest.approx((reference.theta,), rel=1e-9)
    # pooled within the arms (OLS with an arm indicator) the coefficient differs by O(1/n) only
    within = regression_adjust(c, t, covariates=["x"], relative=relative)
    assert within.estimate == pytest.approx(reference.estimate, rel=2e-2)
    assert within.se == pytest.approx(reference.se, rel=1e-3)


def test_the_relative_lift_and_its_delta_method_se() -> None:
    """The lift divides by |control mean| (sign kept for a negative mean); its SE matches Monte Carlo replications."""
    estimates, ses = [], []
    for seed in range(400):
        data = _experiment(4000, 100 + seed, share=0.5)
        data["y"] = data["y"] - 40.0  # control mean ≈ −22: a negative baseline
        effect = regression_adjust(*_arms(data, ("y", "x1", "x2")), covariates=["x1", "x2"], relative=True)
        estimates.append(effect.estimate)
        ses.append(effect.se)
        if seed == 0:
            absolute = regression_adjust(*_arms(data, ("y", "x1", "x2")), covariates=["x1", "x2"])
            assert effect.control_unadjusted_mean < 0
            assert math.copysign(1, effect.estimate) == math.copysign(1, absolute.estimate)
            assert effect.estimate == pytest.approx(absolute.estimate / abs(effect.control_unadjusted_mean))
    # true lift 0.3/|−21.9|; the empirical SD of the estimates agrees with the mean reported SE (±10% at 400 draws)
    assert float(np.std(estimates, ddof=1)) == pytest.approx(float(np.mean(ses)), rel=0.1)


def test_constant_and_collinear_covariates() -> None:
    data = _experiment(3000, 9)
    data["same"] = np.full(3000, 4.0)
    data["twice"] = 2.0 * data["x1"]
    control, treatment = _arms(data, ("y", "x1", "same", "twice"))
    reference = regression_adjust(*_arms(data, ("y", "x1")), covariates=["x1"])
    effect = regression_adjust(control, treatment, covariates=["x1", "same", "twice"])
    assert effect.theta[1] == 0.0
    assert "constant" in effect.method
    assert "collinear" in effect.method
    assert effect.estimate == pytest.approx(reference.estimate, rel=1e-9)
    assert effect.se == pytest.approx(reference.se, rel=1e-9)
    # nothing to adjust by: θ = 0 and the plain Welch test
    plain = regression_adjust(control, treatment, covariates=["same"])
    welch_test = welch(control.to_moments("y"), treatment.to_moments("y"))
    assert plain.estimate == pytest.approx(welch_test.estimate, rel=1e-12)
    assert plain.se == pytest.approx(welch_test.se, rel=1e-12)
    assert plain.pvalue == pytest.approx(welch_test.pvalue, rel=1e-9)


def test_regression_adjust_checks_its_arguments() -> None:
    control, treatment = _arms(_experiment(200, 1), ("y", "x1", "x2"))
    with pytest.raises(ParameterError, match="no variable"):
        regression_adjust(control, treatment, covariates=["x3"])
    with pytest.raises(ParameterError, match="at least one covariate"):
        regression_adjust(control, treatment, covariates=[])
    with pytest.raises(ParameterError, match="other than the outcome"):
        regression_adjust(control, treatment, covariates=["y"])
    with pytest.raises(ParameterError, match="sequence of variable names"):
        regression_adjust(control, treatment, covariates="x1")
    with pytest.raises(ParameterError, match="JointMoments"):
        regression_adjust(control.to_moments("y", "x1"), treatment, covariates=["x1"])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="pooling"):
        regression_adjust(control, treatment, covariates=["x1"], pooling="both")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="alpha"):
        regression_adjust(control, treatment, covariates=["x1"], alpha=1.5)
    with pytest.raises(DataError, match="control mean is 0"):
        regression_adjust(
            JointMoments.from_values({"y": [1.0, -1.0, 2.0, -2.0], "x": [1.0, 2.0, 3.0, 5.0]}),
            JointMoments.from_values({"y": [1.0, 2.0, 3.0, 1.0], "x": [1.0, 2.0, 3.0, 4.0]}),
            covariates=["x"],
            relative=True,
        )
    exact = JointMoments.from_values({"y": [2.0, 4.0, 6.0], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="zero variance"):
        regression_adjust(exact, exact, covariates=["x"])


# ---------------------------------------------------------------------------------------------------------------
# ratio CUPED


def _ratio_joint(
    n: int, sums: tuple[float, ...], squares: tuple[float, ...], products: dict[tuple[int, int], float]
) -> JointMoments:
    table = [[squares[i] if i == j else products[min(i, j), max(i, j)] for j in range(4)] for i in range(4)]
    return JointMoments(n, ("y", "d", "x", "w"), sums, tuple(map(tuple, table)))


def test_ratio_cuped_reproduces_growthbooks_published_test_vector() -> None:
    # growthbook/growthbook packages/stats/tests/frequentist/test_tests.py, test_two_sided_ttest_test_runs_ratio_ra:
    # relative effect -0.0007, CI (-0.00841, 0.00700), stddev 0.00391, p 0.85771 (5 decimals)
    a = _ratio_joint(
        100,
        (485.112236689623, 679.9093275844917, 192.59138069991536, 290.1398399750233),
        (2715.484666118136, 4939.424001640236, 460.076026390857, 920.9461385038898),
        {
            (0, 1): 3602.146836776702,
            (0, 2): 1113.6215759318352,
            (0, 3): 1559.2878434944676,
            (1, 2): 1460.3181079276983,
            (1, 3): 2130.9404074446747,
            (2, 3): 634.239482353647,
        },
    )
    b = _ratio_joint(
        100,
        (514.7757826608777, 705.4090874383759, 206.94157227402536, 302.54389139107326),
        (2994.897482705013, 5291.36604146392, 514.2903702246757, 994.4506208125663),
        {
            (0, 1): 3918.1561431600717,
            (0, 2): 1237.0953021125997,
            (0, 3): 1701.0287270040265,
            (1, 2): 1604.0759503266522,
            (1, 3): 2292.081739775257,
            (2, 3): 698.4173425817908,
        },
    )
    effect = ratio_cuped(a, b, relative=True)
    assert isinstance(effect, CupedEffect)
    assert round(effect.estimate, 5) == -0.0007
    assert round(effect.se, 5) == 0.00391
    assert (round(effect.ci_low, 5), round(effect.ci_high, 5)) == (-0.00841, 0.00700)
    assert round(effect.pvalue, 5) == 0.85771


def _ratio_data(n: int, seed: int, lift: float = 0.05) -> dict[str, np.ndarray]:
    """Sessions per user (d, and w before exposure) and revenue (y, x) at a per-user spend rate per session."""
    rng = np.random.default_rng(seed)
    arm = (rng.random(n) < 0.45).astype(float)
    activity = rng.gamma(2.0, 1.5, n)
    rate = rng.gamma(3.0, 2.0, n)  # what a user spends per session: carries over from before exposure
    w = rng.poisson(activity) + 1.0
    d = rng.poisson(activity) + 1.0
    x = w * rate * rng.gamma(8.0, 1 / 8.0, n)
    y = d * rate * (1.0 + lift * arm) * rng.gamma(8.0, 1 / 8.0, n)
    return {"arm": arm, "y": y, "d": d, "x": x, "w": w}


def _influence_reference(data: dict[str, np.ndarray], relative: bool) -> tuple[float, float]:
    """The estimate and SE from the per-unit delta-method influence functions, computed on the values."""
    arms = []
    for a in (0, 1):
        keep = data["arm"] == a
        y, d, x, w = (data[k][keep] for k in ("y", "d", "x", "w"))
        r, p = y.sum() / d.sum(), x.sum() / w.sum()
        arms.append((r, p, (y - r * d) / d.mean(), (x - p * w) / w.mean()))
    (r_c, p_c, l_rc, l_pc), (r_t, p_t, l_rt, l_pt) = arms
    theta = (l_rc @ l_pc + l_rt @ l_pt) / (l_pc @ l_pc + l_pt @ l_pt)  # centred within arms: Σℓ = 0
    difference = (r_t - r_c) - theta * (p_t - p_c)
    if not relative:
        influence_c, influence_t = -(l_rc - theta * l_pc), l_rt - theta * l_pt
        estimate = difference
    else:
        scale = abs(r_c) + math.copysign(1.0, r_c) * difference
        influence_c = -scale / r_c**2 * l_rc + theta / abs(r_c) * l_pc
        influence_t = (l_rt - theta * l_pt) / abs(r_c)
        estimate = difference / abs(r_c)
    variance = np.var(influence_c, ddof=1) / influence_c.size + np.var(influence_t, ddof=1) / influence_t.size
    return estimate, math.sqrt(variance)


@pytest.mark.parametrize("relative", [False, True])
def test_ratio_cuped_equals_the_delta_method_on_the_values(relative: bool) -> None:
    data = _ratio_data(30_000, 3)
    effect = ratio_cuped(*_arms(data, ("y", "d", "x", "w")), relative=relative)
    estimate, se = _influence_reference(data, relative)
    assert effect.estimate == pytest.approx(estimate, rel=1e-9)
    assert effect.se == pytest.approx(se, rel=1e-9)
    assert effect.variance_reduction > 0.3  # the pre-period ratio predicts the ratio
    unadjusted = ratio(*(j.to_ratio() for j in _arms(data, ("y", "d"))), relative=relative, relative_ci="delta")
    assert effect.control_unadjusted_mean == pytest.approx(unadjusted.control_mean, rel=1e-12)
    assert effect.se < unadjusted.se


def test_ratio_cuped_se_matches_replications() -> None:
    estimates, ses = [], []
    for seed in range(300):
        effect = ratio_cuped(*_arms(_ratio_data(3000, 1000 + seed), ("y", "d", "x", "w")), relative=True)
        estimates.append(effect.estimate)
        ses.append(effect.se)
    assert float(np.std(estimates, ddof=1)) == pytest.approx(float(np.mean(ses)), rel=0.12)


def test_ratio_cuped_without_a_pre_period_signal_is_the_ratio_test() -> None:
    data = _ratio_data(2000, 4)
    data["x"] = 3.0 * data["w"]  # pre-period ratio exactly 3 for every unit: nothing to adjust by
    control, treatment = _arms(data, ("y", "d", "x", "w"))
    for relative in (False, True):
        effect = ratio_cuped(control, treatment, relative=relative)
        reference = ratio(control.to_ratio(), treatment.to_ratio(), relative=relative, relative_ci="delta")
        assert effect.theta == 0.0
        assert effect.estimate == pytest.approx(reference.estimate, rel=1e-12)
        assert effect.se == pytest.approx(reference.se, rel=1e-9)
    with pytest.raises(ParameterError, match="no variable"):
        ratio_cuped(control.select(("y", "d", "x")), treatment)
    with pytest.raises(ParameterError, match="4 distinct"):
        ratio_cuped(control, treatment, variables=("y", "d", "x", "x"))
    zero_w = JointMoments.from_values({"y": [1.0, 2.0], "d": [1.0, 1.0], "x": [1.0, 2.0], "w": [0.0, 0.0]})
    with pytest.raises(DataError, match="pre-period denominator"):
        ratio_cuped(zero_w, zero_w)
    assert isinstance(control.to_ratio(), RatioMoments)
    assert isinstance(control.to_moments("y"), Moments)
