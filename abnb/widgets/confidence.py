"""What "95% confidence" promises: many samples, many intervals, and how many of them catch the true mean.

Each of ``samples`` samples of ``n`` values gets the Student t-interval for its mean,

    ȳ ± t_{n−1, (1+c)/2} · s / √n,

(``s`` the sample standard deviation, ``c`` the confidence level), the interval :func:`abnb.experiment.mean_interval`
reports for a mean metric. If the values are normal, a share ``c`` of such intervals covers the true mean, whatever
``n``; for skewed values the sample mean is itself skewed at small ``n`` and the intervals cover less often than
promised. The observed coverage is a binomial proportion, so it comes with an exact Clopper–Pearson interval: the
promise is kept if that interval contains ``c``.

References:
    J. Neyman (1937), "Outline of a theory of statistical estimation based on the classical theory of
    probability", Phil. Trans. R. Soc. A 236 (the repeated-sampling meaning of a confidence interval);
    C. J. Clopper, E. S. Pearson (1934), Biometrika 26, 404–413;
    W. G. Cochran (1977), "Sampling Techniques", 3rd ed., §2.15 (the t-interval under skewness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abnb.errors import ParameterError
from abnb.widgets._app import (
    App,
    View,
    check_controls,
    dropdown,
    float_slider,
    int_slider,
    int_text,
    number_in,
    whole_in,
)
from abnb.widgets._charts import reference_lines

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray

__all__ = ["CoverageState", "confidence_app", "coverage_simulation", "draw_samples", "render_coverage", "t_intervals"]

Distribution = Literal["normal", "lognormal", "bernoulli"]
DISTRIBUTIONS: tuple[str, ...] = ("normal", "lognormal", "bernoulli")
COVERAGE_CI_LEVEL = 0.95
MAX_SAMPLES = 500
MAX_SAMPLE_SIZE = 500


@dataclass(frozen=True)
class CoverageState:
    """Intervals of many simulated samples and how many of them cover the true mean.

    Attributes:
        distribution: ``"normal"``, ``"lognormal"`` or ``"bernoulli"``.
        samples: Number of simulated samples (one interval each).
        sample_size: Values per sample ``n``.
        confidence_level: Promised coverage ``c`` of each interval.
        true_mean: Mean of the population the samples come from (``bernoulli_p`` for 0/1 data).
        population_sd: Standard deviation of that population.
        t_quantile: ``t_{n−1, (1+c)/2}``.
        covered: Number of intervals containing ``true_mean``.
        coverage: ``covered / samples``.
        coverage_ci_low: Lower end of the 95% Clopper–Pearson interval of the coverage.
        coverage_ci_high: Upper end of that interval.
        mean_width: Average interval width.
        degenerate: Samples with zero spread (all values equal, possible for 0/1 data); their interval has width 0.
        intervals: One row per sample: ``sample`` (1-based), ``mean``, ``low``, ``high``, ``covers`` (bool) and
            ``outcome`` (``"covers μ"`` / ``"misses μ"``).
    """

    distribution: str
    samples: int
    sample_size: int
    confidence_level: float
    true_mean: float
    population_sd: float
    t_quantile: float
    covered: int
    coverage: float
    coverage_ci_low: float
    coverage_ci_high: float
    mean_width: float
    degenerate: int
    intervals: pd.DataFrame


def t_intervals(
    values: ArrayLike, confidence_level: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Student t-interval of the mean of every row of ``values`` at once.

    ``ȳ ± t_{n−1, (1+c)/2}·s/√n`` per row (``s`` with ddof=1); row by row it equals
    :func:`abnb.experiment.mean_interval` of ``Moments.from_values(row)`` and ``scipy.stats.t.interval``.

    Args:
        values: A 2-D array, one sample of ``n ≥ 2`` values per row.
        confidence_level: ``c`` in (0, 1).

    Returns:
        ``(mean, low, high)``, each with one entry per row.

    Raises:
        ParameterError: ``values`` is not 2-D with at least two columns, or ``c`` is outside (0, 1).
    """
    from scipy import stats

    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] < 2:
        raise ParameterError(f"values must be 2-D with at least 2 values per row, got shape {y.shape}.")
    level = number_in("confidence_level", confidence_level, 0.0, 1.0, open_low=True, open_high=True)
    n = y.shape[1]
    mean = y.mean(axis=1)
    se = y.std(axis=1, ddof=1) / math.sqrt(n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return mean, mean - q * se, mean + q * se


def draw_samples(
    distribution: str,
    samples: int,
    sample_size: int,
    *,
    true_mean: float = 0.0,
    sd: float = 1.0,
    lognormal_sigma: float = 1.5,
    bernoulli_p: float = 0.5,
    seed: int = 0,
) -> tuple[NDArray[np.float64], float, float]:
    """Draw ``samples × sample_size`` values, one sample per row.

    * ``"normal"``: ``Normal(true_mean, sd²)``.
    * ``"lognormal"``: a lognormal of shape ``σ = lognormal_sigma`` moved and scaled to mean ``true_mean`` and
      standard deviation ``sd``: ``true_mean + sd·(e^{σZ} − e^{σ²/2}) / √((e^{σ²} − 1)·e^{σ²})``. The shape alone
      sets the skewness ``(e^{σ²} + 2)·√(e^{σ²} − 1)``, and the t-interval's coverage depends on the shape and ``n``
      only (it is unchanged by moving and scaling the data).
    * ``"bernoulli"``: 0/1 values with success probability ``bernoulli_p``; ``true_mean`` and ``sd`` are ignored.

    Rows are drawn in order from ``numpy.random.default_rng(seed)``, so with the same seed and ``sample_size`` the
    first rows stay the same when ``samples`` grows.

    Args:
        distribution: ``"normal"``, ``"lognormal"`` or ``"bernoulli"``.
        samples: Number of rows.
        sample_size: Values per row.
        true_mean: Population mean (normal, lognormal).
        sd: Population standard deviation (normal, lognormal), > 0.
        lognormal_sigma: Shape of the lognormal, in (0, 3].
        bernoulli_p: Success probability, in (0, 1).
        seed: Seed of the generator, ≥ 0.

    Returns:
        ``(values, population_mean, population_sd)``.

    Raises:
        ParameterError: An unknown distribution or a parameter outside its range.
    """
    if distribution not in DISTRIBUTIONS:
        raise ParameterError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}.")
    rows = whole_in("samples", samples, 1, 10**6)
    n = whole_in("sample_size", sample_size, 2, 10**6)
    rng = np.random.default_rng(whole_in("seed", seed, 0, 2**63 - 1))
    if distribution == "bernoulli":
        p = number_in("bernoulli_p", bernoulli_p, 0.0, 1.0, open_low=True, open_high=True)
        return (rng.random((rows, n)) < p).astype(np.float64), p, math.sqrt(p * (1 - p))
    mu = number_in("true_mean", true_mean, -math.inf, math.inf)
    scale = number_in("sd", sd, 0.0, math.inf, open_low=True)
    z = rng.standard_normal((rows, n))
    if distribution == "normal":
        return mu + scale * z, mu, scale
    sigma = number_in("lognormal_sigma", lognormal_sigma, 0.0, 3.0, open_low=True)
    var = sigma * sigma
    standardized = (np.exp(sigma * z) - math.exp(var / 2)) / math.sqrt(math.expm1(var) * math.exp(var))
    return mu + scale * standardized, mu, scale


