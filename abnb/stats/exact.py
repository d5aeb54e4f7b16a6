"""Exact tests for small 2×2 experiments, and the paired t-test from moments of differences.

:func:`fisher` and :func:`barnard` compare two conversion rates without the normal approximation (useful when
counts are small), from the arms' ``Moments.from_counts(successes, n)``, wrapping :func:`scipy.stats.fisher_exact`
and :func:`scipy.stats.barnard_exact`. Both report the conditional maximum-likelihood odds ratio with its exact
confidence interval (:func:`scipy.stats.contingency.odds_ratio`). :func:`paired` is the paired t-test for
before/after measurements on the same units, computed from the :class:`~abnb.stats.moments.Moments` of the per-unit
differences.

scipy is imported inside the functions so that ``import abnb`` stays light.

References:
    R. A. Fisher (1935), "The logic of inductive inference", JRSS 98, 39–82.
    G. A. Barnard (1945), "A new test for 2×2 tables", Nature 156, 177.
    J. Cornfield (1956), "A statistical problem arising from retrospective studies", Proc. Third Berkeley Symp.
    "Student" (1908), "The probable error of a mean", Biometrika 6, 1–25.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from abnb._display import FlatResult, html_table
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import check_arm, symmetric_effect
from abnb.stats._effect import ConfidenceInterval, Effect, ShortRepr, check_level, fmt
from abnb.stats._validate import check_choice
from abnb.stats.moments import Moments

__all__ = ["Alternative", "ExactTestResult", "barnard", "fisher", "paired"]

Alternative = Literal["two-sided", "less", "greater"]
_ALTERNATIVES: tuple[Alternative, ...] = ("two-sided", "less", "greater")

_Table = tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True, repr=False)
class ExactTestResult(ShortRepr, FlatResult):
    """Result of an exact test of two proportions (a 2×2 table).

    Attributes:
        pvalue: P-value of the null hypothesis of equal rates, under ``alternative``.
        statistic: scipy's test statistic: the sample odds ratio for Fisher's test, the Wald statistic for
            Barnard's.
        odds_ratio: Conditional maximum-likelihood estimate of the odds ratio treatment vs control (the MLE of the
            noncentral hypergeometric distribution; close to the sample odds ratio ``s_t·f_c / (f_t·s_c)``).
        ci_low: Lower end of the exact ``1 − alpha`` interval of the odds ratio (0 for ``"less"``).
        ci_high: Upper end of the interval (``inf`` for ``"greater"``).
        alpha: Significance level of the interval.
        alternative: ``"two-sided"``, ``"less"`` (treatment rate lower) or ``"greater"`` (treatment rate higher).
        method: The test and interval used.
        control_rate: Success rate of the control arm.
        treatment_rate: Success rate of the treatment arm.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("pvalue", "odds_ratio", "ci", "method")

    pvalue: float
    statistic: float
    odds_ratio: float
    ci_low: float
    ci_high: float
    alpha: float
    alternative: str
    method: str
    control_rate: float
    treatment_rate: float
    _table: _Table = field(repr=False, compare=False, default=((0, 0), (0, 0)))

    def confidence_interval(self, confidence_level: float | None = None) -> ConfidenceInterval:
        """The exact (Cornfield) interval of the odds ratio at ``confidence_level``, for ``alternative``.

        Args:
            confidence_level: Coverage of the interval, in (0, 1); ``None``: ``1 − alpha`` of the call.

        Returns:
            The interval (one-sided, with an infinite or zero end, when ``alternative`` is not two-sided).

        Raises:
            ParameterError: If ``confidence_level`` is outside (0, 1).
        """
        level = check_level(1.0 - self.alpha if confidence_level is None else confidence_level)
        return _odds_ratio_interval(self._table, level, self.alternative)

    def _repr_html_(self) -> str:
        rows = [
            ("p-value", fmt(self.pvalue)),
            ("odds ratio", fmt(self.odds_ratio)),
            (f"{fmt(1.0 - self.alpha, percent=True)} CI", f"[{fmt(self.ci_low)}, {fmt(self.ci_high)}]"),
            ("statistic", fmt(self.statistic)),
            ("alternative", self.alternative),
            ("control rate", fmt(self.control_rate)),
            ("treatment rate", fmt(self.treatment_rate)),
            ("method", self.method),
        ]
        return html_table(rows, "abnb-exact")


