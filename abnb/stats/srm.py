"""Sample ratio mismatch (SRM): do the arms hold the share of units the assignment planned?

A mismatch means the assignment or the logging is broken (bots filtered in one arm, a redirect that loses
users, a crash that drops exposures), and the effect estimates cannot be trusted whatever their p-values.
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, ClassVar

from abnb.errors import ParameterError
from abnb.stats._effect import ShortRepr
from abnb.stats._validate import integer_digits

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SrmResult", "srm"]


@dataclass(frozen=True, repr=False)
class SrmResult(ShortRepr):
    """Result of the χ² goodness-of-fit test of the observed arm sizes against the planned weights.

    Attributes:
        statistic: Pearson's χ² statistic ``Σ (O − E)² / E``.
        pvalue: Upper-tail probability of ``statistic`` under χ² with ``df`` degrees of freedom.
        df: Degrees of freedom, the number of arms minus 1.
        counts: Observed units per arm.
        expected: Expected units per arm, ``total · weight``.
        weights: Planned shares of the arms, normalised to sum to 1.
        method: The test used.
        labels: Arm names (the keys when ``counts`` was a mapping, else ``"0"``, ``"1"``, ...).
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("statistic", "pvalue", "df", "counts")

    statistic: float
    pvalue: float
    df: int
    counts: tuple[int, ...]
    expected: tuple[float, ...]
    weights: tuple[float, ...]
    method: str
    labels: tuple[str, ...] = ()

    def mismatch(self, threshold: float = 0.001) -> bool:
        """Whether the p-value is below ``threshold`` (strict, as SRM checks usually use 0.001 or lower).

        Args:
            threshold: Significance level of the SRM alarm, in (0, 1).

        Returns:
            True when the observed split is implausible under the planned weights.

        Raises:
            ParameterError: If ``threshold`` is outside (0, 1).
        """
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0.0 < threshold < 1.0:
            raise ParameterError(f"threshold must lie strictly between 0 and 1 (e.g. 0.001), got {threshold!r}.")
        return self.pvalue < threshold

    def _arm_names(self) -> tuple[str, ...]:
        return self.labels or tuple(str(i) for i in range(len(self.counts)))

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: ``arm``, ``count``, ``expected``, ``weight``, ``share`` (observed)."""
        import pandas as pd

        total = sum(self.counts)
        return pd.DataFrame(
            {
                "arm": list(self._arm_names()),
                "count": list(self.counts),
                "expected": list(self.expected),
                "weight": list(self.weights),
                "share": [c / total for c in self.counts],
            }
        )

    def _repr_html_(self) -> str:
        total = sum(self.counts)
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{count}</td><td>{expected:.4g}</td>"
            f"<td>{100 * weight:.4g}%</td><td>{100 * count / total:.4g}%</td></tr>"
            for name, count, expected, weight in zip(
                self._arm_names(), self.counts, self.expected, self.weights, strict=True
            )
        )
        verdict = "mismatch" if self.mismatch() else "no mismatch"
        return (
            f"<p><b>Sample ratio check</b> ({html.escape(self.method)}): χ² = {self.statistic:.4g}, "
            f"df = {self.df}, p = {self.pvalue:.4g} ({verdict} at 0.001)</p>"
            "<table class='abnb-srm'><tr><th>arm</th><th>count</th><th>expected</th>"
            f"<th>planned</th><th>observed</th></tr>{rows}</table>"
        )


def _beyond_float_range(value: int, where: str) -> ParameterError:
    return ParameterError(
        f"{where} is an integer of {integer_digits(value)} digits, beyond the float range (at most about "
        f"{sys.float_info.max:.4g}) the χ² test is computed in; pass counts within that range."
    )


def _real(value: object, where: str, what: str) -> float:
    """``value`` as a float if it is a real number within the float range, else ``ParameterError`` (``what`` it is)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(f"{where} must be {what}, got {value!r}.")
    if isinstance(value, Integral) and abs(int(value)) > sys.float_info.max:
        raise _beyond_float_range(int(value), where)
    return float(value)


def _whole(value: object, where: str) -> int:
    number = _real(value, where, "a non-negative whole number")
    if not math.isfinite(number) or not number.is_integer() or number < 0:
        raise ParameterError(f"{where} must be a non-negative whole number, got {value!r}.")
    return int(number)


def _positive(value: object, where: str) -> float:
    number = _real(value, where, "a positive number")
    if not math.isfinite(number) or number <= 0:
        raise ParameterError(f"{where} must be positive and finite, got {value!r}.")
    return number


def _arm_name(labels: tuple[str, ...], i: int) -> str:
    """How the messages name arm ``i``: its label, else its position."""
    return labels[i] if labels else str(i)


