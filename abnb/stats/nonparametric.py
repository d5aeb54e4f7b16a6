"""Nonparametric two-arm comparisons on raw samples: Mann–Whitney, the bootstrap and quantile metrics.

These are the methods that need the unit-level values rather than sufficient statistics, so they take arrays
(a bounded sample the caller fetched from the engine) and never touch a database. All functions are pure: the
same input (and ``seed``) gives the same result.

* :func:`mann_whitney` — the Wilcoxon–Mann–Whitney rank-sum test with the Hodges–Lehmann shift estimate and
  its distribution-free confidence interval (the semantics of R's ``wilcox.test(conf.int = TRUE)``).
* :func:`bootstrap` — two-sample bootstrap of a difference (or ratio) of any statistic, percentile or BCa
  interval, vectorised in batches of bounded memory.
* :func:`quantile_ci` — the distribution-free order-statistic interval of one quantile.
* :func:`quantile_difference` — the difference of a quantile (P50, P90, P99, ...) between two arms with the
  order-statistic standard error of Deng, Knoblich & Lu (2018).

scipy is imported inside the functions so that ``import abnb`` stays light.

References:
    H. B. Mann, D. R. Whitney (1947), "On a test of whether one of two random variables is stochastically
    larger than the other", Annals of Mathematical Statistics 18, 50–60.
    J. L. Hodges, E. L. Lehmann (1963), "Estimates of location based on rank tests", Annals of Mathematical
    Statistics 34, 598–611.
    D. F. Bauer (1972), "Constructing confidence sets using rank statistics", JASA 67, 687–690.
    M. Hollander, D. A. Wolfe (1999), *Nonparametric Statistical Methods*, 2nd ed., Wiley, §4.3.
    R. W. Floyd, R. L. Rivest (1975), "Expected time bounds for selection", Communications of the ACM 18,
    165–172.
    J. F. Monahan (1984), "Algorithm 616: fast computation of the Hodges–Lehmann location estimator", ACM
    Transactions on Mathematical Software 10, 265–270.
    B. Efron, R. J. Tibshirani (1993), *An Introduction to the Bootstrap*, Chapman & Hall, ch. 13–14.
    W. J. Conover (1999), *Practical Nonparametric Statistics*, 3rd ed., Wiley, §3.2.
    A. Deng, U. Knoblich, J. Lu (2018), "Applying the Delta Method in Metric Analytics: A Practical Guide
    with Novel Ideas", KDD 2018, §4 (quantile metrics).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from abnb._display import FlatResult
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import Interval, critical_value, normal_pvalue
from abnb.stats._effect import ConfidenceInterval, EstimateWithTest, IntervalFormula, ShortRepr, interval_at
from abnb.stats._validate import check_choice, float_vector

__all__ = [
    "BootstrapResult",
    "QuantileDifferenceResult",
    "QuantileResult",
    "ShiftResult",
    "bootstrap",
    "mann_whitney",
    "quantile_ci",
    "quantile_difference",
]

Alternative = Literal["two-sided", "less", "greater"]
_ALTERNATIVES: tuple[Alternative, ...] = ("two-sided", "less", "greater")
_MWU_METHODS: tuple[Literal["auto", "exact", "asymptotic"], ...] = ("auto", "exact", "asymptotic")
_BOOTSTRAP_METHODS: tuple[Literal["percentile", "bca"], ...] = ("percentile", "bca")

#: Above this many pairs ``n_c · n_t`` the pairwise differences are never materialised.
MAX_PAIRS = 4_000_000
#: Samples smaller than this in both arms (and without ties) get the exact-distribution interval by default,
#: as in R's ``wilcox.test``.
_EXACT_CI_SIZE = 50
#: Fewest differences drawn per selection step of the Hodges–Lehmann order statistics (at least ``(n_t + n_c)/4``;
#: see ``_kth_pairwise_difference``).
_SELECTION_SAMPLE = 65_536
#: Elements handled at once by the bootstrap (``batch_size × (n_c + n_t)``).
_BOOTSTRAP_ELEMENTS = 2_000_000
#: Most bootstrap replicates: their array takes 8 bytes each (80 MB here); Monte Carlo error of a percentile
#: interval is far below the sampling error long before this.
MAX_RESAMPLES = 10_000_000
#: Most elements of one bootstrap batch with an explicit ``batch_size`` (``batch_size × (n_c + n_t)``); each
#: element costs 16 bytes (an index and a value), so a batch stays below about 1.6 GB.
MAX_BATCH_ELEMENTS = 100_000_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Estimator = Callable[..., Any]


# ------------------------------------------------------------------------------------------------------
# result objects


def _fmt(value: object) -> str:
    """Format numbers with 4 significant digits, anything else with ``str``."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, Real):
        return f"{float(value):.4g}"
    return str(value)


class _Result(ShortRepr, IntervalFormula, FlatResult):
    """Shared behaviour of the result dataclasses: dict/frame export, HTML table, intervals on demand."""

    estimate: float
    ci_low: float
    ci_high: float
    alpha: float
    method: str

    def confidence_interval(self, confidence_level: float = 0.95) -> ConfidenceInterval:
        """The interval at ``confidence_level``, by the same construction as ``ci_low``/``ci_high``.

        Args:
            confidence_level: Coverage of the interval, in (0, 1).

        Returns:
            The interval.

        Raises:
            ParameterError: If ``confidence_level`` is outside (0, 1), or the result cannot recompute its
                interval and ``confidence_level`` differs from ``1 − alpha``.
        """
        return interval_at(confidence_level, self._interval, self.alpha, (self.ci_low, self.ci_high), "result")

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{html.escape(_fmt(value))}</td></tr>"
            for name, value in self.to_dict().items()
        )
        return f"<table class='abnb-{type(self).__name__.lower()}'>{body}</table>"