def _odds_ratio_interval(table: _Table, level: float, alternative: str) -> ConfidenceInterval:
    from scipy.stats.contingency import odds_ratio

    ci = odds_ratio([list(row) for row in table], kind="conditional").confidence_interval(
        confidence_level=level, alternative=alternative
    )
    return ConfidenceInterval(float(ci.low), float(ci.high))


def _successes(name: str, arm: object) -> tuple[int, int]:
    """``(successes, failures)`` of a proportion arm, or ``ParameterError`` if ``arm`` does not hold 0/1 outcomes.

    ``Moments.from_counts(successes, n)`` is the usual input; ``Moments.from_values`` of 0/1 values (whose raw sums
    satisfy ``Σy² = Σy``, whole) is accepted too.
    """
    moments = check_arm(name, arm, minimum=1, purpose="an exact test")
    raw = moments.shifted(0.0)
    if raw.sum_sq != raw.sum:
        raise ParameterError(
            f"{name} does not hold 0/1 outcomes (Σy² = {raw.sum_sq!r} differs from Σy = {raw.sum!r}); an exact test "
            "compares two proportions: build each arm with Moments.from_counts(successes, n), or use "
            "abnb.stats.welch for means."
        )
    if not raw.sum.is_integer() or not 0.0 <= raw.sum <= raw.n:
        raise ParameterError(
            f"{name} has {raw.sum!r} successes, not a whole number in [0, n={raw.n}]; an exact test needs counts: "
            "build the arm with Moments.from_counts(successes, n)."
        )
    successes = int(raw.sum)
    return successes, raw.n - successes


def _table(control: object, treatment: object) -> _Table:
    """The 2×2 table ``[[s_t, s_c], [f_t, f_c]]``: columns are the arms (treatment first), rows success/failure."""
    s_c, f_c = _successes("control", control)
    s_t, f_t = _successes("treatment", treatment)
    return ((s_t, s_c), (f_t, f_c))


def _exact_result(
    table: _Table, pvalue: float, statistic: float, alpha: float, alternative: str, method: str
) -> ExactTestResult:
    from scipy.stats.contingency import odds_ratio

    (s_t, s_c), (f_t, f_c) = table
    estimate = float(odds_ratio([list(row) for row in table], kind="conditional").statistic)
    ci = _odds_ratio_interval(table, 1.0 - alpha, alternative)
    return ExactTestResult(
        pvalue=pvalue,
        statistic=statistic,
        odds_ratio=estimate,
        ci_low=ci.low,
        ci_high=ci.high,
        alpha=alpha,
        alternative=alternative,
        method=method + "; conditional MLE odds ratio (treatment vs control) with exact Cornfield CI",
        control_rate=s_c / (s_c + f_c),
        treatment_rate=s_t / (s_t + f_t),
        _table=table,
    )


