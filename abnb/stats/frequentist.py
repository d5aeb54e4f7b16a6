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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._effect import Effect
from abnb.stats.moments import Moments

__all__ = ["RelativeCI", "fieller_note", "relative_lift", "welch", "ztest"]

RelativeCI = Literal["delta", "log", "fieller"]
_RELATIVE_CIS = ("delta", "log", "fieller")

_Interval = Callable[[float], tuple[float, float]]


# ------------------------------------------------------------------------------------------------------
# reference distributions (scipy.special ufuncs: exact same numerics as scipy.stats, far less overhead)


def _critical_value(confidence_level: float, df: float | None) -> float:
    """Two-sided critical value: the ``(1 + level)/2`` quantile of Student's t with ``df`` (None: normal)."""
    from scipy import special

    upper = 0.5 * (1.0 + confidence_level)
    if df is None:
        return float(special.ndtri(upper))
    return float(special.stdtrit(df, upper))


#: Below this, scipy's ``ndtr``/``stdtr`` flush to 0 before the double range ends (``ndtr(-38)`` is 0.0 although
#: the tail is 2.9e-316), so tiny p-values are recomputed in log space.
_TINY_PVALUE = 1e-280


def _log_gamma_ratio_half(a: float) -> float:
    """``log Γ(a + 1/2) − log Γ(a)`` without the cancellation of two huge ``lgamma`` values.

    For ``a ≥ 10`` Stirling's series of both terms, subtracted term by term:
    ``½ log a + (a·log1p(1/(2a)) − ½) + Σ_k B_2k/(2k(2k−1))·((a + ½)^(1−2k) − a^(1−2k))`` (absolute error < 1e-13).
    """
    if a < 10.0:
        return math.lgamma(a + 0.5) - math.lgamma(a)
    total = 0.5 * math.log(a) + (a * math.log1p(0.5 / a) - 0.5)
    for coefficient, power in ((1.0 / 12.0, 1), (-1.0 / 360.0, 3), (1.0 / 1260.0, 5), (-1.0 / 1680.0, 7)):
        total += coefficient * ((a + 0.5) ** -power - a**-power)
    return total


def _log_t_sf(t: float, df: float) -> float:
    """``log P(T_df > t)`` for ``t > 0``, accurate where the tail underflows a double.

    ``P(T > t) = f(t) · ∫_0^∞ f(t + y)/f(t) dy`` with the density ``f(s) = Γ((ν+1)/2)/(Γ(ν/2)√(νπ)) ·
    (1 + s²/ν)^(−(ν+1)/2)``. With ``y = t·w`` and ``q = t²/(ν + t²)`` the ratio is
    ``(1 + w(2 + w)q)^(−(ν+1)/2)``, computed with ``log1p`` (no cancellation) and integrated by adaptive
    quadrature; ``log f(t)`` is formed in log space. Agrees with ``scipy.special.stdtr`` to 3e-13 relative where
    both are representable, and with the closed forms for ν = 1, 2 far beyond it.
    """
    from scipy import integrate

    if not math.isfinite(t):
        return -math.inf
    exponent = 0.5 * (df + 1.0)
    ratio = t / math.sqrt(df)
    log1p_sq = math.log1p(ratio * ratio) if ratio < 1e150 else 2.0 * math.log(ratio)
    log_density = _log_gamma_ratio_half(0.5 * df) - 0.5 * math.log(df * math.pi) - exponent * log1p_sq
    inverse = 1.0 / ratio
    q = 1.0 / (1.0 + inverse * inverse)
    length = 1.0 / (2.0 * exponent * q)  # the tail's natural scale in units of t: integrate over s = w / length

    def ratio_at(s: float) -> float:
        w = s * length
        return math.exp(-exponent * math.log1p(w * (2.0 + w) * q))

    integral, _ = integrate.quad(ratio_at, 0.0, math.inf, epsabs=0.0, epsrel=1e-13, limit=200)
    return log_density + math.log(t) + math.log(integral * length)


def _log_two_sided_pvalue(statistic: float, df: float | None) -> float:
    """Natural log of the two-sided p-value ``2·P(T > |statistic|)``, finite far below the smallest double."""
    from scipy import special

    if df is None:
        return math.log(2.0) + float(special.log_ndtr(-abs(statistic)))
    return math.log(2.0) + _log_t_sf(abs(statistic), df)


