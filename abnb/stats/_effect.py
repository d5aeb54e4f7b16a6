"""Result objects: :class:`Effect`, :class:`ConfidenceInterval` and :class:`IntervalEstimate` (a sub-result)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from abnb._display import FlatResult, html_table
from abnb.errors import ParameterError

__all__ = ["ConfidenceInterval", "Effect", "IntervalEstimate", "IntervalOnDemand", "check_level"]


def check_level(confidence_level: float) -> float:
    """Return ``confidence_level`` as a float, raising ``ParameterError`` unless it lies in (0, 1)."""
    try:
        level = float(confidence_level)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"confidence_level must be a number in (0, 1), got {confidence_level!r}.") from exc
    if not 0.0 < level < 1.0:
        raise ParameterError(
            f"confidence_level must lie strictly between 0 and 1 (e.g. 0.95), got {confidence_level!r}."
        )
    return level


def fmt(value: float | None, *, percent: bool = False) -> str:
    """Format a number with 4 significant digits (as a percentage when ``percent``); ``None`` as a dash."""
    if value is None:
        return "—"
    if percent and math.isfinite(value):
        return f"{100.0 * value:.4g}%"
    return f"{value:.4g}"


def interval_at(
    confidence_level: float,
    interval: Callable[[float], tuple[float, float]] | None,
    alpha: float,
    stored: tuple[float, float],
    what: str,
) -> ConfidenceInterval:
    """A result's interval at ``confidence_level``.

    Recomputed by ``interval`` when the result kept it, else the ``stored`` interval if the level is ``1 − alpha``.

    Raises:
        ParameterError: The level is outside (0, 1), or differs from ``1 − alpha`` and nothing can recompute it.
    """
    level = check_level(confidence_level)
    if interval is not None:
        return ConfidenceInterval(*interval(level))
    if math.isclose(level, 1.0 - alpha, rel_tol=0.0, abs_tol=1e-12):
        return ConfidenceInterval(*stored)
    raise ParameterError(
        f"this {what} only knows its {1.0 - alpha:.4g} interval; "
        f"recompute it with alpha={1.0 - level:.4g} for a {level:.4g} interval."
    )


@dataclass(frozen=True, slots=True)
class ConfidenceInterval:
    """A two-sided confidence interval ``[low, high]``; unpacks as ``low, high = ci``."""

    low: float
    high: float

    def __iter__(self) -> Iterator[float]:
        """Yield ``low`` then ``high``."""
        yield self.low
        yield self.high


@dataclass(frozen=True)
class IntervalEstimate(FlatResult):
    """One estimated quantity of a result with several intervals (``result.precision.ci_low``).

    Attributes:
        estimate: The point estimate.
        ci_low: Lower end of the interval (at ``1 − alpha`` of the result that holds it unless ``method`` says).
        ci_high: Upper end of the interval.
        method: The interval's formula.
    """

    estimate: float
    ci_low: float
    ci_high: float
    method: str

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}]"


class IntervalOnDemand:
    """``confidence_interval(level)`` for a result with ``alpha``, ``ci_low``, ``ci_high`` and an ``_interval`` formula.

    ``None`` means ``1 − alpha`` of the call that made the result (its ``ci_low``/``ci_high``); any other level is
    recomputed by the same formula.
    """

    alpha: float
    ci_low: float
    ci_high: float
    _interval: Callable[[float], tuple[float, float]] | None

    def confidence_interval(self, confidence_level: float | None = None) -> ConfidenceInterval:
        """The two-sided interval at ``confidence_level``, by the same formula as ``ci_low``/``ci_high``.

        Args:
            confidence_level: Coverage of the interval, in (0, 1); ``None``: ``1 − alpha`` of the call that made
                the result (the interval in ``ci_low``/``ci_high``).

        Raises:
            ParameterError: If ``confidence_level`` is outside (0, 1), or the result was built without an
                interval function and ``confidence_level`` differs from ``1 − alpha``.
        """
        level = 1.0 - self.alpha if confidence_level is None else confidence_level
        return interval_at(level, self._interval, self.alpha, (self.ci_low, self.ci_high), type(self).__name__)


@dataclass(frozen=True)
class Effect(IntervalOnDemand, FlatResult):
    """The estimated effect of the treatment on one metric, with its uncertainty.

    Attributes:
        estimate: Difference in means ``m_t − m_c``, or the lift ``(m_t − m_c) / |m_c|`` when ``relative``.
        se: Standard error of ``estimate``.
        ci_low: Lower end of the ``1 − alpha`` confidence interval.
        ci_high: Upper end of the ``1 − alpha`` confidence interval.
        pvalue: Two-sided p-value of the null hypothesis of no effect.
        statistic: Test statistic (t or z) behind ``pvalue``.
        df: Degrees of freedom of the t reference distribution; ``None`` for a normal (z) reference.
        alpha: Significance level the interval was computed at.
        method: The test and interval formulas used.
        relative: Whether ``estimate`` is a relative lift.
        control_mean: Mean of the control arm.
        treatment_mean: Mean of the treatment arm.
        ci_note: What the confidence set is when it is not the interval ``[ci_low, ci_high]`` (a Fieller set when
            the control mean is not distinguishable from 0: "at least +20%", or undefined); empty otherwise.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    statistic: float
    df: float | None
    alpha: float
    method: str
    relative: bool
    control_mean: float
    treatment_mean: float
    ci_note: str = ""
    _interval: Callable[[float], tuple[float, float]] | None = field(default=None, repr=False, compare=False)
    _log_pvalue: float | None = field(default=None, repr=False, compare=False)

    @property
    def log10_pvalue(self) -> float:
        """``log10`` of the p-value, finite even when ``pvalue`` underflows to 0.0.

        A p-value below the smallest positive double (≈ 4.9e-324; e.g. z = 40) is stored as ``pvalue = 0.0``;
        its logarithm was computed in log space (``log 2 + log Φ(−|z|)``, or the log of the t tail) and is
        returned here, and ``method`` says so. Otherwise ``log10(pvalue)``.
        """
        if self._log_pvalue is not None:
            return self._log_pvalue / math.log(10.0)
        return math.log10(self.pvalue) if self.pvalue > 0.0 else -math.inf

    def _repr_html_(self) -> str:
        pct = self.relative
        level = 1.0 - self.alpha
        ci = f"[{fmt(self.ci_low, percent=pct)}, {fmt(self.ci_high, percent=pct)}]"
        rows = [
            ("lift" if pct else "difference", fmt(self.estimate, percent=pct)),
            (f"{fmt(level, percent=True)} CI", ci),
            ("p-value", fmt(self.pvalue)),
            ("standard error", fmt(self.se, percent=pct)),
            ("statistic", fmt(self.statistic)),
            ("df", fmt(self.df)),
            ("control mean", fmt(self.control_mean)),
            ("treatment mean", fmt(self.treatment_mean)),
            ("method", self.method),
        ]
        if self.ci_note:
            rows.insert(2, ("confidence set", self.ci_note))
        return html_table(rows, "abnb-effect")

    def __repr__(self) -> str:
        return (
            f"Effect(estimate={fmt(self.estimate)}, ci=[{fmt(self.ci_low)}, {fmt(self.ci_high)}], "
            f"pvalue={fmt(self.pvalue)}, method={self.method!r})"
        )