def fisher(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ExactTestResult:
    """Fisher's exact test of equal success rates in two arms.

    Conditioning on both margins of the table ``[[s_t, s_c], [f_t, f_c]]``, ``s_t`` is hypergeometric under the
    null; the two-sided p-value sums the probabilities of the tables no more likely than the observed one
    (:func:`scipy.stats.fisher_exact`). The odds ratio ``ψ = (p_t/(1 − p_t)) / (p_c/(1 − p_c))`` is estimated by
    the conditional MLE; its interval inverts the test under the noncentral hypergeometric distribution
    (Cornfield 1956; :func:`scipy.stats.contingency.odds_ratio`).

    Args:
        control: Moments of the control arm, a proportion (``Moments.from_counts(successes, n)``).
        treatment: Moments of the treatment arm, a proportion.
        alpha: Significance level of the odds-ratio interval.
        alternative: ``"two-sided"``, ``"less"`` (treatment rate lower) or ``"greater"`` (treatment rate higher).

    Returns:
        The p-value, the odds ratio with its interval, and the arms' rates.

    Raises:
        ParameterError: If an arm is not ``Moments`` of 0/1 outcomes with a whole number of successes (a
            proportion, ``Σy² = Σy``) and at least 1 unit, ``alpha`` is outside ``(1e-10, 0.5]``, or
            ``alternative`` is unknown.

    References:
        Fisher (1935), JRSS 98; Cornfield (1956), Proc. Third Berkeley Symposium 4, 135–148.
    """
    from scipy import stats

    alpha = check_alpha(alpha)
    alternative = check_choice("alternative", alternative, _ALTERNATIVES)
    table = _table(control, treatment)
    result = stats.fisher_exact([list(row) for row in table], alternative=alternative)
    return _exact_result(
        table, float(result.pvalue), float(result.statistic), alpha, alternative, "Fisher's exact test"
    )


def barnard(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    pooled: bool = True,
) -> ExactTestResult:
    """Barnard's unconditional exact test of equal success rates in two arms.

    Only the arm sizes are fixed. With the Wald statistic ``T = (p̂_t − p̂_c) / sqrt(p̄(1 − p̄)(1/n_t + 1/n_c))``
    (``pooled=True``; unpooled variances otherwise), the p-value is the supremum over the common nuisance rate
    ``π`` of ``P_π(T at least as extreme as observed)`` under two independent binomials
    (:func:`scipy.stats.barnard_exact`). It is usually more powerful than Fisher's test. The odds ratio and its
    interval are the same conditional ones as in :func:`fisher`.

    Args:
        control: Moments of the control arm, a proportion (``Moments.from_counts(successes, n)``).
        treatment: Moments of the treatment arm, a proportion.
        alpha: Significance level of the odds-ratio interval.
        alternative: ``"two-sided"``, ``"less"`` (treatment rate lower) or ``"greater"`` (treatment rate higher).
        pooled: Use the pooled variance in the Wald statistic.

    Returns:
        The p-value, the Wald statistic, the odds ratio with its interval, and the arms' rates.

    Raises:
        ParameterError: As :func:`fisher`, or if ``pooled`` is not a bool.

    References:
        Barnard (1945), Nature 156, 177; Mehta & Senchaudhuri (2003), "Conditional versus unconditional exact
        tests for comparing two binomials".
    """
    from scipy import stats

    alpha = check_alpha(alpha)
    alternative = check_choice("alternative", alternative, _ALTERNATIVES)
    if not isinstance(pooled, bool):
        raise ParameterError(f"pooled must be True or False, got {pooled!r}.")
    table = _table(control, treatment)
    result = stats.barnard_exact([list(row) for row in table], alternative=alternative, pooled=pooled)
    method = "Barnard's exact test (" + ("pooled" if pooled else "unpooled") + " Wald statistic)"
    statistic = float(result.statistic)
    return _exact_result(table, float(result.pvalue), statistic, alpha, alternative, method)


def paired(differences: Moments, *, alpha: float = 0.05) -> Effect:
    """Paired t-test of a before/after change on the same units, from the moments of the differences.

    With ``D = after − before`` per unit, ``n``, ``D̄ = ΣD/n`` and ``s² = (ΣD² − (ΣD)²/n)/(n − 1)``:
    ``se = s/√n``, ``t = D̄ / se`` on ``n − 1`` degrees of freedom, ``p = 2·P(T > |t|)`` and the interval
    ``D̄ ± t_{1−α/2, n−1}·se``. Same numbers as :func:`scipy.stats.ttest_rel` (``after``, ``before``).

    Args:
        differences: Moments of the per-unit differences (``Moments.from_values(after - before)``).
        alpha: Significance level; the interval has coverage ``1 − alpha``.

    Returns:
        The effect, with ``estimate = D̄``. The arm means are not recoverable from the differences, so
        ``control_mean`` and ``treatment_mean`` are NaN.

    Raises:
        ParameterError: If ``differences`` is not ``Moments``, has fewer than 2 units or is a proportion, or
            ``alpha`` is outside (0, 1).
        DataError: If every difference is the same (zero variance).

    References:
        "Student" (1908), "The probable error of a mean", Biometrika 6, 1–25.
    """
    alpha = check_alpha(alpha)
    if not isinstance(differences, Moments):
        raise ParameterError(
            f"differences must be abnb.stats.Moments, got {type(differences).__name__}; "
            "build it with Moments.from_values(after - before)."
        )
    if differences.proportion:
        raise ParameterError(
            "differences has proportion=True, but per-unit differences are not 0/1 outcomes; "
            "build them with Moments.from_values(after - before)."
        )
    if differences.n < 2:
        raise ParameterError(f"differences has n={differences.n} unit(s); a paired t-test needs at least 2.")
    n = differences.n
    se = math.sqrt(differences.variance / n)
    mean = differences.mean
    if se == 0.0:
        raise DataError(
            f"every unit changed by the same amount ({mean:.6g}), so the differences have zero variance and "
            "the paired t-test is undefined."
        )
    return symmetric_effect(
        Effect,
        estimate=mean,
        se=se,
        df=float(n - 1),
        alpha=alpha,
        method="paired t-test on per-unit differences (after − before)",
        relative=False,
        control_mean=math.nan,
        treatment_mean=math.nan,
    )
