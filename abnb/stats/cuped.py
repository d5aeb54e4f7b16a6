"""CUPED: variance reduction with a pre-experiment covariate, from sufficient statistics.

Each arm's :class:`~abnb.stats.moments.Moments` carries the metric sums ``n``, ``Σy``, ``Σy²`` and the covariate
sums ``Σx``, ``Σx²``, ``Σxy`` (``x`` is usually the same metric measured before the experiment). CUPED replaces
each unit's ``y`` by ``y − θ(x − x̄)``, which has the same expected difference between arms (the covariate is not
affected by the treatment) but a smaller variance when ``x`` and ``y`` are correlated.

The conventions (pooled ``θ`` over both arms, ddof=1 moments, Student's t with Welch–Satterthwaite degrees of
freedom, relative lift over the *unadjusted* control mean) are those of GrowthBook's ``gbstats`` and reproduce its
published test vectors. The optional log-ratio and Fieller intervals for the lift (``relative_ci``) instead use the
ratio of the adjusted means.

References:
    A. Deng, Y. Xu, R. Kohavi, T. Walker (2013), "Improving the Sensitivity of Online Controlled Experiments by
    Utilizing Pre-Experiment Data", WSDM 2013.
    GrowthBook ``gbstats`` (``RegressionAdjustedStatistic``, ``compute_theta``,
    ``frequentist_variance_relative_cuped``), https://github.com/growthbook/growthbook.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import check_arms, symmetric_effect
from abnb.stats._effect import Effect, fmt
from abnb.stats._validate import check_choice
from abnb.stats.frequentist import RELATIVE_CIS, RelativeCI, difference_effect, welch_df
from abnb.stats.moments import Moments

__all__ = ["CupedEffect", "cuped"]


@dataclass(frozen=True, kw_only=True, repr=False)
class CupedEffect(Effect):
    """An :class:`~abnb.stats.Effect` estimated with CUPED, plus the adjustment it made.

    ``control_mean`` and ``treatment_mean`` are the *adjusted* means ``ȳ − θ(x̄ − x̄_pooled)``, whose difference
    is the absolute effect; the unadjusted means are kept in their own fields.

    Attributes:
        theta: The CUPED coefficient ``θ = Cov(x, y) / Var(x)`` pooled over both arms.
        variance_reduction: ``1 − (v_t/n_t + v_c/n_c) / (V_t/n_t + V_c/n_c)``: the share of the variance of the
            difference in means removed by the adjustment (the same for the absolute and the relative effect).
            Close to ``ρ²``, the squared correlation of metric and covariate; negative if the adjustment hurt.
        control_unadjusted_mean: Mean ``ȳ`` of the control arm before adjustment.
        treatment_unadjusted_mean: Mean ``ȳ`` of the treatment arm before adjustment.
    """

    theta: float
    variance_reduction: float
    control_unadjusted_mean: float
    treatment_unadjusted_mean: float

    def _repr_html_(self) -> str:
        extra = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
            for name, value in (
                ("CUPED θ", fmt(self.theta)),
                ("variance reduction", fmt(self.variance_reduction, percent=True)),
            )
        )
        return Effect._repr_html_(self).replace("</table>", extra + "</table>")

    def __repr__(self) -> str:
        return (
            f"CupedEffect(estimate={fmt(self.estimate)}, ci=[{fmt(self.ci_low)}, {fmt(self.ci_high)}], "
            f"pvalue={fmt(self.pvalue)}, theta={fmt(self.theta)}, "
            f"variance_reduction={fmt(self.variance_reduction)}, method={self.method!r})"
        )


def _covariate_sums(name: str, arm: Moments) -> tuple[float, float, float]:
    if arm.x_sum is None or arm.x_sum_sq is None or arm.xy_sum is None:
        raise ParameterError(
            f"{name} has no covariate sums, which CUPED needs; build it with "
            "Moments.from_values(values, covariate=pre_period_values) or pass x_sum, x_sum_sq and xy_sum."
        )
    return arm.x_sum, arm.x_sum_sq, arm.xy_sum


def cuped(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    relative_ci: RelativeCI = "fieller",
) -> CupedEffect:
    """CUPED-adjusted difference (or relative lift) between two means, from sums with a covariate.

    With ``N = n_c + n_t`` and the sums of both arms added together, the pooled coefficient is

    ``θ = (Σxy − Σx·Σy/N) / (Σx² − (Σx)²/N)``   (the ddof cancels),

    and per arm, with ddof=1 moments ``V_y``, ``V_x``, ``C = Cov(x, y)`` (``V_y = p(1 − p)`` for proportions):

    * adjusted mean ``a = ȳ − θ(x̄ − x̄_pooled)``, ``x̄_pooled = Σx / N``;
    * variance of the adjusted unit values ``v = V_y + θ²V_x − 2θC`` (``θ`` treated as known).

    Absolute effect ``d = a_t − a_c`` with ``se = sqrt(v_t/n_t + v_c/n_c)``.

    Relative effect with ``relative_ci="delta"``: ``L = (a_t − a_c) / |ȳ_c|`` (over the *unadjusted* control
    mean) with the delta-method variance, its gradient evaluated with the pre-period means of the arms equal (as
    randomisation makes them in expectation; GrowthBook's convention):

    ``Var(L) ≈ v_t / (n_t ȳ_c²) + (ȳ_t²/ȳ_c² · V_y,c − 2θ ȳ_t/ȳ_c · C_c + θ² V_x,c) / (n_c ȳ_c²)``.

    With ``θ = 0`` both reduce to :func:`~abnb.stats.welch` (delta-method lift). The test statistic is
    ``estimate / se``; the reference distribution is Student's t with the Welch–Satterthwaite degrees of freedom
    of the adjusted variances, ``df = (v_t/n_t + v_c/n_c)² / ((v_t/n_t)²/(n_t − 1) + (v_c/n_c)²/(n_c − 1))``
    (practically normal at A/B-test sizes; chosen to match GrowthBook's frequentist engine). The interval is
    ``estimate ± t_{1−α/2, df}·se``.

    ``relative_ci`` chooses the interval of the relative lift (same ``df``). ``"fieller"`` (default) and ``"log"``
    take the lift as the relative difference of the *adjusted* means, ``L' = (a_t − a_c)/|a_c|``, with the arms
    independent and ``Var(a) = v/n`` (``θ`` treated as known); ``"delta"`` is the GrowthBook convention above,
    over the *unadjusted* control mean. Both estimate the same lift (``E[a_c] = E[ȳ_c]`` under randomisation) but
    differ in finite samples, so the estimate changes with the option:

    * ``"fieller"``: Fieller's interval, the ``R`` with ``(a_t − R a_c)² ≤ t²(v_t/n_t + R² v_c/n_c)``, mapped
      to the lift; the p-value is that of the adjusted difference ``a_t − a_c`` (interval and test agree) and
      ``se`` the delta-method SE of ``a_t/a_c``;
    * ``"log"``: ``exp(log(a_t/a_c) ± t·se_log) − 1`` with ``se_log² = v_t/(n_t a_t²) + v_c/(n_c a_c²)``
      (asymmetric); statistic ``log(a_t/a_c) / se_log``, ``se`` reported as ``(a_t/a_c)·se_log``.

    Args:
        control: Moments of the control arm, with covariate sums ``x_sum``, ``x_sum_sq``, ``xy_sum``.
        treatment: Moments of the treatment arm, with covariate sums.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Estimate the relative lift instead of the difference.
        relative_ci: Interval for the lift: ``"fieller"`` (default) or ``"log"`` (ratio of the adjusted means), or
            ``"delta"`` (over the unadjusted control mean, GrowthBook); ignored unless ``relative``.

    Returns:
        A :class:`CupedEffect` (an ``Effect`` with ``theta`` and ``variance_reduction``). If the covariate is
        constant over both arms, ``θ = 0`` and the result equals Welch's test (the method string says so).

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), an arm is not ``Moments``, has fewer than 2 units or no
            covariate sums, the arms disagree on ``proportion``, or ``relative_ci`` is unknown.
        DataError: If the adjusted variance is 0 in both arms, the unadjusted control mean (or, for ``"log"`` and
            ``"fieller"``, the adjusted one) is 0 for a relative effect, the adjusted means have opposite signs for
            ``"log"``, or the Fieller interval is unbounded.

    References:
        Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online Controlled Experiments by
        Utilizing Pre-Experiment Data", WSDM; GrowthBook ``gbstats`` (regression adjustment, CUPED); Fieller
        (1954), JRSS B 16.
    """
    alpha = check_alpha(alpha)
    relative_ci = check_choice("relative_ci", relative_ci, RELATIVE_CIS)
    control, treatment = check_arms(control, treatment)
    treatment = treatment.shifted(control.shift, control.x_shift)  # the pooled sums need one shift
    theta, x_pooled, method = _pooled_theta(control, treatment)
    (a_c, v_c), (a_t, v_t) = _adjusted(control, theta, x_pooled), _adjusted(treatment, theta, x_pooled)
    var_c, var_t = v_c / control.n, v_t / treatment.n
    if var_c + var_t == 0.0:
        raise DataError(
            "the CUPED-adjusted metric has zero variance in both arms (y is an exact linear function of the "
            "covariate), so the difference cannot be tested; check the metric and covariate definitions."
        )
    df = welch_df(var_c, control.n, var_t, treatment.n)
    m_c, m_t = control.mean, treatment.mean
    # a_t − a_c from differences around the common shifts (large means cancel exactly; see Moments.difference_from)
    adjusted_difference = treatment.difference_from(control) - theta * treatment.x_difference_from(control)
    raw = control.variance / control.n + treatment.variance / treatment.n  # Var of the unadjusted difference
    adjustment: dict[str, Any] = {  # the CupedEffect's own fields
        "theta": theta,
        "variance_reduction": 1.0 - (var_c + var_t) / raw if raw > 0.0 else 0.0,
        "control_unadjusted_mean": m_c,
        "treatment_unadjusted_mean": m_t,
    }
    if relative and m_c == 0.0:
        raise DataError(
            "the relative lift is undefined because the unadjusted control mean is 0; "
            "use relative=False for the absolute difference."
        )
    if relative and relative_ci == "delta":
        estimate, se = _delta_lift(control, treatment, theta, adjusted_difference, var_t)
        return symmetric_effect(
            CupedEffect,
            estimate=estimate,
            se=se,
            df=df,
            alpha=alpha,
            method=method + ", relative lift over |unadjusted control mean|, delta-method CI",
            relative=relative,
            control_mean=a_c,
            treatment_mean=a_t,
            **adjustment,
        )
    return difference_effect(
        CupedEffect,
        means=(a_c, a_t),
        variances=(var_c, var_t),
        difference=adjusted_difference,
        statistic=adjusted_difference / math.sqrt(var_c + var_t),
        df=df,
        alpha=alpha,
        relative=relative,
        relative_ci=relative_ci,
        method=method,
        lift_label="as the ratio of the adjusted means, (a_t − a_c)/|a_c| (arms independent)",
        what="adjusted mean",
        **adjustment,
    )


def _pooled_theta(control: Moments, treatment: Moments) -> tuple[float, float, str]:
    """The pooled CUPED coefficient θ, the pooled covariate mean and the method's name (θ = 0 for a constant x).

    ``treatment`` must have the sums around ``control``'s shifts.
    """
    xc, xxc, xyc = _covariate_sums("control", control)
    xt, xxt, xyt = _covariate_sums("treatment", treatment)
    big_n = control.n + treatment.n
    x_all, y_all = xc + xt, control.sum + treatment.sum
    sxx = (xxc + xxt) - x_all * x_all / big_n
    sxy = (xyc + xyt) - x_all * y_all / big_n
    method = "CUPED (pooled θ), Welch t-test (Welch–Satterthwaite df)"
    if sxx <= 0.0:
        return 0.0, control.x_shift + x_all / big_n, method + ", covariate constant so θ = 0 (no adjustment)"
    return sxy / sxx, control.x_shift + x_all / big_n, method


def _adjusted(arm: Moments, theta: float, x_pooled: float) -> tuple[float, float]:
    """The adjusted mean ``ȳ − θ(x̄ − x̄_pooled)`` of an arm and the variance ``V_y + θ²V_x − 2θC`` of its units."""
    mean = arm.mean - theta * (arm.x_mean - x_pooled)
    var = max(arm.variance + theta * theta * arm.x_variance - 2.0 * theta * arm.covariance, 0.0)
    return mean, var


def _delta_lift(
    control: Moments, treatment: Moments, theta: float, adjusted_difference: float, var_t: float
) -> tuple[float, float]:
    """GrowthBook's CUPED lift ``(a_t − a_c)/|ȳ_c|`` and its delta-method SE (pre-period means taken as equal)."""
    m_c = control.mean
    ratio = treatment.mean / m_c
    estimate = adjusted_difference / abs(m_c)
    control_part = ratio * ratio * control.variance - 2.0 * theta * ratio * control.covariance
    control_part += theta * theta * control.x_variance
    variance = var_t / m_c**2 + max(control_part, 0.0) / (control.n * m_c**2)
    if variance == 0.0:
        raise DataError("the delta-method standard error of the CUPED lift is 0; use relative=False.")
    return estimate, math.sqrt(variance)
