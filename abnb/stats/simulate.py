"""Calibration simulations: does a test keep its promised false-positive rate, coverage and power?

Every simulation draws the per-arm *sufficient statistics* directly instead of raw rows, so 20,000
experiments take well under a second:

* normal data with mean ``μ`` and standard deviation ``σ``: the sample mean is ``N(μ, σ²/n)`` and,
  independently, the within-arm sum of squares is ``σ²·χ²_{n−1}`` (Cochran's theorem), which gives
  ``Σy = n·ȳ`` and ``Σy² = SS + n·ȳ²`` exactly as ``n`` raw draws would;
* 0/1 data with success probability ``p``: ``Σy = Σy² ~ Binomial(n, p)``.

For :func:`peeking`, each look adds one batch of units; the batch statistics are drawn the same way and
accumulated with ``numpy.cumsum``.

Rates come with exact Clopper–Pearson intervals (``scipy.stats.binomtest(...).proportion_ci``).

References:
    C. J. Clopper, E. S. Pearson (1934), "The use of confidence or fiducial limits illustrated in the case
    of the binomial", Biometrika 26, 404–413.
    P. Armitage, C. K. McPherson, B. C. Rowe (1969), "Repeated significance tests on accumulating data",
    JRSS A 132 (the inflation of the false-positive rate by repeated looks).
    R. Johari, L. Pekelis, D. Walsh (2017), "Peeking at A/B tests", KDD.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, Literal

import numpy as np

from abnb._display import FlatResult
from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._effect import IntervalEstimate
from abnb.stats._validate import finite_number
from abnb.stats.frequentist import welch, ztest
from abnb.stats.moments import Moments
from abnb.stats.sequential import cs_halfwidth

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["CalibrationResult", "PeekingResult", "aa_test", "calibrate", "peeking"]

Distribution = Literal["normal", "bernoulli"]
PeekingMethod = Literal["naive", "confidence_sequence"]


# ------------------------------------------------------------------------------------------------------
# results


def _clopper_pearson(successes: int, trials: int) -> IntervalEstimate:
    """``successes / trials`` with its exact (Clopper–Pearson) 95% interval."""
    from scipy import stats

    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="exact")
    return IntervalEstimate(successes / trials, float(ci.low), float(ci.high), "Clopper–Pearson 95%")


@dataclass(frozen=True)
class CalibrationResult(FlatResult):
    """Operating characteristics of a fixed-horizon test, estimated by simulation.

    Attributes:
        test: The test simulated (``"welch"`` or ``"ztest"``).
        distribution: ``"normal"`` or ``"bernoulli"``.
        n_per_arm: Units per arm.
        effect: True difference in means (treatment − control).
        alpha: Significance level of each test.
        simulations: Number of simulated experiments.
        rejections: How many rejected H0 (``pvalue < alpha``).
        rejection: The rejection rate ``rejections / simulations`` (``rejection.estimate``: the false-positive
            rate when ``effect == 0``, the power otherwise) with its 95% Clopper–Pearson interval
            (``rejection.ci_low``, ``rejection.ci_high``).
        coverage: Share of the ``1 − alpha`` confidence intervals containing ``effect`` (``coverage.estimate``)
            with its 95% Clopper–Pearson interval (``coverage.ci_low``, ``coverage.ci_high``).
        degenerate: Simulations in which both arms had zero variance (counted as not rejecting and not
            covering; only possible for 0/1 data).
    """

    test: str
    distribution: str
    n_per_arm: int
    effect: float
    alpha: float
    simulations: int
    rejections: int
    rejection: IntervalEstimate
    coverage: IntervalEstimate
    degenerate: int

    @property
    def fpr(self) -> float:
        """False-positive rate: the rejection rate of an A/A test (``effect == 0``)."""
        if self.effect != 0.0:
            raise ParameterError(
                f"fpr is defined for effect=0 (an A/A test); this simulation has effect={self.effect}."
            )
        return self.rejection.estimate

    @property
    def power(self) -> float:
        """Power: the rejection rate when there is an effect (``effect != 0``)."""
        if self.effect == 0.0:
            raise ParameterError("power is defined for effect != 0; with effect=0 the rejection rate is the fpr.")
        return self.rejection.estimate


@dataclass(frozen=True)
class PeekingResult(FlatResult):
    """False-positive rate (or power) of a test checked at several looks, stopping at the first rejection.

    Attributes:
        method: ``"naive"`` (Welch p-value < alpha at any look) or ``"confidence_sequence"``.
        looks: Number of equally spaced looks.
        n_per_arm: Units per arm at the last look.
        effect: True difference in means.
        alpha: Significance level.
        simulations: Number of simulated experiments.
        rejections: Experiments stopped with a rejection at some look.
        rejection: The rejection rate ``rejections / simulations`` (``rejection.estimate``) with its 95%
            Clopper–Pearson interval (``rejection.ci_low``, ``rejection.ci_high``).
        first_rejection_look: Count of experiments whose first rejection came at each look (length ``looks``).
    """

    method: str
    looks: int
    n_per_arm: int
    effect: float
    alpha: float
    simulations: int
    rejections: int
    rejection: IntervalEstimate
    first_rejection_look: tuple[int, ...]


# ------------------------------------------------------------------------------------------------------
# validation and sufficient-statistic draws


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise ParameterError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)


def _check_distribution(distribution: object, mean: float, sd: float, effect: float) -> Distribution:
    if distribution == "normal":
        if sd <= 0.0:
            raise ParameterError(f"sd must be > 0 for normal data, got {sd!r}.")
        return "normal"
    if distribution == "bernoulli":
        for name, p in (("mean", mean), ("mean + effect", mean + effect)):
            if not 0.0 < p < 1.0:
                raise ParameterError(
                    f"{name} is a success probability for bernoulli data and must lie in (0, 1), got {p!r}."
                )
        return "bernoulli"
    raise ParameterError(f"distribution must be 'normal' or 'bernoulli', got {distribution!r}.")


def _draw(
    rng: np.random.Generator,
    distribution: Distribution,
    n: NDArray[np.int64],
    mean: float,
    sd: float,
    shape: tuple[int, ...],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw ``(Σy, Σy²)`` of batches of ``n`` units (``n`` broadcasts against ``shape``)."""
    if distribution == "bernoulli":
        sums = rng.binomial(np.broadcast_to(n, shape), mean).astype(np.float64)
        return sums, sums
    n_f = np.broadcast_to(n, shape).astype(np.float64)
    batch_mean = mean + sd * rng.standard_normal(shape) / np.sqrt(n_f)
    within = sd * sd * rng.chisquare(np.maximum(n_f - 1.0, 1.0)) * (n_f > 1.0)
    return n_f * batch_mean, within + n_f * batch_mean * batch_mean


# ------------------------------------------------------------------------------------------------------
# fixed-horizon calibration


def calibrate(
    test: Literal["welch", "ztest"] = "welch",
    n_per_arm: int = 1000,
    mean: float = 0.0,
    sd: float = 1.0,
    effect: float = 0.0,
    simulations: int = 20_000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    distribution: Distribution = "normal",
) -> CalibrationResult:
    """Simulate fixed-horizon experiments and measure the rejection rate and interval coverage of a test.

    Each simulated experiment draws the sufficient statistics of both arms (control mean ``mean``,
    treatment mean ``mean + effect``, common ``sd``; see the module docstring), runs the real
    :func:`~abnb.stats.welch` or :func:`~abnb.stats.ztest` on the resulting
    :class:`~abnb.stats.Moments`, and records ``pvalue < alpha`` and ``ci_low ≤ effect ≤ ci_high``. With
    ``effect = 0`` (an A/A test) the rejection rate is the false-positive rate and should be close to
    ``alpha``; coverage should be close to ``1 − alpha``. Rates carry 95% Clopper–Pearson intervals.

    Args:
        test: ``"welch"`` or ``"ztest"`` (unpooled).
        n_per_arm: Units per arm (at least 2).
        mean: Control mean (a success probability in (0, 1) for ``"bernoulli"``).
        sd: Standard deviation of a unit's value (normal data; ignored for ``"bernoulli"``).
        effect: True difference in means, treatment − control.
        simulations: Number of simulated experiments.
        alpha: Significance level.
        seed: Seed of ``numpy.random.default_rng``.
        distribution: ``"normal"`` or ``"bernoulli"``.

    Returns:
        The rejection rate, coverage and their intervals.

    Raises:
        ParameterError: If a parameter is out of range or ``test``/``distribution`` is unknown.

    References:
        Clopper & Pearson (1934), Biometrika 26; Kohavi, Tang & Xu (2020), "Trustworthy Online Controlled
        Experiments", ch. 19 (A/A tests).
    """
    if test not in ("welch", "ztest"):
        raise ParameterError(f"test must be 'welch' or 'ztest', got {test!r}.")
    run = welch if test == "welch" else ztest
    n = _check_count(n_per_arm, "n_per_arm", 2)
    simulations = _check_count(simulations, "simulations", 1)
    alpha = check_alpha(alpha)
    mean, sd, effect = finite_number(mean, "mean"), finite_number(sd, "sd"), finite_number(effect, "effect")
    dist = _check_distribution(distribution, mean, sd, effect)
    rng = np.random.default_rng(seed)
    n_arr = np.asarray(n, dtype=np.int64)
    c_sum, c_sq = _draw(rng, dist, n_arr, mean, sd, (simulations,))
    t_sum, t_sq = _draw(rng, dist, n_arr, mean + effect, sd, (simulations,))
    proportion = dist == "bernoulli"
    rejections = covered = degenerate = 0
    for i in range(simulations):
        control = Moments(n, float(c_sum[i]), float(c_sq[i]), proportion=proportion)
        treatment = Moments(n, float(t_sum[i]), float(t_sq[i]), proportion=proportion)
        try:
            result = run(control, treatment, alpha=alpha)
        except DataError:
            degenerate += 1
            continue
        rejections += result.pvalue < alpha
        covered += result.ci_low <= effect <= result.ci_high
    return CalibrationResult(
        test=test,
        distribution=dist,
        n_per_arm=n,
        effect=effect,
        alpha=alpha,
        simulations=simulations,
        rejections=rejections,
        rejection=_clopper_pearson(rejections, simulations),
        coverage=_clopper_pearson(covered, simulations),
        degenerate=degenerate,
    )


def aa_test(
    test: Literal["welch", "ztest"] = "welch",
    n_per_arm: int = 1000,
    mean: float = 0.0,
    sd: float = 1.0,
    simulations: int = 20_000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    distribution: Distribution = "normal",
) -> CalibrationResult:
    """Simulated A/A tests: :func:`calibrate` with ``effect = 0``; ``result.fpr`` should be near ``alpha``.

    Args:
        test: ``"welch"`` or ``"ztest"``.
        n_per_arm: Units per arm.
        mean: Mean of both arms (a probability for ``"bernoulli"``).
        sd: Standard deviation of a unit's value (normal data).
        simulations: Number of simulated A/A tests.
        alpha: Significance level.
        seed: Random seed.
        distribution: ``"normal"`` or ``"bernoulli"``.

    Returns:
        The false-positive rate and coverage with their Clopper–Pearson intervals.
    """
    return calibrate(test, n_per_arm, mean, sd, 0.0, simulations, alpha, seed, distribution=distribution)


# ------------------------------------------------------------------------------------------------------
# peeking


def _welch_pvalues(
    n: NDArray[np.float64],
    c_sum: NDArray[np.float64],
    c_sq: NDArray[np.float64],
    t_sum: NDArray[np.float64],
    t_sq: NDArray[np.float64],
    proportion: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Vectorised Welch test (same formulas as :func:`abnb.stats.welch`): ``(difference, se, p-value)``."""
    from scipy import special

    m_c, m_t = c_sum / n, t_sum / n
    if proportion:
        v_c, v_t = m_c * (1.0 - m_c), m_t * (1.0 - m_t)
    else:
        v_c = np.maximum((c_sq - c_sum * m_c) / (n - 1.0), 0.0)
        v_t = np.maximum((t_sq - t_sum * m_t) / (n - 1.0), 0.0)
    a_c, a_t = v_c / n, v_t / n
    var = a_c + a_t
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(var)
        df = var * var / ((a_c * a_c + a_t * a_t) / (n - 1.0))
        stat = (m_t - m_c) / se
        pvalue = np.where(var > 0.0, 2.0 * special.stdtr(df, -np.abs(stat)), 1.0)
    return m_t - m_c, se, pvalue


def peeking(
    n_per_arm: int = 1000,
    looks: int = 10,
    simulations: int = 20_000,
    method: PeekingMethod = "naive",
    *,
    mean: float = 0.0,
    sd: float = 1.0,
    effect: float = 0.0,
    alpha: float = 0.05,
    tuning: float | None = None,
    seed: int = 0,
    distribution: Distribution = "normal",
) -> PeekingResult:
    """Simulate experiments analysed at ``looks`` equally spaced looks, stopping at the first rejection.

    Each arm receives ``n_per_arm/looks`` units per look (the last batches absorb the rounding); the
    per-batch sufficient statistics are drawn as in the module docstring and accumulated with ``cumsum``.
    At look ``k`` the cumulative moments are tested with

    * ``"naive"``: the fixed-horizon Welch test, rejecting when ``p < alpha``; peeking inflates the
      false-positive rate well above ``alpha`` (Armitage et al. 1969; ≈ 0.19 for 10 looks at α = 0.05);
    * ``"confidence_sequence"``: :func:`~abnb.stats.sequential.confidence_sequence`, rejecting when the
      interval excludes 0; the false-positive rate stays at most ``alpha``.

    Args:
        n_per_arm: Units per arm at the last look.
        looks: Number of looks (at least 1, at most ``n_per_arm // 2`` so every look has 2 units per arm).
        simulations: Number of simulated experiments.
        method: ``"naive"`` or ``"confidence_sequence"``.
        mean: Control mean (a probability for ``"bernoulli"``).
        sd: Standard deviation of a unit's value (normal data).
        effect: True difference in means (0 for the false-positive rate).
        alpha: Significance level.
        tuning: ``N_tune`` of the confidence sequence; ``None`` uses the final total ``2·n_per_arm``.
        seed: Seed of ``numpy.random.default_rng``.
        distribution: ``"normal"`` or ``"bernoulli"``.

    Returns:
        The rejection rate with its Clopper–Pearson interval and the look of each first rejection.

    Raises:
        ParameterError: If a parameter is out of range or ``method``/``distribution`` is unknown.

    References:
        Armitage, McPherson & Rowe (1969), JRSS A 132; Johari, Pekelis & Walsh (2017), KDD;
        Waudby-Smith et al. (2023), arXiv:2103.06476.
    """
    if method not in ("naive", "confidence_sequence"):
        raise ParameterError(f"method must be 'naive' or 'confidence_sequence', got {method!r}.")
    n_total = _check_count(n_per_arm, "n_per_arm", 2)
    looks = _check_count(looks, "looks", 1)
    if 2 * looks > n_total:
        raise ParameterError(f"looks={looks} is too many for n_per_arm={n_total}: every look needs 2 units per arm.")
    simulations = _check_count(simulations, "simulations", 1)
    alpha = check_alpha(alpha)
    mean, sd, effect = finite_number(mean, "mean"), finite_number(sd, "sd"), finite_number(effect, "effect")
    dist = _check_distribution(distribution, mean, sd, effect)
    tune = float(2 * n_total) if tuning is None else finite_number(tuning, "tuning")
    if tune <= 0.0:
        raise ParameterError(f"tuning must be > 0, got {tuning!r}.")

    rng = np.random.default_rng(seed)
    cumulative_n = np.round(np.linspace(0, n_total, looks + 1)).astype(np.int64)
    batch = np.diff(cumulative_n)
    shape = (simulations, looks)
    c_sum, c_sq = (np.cumsum(a, axis=1) for a in _draw(rng, dist, batch, mean, sd, shape))
    t_sum, t_sq = (np.cumsum(a, axis=1) for a in _draw(rng, dist, batch, mean + effect, sd, shape))
    n = cumulative_n[1:].astype(np.float64)
    diff, se, pvalue = _welch_pvalues(n, c_sum, c_sq, t_sum, t_sq, dist == "bernoulli")
    if method == "naive":
        reject = pvalue < alpha
    else:
        with np.errstate(invalid="ignore"):
            half = cs_halfwidth(se, 2.0 * n, alpha, tune)
            reject = (se > 0.0) & (np.abs(diff) > half)
    any_reject = reject.any(axis=1)
    first = np.argmax(reject, axis=1)[any_reject]
    rejections = int(any_reject.sum())
    return PeekingResult(
        method=method,
        looks=looks,
        n_per_arm=n_total,
        effect=effect,
        alpha=alpha,
        simulations=simulations,
        rejections=rejections,
        rejection=_clopper_pearson(rejections, simulations),
        first_rejection_look=tuple(int(v) for v in np.bincount(first, minlength=looks)),
    )
