"""Regression adjustment from joint sufficient statistics: several covariates (CUPED/CUPAC) and ratio metrics.

Both functions take the :class:`~abnb.stats.joint.JointMoments` of a control and a treatment arm (``n``, ``Σz``,
``Σz zᵀ`` of the per-unit vector ``z``), so the adjustment costs no more than the single aggregate scan.

* :func:`regression_adjust`: the outcome ``y`` adjusted by ``k`` covariates ``x₁ … x_k`` with one pooled
  coefficient vector — multivariate CUPED (Deng et al. 2013), and CUPAC (DoorDash 2020) when a covariate is a
  model's prediction of the outcome from pre-exposure features.
* :func:`ratio_cuped`: a ratio metric ``Σy / Σd`` adjusted by the same ratio over the pre-period, ``Σx / Σw``,
  through the delta-method linearisation of both ratios (Deng, Knoblich & Lu 2018; GrowthBook's
  ``RegressionAdjustedRatioStatistic``).

References:
    A. Deng, Y. Xu, R. Kohavi, T. Walker (2013), "Improving the Sensitivity of Online Controlled Experiments by
    Utilizing Pre-Experiment Data", WSDM 2013.
    J. Li, Y. Tang, J. Bauman (2020), "Improving Experimental Power through Control Using Predictions as
    Covariate (CUPAC)", DoorDash Engineering blog.
    A. Deng, U. Knoblich, J. Lu (2018), "Applying the Delta Method in Metric Analytics: A Practical Guide with
    Novel Ideas", KDD 2018.
    W. Lin (2013), "Agnostic notes on regression adjustments to experimental data", Annals of Applied Statistics 7.
    GrowthBook ``gbstats`` (``RegressionAdjustedRatioStatistic``, ``compute_theta_regression_adjusted_ratio``,
    ``frequentist_variance_relative_cuped_ratio``), https://github.com/growthbook/growthbook.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import symmetric_effect
from abnb.stats._effect import Effect, fmt
from abnb.stats._validate import check_choice, check_units
from abnb.stats.cuped import CupedEffect
from abnb.stats.frequentist import welch_df
from abnb.stats.joint import JointMoments

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["RegressionEffect", "ratio_cuped", "regression_adjust"]

Pooling = Literal["within", "total"]
_POOLINGS: tuple[Pooling, ...] = ("within", "total")

#: Reciprocal condition number below which covariates count as collinear (their θ is the minimum-norm solution).
_RCOND = 1e-12
_A = TypeVar("_A", bound=Effect)


@dataclass(frozen=True, kw_only=True, repr=False)
class RegressionEffect(Effect):
    """An :class:`~abnb.stats.Effect` of an outcome adjusted by several covariates, plus the adjustment made.

    ``control_mean`` and ``treatment_mean`` are the *adjusted* means ``ȳ − θᵀ(x̄ − x̄_pooled)``, whose difference is
    the absolute effect; the unadjusted means are kept in their own fields.

    Attributes:
        covariates: The covariates, in the order of ``theta``.
        theta: The pooled regression coefficients ``θ`` (0 for a covariate that is constant over both arms).
        variance_reduction: ``1 − Var(estimate) / Var(unadjusted estimate)`` (close to the ``R²`` of the outcome on
            the covariates; negative if the adjustment hurt).
        control_unadjusted_mean: Mean ``ȳ`` of the control arm before adjustment.
        treatment_unadjusted_mean: Mean ``ȳ`` of the treatment arm before adjustment.
    """

    covariates: tuple[str, ...]
    theta: tuple[float, ...]
    variance_reduction: float
    control_unadjusted_mean: float
    treatment_unadjusted_mean: float

    def _repr_html_(self) -> str:
        rows = [(f"θ {name}", fmt(value)) for name, value in zip(self.covariates, self.theta, strict=True)]
        rows.append(("variance reduction", fmt(self.variance_reduction, percent=True)))
        extra = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
            for name, value in rows
        )
        return Effect._repr_html_(self).replace("</table>", extra + "</table>")

    def __repr__(self) -> str:
        theta = ", ".join(f"{n}={fmt(t)}" for n, t in zip(self.covariates, self.theta, strict=True))
        return (
            f"RegressionEffect(estimate={fmt(self.estimate)}, ci=[{fmt(self.ci_low)}, {fmt(self.ci_high)}], "
            f"pvalue={fmt(self.pvalue)}, theta=({theta}), variance_reduction={fmt(self.variance_reduction)}, "
            f"method={self.method!r})"
        )


def _check_joint(name: str, arm: object, variables: Sequence[str]) -> JointMoments:
    if not isinstance(arm, JointMoments):
        raise ParameterError(
            f"{name} must be abnb.stats.JointMoments, got {type(arm).__name__}; build it with "
            "JointMoments.from_values({'y': values, 'x': covariate, ...}) or take it from Aggregates.joint."
        )
    check_units(name, arm.n)
    missing = [v for v in variables if v not in arm.names]
    if missing:
        raise ParameterError(
            f"{name} has no variable(s) {', '.join(map(repr, missing))}; it has {', '.join(map(repr, arm.names))}."
        )
    return arm


def _check_variables(outcome: str, covariates: Sequence[str]) -> tuple[str, ...]:
    if isinstance(covariates, str) or not isinstance(covariates, Sequence):
        raise ParameterError(f"covariates must be a sequence of variable names, got {covariates!r}.")
    names = tuple(covariates)
    if not names:
        raise ParameterError("regression_adjust needs at least one covariate; use welch/ztest without any.")
    if len(set(names)) != len(names) or outcome in names:
        raise ParameterError(f"covariates {list(names)} must be distinct variables other than the outcome {outcome!r}.")
    return names


def _solve(
    sxx: NDArray[np.float64], sxy: NDArray[np.float64], squares: NDArray[np.float64]
) -> tuple[NDArray[np.float64], str]:
    """``θ = S_xx⁻¹ S_xy`` on the standardised system; constant covariates get 0, collinear ones the min-norm θ.

    A covariate is constant when its centred sum of squares is 0 or only rounding of its (shifted) sum of squares
    ``squares`` (e.g. after cells with other shifts were added).
    """
    k = sxx.shape[0]
    theta = np.zeros(k)
    diag = np.diag(sxx)
    keep = np.flatnonzero(diag > _RCOND * np.maximum(squares, 0.0))
    notes = []
    if keep.size < k:
        notes.append(f"{k - keep.size} constant covariate(s) get θ = 0")
    if keep.size:
        scale = np.sqrt(diag[keep])
        system = sxx[np.ix_(keep, keep)] / np.outer(scale, scale)
        solution, _, rank, _ = np.linalg.lstsq(system, sxy[keep] / scale, rcond=_RCOND)
        theta[keep] = solution / scale
        if rank < keep.size:
            notes.append("collinear covariates: minimum-norm θ")
    return theta, "; ".join(notes)


def _adjusted(
    kind: type[_A],
    *,
    estimate: float,
    variance: float,
    raw_variance: float,
    df: float,
    alpha: float,
    method: str,
    relative: bool,
    adjusted_means: tuple[float, float],
    unadjusted_means: tuple[float, float],
    **extra: Any,
) -> _A:
    """Build an adjusted effect with a symmetric Welch-t interval; the variance reduction is 1 − var / raw var."""
    return symmetric_effect(
        kind,
        estimate=estimate,
        se=math.sqrt(variance),
        df=df,
        alpha=alpha,
        method=method,
        relative=relative,
        control_mean=adjusted_means[0],
        treatment_mean=adjusted_means[1],
        variance_reduction=1.0 - variance / raw_variance if raw_variance > 0.0 else 0.0,
        control_unadjusted_mean=unadjusted_means[0],
        treatment_unadjusted_mean=unadjusted_means[1],
        **extra,
    )


def regression_adjust(
    control: JointMoments,
    treatment: JointMoments,
    *,
    covariates: Sequence[str],
    outcome: str = "y",
    alpha: float = 0.05,
    relative: bool = False,
    pooling: Pooling = "within",
) -> RegressionEffect:
    """Difference (or relative lift) of an outcome adjusted by several covariates: multivariate CUPED / CUPAC.

    With the per-arm centred cross products ``S = Σ(z − z̄)(z − z̄)ᵀ`` of ``z = (y, x₁ … x_k)``:

    * ``θ = S_xx⁻¹ S_xy`` with ``S`` pooled over the arms: ``pooling="within"`` (default) adds the within-arm
      ``S`` of both arms, which is the OLS coefficient vector of ``y ~ 1 + arm + x₁ + … + x_k``;
      ``pooling="total"`` centres both arms together at the grand mean (GrowthBook's ``compute_theta``, what
      :func:`~abnb.stats.cuped` uses; with one covariate this function then equals ``cuped``). The two differ by
      ``O(1/n)`` relative.
    * adjusted means ``a = ȳ − θᵀ(x̄ − x̄_pooled)`` (``x̄_pooled`` over both arms) and the absolute effect
      ``a_t − a_c`` — with ``pooling="within"`` exactly the OLS coefficient of ``arm``;
    * per arm the variance of the residual ``y − θᵀx`` (ddof=1; ``θ`` treated as known),
      ``v = V_y − 2θᵀC_xy + θᵀV_xxθ`` (``V_y = p(1 − p)`` for a proportion), and ``se² = v_t/n_t + v_c/n_c``;
    * Student's t with the Welch–Satterthwaite degrees of freedom of ``v_t/n_t`` and ``v_c/n_c``; interval
      ``estimate ± t_{1−α/2, df}·se``.

    ``se`` equals the HC2 standard error of the regression of the residuals ``y − θᵀx`` on ``arm`` (θ fixed);
    the one-step OLS of ``y`` on ``arm`` and the covariates gives the same estimate and, with HC-robust errors,
    a standard error that differs by ``O(k/n)`` relative (the uncertainty of ``θ``).

    Relative lift: ``L = (a_t − a_c) / |ȳ_c|`` over the *unadjusted* control mean, with the delta-method variance
    whose gradient is taken with the pre-period means of the arms equal (as randomisation makes them in
    expectation; GrowthBook's CUPED convention), ``r = ȳ_t/ȳ_c``:

    ``Var(L) ≈ v_t/(n_t ȳ_c²) + (r² V_y,c − 2r θᵀC_xy,c + θᵀV_xx,c θ)/(n_c ȳ_c²)``.

    Dividing by ``|ȳ_c|`` keeps the sign of the lift that of the difference when the control mean is negative.

    Args:
        control: Joint moments of the control arm, with the outcome and every covariate.
        treatment: Joint moments of the treatment arm.
        covariates: Names of the covariates to adjust by (at least one).
        outcome: Name of the outcome variable (default ``"y"``).
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Estimate the relative lift instead of the difference.
        pooling: ``"within"`` (OLS with an arm indicator) or ``"total"`` (GrowthBook / :func:`~abnb.stats.cuped`).

    Returns:
        A :class:`RegressionEffect`. A covariate constant over both arms gets ``θ = 0``; exactly collinear
        covariates share the minimum-norm ``θ`` (the adjusted means are the same for every solution); the
        ``method`` string says so.

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), an arm is not ``JointMoments``, has fewer than 2 units or
            lacks a variable, the covariates are empty or include the outcome, the arms disagree on
            ``proportion``, or ``pooling`` is unknown.
        DataError: If the adjusted variance is 0 in both arms, or the control mean is 0 for a relative effect.

    References:
        Deng, Xu, Kohavi & Walker (2013), WSDM; Li, Tang & Bauman (2020), CUPAC, DoorDash; Lin (2013), Ann. Appl.
        Stat. 7; GrowthBook ``gbstats`` (``compute_theta``, ``frequentist_variance_relative_cuped``).
    """
    alpha = check_alpha(alpha)
    pooling = check_choice("pooling", pooling, _POOLINGS)
    names = _check_variables(outcome, covariates)
    control, treatment = _regression_arms(control, treatment, (outcome, *names))
    theta, note = _pooled_theta(control, treatment, pooling)
    method = f"regression adjustment on {len(names)} covariate(s) ({pooling} pooled θ), Welch t-test"
    if note:
        method += f" ({note})"
    cov_c, cov_t = control.covariance(), treatment.covariance()
    var_c, var_t = _residual_variance(cov_c, theta) / control.n, _residual_variance(cov_t, theta) / treatment.n
    if var_c + var_t == 0.0:
        raise DataError(
            "the adjusted outcome has zero variance in both arms (it is an exact linear function of the "
            f"covariates {list(names)}), so the difference cannot be tested; check the covariate definitions."
        )
    df = welch_df(var_c, control.n, var_t, treatment.n)
    (m_c, m_t), adjusted_means, difference = _regression_means(control, treatment, theta, outcome)
    if not relative:
        estimate, variance = difference, var_c + var_t
        raw = cov_c[0, 0] / control.n + cov_t[0, 0] / treatment.n
        method += ", absolute difference"
    else:
        estimate, variance, raw = _regression_lift(
            (cov_c, cov_t), (control.n, treatment.n), theta, (m_c, m_t), difference, var_t
        )
        method += ", relative lift over |unadjusted control mean|, delta-method CI"
    return _adjusted(
        RegressionEffect,
        estimate=estimate,
        variance=variance,
        raw_variance=raw,
        df=df,
        alpha=alpha,
        method=method,
        relative=relative,
        adjusted_means=adjusted_means,
        unadjusted_means=(m_c, m_t),
        covariates=names,
        theta=tuple(float(t) for t in theta),
    )


def _regression_arms(
    control: object, treatment: object, variables: tuple[str, ...]
) -> tuple[JointMoments, JointMoments]:
    """Both arms checked and reduced to ``variables``, the treatment's sums around the control's shifts."""
    checked_control = _check_joint("control", control, variables).select(variables)
    checked_treatment = _check_joint("treatment", treatment, variables).select(variables)
    if checked_control.proportion != checked_treatment.proportion:
        raise ParameterError("control and treatment disagree on proportion= (a 0/1 outcome in one arm only).")
    # one shift for the pooled sums and the differences
    return checked_control, checked_treatment.shifted(checked_control.shifts)


def _pooled_theta(control: JointMoments, treatment: JointMoments, pooling: Pooling) -> tuple[NDArray[np.float64], str]:
    """The pooled coefficients ``θ = S_xx⁻¹ S_xy`` (within the arms or around the grand mean) and a note on them."""
    if pooling == "within":
        pooled = control.centred() + treatment.centred()
    else:
        total = np.asarray(control.sums) + np.asarray(treatment.sums)
        pooled = (
            np.asarray(control.cross) + np.asarray(treatment.cross) - np.outer(total, total) / (control.n + treatment.n)
        )
    squares = np.diag(np.asarray(control.cross) + np.asarray(treatment.cross))[1:]
    return _solve(pooled[1:, 1:], pooled[1:, 0], squares)


def _residual_variance(cov: NDArray[np.float64], theta: NDArray[np.float64]) -> float:
    """Variance ``V_y − 2θᵀC_xy + θᵀV_xxθ`` of the residual ``y − θᵀx`` from a covariance matrix (y first)."""
    return max(float(cov[0, 0] - 2.0 * theta @ cov[1:, 0] + theta @ cov[1:, 1:] @ theta), 0.0)


def _regression_means(
    control: JointMoments, treatment: JointMoments, theta: NDArray[np.float64], outcome: str
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """The unadjusted and adjusted means of both arms, and the adjusted difference ``a_t − a_c``.

    ``treatment`` must have the sums around ``control``'s shifts.
    """
    n_c, n_t = control.n, treatment.n
    sums_c, sums_t = np.asarray(control.sums), np.asarray(treatment.sums)
    shifts = np.asarray(control.shifts)
    x_pooled = shifts[1:] + (sums_c[1:] + sums_t[1:]) / (n_c + n_t)
    m_c, m_t = control.mean(outcome), treatment.mean(outcome)
    x_c, x_t = shifts[1:] + sums_c[1:] / n_c, shifts[1:] + sums_t[1:] / n_t
    a_c = m_c - float(theta @ (x_c - x_pooled))
    a_t = m_t - float(theta @ (x_t - x_pooled))
    # a_t − a_c from sums around the common shifts, so large means cancel exactly (see Moments.difference_from)
    difference = (sums_t[0] / n_t - sums_c[0] / n_c) - float(theta @ (sums_t[1:] / n_t - sums_c[1:] / n_c))
    return (m_c, m_t), (a_c, a_t), difference


def _regression_lift(
    covariances: tuple[NDArray[np.float64], NDArray[np.float64]],
    sizes: tuple[int, int],
    theta: NDArray[np.float64],
    means: tuple[float, float],
    difference: float,
    var_t: float,
) -> tuple[float, float, float]:
    """The lift over ``|ȳ_c|``, its delta-method variance and the variance of the unadjusted lift.

    ``means`` are the unadjusted means and ``var_t`` the variance ``v_t/n_t`` of the adjusted treatment mean; the
    gradient takes the pre-period means of the arms as equal.
    """
    (cov_c, cov_t), (n_c, n_t), (m_c, m_t) = covariances, sizes, means
    if m_c == 0.0:
        raise DataError("the relative lift is undefined because the unadjusted control mean is 0; use relative=False.")
    r = m_t / m_c
    control_part = r * r * cov_c[0, 0] - 2.0 * r * float(theta @ cov_c[1:, 0]) + float(theta @ cov_c[1:, 1:] @ theta)
    variance = var_t / m_c**2 + max(control_part, 0.0) / (n_c * m_c**2)
    if variance == 0.0:
        raise DataError("the delta-method standard error of the adjusted lift is 0; use relative=False.")
    raw = cov_t[0, 0] / (n_t * m_c**2) + r * r * cov_c[0, 0] / (n_c * m_c**2)
    return difference / abs(m_c), variance, raw


@dataclass(frozen=True)
class _RatioArm:
    """One arm's ratio pieces: means, covariance of (y, d, x, w), the two ratios and their linearisations."""

    n: int
    means: NDArray[np.float64]
    cov: NDArray[np.float64]
    post: NDArray[np.float64]  # gradient of R = ȳ/d̄ in (ȳ, d̄, x̄, w̄)
    pre: NDArray[np.float64]  # gradient of P = x̄/w̄

    @property
    def ratio(self) -> float:
        return float(self.means[0] / self.means[1])

    @property
    def pre_ratio(self) -> float:
        return float(self.means[2] / self.means[3])

    def quadratic(self, a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
        return float(a @ self.cov @ b)


def _ratio_arm(name: str, arm: JointMoments, variables: tuple[str, str, str, str]) -> _RatioArm:
    joint = arm.select(variables).shifted((0.0,) * 4)
    means = np.asarray(joint.means)
    for i, what in ((1, "denominator"), (3, "pre-period denominator")):
        if means[i] == 0.0:
            raise DataError(f"the {name} ratio is undefined because its {what} sum ({variables[i]!r}) is 0.")
    y, d, x, w = means
    post = np.array([1.0 / d, -y / d**2, 0.0, 0.0])
    pre = np.array([0.0, 0.0, 1.0 / w, -x / w**2])
    return _RatioArm(joint.n, means, joint.covariance(), post, pre)


def ratio_cuped(
    control: JointMoments,
    treatment: JointMoments,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    variables: tuple[str, str, str, str] = ("y", "d", "x", "w"),
) -> CupedEffect:
    """CUPED for a ratio metric ``R = Σy/Σd``, adjusted by the pre-period ratio ``P = Σx/Σw`` (delta method).

    Per arm, with the means ``(ȳ, d̄, x̄, w̄)`` and the ddof=1 covariance matrix ``Λ`` of the per-unit vector
    ``(y, d, x, w)``, the ratios ``R = ȳ/d̄`` and ``P = x̄/w̄`` have the linearisations (delta method)
    ``ℓ_R = (y − R·d)/d̄`` and ``ℓ_P = (x − P·w)/w̄``, i.e. the gradients ``g_R = (1/d̄, −R/d̄, 0, 0)`` and
    ``g_P = (0, 0, 1/w̄, −P/w̄)``, so ``V_R = g_RᵀΛg_R``, ``V_P = g_PᵀΛg_P``, ``C = g_RᵀΛg_P`` per unit.

    * ``θ = Σ_arms (n − 1)·C / Σ_arms (n − 1)·V_P``: the pooled within-arm regression of ``ℓ_R`` on ``ℓ_P``
      (GrowthBook weighs the two arms equally, ``(C_c + C_t)/(V_P,c + V_P,t)``: the same at equal arm sizes);
      ``θ = 0`` when the pre-period ratio has no variance.
    * Adjusted ratio ``R − θ(P − P_pooled)`` (``P_pooled`` over both arms); absolute effect
      ``Δ = (R_t − R_c) − θ(P_t − P_c)`` with ``Var = v_t/n_t + v_c/n_c``, ``v = V_R − 2θC + θ²V_P``.
    * Relative: ``L = Δ/|R_c|``, with the full delta-method gradient of ``L`` in both arms' means
      (``s = sign(R_c)``): control ``(−(|R_c| + sΔ)/(d̄_c R_c²), ȳ_c(|R_c| + sΔ)/(d̄_c² R_c²), θ/(w̄_c|R_c|),
      −θx̄_c/(w̄_c²|R_c|))``, treatment ``(g_R − θ g_P)/|R_c|``; ``Var(L) = Σ_arms ∇ᵀΛ∇/n``.
    * Student's t with the Welch–Satterthwaite degrees of freedom of the absolute variances ``v/n``; interval
      ``estimate ± t_{1−α/2, df}·se``.

    With ``θ = 0`` the result equals :func:`~abnb.stats.ratio` with the delta-method lift. GrowthBook's published
    test vector (``test_two_sided_ttest_test_runs_ratio_ra``) is reproduced to its 5 decimals.

    Args:
        control: Joint moments of the control arm with the four variables.
        treatment: Joint moments of the treatment arm.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Estimate the relative lift ``Δ/|R_c|`` instead of the difference.
        variables: Names of the numerator, denominator, pre-period numerator and pre-period denominator
            (default ``("y", "d", "x", "w")``, the names :mod:`abnb.aggregate` gives them).

    Returns:
        A :class:`~abnb.stats.CupedEffect`: ``control_mean``/``treatment_mean`` are the adjusted ratios,
        ``control_unadjusted_mean``/``treatment_unadjusted_mean`` the ratios ``R``, ``theta`` the coefficient.

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), an arm is not ``JointMoments``, has fewer than 2 units or
            lacks a variable.
        DataError: If a denominator mean is 0, the adjusted variance is 0 in both arms, or ``R_c = 0`` for a
            relative effect.

    References:
        Deng, Knoblich & Lu (2018), "Applying the Delta Method in Metric Analytics", KDD (section on variance
        reduction for ratio metrics); GrowthBook ``gbstats`` (``RegressionAdjustedRatioStatistic``,
        ``compute_theta_regression_adjusted_ratio``, ``frequentist_variance_relative_cuped_ratio``).
    """
    alpha = check_alpha(alpha)
    if len(variables) != 4 or len(set(variables)) != 4:
        raise ParameterError(f"variables must name 4 distinct variables (y, d, x, w), got {variables!r}.")
    c = _ratio_arm("control", _check_joint("control", control, variables), variables)
    t = _ratio_arm("treatment", _check_joint("treatment", treatment, variables), variables)
    weight_c, weight_t = c.n - 1, t.n - 1
    pre_variance = weight_c * c.quadratic(c.pre, c.pre) + weight_t * t.quadratic(t.pre, t.pre)
    # the size of the terms whose cancellation V_P is: below rounding of them, the pre-period ratio is constant
    terms = sum(w * float(np.abs(a.pre) @ np.sqrt(np.diag(a.cov))) ** 2 for w, a in ((weight_c, c), (weight_t, t)))
    method = "ratio metric CUPED (delta-method linearisation, pooled θ), Welch t-test (Welch–Satterthwaite df)"
    if pre_variance <= _RCOND * terms:
        theta = 0.0
        method += ", pre-period ratio constant so θ = 0 (no adjustment)"
    else:
        theta = (weight_c * c.quadratic(c.post, c.pre) + weight_t * t.quadratic(t.post, t.pre)) / pre_variance

    def adjusted_variance(arm: _RatioArm) -> float:
        gradient = arm.post - theta * arm.pre
        return max(arm.quadratic(gradient, gradient), 0.0) / arm.n

    var_c, var_t = adjusted_variance(c), adjusted_variance(t)
    if var_c + var_t == 0.0:
        raise DataError("the adjusted ratio has zero delta-method variance in both arms; it cannot be tested.")
    df = welch_df(var_c, c.n, var_t, t.n)
    r_c, r_t = c.ratio, t.ratio
    totals = c.means * c.n + t.means * t.n
    p_pooled = float(totals[2] / totals[3])
    a_c = r_c - theta * (c.pre_ratio - p_pooled)
    a_t = r_t - theta * (t.pre_ratio - p_pooled)
    difference = (r_t - r_c) - theta * (t.pre_ratio - c.pre_ratio)
    raw = c.quadratic(c.post, c.post) / c.n + t.quadratic(t.post, t.post) / t.n
    if not relative:
        estimate, variance = difference, var_c + var_t
        method += ", absolute difference"
    else:
        if r_c == 0.0:
            raise DataError("the relative lift is undefined because the control ratio is 0; use relative=False.")
        den, sign = abs(r_c), math.copysign(1.0, r_c)
        y, d, x, w = c.means
        lifted = den + sign * difference
        control_gradient = np.array(
            [-lifted / (d * r_c**2), y * lifted / (d**2 * r_c**2), theta / (w * den), -theta * x / (w**2 * den)]
        )
        treatment_gradient = (t.post - theta * t.pre) / den
        variance = (
            c.quadratic(control_gradient, control_gradient) / c.n
            + t.quadratic(treatment_gradient, treatment_gradient) / t.n
        )
        estimate = difference / den
        raw_gradient = np.array(
            [-(den + sign * (r_t - r_c)) / (d * r_c**2), y * (den + sign * (r_t - r_c)) / (d**2 * r_c**2), 0, 0]
        )
        raw = c.quadratic(raw_gradient, raw_gradient) / c.n + t.quadratic(t.post / den, t.post / den) / t.n
        method += ", relative lift Δ/|R_c|, delta-method CI"
        if variance <= 0.0:
            raise DataError("the delta-method standard error of the adjusted ratio lift is 0; use relative=False.")
    return _adjusted(
        CupedEffect,
        estimate=estimate,
        variance=variance,
        raw_variance=raw,
        df=df,
        alpha=alpha,
        method=method,
        relative=relative,
        adjusted_means=(a_c, a_t),
        unadjusted_means=(r_c, r_t),
        theta=theta,
    )
