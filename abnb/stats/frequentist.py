"""Frequentist two-arm comparisons from sufficient statistics: Welch's t-test and the z-test.

Both functions take the :class:`~abnb.stats.moments.Moments` of a control and a treatment arm and return an
:class:`~abnb.stats.Effect`: the absolute difference in means ``m_t − m_c`` or the relative lift
``(m_t − m_c) / |m_c|``, its standard error, a two-sided confidence interval and a two-sided p-value.

The lift divides by the *absolute* control mean, so it has the sign of the difference whatever the sign of the
control mean (profit, latency deltas and net promoter scores can be negative); it is undefined only at
``m_c = 0``. Its default interval is Fieller's, which excludes 0 exactly when the test of the difference rejects
at the same level (one critical value for both), so the lift interval never contradicts the p-value beside it.

scipy is imported inside the functions so that ``import abnb`` stays light.

References:
    B. L. Welch (1947), "The generalization of 'Student's' problem when several different population
    variances are involved", Biometrika 34, 28–35.
    F. E. Satterthwaite (1946), "An approximate distribution of estimates of variance components",
    Biometrics Bulletin 2, 110–114.
    E. C. Fieller (1954), "Some problems in interval estimation", JRSS B 16, 175–185.
    A. Deng, U. Knoblich, J. Lu (2018), "Applying the Delta Method in Metric Analytics: A Practical Guide
    with Novel Ideas", KDD 2018.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import (
    Interval,
    build_effect,
    check_arms,
    critical_value,
    fieller_roots,
    symmetric,
    symmetric_effect,
)
from abnb.stats._effect import Effect
from abnb.stats._validate import check_choice
from abnb.stats.moments import Moments

__all__ = ["RelativeCI", "fieller_note", "relative_lift", "welch", "ztest"]

RelativeCI = Literal["delta", "log", "fieller"]
RELATIVE_CIS: tuple[RelativeCI, ...] = ("delta", "log", "fieller")
"""The intervals of a relative lift, for ``check_choice("relative_ci", value, RELATIVE_CIS)``."""

_E = TypeVar("_E", bound=Effect)


# ------------------------------------------------------------------------------------------------------
# validation


def _zero_variance_error(control: Moments, treatment: Moments) -> DataError:
    if control.proportion:
        same = control.mean == treatment.mean
        return DataError(
            f"both arms have zero variance: control has {control.sum:.0f} of {control.n} successes and treatment "
            f"{treatment.sum:.0f} of {treatment.n} (every unit has the same outcome), so the normal approximation "
            "has no standard error. "
            + ("The arms do not differ (an exact test gives p = 1); " if same else "")
            + "use abnb.stats.fisher(control, treatment) (the same Moments) for an exact p-value, or wait for more "
            "data."
        )
    return DataError(
        "both arms have zero variance; the difference in means "
        f"(control {control.mean:.6g}, treatment {treatment.mean:.6g}) cannot be tested, "
        "because every unit within an arm has the same value. Check the metric definition."
    )


def _variances(control: Moments, treatment: Moments) -> tuple[float, float, float]:
    """Variances ``v/n`` of the two arms' means and the unpooled SE of their difference (DataError when it is 0)."""
    var_c, var_t = control.variance / control.n, treatment.variance / treatment.n
    se = math.sqrt(var_c + var_t)
    if se == 0.0:
        raise _zero_variance_error(control, treatment)
    return var_c, var_t, se


def _z_statistic(
    control: Moments, treatment: Moments, difference: float, se: float, *, pooled: bool, continuity: bool
) -> tuple[float, str]:
    """The z statistic of ``difference`` (pooled SE and Yates' correction on request) and the test's name."""
    n_c, n_t = control.n, treatment.n
    method = "two-sample z-test" + (" for proportions" if control.proportion else "")
    if pooled:
        if control.proportion:
            p = (control.sum + treatment.sum) / (n_c + n_t)
            var0 = p * (1.0 - p)
        else:
            var0 = ((n_c - 1) * control.variance + (n_t - 1) * treatment.variance) / (n_c + n_t - 2)
        se_test = math.sqrt(var0 * (1.0 / n_c + 1.0 / n_t))
        method += " (pooled SE for the test, unpooled SE for the CI)"
    else:
        se_test = se
        method += " (unpooled SE)"
    numerator = difference
    if continuity:
        numerator = math.copysign(max(abs(difference) - 0.5 * (1.0 / n_c + 1.0 / n_t), 0.0), difference)
        method += " with Yates continuity correction"
    return numerator / se_test, method


