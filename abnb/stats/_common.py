"""What the two-arm comparisons of :mod:`abnb.stats` share: reference distributions, intervals, arm checks, Effects.

The two-sided critical values and p-values come from ``scipy.special`` ufuncs (exactly the numerics of
``scipy.stats``, far less overhead); scipy is imported inside the functions so that ``import abnb`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from abnb.errors import ParameterError
from abnb.stats._effect import Effect
from abnb.stats._validate import check_units
from abnb.stats.moments import Moments

__all__ = [
    "TINY_PVALUE",
    "Interval",
    "build_effect",
    "check_arm",
    "check_arms",
    "critical_value",
    "fieller_roots",
    "log_two_sided_pvalue",
    "normal_pvalue",
    "symmetric",
    "symmetric_effect",
    "two_sided_pvalue",
]

Interval = Callable[[float], tuple[float, float]]
"""An interval as a function of its confidence level: ``level -> (low, high)``."""

_E = TypeVar("_E", bound=Effect)


# ------------------------------------------------------------------------------------------------------
# reference distributions


def critical_value(confidence_level: float, df: float | None = None) -> float:
    """Two-sided critical value: the ``(1 + level)/2`` quantile of Student's t with ``df`` (None: normal)."""
    from scipy import special

    upper = 0.5 * (1.0 + confidence_level)
    if df is None:
        return float(special.ndtri(upper))
    return float(special.stdtrit(df, upper))


#: Below this, scipy's ``ndtr``/``stdtr`` flush to 0 before the double range ends (``ndtr(-38)`` is 0.0 although
#: the tail is 2.9e-316), so tiny p-values are recomputed in log space.
TINY_PVALUE = 1e-280


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


def log_two_sided_pvalue(statistic: float, df: float | None) -> float:
    """Natural log of the two-sided p-value ``2·P(T > |statistic|)``, finite far below the smallest double."""
    from scipy import special

    if df is None:
        return math.log(2.0) + float(special.log_ndtr(-abs(statistic)))
    return math.log(2.0) + _log_t_sf(abs(statistic), df)


def normal_pvalue(statistic: float) -> float:
    """Two-sided normal p-value ``2·Φ(−|statistic|)`` (NaN for a NaN statistic)."""
    from scipy import special

    return float(2.0 * special.ndtr(-abs(statistic)))


def two_sided_pvalue(statistic: float, df: float | None) -> float:
    """Two-sided p-value ``2·P(T > |statistic|)`` for Student's t with ``df`` (normal if None).

    Below 1e-280 the value is recomputed in log space (:func:`log_two_sided_pvalue`) and exponentiated, so it is
    the correctly rounded double down to the subnormal range; it is 0.0 only when the p-value is below the
    smallest positive double (≈ 4.9e-324), and :attr:`Effect.log10_pvalue` still gives its size.
    """
    from scipy import special

    pvalue = normal_pvalue(statistic) if df is None else float(2.0 * special.stdtr(df, -abs(statistic)))
    if pvalue < TINY_PVALUE:
        pvalue = math.exp(log_two_sided_pvalue(statistic, df))
    return pvalue


# ------------------------------------------------------------------------------------------------------
# intervals


def symmetric(center: float, se: float, df: float | None) -> Interval:
    """The interval ``center ± q·se`` with ``q`` the two-sided critical value of t with ``df`` (None: normal)."""

    def interval(level: float) -> tuple[float, float]:
        half = critical_value(level, df) * se
        return center - half, center + half

    return interval


def fieller_roots(
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


# ------------------------------------------------------------------------------------------------------
# arms


def check_arm(name: str, arm: object, *, minimum: int = 2, purpose: str = "a two-arm test") -> Moments:
    """``arm`` if it is :class:`Moments` with at least ``minimum`` units, else ``ParameterError`` naming ``name``."""
    if not isinstance(arm, Moments):
        raise ParameterError(
            f"{name} must be abnb.stats.Moments, got {type(arm).__name__}; "
            "build it with Moments.from_values(values) or Moments.from_counts(successes, n)."
        )
    check_units(name, arm.n, minimum=minimum, purpose=purpose)
    return arm


def check_arms(
    control: object, treatment: object, *, minimum: int = 2, purpose: str = "a two-arm test"
) -> tuple[Moments, Moments]:
    """Both arms checked by :func:`check_arm`, and both proportions or both means."""
    checked_control = check_arm("control", control, minimum=minimum, purpose=purpose)
    checked_treatment = check_arm("treatment", treatment, minimum=minimum, purpose=purpose)
    if checked_control.proportion != checked_treatment.proportion:
        raise ParameterError(
            "control and treatment disagree on proportion= (one is a 0/1 proportion, the other a mean); "
            "build both with Moments.from_counts or both with Moments.from_values."
        )
    return checked_control, checked_treatment


# ------------------------------------------------------------------------------------------------------
# effects


def build_effect(
    kind: type[_E],
    *,
    estimate: float,
    se: float,
    statistic: float,
    df: float | None,
    alpha: float,
    interval: Interval,
    method: str,
    relative: bool,
    control_mean: float,
    treatment_mean: float,
    **extra: Any,
) -> _E:
    """Build an :class:`Effect` (or subclass): the interval at 1 − alpha and the two-sided p-value of ``statistic``."""
    low, high = interval(1.0 - alpha)
    pvalue = two_sided_pvalue(statistic, df)
    log_pvalue = None
    if pvalue < TINY_PVALUE:
        log_pvalue = log_two_sided_pvalue(statistic, df)
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


def symmetric_effect(
    kind: type[_E], *, estimate: float, se: float, df: float | None, statistic: float | None = None, **fields: Any
) -> _E:
    """:func:`build_effect` with the interval ``estimate ± q·se`` (``statistic`` defaults to ``estimate/se``)."""
    return build_effect(
        kind,
        estimate=estimate,
        se=se,
        statistic=estimate / se if statistic is None else statistic,
        df=df,
        interval=symmetric(estimate, se, df),
        **fields,
    )
