"""Sequential tests: valid inference when the results are looked at before the planned end.

Three families, all from per-arm :class:`~abnb.stats.moments.Moments`:

* :func:`confidence_sequence`: asymptotic confidence sequences (Waudby-Smith et al. 2023), the
  normal-mixture boundary GrowthBook and Eppo use. Look as often as you like; the interval is valid
  simultaneously at every sample size.
* :func:`group_sequential_bounds` and :func:`group_sequential_test`: Lan–DeMets α-spending boundaries for a
  few pre-planned looks, computed by the Armitage–McPherson–Rowe recursion.
* :func:`msprt`: the mixture sequential probability ratio test (Johari et al. 2017) with a normal
  ``N(0, τ²)`` mixing distribution and its always-valid p-value.

scipy is imported inside the functions so that ``import abnb`` stays light.

References:
    I. Waudby-Smith, D. Arbour, R. Sinha, E. H. Kennedy, A. Ramdas (2023), "Time-uniform central limit
    theory and asymptotic confidence sequences", arXiv:2103.06476 (v7), eq. 9 (boundary), eq. 155
    (p-value), eq. 161 (choice of ρ).
    K. K. G. Lan, D. L. DeMets (1983), "Discrete sequential boundaries for clinical trials", Biometrika 70.
    P. Armitage, C. K. McPherson, B. C. Rowe (1969), "Repeated significance tests on accumulating data",
    JRSS A 132.
    R. Johari, L. Pekelis, D. Walsh (2017), "Peeking at A/B tests: why it matters, and what to do about
    it", KDD 2017; Z. Zhao, M. Liu, A. Deb (2018), "Safely and quickly deploying new features with a staged
    rollout framework using sequential test and adaptive experimental design".
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Literal

import numpy as np

from abnb._display import FlatResult
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import Interval, check_arms
from abnb.stats._effect import Effect
from abnb.stats.frequentist import welch
from abnb.stats.moments import Moments

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GroupSequentialResult",
    "SequentialEffect",
    "Spending",
    "confidence_sequence",
    "group_sequential_bounds",
    "group_sequential_test",
    "msprt",
]

Spending = Literal["power", "obrien-fleming", "obrien-fleming-total"]


# ------------------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, kw_only=True)
class SequentialEffect(Effect):
    """An :class:`~abnb.stats.Effect` whose interval and p-value stay valid under continuous monitoring.

    ``ci_low``/``ci_high`` are the always-valid interval at the current look, ``pvalue`` the always-valid
    p-value (``min(1, 1/evalue)``), ``statistic`` the plain z-statistic ``estimate / se`` and ``df`` is
    ``None``.

    Attributes:
        evalue: The e-value (mixture likelihood ratio) behind ``pvalue``; the test rejects when it reaches
            ``1/alpha``.
        may_stop: Whether the experiment may stop now: the interval excludes 0 (equivalently
            ``pvalue <= alpha``).
        reason: One sentence saying why (not) to stop.
    """

    evalue: float
    may_stop: bool
    reason: str

    def _repr_html_(self) -> str:
        extra = (
            f"<tr><th style='text-align:left'>may stop</th><td>{'yes' if self.may_stop else 'no'}</td></tr>"
            f"<tr><th style='text-align:left'>reason</th><td>{html.escape(self.reason)}</td></tr>"
        )
        table = Effect._repr_html_(self)
        return table.replace("</table>", extra + "</table>")

    def __repr__(self) -> str:
        return (
            f"SequentialEffect(estimate={self.estimate:.4g}, ci=[{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"pvalue={self.pvalue:.4g}, may_stop={self.may_stop}, method={self.method!r})"
        )


def _stop_reason(low: float, high: float, alpha: float, what: str) -> tuple[bool, str]:
    level = f"{100.0 * (1.0 - alpha):.4g}%"
    if low > 0.0:
        return True, f"the always-valid {level} {what} [{low:.4g}, {high:.4g}] lies above 0: treatment is higher."
    if high < 0.0:
        return True, f"the always-valid {level} {what} [{low:.4g}, {high:.4g}] lies below 0: treatment is lower."
    return False, f"the always-valid {level} {what} [{low:.4g}, {high:.4g}] contains 0: keep collecting data."


def _always_valid(
    fixed: Effect,
    *,
    statistic: float,
    bounds: tuple[float, float],
    pvalue: float,
    log_evalue: float,
    alpha: float,
    method: str,
    what: str,
    interval: Interval | None,
) -> SequentialEffect:
    """The result at the current look: ``fixed``'s estimate with the always-valid ``bounds`` and ``pvalue``.

    ``what`` names the interval in the reason; the experiment may stop when the bounds exclude 0.
    """
    low, high = bounds
    may_stop, reason = _stop_reason(low, high, alpha, what)
    return SequentialEffect(
        estimate=fixed.estimate,
        se=fixed.se,
        ci_low=low,
        ci_high=high,
        pvalue=pvalue,
        statistic=statistic,
        df=None,
        alpha=alpha,
        method=method,
        relative=fixed.relative,
        control_mean=fixed.control_mean,
        treatment_mean=fixed.treatment_mean,
        _interval=interval,
        evalue=math.exp(min(log_evalue, 700.0)),
        may_stop=may_stop,
        reason=reason,
    )


# ------------------------------------------------------------------------------------------------------
# asymptotic confidence sequences


def _check_positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or value <= 0:
        raise ParameterError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def _cs_rho_sq(alpha: float, tuning: float) -> float:
    """Squared mixing parameter ``ρ² = (−2 log α + log(−2 log α + 1)) / N_tune`` (eq. 161)."""
    minus_two_log_alpha = -2.0 * math.log(alpha)
    return (minus_two_log_alpha + math.log(minus_two_log_alpha + 1.0)) / tuning


def cs_halfwidth(se: ArrayLike, n: ArrayLike, alpha: float, tuning: float) -> NDArray[np.float64]:
    """Half-width of the two-sided confidence sequence, vectorised over ``se`` and ``n`` (eq. 9).

    ``se·sqrt(N)`` is the per-observation standard deviation ``σ̂`` of the paper; the half-width is
    ``σ̂·sqrt(2(Nρ² + 1)/(N²ρ²) · log(sqrt(Nρ² + 1)/α))``.
    """
    rho_sq = _cs_rho_sq(alpha, tuning)
    n_arr = np.asarray(n, dtype=np.float64)
    se_arr = np.asarray(se, dtype=np.float64)
    n_rho_sq_p1 = n_arr * rho_sq + 1.0
    factor = 2.0 * n_rho_sq_p1 / (n_arr * n_arr * rho_sq) * np.log(np.sqrt(n_rho_sq_p1) / alpha)
    result: NDArray[np.float64] = se_arr * np.sqrt(n_arr) * np.sqrt(factor)
    return result


def _cs_log_evalue(z: ArrayLike, n: ArrayLike, alpha: float, tuning: float) -> NDArray[np.float64]:
    """Log e-value of the normal mixture, ``ρ²N z²/(2(Nρ² + 1)) − ½ log(Nρ² + 1)`` (eq. 155), vectorised."""
    rho_sq = _cs_rho_sq(alpha, tuning)
    n_arr = np.asarray(n, dtype=np.float64)
    z_arr = np.asarray(z, dtype=np.float64)
    n_rho_sq_p1 = n_arr * rho_sq + 1.0
    result: NDArray[np.float64] = rho_sq * n_arr * z_arr * z_arr / (2.0 * n_rho_sq_p1) - 0.5 * np.log(n_rho_sq_p1)
    return result


def confidence_sequence(
    control: Moments,
    treatment: Moments,
    *,
    relative: bool = False,
    tuning: float = 5000,
    alpha: float = 0.05,
) -> SequentialEffect:
    """Asymptotic confidence sequence for the difference (or relative lift) of two means.

    With the Welch (unpooled) standard error ``se`` of the estimate (the delta-method one for the lift,
    exactly as :func:`~abnb.stats.welch`), ``N = n_c + n_t`` and the mixing parameter chosen so that the
    boundary is tightest near ``N_tune = tuning`` (Waudby-Smith et al. 2023, eq. 161)::

        ρ² = (−2 log α + log(−2 log α + 1)) / N_tune
        half-width = se·sqrt(N) · sqrt( 2(Nρ² + 1)/(N²ρ²) · log( sqrt(Nρ² + 1)/α ) )      (eq. 9)

    The always-valid p-value is ``min(1, 1/E)`` with the e-value (eq. 155)
    ``E = exp(ρ²N z²/(2(Nρ² + 1))) / sqrt(Nρ² + 1)``, ``z = estimate/se``; ``p ≤ α`` exactly when the
    interval excludes 0. This is GrowthBook's ``SequentialTwoSidedTTest`` (gbstats) and Eppo's sequential
    analysis; ``confidence_interval(level)`` recomputes ρ for ``α = 1 − level``, as GrowthBook does.

    Args:
        control: Moments of the control arm at the current look.
        treatment: Moments of the treatment arm at the current look.
        relative: Estimate the lift ``(m_t − m_c)/|m_c|`` (delta-method standard error) instead of ``m_t − m_c``.
        tuning: ``N_tune``, the total sample size (both arms) at which the interval should be narrowest;
            GrowthBook's default is 5000. Fix it before the experiment starts.
        alpha: Significance level; the sequence covers the true effect at all sample sizes simultaneously
            with probability at least ``1 − alpha`` (asymptotically).

    Returns:
        The effect with ``may_stop`` true when the interval excludes 0.

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), ``tuning`` is not positive, or the arms are invalid
            (see :func:`~abnb.stats.welch`).
        DataError: If both arms have zero variance, or the lift is undefined (control mean 0).

    References:
        Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), arXiv:2103.06476v7, eqs. 9, 155, 161;
        GrowthBook gbstats ``SequentialTwoSidedTTest``.
    """
    alpha = check_alpha(alpha)
    tuning = _check_positive(tuning, "tuning")
    fixed = welch(control, treatment, alpha=alpha, relative=relative, relative_ci="delta")
    estimate, se = fixed.estimate, fixed.se
    n_total = control.n + treatment.n

    def interval(level: float) -> tuple[float, float]:
        half = float(cs_halfwidth(se, n_total, 1.0 - level, tuning))
        return estimate - half, estimate + half

    low, high = interval(1.0 - alpha)
    z = estimate / se
    log_e = float(_cs_log_evalue(z, n_total, alpha, tuning))
    pvalue = 1.0 if log_e <= 0.0 else math.exp(-log_e)
    what = "relative lift, delta-method SE" if relative else "absolute difference"
    return _always_valid(
        fixed,
        statistic=z,
        bounds=(low, high),
        pvalue=pvalue,
        log_evalue=log_e,
        alpha=alpha,
        method=f"asymptotic confidence sequence (Waudby-Smith et al. 2023, normal mixture, N_tune={tuning:g}), {what}",
        what="confidence sequence",
        interval=interval,
    )


# ------------------------------------------------------------------------------------------------------
# group sequential boundaries (Lan–DeMets α-spending)


def _check_fractions(information_fractions: ArrayLike) -> NDArray[np.float64]:
    try:
        t = np.asarray(information_fractions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"information_fractions must be numbers in (0, 1], got {information_fractions!r}."
        ) from exc
    if t.ndim != 1 or t.size == 0:
        raise ParameterError(f"information_fractions must be a non-empty 1-D sequence, got shape {t.shape}.")
    if not np.all(np.isfinite(t)) or t[0] <= 0.0 or t[-1] > 1.0 or np.any(np.diff(t) <= 0.0):
        raise ParameterError(
            "information_fractions must increase strictly within (0, 1] (e.g. [0.2, 0.4, 0.6, 0.8, 1.0]), "
            f"got {t.tolist()}."
        )
    return t


def _spent(t: NDArray[np.float64], alpha: float, spending: str, rho: float) -> NDArray[np.float64]:
    """Cumulative two-sided α spent by information fraction ``t``."""
    from scipy import special

    if spending == "power":
        return np.asarray(alpha * t**rho, dtype=np.float64)
    if spending == "obrien-fleming":
        # gsDesign/ldbounds convention: sfLDOF at the one-sided α/2 in each tail, doubled
        z = special.ndtri(1.0 - alpha / 4.0)
        return np.asarray(2.0 * (2.0 - 2.0 * special.ndtr(z / np.sqrt(t))), dtype=np.float64)
    if spending == "obrien-fleming-total":
        z = special.ndtri(1.0 - alpha / 2.0)
        return np.asarray(2.0 - 2.0 * special.ndtr(z / np.sqrt(t)), dtype=np.float64)
    raise ParameterError(f"spending must be 'power', 'obrien-fleming' or 'obrien-fleming-total', got {spending!r}.")


def _simpson_weights(m: int, step: float) -> NDArray[np.float64]:
    weights = np.ones(m)
    weights[1:-1:2] = 4.0
    weights[2:-1:2] = 2.0
    return weights * step / 3.0


def _normal_kernel(x: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    result: NDArray[np.float64] = np.exp(-0.5 * (x / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))
    return result


def _ams_crossing(c: float, grid: NDArray[np.float64], mass: NDArray[np.float64], sigma: float, scale: float) -> float:
    """P(no crossing before look k, |S_k| ≥ c·scale), with the sub-density of S_{k−1} as node masses."""
    from scipy import special

    upper = special.ndtr((grid - c * scale) / sigma)
    lower = special.ndtr((-c * scale - grid) / sigma)
    return float(mass @ (upper + lower))


def _ams_excess(
    c: float, grid: NDArray[np.float64], mass: NDArray[np.float64], sigma: float, scale: float, target: float
) -> float:
    return _ams_crossing(c, grid, mass, sigma, scale) - target


def group_sequential_bounds(
    information_fractions: ArrayLike,
    *,
    alpha: float = 0.05,
    rho: float = 2.0,
    spending: Spending = "power",
) -> NDArray[np.float64]:
    """Two-sided symmetric z boundaries ``±c_k`` of a group sequential design by Lan–DeMets α-spending.

    The cumulative two-sided type I error spent by information fraction ``t`` is

    * ``"power"``: ``α(t) = α·t^ρ`` (Kim & DeMets 1987; ``ρ = 1`` Pocock-like, ``ρ = 3`` O'Brien–Fleming-like);
    * ``"obrien-fleming"``: the Lan & DeMets (1983) O'Brien–Fleming-like function
      ``f(t; a) = 2 − 2Φ(z_{1−a/2}/√t)`` applied to each tail with the one-sided ``a = α/2``, so
      ``α(t) = 2·f(t; α/2)``. This is what gsDesign (``sfLDOF`` in a symmetric ``test.type=2`` design with
      ``alpha=0.025``) and ldbounds report: for 5 equally spaced looks at α = 0.05,
      ``c = 4.877, 3.357, 2.680, 2.290, 2.031``;
    * ``"obrien-fleming-total"``: the same function applied once to the two-sided α,
      ``α(t) = 2 − 2Φ(z_{1−α/2}/√t)``, which spends less early (5 equal looks: ``c = 4.383, 3.100, 2.553,
      2.254, 2.064``).

    All three spend exactly α by ``t = 1``; each tail gets half of every increment.

    ``c_k`` solves ``P(|Z_j| < c_j for j < k, |Z_k| ≥ c_k) = α(t_k) − α(t_{k−1})`` under H0, where the score
    process ``S_k = Z_k √t_k`` is Brownian motion in information time. The sub-density of ``S_k`` on the
    continuation region is propagated look by look (Armitage–McPherson–Rowe 1969),
    ``f_k(y) = ∫ f_{k−1}(x) φ((y − x)/σ_k)/σ_k dx``, ``σ_k² = t_k − t_{k−1}``, by Simpson's rule on a grid of
    about 20 points per ``σ_k`` (capped at 2001), and each ``c_k`` is found by Brent's method. Only
    ``t_1..t_k`` enter ``c_k``, so unplanned extra looks are allowed.

    Args:
        information_fractions: Information fractions of the looks, strictly increasing in (0, 1]; with
            equal variances the fraction of the planned sample size.
        alpha: Two-sided significance level spent by ``t = 1``.
        rho: Exponent of the power family (ignored for ``"obrien-fleming"``).
        spending: ``"power"``, ``"obrien-fleming"`` or ``"obrien-fleming-total"``.

    Returns:
        The boundaries ``c_k`` (``inf`` where the spending function spends nothing).

    Raises:
        ParameterError: If the fractions are not strictly increasing in (0, 1], ``alpha`` is outside (0, 1),
            ``rho`` is not positive, or ``spending`` is unknown.

    References:
        Lan & DeMets (1983), Biometrika 70, 659–663; Kim & DeMets (1987), Biometrics 43, 857–864;
        Armitage, McPherson & Rowe (1969), JRSS A 132, 235–244; Jennison & Turnbull (2000), "Group
        Sequential Methods with Applications to Clinical Trials", ch. 7 and 19.
    """
    from scipy import optimize, special

    t = _check_fractions(information_fractions)
    alpha = check_alpha(alpha)
    rho = _check_positive(rho, "rho")
    cumulative = _spent(t, alpha, spending, rho)
    increments = np.diff(np.concatenate(([0.0], cumulative)))
    sigmas = np.sqrt(np.diff(np.concatenate(([0.0], t))))
    bounds = np.empty(t.size)

    # look 1: S_1 ~ N(0, t_1), so c_1 is a plain normal quantile
    bounds[0] = special.ndtri(1.0 - increments[0] / 2.0) if increments[0] > 0.0 else math.inf
    grid = mass = np.zeros(0)
    for k in range(t.size):
        scale = math.sqrt(t[k])
        if k > 0:
            target = float(increments[k])
            args = (grid, mass, float(sigmas[k]), scale)
            if target <= 0.0 or _ams_crossing(40.0, *args) >= target:
                bounds[k] = math.inf
            else:
                bounds[k] = optimize.brentq(_ams_excess, 0.0, 40.0, args=(*args, target), xtol=1e-12)
        if k + 1 < t.size:
            # grid on |S_k| < c_k·sqrt(t_k) (truncated at 10 sd), ~20 points per sd of the next increment
            half = min(float(bounds[k]), 10.0) * scale
            m = int(min(max(math.ceil(40.0 * half / float(sigmas[k + 1])), 100), 2000))
            m += 1 - m % 2  # Simpson's rule needs an odd number of points
            y = np.linspace(-half, half, m)
            if k == 0:
                density = np.exp(-0.5 * y * y / t[0]) / math.sqrt(2.0 * math.pi * t[0])
            else:
                density = _normal_kernel(y[:, None] - grid[None, :], float(sigmas[k])) @ mass
            grid, mass = y, _simpson_weights(m, 2.0 * half / (m - 1)) * density
    return bounds


@dataclass(frozen=True)
class GroupSequentialResult(FlatResult):
    """The decision of a group sequential test at the current (last given) look.

    Attributes:
        look: 1-based index of the current look.
        z: Observed z-statistics of the looks so far.
        bounds: Two-sided boundaries ``c_k`` of those looks.
        information_fractions: Information fractions of the looks so far.
        crossed_at: 1-based index of the first look with ``|z_k| ≥ c_k`` (``None`` if none).
        may_stop: Whether a boundary has been crossed (at this or an earlier look).
        reason: One sentence saying why (not) to stop.
        alpha: Two-sided significance level of the design.
        method: The spending function used.
    """

    look: int
    z: tuple[float, ...]
    bounds: tuple[float, ...]
    information_fractions: tuple[float, ...]
    crossed_at: int | None
    may_stop: bool
    reason: str
    alpha: float
    method: str


def group_sequential_test(
    z_values: ArrayLike,
    information_fractions: ArrayLike,
    *,
    alpha: float = 0.05,
    rho: float = 2.0,
    spending: Spending = "power",
) -> GroupSequentialResult:
    """Compare the z-statistics of the looks so far with their Lan–DeMets boundaries.

    The boundaries come from :func:`group_sequential_bounds` for the information fractions of the looks
    taken so far (one per z-value). The experiment may stop for efficacy at the first look with
    ``|z_k| ≥ c_k``.

    Args:
        z_values: Observed z-statistics, one per look so far (e.g. ``welch(...).statistic``).
        information_fractions: Information fraction of each of those looks.
        alpha: Two-sided significance level of the design.
        rho: Exponent of the power spending family.
        spending: ``"power"``, ``"obrien-fleming"`` or ``"obrien-fleming-total"``.

    Returns:
        The decision at the last look.

    Raises:
        ParameterError: If the z-values are not finite or their number differs from the number of fractions,
            or the design parameters are invalid (see :func:`group_sequential_bounds`).

    References:
        Lan & DeMets (1983), Biometrika 70; Jennison & Turnbull (2000), ch. 7.
    """
    t = _check_fractions(information_fractions)
    try:
        z = np.asarray(z_values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"z_values must be numbers, got {z_values!r}.") from exc
    if z.ndim != 1 or z.size != t.size:
        raise ParameterError(
            f"z_values must hold one z-statistic per look: got {z.size} z-value(s) for {t.size} information "
            "fraction(s)."
        )
    if not np.all(np.isfinite(z)):
        raise ParameterError(f"z_values must be finite, got {z.tolist()}.")
    bounds = group_sequential_bounds(t, alpha=alpha, rho=rho, spending=spending)
    crossed = np.flatnonzero(np.abs(z) >= bounds)
    crossed_at = int(crossed[0]) + 1 if crossed.size else None
    look = int(t.size)
    if crossed_at is None:
        reason = f"|z| = {abs(z[-1]):.4g} < boundary {bounds[-1]:.4g} at look {look}: keep collecting data."
    elif crossed_at == look:
        reason = f"|z| = {abs(z[-1]):.4g} ≥ boundary {bounds[-1]:.4g} at look {look}: the effect is significant."
    else:
        reason = (
            f"the boundary was already crossed at look {crossed_at} (|z| = {abs(z[crossed_at - 1]):.4g} ≥ "
            f"{bounds[crossed_at - 1]:.4g}); the test should have stopped there."
        )
    family = {
        "power": f"power α·t^{rho:g}",
        "obrien-fleming": "O'Brien–Fleming-like 2 − 2Φ(z_{1−α/4}/√t) per tail",
    }.get(spending, "O'Brien–Fleming-like 2 − 2Φ(z_{1−α/2}/√t) two-sided")
    return GroupSequentialResult(
        look=look,
        z=tuple(float(v) for v in z),
        bounds=tuple(float(v) for v in bounds),
        information_fractions=tuple(float(v) for v in t),
        crossed_at=crossed_at,
        may_stop=crossed_at is not None,
        reason=reason,
        alpha=float(alpha),
        method=f"group sequential test, Lan–DeMets α-spending ({family}), two-sided symmetric bounds",
    )


# ------------------------------------------------------------------------------------------------------
# mixture SPRT


def _msprt_log_lr(estimate: float, variance: float, tau_sq: float) -> float:
    """``log Λ = ½ log(V/(V + τ²)) + τ² δ̂² / (2V(V + τ²))``."""
    return 0.5 * math.log(variance / (variance + tau_sq)) + tau_sq * estimate * estimate / (
        2.0 * variance * (variance + tau_sq)
    )


def _msprt_halfwidth(variance: float, tau_sq: float, alpha: float) -> float:
    """Half-width of ``{θ : Λ(θ) < 1/α}``: ``sqrt(V(V + τ²)/τ² · (2 log(1/α) + log((V + τ²)/V)))``."""
    return math.sqrt(
        variance * (variance + tau_sq) / tau_sq * (-2.0 * math.log(alpha) + math.log((variance + tau_sq) / variance))
    )


def msprt(
    control: Moments,
    treatment: Moments,
    *,
    tau: float,
    alpha: float = 0.05,
    history: Sequence[tuple[Moments, Moments]] = (),
) -> SequentialEffect:
    """Mixture sequential probability ratio test of a difference in means (normal mixture ``N(0, τ²)``).

    With ``δ̂ = m_t − m_c`` and ``V = se²`` its Welch (unpooled) variance, the likelihood ratio of
    ``δ̂ ~ N(θ, V)`` integrated over ``θ ~ N(0, τ²)`` against ``θ = 0`` is::

        Λ = ∫ φ((δ̂ − θ)/√V) / φ(δ̂/√V) dN(0, τ²)(θ) = sqrt(V/(V + τ²)) · exp( τ² δ̂² / (2V(V + τ²)) )

    The test rejects at the first look with ``Λ ≥ 1/α``. The always-valid p-value is the running minimum
    of ``min(1, 1/Λ)`` over the looks, and the always-valid interval the running intersection of
    ``δ̂ ± sqrt( V(V + τ²)/τ² · (2 log(1/α) + log((V + τ²)/V)) )`` (the ``θ`` the test would not reject).
    Pass the earlier looks in ``history`` to get these running values; without it they are those of the
    current look alone (still valid at this look, but not the sequential p-value).

    ``τ`` is on the scale of the difference and must be fixed before the data are seen; Johari et al.
    suggest a value near the effect sizes expected from past experiments.

    Args:
        control: Moments of the control arm at the current look.
        treatment: Moments of the treatment arm at the current look.
        tau: Standard deviation of the normal mixing distribution of the effect, ``τ > 0``.
        alpha: Significance level.
        history: Earlier looks as ``(control, treatment)`` pairs of cumulative moments, oldest first.

    Returns:
        The effect; ``evalue`` is ``Λ`` at the current look, ``may_stop`` true when the running p-value
        is at most ``alpha``.

    Raises:
        ParameterError: If ``tau`` is not positive, ``alpha`` is outside (0, 1), or the arms (or the
            entries of ``history``) are invalid.
        DataError: If both arms have zero variance at some look.

    References:
        Johari, Pekelis & Walsh (2017), "Peeking at A/B tests", KDD; Robbins (1970), "Statistical methods
        related to the law of the iterated logarithm", Ann. Math. Stat. 41; Zhao, Liu & Deb (2018), CIKM.
    """
    alpha = check_alpha(alpha)
    tau = _check_positive(tau, "tau")
    tau_sq = tau * tau
    looks: list[tuple[Moments, Moments]] = []
    for i, pair in enumerate(history):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ParameterError(f"history[{i}] must be a (control, treatment) pair of Moments, got {pair!r}.")
        looks.append(pair)
    looks.append((control, treatment))
    pvalue, low, high = 1.0, -math.inf, math.inf
    current: Effect | None = None
    log_lr = 0.0
    for c, t in looks:
        c, t = check_arms(c, t)
        effect = welch(c, t, alpha=alpha)
        variance = effect.se**2
        log_lr = _msprt_log_lr(effect.estimate, variance, tau_sq)
        pvalue = min(pvalue, 1.0 if log_lr <= 0.0 else math.exp(-log_lr))
        half = _msprt_halfwidth(variance, tau_sq, alpha)
        low, high = max(low, effect.estimate - half), min(high, effect.estimate + half)
        current = effect
    assert current is not None  # looks always holds the current look
    if low > high:
        raise DataError(
            "the running intersection of the mSPRT intervals is empty: the looks in history disagree beyond "
            "what sampling noise allows. Check that history holds cumulative moments of the same experiment."
        )
    # p ≤ α means Λ ≥ 1/α at some look, so 0 lay outside that look's interval and outside the intersection
    return _always_valid(
        current,
        statistic=current.statistic,
        bounds=(low, high),
        pvalue=pvalue,
        log_evalue=log_lr,
        alpha=alpha,
        method=f"mixture SPRT (normal mixture, τ={tau:g}), absolute difference, Welch SE, {len(looks)} look(s)",
        what="mSPRT interval",
        interval=None,
    )