def _two_sided_pvalue(statistic: float, df: float | None) -> float:
    """Two-sided p-value ``2·P(T > |statistic|)`` for Student's t with ``df`` (normal if None).

    Below 1e-280 the value is recomputed in log space (:func:`_log_two_sided_pvalue`) and exponentiated, so it is
    the correctly rounded double down to the subnormal range; it is 0.0 only when the p-value is below the
    smallest positive double (≈ 4.9e-324), and :attr:`Effect.log10_pvalue` still gives its size.
    """
    from scipy import special

    tail = -abs(statistic)
    pvalue = float(2.0 * special.ndtr(tail)) if df is None else float(2.0 * special.stdtr(df, tail))
    if pvalue < _TINY_PVALUE:
        pvalue = math.exp(_log_two_sided_pvalue(statistic, df))
    return pvalue


# ------------------------------------------------------------------------------------------------------
# validation


def _check_alpha(alpha: object) -> float:
    return check_alpha(alpha)  # one shared range, (1e-10, 0.5]: abnb.stats._alpha


def _check_arm(name: str, arm: object) -> Moments:
    if not isinstance(arm, Moments):
        raise ParameterError(
            f"{name} must be abnb.stats.Moments, got {type(arm).__name__}; "
            "build it with Moments.from_values(values) or Moments.from_counts(successes, n)."
        )
    if arm.n < 2:
        raise ParameterError(f"{name} has n={arm.n} unit(s); a two-arm test needs at least 2 per arm.")
    return arm


def _check_arms(control: object, treatment: object) -> tuple[Moments, Moments]:
    checked_control, checked_treatment = _check_arm("control", control), _check_arm("treatment", treatment)
    if checked_control.proportion != checked_treatment.proportion:
        raise ParameterError(
            "control and treatment disagree on proportion= (one is a 0/1 proportion, the other a mean); "
            "build both with Moments.from_counts or both with Moments.from_values."
        )
    return checked_control, checked_treatment


def _check_relative_ci(relative_ci: object) -> RelativeCI:
    if relative_ci == "delta":
        return "delta"
    if relative_ci == "log":
        return "log"
    if relative_ci == "fieller":
        return "fieller"
    choices = ", ".join(map(repr, _RELATIVE_CIS))
    raise ParameterError(f"relative_ci must be one of {choices}, got {relative_ci!r}.")


def _zero_variance_error(control: Moments, treatment: Moments) -> DataError:
    if control.proportion:
        same = control.mean == treatment.mean
        return DataError(
            f"both arms have zero variance: control has {control.sum:.0f} of {control.n} successes and treatment "
            f"{treatment.sum:.0f} of {treatment.n} (every unit has the same outcome), so the normal approximation "
            "has no standard error. "
            + ("The arms do not differ (an exact test gives p = 1); " if same else "")
            + "use abnb.stats.fisher(control_successes, control_n, treatment_successes, treatment_n) for an exact "
            "p-value, or wait for more data."
        )
    return DataError(
        "both arms have zero variance; the difference in means "
        f"(control {control.mean:.6g}, treatment {treatment.mean:.6g}) cannot be tested, "
        "because every unit within an arm has the same value. Check the metric definition."
    )


# ------------------------------------------------------------------------------------------------------
# shared construction of the Effect


def _symmetric(center: float, se: float, df: float | None) -> _Interval:
    def interval(level: float) -> tuple[float, float]:
        half = _critical_value(level, df) * se
        return center - half, center + half

    return interval


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
) -> _Interval:
    """Interval ``exp(log(m_t/m_c) ± q·se_log) − 1`` for the lift of two independent estimates."""
    log_ratio, se_log = _log_ratio(m_c, var_c, m_t, var_t, what=what)

    def interval(level: float) -> tuple[float, float]:
        half = _critical_value(level, df) * se_log
        # beyond e^709 the upper end is not a double: the interval is unbounded above at this level
        upper = math.expm1(log_ratio + half) if log_ratio + half < _LOG_DOUBLE_MAX else math.inf
        return math.expm1(log_ratio - half), upper

    return interval


