"""Label-free series of the model's scores per window: score drift (PSI) and the precision the scores expect (CBPE).

Both come from one aggregate query over ``predictions``: per window × segment × score bin the number of scored
requests, of flagged ones (``prediction = 1``) and the sum of the flagged requests' scores. From those sums:

* **score PSI** of a window against the reference histogram of the clean baseline (every window before the first
  release), per segment: ``PSI = Σ_i (q_i − p_i) ln(q_i / p_i)`` (:func:`abnb.monitor.drift.psi`, Siddiqi 2006).
  A baseline window is compared with the baseline *without itself* (leave one out), so a rule's false alarms on the
  baseline are not flattered by comparing a window with a histogram that contains it. PSI depends on the window's
  size: with no drift, ``n`` requests in the window and ``m`` in the reference, ``E[PSI] ≈ (B − 1)(1/n + 1/m)`` for
  ``B`` bins (second-order expansion: PSI ≈ Σ (q − p)²/p, a scaled χ²_{B−1}; Yurdakul 2018), and the floor of empty
  bins adds to it when ``n`` is small. A threshold must sit well above that level: 0.1–0.25 suits windows of
  thousands of requests, not of fifty; the backtest's false alarms show it.
* **expected precision** (CBPE, as :func:`abnb.quality.label_free_quality`): ``Σ_{flagged} s / #flagged``, the
  precision the filter has if its scores are calibrated, ``P(y = 1 | s) = s``. It needs no labels, so it is known
  at once, and a gap to the labelled precision is itself a sign of concept drift.

References:
    N. Siddiqi (2006), *Credit Risk Scorecards*, ch. 9; B. Yurdakul (2018), *Statistical properties of population
    stability index*, PhD dissertation, Western Michigan University.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb.monitor._common import frame_of, grouped, run_windowed, window_key
from abnb.monitor.drift import psi

if TYPE_CHECKING:
    import pandas as pd
    from sqlglot import exp

    from abnb.engine import Connection
    from abnb.telemetry import ModelTelemetry

__all__ = ["expected_precision_by_window", "score_bin", "score_histograms_by_window", "score_psi_by_window", "scored"]


def score_bin(score: exp.Expression) -> exp.Expression:
    """The bin of ``score`` among ``$bins`` equal bins of [0, 1]: ``least(floor(score·$bins), $bins − 1)``.

    A score of exactly 1 falls in the last bin; ``$bins`` is a bound parameter.
    """
    from sqlglot import exp

    raw = exp.Cast(
        this=exp.Floor(this=exp.Mul(this=score.copy(), expression=exp.Placeholder(this="bins"))),
        to=exp.DataType.build("INTEGER"),
    )
    return exp.Least(
        this=raw, expressions=[exp.Sub(this=exp.Placeholder(this="bins"), expression=exp.Literal.number(1))]
    )


def scored(score: exp.Expression) -> exp.Expression:
    """``score IS NOT NULL``: the requests a score histogram counts."""
    from sqlglot import exp

    return exp.Not(this=exp.Is(this=score.copy(), expression=exp.Null()))


def score_histograms_by_window(
    con: Connection, *, window: str, end: datetime, bins: int, schema: ModelTelemetry
) -> pd.DataFrame:
    """Per window × segment × bin of ``bins`` equal bins of [0, 1]: ``n``, ``n_flagged``, ``flagged_score_sum``.

    One query: ``SELECT time_bucket(window, ts), segment, least(floor(score·bins), bins − 1), count(*),
    count(*) FILTER (prediction = 1), sum(score) FILTER (prediction = 1) … WHERE score IS NOT NULL AND ts < end
    GROUP BY 1, 2, 3``; a score of exactly 1 falls in the last bin.
    """
    from sqlglot import exp

    predictions = schema.predictions
    score = predictions.column("score")
    flagged = exp.EQ(this=predictions.column("prediction"), expression=exp.Literal.number(1))

    def named(expression: exp.Expression, name: str) -> exp.Alias:
        return exp.Alias(this=expression, alias=exp.to_identifier(name, quoted=True))

    def only_flagged(aggregate: exp.Expression) -> exp.Expression:
        return exp.Filter(this=aggregate, expression=exp.Where(this=flagged.copy()))

    query = (
        exp.select(
            window_key(predictions.column("ts")),
            predictions.aliased("segment"),
            named(score_bin(score), "bin"),
            named(exp.Count(this=exp.Star()), "n"),
            named(only_flagged(exp.Count(this=exp.Star())), "n_flagged"),
            named(only_flagged(exp.Sum(this=score.copy())), "flagged_score_sum"),
        )
        .from_(predictions.expr())
        .where(exp.and_(scored(score), exp.LT(this=predictions.column("ts"), expression=exp.Placeholder(this="end"))))
    )
    params: dict[str, Any] = {"window": window, "bins": int(bins), "end": end}
    with schema.reading(con, "predictions"):
        frame = frame_of(run_windowed(con, grouped(query, 3), params, window))
    frame["flagged_score_sum"] = frame["flagged_score_sum"].astype("float64").fillna(0.0)
    for column in ("bin", "n", "n_flagged"):
        frame[column] = frame[column].astype("int64")
    return frame


def expected_precision_by_window(histograms: pd.DataFrame) -> pd.DataFrame:
    """CBPE precision per window × segment: ``Σ flagged scores / #flagged`` (windows with a flagged request).

    Args:
        histograms: The frame of :func:`score_histograms_by_window`.

    Returns:
        ``window``, ``segment``, ``n_flagged``, ``expected_precision``.
    """
    sums = histograms.groupby(["window", "segment"], as_index=False)[["n_flagged", "flagged_score_sum"]].sum()
    sums = sums[sums["n_flagged"] > 0].reset_index(drop=True)
    sums["expected_precision"] = sums["flagged_score_sum"] / sums["n_flagged"]
    return sums[["window", "segment", "n_flagged", "expected_precision"]]


def score_psi_by_window(histograms: pd.DataFrame, *, baseline_end: datetime, bins: int) -> pd.DataFrame:
    """PSI of each window's score histogram against the baseline's, per segment (leave one out in the baseline).

    Args:
        histograms: The frame of :func:`score_histograms_by_window`.
        baseline_end: Windows starting before it form the reference (the clean baseline).
        bins: The number of bins the histograms were made with.

    Returns:
        ``window``, ``segment``, ``n``, ``score_psi``; a segment without baseline scores has no rows, nor has a
        baseline window that is the segment's whole baseline.
    """
    import pandas as pd

    counts = histograms.pivot_table(index=["segment", "window"], columns="bin", values="n", aggfunc="sum")
    counts = counts.reindex(columns=range(bins), fill_value=0).fillna(0)
    rows: list[dict[str, Any]] = []
    for segment, per_window in counts.groupby(level="segment", sort=True):
        windows = pd.to_datetime(per_window.index.get_level_values("window"))
        matrix = per_window.to_numpy(dtype=np.float64)
        in_baseline = np.asarray(windows < pd.Timestamp(baseline_end))
        reference = matrix[in_baseline].sum(axis=0)
        for window, current, own in zip(windows, matrix, in_baseline, strict=True):
            base = reference - current if own else reference
            if base.sum() <= 0 or current.sum() <= 0:
                continue
            rows.append(
                {"window": window, "segment": segment, "n": int(current.sum()), "score_psi": psi(base, current)}
            )
    return pd.DataFrame(rows, columns=["window", "segment", "n", "score_psi"])