def coverage_simulation(
    samples: int = 100,
    sample_size: int = 30,
    confidence_level: float = 0.95,
    distribution: str = "normal",
    true_mean: float = 190.0,
    sd: float = 120.0,
    lognormal_sigma: float = 1.5,
    bernoulli_p: float = 0.1,
    seed: int = 1,
) -> CoverageState:
    """Draw ``samples`` samples, give each its t-interval and count how many cover the true mean.

    Coverage ``k/m`` of ``m`` intervals carries the exact 95% Clopper–Pearson interval
    ``[B(0.025; k, m−k+1), B(0.975; k+1, m−k)]`` (Beta quantiles), from ``scipy.stats.binomtest``.

    Args:
        samples: Number of samples (intervals), in [10, 500].
        sample_size: Values per sample ``n``, in [2, 500].
        confidence_level: Promised coverage ``c``, in [0.5, 0.99].
        distribution: ``"normal"``, ``"lognormal"`` (skewed) or ``"bernoulli"`` (0/1); see :func:`draw_samples`.
        true_mean: Population mean (normal, lognormal).
        sd: Population standard deviation (normal, lognormal), > 0.
        lognormal_sigma: Lognormal shape (skewness), in (0, 3].
        bernoulli_p: Success probability of 0/1 data, in (0, 1).
        seed: Seed of the random draws, ≥ 0.

    Returns:
        The intervals (one row per sample) and the coverage with its Clopper–Pearson interval.

    Raises:
        ParameterError: A parameter lies outside its range.
    """
    import pandas as pd
    from scipy import stats

    rows = whole_in("samples", samples, 10, MAX_SAMPLES)
    n = whole_in("sample_size", sample_size, 2, MAX_SAMPLE_SIZE)
    level = number_in("confidence_level", confidence_level, 0.5, 0.99)
    values, mu, population_sd = draw_samples(
        distribution,
        rows,
        n,
        true_mean=true_mean,
        sd=sd,
        lognormal_sigma=lognormal_sigma,
        bernoulli_p=bernoulli_p,
        seed=seed,
    )
    mean, low, high = t_intervals(values, level)
    covers = (low <= mu) & (mu <= high)
    covered = int(covers.sum())
    ci = stats.binomtest(covered, rows).proportion_ci(confidence_level=COVERAGE_CI_LEVEL, method="exact")
    intervals = pd.DataFrame(
        {
            "sample": np.arange(1, rows + 1),
            "mean": mean,
            "low": low,
            "high": high,
            "covers": covers,
            "outcome": np.where(covers, "covers μ", "misses μ"),
        }
    )
    return CoverageState(
        distribution=distribution,
        samples=rows,
        sample_size=n,
        confidence_level=level,
        true_mean=mu,
        population_sd=population_sd,
        t_quantile=float(stats.t.ppf(0.5 + level / 2, n - 1)),
        covered=covered,
        coverage=covered / rows,
        coverage_ci_low=float(ci.low),
        coverage_ci_high=float(ci.high),
        mean_width=float((high - low).mean()),
        degenerate=int((high == low).sum()),
        intervals=intervals,
    )


