"""Experiments reported as counts: the conversion table of a web-testing tool, recomputed and explained.

Testing tools print a table of variants with conversions / visitors, a rate with a "±", an improvement over the
baseline and a "chance to beat baseline". Different tools print different chances for the same counts because
they use different models; :func:`conversion_table` computes every common convention side by side so the
differences can be read, not guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from numbers import Integral
from typing import TYPE_CHECKING, Literal

from abnb.errors import DataError, ParameterError
from abnb.stats import Moments, chance_to_beat, check_alpha, ztest

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["conversion_table"]


@lru_cache(maxsize=256)
def _chances(baseline: tuple[int, int], variant: tuple[int, int]) -> tuple[float, float, float]:
    """Chance to beat the baseline by the beta, normal and lift methods (cached: the quadrature is the slow part).

    A method the counts cannot support (the normal ones when both rates are 0 or both are 1: no variance) gives NaN.
    """
    control, treatment = Moments.from_counts(*baseline), Moments.from_counts(*variant)
    methods: tuple[Literal["beta"], Literal["normal"], Literal["lift"]] = ("beta", "normal", "lift")
    chances = []
    for method in methods:
        try:
            chances.append(chance_to_beat(control, treatment, method=method).chance)
        except DataError:
            chances.append(math.nan)
    beta, normal, lift = chances
    return beta, normal, lift


def _counts(name: str, counts: object) -> tuple[int, int]:
    """A variant's ``(conversions, visitors)`` as whole numbers with 0 ≤ conversions ≤ visitors and visitors ≥ 1."""
    if not isinstance(counts, tuple | list) or len(counts) != 2:
        raise ParameterError(f"variant {name!r}: counts must be a pair (conversions, visitors), got {counts!r}.")
    whole = []
    for what, value in zip(("conversions", "visitors"), counts, strict=True):
        if isinstance(value, bool) or not isinstance(value, Integral | float) or not float(value).is_integer():
            raise ParameterError(f"variant {name!r}: {what} must be a whole number, got {value!r}.")
        whole.append(int(value))
    conversions, visitors = whole
    if visitors < 1:
        raise ParameterError(f"variant {name!r}: visitors must be at least 1, got {visitors}.")
    if conversions < 0:
        raise ParameterError(f"variant {name!r}: conversions must be >= 0, got {conversions}.")
    if conversions > visitors:
        raise ParameterError(
            f"variant {name!r}: {conversions} conversions > {visitors} visitors; counts are (conversions, "
            "visitors) — swapped? Count each visitor's conversion once (a proportion of visitors)."
        )
    return conversions, visitors


def conversion_table(variants: Mapping[str, tuple[int, int]], *, baseline: str, alpha: float = 0.05) -> pd.DataFrame:
    """One row per variant: rate ± half-width, improvement, p-value and chance to beat the baseline three ways.

    Args:
        variants: ``{name: (conversions, visitors)}``.
        baseline: The variant the others are compared with.
        alpha: The per-variant "±" is the half-width of the ``1 − alpha`` interval (normal approximation:
            ``z_{1−alpha/2}·sqrt(p(1−p)/n)``).

    Returns:
        Columns ``variant``, ``conversions``, ``visitors``, ``rate``, ``plus_minus``, ``improvement``
        (rate / baseline rate − 1), ``pvalue`` (unpooled two-proportion z-test), ``chance_beta`` (exact Beta(1, 1)
        posteriors), ``chance_normal`` (normal approximation of the difference of rates, the convention of
        VWO-style tables) and ``chance_lift`` (normal on the relative lift with delta-method variance, GrowthBook's
        convention); the baseline row has NaN in the comparison columns.

    Raises:
        ParameterError: The baseline is not a variant, ``alpha`` is outside ``(1e-10, 0.5]``, or a variant's
            counts are not whole numbers with 0 ≤ conversions ≤ visitors and visitors ≥ 1 (the message names the
            variant).

    When both rates are 0 (or both 1) the difference has no variance: ``pvalue``, ``chance_normal`` and
    ``chance_lift`` are NaN and ``chance_beta`` (always defined) stays; ``improvement`` is NaN over a baseline rate 0.
    """
    import pandas as pd
    from scipy.special import ndtri

    if baseline not in variants:
        raise ParameterError(f"baseline {baseline!r} is not one of the variants {', '.join(variants)}.")
    alpha = check_alpha(alpha)
    checked = {name: _counts(name, counts) for name, counts in variants.items()}
    moments = {name: Moments.from_counts(*counts) for name, counts in checked.items()}
    z = float(ndtri(1.0 - alpha / 2.0))
    control = moments[baseline]
    rows = []
    for name, m in moments.items():
        row = {
            "variant": name,
            "conversions": int(m.sum),
            "visitors": m.n,
            "rate": m.mean,
            "plus_minus": z * math.sqrt(m.variance / m.n),
        }
        if name == baseline:
            row.update(
                improvement=math.nan,
                pvalue=math.nan,
                chance_beta=math.nan,
                chance_normal=math.nan,
                chance_lift=math.nan,
            )
        else:
            chance_beta, chance_normal, chance_lift = _chances(checked[baseline], checked[name])
            try:
                pvalue = ztest(control, m).pvalue
            except DataError:  # both rates 0 (or both 1): no variance, no test
                pvalue = math.nan
            row.update(
                improvement=m.mean / control.mean - 1 if control.mean > 0 else math.nan,
                pvalue=pvalue,
                chance_beta=chance_beta,
                chance_normal=chance_normal,
                chance_lift=chance_lift,
            )
        rows.append(row)
    return pd.DataFrame(rows)
