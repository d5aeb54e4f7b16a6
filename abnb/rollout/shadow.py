"""Shadow releases: a candidate model scores the same requests as the live one; only the live answer is served.

From the two prediction logs joined by ``request_id`` (and, where they exist, true labels), :func:`compare_shadow` runs
ONE aggregate query (a SQLGlot tree with bound parameters) that returns, per segment × score-difference bin ×
live score bin × shadow score bin, the counts of the 2×2 agreement table, sums of the score difference and its
square, label sums and the counts of the paired correctness table. Everything else is computed from those few rows:

* agreement rate ``(n₀₀ + n₁₁)/n`` and flip rates ``n₀₁/n`` (0 → 1) and ``n₁₀/n`` (1 → 0), with Wilson intervals;
* the distribution of ``d = s_shadow − s_live`` in equal bins of [−1, 1], and its mean (the calibration shift)
  with a paired t interval (:func:`abnb.stats.paired`);
* calibration curves of both models against the labels (mean score vs observed rate per score bin);
* with labels, McNemar's test of paired accuracy (:func:`mcnemar`) and a paired t interval of the difference of
  per-request Brier losses ``(s − y)²``;
* the same per segment, with Benjamini–Hochberg adjusted p-values (:func:`abnb.stats.adjust`).

:func:`disagreements_to_label` picks the flipped requests most worth labelling, reproducibly. Both read the tables
and columns named by ``schema`` (:class:`abnb.telemetry.ModelTelemetry`; the sample's names by default).

References:
    Q. McNemar (1947), "Note on the sampling error of the difference between correlated proportions or
    percentages", Psychometrika 12, 153–157. A. Agresti (2013), Categorical Data Analysis, 3rd ed., §11.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from abnb._display import FlatResult
from abnb.engine import Connection, as_connection, identifier, validate_table_name
from abnb.errors import DataError, ParameterError
from abnb.stats import Moments, adjust, check_alpha, paired
from abnb.telemetry import Labels, ModelTelemetry, Truth

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import exp

__all__ = ["McNemarResult", "ShadowComparison", "compare_shadow", "disagreements_to_label", "mcnemar"]

Strategy = Literal["uncertainty", "margin", "random"]
_STRATEGIES = ("uncertainty", "margin", "random")
_COUNT_COLUMNS = (
    "n",
    "n00",
    "n01",
    "n10",
    "n11",
    "sum_d",
    "sum_d2",
    "sum_live",
    "sum_shadow",
    "n_labelled",
    "sum_label",
    "sum_live_l",
    "sum_shadow_l",
    "both_right",
    "live_right_only",
    "shadow_right_only",
    "sum_loss_d",
    "sum_loss_d2",
)


class _Result(FlatResult):
    """Shared ``to_dict``/``to_frame``/``_repr_html_`` of this module's result dataclasses."""

    _html_class = "abnb-rollout"
    _html_skips_tuples = False


# ------------------------------------------------------------------------------------------------------
# McNemar's test


@dataclass(frozen=True)
class McNemarResult(_Result):
    """McNemar's test of paired proportions from the two discordant counts.

    Attributes:
        b: Pairs where only the first (live) model is right (or: first says 1, second 0).
        c: Pairs where only the second (shadow) model is right.
        statistic: ``min(b, c)`` for the exact test; ``(|b − c| − 1)² / (b + c)`` for the χ² test.
        pvalue: Two-sided p-value.
        exact: Whether the exact binomial test was used.
        method: The formula.
    """

    b: int
    c: int
    statistic: float
    pvalue: float
    exact: bool
    method: str

    def __repr__(self) -> str:
        return f"McNemarResult(b={self.b}, c={self.c}, statistic={self.statistic:.4g}, pvalue={self.pvalue:.4g})"


def mcnemar(b: int, c: int, *, exact: bool | None = None, exact_below: int = 25) -> McNemarResult:
    """McNemar's test that two paired classifiers have the same accuracy.

    Only the discordant pairs matter: under H₀ each of the ``b + c`` of them is equally likely to favour either
    model. Exact: ``p = min(1, 2 · P(X ≤ min(b, c)))`` with ``X ~ Binomial(b + c, ½)``. Asymptotic, with Edwards'
    continuity correction: ``χ² = (|b − c| − 1)² / (b + c)`` on 1 degree of freedom. Same numbers as
    ``statsmodels.stats.contingency_tables.mcnemar([[a, b], [c, d]], exact=..., correction=True)``.

    Args:
        b: Discordant pairs of one kind (e.g. live right, shadow wrong).
        c: Discordant pairs of the other kind (shadow right, live wrong).
        exact: Force the exact (``True``) or χ² (``False``) test; ``None`` picks exact when ``b + c < exact_below``.
        exact_below: Discordant count below which ``exact=None`` uses the exact test.

    Returns:
        The test result.

    Raises:
        ParameterError: ``b`` or ``c`` is not a non-negative integer.

    References:
        Q. McNemar (1947), Psychometrika 12, 153–157; A. L. Edwards (1948), Psychometrika 13, 185–187.
    """
    from scipy import stats

    for name, value in (("b", b), ("c", c), ("exact_below", exact_below)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParameterError(f"{name} must be an integer >= 0, got {value!r}.")
    total = b + c
    use_exact = total < exact_below if exact is None else bool(exact)
    if total == 0:
        return McNemarResult(b, c, 0.0, 1.0, use_exact, "McNemar: no discordant pairs, p = 1")
    if use_exact:
        low = min(b, c)
        pvalue = min(1.0, 2.0 * float(stats.binom.cdf(low, total, 0.5)))
        return McNemarResult(b, c, float(low), pvalue, True, "McNemar exact: 2·P(Binomial(b + c, 1/2) ≤ min(b, c))")
    statistic = (abs(b - c) - 1.0) ** 2 / total
    pvalue = float(stats.chi2.sf(statistic, 1))
    return McNemarResult(b, c, statistic, pvalue, False, "McNemar χ² with continuity: (|b − c| − 1)²/(b + c), 1 df")


# ------------------------------------------------------------------------------------------------------
# the aggregate query


def _wilson(successes: float, n: float, z: float) -> tuple[float, float]:
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _tables(
    schema: ModelTelemetry | None,
    live: str | None,
    shadow: str | None,
    labels: str | None = None,
) -> tuple[ModelTelemetry, str | None]:
    """The schema with the tables named by ``live``/``shadow``/``labels``, and the ``[model]`` key of the labels.

    ``labels`` is ``"truth"`` or ``"labels"`` (the schema's tables of those keys), ``None``, or a table name with the
    columns of the truth table.
    """
    schema = schema or ModelTelemetry()
    if live is not None:
        schema = replace(schema, predictions=replace(schema.predictions, table=validate_table_name(live, "table name")))
    if shadow is not None:
        schema = replace(schema, shadow=replace(schema.shadow, table=validate_table_name(shadow, "table name")))
    if labels is None or labels in ("truth", "labels"):
        return schema, labels
    truth = replace(schema.truth, table=validate_table_name(labels, "table name"))
    return replace(schema, truth=truth), "truth"


def _segment_column(schema: ModelTelemetry, segment: str | None) -> exp.Expression:
    """The live table's segment column (``None``: the schema's; ``""``: one segment ``'all'``)."""
    from sqlglot import exp

    if segment is None:
        return schema.predictions.column("segment", "l")
    if segment == "":
        return exp.Literal.string("all")
    return exp.Column(this=identifier(segment, "column"), table=exp.to_identifier("l"))


def _num(value: float | int) -> exp.Expression:
    from sqlglot import exp

    return exp.Literal.number(value)


def _when(cond: exp.Expression | exp.Condition) -> exp.Expression:
    """``SUM(IF(cond, 1, 0))``: how many rows satisfy ``cond``."""
    from sqlglot import exp

    return exp.Sum(this=exp.If(this=cond, true=_num(1), false=_num(0)))


def _sq(e: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Mul(this=exp.Paren(this=e), expression=exp.Paren(this=e.copy()))


def _eq(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.EQ(this=a, expression=b)


def _bin_of(e: exp.Expression, low: float, span: float, bins: str) -> exp.Expression:
    """The equal-width bin of ``e`` over ``[low, low + span]``, ``$bins`` bins, clipped to the first and last."""
    from sqlglot import exp

    scaled = exp.Mul(
        this=exp.Paren(this=exp.Sub(this=e, expression=_num(low))),
        expression=exp.Cast(this=exp.Placeholder(this=bins), to=exp.DataType.build("DOUBLE")),
    )
    raw = exp.Floor(this=exp.Div(this=scaled, expression=_num(span)))
    top = exp.Sub(this=exp.Placeholder(this=bins), expression=_num(1))
    clipped = exp.Least(this=exp.Greatest(this=raw, expressions=[_num(0)]), expressions=[top])
    return exp.Cast(this=clipped, to=exp.DataType.build("INTEGER"))


def _pair_aggregates(ls: exp.Column, ss: exp.Column, lp: exp.Column, sp: exp.Column) -> dict[str, exp.Expression]:
    """The 2×2 agreement counts and the score sums of the live (``l``) and shadow (``s``) scores and predictions."""
    from sqlglot import exp

    d = exp.Sub(this=ss.copy(), expression=ls.copy())

    def both(live: int, shadow: int) -> exp.Expression:
        return _when(exp.and_(_eq(lp.copy(), _num(live)), _eq(sp.copy(), _num(shadow))))

    return {
        "n": exp.Count(this=exp.Star()),
        "n00": both(0, 0),
        "n01": both(0, 1),
        "n10": both(1, 0),
        "n11": both(1, 1),
        "sum_d": exp.Sum(this=d.copy()),
        "sum_d2": exp.Sum(this=_sq(d.copy())),
        "sum_live": exp.Sum(this=ls.copy()),
        "sum_shadow": exp.Sum(this=ss.copy()),
    }


def _label_aggregates(
    ls: exp.Column, ss: exp.Column, lp: exp.Column, sp: exp.Column, y: exp.Column
) -> dict[str, exp.Expression]:
    """Label sums, the paired correctness counts and the Brier loss difference sums, for the labelled rows."""
    from sqlglot import exp

    has = exp.Not(this=exp.Is(this=y.copy(), expression=exp.Null()))
    loss_d = exp.Sub(
        this=_sq(exp.Sub(this=ss.copy(), expression=y.copy())),
        expression=_sq(exp.Sub(this=ls.copy(), expression=y.copy())),
    )
    return {
        "n_labelled": exp.Count(this=y.copy()),
        "sum_label": exp.Sum(this=y.copy()),
        "sum_live_l": exp.Sum(this=exp.If(this=has.copy(), true=ls.copy(), false=exp.Null())),
        "sum_shadow_l": exp.Sum(this=exp.If(this=has.copy(), true=ss.copy(), false=exp.Null())),
        "both_right": _when(exp.and_(_eq(lp.copy(), y.copy()), _eq(sp.copy(), y.copy()))),
        "live_right_only": _when(exp.and_(_eq(lp.copy(), y.copy()), exp.NEQ(this=sp.copy(), expression=y.copy()))),
        "shadow_right_only": _when(exp.and_(exp.NEQ(this=lp.copy(), expression=y.copy()), _eq(sp.copy(), y.copy()))),
        "sum_loss_d": exp.Sum(this=loss_d.copy()),
        "sum_loss_d2": exp.Sum(this=_sq(loss_d.copy())),
    }


def _aggregate_query(
    *,
    schema: ModelTelemetry,
    labels: str | None,
    segment: str | None,
    with_start: bool,
    with_end: bool,
) -> exp.Expression:
    """Per segment × d-bin × live bin × shadow bin sums over the joined logs (bins and window bound)."""
    from sqlglot import exp

    label_table: Labels | Truth = schema.labels if labels == "labels" else schema.truth

    def col(alias: str, name: str) -> exp.Column:
        if alias == "t":
            return label_table.column(name, alias)
        return (schema.predictions if alias == "l" else schema.shadow).column(name, alias)

    ls, ss, lp, sp = col("l", "score"), col("s", "score"), col("l", "prediction"), col("s", "prediction")
    aggregates = _pair_aggregates(ls, ss, lp, sp)
    if labels is not None:
        aggregates |= _label_aggregates(ls, ss, lp, sp, col("t", "label"))
    keys: dict[str, exp.Expression] = {
        "segment": _segment_column(schema, segment),
        "d_bin": _bin_of(exp.Sub(this=ss.copy(), expression=ls.copy()), -1.0, 2.0, "bins"),
        "live_bin": _bin_of(ls.copy(), 0.0, 1.0, "calibration_bins"),
        "shadow_bin": _bin_of(ss.copy(), 0.0, 1.0, "calibration_bins"),
    }
    selects = [exp.Alias(this=e, alias=exp.to_identifier(n, quoted=True)) for n, e in {**keys, **aggregates}.items()]
    conditions: list[exp.Expression] = [
        exp.Not(this=exp.Is(this=ls.copy(), expression=exp.Null())),
        exp.Not(this=exp.Is(this=ss.copy(), expression=exp.Null())),
    ]
    if with_start:
        conditions.append(exp.GTE(this=col("s", "ts"), expression=exp.Placeholder(this="start")))
    if with_end:
        conditions.append(exp.LT(this=col("s", "ts"), expression=exp.Placeholder(this="end")))
    query = (
        exp.select(*selects)
        .from_(schema.shadow.expr("s"))
        .join(schema.predictions.expr("l"), on=_eq(col("s", "request_id"), col("l", "request_id")))
    )
    if labels is not None:
        query = query.join(
            label_table.expr("t"), on=_eq(col("s", "request_id"), col("t", "request_id")), join_type="left"
        )
    positions = [_num(i) for i in range(1, len(keys) + 1)]
    return query.where(exp.and_(*conditions)).group_by(*positions).order_by(*[p.copy() for p in positions])


# ------------------------------------------------------------------------------------------------------
# the comparison


@dataclass(frozen=True)
class ShadowComparison(_Result):
    """Live vs shadow model on the same requests; the segment, histogram and calibration tables on demand.

    Attributes:
        n: Requests scored by both models.
        agreement: Share with the same prediction, ``(n₀₀ + n₁₁)/n``; ``agreement_low``/``agreement_high`` Wilson.
        flips_up: Requests the live model called 0 and the shadow 1 (``n₀₁``).
        flips_down: Requests the live model called 1 and the shadow 0 (``n₁₀``).
        flip_rate: ``(n₀₁ + n₁₀)/n``.
        live_positive_rate: Share predicted 1 by the live model; ``shadow_positive_rate`` likewise.
        mean_score_difference: Mean of ``s_shadow − s_live`` (the calibration shift), with its paired t interval
            ``score_difference_low``/``score_difference_high`` and p-value ``score_difference_pvalue``.
        n_labelled: Requests with a label (0 when no labels were given); the fields below are NaN without labels.
        live_accuracy: Accuracy of the live model on the labelled requests; ``shadow_accuracy`` likewise.
        accuracy_difference: ``shadow − live`` accuracy with a paired t interval (``accuracy_low``/``accuracy_high``).
        mcnemar_statistic: McNemar's statistic on the labelled requests; ``mcnemar_pvalue`` its p-value.
        loss_difference: Mean of ``(s_shadow − y)² − (s_live − y)²`` (Brier), with a paired t interval
            ``loss_low``/``loss_high`` and p-value ``loss_pvalue``; negative means the shadow is better.
        alpha: Significance level of the intervals.
        method: The formulas.
    """

    n: int
    agreement: float
    agreement_low: float
    agreement_high: float
    flips_up: int
    flips_down: int
    flip_rate: float
    live_positive_rate: float
    shadow_positive_rate: float
    mean_score_difference: float
    score_difference_low: float
    score_difference_high: float
    score_difference_pvalue: float
    n_labelled: int
    live_accuracy: float
    shadow_accuracy: float
    accuracy_difference: float
    accuracy_low: float
    accuracy_high: float
    mcnemar_statistic: float
    mcnemar_pvalue: float
    loss_difference: float
    loss_low: float
    loss_high: float
    loss_pvalue: float
    alpha: float
    method: str
    _cells: tuple[tuple[Any, ...], ...] = field(repr=False, compare=False)
    _bins: int = field(repr=False, compare=False)
    _calibration_bins: int = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"ShadowComparison(n={self.n}, agreement={self.agreement:.4g}, flips_up={self.flips_up}, "
            f"flips_down={self.flips_down}, mean_score_difference={self.mean_score_difference:.4g}, "
            f"accuracy_difference={self.accuracy_difference:.4g}, mcnemar_pvalue={self.mcnemar_pvalue:.4g})"
        )

    def cells(self) -> pd.DataFrame:
        """The rows of the aggregate query (segment × d-bin × live bin × shadow bin sums)."""
        import pandas as pd

        return pd.DataFrame.from_records(
            list(self._cells), columns=["segment", "d_bin", "live_bin", "shadow_bin", *_COUNT_COLUMNS]
        )

    def histogram(self) -> pd.DataFrame:
        """Counts of ``s_shadow − s_live`` in equal bins of [−1, 1] (``low``, ``high``, ``count``, ``share``)."""
        import pandas as pd

        counts = self.cells().groupby("d_bin")["n"].sum()
        width = 2.0 / self._bins
        rows = [
            {"low": -1.0 + i * width, "high": -1.0 + (i + 1) * width, "count": int(counts.get(i, 0))}
            for i in range(self._bins)
        ]
        frame = pd.DataFrame(rows)
        frame["share"] = frame["count"] / max(1, self.n)
        return frame

    def calibration(self) -> pd.DataFrame:
        """Calibration curve of each model on the labelled requests: per score bin the mean score and label rate."""
        import pandas as pd

        cells = self.cells()
        frames = []
        for model, key, score in (("live", "live_bin", "sum_live_l"), ("shadow", "shadow_bin", "sum_shadow_l")):
            grouped = cells.groupby(key)[["n_labelled", score, "sum_label"]].sum()
            grouped = grouped[grouped["n_labelled"] > 0]
            frame = pd.DataFrame(
                {
                    "model": model,
                    "bin": grouped.index.astype(int),
                    "n_labelled": grouped["n_labelled"].astype(int).to_numpy(),
                    "mean_score": (grouped[score] / grouped["n_labelled"]).to_numpy(),
                    "label_rate": (grouped["sum_label"] / grouped["n_labelled"]).to_numpy(),
                }
            )
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def segments(self) -> pd.DataFrame:
        """Per-segment breakdown with intervals and Benjamini–Hochberg adjusted p-values.

        Columns: agreement with its Wilson interval, flips, mean score difference with a paired t interval and
        p-value, and with labels the accuracy difference (paired t interval), McNemar's p-value and the Brier
        loss difference. ``*_pvalue_bh`` columns adjust each family of segment tests (FDR, :func:`abnb.stats.adjust`).
        """
        import pandas as pd

        sums = self.cells().groupby("segment")[list(_COUNT_COLUMNS)].sum()
        rows = [_summary(seg, row, self.alpha) for seg, row in sums.iterrows()]
        frame = pd.DataFrame(rows)
        for name in ("score_difference_pvalue", "mcnemar_pvalue", "loss_pvalue"):
            values = frame[name].to_numpy(dtype=float)
            finite = ~pd.isna(values)
            adjusted = values.copy()
            if finite.any():
                adjusted[finite] = adjust(values[finite], method="bh")
            frame[name.replace("_pvalue", "_pvalue_bh")] = adjusted
        return frame


def _effect(total: float, total_sq: float, n: float, alpha: float) -> tuple[float, float, float, float]:
    """Mean, interval and p-value of a paired difference from its sums (NaN when undefined)."""
    if n < 2:
        return math.nan, math.nan, math.nan, math.nan
    try:
        effect = paired(Moments(int(n), float(total), float(total_sq)), alpha=alpha)
    except DataError:
        return float(total) / n, math.nan, math.nan, math.nan
    return effect.estimate, effect.ci_low, effect.ci_high, effect.pvalue


def _summary(segment: Any, row: Any, alpha: float) -> dict[str, Any]:
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    n = float(row["n"])
    agree = float(row["n00"] + row["n11"])
    low, high = _wilson(agree, n, z)
    d_mean, d_low, d_high, d_p = _effect(row["sum_d"], row["sum_d2"], n, alpha)
    out: dict[str, Any] = {
        "segment": segment,
        "n": int(n),
        "agreement": agree / n if n else math.nan,
        "agreement_low": low,
        "agreement_high": high,
        "flips_up": int(row["n01"]),
        "flips_down": int(row["n10"]),
        "flip_rate": float(row["n01"] + row["n10"]) / n if n else math.nan,
        "live_positive_rate": float(row["n10"] + row["n11"]) / n if n else math.nan,
        "shadow_positive_rate": float(row["n01"] + row["n11"]) / n if n else math.nan,
        "mean_score_difference": d_mean,
        "score_difference_low": d_low,
        "score_difference_high": d_high,
        "score_difference_pvalue": d_p,
    }
    m = float(row["n_labelled"])
    b, c = int(row["live_right_only"]), int(row["shadow_right_only"])
    _, acc_low, acc_high, _ = _effect(c - b, b + c, m, alpha)
    loss, loss_low, loss_high, loss_p = _effect(row["sum_loss_d"], row["sum_loss_d2"], m, alpha)
    test = mcnemar(b, c) if m else None
    out |= {
        "n_labelled": int(m),
        "live_accuracy": float(row["both_right"] + b) / m if m else math.nan,
        "shadow_accuracy": float(row["both_right"] + c) / m if m else math.nan,
        "accuracy_difference": (c - b) / m if m else math.nan,
        "accuracy_low": acc_low,
        "accuracy_high": acc_high,
        "mcnemar_statistic": test.statistic if test else math.nan,
        "mcnemar_pvalue": test.pvalue if test else math.nan,
        "loss_difference": loss,
        "loss_low": loss_low,
        "loss_high": loss_high,
        "loss_pvalue": loss_p,
    }
    return out


def _check_window(start: datetime | str | None, end: datetime | str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in (("start", start), ("end", end)):
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as error:
                raise ParameterError(f"{name} must be an ISO date or datetime, got {value!r}.") from error
        if not isinstance(value, datetime):
            raise ParameterError(f"{name} must be a datetime or ISO string, got {value!r}.")
        params[name] = value
    return params


def compare_shadow(
    con: Connection | duckdb.DuckDBPyConnection,
    *,
    live: str | None = None,
    shadow: str | None = None,
    labels: str | None = "truth",
    segment: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    bins: int = 40,
    calibration_bins: int = 10,
    alpha: float = 0.05,
    schema: ModelTelemetry | None = None,
) -> ShadowComparison:
    """Compare a shadow model with the live one on the requests both scored (one aggregate query).

    Both tables need ``request_id``, ``score`` (probability of class 1) and ``prediction`` (0/1); ``shadow`` also
    ``ts`` (the window filters on it); ``live`` the ``segment`` column; ``labels`` ``request_id`` and ``label``.
    Column names are those of ``schema`` (:class:`abnb.telemetry.Predictions` for ``live``,
    :class:`~abnb.telemetry.Shadow` for ``shadow``, :class:`~abnb.telemetry.Truth` or
    :class:`~abnb.telemetry.Labels` for ``labels``), whichever tables hold them.

    Formulas: agreement ``(n₀₀ + n₁₁)/n`` with a Wilson interval; calibration shift ``d̄ = Σd/n`` with
    ``d = s_shadow − s_live`` and the paired t interval of :func:`abnb.stats.paired` from ``(n, Σd, Σd²)``;
    accuracy difference ``(c − b)/m`` over the ``m`` labelled requests (``b``: only live right, ``c``: only shadow
    right) with the paired t interval of the per-request correctness differences (``Σ = c − b``, ``Σ² = b + c``)
    and :func:`mcnemar`; Brier loss difference by the paired t interval.

    Args:
        con: A connection (abnb or DuckDB).
        live: Table of the served model's predictions (default: the schema's ``predictions`` table).
        shadow: Table of the shadow model's predictions (default: the schema's ``shadow`` table).
        labels: The labels: ``"truth"`` (default), the schema's table of true labels (``[model.truth]``);
            ``"labels"``, the schema's sampled manual labels (selected on the live prediction, so the accuracies are
            conditional on that selection); any other name, a table with the truth table's columns; ``None`` skips
            the paired tests.
        segment: Segment column of ``live`` (default: the schema's); ``""`` for no segments.
        start: Only shadow requests at or after this time.
        end: Only shadow requests before this time.
        bins: Number of equal bins of the score difference over [−1, 1].
        calibration_bins: Number of equal score bins over [0, 1] for the calibration curves.
        alpha: Significance level of the intervals.
        schema: Names of the model-telemetry tables and columns (default: the sample's; in a project
            ``abnb.find_project().model_telemetry()``).

    Returns:
        The comparison; ``segments()``, ``histogram()``, ``calibration()`` give the tables.

    Raises:
        ParameterError: A bad argument. DataError: no request was scored by both models.
        SchemaError: A table or column is missing.

    References:
        McNemar (1947), Psychometrika 12; E. B. Wilson (1927), JASA 22, 209–212; G. W. Brier (1950), Monthly
        Weather Review 78, 1–3.
    """
    for name, value in (("bins", bins), ("calibration_bins", calibration_bins)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be an integer >= 1, got {value!r}.")
    check_alpha(alpha)
    params = _check_window(start, end)
    connection = as_connection(con)
    names, label_key = _tables(schema, live, shadow, labels)
    query = _aggregate_query(
        schema=names, labels=label_key, segment=segment, with_start="start" in params, with_end="end" in params
    )
    params |= {"bins": bins, "calibration_bins": calibration_bins}
    with names.reading(connection, "shadow", "predictions", *([label_key] if label_key else [])):
        result = connection.run(query, params)
    width = len(_COUNT_COLUMNS)
    cells = tuple(
        tuple(row[:4]) + tuple(0 if v is None else v for v in row[4:]) + (0,) * (width + 4 - len(row))
        for row in result.rows
    )
    if not cells:
        raise DataError(
            f"no request of {names.shadow.table!r} joins {names.predictions.table!r} by "
            f"{names.predictions.request_id} with both scores present; check the window."
        )
    totals = {name: sum(float(row[4 + i]) for row in cells) for i, name in enumerate(_COUNT_COLUMNS)}
    summary = _summary("all", totals, float(alpha))
    method = (
        "agreement with Wilson interval; score difference, accuracy difference and Brier loss difference by paired "
        "t-test; McNemar (exact below 25 discordant pairs, else χ² with continuity); segments BH-adjusted"
    )
    return ShadowComparison(
        **{k: v for k, v in summary.items() if k != "segment"},
        alpha=float(alpha),
        method=method,
        _cells=cells,
        _bins=bins,
        _calibration_bins=calibration_bins,
    )


# ------------------------------------------------------------------------------------------------------
# labelling sampler


def disagreements_to_label(
    con: Connection | duckdb.DuckDBPyConnection,
    n: int,
    *,
    strategy: Strategy = "uncertainty",
    seed: int = 0,
    live: str | None = None,
    shadow: str | None = None,
    segment: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    schema: ModelTelemetry | None = None,
) -> pd.DataFrame:
    """Pick ``n`` requests where the two models disagree (predictions differ), the most informative first.

    Strategies, all computed in the engine with ``LIMIT n`` (bounded rows) and ties broken by
    ``md5("{seed}.{request_id}")``, so the same arguments give the same requests on any engine:

    * ``"uncertainty"``: smallest ``|(s_live + s_shadow)/2 − 0.5|`` — the pairs whose true label is least certain
      (uncertainty sampling, Lewis & Gale 1994);
    * ``"margin"``: largest ``|s_shadow − s_live|`` — the most confident disagreements (query by committee,
      Seung, Opper & Sompolinsky 1992);
    * ``"random"``: a uniform random sample of the flips, ordered by the hash alone.

    Args:
        con: A connection (abnb or DuckDB).
        n: Number of requests to return (at most).
        strategy: ``"uncertainty"``, ``"margin"`` or ``"random"``.
        seed: Salt of the hash ordering.
        live: Table of the served model's predictions (default: the schema's ``predictions`` table).
        shadow: Table of the shadow model's predictions (default: the schema's ``shadow`` table).
        segment: Segment column of ``live`` (returned for stratification; default: the schema's); ``""`` for none.
        start: Only shadow requests at or after this time.
        end: Only shadow requests before this time.
        schema: Names of the model-telemetry tables and columns (default: the sample's).

    Returns:
        Columns ``request_id``, ``segment``, ``live_score``, ``shadow_score``, ``live_prediction``,
        ``shadow_prediction``, ``score_difference``, in priority order.

    Raises:
        ParameterError: A bad ``n``, ``strategy`` or ``seed``.
    """
    import pandas as pd
    from sqlglot import exp

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}.")
    if strategy not in _STRATEGIES:
        raise ParameterError(f"strategy must be one of {', '.join(map(repr, _STRATEGIES))}, got {strategy!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"seed must be an integer, got {seed!r}.")
    params = _check_window(start, end)
    names, _ = _tables(schema, live, shadow)

    def col(alias: str, name: str) -> exp.Column:
        return (names.predictions if alias == "l" else names.shadow).column(name, alias)

    ls, ss = col("l", "score"), col("s", "score")
    diff = exp.Sub(this=ss.copy(), expression=ls.copy())
    selects = {
        "request_id": col("s", "request_id"),
        "segment": _segment_column(names, segment),
        "live_score": ls.copy(),
        "shadow_score": ss.copy(),
        "live_prediction": col("l", "prediction"),
        "shadow_prediction": col("s", "prediction"),
        "score_difference": diff.copy(),
    }
    salted = exp.MD5(
        this=exp.DPipe(
            this=exp.Cast(this=exp.Placeholder(this="salt"), to=exp.DataType.build("VARCHAR")),
            expression=exp.Cast(this=col("s", "request_id"), to=exp.DataType.build("VARCHAR")),
        )
    )
    middle = exp.Div(
        this=exp.Paren(this=exp.Add(this=ls.copy(), expression=ss.copy())), expression=exp.Literal.number(2)
    )
    order: list[exp.Expression] = []
    if strategy == "uncertainty":
        order.append(exp.Abs(this=exp.Sub(this=middle, expression=exp.Literal.number(0.5))))
    elif strategy == "margin":
        order.append(exp.Ordered(this=exp.Abs(this=diff.copy()), desc=True))
    order.append(salted)
    conditions: list[exp.Expression] = [exp.NEQ(this=col("l", "prediction"), expression=col("s", "prediction"))]
    if "start" in params:
        conditions.append(exp.GTE(this=col("s", "ts"), expression=exp.Placeholder(this="start")))
    if "end" in params:
        conditions.append(exp.LT(this=col("s", "ts"), expression=exp.Placeholder(this="end")))
    query = (
        exp.select(*[exp.Alias(this=e, alias=exp.to_identifier(k, quoted=True)) for k, e in selects.items()])
        .from_(names.shadow.expr("s"))
        .join(names.predictions.expr("l"), on=exp.EQ(this=col("s", "request_id"), expression=col("l", "request_id")))
        .where(exp.and_(*conditions))
        .order_by(*order)
        .limit(exp.Placeholder(this="n"))
    )
    params |= {"salt": f"{seed}.", "n": n}
    connection = as_connection(con)
    with names.reading(connection, "shadow", "predictions"):
        result = connection.run(query, params)
    return pd.DataFrame.from_records(result.rows, columns=list(result.columns))