# ------------------------------------------------------------------------------------------------------
# the difference and the relative lift of two independent estimates


def welch_df(var_c: float, n_c: int, var_t: float, n_t: int) -> float:
    """Welch–Satterthwaite degrees of freedom ``(v_c + v_t)² / (v_c²/(n_c − 1) + v_t²/(n_t − 1))``.

    ``v = variance/n`` of each arm's mean. Both terms are divided by the larger one first (the ratio is unchanged),
    so tiny variances (1e-160) do not underflow to 0/0.
    """
    scale = max(var_c, var_t)
    a, b = var_c / scale, var_t / scale
    return (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))


def _lift_se_delta(m_c: float, var_c: float, m_t: float, var_t: float) -> float:
    """Delta-method SE of ``m_t/m_c`` for independent estimates whose variances are ``var_c`` and ``var_t``.

    ``sqrt(v_t/m_c² + m_t²·v_c/m_c⁴)``, computed as ``sqrt(v_t + (m_t/m_c)²·v_c)/|m_c|`` so that a tiny control mean
    does not underflow ``m_c⁴`` to 0.
    """
    ratio = m_t / m_c
    se = math.sqrt(var_t + ratio * ratio * var_c) / abs(m_c)
    if not math.isfinite(se):
        raise DataError(
            f"the relative lift is not representable: the control mean {m_c:.3g} is so close to 0 that its standard "
            "error overflows; use relative=False for the absolute difference."
        )
    return se


def _log_ratio(m_c: float, var_c: float, m_t: float, var_t: float, *, what: str = "mean") -> tuple[float, float]:
    """``log(m_t/m_c)`` and its delta-method SE ``sqrt(var_t/m_t² + var_c/m_c²)`` (independent estimates)."""
    ratio = m_t / m_c
    if ratio <= 0.0:
        raise DataError(
            f"the log-ratio interval needs treatment and control {what}s of the same sign, got "
            f"control {m_c:.6g} and treatment {m_t:.6g}; use relative_ci='delta'."
        )
    return math.log(ratio), math.sqrt(var_t / m_t**2 + var_c / m_c**2)


_LOG_DOUBLE_MAX = math.log(sys.float_info.max)


def _log_interval(
    m_c: float, var_c: float, m_t: float, var_t: float, df: float | None, *, what: str = "mean"
) -> Interval:
    """Interval ``exp(log(m_t/m_c) ± q·se_log) − 1`` for the lift of two independent estimates."""
    log_ratio, se_log = _log_ratio(m_c, var_c, m_t, var_t, what=what)

    def interval(level: float) -> tuple[float, float]:
        half = critical_value(level, df) * se_log
        # beyond e^709 the upper end is not a double: the interval is unbounded above at this level
        upper = math.expm1(log_ratio + half) if log_ratio + half < _LOG_DOUBLE_MAX else math.inf
        return math.expm1(log_ratio - half), upper

    return interval


def _fieller_interval(m_c: float, var_c: float, m_t: float, var_t: float, df: float | None) -> Interval:
    """Fieller's interval for ``m_t/m_c`` (minus 1) of two independent estimates with variances ``var_c``, ``var_t``.

    When ``m_c`` is significantly different from 0 (``a > 0`` in :func:`fieller_roots`) the set is the interval
    between the roots; otherwise it is not an interval (two half-lines, or every value), reported as
    ``(−inf, inf)`` and described by :func:`fieller_note`.
    """

    def interval(level: float) -> tuple[float, float]:
        a, roots = fieller_roots(m_c, var_c, m_t, var_t, critical_value(level, df))
        if a <= 0.0 or roots is None:
            return -math.inf, math.inf
        return roots[0] - 1.0, roots[1] - 1.0

    return interval


def fieller_note(
    m_c: float, var_c: float, m_t: float, var_t: float, df: float | None, level: float, *, what: str = "mean"
) -> str:
    """What Fieller's confidence set for the lift ``(m_t − m_c)/|m_c|`` is when it is not an interval ("" if it is).

    With ``a ≤ 0`` in :func:`fieller_roots` (the control estimate is not distinguishable from 0 at ``level``) the
    set of ratios is the two half-lines outside the roots, ``R ≤ r₁ or R ≥ r₂``, when the discriminant is
    positive, else every value. Ratios below 0 are impossible when both means are non-negative, so a set whose
    lower branch lies there reads "at least ...".
    """
    q = critical_value(level, df)
    a, roots = fieller_roots(m_c, var_c, m_t, var_t, q)
    if a > 0.0:
        return ""
    t_c = abs(m_c) / math.sqrt(var_c) if var_c > 0.0 else math.inf
    why = f"the control {what} ({m_c:.4g}) is not distinguishable from 0 at {level:.4g} (|t| = {t_c:.3g} ≤ {q:.3g})"
    if roots is None or roots[0] == roots[1]:
        return f"undefined: {why}, so every lift is compatible with the data"
    r1, r2 = roots
    sign = 1.0 if m_c > 0 else -1.0
    low_branch, high_branch = sorted((sign * (r1 - 1.0), sign * (r2 - 1.0)))
    if m_c > 0 and m_t >= 0 and r1 < 0.0:
        return f"at least {high_branch:+.1%} (Fieller's set is unbounded above: {why})"
    return f"not an interval: lift ≤ {low_branch:+.1%} or ≥ {high_branch:+.1%} ({why})"


def _ratio_lift(
    m_c: float,
    var_c: float,
    m_t: float,
    var_t: float,
    df: float | None,
    relative_ci: Literal["log", "fieller"],
    *,
    statistic_diff: float,
    what: str = "mean",
) -> tuple[float, float, float, Interval]:
    """Lift ``(m_t − m_c)/|m_c|`` of two independent estimates with a log-ratio or Fieller interval.

    ``var_c`` and ``var_t`` are the variances of the estimates (not per unit). Returns ``(estimate, se,
    statistic, interval)``: for ``"log"`` the statistic is ``log(m_t/m_c)/se_log`` and ``se = (m_t/m_c)·se_log``;
    for ``"fieller"`` the statistic is ``statistic_diff`` (the Fieller test of ratio 1 is the test of the
    difference) and ``se`` the delta-method one. Both SEs are algebraically the delta-method SE. For a negative
    control mean the lift is ``1 − m_t/m_c`` and the interval of the ratio is mirrored.
    """
    sign = 1.0 if m_c > 0 else -1.0
    estimate = sign * (m_t / m_c - 1.0)
    if relative_ci == "log":
        log_ratio, se_log = _log_ratio(m_c, var_c, m_t, var_t, what=what)
        interval = _signed(_log_interval(m_c, var_c, m_t, var_t, df, what=what), sign)
        return estimate, (m_t / m_c) * se_log, sign * log_ratio / se_log, interval
    interval = _signed(_fieller_interval(m_c, var_c, m_t, var_t, df), sign)
    try:
        se = _lift_se_delta(m_c, var_c, m_t, var_t)
    except DataError:  # a control mean near 0: the SE overflows, Fieller's set (not an interval then) does not
        se = math.inf
    return estimate, se, statistic_diff, interval


def _signed(interval: Interval, sign: float) -> Interval:
    """``interval`` of ``m_t/m_c − 1`` as an interval of the lift ``sign·(m_t/m_c − 1)`` (mirrored for sign −1)."""
    if sign > 0:
        return interval

    def mirrored(level: float) -> tuple[float, float]:
        low, high = interval(level)
        return -high, -low

    return mirrored


@dataclass(frozen=True)
class _Lift:
    """A relative lift: estimate, SE, statistic, interval, the method's words and Fieller's note."""

    estimate: float
    se: float
    statistic: float
    interval: Interval
    method: str
    note: str


def relative_lift(
    m_c: float,
    var_c: float,
    m_t: float,
    var_t: float,
    df: float | None,
    relative_ci: RelativeCI,
    *,
    alpha: float,
    statistic_diff: float,
    difference: float | None = None,
    what: str = "mean",
) -> _Lift:
    """The lift ``(m_t − m_c)/|m_c|`` of two independent estimates (variances ``var_c``, ``var_t``) and its interval.

    One place for every two-arm comparison (means, proportions, ratios, CUPED-adjusted means). ``"fieller"``
    and ``"log"`` come from :func:`_ratio_lift`; ``"delta"`` is ``L ± q·se`` with the delta-method SE. For
    Fieller the statistic is ``statistic_diff`` (the test of the difference), so interval and p-value agree.
    ``difference`` (default ``m_t − m_c``) lets callers pass a difference computed without cancellation.

    Raises:
        DataError: ``m_c`` is 0, the delta SE is 0, or the log-ratio is undefined (means of opposite signs).
    """
    if m_c == 0.0:
        raise DataError(
            f"the relative lift (treatment − control)/|control| is undefined because the control {what} is 0; "
            "the absolute difference stands (relative=False)."
        )
    if relative_ci == "delta":
        estimate = (m_t - m_c if difference is None else difference) / abs(m_c)
        se = _lift_se_delta(m_c, var_c, m_t, var_t)
        if se == 0.0:
            raise DataError(
                "the delta-method standard error of the lift is 0 (the treatment mean is 0 with zero variance); "
                "use relative_ci='fieller' or relative=False."
            )
        return _Lift(estimate, se, estimate / se, symmetric(estimate, se, df), "delta-method CI", "")
    estimate, se, statistic, interval = _ratio_lift(
        m_c, var_c, m_t, var_t, df, relative_ci, statistic_diff=statistic_diff, what=what
    )
    if relative_ci == "log":
        return _Lift(estimate, se, statistic, interval, "log-ratio CI (exponentiated, asymmetric)", "")
    note = fieller_note(m_c, var_c, m_t, var_t, df, 1.0 - alpha, what=what)
    return _Lift(estimate, se, statistic, interval, "Fieller CI; p-value from the test of the difference", note)


def difference_effect(
    kind: type[_E],
    *,
    means: tuple[float, float],
    variances: tuple[float, float],
    difference: float,
    statistic: float,
    df: float | None,
    alpha: float,
    relative: bool,
    relative_ci: RelativeCI,
    method: str,
    lift_label: str = "(t − c)/|c|",
    what: str = "mean",
    test_from_difference: bool = False,
    **extra: Any,
) -> _E:
    """The Effect (``kind``) of the difference of two independent estimates, or of their relative lift.

    ``means`` and ``variances`` are those of the control and the treatment estimate (variances of the estimates,
    not per unit), ``difference`` is ``m_t − m_c`` computed without cancellation and ``statistic`` the test
    statistic of the difference (possibly pooled or continuity-corrected). The difference gets the interval
    ``difference ± q·se`` with the unpooled ``se``; the lift ``(m_t − m_c)/|m_c|`` (``lift_label`` in ``method``)
    gets the interval and statistic of :func:`relative_lift`, or the p-value of ``statistic`` when
    ``test_from_difference`` (a pooled or corrected test of the same null hypothesis).
    """
    (m_c, m_t), (var_c, var_t) = means, variances
    if not relative:
        return symmetric_effect(
            kind,
            estimate=difference,
            se=math.sqrt(var_c + var_t),
            statistic=statistic,
            df=df,
            alpha=alpha,
            method=method + ", absolute difference",
            relative=relative,
            control_mean=m_c,
            treatment_mean=m_t,
            **extra,
        )
    lift = relative_lift(
        m_c, var_c, m_t, var_t, df, relative_ci, alpha=alpha, statistic_diff=statistic, difference=difference, what=what
    )
    method += f", relative lift {lift_label}, {lift.method}"
    if test_from_difference and relative_ci != "fieller":
        method += "; p-value from the test of the difference in means"
    else:
        statistic = lift.statistic
    return build_effect(
        kind,
        estimate=lift.estimate,
        se=lift.se,
        statistic=statistic,
        df=df,
        alpha=alpha,
        interval=lift.interval,
        method=method,
        relative=relative,
        control_mean=m_c,
        treatment_mean=m_t,
        ci_note=lift.note,
        **extra,
    )


# ------------------------------------------------------------------------------------------------------
# public tests


def welch(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    relative_ci: RelativeCI = "fieller",
) -> Effect:
    """Welch's unequal-variance t-test of the difference (or relative lift) between two means.

    With per-unit variances ``v`` (ddof=1; ``p(1 − p)`` for proportions), means ``m`` and counts ``n``:

    * difference ``d = m_t − m_c``, ``se = sqrt(v_t/n_t + v_c/n_c)``, ``t = d / se``;
    * Welch–Satterthwaite degrees of freedom
      ``df = (v_t/n_t + v_c/n_c)² / ((v_t/n_t)²/(n_t − 1) + (v_c/n_c)²/(n_c − 1))``;
    * ``p = 2·P(T_df > |t|)`` and the interval ``d ± t_{1−α/2, df}·se``.

    With ``relative=True`` the estimate is the lift ``L = (m_t − m_c)/|m_c|`` (``m_t/m_c − 1`` for a positive
    control mean; its sign is the difference's for a negative one) and the same ``df`` is used with:

    * ``"fieller"`` (default): Fieller's (1954) interval for the ratio of two independent means, the set of
      ``R`` with ``(m_t − R m_c)² ≤ t²(v_t/n_t + R² v_c/n_c)``, mapped to the lift; the p-value is that of
      ``d`` (the Fieller test of ``R = 1`` is the test of ``d = 0``), so the interval excludes 0 exactly when
      the test of the difference rejects at the same level. When the control mean is not distinguishable from
      0 the set is not an interval: ``ci_low``/``ci_high`` are ``−inf``/``inf`` and ``ci_note`` says what it
      is ("at least +20%", or undefined). ``se`` is the delta-method one;
    * ``"delta"``: ``Var(L) ≈ v_t/(n_t m_c²) + m_t² v_c/(n_c m_c⁴)``, interval ``L ± t·se``, p-value from
      ``L / se`` (Deng et al. 2018); it can disagree with the test of the difference for rare events;
    * ``"log"``: ``Var(log(m_t/m_c)) ≈ v_t/(n_t m_t²) + v_c/(n_c m_c²)``, interval
      ``exp(log(m_t/m_c) ± t·se_log) − 1`` (asymmetric), p-value from ``log(m_t/m_c) / se_log``;
      ``se`` is reported as ``(m_t/m_c)·se_log``; it needs means of the same sign.

    Args:
        control: Moments of the control arm.
        treatment: Moments of the treatment arm.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Estimate the relative lift instead of the absolute difference.
        relative_ci: Interval for the lift: ``"fieller"`` (default), ``"delta"`` or ``"log"`` (ignored unless
            ``relative``).

    Returns:
        The effect; ``confidence_interval(level)`` recomputes the interval at any level.

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), an arm has fewer than 2 units, the arms are not
            ``Moments`` or disagree on ``proportion``, or ``relative_ci`` is unknown.
        DataError: If both arms have zero variance, the control mean is 0 for a relative effect, or the
            log-ratio is undefined.

    References:
        Welch (1947), Biometrika 34; Satterthwaite (1946), Biometrics Bulletin 2; Fieller (1954), JRSS B 16;
        Deng, Knoblich & Lu (2018), "Applying the Delta Method in Metric Analytics", KDD.
    """
    alpha = check_alpha(alpha)
    control, treatment = check_arms(control, treatment)
    relative_ci = check_choice("relative_ci", relative_ci, RELATIVE_CIS)
    var_c, var_t, se = _variances(control, treatment)
    difference = treatment.difference_from(control)
    return difference_effect(
        Effect,
        means=(control.mean, treatment.mean),
        variances=(var_c, var_t),
        difference=difference,
        statistic=difference / se,
        df=welch_df(var_c, control.n, var_t, treatment.n),
        alpha=alpha,
        relative=relative,
        relative_ci=relative_ci,
        method="Welch t-test (Welch–Satterthwaite df)",
    )


def ztest(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    pooled: bool = False,
    continuity: bool = False,
    relative_ci: RelativeCI = "fieller",
) -> Effect:
    """Two-sample z-test (normal approximation) of the difference (or relative lift) between two means.

    The interval always uses the unpooled standard error ``se = sqrt(v_t/n_t + v_c/n_c)`` (for proportions
    ``v = p(1 − p)``), so it is the Wald interval ``d ± z_{1−α/2}·se`` of ``d = m_t − m_c``.

    The test statistic is ``z = d / se`` unless:

    * ``pooled=True``: for proportions ``se₀ = sqrt(p̄(1 − p̄)(1/n_t + 1/n_c))`` with the pooled
      ``p̄ = (s_t + s_c)/(n_t + n_c)`` (the variance under the null); for means the pooled-variance
      ``se₀ = sqrt(s²_p (1/n_t + 1/n_c))``, ``s²_p = ((n_t − 1)v_t + (n_c − 1)v_c)/(n_t + n_c − 2)``;
    * ``continuity=True`` (proportions only): Yates' correction, ``|d|`` is reduced by
      ``0.5·(1/n_t + 1/n_c)`` (not below 0) in the statistic. With ``pooled=True`` its square equals the
      Yates-corrected χ² of the 2×2 table.

    ``relative=True`` works as in :func:`welch` with the normal quantile. When ``pooled`` or ``continuity``
    is set the p-value of a relative effect is that of the (pooled/corrected) test of ``d = 0``, which is the
    same null hypothesis as ``lift = 0``.

    Args:
        control: Moments of the control arm.
        treatment: Moments of the treatment arm.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Estimate the relative lift instead of the absolute difference.
        pooled: Use the pooled standard error for the test statistic and p-value (not the interval).
        continuity: Apply Yates' continuity correction to the test statistic (proportions only).
        relative_ci: Interval for the lift: ``"fieller"`` (default), ``"delta"`` or ``"log"`` (ignored unless
            ``relative``).

    Returns:
        The effect with ``df=None``.

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), an arm has fewer than 2 units, the arms are not
            ``Moments`` or disagree on ``proportion``, ``relative_ci`` is unknown, or ``continuity`` is
            requested for a non-proportion.
        DataError: If both arms have zero variance, or a relative effect cannot be formed (see :func:`welch`).

    References:
        Yates (1934), "Contingency tables involving small numbers and the χ² test", JRSS Suppl. 1;
        Fieller (1954), JRSS B 16; Deng, Knoblich & Lu (2018), KDD.
    """
    alpha = check_alpha(alpha)
    control, treatment = check_arms(control, treatment)
    relative_ci = check_choice("relative_ci", relative_ci, RELATIVE_CIS)
    if continuity and not control.proportion:
        raise ParameterError(
            "continuity=True applies Yates' correction, which is defined for proportions only; build the "
            "arms with Moments.from_counts or set continuity=False."
        )
    var_c, var_t, se = _variances(control, treatment)
    difference = treatment.difference_from(control)
    statistic, method = _z_statistic(control, treatment, difference, se, pooled=pooled, continuity=continuity)
    return difference_effect(
        Effect,
        means=(control.mean, treatment.mean),
        variances=(var_c, var_t),
        difference=difference,
        statistic=statistic,
        df=None,
        alpha=alpha,
        relative=relative,
        relative_ci=relative_ci,
        method=method,
        test_from_difference=pooled or continuity,
    )
