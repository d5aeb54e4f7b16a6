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
from typing import TYPE_CHECKING, Literal

from abnb.errors import ParameterError
from abnb.stats import Moments, chance_to_beat, ztest

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["conversion_table"]


@lru_cache(maxsize=256)
def _chances(baseline: tuple[int, int], variant: tuple[int, int]) -> tuple[float, float, float]:
    """Chance to beat the baseline by the beta, normal and lift methods (cached: the quadrature is the slow part)."""
    control, treatment = Moments.from_counts(*baseline), Moments.from_counts(*variant)
    methods: tuple[Literal["beta"], Literal["normal"], Literal["lift"]] = ("beta", "normal", "lift")
    beta, normal, lift = (chance_to_beat(control, treatment, method=method).chance for method in methods)
    return beta, normal, lift


def conversion_table(
    variants: Mapping[str, tuple[int, int]], *, baseline: str, confidence_level: float = 0.95
) -> pd.DataFrame:
    """One row per variant: rate ± half-width, improvement, p-value and chance to beat the baseline three ways.

    Args:
        variants: ``{name: (conversions, visitors)}``.
        baseline: The variant the others are compared with.
        confidence_level: Level of the per-variant "±" (normal approximation: z·sqrt(p(1−p)/n)).

    Returns:
        Columns ``variant``, ``conversions``, ``visitors``, ``rate``, ``plus_minus``, ``improvement``
        (rate / baseline rate − 1), ``pvalue`` (unpooled two-proportion z-test), ``chance_beta`` (exact Beta(1, 1)
        posteriors), ``chance_normal`` (normal approximation of the difference of rates, the convention of
        VWO-style tables) and ``chance_lift`` (normal on the relative lift with delta-method variance, GrowthBook's
        convention); the baseline row has NaN in the comparison columns.

    Raises:
        ParameterError: The baseline is not a variant, or counts are not 0 ≤ conversions ≤ visitors.
    """
    import pandas as pd
    from scipy.special import ndtri

    if baseline not in variants:
        raise ParameterError(f"baseline {baseline!r} is not one of the variants {', '.join(variants)}.")
    if not 0 < confidence_level < 1:
        raise ParameterError(f"confidence_level must lie in (0, 1), got {confidence_level!r}.")
    moments = {name: Moments.from_counts(*counts) for name, counts in variants.items()}
    z = float(ndtri((1 + confidence_level) / 2))
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
            chance_beta, chance_normal, chance_lift = _chances(tuple(variants[baseline]), tuple(variants[name]))
            row.update(
                improvement=m.mean / control.mean - 1,
                pvalue=ztest(control, m).pvalue,
                chance_beta=chance_beta,
                chance_normal=chance_normal,
                chance_lift=chance_lift,
            )
        rows.append(row)
    return pd.DataFrame(rows)