@dataclass(frozen=True, repr=False)
class ShiftResult(_Result):
    """Mann–Whitney test with the Hodges–Lehmann location shift of treatment relative to control.

    Attributes:
        statistic: Mann–Whitney ``U`` of the treatment arm, ``#{t_i > c_j} + ½·#{t_i = c_j}``.
        pvalue: p-value of the rank-sum test (identical to ``scipy.stats.mannwhitneyu(treatment, control)``).
        estimate: Hodges–Lehmann shift, the median of the ``n_t·n_c`` differences ``t_i − c_j``.
        ci_low: Lower end of the distribution-free interval of the shift (``-inf`` for ``alternative="less"``).
        ci_high: Upper end of the interval (``+inf`` for ``alternative="greater"``).
        method: The p-value and interval constructions used.
        auc: Probability of superiority ``U / (n_t·n_c) = P(T > C) + ½ P(T = C)``.
        alpha: Significance level of the interval.
        alternative: ``"two-sided"``, ``"less"`` or ``"greater"`` (treatment stochastically greater).
        n_control: Size of the control sample.
        n_treatment: Size of the treatment sample.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("estimate", "ci", "pvalue", "auc", "method")

    statistic: float
    pvalue: float
    estimate: float
    ci_low: float
    ci_high: float
    method: str
    auc: float
    alpha: float
    alternative: str
    n_control: int
    n_treatment: int


@dataclass(frozen=True, repr=False)
class BootstrapResult(_Result):
    """Bootstrap estimate and interval of a difference (or relative difference) of a statistic.

    Attributes:
        estimate: ``s(t) − s(c)``, or ``s(t)/s(c) − 1`` when ``relative``.
        ci_low: Lower end of the ``1 − alpha`` bootstrap interval.
        ci_high: Upper end of the interval.
        se: Standard deviation of the bootstrap distribution.
        n_resamples: Number of bootstrap resamples.
        alpha: Significance level of the interval.
        method: ``"percentile"`` or ``"bca"`` with the estimator's name.
        estimator: Name of the estimator ``s`` (``"mean"``, ``"p90"``, a callable's ``__name__``).
        relative: Whether ``estimate`` is a relative difference.
        seed: Seed of the random generator (the result is reproducible for the same seed and batch size).
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    n_resamples: int
    alpha: float
    method: str
    estimator: str
    relative: bool
    seed: int | None


@dataclass(frozen=True, repr=False)
class QuantileResult(_Result):
    """A sample quantile with its distribution-free order-statistic confidence interval.

    Attributes:
        estimate: Sample quantile ``np.quantile(values, q)`` (linear interpolation, Hyndman–Fan type 7).
        ci_low: Order statistic ``x_(rank_low)`` (``-inf`` when ``n`` is too small for the level).
        ci_high: Order statistic ``x_(rank_high)`` (``+inf`` when ``n`` is too small for the level).
        q: Quantile level, in (0, 1).
        n: Sample size.
        rank_low: 1-based rank of the lower bound (0 when unbounded).
        rank_high: 1-based rank of the upper bound (``n + 1`` when unbounded).
        coverage: Exact coverage ``P(rank_low ≤ B < rank_high)``, ``B ~ Binomial(n, q)``, at least ``1 − alpha``.
        alpha: Nominal significance level.
        method: The interval construction.
    """

    estimate: float
    ci_low: float
    ci_high: float
    q: float
    n: int
    rank_low: int
    rank_high: int
    coverage: float
    alpha: float
    method: str


@dataclass(frozen=True, repr=False)
class QuantileDifferenceResult(_Result, EstimateWithTest):
    """Difference of a quantile between treatment and control with a normal-approximation interval.

    Attributes:
        estimate: ``Q_t(q) − Q_c(q)``.
        se: Standard error, ``sqrt(se_c² + se_t²)`` from the order-statistic estimates of each arm.
        ci_low: Lower end of ``estimate ± z·se``.
        ci_high: Upper end of the interval.
        pvalue: Two-sided p-value ``2·Φ(−|z|)`` of no difference.
        statistic: ``z = estimate / se``.
        q: Quantile level.
        alpha: Significance level of the interval.
        method: The interval construction.
        control_quantile: ``Q_c(q)``.
        treatment_quantile: ``Q_t(q)``.
        control_se: Standard error of ``Q_c(q)``.
        treatment_se: Standard error of ``Q_t(q)``.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("q", "estimate", "ci", "pvalue", "method")

    q: float
    alpha: float
    method: str
    control_quantile: float
    treatment_quantile: float
    control_se: float
    treatment_se: float


# ------------------------------------------------------------------------------------------------------
# validation


def _check_sample(name: str, values: object) -> FloatArray:
    """Return ``values`` as a finite, non-empty 1-D float64 array or raise ``ParameterError``."""
    arr = float_vector(values, name, ParameterError, per=" (one value per unit)")
    if arr.size == 0:
        raise ParameterError(f"{name} is empty; every arm needs at least one value.")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ParameterError(f"{name} holds {bad} NaN or infinite value(s); drop or impute them first.")
    return arr


def _check_q(q: object) -> float:
    if isinstance(q, bool) or not isinstance(q, Real) or not 0.0 < float(q) < 1.0:
        raise ParameterError(f"q must lie strictly between 0 and 1 (e.g. 0.9 for P90), got {q!r}.")
    return float(q)


def _check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise ParameterError(f"{name} must be an integer ≥ {minimum}, got {value!r}.")
    return int(value)


# ------------------------------------------------------------------------------------------------------
# Mann–Whitney and Hodges–Lehmann


def _u_null_cdf(m: int, n: int) -> FloatArray:
    """Exact null CDF ``P(U ≤ k)``, ``k = 0..mn``, of the Mann–Whitney ``U`` for samples of sizes m and n.

    The counts of arrangements with ``U = k`` are the coefficients of the Gaussian binomial
    ``[m+n choose m]_q = Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i)``, computed in exact integer arithmetic.
    """
    m, n = min(m, n), max(m, n)
    size = m * n + 1
    coef = np.zeros(size, dtype=object)
    coef[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        if shift < size:
            coef[shift:] = coef[shift:] - coef[:-shift]
        for r in range(i):
            coef[r::i] = np.cumsum(coef[r::i])
    cumulative = np.cumsum(coef)
    total = int(cumulative[-1])
    return np.array([int(c) / total for c in cumulative], dtype=np.float64)


def _first_le(t: FloatArray, c: FloatArray, p: float, *, strict: bool) -> IntArray:
    """Per treatment value ``t_i``: the first index ``j`` of sorted ``c`` with ``fl(t_i − c_j) ≤ p`` (``<``).

    ``fl(t_i − c_j)`` is non-increasing in ``j``, so the differences at or below ``p`` form a suffix of each
    row. A binary search on ``c`` against ``t_i − p`` finds it up to rounding; the loop then moves any
    misplaced boundary across whole tie groups until the float differences themselves agree, so the counts
    are those of the materialised differences.
    """
    n_c = c.size
    j = np.searchsorted(c, t - p, side="right" if strict else "left").astype(np.intp)

    def ok(d: FloatArray) -> npt.NDArray[np.bool_]:
        return d < p if strict else d <= p

    for _ in range(64):
        prev = np.clip(j - 1, 0, n_c - 1)
        cur = np.clip(j, 0, n_c - 1)
        back = (j > 0) & ok(t - c[prev])
        forward = (j < n_c) & ~ok(t - c[cur])
        if not (back.any() or forward.any()):
            break
        j[back] = np.searchsorted(c, c[prev[back]], side="left")
        j[forward] = np.searchsorted(c, c[cur[forward]], side="right")
    return j


def _kth_pairwise_difference(t: FloatArray, c: FloatArray, k: int, *, enumerate_below: int) -> float:
    """The k-th smallest (1-based) of the differences ``t_i − c_j`` without materialising them all.

    Selection in ``X + Y`` with sampled pivots (Floyd & Rivest 1975; Monahan 1984 for the Hodges–Lehmann
    estimator): each row ``i`` keeps a window ``[L_i, R_i)`` of indices of sorted ``c`` still in play
    (differences decrease with ``j``, so ``j ≥ R_i`` lies below the window). Each step draws ``s`` differences
    uniformly from the window and takes two pivots ``a ≤ b`` at sample ranks ``k'·s/T ∓ 3√s`` around the target;
    two counting passes (``< a`` and ``≤ b``, each ``O(n_t log n_c)``) keep only the part below ``a``, above
    ``b`` or in ``[a, b]`` — about ``6/√s`` of the window, so a 10¹²-pair problem needs about 3 steps. When
    ``[a, b]`` holds the whole window (ties), two more passes return a pivot or keep the part strictly between
    them, which drops at least the sampled ``a`` and ``b``, so the loop ends. The draw is seeded, and the result
    is the exact order statistic whatever the draw. When at most ``enumerate_below`` candidates remain they are
    materialised and partitioned. Memory is ``O(n_t + n_c + s + enumerate_below)``, ``s = max(65536, (n_t + n_c)/4)``.

    Args:
        t: Sorted treatment values.
        c: Sorted control values.
        k: Rank, ``1 ≤ k ≤ n_t·n_c``.
        enumerate_below: Window size at which the remaining candidates are materialised.

    Returns:
        The k-th smallest pairwise difference.
    """
    n_c = c.size
    lo_idx = np.zeros(t.size, dtype=np.intp)
    hi_idx = np.full(t.size, n_c, dtype=np.intp)
    below = 0
    rng = np.random.default_rng(k)
    sample_size = max(_SELECTION_SAMPLE, (t.size + c.size) // 4)
    while True:
        widths = hi_idx - lo_idx
        total = int(widths.sum())
        target = k - below
        rows = np.flatnonzero(widths)
        w = widths[rows]
        if total <= enumerate_below:
            starts = np.cumsum(w) - w
            offsets = np.arange(total, dtype=np.intp) - np.repeat(starts, w)
            cols = np.repeat(lo_idx[rows], w) + offsets
            diffs = t[np.repeat(rows, w)] - c[cols]
            return float(np.partition(diffs, target - 1)[target - 1])
        size = min(sample_size, total)
        cum = np.cumsum(w)
        picks = np.sort(rng.integers(0, total, size=size))  # sorted: the lookups below run in order
        which = np.searchsorted(cum, picks, side="right")
        cols = lo_idx[rows[which]] + (picks - (cum[which] - w[which]))
        sample = np.sort(t[rows[which]] - c[cols])
        centre = target / total * size
        margin = 3.0 * math.sqrt(size)
        a = float(sample[min(max(math.floor(centre - margin), 0), size - 1)])
        b = float(sample[min(max(math.ceil(centre + margin), 0), size - 1)])
        lt_a = np.clip(_first_le(t, c, a, strict=True), lo_idx, hi_idx)
        n_lt_a = int((hi_idx - lt_a).sum())
        if target <= n_lt_a:
            lo_idx = lt_a
            continue
        le_b = np.clip(_first_le(t, c, b, strict=False), lo_idx, hi_idx)
        n_le_b = int((hi_idx - le_b).sum())
        if target > n_le_b:
            below += n_le_b
            hi_idx = le_b
            continue
        if n_le_b - n_lt_a < total:
            # a ≤ D_(k) ≤ b, and the window shrank: keep the differences in [a, b].
            below += n_lt_a
            lo_idx, hi_idx = le_b, lt_a
            continue
        # Every candidate lies in [a, b] (ties, or an extreme rank): settle the pivots themselves, then keep the
        # differences strictly between them, which drops at least the sampled a and b.
        le_a = np.clip(_first_le(t, c, a, strict=False), lo_idx, hi_idx)
        n_le_a = int((hi_idx - le_a).sum())
        if target <= n_le_a:
            return a
        lt_b = np.clip(_first_le(t, c, b, strict=True), lo_idx, hi_idx)
        if target > int((hi_idx - lt_b).sum()):
            return b
        below += n_le_a
        lo_idx, hi_idx = lt_b, le_a


def _pairwise_order_statistics(t: FloatArray, c: FloatArray, ranks: Sequence[int], max_pairs: int) -> list[float]:
    """Order statistics (1-based ``ranks``) of the pairwise differences ``t_i − c_j`` of sorted samples."""
    if t.size * c.size <= max_pairs:
        diffs = np.subtract.outer(t, c).ravel()
        idx = sorted({r - 1 for r in ranks})
        part = np.partition(diffs, idx)
        return [float(part[r - 1]) for r in ranks]
    enumerate_below = max(4 * (t.size + c.size), 65_536)
    found: dict[int, float] = {}
    for r in sorted(set(ranks)):
        if r - 1 in found:
            found[r] = _next_pairwise_difference(t, c, found[r - 1], r)
        else:
            found[r] = _kth_pairwise_difference(t, c, r, enumerate_below=enumerate_below)
    return [found[r] for r in ranks]


def _next_pairwise_difference(t: FloatArray, c: FloatArray, previous: float, k: int) -> float:
    """``D_(k)`` given ``D_(k−1) = previous``, with one counting pass.

    ``previous`` again if at least ``k`` differences are ``≤`` it, else the smallest difference above it (used for
    the two middle ranks of an even ``mn``).
    """
    le = _first_le(t, c, previous, strict=False)
    if int((c.size - le).sum()) >= k:
        return previous
    rows = np.flatnonzero(le > 0)
    return float(np.min(t[rows] - c[le[rows] - 1]))


def _exact_rank(cdf: FloatArray, tail: float) -> int:
    """R's ``qwilcox(tail, m, n)`` clamped to ≥ 1: the smallest ``k`` with ``P(U ≤ k) ≥ tail`` (with fuzz)."""
    k = int(np.searchsorted(cdf, tail - 10.0 * np.finfo(np.float64).eps, side="left"))
    return max(k, 1)


