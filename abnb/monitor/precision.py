"""Labelled precision per window and group: the Hájek estimate from the sampled manual labels, in the engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb.engine import Connection, as_connection, identifier
from abnb.errors import ParameterError
from abnb.monitor._common import frame_of, grouped, run_windowed, time_range, window_key
from abnb.stats import check_alpha
from abnb.telemetry import ModelTelemetry

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import exp

__all__ = ["labelled_precision_by_window"]


def _groups(by: str | Sequence[str] | None) -> list[str]:
    groups = [by] if isinstance(by, str) else list(by or ())
    for name in groups:
        if not isinstance(name, str):
            raise ParameterError(f"by must name columns of predictions, got {by!r}.")
    return groups


def _prediction_column(schema: ModelTelemetry, name: str, alias: str | None = None) -> exp.Expression:
    """A grouping column of the predictions, named ``name`` in the result.

    A field of :class:`abnb.telemetry.Predictions` (``segment``, ``model_version`` ...) is the schema's column for
    it; any other name is a column of the table as it is.
    """
    from sqlglot import exp

    predictions = schema.predictions
    if name in predictions.columns():
        return predictions.aliased(name, alias)
    column = exp.Column(this=identifier(name, "group column"), table=exp.to_identifier(alias) if alias else None)
    return exp.Alias(this=column, alias=identifier(name, "group column"))


def _precision_query(
    schema: ModelTelemetry,
    window: str | None,
    groups: list[str],
    start: object,
    end: object,
) -> tuple[exp.Select, dict[str, Any], int]:
    """The aggregate query over ``labels ⋈ predictions``, its bound values and its number of group keys."""
    from sqlglot import exp

    def pcol(name: str) -> exp.Column:
        return schema.predictions.column(name, "p")

    def lcol(name: str) -> exp.Column:
        return schema.labels.column(name, "l")

    weight = exp.Div(this=exp.Literal.number(1), expression=lcol("inclusion_prob"))
    label = exp.Cast(this=lcol("label"), to=exp.DataType.build("DOUBLE"))
    squared = exp.Mul(this=exp.Paren(this=weight.copy()), expression=exp.Paren(this=weight.copy()))
    aggregates = {
        "n_labels": exp.Count(this=exp.Star()),
        "n_true_positive": exp.Sum(this=lcol("label")),
        "sum_w": exp.Sum(this=weight.copy()),
        "sum_wy": exp.Sum(this=exp.Mul(this=exp.Paren(this=weight.copy()), expression=label.copy())),
        "sum_w2": exp.Sum(this=squared.copy()),
        "sum_w2y": exp.Sum(this=exp.Mul(this=exp.Paren(this=squared.copy()), expression=label.copy())),
    }
    keys: list[exp.Expression] = []
    params: dict[str, Any] = {}
    if window is not None:
        keys.append(window_key(pcol("ts")))
        params["window"] = window
    keys += [_prediction_column(schema, g, "p") for g in groups]
    selects = keys + [exp.Alias(this=e, alias=exp.to_identifier(n, quoted=True)) for n, e in aggregates.items()]
    conditions: list[exp.Expression] = [exp.EQ(this=pcol("prediction"), expression=exp.Literal.number(1))]
    conditions += time_range(pcol("ts"), start, end, params)
    if end is not None:
        conditions.append(exp.LT(this=lcol("ts"), expression=exp.Placeholder(this="end")))
    query = (
        exp.select(*selects)
        .from_(schema.labels.expr("l"))
        .join(schema.predictions.expr("p"), on=exp.EQ(this=lcol("request_id"), expression=pcol("request_id")))
        .where(exp.and_(*conditions))
    )
    return query, params, len(keys)


def _hajek(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The groups with labels, their sums typed, and the Hájek precision with its delta-method interval."""
    from scipy import special

    frame = frame[frame["n_labels"] > 0].reset_index(drop=True)
    frame["n_labels"] = frame["n_labels"].astype("int64")
    frame["n_true_positive"] = frame["n_true_positive"].astype("int64")
    for column in ("sum_w", "sum_wy", "sum_w2", "sum_w2y"):
        frame[column] = frame[column].astype("float64")
    ratio = frame["sum_wy"] / frame["sum_w"]
    variance = (frame["sum_w2y"] * (1.0 - 2.0 * ratio) + ratio**2 * frame["sum_w2"]) / frame["sum_w"] ** 2
    z = float(special.ndtri(1.0 - float(alpha) / 2.0))
    se = np.sqrt(np.maximum(variance.to_numpy(dtype=np.float64), 0.0))
    frame["precision"] = ratio
    frame["se"] = se
    frame["ci_low"] = np.clip(ratio - z * se, 0.0, 1.0)
    frame["ci_high"] = np.clip(ratio + z * se, 0.0, 1.0)
    return frame


def labelled_precision_by_window(
    connection: Connection | duckdb.DuckDBPyConnection,
    *,
    window: str | None,
    by: str | Sequence[str] | None = "segment",
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    alpha: float = 0.05,
    schema: ModelTelemetry | None = None,
) -> pd.DataFrame:
    """Hájek estimate of precision per window × group from the sampled manual labels, computed in the engine.

    The labelled flagged requests (``labels ⋈ predictions`` on ``request_id`` with ``prediction = 1``) carry
    weights ``w = 1/π`` (``inclusion_prob``). One aggregate query returns per window and group
    ``n = count``, ``S_w = Σw``, ``S_wy = Σw·y``, ``S_w2 = Σw²`` and ``S_w2y = Σw²·y`` (``y`` the 0/1 label); then

    * precision ``R = S_wy / S_w`` (Hájek ratio estimator);
    * delta-method variance ``Var(R) ≈ Σ w² (y − R)² / S_w² = (S_w2y (1 − 2R) + R² S_w2) / S_w²``
      (``y² = y``). With ``w²`` rather than the design-only ``w² − w`` it also covers the Bernoulli noise of
      the labels, so the interval targets the model's precision, not only that of the served population;
    * a normal ``1 − alpha`` interval ``R ± z·SE``, clipped to [0, 1].

    A request is counted in the window of its prediction ``ts``; ``start``/``end`` bound that ts, and ``end``
    also drops labels that arrived at or after it (they were not known yet).

    Args:
        connection: A connection from :func:`abnb.connect` or a raw ``duckdb`` connection.
        window: Window length as a DuckDB interval (``"1 day"``); ``None`` for one row per group over the range.
        by: Column(s) of ``predictions`` to group by (e.g. ``"segment"``, ``"model_version"``), or ``None``. A
            field of :class:`abnb.telemetry.Predictions` means the schema's column for it (the result names it by
            the field); any other name is a column of the predictions table.
        start: Keep requests with ``ts >= start``.
        end: Keep requests with ``ts < end`` and labels with ``ts < end``.
        alpha: Significance level of the intervals.
        schema: Names of the ``predictions`` and ``labels`` tables and columns (default: the sample's).

    Returns:
        One row per window × group: ``window`` (when windowed), the ``by`` columns, ``n_labels``,
        ``n_true_positive`` (unweighted), ``sum_w``, ``sum_wy``, ``sum_w2``, ``sum_w2y``, ``precision``, ``se``,
        ``ci_low``, ``ci_high``.

    References:
        J. Hájek (1971), comment in *Foundations of Statistical Inference*; C.-E. Särndal, B. Swensson &
        J. Wretman (1992), *Model Assisted Survey Sampling*, §5.6–5.7 (ratio estimators, Taylor variance).
    """
    con = as_connection(connection)
    schema = schema or ModelTelemetry()
    groups = _groups(by)
    check_alpha(alpha)
    if window is not None and (not isinstance(window, str) or not window.strip()):
        raise ParameterError(f"window must be an interval string such as '1 day' or None, got {window!r}.")
    query, params, keys = _precision_query(schema, window, groups, start, end)
    if keys:
        query = grouped(query, keys)
    with schema.reading(con, "labels", "predictions"):
        result = run_windowed(con, query, params, window)
    return _hajek(frame_of(result), alpha)
