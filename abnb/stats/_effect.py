"""Result objects: :class:`Effect`, :class:`ConfidenceInterval` and :class:`IntervalEstimate` (a sub-result).

Also what the result dataclasses of :mod:`abnb.stats` share: :class:`ShortRepr` (their one-line ``repr``),
:class:`IntervalFormula` and :class:`IntervalOnDemand` (the kept interval formula and ``confidence_interval(level)``)
and :class:`EstimateWithTest` (the leading fields of an estimate with a standard error and a test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import ClassVar

from abnb._display import FlatResult, html_table
from abnb.errors import ParameterError

__all__ = [
    "ConfidenceInterval",
    "Effect",
    "EstimateWithTest",
    "IntervalEstimate",
    "IntervalFormula",
    "IntervalOnDemand",
    "ShortRepr",
    "check_level",
]


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


def _short(value: object) -> str:
    """A value in a one-line repr: :func:`fmt` for a float or ``None``, ``repr`` for text and tuples, else ``str``."""
    if value is None or (isinstance(value, Real) and not isinstance(value, Integral)):
        return fmt(None if value is None else float(value))
    return repr(value) if isinstance(value, str | tuple) else str(value)


class ShortRepr:
    """A one-line ``repr`` of the fields named in ``_repr_fields``: ``Name(estimate=…, ci=[low, high], method='…')``.

    The entry ``"ci"`` stands for ``ci=[ci_low, ci_high]``. Numbers show 4 significant digits (``None`` a dash),
    whole numbers and flags are shown as they are, text and tuples by their ``repr``. A dataclass that uses it is
    declared with ``repr=False`` (else the dataclass writes its own).
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("estimate", "ci", "method")

    def __repr__(self) -> str:
        parts = []
        for name in self._repr_fields:
            if name == "ci":
                low, high = (_short(getattr(self, end)) for end in ("ci_low", "ci_high"))
                parts.append(f"ci=[{low}, {high}]")
            else:
                parts.append(f"{name}={_short(getattr(self, name))}")
        return f"{type(self).__name__}({', '.join(parts)})"


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


@dataclass(frozen=True, repr=False)
class IntervalFormula:
    """Dataclass base of a result that keeps the formula of its interval, ``level -> (low, high)``.

    The private field ``_interval`` is keyword-only (so it may precede the result's own fields) and ``None`` when the
    result cannot recompute its interval; it takes no part in ``repr`` or comparison.
    """

    _interval: Callable[[float], tuple[float, float]] | None = field(
        default=None, repr=False, compare=False, kw_only=True
    )


class IntervalOnDemand(IntervalFormula):
    """``confidence_interval(level)`` for a result with ``alpha``, ``ci_low``, ``ci_high`` and an ``_interval`` formula.

    ``None`` means ``1 − alpha`` of the call that made the result (its ``ci_low``/``ci_high``); any other level is
    recomputed by the same formula.
    """

    alpha: float
    ci_low: float
    ci_high: float

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


@dataclass(frozen=True, repr=False)
class EstimateWithTest(FlatResult):
    """The fields that open a result with a standard error and a test of no effect, in this order.

    Attributes:
        estimate: The point estimate.
        se: Standard error of ``estimate``.
        ci_low: Lower end of the ``1 − alpha`` interval.
        ci_high: Upper end of the interval.
        pvalue: Two-sided p-value of the null hypothesis of no effect.
        statistic: Test statistic behind ``pvalue``.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    statistic: float


@dataclass(frozen=True, repr=False)
class Effect(ShortRepr, IntervalOnDemand, EstimateWithTest):
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

    _repr_fields: ClassVar[tuple[str, ...]] = ("estimate", "ci", "pvalue", "method")

    df: float | None
    alpha: float
    method: str
    relative: bool
    control_mean: float
    treatment_mean: float
    ci_note: str = ""
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