def _normal_rank(mn: int, sigma: float, tail: float, continuity: bool) -> int:
    """Normal approximation to the rank of ``_exact_rank``: ``⌈mn/2 − ½ + σ·Φ⁻¹(tail)⌉`` clamped to [1, mn]."""
    from scipy import special

    correction = 0.5 if continuity else 0.0
    k = math.ceil(0.5 * mn - correction + sigma * float(special.ndtri(tail)) - 1e-9)
    return min(max(k, 1), mn)


def mann_whitney(
    control: npt.ArrayLike,
    treatment: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Literal["auto", "exact", "asymptotic"] = "auto",
    continuity: bool = True,
    max_pairs: int = MAX_PAIRS,
) -> ShiftResult:
    r"""Mann–Whitney U test with the Hodges–Lehmann shift and its distribution-free confidence interval.

    Argument order: ``(control, treatment)``, like every two-arm test in :mod:`abnb.stats`; ``estimate`` and the
    interval are for ``treatment − control`` and ``U`` counts treatment values above control values. (The
    Kayenta-facing :func:`abnb.rollout.mann_whitney` takes the reverse roles, ``experiment`` then ``control``, and
    therefore only by keyword.)

    With ``D_(1) ≤ … ≤ D_(mn)`` the ``mn = n_t·n_c`` ordered differences ``t_i − c_j``:

    * ``statistic`` ``U = #{t_i > c_j} + ½ #{t_i = c_j}``; ``pvalue`` is exactly
      ``scipy.stats.mannwhitneyu(treatment, control, use_continuity=continuity, alternative=alternative,
      method=method).pvalue``; ``auc = U / mn``.
    * ``estimate`` is the Hodges–Lehmann shift ``median(D)``.
    * The interval is Bauer's (1972) inversion of the rank-sum test (Hollander & Wolfe 1999, §4.3):
      ``[D_(k), D_(mn+1−k)]`` where ``k`` is the ``α/2`` quantile of the null distribution of ``U``
      (``α`` for the one-sided alternatives, which give ``[D_(k), +∞)`` or ``(−∞, D_(mn+1−k)]``):

      - *exact*: ``k = min{q : P(U ≤ q) ≥ α/2}``, clamped to ≥ 1 — R's ``qwilcox``; coverage
        ``1 − 2·P(U ≤ k − 1) ≥ 1 − α``. Used when there are no ties and either ``method="exact"`` or
        ``method="auto"`` with both samples smaller than 50 (R's ``wilcox.test`` rule).
      - *normal*: ``k = ⌈mn/2 − ½ − z_{1−α/2}·σ⌉`` (without the ½ when ``continuity`` is false), with the
        tie-corrected ``σ² = mn/12·[(N + 1) − Σ(t_g³ − t_g)/(N(N − 1))]``, ``N = n_t + n_c``, ``t_g`` the
        sizes of the tie groups of the pooled sample; otherwise.

    This reproduces R's ``wilcox.test(x = treatment, y = control, conf.int = TRUE)`` exactly in the exact case
    (R's large-sample branch instead solves for the shift by root finding, so there it differs slightly).
    Kayenta's published vector: treatment ``[10, 20, 30, 40]`` vs control ``[1, 2, 3, 4]`` at 95% gives
    estimate 22.5 and interval ``[6, 39]``.

    Above ``max_pairs`` pairs the differences are never materialised: each needed order statistic is found
    by selection on the sorted samples with sampled pivots (about 3 steps of two ``O(n log n)`` counting passes,
    ``O(n_t + n_c)`` memory), so 10⁶ values per arm take seconds, not minutes; the result is the exact order
    statistic.

    Args:
        control: Values of the control arm (first positional argument).
        treatment: Values of the treatment arm (second); the shift is ``treatment − control``.
        alpha: Significance level; the interval has coverage at least ``1 − alpha`` (exact case).
        alternative: ``"greater"`` when treatment is expected to be stochastically larger, ``"less"``, or
            ``"two-sided"``.
        method: p-value method as in scipy (``"auto"``: exact if a sample has ≤ 8 values and no ties); see
            above for the interval.
        continuity: Continuity correction of the normal approximations.
        max_pairs: Largest ``n_t·n_c`` for which all differences are materialised.

    Returns:
        The test result; ``confidence_interval(level)`` recomputes the interval at any level.

    Raises:
        ParameterError: On empty input, NaN or infinite values, or an invalid option.
    """
    from scipy import stats

    c = np.sort(_check_sample("control", control))
    t = np.sort(_check_sample("treatment", treatment))
    alpha = check_alpha(alpha)
    alternative = check_choice("alternative", alternative, _ALTERNATIVES)
    method = check_choice("method", method, _MWU_METHODS)
    max_pairs = _check_positive_int("max_pairs", max_pairs, minimum=0)
    n_c, n_t = c.size, t.size
    mn = n_c * n_t
    n = n_c + n_t

    res = stats.mannwhitneyu(t, c, use_continuity=bool(continuity), alternative=alternative, method=method)
    u = float(res.statistic)
    pvalue = float(res.pvalue)

    _, tie_counts = np.unique(np.concatenate([c, t]), return_counts=True)
    ties = bool(np.any(tie_counts > 1))
    tie_term = float(np.sum(tie_counts.astype(np.float64) ** 3 - tie_counts))
    if method == "auto":
        p_method = "exact" if min(n_c, n_t) <= 8 and not ties else "asymptotic"
        exact_ci = not ties and max(n_c, n_t) < _EXACT_CI_SIZE
    else:
        p_method = method
        exact_ci = method == "exact" and not ties

    half = (mn + 1) // 2
    mids = [half] if mn % 2 else [mn // 2, mn // 2 + 1]
    mid_values = _pairwise_order_statistics(t, c, mids, max_pairs)
    estimate = mid_values[0] if len(mid_values) == 1 else 0.5 * (mid_values[0] + mid_values[1])

    if exact_ci:
        cdf = _u_null_cdf(n_c, n_t)

        def rank(tail: float) -> int:
            return _exact_rank(cdf, tail)

    else:
        sigma = math.sqrt(mn / 12.0 * ((n + 1) - (tie_term / (n * (n - 1)) if n > 1 else 0.0)))

        def rank(tail: float) -> int:
            return _normal_rank(mn, sigma, tail, bool(continuity))

    def interval(level: float) -> tuple[float, float]:
        if alternative == "two-sided":
            k = rank(0.5 * (1.0 - level))
            low, high = _pairwise_order_statistics(t, c, [k, mn + 1 - k], max_pairs)
            return low, high
        k = rank(1.0 - level)
        if alternative == "greater":
            return _pairwise_order_statistics(t, c, [k], max_pairs)[0], math.inf
        return -math.inf, _pairwise_order_statistics(t, c, [mn + 1 - k], max_pairs)[0]

    ci_low, ci_high = interval(1.0 - alpha)
    ci_name = "exact" if exact_ci else ("normal, tie-corrected" if ties else "normal")
    return ShiftResult(
        statistic=u,
        pvalue=pvalue,
        estimate=float(estimate),
        ci_low=ci_low,
        ci_high=ci_high,
        method=f"Mann–Whitney U ({p_method} p-value); Hodges–Lehmann shift, {ci_name} order-statistic CI",
        auc=u / mn,
        alpha=alpha,
        alternative=alternative,
        n_control=n_c,
        n_treatment=n_t,
        _interval=interval,
    )


# ------------------------------------------------------------------------------------------------------
# bootstrap

_PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


def _resolve_estimator(estimator: str | Estimator) -> tuple[Estimator, float | None, str]:
    """Map ``estimator`` to a vectorised reducer ``f(x, axis=-1)``, its quantile level (if any) and a name."""
    if callable(estimator):
        return estimator, None, getattr(estimator, "__name__", "estimator")
    if isinstance(estimator, str):
        name = estimator.strip().lower()
        if name == "mean":
            return np.mean, None, "mean"
        if name == "median":
            q = 0.5
        else:
            match = _PERCENTILE.match(name)
            q = float(match.group(1)) / 100.0 if match else -1.0
            if not 0.0 < q < 1.0:
                raise ParameterError(
                    f"estimator must be 'mean', 'median', 'pNN' with 0 < NN < 100 (e.g. 'p90', 'p99.9') or a "
                    f"callable f(x, axis=-1), got {estimator!r}."
                )

        def quantile(x: FloatArray, axis: int = -1) -> Any:
            return np.quantile(x, q, axis=axis)

        return quantile, q, name
    raise ParameterError(f"estimator must be a string such as 'mean' or 'p90', or a callable, got {estimator!r}.")


def _leave_one_out(x: FloatArray, func: Estimator, q: float | None, is_mean: bool, batch: int) -> FloatArray:
    """Jackknife values ``s(x without x_i)`` for every ``i`` (closed forms for the mean and quantiles)."""
    n = x.size
    if is_mean:
        return np.asarray((x.sum() - x) / (n - 1), dtype=np.float64)
    if q is not None:
        # Removing the value at sorted position r shifts the order statistics at and above r down by one.
        order = np.argsort(x, kind="stable")
        xs = x[order]
        h = (n - 2) * q
        lo = math.floor(h)
        frac = h - lo
        r = np.arange(n)
        y_lo = np.where(lo < r, xs[lo], xs[min(lo + 1, n - 1)])
        y_hi = np.where(lo + 1 < r, xs[min(lo + 1, n - 1)], xs[min(lo + 2, n - 1)])
        out = np.empty(n, dtype=np.float64)
        out[order] = y_lo + frac * (y_hi - y_lo)
        return out
    out = np.empty(n, dtype=np.float64)
    base = np.arange(n - 1)
    step = max(1, batch)
    for start in range(0, n, step):
        i = np.arange(start, min(n, start + step))
        idx = base[None, :] + (base[None, :] >= i[:, None])
        out[start : start + i.size] = np.asarray(func(x[idx], axis=-1), dtype=np.float64)
    return out


def bootstrap(
    control: npt.ArrayLike,
    treatment: npt.ArrayLike,
    estimator: str | Estimator = "mean",
    *,
    n_resamples: int = 2000,
    alpha: float = 0.05,
    seed: int | None = 0,
    method: Literal["percentile", "bca"] = "percentile",
    relative: bool = False,
    batch_size: int | None = None,
) -> BootstrapResult:
    r"""Two-sample bootstrap interval of the difference of a statistic between treatment and control.

    The estimate is ``θ̂ = s(t) − s(c)`` (``s(t)/s(c) − 1`` when ``relative``). Each of ``B = n_resamples``
    replicates resamples both arms independently with replacement (stratified by arm) and recomputes θ.

    * ``"percentile"``: ``[θ*_(α/2), θ*_(1−α/2)]``, the empirical quantiles of the replicates (linear
      interpolation, as ``scipy.stats.bootstrap``).
    * ``"bca"``: bias-corrected and accelerated (Efron & Tibshirani 1993, eq. 14.10–14.15) with
      ``z₀ = Φ⁻¹(#{θ* < θ̂}/B + ½#{θ* = θ̂}/B)``, the acceleration ``a = Σ_j Σ_i U_ji³/n_j³ /
      (6 (Σ_j Σ_i U_ji²/n_j²)^{3/2})`` from the jackknife ``U_ji = (n_j − 1)(θ̄_(j·) − θ̂_(j,i))`` of each arm,
      and levels ``α₁,₂ = Φ(z₀ + (z₀ + z_{α/2,1−α/2}) / (1 − a(z₀ + z_{α/2,1−α/2})))`` — the construction of
      ``scipy.stats.bootstrap(method="BCa")``. Leave-one-out values have closed forms for the mean and the
      quantiles; other callables cost ``O(n²)``.

    Replicates are computed in batches of ``batch_size`` resamples (default: as many as fit in
    ~2·10⁶ values), so memory stays ``O(batch_size · (n_c + n_t))``. The random stream is
    ``numpy.random.default_rng(seed)``: the result is reproducible for the same seed and batch size.

    Args:
        control: Values of the control arm.
        treatment: Values of the treatment arm.
        estimator: ``"mean"``, ``"median"``, ``"pNN"`` (quantile ``NN/100``, e.g. ``"p90"``, ``"p99.9"``,
            ``np.quantile`` linear) or a callable ``f(x, axis=-1)`` reducing the last axis (e.g. ``np.std``).
        n_resamples: Number of bootstrap replicates ``B`` (2 to ``MAX_RESAMPLES`` = 10⁷).
        alpha: Significance level of the two-sided interval.
        seed: Seed of the random generator.
        method: ``"percentile"`` or ``"bca"``.
        relative: Report the relative difference ``s(t)/s(c) − 1``.
        batch_size: Replicates computed at once (at most ``MAX_BATCH_ELEMENTS`` = 10⁸ resampled values per
            batch).

    Returns:
        The bootstrap result; ``confidence_interval(level)`` reuses the same replicates.

    Raises:
        ParameterError: On empty input, NaN or infinite values, an invalid option, ``n_resamples`` above
            ``MAX_RESAMPLES`` or a batch above ``MAX_BATCH_ELEMENTS``.
        DataError: If ``relative`` and ``s(c) = 0``, or BCa needs a jackknife from an arm of one value.
    """
    c = _check_sample("control", control)
    t = _check_sample("treatment", treatment)
    alpha = check_alpha(alpha)
    n_resamples = _check_positive_int("n_resamples", n_resamples, minimum=2)
    if n_resamples > MAX_RESAMPLES:
        raise ParameterError(
            f"n_resamples must be at most {MAX_RESAMPLES:,} (the replicates are kept in memory, 8 bytes each), "
            f"got {n_resamples:,}; 2,000–10,000 resamples are plenty for a 95% interval."
        )
    method = check_choice("method", method, _BOOTSTRAP_METHODS)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise ParameterError(f"seed must be an integer or None, got {seed!r}.")
    func, q, name = _resolve_estimator(estimator)
    batch = _bootstrap_batch(batch_size, n_resamples, c.size + t.size)
    s_c_hat = float(np.asarray(func(c, axis=-1)))
    if relative and s_c_hat == 0.0:
        raise DataError(f"the control {name} is 0, so the relative difference is undefined; use relative=False.")
    theta_hat = float(_difference(s_c_hat, func(t, axis=-1), relative))
    replicates = _replicates((c, t), func, relative, n_resamples, batch, seed)
    if not np.all(np.isfinite(replicates)):
        raise DataError(
            f"{int(np.count_nonzero(~np.isfinite(replicates)))} bootstrap replicates are not finite "
            f"(a resampled control {name} of 0 with relative=True?); use relative=False or more data."
        )
    if method == "bca":
        levels = _bca_levels((c, t), func, q, relative, (s_c_hat, theta_hat), replicates)
    else:
        levels = _percentile_levels

    def interval(level: float) -> tuple[float, float]:
        p_low, p_high = levels(level)
        if not (math.isfinite(p_low) and math.isfinite(p_high)):
            raise DataError("the BCa levels are undefined (all replicates on one side of the estimate).")
        low, high = np.quantile(replicates, [p_low, p_high])
        return float(low), float(high)

    ci_low, ci_high = interval(1.0 - alpha)
    kind = "BCa" if method == "bca" else "percentile"
    return BootstrapResult(
        estimate=theta_hat,
        ci_low=ci_low,
        ci_high=ci_high,
        se=float(np.std(replicates, ddof=1)),
        n_resamples=n_resamples,
        alpha=alpha,
        method=f"bootstrap {kind} ({name}, {'relative' if relative else 'absolute'} difference)",
        estimator=name,
        relative=bool(relative),
        seed=None if seed is None else int(seed),
        _interval=interval,
    )


def _bootstrap_batch(batch_size: object, n_resamples: int, n_values: int) -> int:
    """Resamples per batch: ``batch_size`` (at most ``MAX_BATCH_ELEMENTS`` values) or as many as fit in memory."""
    if batch_size is None:
        return max(1, min(n_resamples, _BOOTSTRAP_ELEMENTS // n_values))
    batch = min(_check_positive_int("batch_size", batch_size), n_resamples)
    if batch * n_values > MAX_BATCH_ELEMENTS:
        raise ParameterError(
            f"batch_size {batch:,} × {n_values:,} values = {batch * n_values:,} elements per "
            f"batch, more than {MAX_BATCH_ELEMENTS:,} (about 1.6 GB); use a smaller batch_size or leave it None."
        )
    return batch


def _difference(s_c: Any, s_t: Any, relative: bool) -> FloatArray:
    """``s_t − s_c``, or ``s_t/s_c − 1`` when ``relative`` (inf or NaN where ``s_c`` is 0), as a float array."""
    s_c = np.asarray(s_c, dtype=np.float64)
    s_t = np.asarray(s_t, dtype=np.float64)
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(s_t / s_c - 1.0, dtype=np.float64)
    return np.asarray(s_t - s_c, dtype=np.float64)


def _replicates(
    arms: tuple[FloatArray, FloatArray],
    func: Estimator,
    relative: bool,
    n_resamples: int,
    batch: int,
    seed: int | None,
) -> FloatArray:
    """The bootstrap replicates of the difference, both arms resampled with replacement, ``batch`` at a time."""
    c, t = arms
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        s_c = func(c[rng.integers(0, c.size, size=(b, c.size))], axis=-1)
        s_t = func(t[rng.integers(0, t.size, size=(b, t.size))], axis=-1)
        replicates[start : start + b] = _difference(s_c, s_t, relative)
    return replicates


def _percentile_levels(level: float) -> tuple[float, float]:
    """The quantile levels of the percentile interval: ``(1 ∓ level)/2``."""
    return 0.5 * (1.0 - level), 0.5 * (1.0 + level)


def _bca_levels(
    arms: tuple[FloatArray, FloatArray],
    func: Estimator,
    q: float | None,
    relative: bool,
    estimates: tuple[float, float],
    replicates: FloatArray,
) -> Interval:
    """The BCa quantile levels as a function of the confidence level (Efron & Tibshirani 1993, eq. 14.10–14.15).

    ``estimates`` are the control's statistic ``s(c)`` and the estimate ``θ̂``; the acceleration comes from the
    jackknife of each arm, the bias correction ``z₀`` from the share of replicates below ``θ̂``.
    """
    from scipy import special

    c, t = arms
    s_c_hat, theta_hat = estimates
    if min(c.size, t.size) < 2:
        raise DataError("BCa needs at least 2 values per arm for the jackknife; use method='percentile'.")
    jack_batch = max(1, _BOOTSTRAP_ELEMENTS // max(c.size, t.size))
    is_mean = func is np.mean
    s_t_hat = np.asarray(func(t, axis=-1), dtype=np.float64)
    jack_c = _difference(_leave_one_out(c, func, q, is_mean, jack_batch), s_t_hat, relative)
    jack_t = _difference(s_c_hat, _leave_one_out(t, func, q, is_mean, jack_batch), relative)
    num = 0.0
    den = 0.0
    for jack in (jack_c, jack_t):
        n_j = jack.size
        u_ji = (n_j - 1) * (jack.mean() - jack)
        num += float(np.sum(u_ji**3)) / n_j**3
        den += float(np.sum(u_ji**2)) / n_j**2
    accel = num / (6.0 * den**1.5) if den > 0 else 0.0
    share = (np.count_nonzero(replicates < theta_hat) + np.count_nonzero(replicates <= theta_hat)) / (
        2.0 * replicates.size
    )
    z0 = float(special.ndtri(share))

    def levels(level: float) -> tuple[float, float]:
        out = []
        for tail in (0.5 * (1.0 - level), 0.5 * (1.0 + level)):
            z = z0 + float(special.ndtri(tail))
            out.append(float(special.ndtr(z0 + z / (1.0 - accel * z))))
        return out[0], out[1]

    return levels


# ------------------------------------------------------------------------------------------------------
# quantiles


def _order_statistic_ranks(n: int, q: float, level: float) -> tuple[int, int, float]:
    """Ranks ``(l, u)`` (1-based) with ``P(l ≤ B < u) ≥ level`` for ``B ~ Binomial(n, q)``, and that coverage.

    ``l = F⁻¹(α/2)`` and ``u = F⁻¹(1 − α/2) + 1`` with ``F`` the Binomial(n, q) CDF and ``F⁻¹(p)`` the smallest
    ``k`` with ``F(k) ≥ p``; each tail then holds at most ``α/2``. ``l = 0`` or ``u = n + 1`` mean the bound
    is unattainable at this sample size.
    """
    from scipy import stats

    tail = 0.5 * (1.0 - level)
    dist = stats.binom(n, q)
    low = int(dist.ppf(tail))
    high = int(dist.ppf(1.0 - tail)) + 1
    # ppf works in floating point: step to the exact smallest k with F(k) ≥ p.
    while low > 0 and dist.cdf(low - 1) >= tail:
        low -= 1
    while dist.cdf(low) < tail:
        low += 1
    coverage = float(dist.cdf(high - 1) - (dist.cdf(low - 1) if low > 0 else 0.0))
    return low, min(high, n + 1), coverage


def quantile_ci(values: npt.ArrayLike, q: float, *, alpha: float = 0.05) -> QuantileResult:
    r"""Sample quantile with its distribution-free (binomial order-statistic) confidence interval.

    For continuous data the number ``B`` of observations below the true quantile ``ξ_q`` is Binomial(n, q),
    so ``P(x_(l) ≤ ξ_q < x_(u)) = P(l ≤ B < u) = F(u − 1) − F(l − 1)`` whatever the distribution
    (Conover 1999, §3.2). The equal-tailed choice ``l = F⁻¹(α/2)``, ``u = F⁻¹(1 − α/2) + 1`` gives coverage
    at least ``1 − alpha`` (reported exactly in ``coverage``). Example: the median of n = 10 values at 95% is
    ``[x_(2), x_(9)]`` with coverage 0.9785; n = 100 gives ``[x_(40), x_(61)]``.

    Args:
        values: The sample.
        q: Quantile level in (0, 1), e.g. 0.5, 0.9, 0.99.
        alpha: Significance level of the two-sided interval.

    Returns:
        The quantile; ``ci_low`` is ``-inf`` (``ci_high`` ``+inf``) when ``n`` is too small for the level.

    Raises:
        ParameterError: On empty input, NaN or infinite values, ``q`` outside (0, 1) or ``alpha`` outside (0, 1).
    """
    x = np.sort(_check_sample("values", values))
    q = _check_q(q)
    alpha = check_alpha(alpha)
    n = x.size

    def bounds(level: float) -> tuple[int, int, float, float, float]:
        low, high, coverage = _order_statistic_ranks(n, q, level)
        ci_low = float(x[low - 1]) if low >= 1 else -math.inf
        ci_high = float(x[high - 1]) if high <= n else math.inf
        return low, high, coverage, ci_low, ci_high

    def interval(level: float) -> tuple[float, float]:
        return bounds(level)[3:]

    rank_low, rank_high, coverage, ci_low, ci_high = bounds(1.0 - alpha)
    return QuantileResult(
        estimate=float(np.quantile(x, q)),
        ci_low=ci_low,
        ci_high=ci_high,
        q=q,
        n=n,
        rank_low=rank_low,
        rank_high=rank_high,
        coverage=coverage,
        alpha=alpha,
        method="binomial order-statistic CI (distribution-free)",
        _interval=interval,
    )


def _order_statistic_se(x: FloatArray, q: float, z: float, name: str) -> float:
    """Standard error of the sample q-quantile of sorted ``x`` from the width of its order-statistic interval.

    The ranks ``nq ± z·sqrt(nq(1 − q))`` bracket the quantile with normal-approximate coverage ``1 − α``; the
    order statistics there (interpolated linearly between neighbours) give ``se = (x_(U) − x_(L)) / (2z)``
    (Deng, Knoblich & Lu 2018, §4). No density estimate is needed.
    """
    n = x.size
    half = z * math.sqrt(n * q * (1.0 - q))
    low, high = n * q - half, n * q + half
    if low < 1.0 or high > n:
        raise DataError(
            f"{name} has {n} values, too few to bracket its {q:g}-quantile (ranks {low:.1f}..{high:.1f} of 1..{n}); "
            "fetch a larger sample or use a less extreme quantile."
        )
    positions = np.arange(1, n + 1, dtype=np.float64)
    x_low, x_high = np.interp([low, high], positions, x)
    return float((x_high - x_low) / (2.0 * z))


def quantile_difference(
    control: npt.ArrayLike, treatment: npt.ArrayLike, q: float, *, alpha: float = 0.05
) -> QuantileDifferenceResult:
    r"""Difference of a quantile (P50, P90, P99, ...) between treatment and control, with a normal interval.

    ``estimate = Q_t(q) − Q_c(q)`` (``np.quantile``, linear). Each arm's standard error comes from its
    order statistics, not a bootstrap (Deng, Knoblich & Lu 2018, §4): the ranks
    ``L, U = nq ∓ z_{1−α/2}·sqrt(nq(1 − q))`` bracket the quantile, so ``se = (x_(U) − x_(L)) / (2 z_{1−α/2})``
    (fractional ranks interpolated) — the asymptotic ``sqrt(q(1 − q)/n) / f(ξ_q)`` with the density estimated by
    the spacing of the order statistics. The arms are independent, so ``se = sqrt(se_c² + se_t²)``, the
    interval is ``estimate ± z_{1−α/2}·se`` and the p-value ``2Φ(−|estimate/se|)``.

    Args:
        control: Values of the control arm.
        treatment: Values of the treatment arm.
        q: Quantile level in (0, 1), e.g. 0.5, 0.9, 0.99.
        alpha: Significance level of the two-sided interval.

    Returns:
        The difference; ``confidence_interval(level)`` recomputes the standard errors at that level.

    Raises:
        ParameterError: On empty input, NaN or infinite values, ``q`` or ``alpha`` outside (0, 1).
        DataError: If an arm is too small to bracket the quantile, or both standard errors are 0.
    """
    c = np.sort(_check_sample("control", control))
    t = np.sort(_check_sample("treatment", treatment))
    q = _check_q(q)
    alpha = check_alpha(alpha)
    q_c = float(np.quantile(c, q))
    q_t = float(np.quantile(t, q))
    estimate = q_t - q_c

    def ses(level: float) -> tuple[float, float, float, float]:
        z = critical_value(level)
        se_c = _order_statistic_se(c, q, z, "control")
        se_t = _order_statistic_se(t, q, z, "treatment")
        return z, se_c, se_t, math.hypot(se_c, se_t)

    def interval(level: float) -> tuple[float, float]:
        z, _, _, se = ses(level)
        return estimate - z * se, estimate + z * se

    z, se_c, se_t, se = ses(1.0 - alpha)
    if se == 0.0:
        raise DataError(
            f"both arms have no spread around their {q:g}-quantile (standard error 0); the difference cannot "
            "be tested. Check the metric for a constant or heavily discretised value."
        )
    statistic = estimate / se
    return QuantileDifferenceResult(
        estimate=estimate,
        se=se,
        ci_low=estimate - z * se,
        ci_high=estimate + z * se,
        pvalue=normal_pvalue(statistic),
        statistic=statistic,
        q=q,
        alpha=alpha,
        method="quantile difference, normal CI with order-statistic standard errors (Deng et al. 2018)",
        control_quantile=q_c,
        treatment_quantile=q_t,
        control_se=se_c,
        treatment_se=se_t,
        _interval=interval,
    )