def verdict(state: CoverageState) -> str:
    """The coverage of one state as HTML, judged against the promised level."""
    c = state.confidence_level
    lines = [
        f"{state.covered} of {state.samples} intervals ({state.coverage:.1%}) contain the true mean "
        f"{state.true_mean:.4g}; each promised {c:.0%}.",
        f"95% Clopper–Pearson interval of the coverage: [{state.coverage_ci_low:.1%}, {state.coverage_ci_high:.1%}].",
    ]
    if state.coverage_ci_high < c:
        lines.append(
            "<b>Under-coverage</b>: the intervals miss more often than promised. The t-interval assumes a nearly "
            "normal sample mean; with skewed or rare-event data that needs larger samples."
        )
    elif state.coverage_ci_low > c:
        lines.append("<b>Over-coverage</b>: the intervals are wider than they need to be.")
    else:
        lines.append(f"Consistent with the promised {c:.0%}: the misses are the expected share.")
    lines.append(
        f"Average width {state.mean_width:.4g} (t quantile {state.t_quantile:.3f} with {state.sample_size - 1} "
        f"degrees of freedom × s/√{state.sample_size})."
    )
    if state.degenerate:
        lines.append(
            f"{state.degenerate} sample(s) had no spread at all (every value equal), so their interval has width 0."
        )
    return "<br>".join(lines)


