"""Score-type confidence intervals for rates: one rate, the difference and the ratio of two rates.

The Wald interval ``p̂ ± z·sqrt(p̂q̂/n)`` (and its two-sample form, the interval of :func:`abnb.stats.ztest`) is
too narrow for small counts and rates near 0 or 1, collapses to a point at 0 or n successes, and leaves
``[0, 1]`` (1 of 2 vs 2 of 2 successes: Wald upper end 1.19 for a difference of rates). The intervals here invert
score tests instead, and stay in the parameter space:

* :func:`wilson`: Wilson's score interval for one rate.
* :func:`proportion_difference`: Newcombe's hybrid score interval for ``p_t − p_c`` (default), the Agresti–Caffo
  interval, or the Wald interval; the unpooled Wald z-test p-value (the one :func:`abnb.stats.ztest` reports)
  beside it.
* :func:`proportion_ratio`: the Koopman / Miettinen–Nurminen score interval for ``p_t / p_c`` (default) or the
  log (Katz) interval.

Arms are :class:`~abnb.stats.Moments` of proportions (``Moments.from_counts(successes, n)``). scipy is imported
inside the functions so that ``import abnb`` stays light.

References:
    E. B. Wilson (1927), "Probable inference, the law of succession, and statistical inference", JASA 22, 209–212.
    R. G. Newcombe (1998), "Interval estimation for the difference between independent proportions: comparison
    of eleven methods", Statistics in Medicine 17, 873–890.
    A. Agresti & B. Caffo (2000), "Simple and effective confidence intervals for proportions and differences of
    proportions result from adding two successes and two failures", The American Statistician 54, 280–288.
    P. A. R. Koopman (1984), "Confidence intervals for the ratio of two binomial proportions", Biometrics 40,
    513–517. O. Miettinen & M. Nurminen (1985), "Comparative analysis of two rates", Statistics in Medicine 4,
    213–226. D. Katz, J. Baptista, S. P. Azen & M. C. Pike (1978), "Obtaining confidence intervals for the risk
    ratio in cohort studies", Biometrics 34, 469–474.
    M. W. Fagerland, S. Lydersen & P. Laake (2015), "Recommended confidence intervals for two independent binomial
    proportions", Statistical Methods in Medical Research 24, 224–254.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

from abnb._display import FlatResult, format_value, html_table
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import Interval, critical_value, normal_pvalue
from abnb.stats._effect import EstimateWithTest, IntervalOnDemand, ShortRepr
from abnb.stats._validate import as_count, check_choice
from abnb.stats.moments import Moments

__all__ = [
    "DifferenceMethod",
    "ProportionDifference",
    "ProportionInterval",
    "ProportionRatio",
    "RatioMethod",
    "proportion_difference",
    "proportion_ratio",
    "wilson",
]

DifferenceMethod = Literal["newcombe", "agresti-caffo", "wald"]
RatioMethod = Literal["score", "log"]
_DIFFERENCE_METHODS: tuple[DifferenceMethod, ...] = ("newcombe", "agresti-caffo", "wald")
_RATIO_METHODS: tuple[RatioMethod, ...] = ("score", "log")
_Comparison = TypeVar("_Comparison", "ProportionDifference", "ProportionRatio")

# ------------------------------------------------------------------------------------------------------
# validation and shared numerics


def _check_counts(successes: object, n: object) -> tuple[int, int]:
    count, units = as_count(successes, "successes"), as_count(n, "n")
    if units < 1:
        raise ParameterError(f"n must be >= 1 (the number of units), got {units}.")
    if not 0 <= count <= units:
        raise ParameterError(f"successes must lie in [0, n={units}], got {count}.")
    return count, units


def _check_arm(name: str, arm: object) -> tuple[float, int]:
    """``(successes, n)`` of a proportion arm; ``ParameterError`` naming ``name`` for anything else."""
    if not isinstance(arm, Moments):
        raise ParameterError(
            f"{name} must be abnb.stats.Moments of a proportion, got {type(arm).__name__}; "
            "build it with Moments.from_counts(successes, n)."
        )
    if not arm.proportion:
        raise ParameterError(
            f"{name} holds the moments of a mean (proportion=False); these intervals are for rates of 0/1 outcomes. "
            "Build it with Moments.from_counts(successes, n), or use abnb.stats.welch for a mean."
        )
    if arm.n < 1:
        raise ParameterError(f"{name} has n={arm.n} units; a rate needs at least 1.")
    return arm.sum, arm.n


def _wilson_bounds(successes: float, n: int, z: float) -> tuple[float, float]:
    """Wilson's interval ``(p̂ + z²/2n ± z·sqrt(p̂q̂/n + z²/4n²)) / (1 + z²/n)``, within ``[0, 1]`` and around ``p̂``."""
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    # exactly 0 at no success and 1 at all successes (the formula's value, which rounding misses by 1e-16)
    low = 0.0 if successes == 0 else min(max(center - half, 0.0), p)
    high = 1.0 if successes == n else max(min(center + half, 1.0), p)
    return low, high


def _fmt_rate(value: float) -> str:
    return f"{100.0 * value:.4g}%" if math.isfinite(value) else format_value(value)


# ------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, repr=False)
class ProportionInterval(ShortRepr, IntervalOnDemand, FlatResult):
    """One rate with its confidence interval.

    Attributes:
        estimate: The observed rate ``successes / n``.
        ci_low: Lower end of the ``1 − alpha`` interval.
        ci_high: Upper end of the ``1 − alpha`` interval.
        alpha: Significance level the interval was computed at.
        method: The interval's formula.
        successes: Number of successes.
        n: Number of units.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("estimate", "ci", "n", "method")

    estimate: float
    ci_low: float
    ci_high: float
    alpha: float
    method: str
    successes: int
    n: int

    def _repr_html_(self) -> str:
        rows = [
            ("rate", _fmt_rate(self.estimate)),
            (f"{100.0 * (1.0 - self.alpha):.4g}% CI", f"[{_fmt_rate(self.ci_low)}, {_fmt_rate(self.ci_high)}]"),
            ("successes / n", f"{self.successes} / {self.n}"),
            ("method", self.method),
        ]
        return html_table(rows, "abnb-proportion")


class _TwoRates(ShortRepr, IntervalOnDemand, FlatResult):
    """What the comparisons of two rates share: the HTML table's rows of the arms and the short repr."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("estimate", "ci", "pvalue", "method")

    estimate: float
    pvalue: float
    method: str
    control_mean: float
    treatment_mean: float
    control_n: int
    treatment_n: int

    def _table(self, effect: tuple[str, str], interval: str, test: str) -> str:
        """The HTML table: the ``effect`` row, the interval, the p-value named ``test``, the arms and the method."""
        rows = [
            effect,
            (f"{100.0 * (1.0 - self.alpha):.4g}% CI", interval),
            (test, format_value(self.pvalue)),
            ("control rate", f"{_fmt_rate(self.control_mean)} of {self.control_n}"),
            ("treatment rate", f"{_fmt_rate(self.treatment_mean)} of {self.treatment_n}"),
            ("method", self.method),
        ]
        return html_table(rows, "abnb-proportion")


@dataclass(frozen=True, repr=False)
class ProportionDifference(_TwoRates, EstimateWithTest):
    """The difference of two rates ``p_t − p_c`` with a confidence interval and the Wald z-test beside it.

    Attributes:
        estimate: ``p̂_t − p̂_c``.
        se: Unpooled standard error ``sqrt(p̂_t q̂_t/n_t + p̂_c q̂_c/n_c)`` of the Wald test (0 when both arms are all
            successes or all failures).
        ci_low: Lower end of the ``1 − alpha`` interval (by ``method``).
        ci_high: Upper end.
        pvalue: Two-sided p-value of the unpooled Wald z-test (as :func:`abnb.stats.ztest`); NaN when ``se`` is 0.
        statistic: The Wald z, ``estimate / se`` (NaN when ``se`` is 0).
        alpha: Significance level the interval was computed at.
        method: The interval's formula and the test's.
        control_mean: Control rate ``p̂_c``.
        treatment_mean: Treatment rate ``p̂_t``.
        control_n: Units in the control arm.
        treatment_n: Units in the treatment arm.
    """

    alpha: float
    method: str
    control_mean: float
    treatment_mean: float
    control_n: int
    treatment_n: int

    def _repr_html_(self) -> str:
        return self._table(
            ("difference", f"{100.0 * self.estimate:.4g} points"),
            f"[{100.0 * self.ci_low:.4g}, {100.0 * self.ci_high:.4g}] points",
            "p-value (Wald z)",
        )


@dataclass(frozen=True, repr=False)
class ProportionRatio(_TwoRates):
    """The ratio of two rates ``p_t / p_c`` with a confidence interval and the test of ratio 1 that it inverts.

    Attributes:
        estimate: ``p̂_t / p̂_c`` (``inf`` when the control has no success and the treatment has; NaN when neither).
        ci_low: Lower end of the ``1 − alpha`` interval (0 when the treatment has no success).
        ci_high: Upper end (``inf`` when the control has no success).
        pvalue: Two-sided p-value of ratio 1 by the test the interval inverts (score or log Wald), so the interval
            excludes 1 exactly when ``pvalue < alpha``; NaN when both arms are all failures or all successes.
        statistic: The test's z.
        alpha: Significance level the interval was computed at.
        method: The interval's and test's formula.
        control_mean: Control rate ``p̂_c``.
        treatment_mean: Treatment rate ``p̂_t``.
        control_n: Units in the control arm.
        treatment_n: Units in the treatment arm.
    """

    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    statistic: float
    alpha: float
    method: str
    control_mean: float
    treatment_mean: float
    control_n: int
    treatment_n: int

    def _repr_html_(self) -> str:
        return self._table(
            ("ratio", format_value(self.estimate)),
            f"[{format_value(self.ci_low)}, {format_value(self.ci_high)}]",
            "p-value (ratio 1)",
        )


def _compare(
    kind: type[_Comparison],
    estimate: float,
    statistic: float,
    interval: Interval,
    alpha: float,
    method: str,
    arms: tuple[tuple[float, int], tuple[float, int]],
    **extra: float,
) -> _Comparison:
    """A comparison of two rates: its interval at ``1 − alpha``, the two-sided normal p-value of ``statistic``.

    ``arms`` holds ``(rate, n)`` of the control then the treatment; ``extra`` holds the fields of ``kind`` only.
    """
    (p_c, n_c), (p_t, n_t) = arms
    low, high = interval(1.0 - alpha)
    return kind(
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        pvalue=normal_pvalue(statistic),
        statistic=statistic,
        alpha=alpha,
        method=method,
        control_mean=p_c,
        treatment_mean=p_t,
        control_n=n_c,
        treatment_n=n_t,
        _interval=interval,
        **extra,
    )


# ------------------------------------------------------------------------------------------------------
# one rate


def wilson(successes: int, n: int, *, alpha: float = 0.05) -> ProportionInterval:
    """Wilson's score interval for one rate.

    The set of ``p`` that the score test ``|p̂ − p| ≤ z·sqrt(p(1 − p)/n)`` does not reject, in closed form:

    ``(p̂ + z²/(2n) ± z·sqrt(p̂(1 − p̂)/n + z²/(4n²))) / (1 + z²/n)`` with ``z = z_{1−α/2}``.

    It lies within ``[0, 1]`` (clipped against rounding), is not a point at 0 or ``n`` successes (0 of 10:
    ``[0, 0.278]`` at 95 %), and keeps its coverage near nominal for small ``n`` where the Wald interval does not.

    Args:
        successes: Number of units with outcome 1 (``0 <= successes <= n``).
        n: Number of units (``n >= 1``).
        alpha: Significance level; the interval has coverage ``1 − alpha``.

    Returns:
        The rate and its interval; ``confidence_interval(level)`` recomputes it at any level.

    Raises:
        ParameterError: If ``n < 1``, ``successes`` is outside ``[0, n]``, either is not a whole number, or
            ``alpha`` is outside (0, 1).

    References:
        E. B. Wilson (1927), JASA 22, 209–212; A. Agresti & B. A. Coull (1998), "Approximate is better than 'exact'
        for interval estimation of binomial proportions", The American Statistician 52, 119–126.
    """
    count, units = _check_counts(successes, n)
    alpha = check_alpha(alpha)

    def interval(level: float) -> tuple[float, float]:
        return _wilson_bounds(count, units, critical_value(level))

    low, high = interval(1.0 - alpha)
    return ProportionInterval(
        estimate=count / units,
        ci_low=low,
        ci_high=high,
        alpha=alpha,
        method="Wilson score interval",
        successes=count,
        n=units,
        _interval=interval,
    )


# ------------------------------------------------------------------------------------------------------
# difference of two rates


def proportion_difference(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    method: DifferenceMethod = "newcombe",
) -> ProportionDifference:
    """Confidence interval for the difference of two rates ``δ = p_t − p_c``, with the Wald z-test beside it.

    With ``p̂ = x/n``, ``z = z_{1−α/2}`` and ``[l, u]`` the :func:`wilson` interval of each arm:

    * ``"newcombe"`` (default): Newcombe's hybrid score interval (method 10 of Newcombe 1998),
      ``[δ̂ − sqrt((p̂_t − l_t)² + (u_c − p̂_c)²), δ̂ + sqrt((u_t − p̂_t)² + (p̂_c − l_c)²)]``. It lies within
      ``[−1, 1]``, is not degenerate at 0 or ``n`` successes, and keeps coverage close to nominal for small counts.
    * ``"agresti-caffo"``: the Wald interval after adding one success and one failure to each arm,
      ``p̃ = (x + 1)/(n + 2)``: ``p̃_t − p̃_c ± z·sqrt(p̃_t q̃_t/(n_t + 2) + p̃_c q̃_c/(n_c + 2))`` (not clipped).
    * ``"wald"``: ``δ̂ ± z·sqrt(p̂_t q̂_t/n_t + p̂_c q̂_c/n_c)``, the interval of :func:`abnb.stats.ztest` (not clipped:
      1 of 2 vs 2 of 2 gives ``[−0.19, 1.19]``; Newcombe gives ``[−0.27, 0.91]``).

    Whatever the interval, ``statistic`` and ``pvalue`` are the unpooled two-sided Wald z-test of ``δ = 0``,
    ``z = δ̂ / sqrt(p̂_t q̂_t/n_t + p̂_c q̂_c/n_c)``, the test :func:`abnb.stats.ztest` reports (so a report shows the
    same p-value). Near 0 or ``n`` successes the score interval and the Wald p-value can disagree about
    significance; the interval is the one to trust there, or use :func:`abnb.stats.fisher`. When both arms are all
    failures or all successes the Wald test has no standard error: ``statistic`` and ``pvalue`` are NaN (and
    ``method`` says so) while the interval still exists.

    Args:
        control: Moments of the control arm's 0/1 outcomes (``Moments.from_counts(successes, n)``).
        treatment: Moments of the treatment arm's 0/1 outcomes.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        method: ``"newcombe"``, ``"agresti-caffo"`` or ``"wald"``.

    Returns:
        The difference, its interval and the Wald test; ``confidence_interval(level)`` recomputes the interval.

    Raises:
        ParameterError: If an arm is not ``Moments`` of a proportion (the message names it), ``alpha`` is outside
            (0, 1), or ``method`` is unknown.

    References:
        R. G. Newcombe (1998), Statistics in Medicine 17, 873–890 (method 10); A. Agresti & B. Caffo (2000), The
        American Statistician 54, 280–288; M. W. Fagerland, S. Lydersen & P. Laake (2015), Statistical Methods in
        Medical Research 24, 224–254.
    """
    x_c, n_c = _check_arm("control", control)
    x_t, n_t = _check_arm("treatment", treatment)
    alpha = check_alpha(alpha)
    method = check_choice("method", method, _DIFFERENCE_METHODS)
    p_c, p_t = x_c / n_c, x_t / n_t
    estimate = p_t - p_c

    def interval(level: float) -> tuple[float, float]:
        z = critical_value(level)
        if method == "newcombe":
            low_t, high_t = _wilson_bounds(x_t, n_t, z)
            low_c, high_c = _wilson_bounds(x_c, n_c, z)
            return (
                estimate - math.hypot(p_t - low_t, high_c - p_c),
                estimate + math.hypot(high_t - p_t, p_c - low_c),
            )
        add = 1.0 if method == "agresti-caffo" else 0.0
        a_c, a_t = (x_c + add) / (n_c + 2.0 * add), (x_t + add) / (n_t + 2.0 * add)
        center = a_t - a_c
        half = z * math.sqrt(a_t * (1.0 - a_t) / (n_t + 2.0 * add) + a_c * (1.0 - a_c) / (n_c + 2.0 * add))
        return center - half, center + half

    se = math.sqrt(p_t * (1.0 - p_t) / n_t + p_c * (1.0 - p_c) / n_c)
    names = {
        "newcombe": "Newcombe hybrid score interval (method 10)",
        "agresti-caffo": "Agresti–Caffo interval (+1 success, +1 failure per arm)",
        "wald": "Wald interval (unpooled SE)",
    }
    description = f"{names[method]} for p_t − p_c; p-value: two-proportion z-test (unpooled SE)"
    if se > 0.0:
        statistic = estimate / se
    else:
        statistic = math.nan
        description += (
            " undefined: both arms have zero variance (all successes or all failures); "
            "use abnb.stats.fisher for an exact p-value"
        )
    arms = (p_c, n_c), (p_t, n_t)
    return _compare(ProportionDifference, estimate, statistic, interval, alpha, description, arms, se=se)


# ------------------------------------------------------------------------------------------------------
# ratio of two rates


def _score_statistic(x_t: float, n_t: int, x_c: float, n_c: int, ratio: float) -> float:
    """Miettinen–Nurminen score statistic of ``p_t / p_c = ratio`` (with the ``n/(n − 1)`` variance factor).

    ``(p̂_t − φ p̂_c) / sqrt((p̃_t q̃_t/n_t + φ² p̃_c q̃_c/n_c)·n/(n − 1))`` with the constrained maximum likelihood
    estimates ``p̃_t = φ p̃_c`` and ``p̃_c`` the smaller root of ``nφ p² − (n_t φ + x_t + n_c + x_c φ) p + x = 0``
    (computed as ``2x/(−b + sqrt(b² − 4ac))``, free of cancellation). Decreasing in ``φ``; 0 where the numerator and
    the variance both vanish (both arms all failures or all successes at ``φ = 1``).
    """
    n, x = n_t + n_c, x_t + x_c
    a = n * ratio
    b = -(n_t * ratio + x_t + n_c + x_c * ratio)
    discriminant = max(b * b - 4.0 * a * x, 0.0)
    p_c = 2.0 * x / (-b + math.sqrt(discriminant)) if x > 0 else 0.0
    p_c = min(max(p_c, 0.0), 1.0)
    p_t = min(max(ratio * p_c, 0.0), 1.0)
    variance = (p_t * (1.0 - p_t) / n_t + ratio * ratio * p_c * (1.0 - p_c) / n_c) * n / (n - 1)
    numerator = x_t / n_t - ratio * x_c / n_c
    if variance <= 0.0:
        return 0.0 if abs(numerator) <= 1e-12 * max(1.0, ratio) else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


#: The score interval is searched over ``log φ`` in ``[−_LOG_LIMIT, _LOG_LIMIT]``; beyond it the end is 0 or ∞.
_LOG_LIMIT = 700.0


def _crossing(f: Callable[[float], float], start: float, target: float) -> float | None:
    """``u`` with ``f(u) = target`` for a decreasing ``f``, searched outward from ``start`` (None: no crossing)."""
    from scipy import optimize

    def g(u: float) -> float:
        return f(u) - target

    here = g(start)
    if here == 0.0:
        return start
    direction = 1.0 if here > 0.0 else -1.0  # decreasing: move up while above the target
    step, inner = 0.5, start
    while True:
        outer = start + direction * step
        if abs(outer) > _LOG_LIMIT:
            return None
        if (g(outer) > 0.0) != (here > 0.0):
            low, high = sorted((inner, outer))
            return float(optimize.brentq(g, low, high, xtol=1e-15, rtol=4.0 * 2.0**-52, maxiter=200))
        inner, step = outer, 2.0 * step


def _score_ratio_interval(x_t: float, n_t: int, x_c: float, n_c: int, z: float) -> tuple[float, float]:
    """The set ``{φ > 0 : |T(φ)| ≤ z}`` of the Miettinen–Nurminen score statistic, by root finding in ``log φ``."""
    if x_t == 0.0 and x_c == 0.0:
        return 0.0, math.inf

    def statistic(u: float) -> float:
        return _score_statistic(x_t, n_t, x_c, n_c, math.exp(u))

    start = math.log((x_t / n_t) / (x_c / n_c)) if x_t > 0.0 and x_c > 0.0 else 0.0
    # no treatment success: every small ratio is accepted (the lower end is 0); no control success: no upper end
    low = None if x_t == 0.0 else _crossing(statistic, start, z)
    high = None if x_c == 0.0 else _crossing(statistic, start, -z)
    return (0.0 if low is None else math.exp(low)), (math.inf if high is None else math.exp(high))