def _fieller_roots(
    m_c: float, var_c: float, m_t: float, var_t: float, q: float
) -> tuple[float, tuple[float, float] | None]:
    """The quadratic behind Fieller's set for ``R = m_t/m_c``: its leading coefficient and its roots.

    The set of ``R`` with ``(m_t − R m_c)² ≤ q²(var_t + R² var_c)`` is ``aR² − 2bR + c ≤ 0`` with
    ``a = m_c² − q² var_c``, ``b = m_t m_c``, ``c = m_t² − q² var_t``; its discriminant is
    ``b² − ac = q²(m_t² var_c + a var_t)``, so the roots are ``(b ± q·sqrt(m_t² var_c + a var_t))/a``.
    Returns ``(a, (low, high))`` with the roots in increasing order, or ``(a, None)`` when there is no real pair
    (``a = 0`` or a negative discriminant: then the set is every value or empty). Fieller (1954), J. R. Stat. Soc. B
    16(2), 175–185.
    """
    a = m_c * m_c - q * q * var_c
    inner = m_t * m_t * var_c + a * var_t
    if a == 0.0 or inner < 0.0:
        return a, None
    half = q * math.sqrt(max(inner, 0.0))
    low, high = sorted(((m_t * m_c - half) / a, (m_t * m_c + half) / a))
    return a, (low, high)


def _fieller_interval(m_c: float, var_c: float, m_t: float, var_t: float, df: float | None) -> _Interval:
    """Fieller's interval for ``m_t/m_c`` (minus 1) of two independent estimates with variances ``var_c``, ``var_t``.

    When ``m_c`` is significantly different from 0 (``a > 0`` in :func:`_fieller_roots`) the set is the interval
    between the roots; otherwise it is not an interval (two half-lines, or every value), reported as
    ``(−inf, inf)`` and described by :func:`fieller_note`.
    """

    def interval(level: float) -> tuple[float, float]:
        a, roots = _fieller_roots(m_c, var_c, m_t, var_t, _critical_value(level, df))
        if a <= 0.0 or roots is None:
            return -math.inf, math.inf
        return roots[0] - 1.0, roots[1] - 1.0

    return interval


def fieller_note(
    m_c: float, var_c: float, m_t: float, var_t: float, df: float | None, level: float, *, what: str = "mean"
) -> str:
    """What Fieller's confidence set for the lift ``(m_t − m_c)/|m_c|`` is when it is not an interval ("" if it is).

    With ``a ≤ 0`` in :func:`_fieller_roots` (the control estimate is not distinguishable from 0 at ``level``) the
    set of ratios is the two half-lines outside the roots, ``R ≤ r₁ or R ≥ r₂``, when the discriminant is
    positive, else every value. Ratios below 0 are impossible when both means are non-negative, so a set whose
    lower branch lies there reads "at least ...".
    """
    q = _critical_value(level, df)
    a, roots = _fieller_roots(m_c, var_c, m_t, var_t, q)
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
) -> tuple[float, float, float, _Interval]:
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


def _signed(interval: _Interval, sign: float) -> _Interval:
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
    interval: _Interval
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
        return _Lift(estimate, se, estimate / se, _symmetric(estimate, se, df), "delta-method CI", "")
    estimate, se, statistic, interval = _ratio_lift(
        m_c, var_c, m_t, var_t, df, relative_ci, statistic_diff=statistic_diff, what=what
    )
    if relative_ci == "log":
        return _Lift(estimate, se, statistic, interval, "log-ratio CI (exponentiated, asymmetric)", "")
    note = fieller_note(m_c, var_c, m_t, var_t, df, 1.0 - alpha, what=what)
    return _Lift(estimate, se, statistic, interval, "Fieller CI; p-value from the test of the difference", note)


_E = TypeVar("_E", bound=Effect)