def _observed(counts: object) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The arm labels (empty unless ``counts`` is a mapping) and the checked counts (at least 2 arms, total > 0)."""
    labels: tuple[str, ...] = ()
    if isinstance(counts, Mapping):
        labels = tuple(str(key) for key in counts)
        raw_counts: list[object] = list(counts.values())
    elif isinstance(counts, str | bytes) or not isinstance(counts, Iterable):
        raise ParameterError(f"counts must be a sequence of units per arm, got {type(counts).__name__}.")
    else:
        raw_counts = list(counts)
    observed = tuple(_whole(c, f"counts[{_arm_name(labels, i)}]") for i, c in enumerate(raw_counts))
    if len(observed) < 2:
        raise ParameterError(f"counts needs at least 2 arms for a sample ratio check, got {len(observed)}.")
    total = sum(observed)
    if total <= 0:
        raise ParameterError("counts sum to 0; there are no units to check the sample ratio of.")
    if total > sys.float_info.max:
        raise _beyond_float_range(total, "the sum of counts")
    return labels, observed


def _raw_weights(weights: object, labels: tuple[str, ...], arms: int) -> list[object]:
    """The weights in the order of the arms (all 1 when ``weights`` is None), one per arm."""
    if weights is None:
        raw_weights: list[object] = [1.0] * arms
    elif isinstance(weights, Mapping):
        if not labels:
            raise ParameterError(
                "weights is a mapping but counts is not; pass both as sequences or both as {arm: value}."
            )
        if set(map(str, weights)) != set(labels):
            raise ParameterError(
                f"weights has arms {sorted(map(str, weights))} but counts has {sorted(labels)}; "
                "give one weight per arm."
            )
        by_label = {str(key): value for key, value in weights.items()}
        raw_weights = [by_label[label] for label in labels]
    elif isinstance(weights, str | bytes) or not isinstance(weights, Iterable):
        raise ParameterError(f"weights must be numbers, one per arm, got {type(weights).__name__}.")
    else:
        raw_weights = list(weights)
    if len(raw_weights) != arms:
        raise ParameterError(
            f"weights has {len(raw_weights)} entries but counts has {arms} arms; give one weight per arm."
        )
    return raw_weights


def _shares(weights: object, labels: tuple[str, ...], total: int, arms: int) -> tuple[float, ...]:
    """The planned weights normalised to sum to 1, each large enough for a positive expected count."""
    planned = [
        _positive(w, f"weights[{_arm_name(labels, i)}]") for i, w in enumerate(_raw_weights(weights, labels, arms))
    ]
    # Scale by the largest weight first: the sum of weights near the float maximum (1e308 each) would overflow.
    largest = max(planned)
    relative = [w / largest for w in planned]
    scale = math.fsum(relative)
    shares = tuple(w / scale for w in relative)
    for i, share in enumerate(shares):
        if total * share <= 0.0:
            raise ParameterError(
                f"weights[{_arm_name(labels, i)}] = {planned[i]!r} is so small next to the largest weight "
                f"({largest!r}) that its expected count underflows to 0; give weights of comparable scale."
            )
    return shares


def srm(
    counts: Iterable[int] | Mapping[str, int],
    weights: Iterable[float] | Mapping[str, float] | None = None,
) -> SrmResult:
    """Test for a sample ratio mismatch with Pearson's χ² goodness-of-fit test.

    With observed units ``O_i`` per arm, total ``N`` and planned weights ``w_i`` (normalised to sum to 1),
    the expected counts are ``E_i = N·w_i`` and the statistic ``χ² = Σ (O_i − E_i)² / E_i`` is compared
    with the χ² distribution with ``k − 1`` degrees of freedom.

    Args:
        counts: Units observed per arm, as a sequence or as a mapping ``{arm: count}``.
        weights: Planned allocation per arm (any positive scale; normalised); a sequence in the order of
            ``counts`` or a mapping with the same keys. ``None`` means equal allocation.

    Returns:
        The test result; ``result.mismatch()`` applies the customary 0.001 threshold.

    Raises:
        ParameterError: If there are fewer than 2 arms, a count is not a non-negative whole number, the
            total is 0, a weight is not positive and finite, or the weights do not match the arms.

    References:
        K. Pearson (1900), "On the criterion that a given system of deviations ...", Phil. Mag. 50;
        Fabijan et al. (2019), "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD.
    """
    from scipy import special

    labels, observed = _observed(counts)
    total = sum(observed)
    shares = _shares(weights, labels, total, len(observed))
    expected = tuple(total * share for share in shares)
    statistic = math.fsum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = len(observed) - 1
    return SrmResult(
        statistic=statistic,
        pvalue=float(special.chdtrc(df, statistic)),
        df=df,
        counts=observed,
        expected=expected,
        weights=shares,
        method="Pearson χ² goodness of fit against the planned weights",
        labels=labels,
    )
