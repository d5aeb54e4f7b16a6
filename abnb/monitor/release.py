"""Before/after a release marker: the jump of a metric and whether to roll back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from abnb._display import format_value as _fmt
from abnb.errors import ParameterError
from abnb.monitor._common import Result, real
from abnb.stats import Moments, mann_whitney, welch

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["ReleaseJump", "release_jump"]


@dataclass(frozen=True)
class ReleaseJump(Result):
    """The jump of a metric at a release marker, and whether to roll back.

    Attributes:
        estimate: ``after − before``: difference in means (Welch) or Hodges–Lehmann shift (Mann–Whitney).
        ci_low: Lower end of the ``1 − alpha`` interval of ``estimate``.
        ci_high: Upper end of that interval.
        pvalue: Two-sided p-value of no jump.
        before_mean: Mean of the windows before the release.
        after_mean: Mean of the windows after it.
        n_before: Windows (or units) before.
        n_after: Windows (or units) after.
        alpha: Significance level.
        direction: ``"increase"`` if higher values are better, ``"decrease"`` if lower values are better.
        degraded: The metric moved significantly in the bad direction (and by more than ``min_effect``).
        rollback: The advice: roll back the release.
        reason: Why, in a sentence.
        method: The test used.
    """

    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    before_mean: float
    after_mean: float
    n_before: int
    n_after: int
    alpha: float
    direction: str
    degraded: bool
    rollback: bool
    reason: str
    method: str

    def __repr__(self) -> str:
        return (
            f"ReleaseJump(estimate={_fmt(self.estimate)}, ci=[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}], "
            f"pvalue={_fmt(self.pvalue)}, rollback={self.rollback}, method={self.method!r})"
        )


class _Test(NamedTuple):
    """The numbers of one before/after comparison, before the rollback advice."""

    estimate: float
    low: float
    high: float
    pvalue: float
    method: str
    mean_before: float
    mean_after: float
    n_before: int
    n_after: int
    constant: bool


def _check_jump(before: object, after: object, method: str, direction: str, min_effect: object) -> float:
    """Refuse an unknown method or direction, a negative ``min_effect`` or Moments given to Mann–Whitney."""
    if direction not in ("increase", "decrease"):
        raise ParameterError(f"direction must be 'increase' (higher is better) or 'decrease', got {direction!r}.")
    effect = real(min_effect, "min_effect")
    if effect < 0:
        raise ParameterError(f"min_effect must be >= 0, got {effect}.")
    if method not in ("welch", "mann_whitney"):
        raise ParameterError(f"method must be 'welch' or 'mann_whitney', got {method!r}.")
    if method == "mann_whitney" and (isinstance(before, Moments) or isinstance(after, Moments)):
        raise ParameterError("method='mann_whitney' ranks the values; pass per-window values, not Moments.")
    return effect


def _test(before: ArrayLike | Moments, after: ArrayLike | Moments, method: str, alpha: float) -> _Test:
    """Welch, Mann–Whitney, or the exact difference when every window of both periods has the same value."""
    m_before = before if isinstance(before, Moments) else Moments.from_values(before)
    m_after = after if isinstance(after, Moments) else Moments.from_values(after)
    constant = (
        not m_before.proportion
        and not m_after.proportion
        and min(m_before.n, m_after.n) >= 2
        and m_before.variance == 0.0
        and m_after.variance == 0.0
    )
    if constant:
        # Every window of each period has the same value: the jump is known exactly and no test applies. Report
        # the limit of Welch's test as the spread goes to 0 (p = 0 for a jump, 1 for none) instead of failing.
        estimate = m_after.difference_from(m_before)
        name = "exact difference (both periods constant, no window-to-window variation to test against)"
        pvalue = 0.0 if estimate != 0.0 else 1.0
        return _Test(
            estimate, estimate, estimate, pvalue, name, m_before.mean, m_after.mean, m_before.n, m_after.n, True
        )
    if method == "welch":
        return _tested(welch(m_before, m_after, alpha=alpha), (m_before.mean, m_after.mean, m_before.n, m_after.n))
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    return _tested(mann_whitney(b, a, alpha=alpha), (float(b.mean()), float(a.mean()), int(b.size), int(a.size)))


def _tested(effect: Any, periods: tuple[float, float, int, int]) -> _Test:
    """A :class:`_Test` from an effect of :mod:`abnb.stats` and the means and sizes of both periods."""
    return _Test(effect.estimate, effect.ci_low, effect.ci_high, effect.pvalue, effect.method, *periods, False)


def _constant_reason(t: _Test, degraded: bool, bad_sign: bool, min_effect: float) -> str:
    """Why, when both periods are constant: the exact difference and what to do about it."""
    if t.estimate == 0.0:
        return f"both periods are constant at {t.mean_before:.4g}: no jump; keep the release and keep watching."
    if degraded:
        advice = "roll back."
    elif bad_sign:
        advice = f"not larger than min_effect {min_effect:g}: keep watching."
    else:
        advice = "keep the release."
    return (
        f"every window before the release is {t.mean_before:.4g} and every window after it {t.mean_after:.4g}: "
        f"an exact {'drop' if t.estimate < 0 else 'rise'} of {abs(t.estimate):.4g} with no variation to test "
        "(check that the metric has enough data per window); " + advice
    )


def _advice(t: _Test, alpha: float, direction: str, min_effect: float) -> tuple[bool, str]:
    """Whether the jump is a degradation worth a rollback, and why, in a sentence."""
    estimate, pvalue = t.estimate, t.pvalue
    bad_sign = estimate < 0 if direction == "increase" else estimate > 0
    significant = pvalue < alpha
    degraded = bool(significant and bad_sign and abs(estimate) > min_effect)
    if t.constant:
        return degraded, _constant_reason(t, degraded, bad_sign, min_effect)
    if degraded:
        reason = (
            f"the metric {'dropped' if estimate < 0 else 'rose'} by {abs(estimate):.4g} after the release "
            f"(p = {pvalue:.3g} < {alpha:g}; {1 - alpha:.0%} CI [{t.low:.4g}, {t.high:.4g}]), and "
            f"{'higher' if direction == 'increase' else 'lower'} is better: roll back."
        )
    elif significant and bad_sign:
        reason = (
            f"a significant degradation of {abs(estimate):.4g}, but not larger than min_effect {min_effect:g}: "
            "keep watching."
        )
    elif significant:
        reason = f"the metric improved by {abs(estimate):.4g} (p = {pvalue:.3g}): keep the release."
    else:
        reason = f"no significant jump (p = {pvalue:.3g} >= {alpha:g}): keep the release and keep watching."
    return degraded, reason


def release_jump(
    before: ArrayLike | Moments,
    after: ArrayLike | Moments,
    *,
    method: Literal["welch", "mann_whitney"] = "welch",
    alpha: float = 0.05,
    direction: Literal["increase", "decrease"] = "increase",
    min_effect: float = 0.0,
) -> ReleaseJump:
    """Compare the windows before and after a release marker and advise whether to roll back.

    ``"welch"`` tests the difference in means ``m_after − m_before`` with Welch's t-test
    (:func:`abnb.stats.welch`, before as control); it takes per-window values or their :class:`Moments`.
    ``"mann_whitney"`` tests a location shift with the rank-sum test and estimates it by the Hodges–Lehmann
    median of pairwise differences (:func:`abnb.stats.mann_whitney`); it needs the values. Roll back when
    the change is significant (``pvalue < alpha``) in the bad direction — down when ``direction="increase"``
    (higher is better), up when ``direction="decrease"`` — and larger than ``min_effect`` in magnitude.

    Args:
        before: Per-window values before the release (or their Moments, Welch only).
        after: Per-window values after the release (or their Moments, Welch only).
        method: ``"welch"`` or ``"mann_whitney"``.
        alpha: Significance level.
        direction: Which way is better for the metric.
        min_effect: Smallest degradation (absolute, in metric units) worth a rollback.

    When every window of both periods has the same value (e.g. a precision of 1 in every window of a small
    sample), no test applies: the jump is the exact difference, its interval is that single point and the p-value
    is the limit of the test as the spread goes to 0 (0 for a jump, 1 for none); the reason says so.

    Returns:
        The jump with its interval, p-value and the rollback advice.

    Raises:
        ParameterError: On an unknown method or direction, or Moments passed to Mann–Whitney.

    References:
        B. L. Welch (1947), Biometrika 34; H. B. Mann & D. R. Whitney (1947), Ann. Math. Statist. 18;
        J. L. Hodges & E. L. Lehmann (1963), Ann. Math. Statist. 34.
    """
    min_effect = _check_jump(before, after, method, direction, min_effect)
    t = _test(before, after, method, alpha)
    degraded, reason = _advice(t, alpha, direction, min_effect)
    return ReleaseJump(
        estimate=float(t.estimate),
        ci_low=float(t.low),
        ci_high=float(t.high),
        pvalue=float(t.pvalue),
        before_mean=float(t.mean_before),
        after_mean=float(t.mean_after),
        n_before=int(t.n_before),
        n_after=int(t.n_after),
        alpha=float(alpha),
        direction=direction,
        degraded=degraded,
        rollback=degraded,
        reason=reason,
        method=t.method,
    )