def proportion_ratio(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    method: RatioMethod = "score",
) -> ProportionRatio:
    """Confidence interval for the ratio of two rates ``φ = p_t / p_c`` (the relative lift is ``φ − 1``).

    * ``"score"`` (default): the Koopman (1984) score interval with Miettinen & Nurminen's (1985) variance factor
      ``n/(n − 1)``, ``n = n_t + n_c``: every ``φ`` that the score test of ``p_t = φ p_c`` does not reject,
      ``(p̂_t − φ p̂_c)² ≤ z² (p̃_t q̃_t/n_t + φ² p̃_c q̃_c/n_c)·n/(n − 1)``, where ``p̃_c`` (and ``p̃_t = φ p̃_c``) is
      the maximum likelihood estimate under that ratio, the smaller root of
      ``nφ p² − (n_t φ + x_t + n_c + x_c φ) p + (x_t + x_c) = 0``. Its ends are found by root finding in ``log φ``
      (the value of statsmodels' ``confint_proportions_2indep(compare="ratio", method="score")`` whenever
      neither arm is all successes; at the edges statsmodels' closed form picks a wrong root of Nam's cubic, e.g.
      1 of 2 vs 2 of 2: statsmodels ``[1.33, 13.2]``, which excludes ratios its own score test accepts, e.g. 1.2
      with p = 0.41; here ``[0.413, 13.2]``). The lower end is 0 when the treatment has no success and the upper
      end ``inf`` when the control has none. ``pvalue`` is the score test of ``φ = 1``, i.e. the pooled z-test
      with the ``n/(n − 1)`` factor, so the interval excludes 1 exactly when ``pvalue < alpha``.
    * ``"log"``: Katz's interval ``exp(log φ̂ ± z·sqrt(1/x_t − 1/n_t + 1/x_c − 1/n_c))`` and the Wald test of
      ``log φ = 0`` it inverts. Undefined with a zero count (DataError; use ``"score"``).

    Args:
        control: Moments of the control arm's 0/1 outcomes (``Moments.from_counts(successes, n)``).
        treatment: Moments of the treatment arm's 0/1 outcomes.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        method: ``"score"`` or ``"log"``.

    Returns:
        The ratio, its interval and the test of ratio 1; ``confidence_interval(level)`` recomputes the interval.

    Raises:
        ParameterError: If an arm is not ``Moments`` of a proportion (the message names it), ``alpha`` is outside
            (0, 1), or ``method`` is unknown.
        DataError: For ``method="log"`` when an arm has no success.

    References:
        P. A. R. Koopman (1984), Biometrics 40, 513–517; O. Miettinen & M. Nurminen (1985), Statistics in
        Medicine 4, 213–226; J. Nam (1995), "Confidence limits for the ratio of two binomial proportions based on
        likelihood scores: non-iterative method", Biometrical Journal 37, 375–379; D. Katz et al. (1978),
        Biometrics 34, 469–474; M. W. Fagerland, S. Lydersen & P. Laake (2015), Statistical Methods in Medical
        Research 24, 224–254.
    """
    x_c, n_c = _check_arm("control", control)
    x_t, n_t = _check_arm("treatment", treatment)
    alpha = check_alpha(alpha)
    method = check_choice("method", method, _RATIO_METHODS)
    p_c, p_t = x_c / n_c, x_t / n_t
    estimate = p_t / p_c if p_c > 0.0 else (math.inf if p_t > 0.0 else math.nan)
    interval: Interval
    if method == "score":

        def interval(level: float) -> tuple[float, float]:
            return _score_ratio_interval(x_t, n_t, x_c, n_c, critical_value(level))

        degenerate = x_t + x_c in (0.0, float(n_t + n_c))  # pooled rate 0 or 1: no variance under ratio 1
        statistic = math.nan if degenerate else _score_statistic(x_t, n_t, x_c, n_c, 1.0)
        description = (
            "Koopman / Miettinen–Nurminen score interval for p_t / p_c (variance factor n/(n − 1)); "
            "p-value: score test of ratio 1"
        )
    else:
        if x_t == 0.0 or x_c == 0.0:
            empty = "control" if x_c == 0.0 else "treatment"
            raise DataError(
                f"the log (Katz) interval for p_t / p_c needs successes in both arms, but the {empty} arm has none "
                "(log 0); use method='score', which handles zero counts."
            )
        log_ratio = math.log(p_t / p_c)
        se_log = math.sqrt(max(1.0 / x_t - 1.0 / n_t + 1.0 / x_c - 1.0 / n_c, 0.0))

        def interval(level: float) -> tuple[float, float]:
            half = critical_value(level) * se_log
            return math.exp(log_ratio - half), math.exp(log_ratio + half)

        statistic = log_ratio / se_log if se_log > 0.0 else math.nan
        description = "log (Katz) interval for p_t / p_c; p-value: Wald test of log ratio 0"
    if math.isnan(statistic):
        description += " undefined: both arms are all successes or all failures"
    arms = (p_c, n_c), (p_t, n_t)
    return _compare(ProportionRatio, estimate, statistic, interval, alpha, description, arms)