def render_coverage(state: CoverageState) -> View:
    """One horizontal line per interval, coloured by whether it covers the true mean (dashed rule), and the verdict.

    The value axis spans the 2% quantile of the lower ends to the 98% quantile of the upper ends (and the true mean),
    so that a few very wide intervals of skewed data do not squeeze the others; lines beyond it are clipped. Misses
    are drawn on top.
    """
    import altair as alt

    frame = state.intervals
    lo = min(float(np.quantile(frame["low"], 0.02)), state.true_mean)
    hi = max(float(np.quantile(frame["high"], 0.98)), state.true_mean)
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    thickness = float(np.clip(300 / state.samples, 0.6, 3.0))
    color = alt.Color(
        "outcome:N",
        title=None,
        scale=alt.Scale(domain=["covers μ", "misses μ"], range=["#4c78a8", "#e45756"]),
    )
    lines = (
        alt.Chart(frame.sort_values("covers", ascending=False, kind="stable"))
        .mark_rule(strokeWidth=thickness, clip=True)
        .encode(
            x=alt.X("low:Q", title="value", scale=alt.Scale(domain=[lo - pad, hi + pad], nice=False, zero=False)),
            x2="high:Q",
            y=alt.Y("sample:Q", title="sample", scale=alt.Scale(domain=[0, state.samples + 1], nice=False)),
            color=color,
            tooltip=[
                "sample:Q",
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("low:Q", format=".4g"),
                alt.Tooltip("high:Q", format=".4g"),
            ],
        )
    )
    truth = reference_lines("true_mean", [state.true_mean], strokeDash=[4, 3], color="black")
    chart = (lines + truth).properties(
        width=560,
        height=360,
        title=(
            f"{state.samples} samples of n={state.sample_size} ({state.distribution}): "
            f"{state.confidence_level:.0%} t-intervals, {state.coverage:.1%} cover μ"
        ),
    )
    return View(chart=chart, verdict=verdict(state))


def _preset(distribution: str, sample_size: int, confidence_level: float = 0.95, **more: Any) -> dict[str, Any]:
    """A complete preset: every control that shapes the lesson (the mean, sd and seed stay as the user set them)."""
    return {
        "samples": 500,
        "sample_size": sample_size,
        "confidence_level": confidence_level,
        "distribution": distribution,
        "lognormal_sigma": 1.5,
        "bernoulli_p": 0.1,
        **more,
    }


PRESETS: dict[str, dict[str, Any]] = {
    "normal, n=30, 100 samples": _preset("normal", 30, samples=100),
    "normal, n=30, 500 samples": _preset("normal", 30),
    "normal, n=3: t still works": _preset("normal", 3),
    "90% intervals": _preset("normal", 30, 0.9),
    "skewed, n=5": _preset("lognormal", 5),
    "skewed, n=500": _preset("lognormal", 500),
    "rare 0/1 event, n=20": _preset("bernoulli", 20, bernoulli_p=0.05),
}


def confidence_app(
    *, initial_preset: str = "normal, n=30, 500 samples", presenter: bool = False, **initial: Any
) -> App:
    """The confidence-interval app: many samples, their t-intervals and the live coverage count.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the normal data notebook 03
            shows first (500 samples of 30).
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Initial control values (the arguments of :func:`coverage_simulation`), on top of the preset.

    Returns:
        The app; ``app.state`` is a :class:`CoverageState`.
    """
    title = "Confidence intervals: how often does an interval catch the true mean?"
    defaults: dict[str, Any] = {
        "samples": 100,
        "sample_size": 30,
        "confidence_level": 0.95,
        "distribution": "normal",
        "true_mean": 190.0,
        "sd": 120.0,
        "lognormal_sigma": 1.5,
        "bernoulli_p": 0.1,
        "seed": 1,
    }
    check_controls(title, initial, defaults)
    # validate before the sliders get the values (they would clip)
    coverage_simulation(**{**defaults, **PRESETS.get(initial_preset, {}), **initial})
    slow = {"continuous_update": False}
    kinds = [("normal", "normal"), ("skewed (lognormal)", "lognormal"), ("0/1 (Bernoulli)", "bernoulli")]
    controls = {
        "samples": int_slider("samples", defaults["samples"], 10, MAX_SAMPLES, **slow),
        "sample_size": int_slider("n", defaults["sample_size"], 2, MAX_SAMPLE_SIZE, **slow),
        "confidence_level": float_slider("confidence", defaults["confidence_level"], 0.5, 0.99, 0.01, **slow),
        "distribution": dropdown("data", kinds, defaults["distribution"]),
        "true_mean": float_slider("true mean", defaults["true_mean"], 0.0, 500.0, 1.0, **slow),
        "sd": float_slider("sd", defaults["sd"], 1.0, 500.0, 1.0, **slow),
        "lognormal_sigma": float_slider("skew σ", defaults["lognormal_sigma"], 0.1, 3.0, 0.1, **slow),
        "bernoulli_p": float_slider("0/1 p", defaults["bernoulli_p"], 0.01, 0.99, 0.01, **slow),
        "seed": int_text("seed", defaults["seed"]),
    }
    return App(
        title,
        controls,
        coverage_simulation,
        render_coverage,
        PRESETS,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )
