"""Many metrics, many arms: adjusted p-values, and one-sided non-inferiority tests for guardrails.

:func:`adjust` controls the family-wise error rate (Bonferroni, Holm, Hochberg) or the false discovery rate
(Benjamini–Hochberg, Benjamini–Yekutieli) over a family of p-values. :func:`noninferiority` asks the
guardrail question: is the treatment *not worse* than the control by more than a tolerated margin?
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from abnb._display import FlatResult, html_table
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import check_arms, fieller_roots
from abnb.stats._effect import ConfidenceInterval, Effect, ShortRepr, fmt
from abnb.stats._validate import check_choice, float_vector
from abnb.stats.frequentist import welch_df
from abnb.stats.moments import Moments

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["AdjustMethod", "Direction", "NonInferiorityResult", "adjust", "adjusted_interval", "noninferiority"]

AdjustMethod = Literal["bonferroni", "holm", "hochberg", "bh", "by"]
Direction = Literal["increase", "decrease"]
_ADJUST_METHODS: tuple[AdjustMethod, ...] = ("bonferroni", "holm", "hochberg", "bh", "by")


def adjust(pvalues: ArrayLike, *, method: AdjustMethod) -> NDArray[np.float64]:
    """Adjust a family of ``m`` p-values for multiple testing; reject where the adjusted p-value ≤ α.

    With the p-values sorted ascending, ``p_(1) ≤ … ≤ p_(m)``, the adjusted values are (capped at 1):

    * ``"bonferroni"``: ``m·p_i`` (family-wise error rate, any dependence);
    * ``"holm"``: ``max_{j ≤ i} (m − j + 1)·p_(j)`` (step-down; FWER, any dependence);
    * ``"hochberg"``: ``min_{j ≥ i} (m − j + 1)·p_(j)`` (Simes–Hochberg step-up; FWER under independence or
      positive dependence);
    * ``"bh"``: ``min_{j ≥ i} m·p_(j)/j`` (Benjamini–Hochberg; false discovery rate, independence or positive
      dependence);
    * ``"by"``: ``min_{j ≥ i} c(m)·m·p_(j)/j`` with ``c(m) = Σ_{k=1}^{m} 1/k`` (Benjamini–Yekutieli; FDR under
      any dependence).

    The results equal ``statsmodels.stats.multitest.multipletests`` with ``bonferroni``, ``holm``,
    ``simes-hochberg``, ``fdr_bh`` and ``fdr_by``. Tied p-values get equal adjusted values.

    Args:
        pvalues: The raw p-values, a non-empty one-dimensional sequence of numbers in [0, 1].
        method: The adjustment, one of ``"bonferroni"``, ``"holm"``, ``"hochberg"``, ``"bh"``, ``"by"``.

    Returns:
        The adjusted p-values, a float array in the order of the input.

    Raises:
        ParameterError: If ``method`` is unknown, or the p-values are empty, not one-dimensional, not numbers,
            not finite or outside [0, 1].

    References:
        S. Holm (1979), Scand. J. Statist. 6; Y. Hochberg (1988), Biometrika 75; Y. Benjamini & Y. Hochberg
        (1995), JRSS B 57; Y. Benjamini & D. Yekutieli (2001), Ann. Statist. 29.
    """
    method = check_choice("method", method, _ADJUST_METHODS)
    p = float_vector(pvalues, "pvalues", ParameterError)
    if p.size == 0:
        raise ParameterError("pvalues is empty; pass at least one p-value.")
    bad = ~np.isfinite(p) | (p < 0.0) | (p > 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ParameterError(
            f"pvalues must be finite numbers in [0, 1]; {int(bad.sum())} are not (first at position {first}: "
            f"{p[first]!r})."
        )
    m = p.size
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    ordered = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(ordered * np.arange(m, 0, -1))
    elif method == "hochberg":
        adjusted = np.minimum.accumulate((ordered * np.arange(m, 0, -1))[::-1])[::-1]
    else:
        scaled = ordered * m / np.arange(1, m + 1)
        if method == "by":
            scaled = scaled * float(np.sum(1.0 / np.arange(1, m + 1)))
        adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    result = np.empty(m, dtype=np.float64)
    result[order] = np.minimum(adjusted, 1.0)
    return result


# ------------------------------------------------------------------------------------------------------
# non-inferiority


def adjusted_interval(effect: Effect, pvalue_adjusted: float) -> ConfidenceInterval:
    """The confidence interval of ``effect`` widened to agree with a multiplicity-adjusted p-value.

    The effect's own interval (its formula: symmetric, log-ratio or Fieller) at the level whose critical value
    is ``q' = F⁻¹(1 − α/2)·|z|/q_a``, with F the effect's reference distribution (Student t with its df, or
    normal), ``z`` its test statistic and ``q_a = F⁻¹(1 − p_adj/2)``: the interval excludes 0 exactly when
    ``p_adj < α``, so interval and adjusted test never disagree. For a symmetric interval this is GrowthBook's
    back-out ``estimate ± F⁻¹(1 − α/2)·|estimate|/q_a``; for Fieller's, whose test is the test of the difference,
    the same rule holds on the ratio scale. For ``p_adj = 1`` the interval is unbounded.

    Args:
        effect: An effect (absolute difference, or relative lift with any interval).
        pvalue_adjusted: Its adjusted p-value (from :func:`adjust`), at least its raw p-value.

    Raises:
        ParameterError: ``pvalue_adjusted`` is not in [0, 1].
    """
    from scipy.special import ndtr, ndtri, stdtr, stdtrit

    if not 0 <= pvalue_adjusted <= 1 or math.isnan(pvalue_adjusted):
        raise ParameterError(f"pvalue_adjusted must lie in [0, 1], got {pvalue_adjusted!r}.")

    def quantile(tail: float) -> float:
        return float(ndtri(tail) if effect.df is None else stdtrit(effect.df, tail))

    unbounded = ConfidenceInterval(-math.inf, math.inf)
    if pvalue_adjusted >= 1:
        return unbounded
    q_adjusted = quantile(1 - pvalue_adjusted / 2)
    if q_adjusted <= 0 or effect.statistic == 0 or not math.isfinite(effect.statistic):
        return unbounded
    critical = quantile(1 - effect.alpha / 2) * abs(effect.statistic) / q_adjusted
    level = 2.0 * float(ndtr(critical) if effect.df is None else stdtr(effect.df, critical)) - 1.0
    if not 0.0 < level < 1.0:
        return unbounded
    return effect.confidence_interval(level)


@dataclass(frozen=True, repr=False)
class NonInferiorityResult(ShortRepr, FlatResult):
    """Result of a one-sided non-inferiority test of a guardrail metric.

    Attributes:
        estimate: Difference ``m_t − m_c`` (or lift ``(m_t − m_c)/|m_c|`` when ``relative``).
        margin: Tolerated degradation, in the units of ``estimate`` (positive).
        threshold: The boundary of the null hypothesis on the estimate's scale: ``−margin`` when
            ``direction="increase"``, ``+margin`` when ``direction="decrease"``.
        statistic: Welch t statistic of the estimate shifted by the margin.
        pvalue: One-sided p-value of the null hypothesis "the treatment is worse by the margin or more".
        df: Welch–Satterthwaite degrees of freedom.
        bound: One-sided ``1 − alpha`` confidence bound of the estimate: a lower bound when higher is better,
            an upper bound when lower is better.
        passed: Whether non-inferiority is shown (``pvalue < alpha``, equivalently ``bound`` beyond
            ``threshold``).
        alpha: One-sided significance level.
        direction: ``"increase"`` (higher is better) or ``"decrease"`` (lower is better).
        relative: Whether the margin and estimate are relative to the control mean.
        method: The test used.
        control_mean: Mean of the control arm.
        treatment_mean: Mean of the treatment arm.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("estimate", "threshold", "bound", "pvalue", "passed")

    estimate: float
    margin: float
    threshold: float
    statistic: float
    pvalue: float
    df: float
    bound: float
    passed: bool
    alpha: float
    direction: str
    relative: bool
    method: str
    control_mean: float
    treatment_mean: float

    def _repr_html_(self) -> str:
        pct = self.relative
        side = "lower" if self.direction == "increase" else "upper"
        rows = [
            ("verdict", "non-inferior" if self.passed else "not shown non-inferior"),
            ("lift" if pct else "difference", fmt(self.estimate, percent=pct)),
            (f"one-sided {fmt(1.0 - self.alpha, percent=True)} {side} bound", fmt(self.bound, percent=pct)),
            ("threshold", fmt(self.threshold, percent=pct)),
            ("p-value (one-sided)", fmt(self.pvalue)),
            ("statistic", fmt(self.statistic)),
            ("df", fmt(self.df)),
            ("control mean", fmt(self.control_mean)),
            ("treatment mean", fmt(self.treatment_mean)),
            ("method", self.method),
        ]
        return html_table(rows, "abnb-noninferiority")


