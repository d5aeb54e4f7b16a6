"""Sufficient statistics of one metric in one arm (and segment, and period).

The aggregation step pushes one scan into the engine and brings back, per arm, the count ``n``, the sum
``Σy`` and the sum of squares ``Σy²`` of the per-unit metric values, plus ``Σx``, ``Σx²`` and ``Σxy`` when the
metric has a covariate (CUPED) or a denominator (ratio metrics). Every frequentist test in :mod:`abnb.stats`
works from these few numbers, so a 100-million-row experiment costs one aggregate query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb.errors import DataError, ParameterError
from abnb.stats._validate import FLOAT_MAX, as_count, as_finite, finite_array

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["Moments"]

_X_FIELDS = ("x_sum", "x_sum_sq", "xy_sum")


def _centred(array: NDArray[np.float64], name: str) -> tuple[NDArray[np.float64], float]:
    """``(array − c, c)`` with sums ``Σ(y − c)`` and ``Σ(y − c)²`` that fit in a float, or ``DataError``.

    ``c`` is the first value (exact for constant data, as the engine's aggregate does). When the spread is so
    large that ``y − c`` or its squares overflow (e.g. ``[1e308, 1e308, -1e308]``), the midpoint of the range is
    tried instead; if ``Σ(y − c)²`` still exceeds the float range, no shift can hold it and the values are refused.
    """
    if not array.size:
        return array, 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for shift in (float(array[0]), 0.5 * float(array.min()) + 0.5 * float(array.max())):
            centred = array - shift
            if math.isfinite(float(np.dot(centred, centred))) and math.isfinite(float(centred.sum())):
                return centred, shift
    low, high = float(array.min()), float(array.max())
    raise DataError(
        f"{name} range from {low:.6g} to {high:.6g}: the sum of squared deviations Σ(y − c)² that Moments stores "
        f"exceeds the float range (about {FLOAT_MAX:.4g}) for any centre c, so their variance cannot be "
        "computed in floating point. Rescale the values (e.g. express them in larger units) before computing moments."
    )


def paired_sums(y: NDArray[np.float64], x: NDArray[np.float64]) -> tuple[float, float, float, float, float]:
    """The sums ``(Σy, Σy², Σx, Σx², Σxy)`` of per-unit values ``y`` and their paired values ``x`` (same length).

    The order is that of the sum fields of :class:`Moments` and :class:`~abnb.stats.ratio.RatioMoments`. ``Σxy``
    may overflow to ``inf`` without a warning; callers that need it finite check it.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        xy_sum = float(np.dot(x, y))
    return float(y.sum()), float(np.dot(y, y)), float(x.sum()), float(np.dot(x, x)), xy_sum


#: Relative slack of the Cauchy–Schwarz check ``Σy² ≥ (Σy)²/n``: sums rounded by an engine (parallel double sums
#: differ around 1e-15 relative) pass, sums that belong to different data do not.
_CONSISTENCY_TOLERANCE = 1e-9


def _check_consistent(n: int, total: float, total_sq: float, name: str, name_sq: str) -> None:
    """Raise ``ParameterError`` unless the sums can come from ``n`` real values.

    ``n = 0`` needs both sums to be 0, and by Cauchy–Schwarz ``Σy² ≥ (Σy)²/n`` (equality when every value is the
    same). A violation means the sums were mixed up (e.g. ``sum_sq`` of other rows, or ``Σy²`` passed as
    ``(Σy)²``); the variance would otherwise be clipped to 0 and the test would report a wrong, far too small SE.
    """
    if n == 0:
        if total != 0.0 or total_sq != 0.0:
            raise ParameterError(
                f"Moments with n=0 units must have Moments.{name} = Moments.{name_sq} = 0, got {total!r} and "
                f"{total_sq!r}; check that n counts the same rows as the sums."
            )
        return
    floor = total * total / n
    if floor - total_sq > _CONSISTENCY_TOLERANCE * max(floor, total_sq):
        raise ParameterError(
            f"Moments.{name_sq} = {total_sq!r} is smaller than Moments.{name}²/n = {floor!r} (n={n}), which no set "
            f"of {n} real values allows (Σy² ≥ (Σy)²/n); the sums do not belong together. Pass the sum of squared "
            f"values as {name_sq} (not the square of the sum) over the same rows as {name} and n."
        )


@dataclass(frozen=True, slots=True)
class Moments:
    """Sufficient statistics ``n``, ``Σy``, ``Σy²`` (and optionally ``Σx``, ``Σx²``, ``Σxy``) of one arm.

    Two ``Moments`` add (``a + b``): every sum adds, which rolls segments or periods up into a total.

    Sums may be *shifted*: ``sum`` = ``Σ(y − shift)`` and ``sum_sq`` = ``Σ(y − shift)²`` (likewise ``x_shift``
    for the covariate sums). The variance ``(Σ(y−c)² − (Σ(y−c))²/n)/(n − 1)`` does not depend on ``c`` in exact
    arithmetic, but in floating point it loses about ``2·log10(|ȳ − c| / s)`` of its 16 digits, so the engine shifts
    by a value near the mean (one unit's value) and a metric with mean 1e9 and sd 1 keeps its variance.
    Reference: Chan, Golub & LeVeque (1983), "Algorithms for computing the sample variance", The American
    Statistician 37(3).

    Attributes:
        n: Number of units.
        sum: Sum of the metric values, ``Σy``.
        sum_sq: Sum of the squared metric values, ``Σy²``. For a proportion this equals ``sum``.
        x_sum: Sum of the covariate or denominator values, ``Σx`` (``None`` when there is none).
        x_sum_sq: Sum of the squared covariate values, ``Σx²``.
        xy_sum: Sum of the products, ``Σxy``.
        proportion: Whether the values are 0/1 outcomes; the variance is then the Bernoulli ``p(1 − p)``.
        shift: The constant subtracted from every value before summing (0: raw sums).
        x_shift: The constant subtracted from every covariate value before summing.

    Raises:
        ParameterError: If ``n`` is not a non-negative whole number, a sum is not finite, ``sum_sq`` (or
            ``x_sum_sq``) is negative or below ``sum²/n`` (no real values have such sums; ``n = 0`` needs zero
            sums), only some of the covariate sums are given, or a proportion's ``sum`` lies outside ``[0, n]``.
    """

    n: int
    sum: float
    sum_sq: float
    x_sum: float | None = None
    x_sum_sq: float | None = None
    xy_sum: float | None = None
    proportion: bool = False
    shift: float = 0.0
    x_shift: float = 0.0

    def __post_init__(self) -> None:
        n = as_count(self.n, "Moments.n")
        if n < 0:
            raise ParameterError(f"Moments.n must be >= 0, got {n}.")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "sum", as_finite(self.sum, "Moments.sum"))
        sum_sq = as_finite(self.sum_sq, "Moments.sum_sq")
        if sum_sq < 0:
            raise ParameterError(f"Moments.sum_sq is a sum of squares and must be >= 0, got {sum_sq!r}.")
        object.__setattr__(self, "sum_sq", sum_sq)
        given = [name for name in _X_FIELDS if getattr(self, name) is not None]
        if given and len(given) != len(_X_FIELDS):
            missing = [name for name in _X_FIELDS if name not in given]
            raise ParameterError(
                f"Moments covariate sums come together: got {', '.join(given)} but not {', '.join(missing)}; "
                "pass all of x_sum, x_sum_sq and xy_sum, or none."
            )
        for name in given:
            object.__setattr__(self, name, as_finite(getattr(self, name), f"Moments.{name}"))
        if self.x_sum_sq is not None and self.x_sum_sq < 0:
            raise ParameterError(f"Moments.x_sum_sq must be >= 0, got {self.x_sum_sq!r}.")
        if not isinstance(self.proportion, bool | np.bool_):
            raise ParameterError(f"Moments.proportion must be True or False, got {self.proportion!r}.")
        object.__setattr__(self, "proportion", bool(self.proportion))
        object.__setattr__(self, "shift", as_finite(self.shift, "Moments.shift"))
        object.__setattr__(self, "x_shift", as_finite(self.x_shift, "Moments.x_shift"))
        if self.proportion and self.shift != 0.0:
            raise ParameterError(f"Moments of a proportion count successes and take no shift, got {self.shift!r}.")
        if self.proportion and not 0 <= self.sum <= n:
            raise ParameterError(
                f"Moments.sum counts successes of a proportion and must lie in [0, n={n}], got {self.sum!r}."
            )
        _check_consistent(n, self.sum, sum_sq, "sum", "sum_sq")
        if self.x_sum is not None and self.x_sum_sq is not None:
            _check_consistent(n, self.x_sum, self.x_sum_sq, "x_sum", "x_sum_sq")

    # ----------------------------------------------------------------------------------------------
    # constructors

    @classmethod
    def from_values(cls, values: ArrayLike, covariate: ArrayLike | None = None) -> Moments:
        """Compute the moments of raw per-unit values (and an optional covariate of the same length).

        Args:
            values: One metric value per unit.
            covariate: One covariate (or denominator) value per unit, aligned with ``values``.

        Returns:
            The moments; ``x_sum``, ``x_sum_sq`` and ``xy_sum`` are filled when ``covariate`` is given. The sums
            are taken around the first unit's value (``shift = values[0]``, ``x_shift = covariate[0]``), as the
            engine's aggregate does, so constant values give a variance of exactly 0 and a large mean keeps its
            variance (raw sums of ``0.1`` seven times leave ``Σy² − (Σy)²/n ≈ 1e-17`` of rounding, which the tests
            would read as a real, tiny variance). ``.shifted(0.0)`` gives the raw sums.

        Raises:
            DataError: If the values are not numbers, not one-dimensional, contain NaN or infinity, or the
                covariate has a different length.
        """
        raw_y = finite_array(values, "values")
        y, shift = _centred(raw_y, "values")
        if covariate is None:
            return cls(n=int(y.size), sum=float(y.sum()), sum_sq=float(np.dot(y, y)), shift=shift)
        raw_x = finite_array(covariate, "covariate values")
        if raw_x.size != y.size:
            raise DataError(
                f"covariate has {raw_x.size} values but values has {y.size}; pass one covariate value per unit."
            )
        x, x_shift = _centred(raw_x, "covariate values")
        sums = paired_sums(y, x)
        if not math.isfinite(sums[-1]):
            raise DataError(
                "the sum of products of the centred values and covariate values overflows the float range "
                f"(about {FLOAT_MAX:.4g}), so Moments cannot hold it; rescale the metric or the covariate."
            )
        return cls(int(y.size), *sums, shift=shift, x_shift=x_shift)

    @classmethod
    def from_counts(cls, successes: int | np.integer[Any], n: int | np.integer[Any]) -> Moments:
        """Moments of a proportion: ``successes`` ones among ``n`` units.

        Args:
            successes: Number of units with outcome 1 (``0 <= successes <= n``).
            n: Number of units (``n >= 1``).

        Returns:
            Moments with ``proportion=True`` and ``sum = sum_sq = successes``.

        Raises:
            ParameterError: If ``n`` < 1, ``successes`` is outside ``[0, n]``, or either is not a whole
                number.
        """
        n_units = as_count(n, "n")
        count = as_count(successes, "successes")
        if n_units < 1:
            raise ParameterError(f"n must be >= 1 (the number of units), got {n_units}.")
        if not 0 <= count <= n_units:
            raise ParameterError(f"successes must lie in [0, n={n_units}], got {count}.")
        return cls(n=n_units, sum=float(count), sum_sq=float(count), proportion=True)

    # ----------------------------------------------------------------------------------------------
    # derived statistics

    def _require(self, minimum: int, what: str) -> None:
        if self.n < minimum:
            raise DataError(f"the {what} needs at least {minimum} unit(s), but these moments have n={self.n}.")

    def _x_sums(self) -> tuple[float, float, float] | None:
        if self.x_sum is None or self.x_sum_sq is None or self.xy_sum is None:
            return None
        return self.x_sum, self.x_sum_sq, self.xy_sum

    def _require_x(self, what: str) -> tuple[float, float, float]:
        sums = self._x_sums()
        if sums is None:
            raise DataError(
                f"the {what} needs covariate sums, but these moments have none; "
                "build them with Moments.from_values(values, covariate=...) or pass x_sum, x_sum_sq, xy_sum."
            )
        return sums

    @property
    def mean(self) -> float:
        """Mean ``shift + Σ(y − shift) / n``."""
        self._require(1, "mean")
        return self.shift + self.sum / self.n

    @property
    def variance(self) -> float:
        """Variance of one unit's value.

        For a proportion the Bernoulli variance ``p(1 − p)``; otherwise the sample variance with ddof=1,
        ``(Σy² − (Σy)²/n) / (n − 1)``, clipped at 0 against rounding.
        """
        if self.proportion:
            p = self.mean
            return p * (1.0 - p)
        self._require(2, "sample variance")
        return max((self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1), 0.0)

    def difference_from(self, other: Moments) -> float:
        """``self.mean − other.mean``, taken around a common shift so that large means cancel exactly.

        With both sums around the same ``c``: ``(c + Σ(y_a − c)/n_a) − (c + Σ(y_b − c)/n_b)`` is computed as
        ``Σ(y_a − c)/n_a − Σ(y_b − c)/n_b``, which keeps the digits that adding ``c`` back would round away.
        """
        self._require(1, "mean difference")
        other._require(1, "mean difference")
        aligned = other.shifted(self.shift, self.x_shift)
        return self.sum / self.n - aligned.sum / aligned.n

    def x_difference_from(self, other: Moments) -> float:
        """``self.x_mean − other.x_mean`` around a common covariate shift (see :meth:`difference_from`)."""
        x_sum, _, _ = self._require_x("covariate mean difference")
        aligned = other.shifted(self.shift, self.x_shift)
        other_x_sum, _, _ = aligned._require_x("covariate mean difference")
        self._require(1, "covariate mean difference")
        aligned._require(1, "covariate mean difference")
        return x_sum / self.n - other_x_sum / aligned.n

    @property
    def std(self) -> float:
        """Standard deviation, the square root of :attr:`variance`."""
        return math.sqrt(self.variance)

    @property
    def x_mean(self) -> float:
        """Covariate mean ``x_shift + Σ(x − x_shift) / n``."""
        x_sum, _, _ = self._require_x("covariate mean")
        self._require(1, "covariate mean")
        return self.x_shift + x_sum / self.n

    @property
    def x_variance(self) -> float:
        """Covariate sample variance (ddof=1), ``(Σx² − (Σx)²/n) / (n − 1)``, clipped at 0."""
        x_sum, x_sum_sq, _ = self._require_x("covariate variance")
        self._require(2, "covariate variance")
        return max((x_sum_sq - x_sum * x_sum / self.n) / (self.n - 1), 0.0)

    @property
    def covariance(self) -> float:
        """Sample covariance of value and covariate (ddof=1), ``(Σxy − Σx·Σy/n) / (n − 1)``."""
        x_sum, _, xy_sum = self._require_x("covariance")
        self._require(2, "covariance")
        return (xy_sum - x_sum * self.sum / self.n) / (self.n - 1)

    # ----------------------------------------------------------------------------------------------
    # roll-ups

    def shifted(self, shift: float, x_shift: float | None = None) -> Moments:
        """The same moments with sums around other constants (exact algebra, e.g. to add moments of two shifts).

        ``Σ(y − b) = Σ(y − a) − n·d`` and ``Σ(y − b)² = Σ(y − a)² − 2d·Σ(y − a) + n·d²`` with ``d = b − a``;
        ``Σ(x − b')(y − b) = Σ(x − a')(y − a) − d·Σ(x − a') − d'·Σ(y − a) + n·d·d'``.

        The new sum of squares is kept at or above ``(new sum)²/n`` (Cauchy–Schwarz, which the exact algebra
        preserves): when ``|d|`` dwarfs the spread, rounding of the three terms could otherwise put it just below,
        and the moments would fail their own consistency check on valid data.
        """
        x_shift = self.x_shift if x_shift is None else float(x_shift)
        d, dx, n = float(shift) - self.shift, x_shift - self.x_shift, self.n
        if d == 0.0 and dx == 0.0:
            return self

        def moved(total: float, total_sq: float, delta: float) -> tuple[float, float]:
            new_total = total - n * delta
            floor = new_total * new_total / n if n else 0.0
            return new_total, max(total_sq - 2.0 * delta * total + n * delta * delta, floor, 0.0)

        sums = self._x_sums()
        covariate: dict[str, float] = {}
        if sums is not None:
            x_sum, x_sum_sq, xy_sum = sums
            new_x_sum, new_x_sum_sq = moved(x_sum, x_sum_sq, dx)
            covariate = {
                "x_sum": new_x_sum,
                "x_sum_sq": new_x_sum_sq,
                "xy_sum": xy_sum - d * x_sum - dx * self.sum + n * d * dx,
            }
        new_sum, new_sum_sq = moved(self.sum, self.sum_sq, d)
        return Moments(
            n=n,
            sum=new_sum,
            sum_sq=new_sum_sq,
            proportion=self.proportion,
            shift=float(shift),
            x_shift=x_shift,
            **covariate,
        )

    def __add__(self, other: object) -> Moments:
        """Merge two sets of moments (e.g. two segments) by adding every sum (around this one's shifts)."""
        if not isinstance(other, Moments):
            return NotImplemented
        other = other.shifted(self.shift, self.x_shift)
        if self.proportion != other.proportion:
            raise ParameterError(
                "cannot add Moments of a proportion to Moments of a mean (proportion=True vs False); "
                "aggregate the same metric in both."
            )
        if (self.x_sum is None) != (other.x_sum is None):
            raise ParameterError(
                "cannot add Moments with covariate sums to Moments without them; "
                "aggregate the covariate in both or drop it from both."
            )
        mine, theirs = self._x_sums(), other._x_sums()
        covariate: dict[str, float] = {}  # the covariate sums (and their shift), when both have them
        if mine is not None and theirs is not None:
            covariate = {name: a + b for name, a, b in zip(_X_FIELDS, mine, theirs, strict=True)}
            covariate["x_shift"] = self.x_shift
        return Moments(
            n=self.n + other.n,
            sum=self.sum + other.sum,
            sum_sq=self.sum_sq + other.sum_sq,
            proportion=self.proportion,
            shift=self.shift,
            **covariate,
        )

    def __radd__(self, other: object) -> Moments:
        """Support ``sum(list_of_moments)``, whose start value is the integer 0."""
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented
