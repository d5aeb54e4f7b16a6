"""Drift of inputs and predictions: PSI, the KS and χ² tests, and a per-feature drift report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from abnb._display import format_value as _fmt
from abnb.errors import DataError, ParameterError
from abnb.monitor._common import Result, positive_int, psi_level, real
from abnb.stats import adjust

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray

__all__ = ["DriftResult", "chi2_drift", "drift_report", "ks_drift", "psi", "psi_from_values"]


def _counts(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        counts = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ParameterError(f"{name} must be numbers ({error}).") from error
    if counts.ndim != 1 or counts.size < 2:
        raise ParameterError(f"{name} must be one-dimensional with at least two bins, got shape {counts.shape}.")
    if not np.isfinite(counts).all() or (counts < 0).any() or counts.sum() <= 0:
        raise ParameterError(f"{name} must be finite non-negative counts with a positive total.")
    return counts


def psi(reference_counts: ArrayLike, current_counts: ArrayLike, *, epsilon: float = 1e-4) -> float:
    """Population stability index of two binned distributions.

    ``PSI = Σ_i (q_i − p_i)·ln(q_i / p_i)`` with ``p_i``, ``q_i`` the reference and current shares of bin
    ``i``; shares below ``epsilon`` are raised to ``epsilon`` so empty bins stay finite. PSI is the symmetrised
    Kullback–Leibler divergence ``KL(q‖p) + KL(p‖q)``; the usual reading is < 0.1 stable, 0.1–0.25 a moderate
    shift, > 0.25 a major shift (Siddiqi 2006, *Credit Risk Scorecards*, ch. 9).

    Args:
        reference_counts: Counts per bin in the reference period.
        current_counts: Counts per bin in the current period, same bins.
        epsilon: Floor of the shares.

    Returns:
        The PSI (≥ 0).

    Raises:
        ParameterError: If the counts are not non-negative with a positive total or the bins differ in number.
    """
    p = _counts(reference_counts, "reference_counts")
    q = _counts(current_counts, "current_counts")
    if p.size != q.size:
        raise ParameterError(f"reference has {p.size} bins but current has {q.size}; use the same bins.")
    eps = real(epsilon, "epsilon", positive=True)
    p = np.maximum(p / p.sum(), eps)
    q = np.maximum(q / q.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def _numeric_values(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} must be numbers ({error}).") from error
    array = array[~np.isnan(array)] if array.ndim == 1 else array
    if array.ndim != 1 or array.size == 0:
        raise DataError(f"{name} must be a non-empty one-dimensional sample.")
    return array


def psi_from_values(reference: ArrayLike, current: ArrayLike, *, bins: int = 10) -> float:
    """PSI of a numeric feature over ``bins`` quantile bins of the reference sample.

    The inner bin edges are the reference quantiles ``1/bins, …, (bins − 1)/bins`` (duplicates dropped); the
    outer bins are open, so current values outside the reference range still count. Bins are right-closed
    ``(e_{i−1}, e_i]``. NaN values are dropped. Then :func:`psi` of the two count vectors.

    Args:
        reference: Reference values.
        current: Current values.
        bins: Number of quantile bins (≥ 2).

    Returns:
        The PSI.
    """
    ref = _numeric_values(reference, "reference")
    cur = _numeric_values(current, "current")
    n_bins = positive_int(bins, "bins")
    if n_bins < 2:
        raise ParameterError(f"bins must be >= 2, got {n_bins}.")
    edges = np.unique(np.quantile(ref, np.arange(1, n_bins) / n_bins))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=edges.size + 1)
    if edges.size == 0:
        return 0.0
    return psi(ref_counts, cur_counts)


@dataclass(frozen=True)
class DriftResult(Result):
    """A test of whether a feature's distribution moved between a reference and a current period.

    Attributes:
        statistic: KS ``D`` or Pearson χ².
        pvalue: p-value of no change.
        dof: Degrees of freedom of χ² (``None`` for KS).
        psi: Population stability index of the same comparison.
        n_reference: Reference sample size.
        n_current: Current sample size.
        method: The test used.
    """

    statistic: float
    pvalue: float
    dof: int | None
    psi: float
    n_reference: int
    n_current: int
    method: str

    def __repr__(self) -> str:
        return (
            f"DriftResult(statistic={_fmt(self.statistic)}, pvalue={_fmt(self.pvalue)}, psi={_fmt(self.psi)}, "
            f"method={self.method!r})"
        )


def ks_drift(reference: ArrayLike, current: ArrayLike, *, bins: int = 10) -> DriftResult:
    """Two-sample Kolmogorov–Smirnov test of a numeric feature (``scipy.stats.ks_2samp``), with its PSI.

    ``D = sup_x |F_ref(x) − F_cur(x)|``; the p-value is scipy's (exact for small samples, asymptotic else).
    NaN values are dropped.

    Args:
        reference: Reference values.
        current: Current values.
        bins: Quantile bins of the accompanying :func:`psi_from_values`.

    Returns:
        The test result.

    References:
        N. Smirnov (1948), Ann. Math. Statist. 19, 279–281.
    """
    from scipy import stats

    ref = _numeric_values(reference, "reference")
    cur = _numeric_values(current, "current")
    res = stats.ks_2samp(ref, cur)
    return DriftResult(
        statistic=float(res.statistic),
        pvalue=float(res.pvalue),
        dof=None,
        psi=psi_from_values(ref, cur, bins=bins),
        n_reference=int(ref.size),
        n_current=int(cur.size),
        method="two-sample Kolmogorov-Smirnov (scipy.stats.ks_2samp)",
    )


def chi2_drift(reference_counts: ArrayLike, current_counts: ArrayLike) -> DriftResult:
    """Pearson χ² test of homogeneity of a categorical feature (``scipy.stats.chi2_contingency``), with its PSI.

    The 2 × k table has the reference and current counts as rows; categories empty in both are dropped.
    ``χ² = Σ (O − E)²/E`` with ``E`` from the margins, ``dof = k − 1`` (Yates' correction when ``k = 2``, as
    scipy applies it).

    Args:
        reference_counts: Counts per category in the reference period.
        current_counts: Counts per category in the current period, same order.

    Returns:
        The test result.

    References:
        K. Pearson (1900), Phil. Mag. 50, 157–175.
    """
    from scipy import stats

    ref = _counts(reference_counts, "reference_counts")
    cur = _counts(current_counts, "current_counts")
    if ref.size != cur.size:
        raise ParameterError(f"reference has {ref.size} categories but current has {cur.size}; align them.")
    keep = (ref + cur) > 0
    if keep.sum() < 2:
        statistic, pvalue, dof = 0.0, 1.0, 0
    else:
        res = stats.chi2_contingency(np.vstack([ref[keep], cur[keep]]))
        statistic, pvalue, dof = float(res.statistic), float(res.pvalue), int(res.dof)
    return DriftResult(
        statistic=statistic,
        pvalue=pvalue,
        dof=dof,
        psi=psi(ref, cur),
        n_reference=int(ref.sum()),
        n_current=int(cur.sum()),
        method="Pearson chi-squared test of homogeneity (scipy.stats.chi2_contingency)",
    )


def drift_report(
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    features: Sequence[str],
    *,
    alpha: float = 0.05,
    bins: int = 10,
) -> pd.DataFrame:
    """Drift of each feature between a reference and a current sample, the test chosen by dtype.

    Numeric features (not boolean) get :func:`ks_drift` and the quantile-bin PSI; boolean, categorical and
    string features get :func:`chi2_drift` over the union of categories (missing values as their own
    category). The p-values are adjusted by Benjamini–Hochberg across features; ``drift`` marks adjusted
    p ≤ α. With large samples tiny shifts are significant: read ``psi`` (``psi_level``) as the size.

    Args:
        reference_frame: Reference rows (e.g. training data or the pre-release period), or a bounded sample.
        current_frame: Current rows, or a bounded sample.
        features: Columns to compare.
        alpha: FDR level of the ``drift`` flag.
        bins: Quantile bins of the numeric PSI.

    Returns:
        One row per feature: ``feature``, ``kind``, ``test``, ``statistic``, ``pvalue``, ``dof``, ``psi``,
        ``psi_level``, ``pvalue_adjusted``, ``drift``.

    Raises:
        ParameterError: If a feature is missing from either frame or ``features`` is empty.
    """
    import pandas as pd

    names = list(features)
    if not names:
        raise ParameterError("features is empty; name at least one column to compare.")
    for frame, which in ((reference_frame, "reference_frame"), (current_frame, "current_frame")):
        missing = [f for f in names if f not in frame.columns]
        if missing:
            raise ParameterError(f"{which} has no column(s) {missing}; its columns are {list(frame.columns)}.")
    rows = []
    for feature in names:
        ref, cur = reference_frame[feature], current_frame[feature]
        numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
        if numeric:
            result = ks_drift(ref.to_numpy(dtype=np.float64), cur.to_numpy(dtype=np.float64), bins=bins)
            kind, test = "numeric", "ks"
        else:
            ref_counts = ref.astype(object).fillna("(missing)").value_counts()
            cur_counts = cur.astype(object).fillna("(missing)").value_counts()
            categories = sorted(set(ref_counts.index) | set(cur_counts.index), key=str)
            result = chi2_drift(
                ref_counts.reindex(categories, fill_value=0).to_numpy(),
                cur_counts.reindex(categories, fill_value=0).to_numpy(),
            )
            kind, test = "categorical", "chi2"
        rows.append(
            {
                "feature": feature,
                "kind": kind,
                "test": test,
                "statistic": result.statistic,
                "pvalue": result.pvalue,
                "dof": result.dof,
                "psi": result.psi,
                "psi_level": psi_level(result.psi),
            }
        )
    report = pd.DataFrame(rows)
    report["pvalue_adjusted"] = adjust(report["pvalue"].to_numpy(dtype=np.float64), method="bh")
    report["drift"] = report["pvalue_adjusted"] <= alpha
    return report
