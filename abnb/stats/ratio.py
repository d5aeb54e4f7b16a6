"""Ratio metrics by the delta method, from sufficient statistics.

A ratio metric divides two per-unit sums over the whole arm, ``R = Σy / Σd`` (revenue per session, clicks per
page view) while randomisation is per user. The sessions of one user are correlated, so the ratio is not a mean
of independent values; its variance follows from the delta method applied to the per-user pairs ``(y, d)``,
whose sufficient statistics are ``n``, ``Σy``, ``Σy²``, ``Σd``, ``Σd²`` and ``Σyd``.

References:
    A. Deng, U. Knoblich, J. Lu (2018), "Applying the Delta Method in Metric Analytics: A Practical Guide with
    Novel Ideas", KDD 2018.
    R. Kohavi, D. Tang, Y. Xu (2020), "Trustworthy Online Controlled Experiments", Cambridge University Press,
    chapter 18 (variance estimation of ratio metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._effect import Effect
from abnb.stats._validate import as_count, as_finite, check_choice, check_units, finite_array
from abnb.stats.frequentist import RELATIVE_CIS, RelativeCI, difference_effect, welch_df
from abnb.stats.moments import paired_sums

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["RatioMoments", "ratio"]


@dataclass(frozen=True, slots=True)
class RatioMoments:
    """Sufficient statistics of a ratio metric ``Σy / Σd`` in one arm (one row per randomisation unit).

    Attributes:
        n: Number of randomisation units (e.g. users).
        y_sum: Sum of the per-unit numerators, ``Σy`` (e.g. revenue).
        y_sum_sq: Sum of the squared numerators, ``Σy²``.
        d_sum: Sum of the per-unit denominators, ``Σd`` (e.g. sessions).
        d_sum_sq: Sum of the squared denominators, ``Σd²``.
        yd_sum: Sum of the products, ``Σyd``.

    Raises:
        ParameterError: If ``n`` is not a non-negative whole number, a sum is not finite, a sum of squares is
            negative, or the sums are inconsistent (``Σy² < (Σy)²/n``, ``Σd² < (Σd)²/n``, or a covariance larger
            than the Cauchy–Schwarz bound ``sqrt(S_yy·S_dd)``), which means they were not aggregated from the
            same units.
    """

    n: int
    y_sum: float
    y_sum_sq: float
    d_sum: float
    d_sum_sq: float
    yd_sum: float

    def __post_init__(self) -> None:
        n = as_count(self.n, "RatioMoments.n")
        if n < 0:
            raise ParameterError(f"RatioMoments.n must be >= 0, got {n}.")
        object.__setattr__(self, "n", n)
        for name in ("y_sum", "y_sum_sq", "d_sum", "d_sum_sq", "yd_sum"):
            object.__setattr__(self, name, as_finite(getattr(self, name), f"RatioMoments.{name}"))
        for name in ("y_sum_sq", "d_sum_sq"):
            value = getattr(self, name)
            if value < 0:
                raise ParameterError(f"RatioMoments.{name} is a sum of squares and must be >= 0, got {value!r}.")
        if n == 0:
            return
        s_yy, s_dd, s_yd = self._centered()
        for name, value, total in (("y", s_yy, self.y_sum_sq), ("d", s_dd, self.d_sum_sq)):
            if value < -1e-9 * max(total, 1.0):
                raise ParameterError(
                    f"RatioMoments.{name}_sum_sq ({total!r}) is smaller than ({name}_sum)²/n, which no set of "
                    f"{n} real values allows; check that the sums were aggregated over the same units."
                )
        bound = math.sqrt(max(s_yy, 0.0) * max(s_dd, 0.0))
        if abs(s_yd) > bound + 1e-9 * max(abs(self.yd_sum), bound, 1.0):
            raise ParameterError(
                f"RatioMoments.yd_sum ({self.yd_sum!r}) implies a covariance of y and d beyond the Cauchy–Schwarz "
                "bound; the numerator and denominator sums must come from the same units."
            )

    def _centered(self) -> tuple[float, float, float]:
        """Centred sums of squares and products ``S_yy``, ``S_dd``, ``S_yd``."""
        n = self.n
        return (
            self.y_sum_sq - self.y_sum * self.y_sum / n,
            self.d_sum_sq - self.d_sum * self.d_sum / n,
            self.yd_sum - self.y_sum * self.d_sum / n,
        )

    @classmethod
    def from_values(cls, numerator: ArrayLike, denominator: ArrayLike) -> RatioMoments:
        """Compute the moments from one numerator and one denominator value per unit.

        Args:
            numerator: Per-unit numerator values ``y`` (e.g. revenue per user).
            denominator: Per-unit denominator values ``d`` (e.g. sessions per user), aligned with ``numerator``.

        Returns:
            The moments.

        Raises:
            DataError: If the values are not finite numbers, not one-dimensional, or of different lengths.
        """
        y = finite_array(numerator, "numerator values")
        d = finite_array(denominator, "denominator values")
        if y.size != d.size:
            raise DataError(f"numerator has {y.size} values but denominator has {d.size}; pass one pair per unit.")
        return cls(int(y.size), *paired_sums(y, d))

    def _require(self, minimum: int, what: str) -> None:
        if self.n < minimum:
            raise DataError(f"the {what} needs at least {minimum} unit(s), but these moments have n={self.n}.")

    @property
    def y_mean(self) -> float:
        """Numerator mean ``ȳ = Σy / n``."""
        self._require(1, "numerator mean")
        return self.y_sum / self.n

    @property
    def d_mean(self) -> float:
        """Denominator mean ``d̄ = Σd / n``."""
        self._require(1, "denominator mean")
        return self.d_sum / self.n

    @property
    def ratio(self) -> float:
        """The ratio ``R = Σy / Σd``.

        Raises:
            DataError: If ``Σd`` is 0.
        """
        self._require(1, "ratio")
        if self.d_sum == 0.0:
            raise DataError("the ratio Σy/Σd is undefined because the denominator sum d_sum is 0.")
        return self.y_sum / self.d_sum

    @property
    def y_variance(self) -> float:
        """Numerator sample variance (ddof=1), clipped at 0."""
        self._require(2, "numerator variance")
        return max(self._centered()[0] / (self.n - 1), 0.0)

    @property
    def d_variance(self) -> float:
        """Denominator sample variance (ddof=1), clipped at 0."""
        self._require(2, "denominator variance")
        return max(self._centered()[1] / (self.n - 1), 0.0)

    @property
    def covariance(self) -> float:
        """Sample covariance of numerator and denominator (ddof=1)."""
        self._require(2, "covariance")
        return self._centered()[2] / (self.n - 1)

    @property
    def ratio_variance(self) -> float:
        """Delta-method variance of the estimated ratio, ``(V_y − 2R·C_yd + R²·V_d) / (n·d̄²)``, clipped at 0."""
        r = self.ratio
        self._require(2, "variance of the ratio")
        var = self.y_variance - 2.0 * r * self.covariance + r * r * self.d_variance
        return max(var, 0.0) / (self.n * self.d_mean**2)


def _check_ratio_arm(name: str, arm: object) -> RatioMoments:
    if not isinstance(arm, RatioMoments):
        raise ParameterError(
            f"{name} must be abnb.stats.ratio.RatioMoments, got {type(arm).__name__}; "
            "build it with RatioMoments.from_values(numerator, denominator)."
        )
    check_units(name, arm.n)
    if arm.d_sum == 0.0:
        raise DataError(f"the {name} ratio is undefined because its denominator sum d_sum is 0.")
    return arm


def ratio(
    control: RatioMoments,
    treatment: RatioMoments,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    relative_ci: RelativeCI = "fieller",
) -> Effect:
    """Compare a ratio metric ``R = Σy / Σd`` between two arms by the delta method.

    Per arm, with ddof=1 moments of the per-unit pairs, ``R = ȳ / d̄`` and

    ``Var(R) ≈ (V_y − 2R·Cov(y, d) + R²·V_d) / (n·d̄²)``.

    * Absolute: ``R_t − R_c`` with ``se = sqrt(Var(R_t) + Var(R_c))``.
    * Relative: ``L = (R_t − R_c)/|R_c|`` with ``Var(L) ≈ Var(R_t)/R_c² + R_t²·Var(R_c)/R_c⁴`` (arms independent).

    The statistic is ``estimate / se``, referred to Student's t with the Welch–Satterthwaite degrees of freedom
    ``df = (Var(R_t) + Var(R_c))² / (Var(R_t)²/(n_t − 1) + Var(R_c)²/(n_c − 1))`` (as GrowthBook does; practically
    normal at A/B-test sizes); the interval is ``estimate ± t_{1−α/2, df}·se``.

    For the relative lift, ``relative_ci`` chooses the interval (same ``df``, arms independent), as in
    :func:`~abnb.stats.welch`:

    * ``"fieller"`` (default): Fieller's interval, the set of ``θ`` with
      ``(R_t − θR_c)² ≤ t²(Var(R_t) + θ²Var(R_c))``, mapped to the lift; the p-value is that of the difference
      ``R_t − R_c`` (interval and test agree) and ``se`` the delta-method one; ``ci_note`` describes a set that
      is not an interval;
    * ``"delta"``: the symmetric interval above;
    * ``"log"``: ``exp(log(R_t/R_c) ± t·se_log) − 1`` with ``se_log² = Var(R_t)/R_t² + Var(R_c)/R_c²``
      (asymmetric); the statistic is ``log(R_t/R_c) / se_log`` and ``se`` is reported as ``(R_t/R_c)·se_log``.

    Args:
        control: Ratio moments of the control arm.
        treatment: Ratio moments of the treatment arm.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Estimate the relative lift ``(R_t − R_c)/|R_c|`` instead of the difference.
        relative_ci: Interval for the lift: ``"fieller"`` (default), ``"delta"`` or ``"log"`` (ignored unless
            ``relative``).

    Returns:
        The effect; ``control_mean`` and ``treatment_mean`` hold the ratios ``R_c`` and ``R_t``.

    Raises:
        ParameterError: If ``alpha`` is outside (0, 1), an arm is not ``RatioMoments`` or has fewer than 2 units,
            or ``relative_ci`` is unknown.
        DataError: If an arm's denominator sum is 0, both ratio variances are 0, ``R_c = 0`` for a relative
            effect, or the ratios have opposite signs for ``"log"``.

    References:
        Deng, Knoblich & Lu (2018), "Applying the Delta Method in Metric Analytics", KDD; Kohavi, Tang & Xu
        (2020), "Trustworthy Online Controlled Experiments", ch. 18; Fieller (1954), JRSS B 16.
    """
    alpha = check_alpha(alpha)
    relative_ci = check_choice("relative_ci", relative_ci, RELATIVE_CIS)
    control = _check_ratio_arm("control", control)
    treatment = _check_ratio_arm("treatment", treatment)
    r_c, r_t = control.ratio, treatment.ratio
    var_c, var_t = control.ratio_variance, treatment.ratio_variance
    if var_c + var_t == 0.0:
        raise DataError(
            "both ratio estimates have zero delta-method variance (every unit has the same y/d), so the "
            f"difference of ratios (control {r_c:.6g}, treatment {r_t:.6g}) cannot be tested."
        )
    return difference_effect(
        Effect,
        means=(r_c, r_t),
        variances=(var_c, var_t),
        difference=r_t - r_c,
        statistic=(r_t - r_c) / math.sqrt(var_c + var_t),
        df=welch_df(var_c, control.n, var_t, treatment.n),
        alpha=alpha,
        relative=relative,
        relative_ci=relative_ci,
        method="ratio metric, delta method, Welch t-test (Welch–Satterthwaite df)",
        lift_label="(R_t − R_c)/|R_c|",
        what="ratio",
    )