def _effect(
    kind: type[_E],
    *,
    estimate: float,
    se: float,
    statistic: float,
    df: float | None,
    alpha: float,
    interval: _Interval,
    method: str,
    relative: bool,
    control_mean: float,
    treatment_mean: float,
    **extra: Any,
) -> _E:
    """Build an :class:`Effect` (or subclass): the interval at 1 − alpha and the two-sided p-value of ``statistic``."""
    low, high = interval(1.0 - alpha)
    pvalue = _two_sided_pvalue(statistic, df)
    log_pvalue = None
    if pvalue < _TINY_PVALUE:
        log_pvalue = _log_two_sided_pvalue(statistic, df)
        if pvalue == 0.0:
            method += (
                f"; p-value below the smallest double, reported as 0 (log10 p = {log_pvalue / math.log(10.0):.6g})"
            )
    return kind(
        estimate=estimate,
        se=se,
        ci_low=low,
        ci_high=high,
        pvalue=pvalue,
        statistic=statistic,
        df=df,
        alpha=alpha,
        method=method,
        relative=relative,
        control_mean=control_mean,
        treatment_mean=treatment_mean,
        _interval=interval,
        _log_pvalue=log_pvalue,
        **extra,
    )


def _build(
    control: Moments,
    treatment: Moments,
    *,
    se_diff: float,
    statistic_diff: float,
    df: float | None,
    alpha: float,
    relative: bool,
    relative_ci: RelativeCI,
    method: str,
    test_from_difference: bool,
) -> Effect:
    """Assemble the Effect for the difference (or the lift) from the per-arm moments.

    ``statistic_diff`` is the test statistic of the absolute difference (possibly pooled or
    continuity-corrected); ``se_diff`` the unpooled standard error of the difference used for its interval.
    """
    m_c, m_t = control.mean, treatment.mean
    v_c, v_t = control.variance, treatment.variance
    n_c, n_t = control.n, treatment.n
    interval: _Interval
    note = ""
    if not relative:
        estimate = treatment.difference_from(control)
        se = se_diff
        statistic = statistic_diff
        interval = _symmetric(estimate, se, df)
        method += ", absolute difference"
    else:
        lift = relative_lift(
            m_c,
            v_c / n_c,
            m_t,
            v_t / n_t,
            df,
            relative_ci,
            alpha=alpha,
            statistic_diff=statistic_diff,
            difference=treatment.difference_from(control),
        )
        estimate, se, statistic, interval, note = lift.estimate, lift.se, lift.statistic, lift.interval, lift.note
        method += f", relative lift (t − c)/|c|, {lift.method}"
        if test_from_difference and relative_ci != "fieller":
            statistic = statistic_diff
            method += "; p-value from the test of the difference in means"
    return _effect(
        Effect,
        estimate=estimate,
        se=se,
        statistic=statistic,
        df=df,
        alpha=alpha,
        interval=interval,
        method=method,
        relative=relative,
        control_mean=m_c,
        treatment_mean=m_t,
        ci_note=note,
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
    alpha = _check_alpha(alpha)
    control, treatment = _check_arms(control, treatment)
    relative_ci = _check_relative_ci(relative_ci)
    var_c, var_t = control.variance / control.n, treatment.variance / treatment.n
    se = math.sqrt(var_c + var_t)
    if se == 0.0:
        raise _zero_variance_error(control, treatment)
    df = welch_df(var_c, control.n, var_t, treatment.n)
    return _build(
        control,
        treatment,
        se_diff=se,
        statistic_diff=treatment.difference_from(control) / se,
        df=df,
        alpha=alpha,
        relative=relative,
        relative_ci=relative_ci,
        method="Welch t-test (Welch–Satterthwaite df)",
        test_from_difference=False,
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
    alpha = _check_alpha(alpha)
    control, treatment = _check_arms(control, treatment)
    relative_ci = _check_relative_ci(relative_ci)
    if continuity and not control.proportion:
        raise ParameterError(
            "continuity=True applies Yates' correction, which is defined for proportions only; build the "
            "arms with Moments.from_counts or set continuity=False."
        )
    n_c, n_t = control.n, treatment.n
    se = math.sqrt(control.variance / n_c + treatment.variance / n_t)
    if se == 0.0:
        raise _zero_variance_error(control, treatment)
    diff = treatment.difference_from(control)
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
    numerator = diff
    if continuity:
        numerator = math.copysign(max(abs(diff) - 0.5 * (1.0 / n_c + 1.0 / n_t), 0.0), diff)
        method += " with Yates continuity correction"
    return _build(
        control,
        treatment,
        se_diff=se,
        statistic_diff=numerator / se_test,
        df=None,
        alpha=alpha,
        relative=relative,
        relative_ci=relative_ci,
        method=method,
        test_from_difference=pooled or continuity,
    )