def noninferiority(
    control: Moments,
    treatment: Moments,
    *,
    margin: float,
    direction: Direction = "increase",
    relative: bool = False,
    alpha: float = 0.05,
) -> NonInferiorityResult:
    """One-sided Welch test that the treatment is not worse than the control by ``margin`` or more.

    With ``s = +1`` when higher is better (``direction="increase"``) and ``s = −1`` when lower is better,
    the null hypothesis is ``H0: s·Δ ≤ −margin`` ("worse by the margin or more") against
    ``H1: s·Δ > −margin``.

    * Absolute margin (``relative=False``, metric units): ``Δ = m_t − m_c``,
      ``t = s·(Δ̂ + s·margin) / se`` with ``se² = v_t/n_t + v_c/n_c`` and Welch–Satterthwaite ``df``; the
      one-sided bound is ``Δ̂ − s·t_{1−α,df}·se``.
    * Relative margin (``relative=True``, a fraction of the absolute control mean, e.g. 0.02 for 2 %): the null
      ``s·(m_t − m_c) ≤ −margin·|m_c|`` is, with ``r = 1 − s·margin·sign(m_c)``, ``s·(m_t − r·m_c) ≤ 0``, tested
      exactly as a linear contrast: ``t = s·(m̂_t − r·m̂_c) / sqrt(v_t/n_t + r²·v_c/n_c)`` with its
      Welch–Satterthwaite ``df``. The bound on the lift ``(m_t − m_c)/|m_c|`` is the matching one-sided Fieller
      bound (the ratio ``R`` where the contrast's t equals ``t_{1−α,df}``, mirrored for a negative control
      mean), so ``passed`` and the bound always agree. A negative control mean (profit, NPS) works like a
      positive one; only ``m_c = 0`` is refused.

    ``pvalue = P(T_df ≥ t)``; ``passed`` is ``pvalue < alpha``. Proportions use ``v = p(1 − p)``.

    Args:
        control: Moments of the control arm.
        treatment: Moments of the treatment arm.
        margin: Largest tolerated degradation (≥ 0): in metric units, or a fraction of the control mean when
            ``relative``.
        direction: ``"increase"`` if higher values are better, ``"decrease"`` if lower values are better
            (latency, error rate).
        relative: Whether ``margin`` (and the reported estimate and bound) are relative to the control mean.
        alpha: One-sided significance level.

    Returns:
        The test result.

    Raises:
        ParameterError: If an arm is not ``Moments`` or has fewer than 2 units, the arms disagree on
            ``proportion``, ``margin`` is negative or not finite, ``direction`` is unknown, ``alpha`` is
            outside (0, 1), or a relative margin is 1 or more.
        DataError: If both arms have zero variance, or the control mean is 0 for a relative margin.

    References:
        S. Wellek (2010), *Testing Statistical Hypotheses of Equivalence and Noninferiority*, 2nd ed., CRC;
        E. C. Fieller (1954), JRSS B 16; FDA (2016), "Non-Inferiority Clinical Trials to Establish
        Effectiveness".
    """
    from scipy import special

    control, treatment = check_arms(control, treatment)
    if isinstance(margin, bool) or not isinstance(margin, Real) or not math.isfinite(float(margin)) or margin < 0:
        raise ParameterError(f"margin must be a finite number >= 0 (the tolerated degradation), got {margin!r}.")
    margin = float(margin)
    if direction not in ("increase", "decrease"):
        raise ParameterError(
            f"direction must be 'increase' (higher is better) or 'decrease' (lower is better), got {direction!r}."
        )
    alpha = check_alpha(alpha)
    if not isinstance(relative, bool):
        raise ParameterError(f"relative must be True or False, got {relative!r}.")
    sign = 1.0 if direction == "increase" else -1.0
    m_c, m_t = control.mean, treatment.mean
    a, b = treatment.variance / treatment.n, control.variance / control.n
    if a + b == 0.0:
        raise DataError(
            "both arms have zero variance; the difference in means "
            f"(control {m_c:.6g}, treatment {m_t:.6g}) cannot be tested. Check the metric definition."
        )
    side = "lower" if direction == "increase" else "upper"

    if not relative:
        se = math.sqrt(a + b)
        df = welch_df(b, control.n, a, treatment.n)
        estimate = m_t - m_c
        statistic = sign * (estimate + sign * margin) / se
        critical = float(special.stdtrit(df, 1.0 - alpha))
        bound = estimate - sign * critical * se
        threshold = -sign * margin
        method = f"one-sided Welch t non-inferiority test, absolute margin, {side} bound"
    else:
        if margin >= 1.0:
            raise ParameterError(f"a relative margin must be below 1 (100 % of the control mean), got {margin!r}.")
        if m_c == 0.0:
            raise DataError("a relative margin needs a non-zero control mean (it is 0); use an absolute margin.")
        c_sign = 1.0 if m_c > 0.0 else -1.0
        ratio = 1.0 - sign * margin * c_sign  # s·(m_t − r·m_c) = s·(m_t − m_c) + margin·|m_c|
        contrast_var = a + ratio**2 * b
        df = welch_df(ratio**2 * b, control.n, a, treatment.n)
        estimate = (m_t - m_c) / abs(m_c)
        statistic = sign * (m_t - ratio * m_c) / math.sqrt(contrast_var)
        critical = float(special.stdtrit(df, 1.0 - alpha))
        bound = c_sign * (_fieller_bound(m_t, m_c, a, b, critical, sign * c_sign) - 1.0)
        threshold = -sign * margin
        method = f"one-sided Welch t non-inferiority test, relative margin (Fieller contrast), {side} bound"
    pvalue = float(special.stdtr(df, -statistic))
    return NonInferiorityResult(
        estimate=estimate,
        margin=margin,
        threshold=threshold,
        statistic=statistic,
        pvalue=pvalue,
        df=df,
        bound=bound,
        passed=pvalue < alpha,
        alpha=alpha,
        direction=direction,
        relative=relative,
        method=method,
        control_mean=m_c,
        treatment_mean=m_t,
    )


def _fieller_bound(m_t: float, m_c: float, a: float, b: float, critical: float, sign: float) -> float:
    """One-sided Fieller bound of ``m_t/m_c``: the root of ``(m_t − R m_c)² = t²(a + R² b)`` on the bound's side.

    Returns ``−inf``/``+inf`` when the control mean is not clearly positive (``m_c² ≤ t² b``), where the
    Fieller set is unbounded.
    """
    quad_a, roots = fieller_roots(m_c, b, m_t, a, critical)
    if quad_a <= 0.0 or roots is None:
        return -sign * math.inf
    return roots[0] if sign > 0 else roots[1]
