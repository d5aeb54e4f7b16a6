"""Joint sufficient statistics of several per-unit variables in one arm.

A metric with a denominator and covariates has, per unit, a vector ``z = (y, d, x₁ … x_k)``: the outcome, a
ratio's denominator, pre-period values or a model's prediction. Every linear adjustment of the outcome by the
covariates (multivariate CUPED, CUPAC, ratio CUPED) needs only the count ``n``, the sums ``Σz_i`` and the cross
products ``Σz_i z_j`` of each arm, which the engine returns in the same single scan as the plain sums.
:class:`JointMoments` holds them, adds over cells (segments, periods) and converts to the two-variable forms
:class:`~abnb.stats.Moments` (an outcome with one covariate) and :class:`~abnb.stats.RatioMoments` (a ratio).

References:
    A. Deng, Y. Xu, R. Kohavi, T. Walker (2013), "Improving the Sensitivity of Online Controlled Experiments by
    Utilizing Pre-Experiment Data", WSDM 2013 (the multivariate adjustment needs exactly these sums).
    T. F. Chan, G. H. Golub, R. J. LeVeque (1983), "Algorithms for computing the sample variance", The American
    Statistician 37(3) (why the sums are shifted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from abnb.errors import DataError, ParameterError
from abnb.stats._validate import as_count, as_finite, finite_array
from abnb.stats.moments import Moments
from abnb.stats.ratio import RatioMoments

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["JointMoments"]

#: Relative slack of the Cauchy–Schwarz checks (sums rounded by a parallel engine pass, different data do not).
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class JointMoments:
    """Count, sums and cross products of a vector of per-unit variables in one arm.

    For the ``k`` variables ``z = (z_1 … z_k)`` named ``names`` and constants ``c = shifts``:

    * ``sums[i] = Σ(z_i − c_i)``,
    * ``cross[i][j] = Σ(z_i − c_i)(z_j − c_j)`` (a symmetric ``k × k`` table; the diagonal holds the sums of
      squares).

    The centred cross products ``S_ij = cross[i][j] − sums[i]·sums[j]/n = Σ(z_i − z̄_i)(z_j − z̄_j)`` do not depend
    on the shifts in exact arithmetic; in floating point a shift near the mean keeps their digits (a metric with
    mean 1e9 and sd 1 keeps its variance), as in :class:`~abnb.stats.Moments`. Two ``JointMoments`` over the same
    names add (``a + b``, around the first one's shifts), which rolls cells up into a total.

    By convention the outcome is named ``"y"``, a ratio's denominator ``"d"``, a metric's own pre-period ``"x"``
    (and a ratio denominator's pre-period ``"w"``); other covariates carry their spec names.

    Attributes:
        n: Number of units.
        names: The variables, in order (unique, non-empty).
        sums: ``Σ(z_i − c_i)`` per variable.
        cross: ``Σ(z_i − c_i)(z_j − c_j)`` per pair, as ``k`` rows of ``k`` numbers.
        shifts: The constants ``c_i`` subtracted before summing (empty: all 0).
        proportion: The first variable is a 0/1 outcome: its variance is the Bernoulli ``p(1 − p)`` (as
            ``Moments(proportion=True)``), and it takes no shift.

    Raises:
        ParameterError: If ``n`` is not a non-negative whole number, the names are not unique non-empty strings,
            the sums or the table do not have one entry per variable (pair), a number is not finite, the table is
            not symmetric, or the sums cannot come from ``n`` real vectors (a diagonal entry below ``sum²/n``, or a
            centred cross product beyond the Cauchy–Schwarz bound ``sqrt(S_ii·S_jj)``).
    """

    n: int
    names: tuple[str, ...]
    sums: tuple[float, ...]
    cross: tuple[tuple[float, ...], ...]
    shifts: tuple[float, ...] = ()
    proportion: bool = False

    def __post_init__(self) -> None:
        n = as_count(self.n, "JointMoments.n")
        if n < 0:
            raise ParameterError(f"JointMoments.n must be >= 0, got {n}.")
        object.__setattr__(self, "n", n)
        names = tuple(self.names)
        if not names or not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
            raise ParameterError(f"JointMoments.names must be unique, non-empty strings, got {list(names)!r}.")
        object.__setattr__(self, "names", names)
        k = len(names)
        sums = tuple(as_finite(v, f"JointMoments.sums[{i}]") for i, v in enumerate(self.sums))
        if len(sums) != k:
            raise ParameterError(f"JointMoments.sums has {len(sums)} entries for {k} variables {list(names)}.")
        rows = tuple(tuple(row) for row in self.cross)
        if len(rows) != k or any(len(row) != k for row in rows):
            raise ParameterError(
                f"JointMoments.cross must be a {k} x {k} table (one row and column per variable {list(names)})."
            )
        cross = tuple(
            tuple(as_finite(v, f"JointMoments.cross[{i}][{j}]") for j, v in enumerate(row))
            for i, row in enumerate(rows)
        )
        shifts = tuple(as_finite(v, f"JointMoments.shifts[{i}]") for i, v in enumerate(self.shifts)) or (0.0,) * k
        if len(shifts) != k:
            raise ParameterError(f"JointMoments.shifts has {len(shifts)} entries for {k} variables {list(names)}.")
        if not isinstance(self.proportion, bool | np.bool_):
            raise ParameterError(f"JointMoments.proportion must be True or False, got {self.proportion!r}.")
        object.__setattr__(self, "proportion", bool(self.proportion))
        if self.proportion and shifts[0] != 0.0:
            raise ParameterError(f"a proportion ({names[0]!r}) counts successes and takes no shift, got {shifts[0]!r}.")
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "cross", cross)
        object.__setattr__(self, "shifts", shifts)
        self._check()

    def _check(self) -> None:
        """Symmetry and the Cauchy–Schwarz bounds that sums of ``n`` real vectors satisfy."""
        k, n = len(self.names), self.n
        for i in range(k):
            for j in range(i + 1, k):
                a, b = self.cross[i][j], self.cross[j][i]
                if abs(a - b) > _TOLERANCE * max(abs(a), abs(b), 1.0):
                    raise ParameterError(
                        f"JointMoments.cross is not symmetric: [{i}][{j}] = {a!r} but [{j}][{i}] = {b!r} "
                        f"({self.names[i]!r}, {self.names[j]!r})."
                    )
        if n == 0:
            if any(self.sums) or any(any(row) for row in self.cross):
                raise ParameterError("JointMoments with n=0 units must have all sums 0; n counts other rows.")
            return
        centred = self._centred()
        for i, name in enumerate(self.names):
            if centred[i, i] < -_TOLERANCE * max(self.cross[i][i], 1.0):
                raise ParameterError(
                    f"JointMoments: the sum of squares of {name!r} ({self.cross[i][i]!r}) is smaller than its "
                    f"sum²/n, which no {n} real values allow; the sums do not belong together."
                )
        for i in range(k):
            for j in range(i + 1, k):
                bound = math.sqrt(max(centred[i, i], 0.0) * max(centred[j, j], 0.0))
                scale = max(abs(self.cross[i][j]), bound, abs(self.sums[i] * self.sums[j]) / n, 1.0)
                if abs(centred[i, j]) > bound + _TOLERANCE * scale:
                    raise ParameterError(
                        f"JointMoments: the cross product of {self.names[i]!r} and {self.names[j]!r} implies a "
                        "covariance beyond the Cauchy–Schwarz bound; the sums must come from the same units."
                    )

    # ----------------------------------------------------------------------------------------------
    # constructors

    @classmethod
    def from_values(cls, columns: Mapping[str, ArrayLike], *, proportion: bool = False) -> JointMoments:
        """Compute the joint moments of per-unit values, one array per variable (all of one length).

        The sums are taken around each variable's first value (as the engine's aggregate does; a proportion's
        first variable around 0), so constant values give a variance of exactly 0.

        Args:
            columns: ``{name: values}`` in variable order, one value per unit in each.
            proportion: The first variable is a 0/1 outcome.

        Raises:
            DataError: If values are not finite numbers, not one-dimensional, or of different lengths.
            ParameterError: If there is no variable.
        """
        if not columns:
            raise ParameterError("JointMoments.from_values needs at least one variable.")
        arrays = [finite_array(values, f"values of {name!r}") for name, values in columns.items()]
        sizes = {a.size for a in arrays}
        if len(sizes) != 1:
            raise DataError(
                f"the variables have different lengths {dict(zip(columns, (a.size for a in arrays), strict=True))}; "
                "pass one value per unit in each."
            )
        shifts = [0.0 if (proportion and i == 0) or not a.size else float(a[0]) for i, a in enumerate(arrays)]
        matrix = np.stack([a - c for a, c in zip(arrays, shifts, strict=True)]) if arrays[0].size else None
        k = len(arrays)
        if matrix is None:
            return cls(0, tuple(columns), (0.0,) * k, ((0.0,) * k,) * k, tuple(shifts), proportion)
        products = matrix @ matrix.T
        return cls(
            n=int(matrix.shape[1]),
            names=tuple(columns),
            sums=tuple(float(v) for v in matrix.sum(axis=1)),
            cross=tuple(tuple(float(v) for v in row) for row in products),
            shifts=tuple(shifts),
            proportion=proportion,
        )

    # ----------------------------------------------------------------------------------------------
    # access

    def index(self, name: str) -> int:
        """Position of variable ``name``.

        Raises:
            ParameterError: There is no such variable.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise ParameterError(
                f"these joint moments have no variable {name!r}; they have {', '.join(map(repr, self.names))}."
            ) from None

    def _require(self, minimum: int, what: str) -> None:
        if self.n < minimum:
            raise DataError(f"the {what} needs at least {minimum} unit(s), but these moments have n={self.n}.")

    def mean(self, name: str) -> float:
        """Mean of variable ``name``, ``c + Σ(z − c)/n``."""
        self._require(1, "mean")
        i = self.index(name)
        return self.shifts[i] + self.sums[i] / self.n

    @property
    def means(self) -> tuple[float, ...]:
        """Means of every variable, in ``names`` order."""
        self._require(1, "mean")
        return tuple(c + s / self.n for c, s in zip(self.shifts, self.sums, strict=True))

    def _centred(self) -> NDArray[np.float64]:
        """``S = Σ(z − z̄)(z − z̄)ᵀ`` from the shifted sums, ``cross − sums·sumsᵀ/n``."""
        sums = np.asarray(self.sums, dtype=np.float64)
        return np.asarray(self.cross, dtype=np.float64) - np.outer(sums, sums) / self.n

    def centred(self) -> NDArray[np.float64]:
        """The centred cross products ``S_ij = Σ(z_i − z̄_i)(z_j − z̄_j)`` as a ``k × k`` array."""
        self._require(1, "centred cross products")
        return self._centred()

    def covariance(self) -> NDArray[np.float64]:
        """The sample covariance matrix (ddof=1), ``S / (n − 1)``, diagonal clipped at 0.

        The first variable of a proportion has the Bernoulli variance ``p(1 − p)`` on the diagonal instead (its
        covariances with the others stay ddof=1), as :class:`~abnb.stats.Moments` and
        :func:`~abnb.stats.cuped` use it.
        """
        self._require(2, "covariance matrix")
        matrix = self._centred() / (self.n - 1)
        np.fill_diagonal(matrix, np.maximum(np.diag(matrix), 0.0))
        if self.proportion:
            p = self.shifts[0] + self.sums[0] / self.n
            matrix[0, 0] = p * (1.0 - p)
        return matrix

    def variance(self, name: str) -> float:
        """Sample variance (ddof=1) of variable ``name`` (Bernoulli ``p(1 − p)`` for a proportion's outcome)."""
        i = self.index(name)
        return float(self.covariance()[i, i])

    # ----------------------------------------------------------------------------------------------
    # algebra

    def shifted(self, shifts: Sequence[float] | Mapping[str, float]) -> JointMoments:
        """The same moments around other constants (exact algebra).

        With ``δ = b − a`` (new minus old shifts): ``Σ(z_i − b_i) = Σ(z_i − a_i) − n·δ_i`` and
        ``Σ(z_i − b_i)(z_j − b_j) = C_ij − δ_j·S_i − δ_i·S_j + n·δ_i·δ_j``. A diagonal entry is kept at or above
        ``(new sum)²/n`` against rounding, as in :meth:`Moments.shifted`.

        Args:
            shifts: New shifts, one per variable in order, or ``{name: shift}`` for some variables (the others
                keep theirs).
        """
        if isinstance(shifts, Mapping):
            new = list(self.shifts)
            for name, value in shifts.items():
                new[self.index(name)] = float(value)
        else:
            new = [float(v) for v in shifts]
            if len(new) != len(self.names):
                raise ParameterError(f"shifted() needs {len(self.names)} shifts, got {len(new)}.")
        delta = [b - a for a, b in zip(self.shifts, new, strict=True)]
        if not any(delta):
            return self
        n, k = self.n, len(self.names)
        sums = [s - n * d for s, d in zip(self.sums, delta, strict=True)]
        cross = [
            [
                self.cross[i][j] - delta[j] * self.sums[i] - delta[i] * self.sums[j] + n * delta[i] * delta[j]
                for j in range(k)
            ]
            for i in range(k)
        ]
        for i in range(k):
            floor = sums[i] * sums[i] / n if n else 0.0
            cross[i][i] = max(cross[i][i], floor, 0.0)
        return JointMoments(n, self.names, tuple(sums), tuple(map(tuple, cross)), tuple(new), self.proportion)

    def select(self, names: Sequence[str]) -> JointMoments:
        """The joint moments of some of the variables, in the order given.

        The result is a proportion's only if its first variable is this one's first (a proportion's outcome).
        """
        picked = [self.index(name) for name in names]
        return JointMoments(
            self.n,
            tuple(names),
            tuple(self.sums[i] for i in picked),
            tuple(tuple(self.cross[i][j] for j in picked) for i in picked),
            tuple(self.shifts[i] for i in picked),
            self.proportion and bool(picked) and picked[0] == 0,
        )

    def __add__(self, other: object) -> JointMoments:
        """Merge two sets of joint moments over the same variables (e.g. two segments), around this one's shifts."""
        if not isinstance(other, JointMoments):
            return NotImplemented
        if other.names != self.names:
            raise ParameterError(
                f"cannot add JointMoments of variables {list(other.names)} to JointMoments of {list(self.names)}; "
                "aggregate the same variables in both."
            )
        if other.proportion != self.proportion:
            raise ParameterError("cannot add JointMoments of a proportion to JointMoments of a mean.")
        aligned = other.shifted(self.shifts)
        k = len(self.names)
        return JointMoments(
            self.n + aligned.n,
            self.names,
            tuple(a + b for a, b in zip(self.sums, aligned.sums, strict=True)),
            tuple(tuple(self.cross[i][j] + aligned.cross[i][j] for j in range(k)) for i in range(k)),
            self.shifts,
            self.proportion,
        )

    def __radd__(self, other: object) -> JointMoments:
        """Support ``sum(list_of_joint_moments)``, whose start value is the integer 0."""
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    # ----------------------------------------------------------------------------------------------
    # conversions

    def to_moments(self, y: str = "y", x: str | None = None) -> Moments:
        """The :class:`~abnb.stats.Moments` of outcome ``y`` (with covariate ``x``), with the same shifts.

        The result is the one the aggregate query has always returned for a metric: ``sum``, ``sum_sq`` of ``y``
        and, with ``x``, ``x_sum``, ``x_sum_sq``, ``xy_sum``; ``proportion`` when ``y`` is a proportion's outcome.
        """
        i = self.index(y)
        proportion = self.proportion and i == 0
        if x is None:
            return Moments(self.n, self.sums[i], self.cross[i][i], proportion=proportion, shift=self.shifts[i])
        j = self.index(x)
        return Moments(
            self.n,
            self.sums[i],
            self.cross[i][i],
            x_sum=self.sums[j],
            x_sum_sq=self.cross[j][j],
            xy_sum=self.cross[i][j],
            proportion=proportion,
            shift=self.shifts[i],
            x_shift=self.shifts[j],
        )

    def to_ratio(self, y: str = "y", d: str = "d") -> RatioMoments:
        """The :class:`~abnb.stats.RatioMoments` of the ratio ``Σy / Σd`` (raw sums: shifted back to 0 first)."""
        raw = self.select((y, d)).shifted((0.0, 0.0))
        return RatioMoments(raw.n, raw.sums[0], raw.cross[0][0], raw.sums[1], raw.cross[1][1], raw.cross[0][1])
