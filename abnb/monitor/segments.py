"""Is a rate uniform across populations? Each segment against the rest, with Wilson intervals and BH adjustment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb.errors import ParameterError
from abnb.stats import Moments, adjust, check_alpha, ztest

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

__all__ = ["segment_breakdown"]


def _proportion_ci(successes: NDArray[np.float64], trials: NDArray[np.float64], z: float, kind: str) -> Any:
    p = successes / trials
    if kind == "normal":
        half = z * np.sqrt(p * (1 - p) / trials)
        return np.clip(p - half, 0.0, 1.0), np.clip(p + half, 0.0, 1.0)
    denom = 1.0 + z**2 / trials
    center = (p + z**2 / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denom
    return center - half, center + half


def segment_breakdown(
    frame: pd.DataFrame,
    *,
    segment: str,
    successes: str,
    trials: str,
    alpha: float = 0.05,
    ci: Literal["wilson", "normal"] = "wilson",
    worse: Literal["higher", "lower", "either"] = "either",
) -> pd.DataFrame:
    """Is a rate (e.g. the mistake rate) uniform across segments? Per-segment CIs and FDR-controlled flags.

    Rows of ``frame`` (e.g. per window × segment) are summed per segment. For each segment ``s`` with rate
    ``p_s = x_s/n_s``:

    * the interval is Wilson's ``(p + z²/2n ± z·sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n)`` or the normal
      ``p ± z·sqrt(p(1 − p)/n)`` (clipped to [0, 1]), ``z = Φ⁻¹(1 − α/2)``;
    * the test compares the segment with the rest (all other segments pooled) by the two-proportion z-test
      with the pooled SE (:func:`abnb.stats.ztest`, ``pooled=True``);
    * the p-values are adjusted by Benjamini–Hochberg over the segments (:func:`abnb.stats.adjust`), and
      ``flag`` marks segments with adjusted p ≤ α (false discovery rate α) that differ from the rest in the
      ``worse`` direction.

    One bad segment raises the rate of "the rest" for every other segment, so with much data the good
    segments also differ significantly from the rest — in the good direction. ``worse="higher"`` (a mistake
    rate) or ``"lower"`` (a success rate) flags only the segments that are worse than the rest.

    Args:
        frame: Aggregated rows with a segment column and success/trial counts.
        segment: Segment column.
        successes: Column counting the events of interest (e.g. mistakes).
        trials: Column counting the opportunities (e.g. labelled predictions).
        alpha: Significance level of the intervals and FDR level of the flags.
        ci: ``"wilson"`` or ``"normal"``.
        worse: Which difference from the rest to flag: ``"higher"``, ``"lower"`` or ``"either"``.

    Returns:
        One row per segment: ``segment``, ``successes``, ``trials``, ``rate``, ``ci_low``, ``ci_high``,
        ``rest_rate``, ``difference`` (segment − rest), ``statistic``, ``pvalue``, ``pvalue_adjusted``, ``flag``.

    Raises:
        ParameterError: On a missing column, fewer than two segments, or counts that are not valid.

    References:
        E. B. Wilson (1927), JASA 22; Y. Benjamini & Y. Hochberg (1995), JRSS B 57.
    """
    import pandas as pd
    from scipy import special

    missing = [c for c in (segment, successes, trials) if c not in frame.columns]
    if missing:
        raise ParameterError(f"frame has no column(s) {missing}; its columns are {list(frame.columns)}.")
    if ci not in ("wilson", "normal"):
        raise ParameterError(f"ci must be 'wilson' or 'normal', got {ci!r}.")
    if worse not in ("higher", "lower", "either"):
        raise ParameterError(f"worse must be 'higher', 'lower' or 'either', got {worse!r}.")
    check_alpha(alpha)
    grouped = frame.groupby(segment, sort=True, dropna=False)[[successes, trials]].sum()
    if len(grouped) < 2:
        raise ParameterError(f"segment_breakdown needs at least two segments in {segment!r}, got {len(grouped)}.")
    x = grouped[successes].to_numpy(dtype=np.float64)
    n = grouped[trials].to_numpy(dtype=np.float64)
    if (n < 2).any() or (x < 0).any() or (x > n).any():
        bad = list(grouped.index[(n < 2) | (x < 0) | (x > n)])
        raise ParameterError(
            f"segments {bad} need at least 2 trials and 0 <= successes <= trials; merge small segments first."
        )
    total_x, total_n = x.sum(), n.sum()
    statistics, pvalues = [], []
    for xs, ns in zip(x, n, strict=True):
        rest = Moments.from_counts(int(total_x - xs), int(total_n - ns))
        seg = Moments.from_counts(int(xs), int(ns))
        if total_x in (0, total_n):
            statistics.append(0.0)
            pvalues.append(1.0)
            continue
        effect = ztest(rest, seg, alpha=alpha, pooled=True)
        statistics.append(effect.statistic)
        pvalues.append(effect.pvalue)
    z = float(special.ndtri(1.0 - alpha / 2.0))
    low, high = _proportion_ci(x, n, z, ci)
    rest_rate = (total_x - x) / (total_n - n)
    adjusted = adjust(np.asarray(pvalues), method="bh")
    difference = x / n - rest_rate
    if worse == "higher":
        bad_side = difference > 0
    elif worse == "lower":
        bad_side = difference < 0
    else:
        bad_side = np.ones(difference.size, dtype=bool)
    return pd.DataFrame(
        {
            "segment": list(grouped.index),
            "successes": x,
            "trials": n,
            "rate": x / n,
            "ci_low": low,
            "ci_high": high,
            "rest_rate": rest_rate,
            "difference": difference,
            "statistic": statistics,
            "pvalue": pvalues,
            "pvalue_adjusted": adjusted,
            "flag": (adjusted <= alpha) & bad_side,
        }
    )
