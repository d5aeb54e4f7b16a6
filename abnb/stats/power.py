"""Planning an experiment: units per arm for a minimum detectable effect, the inverse, and the duration.

All formulas are for a two-sided test at level ``α`` with power ``1 − β``; ``z_q`` is the standard normal
quantile. For unequal allocation, ``ratio = k = n_treatment / n_control`` and the functions return (or take)
the **control** arm's size; the treatment arm needs ``k·n``.

The default formula, ``"unpooled"``, sizes the test abnb's reports run on a rate: the unpooled two-proportion
z-test (:func:`abnb.stats.ztest`, ``pooled=False``, two-sided), and for a mean the Welch/normal test. Evan Miller's
calculator formula (``"evan-miller"``, the default before) takes the null variance at the baseline rate, which
is smaller than the unpooled test's variance for an increase from a rate below 50 %: at its ``n`` the unpooled
z-test has power 0.69–0.79 instead of 0.80 (1 % → 2 %: 1,767 per arm, power 0.69; the unpooled formula asks
2,316, power 0.80), as ``tests/stats/test_power.py`` shows by simulation.
"""

from __future__ import annotations

import math
from typing import Literal

from abnb.errors import ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._validate import check_choice, finite_number

__all__ = ["Formula", "duration", "mde", "sample_size"]

Formula = Literal["evan-miller", "pooled", "unpooled", "arcsine"]
_FORMULAS: tuple[Formula, ...] = ("evan-miller", "pooled", "unpooled", "arcsine")


def _open_unit(value: object, name: str) -> float:
    number = finite_number(value, name)
    if not 0.0 < number < 1.0:
        raise ParameterError(f"{name} must lie strictly between 0 and 1, got {value!r}.")
    return number


def _check_common(
    alpha: object, power: object, formula: object, ratio: object, cuped_rho: object
) -> tuple[float, float, Formula, float, float]:
    checked_alpha = check_alpha(_open_unit(alpha, "alpha"))
    checked_power = _open_unit(power, "power")
    checked_formula = check_choice("formula", formula, _FORMULAS)
    checked_ratio = finite_number(ratio, "ratio")
    if checked_ratio <= 0.0:
        raise ParameterError(f"ratio = n_treatment / n_control must be > 0, got {ratio!r}.")
    rho = finite_number(cuped_rho, "cuped_rho")
    if not 0.0 <= abs(rho) < 1.0:
        raise ParameterError(
            f"cuped_rho (correlation of the metric with its covariate) must lie in (−1, 1), got {rho!r}."
        )
    return checked_alpha, checked_power, checked_formula, checked_ratio, rho


def _quantiles(alpha: float, power: float) -> tuple[float, float]:
    """The normal quantiles ``z_{1−α/2}`` of the two-sided test and ``z_{1−β}`` of its power."""
    from scipy import special

    return float(special.ndtri(1.0 - alpha / 2.0)), float(special.ndtri(power))


def _units(
    baseline: float,
    delta: float,
    *,
    alpha: float,
    power: float,
    formula: Formula,
    ratio: float,
    sd: float | None,
    cuped_rho: float,
) -> float:
    """Unrounded control-arm size for an absolute effect ``delta`` (see :func:`sample_size` for formulas)."""
    z_a, z_b = _quantiles(alpha, power)
    k = ratio
    if sd is not None:
        n = (z_a + z_b) ** 2 * sd * sd * (1.0 + 1.0 / k) / (delta * delta)
    else:
        p1, p2 = baseline, baseline + delta
        q1, q2 = 1.0 - p1, 1.0 - p2
        if formula == "evan-miller":
            null_sd = math.sqrt(p1 * q1 * (1.0 + 1.0 / k))
            alt_sd = math.sqrt(p1 * q1 + p2 * q2 / k)
            n = (z_a * null_sd + z_b * alt_sd) ** 2 / (delta * delta)
        elif formula == "pooled":
            p_bar = (p1 + k * p2) / (1.0 + k)
            null_sd = math.sqrt(p_bar * (1.0 - p_bar) * (1.0 + 1.0 / k))
            alt_sd = math.sqrt(p1 * q1 + p2 * q2 / k)
            n = (z_a * null_sd + z_b * alt_sd) ** 2 / (delta * delta)
        elif formula == "unpooled":
            n = (z_a + z_b) ** 2 * (p1 * q1 + p2 * q2 / k) / (delta * delta)
        else:
            h = 2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1))
            n = (z_a + z_b) ** 2 * (1.0 + 1.0 / k) / (h * h)
    return n * (1.0 - cuped_rho * cuped_rho)


def _check_design(baseline: object, sd: object, formula: Formula) -> tuple[float, float | None]:
    base = finite_number(baseline, "baseline")
    if sd is None:
        if not 0.0 < base < 1.0:
            raise ParameterError(
                f"baseline is a rate (proportion) and must lie strictly between 0 and 1, got {baseline!r}; "
                "for a mean metric pass its standard deviation as sd=."
            )
        return base, None
    checked_sd = finite_number(sd, "sd")
    if checked_sd <= 0.0:
        raise ParameterError(f"sd (standard deviation of the metric per unit) must be > 0, got {sd!r}.")
    if formula == "arcsine":
        raise ParameterError("formula='arcsine' is for proportions; with sd= (a mean metric) use the default formula.")
    return base, checked_sd


def sample_size(
    baseline: float,
    mde: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    formula: Formula = "unpooled",
    ratio: float = 1.0,
    sd: float | None = None,
    cuped_rho: float = 0.0,
) -> int:
    """Units needed in the control arm to detect an effect of ``mde`` with a two-sided test.

    The absolute effect is ``δ = mde`` (or ``δ = baseline·mde`` when ``relative``), ``p1 = baseline``,
    ``p2 = p1 + δ``, ``q = 1 − p``, ``k = ratio = n_treatment / n_control``.

    Proportions (``sd=None``):

    * ``"unpooled"`` (default; sizes the unpooled two-proportion z-test :func:`abnb.stats.ztest` that abnb's
      reports run): ``n = (z_{1−α/2} + z_{1−β})² (p1 q1 + p2 q2 / k) / δ²``; for ``k = 1``,
      ``n = (z_{1−α/2} + z_{1−β})² (p1 q1 + p2 q2) / δ²`` per arm (Chow, Shao & Wang, §4.2). The test's
      statistic ``(p̂2 − p̂1)/sqrt(p̂1 q̂1/n + p̂2 q̂2/(k n))`` is close to ``N(δ/sqrt((p1 q1 + p2 q2/k)/n), 1)``, so
      this ``n`` gives power ``1 − β`` up to the negligible far tail; simulated power of ``ztest`` at this ``n``
      is 0.80–0.81 from 1 % to 50 % baselines, effects +10 % to +100 % and decreases (equal arms). With a larger
      treatment arm and few expected successes in the control arm the statistic's skew costs a little power
      (1 % → 2 %, ``k = 3``: 0.78; ``k = 2`` at 5–20 %: 0.79).
    * ``"evan-miller"`` (the formula of Evan Miller's sample-size calculator, with the null variance taken at the
      baseline rate; abnb's default until the unpooled formula replaced it, because it under-powers an increase
      tested by the unpooled z-test: 1 % → 2 % needs 2,316 per arm, Evan Miller's 1,767 give power 0.69):
      ``n = (z_{1−α/2}·sqrt(p1 q1 (1 + 1/k)) + z_{1−β}·sqrt(p1 q1 + p2 q2 / k))² / δ²``. For ``k = 1`` this is
      his ``(z_{1−α/2}·sqrt(2 p1 q1) + z_{1−β}·sqrt(p1 q1 + p2 q2))² / δ²``: 20 % → 25 %, α = 0.05, power 0.8
      gives 1030.2, which his calculator displays rounded to 1,030 and this function rounds up to 1,031. (His
      calculator also mirrors baselines above 50 % to ``1 − p``; abnb uses the rates as given.)
    * ``"pooled"``: the same with the null variance at the pooled rate ``p̄ = (p1 + k p2)/(1 + k)``,
      ``n = (z_{1−α/2}·sqrt(p̄ q̄ (1 + 1/k)) + z_{1−β}·sqrt(p1 q1 + p2 q2 / k))² / δ²`` (Fleiss, without
      continuity correction; matches the pooled two-proportion z-test).
    * ``"arcsine"``: Cohen's ``h = 2 asin√p2 − 2 asin√p1``, ``n = (z_{1−α/2} + z_{1−β})² (1 + 1/k) / h²``
      (statsmodels' ``NormalIndPower`` with ``proportion_effectsize``, up to the negligible far tail).

    Means (``sd`` given; ``baseline`` is then the control mean and only enters a relative ``mde``):
    ``n = (z_{1−α/2} + z_{1−β})² sd² (1 + 1/k) / δ²`` (the Welch/normal test with a common ``sd``) for every
    formula except ``"arcsine"``.

    With CUPED (``cuped_rho`` = correlation of the metric with its pre-period covariate) the variance, hence
    ``n``, is multiplied by ``1 − ρ²``. The result is rounded up.

    Args:
        baseline: Control conversion rate (proportions) or control mean (with ``sd``).
        mde: Minimum detectable effect: absolute, or relative to ``baseline`` when ``relative``. May be
            negative (a decrease) but not 0.
        relative: Whether ``mde`` is a fraction of ``baseline``.
        alpha: Two-sided significance level.
        power: Probability of detecting an effect of exactly ``mde``.
        formula: ``"unpooled"`` (default), ``"evan-miller"``, ``"pooled"`` or ``"arcsine"``.
        ratio: Allocation ratio ``n_treatment / n_control``; the result is the control arm's size.
        sd: Standard deviation of the metric per unit, for a mean metric.
        cuped_rho: Correlation between the metric and the CUPED covariate (0: no variance reduction).

    Returns:
        Units in the control arm (the treatment arm needs ``ceil(ratio · n)``).

    Raises:
        ParameterError: If a parameter is out of range: a rate outside (0, 1), ``baseline + δ`` outside
            (0, 1) for a proportion, ``mde`` of 0, ``alpha``/``power`` outside (0, 1), ``ratio`` ≤ 0,
            ``|cuped_rho|`` ≥ 1, ``sd`` ≤ 0, or ``"arcsine"`` with ``sd``.

    References:
        S.-C. Chow, J. Shao & H. Wang (2008), *Sample Size Calculations in Clinical Research*, 2nd ed., §4.2
        (two-sample test for equality of proportions, unpooled variance);
        E. Miller, "Sample Size Calculator", evanmiller.org/ab-testing/sample-size.html; J. L. Fleiss,
        B. Levin & M. C. Paik (2003), *Statistical Methods for Rates and Proportions*, 3rd ed., §4.2;
        J. Cohen (1988), *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed., ch. 6;
        A. Deng et al. (2013), "Improving the Sensitivity of Online Controlled Experiments by Utilizing
        Pre-Experiment Data" (CUPED), WSDM.
    """
    checked_alpha, checked_power, checked_formula, k, rho = _check_common(alpha, power, formula, ratio, cuped_rho)
    base, checked_sd = _check_design(baseline, sd, checked_formula)
    effect = finite_number(mde, "mde")
    delta = base * effect if relative else effect
    if delta == 0.0:
        raise ParameterError("mde must not be 0 (no sample size can detect a zero effect).")
    if checked_sd is None and not 0.0 < base + delta < 1.0:
        raise ParameterError(
            f"baseline + effect = {base + delta!r} must lie strictly between 0 and 1 for a rate; "
            "check mde (and relative=)."
        )
    n = _units(
        base,
        delta,
        alpha=checked_alpha,
        power=checked_power,
        formula=checked_formula,
        ratio=k,
        sd=checked_sd,
        cuped_rho=rho,
    )
    # Guard against float noise just above a whole number (e.g. 100.00000000000001 → 100).
    return max(1, math.ceil(n - 1e-9))


def mde(
    n: float,
    baseline: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    formula: Formula = "unpooled",
    ratio: float = 1.0,
    sd: float | None = None,
    cuped_rho: float = 0.0,
) -> float:
    """Smallest positive effect detectable with ``n`` control units: the inverse of :func:`sample_size`.

    Solves ``n_required(δ) = n`` for ``δ > 0`` (an increase) with Brent's method on the unrounded formulas of
    :func:`sample_size` (closed form for means: ``δ = (z_{1−α/2} + z_{1−β}) sd sqrt((1 + 1/k)(1 − ρ²)/n)``). With
    the default ``"unpooled"`` formula it is the effect the unpooled z-test (:func:`abnb.stats.ztest`) detects
    with the stated power: ``(z_{1−α/2} + z_{1−β})² (p1 q1 + p2 q2/k) = n δ²`` with ``p2 = p1 + δ``.

    Args:
        n: Units in the control arm (the treatment arm has ``ratio · n``).
        baseline: Control conversion rate (proportions) or control mean (with ``sd``).
        relative: Return the effect as a fraction of ``baseline``.
        alpha: Two-sided significance level.
        power: Required power.
        formula: As in :func:`sample_size` (default ``"unpooled"``, the formula of abnb's own z-test).
        ratio: Allocation ratio ``n_treatment / n_control``.
        sd: Standard deviation of the metric per unit, for a mean metric.
        cuped_rho: Correlation between the metric and the CUPED covariate.

    Returns:
        The minimum detectable effect, absolute or relative.

    Raises:
        ParameterError: If a parameter is out of range, or ``n`` is too small to detect even the largest
            possible increase of a rate (up to 1).

    References:
        See :func:`sample_size`.
    """
    from scipy import optimize

    checked_alpha, checked_power, checked_formula, k, rho = _check_common(alpha, power, formula, ratio, cuped_rho)
    base, checked_sd = _check_design(baseline, sd, checked_formula)
    units = finite_number(n, "n")
    if units <= 0.0:
        raise ParameterError(f"n must be > 0, got {n!r}.")
    if relative and base == 0.0:
        raise ParameterError("a relative mde needs a non-zero baseline.")
    if checked_sd is not None:
        z_a, z_b = _quantiles(checked_alpha, checked_power)
        delta = (z_a + z_b) * checked_sd * math.sqrt((1.0 + 1.0 / k) * (1.0 - rho * rho) / units)
        return delta / abs(base) if relative else delta

    def excess(d: float) -> float:
        required = _units(
            base,
            d,
            alpha=checked_alpha,
            power=checked_power,
            formula=checked_formula,
            ratio=k,
            sd=None,
            cuped_rho=rho,
        )
        return required - units

    upper = (1.0 - base) * (1.0 - 1e-12)
    if excess(upper) > 0.0:
        raise ParameterError(
            f"n={units:g} units per arm cannot detect even an increase from {base:g} to 1 at this alpha and power; "
            "increase n."
        )
    low = min(1e-9, upper / 2.0)
    delta = float(optimize.brentq(excess, low, upper, xtol=1e-15, rtol=1e-13, maxiter=500))
    return delta / base if relative else delta


def duration(n_per_arm: float, daily_units: float, arms: int = 2) -> int:
    """Days needed to enrol ``n_per_arm`` units in each of ``arms`` arms: ``ceil(arms · n_per_arm / daily_units)``.

    ``n_per_arm`` usually comes from :func:`sample_size`, whose default (``"unpooled"``) sizes the z-test the report
    runs; a duration from Evan Miller's ``n`` (``formula="evan-miller"``) is up to a quarter shorter and
    under-powered for an increase.

    Args:
        n_per_arm: Units needed per arm (e.g. from :func:`sample_size`).
        daily_units: Eligible units entering the experiment per day, over all arms.
        arms: Number of arms, control included.

    Returns:
        Whole days (at least 1).

    Raises:
        ParameterError: If ``n_per_arm`` or ``daily_units`` is not positive, or ``arms`` is not a whole
            number ≥ 2.
    """
    units = finite_number(n_per_arm, "n_per_arm")
    daily = finite_number(daily_units, "daily_units")
    if units <= 0.0:
        raise ParameterError(f"n_per_arm must be > 0, got {n_per_arm!r}.")
    if daily <= 0.0:
        raise ParameterError(f"daily_units must be > 0 (units entering the experiment per day), got {daily_units!r}.")
    if isinstance(arms, bool) or not isinstance(arms, int) or arms < 2:
        raise ParameterError(f"arms must be a whole number >= 2 (control included), got {arms!r}.")
    return max(1, math.ceil(arms * units / daily - 1e-9))
