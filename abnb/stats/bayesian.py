"""Bayesian comparison of two arms: the chance that the treatment beats the control, and what choosing costs.

Three posteriors, all computed from sufficient statistics without Monte Carlo:

* ``"beta"``: exact Beta–Binomial posteriors of two conversion rates; the probability, the expected losses
  and the credible interval of ``p_t − p_c`` come from one-dimensional numerical quadrature.
* ``"normal"``: a normal approximation of the absolute difference in means, ``m_t − m_c``.
* ``"lift"``: GrowthBook's convention, a normal approximation of the relative lift ``(m_t − m_c) / |m_c|`` with the
  delta-method variance, optionally combined with a normal prior on the lift.

The three answer slightly different questions (a difference of rates, a difference of means, a ratio), which
is why their chances differ on the same data; the cookbook explains how much and why.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from abnb._display import FlatResult, html_table
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import check_arms, critical_value
from abnb.stats._effect import ShortRepr, fmt
from abnb.stats._validate import check_choice
from abnb.stats.moments import Moments

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["BayesMethod", "BayesResult", "chance_to_beat"]

BayesMethod = Literal["beta", "normal", "lift"]
_METHODS: tuple[BayesMethod, ...] = ("beta", "normal", "lift")

# Tail mass left out of each quadrature range; far below the 1e-9 accuracy the results aim for.
_TAIL = 1e-15

#: A posterior summary of the effect: chance, loss of shipping, loss of keeping, interval ends, mean and sd.
_Summary = tuple[float, float, float, float, float, float, float]


@dataclass(frozen=True, repr=False)
class BayesResult(ShortRepr, FlatResult):
    """Posterior summary of the treatment effect.

    Attributes:
        chance: Posterior probability that the treatment is better, ``P(effect > 0)``.
        expected_loss: Expected loss of shipping the treatment, ``E[max(−effect, 0)]``: how much is lost, on
            average over the posterior, if the treatment is in fact worse.
        expected_loss_control: Expected loss of keeping the control, ``E[max(effect, 0)]``.
        ci_low: Lower end of the equal-tailed credible interval of the effect.
        ci_high: Upper end of the equal-tailed credible interval of the effect.
        estimate: Posterior mean of the effect.
        sd: Posterior standard deviation of the effect.
        alpha: The credible interval ``[ci_low, ci_high]`` holds posterior mass ``1 − alpha``.
        method: The posterior used.
        relative: Whether the effect is the relative lift ``(m_t − m_c) / |m_c|`` (``"lift"``) rather than the
            absolute difference ``m_t − m_c`` (``"beta"`` and ``"normal"``). Losses and the interval are in
            the same units as the effect.
        control_mean: Observed mean (rate) of the control arm.
        treatment_mean: Observed mean (rate) of the treatment arm.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("chance", "expected_loss", "ci", "method")

    chance: float
    expected_loss: float
    expected_loss_control: float
    ci_low: float
    ci_high: float
    estimate: float
    sd: float
    alpha: float
    method: str
    relative: bool
    control_mean: float
    treatment_mean: float

    def _repr_html_(self) -> str:
        pct = self.relative
        ci = f"[{fmt(self.ci_low, percent=pct)}, {fmt(self.ci_high, percent=pct)}]"
        rows = [
            ("chance to beat control", fmt(self.chance, percent=True)),
            ("lift" if pct else "difference", fmt(self.estimate, percent=pct)),
            (f"{fmt(1.0 - self.alpha, percent=True)} credible interval", ci),
            ("expected loss (ship treatment)", fmt(self.expected_loss, percent=pct)),
            ("expected loss (keep control)", fmt(self.expected_loss_control, percent=pct)),
            ("posterior sd", fmt(self.sd, percent=pct)),
            ("control mean", fmt(self.control_mean)),
            ("treatment mean", fmt(self.treatment_mean)),
            ("method", self.method),
        ]
        return html_table(rows, "abnb-bayes")


# ------------------------------------------------------------------------------------------------------
# validation


def _check_pair(prior: object, names: tuple[str, str]) -> tuple[float, float]:
    if not isinstance(prior, tuple | list) or len(prior) != 2:
        raise ParameterError(f"prior must be a pair ({names[0]}, {names[1]}), got {prior!r}.")
    values: list[float] = []
    for value in prior:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            raise ParameterError(f"prior ({names[0]}, {names[1]}) must be finite numbers, got {prior!r}.")
        values.append(float(value))
    return values[0], values[1]


# ------------------------------------------------------------------------------------------------------
# beta posteriors


def _quad(function: Callable[[float], float], low: float, high: float, center: float) -> float:
    from scipy import integrate

    points = [center] if low < center < high else None
    value, _ = integrate.quad(function, low, high, points=points, epsabs=1e-14, epsrel=1e-12, limit=500)
    return float(value)


_LARGE_SHAPE = 1000.0
#: Above this ``min(α, β)`` of the (narrower) control posterior, its density is not evaluated at all: with shapes of
#: 10⁷ and more, ``exp((α−1)·log x + (β−1)·log(1−x) − log B(α, β))`` cancels terms of ~10⁷ and keeps few digits,
#: and QUADPACK reports round-off. The expectations are then taken over the control's quantile function instead
#: (see :func:`_beta_posterior_huge_control`).
_HUGE_SHAPE = 1e7


@functools.cache
def _unit_gauss_hermite(points: int = 160) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Probabilists' Gauss–Hermite nodes within ±10 (the rest weigh < 1e-22) and weights summing to 1."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    keep = np.abs(nodes) <= 10.0
    return nodes[keep], weights[keep] / math.sqrt(2.0 * math.pi)


def _beta_posterior_huge_control(
    control: tuple[float, float], treatment: tuple[float, float], level: float
) -> _Summary:
    """:func:`_beta_posterior` when the control posterior is the narrower one and has huge shapes (≥ 1e7).

    Every quantity is an expectation over ``p_c ~ Beta(α_c, β_c)``; with ``Z ~ N(0, 1)``, ``p_c = F_c⁻¹(Φ(Z))``
    exactly, so ``E[g(p_c)] = E[g(F_c⁻¹(Φ(Z)))]`` is taken by Gauss–Hermite quadrature in ``Z`` (the map is close
    to linear for large shapes, so the rule converges fast). No density is evaluated; the treatment enters through
    its regularised incomplete beta function only:

    * ``P(p_t > p_c) = E[S_t(p_c)]``;
    * loss of choosing treatment ``E[(p_c − p_t)⁺] = E[p_c·F_t(p_c) − μ_t·F_t⁺(p_c)]`` (``F_t⁺`` the CDF of
      ``Beta(α_t + 1, β_t)``), of choosing control ``E[(p_t − p_c)⁺] = E[μ_t·S_t⁺(p_c) − p_c·S_t(p_c)]``;
    * ``P(p_t − p_c ≤ d) = E[F_t(p_c + d)]``, inverted by Brent's method for the interval.
    """
    from scipy import optimize, special

    a_c, b_c = control
    a_t, b_t = treatment
    mu_c, mu_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    var_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1.0))
    var_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1.0))
    z, weights = _unit_gauss_hermite()
    # Lower tail from betaincinv, upper tail from betainccinv: Φ(z) rounds to 1 for z ≳ 8.3.
    nodes = np.where(
        z <= 0.0,
        special.betaincinv(a_c, b_c, special.ndtr(np.minimum(z, 0.0))),
        special.betainccinv(a_c, b_c, special.ndtr(-np.maximum(z, 0.0))),
    )
    survival_t = special.betaincc(a_t, b_t, nodes)
    chance = min(max(float(np.dot(weights, survival_t)), 0.0), 1.0)
    lower_t = nodes * special.betainc(a_t, b_t, nodes) - mu_t * special.betainc(a_t + 1.0, b_t, nodes)
    upper_t = mu_t * special.betaincc(a_t + 1.0, b_t, nodes) - nodes * survival_t
    loss_treatment = max(float(np.dot(weights, lower_t)), 0.0)
    loss_control = max(float(np.dot(weights, upper_t)), 0.0)

    def cdf(d: float) -> float:
        return float(np.dot(weights, special.betainc(a_t, b_t, np.clip(nodes + d, 0.0, 1.0))))

    mean, sd = mu_t - mu_c, math.sqrt(var_t + var_c)
    span = 40.0 * sd

    def quantile(q: float) -> float:
        guess = mean + sd * float(special.ndtri(q))
        return float(optimize.brentq(lambda d: cdf(d) - q, guess - span, guess + span, xtol=1e-15, rtol=1e-12))

    tail = 0.5 * (1.0 - level)
    return chance, loss_treatment, loss_control, quantile(tail), quantile(1.0 - tail), mean, sd


@functools.cache
def _unit_gauss_legendre(points: int = 128) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    nodes, weights = np.polynomial.legendre.leggauss(points)
    return nodes, weights


def _gauss_legendre_nodes(low: float, middle: float, high: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes and weights of a 128-point Gauss–Legendre rule on ``[low, middle]`` and on ``[middle, high]``."""
    unit_nodes, unit_weights = _unit_gauss_legendre()
    parts = [(low, middle), (middle, high)] if low < middle < high else [(low, high)]
    nodes = [0.5 * (b - a) * unit_nodes + 0.5 * (b + a) for a, b in parts]
    weights = [0.5 * (b - a) * unit_weights for a, b in parts]
    return np.concatenate(nodes), np.concatenate(weights)


def _beta_posterior(control: Moments, treatment: Moments, prior: tuple[float, float], level: float) -> _Summary:
    """Chance, losses, interval, mean and sd of ``p_t − p_c`` under independent Beta posteriors.

    The integrals run over the control posterior's density against the treatment's (smooth) distribution
    function, which is accurate when the control posterior is the narrower one. When the treatment posterior is
    narrower (e.g. 10¹² treatment visitors against 3,662 in control, where the treatment CDF is a step across the
    control's support and QUADPACK warns), the arms are swapped and the results mapped back:
    ``P(p_t > p_c) = 1 − P(p_c > p_t)``, the two losses exchange, and the interval of ``−D`` is negated.
    """
    from scipy import optimize, special

    a0, b0 = prior
    a_c, b_c = a0 + control.sum, b0 + control.n - control.sum
    a_t, b_t = a0 + treatment.sum, b0 + treatment.n - treatment.sum
    mu_c, mu_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    var_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1.0))
    var_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1.0))
    if var_t < 0.25 * var_c:
        chance_s, loss_t_s, loss_c_s, low_s, high_s, mean_s, sd_s = _beta_posterior(treatment, control, prior, level)
        return 1.0 - chance_s, loss_c_s, loss_t_s, -high_s, -low_s, -mean_s, sd_s
    if min(a_c, b_c) >= _HUGE_SHAPE:
        return _beta_posterior_huge_control((a_c, b_c), (a_t, b_t), level)
    low_c, high_c = float(special.betaincinv(a_c, b_c, _TAIL)), float(special.betaincinv(a_c, b_c, 1.0 - _TAIL))
    low_t, high_t = float(special.betaincinv(a_t, b_t, _TAIL)), float(special.betaincinv(a_t, b_t, 1.0 - _TAIL))

    log_norm_c, log_norm_t = float(special.betaln(a_c, b_c)), float(special.betaln(a_t, b_t))

    def pdf(x: Any, a: float, b: float, log_norm: float) -> Any:
        inside = (x > 0.0) & (x < 1.0)
        safe = np.where(inside, x, 0.5)
        return np.where(inside, np.exp((a - 1.0) * np.log(safe) + (b - 1.0) * np.log1p(-safe) - log_norm), 0.0)

    # Large shapes (millions of units) make the posteriors near-normal bells on [low, high]: a fixed Gauss–Legendre
    # rule is then exact to rounding and adaptive quadrature only reports round-off; small shapes keep QUADPACK.
    large = min(a_c, b_c, a_t, b_t) >= _LARGE_SHAPE

    def integrate(function: Callable[[Any], Any], low: float, high: float, center: float) -> float:
        if large:
            nodes, weights = _gauss_legendre_nodes(low, center, high)
            return float(np.dot(weights, function(nodes)))
        return _quad(lambda x: float(function(x)), low, high, center)

    # P(p_t > p_c) = ∫ f_c(x) · P(p_t > x) dx
    chance = integrate(lambda x: pdf(x, a_c, b_c, log_norm_c) * special.betaincc(a_t, b_t, x), low_c, high_c, mu_c)
    chance = min(max(chance, 0.0), 1.0)  # a probability; quadrature may overshoot 1 by rounding (~1e-12)

    # E[(Y − x)⁺] for Y ~ Beta(a, b) equals E[Y]·S(x; a + 1, b) − x·S(x; a, b), S the survival function.
    def upper_partial(x: Any, a: float, b: float) -> Any:
        return a / (a + b) * special.betaincc(a + 1.0, b, x) - x * special.betaincc(a, b, x)

    loss_treatment = integrate(lambda x: pdf(x, a_t, b_t, log_norm_t) * upper_partial(x, a_c, b_c), low_t, high_t, mu_t)
    loss_control = integrate(lambda x: pdf(x, a_c, b_c, log_norm_c) * upper_partial(x, a_t, b_t), low_c, high_c, mu_c)

    # CDF of D = p_t − p_c: P(D ≤ d) = ∫ f_c(x) · F_t(x + d) dx, inverted with Brent's method. The ~30 CDF
    # evaluations use one fixed Gauss–Legendre rule on each side of the control's mode region (vectorised; the
    # integrand is smooth on [low_c, high_c]), which is accurate far beyond the 1e-10 the root search asks for.
    nodes, weights = _gauss_legendre_nodes(low_c, mu_c, high_c)
    density = pdf(nodes, a_c, b_c, log_norm_c) * weights

    def cdf(d: float) -> float:
        return float(np.dot(density, special.betainc(a_t, b_t, np.clip(nodes + d, 0.0, 1.0))))

    mean, sd = mu_t - mu_c, math.sqrt(var_t + var_c)
    bracket_low, bracket_high = low_t - high_c, high_t - low_c

    def quantile(q: float) -> float:
        # Bracket the root around the normal approximation first (a few hundredths of an sd off for large
        # posteriors), widening until the CDF changes sign, so Brent's method starts close and needs fewer CDFs.
        def excess(d: float) -> float:
            return cdf(d) - q

        guess = mean + sd * float(special.ndtri(q))
        width = 0.05 * sd
        low, high = max(guess - width, bracket_low), min(guess + width, bracket_high)
        while excess(low) > 0.0 and low > bracket_low:
            low, width = max(guess - 4.0 * width, bracket_low), 4.0 * width
        while excess(high) < 0.0 and high < bracket_high:
            high, width = min(guess + 4.0 * width, bracket_high), 4.0 * width
        return float(optimize.brentq(excess, low, high, xtol=1e-13, rtol=1e-12))

    tail = 0.5 * (1.0 - level)
    return chance, loss_treatment, loss_control, quantile(tail), quantile(1.0 - tail), mean, sd


# ------------------------------------------------------------------------------------------------------
# normal posteriors


def _normal_summary(mean: float, sd: float, level: float) -> _Summary:
    """Chance, losses, interval, mean and sd of a N(mean, sd²) effect, in closed form."""
    from scipy import special

    z = mean / sd
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    chance = float(special.ndtr(z))
    # E[max(−X, 0)] = sd·φ(z) − mean·Φ(−z);  E[max(X, 0)] = sd·φ(z) + mean·Φ(z).
    loss_treatment = sd * density - mean * float(special.ndtr(-z))
    loss_control = sd * density + mean * chance
    half = critical_value(level) * sd
    return chance, max(loss_treatment, 0.0), max(loss_control, 0.0), mean - half, mean + half, mean, sd


def _combine(estimate: float, variance: float, prior: tuple[float, float] | None) -> tuple[float, float]:
    """Precision-weighted combination of the data ``N(estimate, variance)`` with a normal prior."""
    if prior is None:
        return estimate, variance
    prior_mean, prior_variance = prior
    precision = 1.0 / variance + 1.0 / prior_variance
    return (estimate / variance + prior_mean / prior_variance) / precision, 1.0 / precision


def chance_to_beat(
    control: Moments,
    treatment: Moments,
    *,
    method: BayesMethod = "beta",
    prior: tuple[float, float] | None = None,
    alpha: float = 0.05,
) -> BayesResult:
    """Posterior probability that the treatment beats the control, the expected losses and a credible interval.

    ``method="beta"`` (proportions only): with a ``Beta(α0, β0)`` prior (default ``Beta(1, 1)``, uniform) and
    ``s`` successes out of ``n``, each rate has the posterior ``Beta(α0 + s, β0 + n − s)``. Then, by
    one-dimensional quadrature (no sampling),

    * ``chance = P(p_t > p_c) = ∫ f_c(x) (1 − F_t(x)) dx`` (equal to Evan Miller's closed-form sum when the
      posterior parameters are whole numbers),
    * ``expected_loss = E[max(p_c − p_t, 0)] = ∫ f_t(x) (μ_c S(x; α_c + 1, β_c) − x S(x; α_c, β_c)) dx``,
      with ``S`` the Beta survival function, and symmetrically ``expected_loss_control``,
    * the credible interval of ``p_t − p_c`` inverts ``P(p_t − p_c ≤ d) = ∫ f_c(x) F_t(x + d) dx``.

    ``method="normal"``: the absolute difference ``d = m_t − m_c`` is ``N(d, v_t/n_t + v_c/n_c)`` (unpooled);
    ``method="lift"``: the relative lift ``L = (m_t − m_c)/|m_c|`` (``m_t/m_c − 1`` for a positive control mean;
    with the difference's sign for a negative one, as GrowthBook now does) is
    ``N(L, v_t/(n_t m_c²) + m_t² v_c/(n_c m_c⁴))``
    (delta method, GrowthBook's convention). Either may be combined with a normal prior ``(mean, variance)``
    on the effect by precision weighting (``None``: flat prior, the data alone). For a ``N(μ, σ²)`` posterior,
    ``chance = Φ(μ/σ)``, ``expected_loss = σφ(μ/σ) − μΦ(−μ/σ)``, ``expected_loss_control = σφ(μ/σ) + μΦ(μ/σ)``
    and the interval is ``μ ± z σ``. Proportions use the Bernoulli variance ``p(1 − p)``.

    Args:
        control: Moments of the control arm.
        treatment: Moments of the treatment arm.
        method: ``"beta"``, ``"normal"`` or ``"lift"``.
        prior: For ``"beta"`` the pair ``(α0, β0)`` (both > 0; default ``(1, 1)``); for ``"normal"`` and
            ``"lift"`` the pair ``(mean, variance)`` of a normal prior on the effect (default ``None``, flat).
        alpha: The equal-tailed credible interval holds posterior mass ``1 − alpha``.

    Returns:
        The posterior summary; losses and interval are in the units of the effect (rate or mean difference,
        or lift for ``"lift"``).

    Raises:
        ParameterError: If an arm is not ``Moments`` or too small, ``method`` is unknown, ``"beta"`` is asked
            for a non-proportion, the prior is malformed, or ``alpha`` is outside ``(1e-10, 0.5]``.
        DataError: If the posterior is degenerate (zero variance in both arms, or a control mean of 0 for
            ``"lift"``).

    References:
        E. Miller (2015), "Formulas for Bayesian A/B Testing", evanmiller.org/bayesian-ab-testing.html;
        C. Stucchio (2015), "Bayesian A/B Testing at VWO"; GrowthBook, "Bayesian statistics"
        (docs.growthbook.io/statistics/bayesian).
    """
    method = check_choice("method", method, _METHODS)
    alpha = check_alpha(alpha)
    level = 1.0 - alpha
    control, treatment = check_arms(control, treatment, minimum=1 if method == "beta" else 2, purpose="this method")
    if method == "beta":
        summary, description = _beta_summary(control, treatment, prior, level)
    else:
        summary, description = _normal_posterior(control, treatment, method == "lift", prior, level)
    chance, loss_t, loss_c, low, high, mean, sd = summary
    return BayesResult(
        chance=chance,
        expected_loss=loss_t,
        expected_loss_control=loss_c,
        ci_low=low,
        ci_high=high,
        estimate=mean,
        sd=sd,
        alpha=alpha,
        method=description,
        relative=method == "lift",
        control_mean=control.mean,
        treatment_mean=treatment.mean,
    )


def _beta_summary(control: Moments, treatment: Moments, prior: object, level: float) -> tuple[_Summary, str]:
    """The summary of ``p_t − p_c`` under Beta posteriors (prior ``(α0, β0)``, default uniform) and its description."""
    if not control.proportion:
        raise ParameterError(
            "method='beta' needs proportions (Moments.from_counts(successes, n)); "
            "use method='normal' or method='lift' for means."
        )
    a0, b0 = (1.0, 1.0) if prior is None else _check_pair(prior, ("alpha0", "beta0"))
    if a0 <= 0 or b0 <= 0:
        raise ParameterError(f"the Beta prior parameters must be > 0, got ({a0!r}, {b0!r}).")
    summary = _beta_posterior(control, treatment, (a0, b0), level)
    return summary, f"Beta-Binomial posteriors, Beta({a0:g}, {b0:g}) prior, exact quadrature"


def _normal_posterior(
    control: Moments, treatment: Moments, relative: bool, prior: object, level: float
) -> tuple[_Summary, str]:
    """The summary of the normal posterior of the difference (or the lift), with an optional normal prior."""
    normal_prior: tuple[float, float] | None = None
    if prior is not None:
        normal_prior = _check_pair(prior, ("mean", "variance"))
        if normal_prior[1] <= 0:
            raise ParameterError(f"the normal prior variance must be > 0, got {normal_prior[1]!r}.")
    m_c, m_t = control.mean, treatment.mean
    v_c, v_t, n_c, n_t = control.variance, treatment.variance, control.n, treatment.n
    if not relative:
        estimate, variance = m_t - m_c, v_t / n_t + v_c / n_c
        description = "normal approximation of the absolute difference (unpooled variance)"
    else:
        if m_c == 0.0:
            raise DataError(
                "the relative lift (treatment − control)/|control| is undefined because the control mean is 0; "
                "use method='normal' for the absolute difference."
            )
        estimate = treatment.difference_from(control) / abs(m_c)
        variance = v_t / (n_t * m_c**2) + m_t**2 * v_c / (n_c * m_c**4)
        description = "normal approximation of the relative lift (t − c)/|c| (delta-method variance)"
    if variance == 0.0:
        raise DataError(
            "the effect has zero sampling variance (every unit within each arm has the same value), so its "
            f"posterior is degenerate (control {m_c:.6g}, treatment {m_t:.6g}); check the metric definition."
        )
    mean, variance = _combine(estimate, variance, normal_prior)
    if normal_prior is None:
        description += ", flat prior"
    else:
        description += f", N({normal_prior[0]:g}, {normal_prior[1]:g}) prior"
    return _normal_summary(mean, math.sqrt(variance), level), description
