"""Teaching app for notebook 06: peeking at an A/B test every day inflates the false-positive rate.

Many A/A tests (no true difference) are simulated with :func:`abnb.stats.simulate.peeking`: each arm receives
``users_per_day`` users a day and the experimenter looks once a day, stopping at the first "significant" look.

* ``"naive"``: the fixed-horizon Welch test at every look, stop when ``p < α``. Each look is another chance
  for noise to cross the line, so the false-positive rate grows with the number of looks (about 19 % after 10
  looks and 28 % after 30 at α = 0.05) although each single test is exact.
* ``"confidence_sequence"``: an anytime-valid confidence sequence (:func:`abnb.stats.confidence_sequence`),
  stop when it excludes 0; its false-positive rate stays at most α however often one looks.

One simulation of ``days`` looks answers every shorter horizon too: an experiment that stops within the first
``k`` looks is exactly one whose first rejection came at look ``k`` or earlier, so the false-positive rate after
``k`` looks is the cumulative sum of ``PeekingResult.first_rejection_look`` divided by the number of
simulations. Each rate carries a 95 % Clopper–Pearson interval
``[B(0.025; x, n − x + 1), B(0.975; x + 1, n − x)]`` (``B`` the Beta quantile).

References:
    P. Armitage, C. K. McPherson, B. C. Rowe (1969), "Repeated significance tests on accumulating data",
    JRSS A 132; R. Johari, L. Pekelis, D. Walsh (2017), "Peeking at A/B tests", KDD;
    I. Waudby-Smith et al. (2023), "Time-uniform central limit theory and asymptotic confidence sequences",
    arXiv:2103.06476.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb.stats.simulate import peeking
from abnb.widgets._app import App, View, float_slider, int_slider, int_text, number_in, whole_in
from abnb.widgets._charts import palette, reference_lines

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd
    from numpy.typing import NDArray

__all__ = ["METHODS", "PeekingState", "clopper_pearson", "compute_peeking", "peeking_app", "render_peeking"]

#: Display names of the two stopping rules of :func:`abnb.stats.simulate.peeking`.
METHODS: dict[str, str] = {
    "naive": "naive: stop at the first p < α",
    "confidence_sequence": "anytime-valid confidence sequence",
}
_COLORS = dict(zip(METHODS.values(), ["#b2182b", "#2166ac"], strict=True))
MAX_DAYS = 30


def clopper_pearson(
    successes: NDArray[np.int64], trials: int, confidence_level: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact (Clopper–Pearson) intervals of binomial proportions, vectorised over ``successes``.

    ``low = B((1 − c)/2; x, n − x + 1)`` (0 when ``x = 0``), ``high = B((1 + c)/2; x + 1, n − x)`` (1 when
    ``x = n``), with ``B`` the Beta quantile function.

    Args:
        successes: Numbers of successes ``x``.
        trials: Number of trials ``n``.
        confidence_level: Coverage ``c``.

    Returns:
        Lower and upper ends.

    References:
        C. J. Clopper, E. S. Pearson (1934), Biometrika 26, 404–413.
    """
    from scipy import stats

    x = np.asarray(successes, dtype=np.float64)
    tail = (1.0 - confidence_level) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(x > 0, stats.beta.ppf(tail, np.maximum(x, 1e-300), trials - x + 1.0), 0.0)
        high = np.where(x < trials, stats.beta.ppf(1.0 - tail, x + 1.0, np.maximum(trials - x, 1e-300)), 1.0)
    return low.astype(np.float64), high.astype(np.float64)


@dataclass(frozen=True)
class PeekingState:
    """False-positive rates of daily peeking at A/A tests, for every number of looks up to ``days``.

    Attributes:
        days: Days of the experiment = number of looks (one a day).
        users_per_day: Users entering each arm per day.
        simulations: Simulated A/A tests.
        alpha: Significance level of each look.
        seed: Random seed (both methods see the same simulated data).
        tuning: ``N_tune`` of the confidence sequence: the final total ``2·users_per_day·days``.
        naive_fpr: False-positive rate of the naive rule after ``days`` looks.
        naive_ci_low: Lower end of its 95 % Clopper–Pearson interval.
        naive_ci_high: Upper end.
        naive_fpr_one_look: False-positive rate of the naive rule with a single look (the first day).
        cs_fpr: False-positive rate of the confidence sequence after ``days`` looks.
        cs_ci_low: Lower end of its 95 % Clopper–Pearson interval.
        cs_ci_high: Upper end.
        frame: One row per method × number of looks ``1..days`` (at most 60 rows): ``method``, ``looks``,
            ``first_rejections`` (A/A tests first rejected at that look), ``rejections`` (cumulative),
            ``fpr``, ``ci_low``, ``ci_high``.
    """

    days: int
    users_per_day: int
    simulations: int
    alpha: float
    seed: int
    tuning: float
    naive_fpr: float
    naive_ci_low: float
    naive_ci_high: float
    naive_fpr_one_look: float
    cs_fpr: float
    cs_ci_low: float
    cs_ci_high: float
    frame: pd.DataFrame


def compute_peeking(
    days: int = 14, users_per_day: int = 100, simulations: int = 2000, alpha: float = 0.05, seed: int = 0
) -> PeekingState:
    """Simulate A/A tests looked at daily and measure how often each stopping rule declares a difference.

    Calls :func:`abnb.stats.simulate.peeking` once per method with ``n_per_arm = users_per_day·days``,
    ``looks = days`` and normal data (mean 0, sd 1); the rate after ``k`` looks is the cumulative count of first
    rejections up to look ``k`` over ``simulations`` (see the module docstring).

    Args:
        days: Days = looks, 1 to 30.
        users_per_day: Users per arm per day, >= 2.
        simulations: Number of simulated A/A tests, >= 1.
        alpha: Significance level in (0, 0.5].
        seed: Seed of the simulation, from 0 to 2⁶³ − 1.

    Returns:
        The rates and the frame for the chart.

    Raises:
        ParameterError: If a parameter is out of range.
    """
    import pandas as pd

    days = whole_in("days", days, 1, MAX_DAYS)
    users_per_day = whole_in("users_per_day", users_per_day, 2, 10**9)
    simulations = whole_in("simulations", simulations, 1, 10**7)
    alpha = number_in("alpha", alpha, 0.0, 0.5, open_low=True)
    seed = whole_in("seed", seed, 0, 2**63 - 1)
    n_per_arm = users_per_day * days
    tuning = float(2 * n_per_arm)
    parts = []
    results = {}
    for method in METHODS:
        result = peeking(
            n_per_arm,
            looks=days,
            simulations=simulations,
            method=method,  # type: ignore[arg-type]
            alpha=alpha,
            tuning=tuning,
            seed=seed,
        )
        results[method] = result
        first = np.asarray(result.first_rejection_look, dtype=np.int64)
        rejections = np.cumsum(first)
        low, high = clopper_pearson(rejections, simulations)
        parts.append(
            pd.DataFrame(
                {
                    "method": METHODS[method],
                    "looks": np.arange(1, days + 1),
                    "first_rejections": first,
                    "rejections": rejections,
                    "fpr": rejections / simulations,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        )
    naive, cs = results["naive"], results["confidence_sequence"]
    return PeekingState(
        days=days,
        users_per_day=users_per_day,
        simulations=simulations,
        alpha=alpha,
        seed=seed,
        tuning=tuning,
        naive_fpr=naive.rejection.estimate,
        naive_ci_low=naive.rejection.ci_low,
        naive_ci_high=naive.rejection.ci_high,
        naive_fpr_one_look=naive.first_rejection_look[0] / simulations,
        cs_fpr=cs.rejection.estimate,
        cs_ci_low=cs.rejection.ci_low,
        cs_ci_high=cs.rejection.ci_high,
        frame=pd.concat(parts, ignore_index=True),
    )


def peeking_chart(state: PeekingState) -> alt.LayerChart:
    """False-positive rate against the number of daily looks for both rules, with 95 % bands and α marked."""
    import altair as alt

    color = palette("method:N", _COLORS, title=None, orient="top")
    x = alt.X("looks:Q", title="daily looks (stop at the first significant one)", scale=alt.Scale(domain=[1, 30]))
    base = alt.Chart(state.frame)
    band = base.mark_area(opacity=0.2).encode(x=x, y=alt.Y("ci_low:Q", stack=None), y2="ci_high:Q", color=color)
    line = base.mark_line(point=True).encode(
        x=x,
        y=alt.Y("fpr:Q", title="false-positive rate of A/A tests", axis=alt.Axis(format="%")),
        color=color,
        tooltip=[
            "method:N",
            "looks:Q",
            alt.Tooltip("fpr:Q", format=".1%"),
            alt.Tooltip("ci_low:Q", format=".1%"),
            alt.Tooltip("ci_high:Q", format=".1%"),
        ],
    )
    rule = reference_lines("alpha", [state.alpha], "y", strokeDash=[4, 3])
    title = f"{state.simulations:,} A/A tests, {state.users_per_day:,} users/arm/day, α = {state.alpha:g} (dashed)"
    chart: alt.LayerChart = (band + line + rule).properties(width=560, height=280, title=title)
    return chart


def render_peeking(state: PeekingState) -> View:
    """The chart and the verdict: how far daily peeking pushes the false-positive rate above α."""
    ratio = state.naive_fpr / state.alpha
    naive = state.frame[state.frame["method"] == METHODS["naive"]]
    busiest = int(naive["looks"].iloc[int(np.argmax(naive["first_rejections"].to_numpy()))])
    if state.days == 1:
        reading = (
            "With a single look there is no peeking: the test keeps its promise and about α of the A/A tests "
            "come out 'significant'."
        )
    else:
        reading = (
            f"Every extra look is another chance for noise to cross the line: peeking daily for {state.days} days "
            f"turns the promised {state.alpha:.0%} into {state.naive_fpr:.1%} ({ratio:.1f}×). Each look alone "
            "fires about α of the time; every later look adds new false alarms among the tests that have not "
            f"stopped yet (the most first rejections came on day {busiest}), fewer each day, but they add up. The "
            "confidence sequence is wider, and it stays below α at every look."
        )
    verdict = (
        f"<p>Naive rule after {state.days} looks: <b>{state.naive_fpr:.1%}</b> "
        f"(95% CI {state.naive_ci_low:.1%}–{state.naive_ci_high:.1%}); with one look "
        f"{state.naive_fpr_one_look:.1%}. Confidence sequence: <b>{state.cs_fpr:.1%}</b> "
        f"(95% CI {state.cs_ci_low:.1%}–{state.cs_ci_high:.1%}).</p>"
        f"<p>{html.escape(reading)}</p>"
    )
    return View(peeking_chart(state), verdict)


def peeking_app(*, initial_preset: str = "one look (no peeking)", presenter: bool = False, **initial: Any) -> App:
    """Peeking at A/A tests daily: days (looks), users per day, simulations, α and the seed.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the single look notebook 06
            starts from.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values of ``days``, ``users_per_day``, ``simulations``, ``alpha``, ``seed``, on top of
            the preset.

    Returns:
        The app.
    """
    title = "Peeking: the false-positive rate of A/A tests looked at every day"
    controls = {
        "days": int_slider("days/looks", 14, 1, MAX_DAYS, continuous_update=False),
        "users_per_day": int_slider("users/arm/day", 100, 10, 2000, 10, continuous_update=False),
        "simulations": int_slider("simulations", 2000, 200, 20_000, 200, continuous_update=False),
        "alpha": float_slider("α", 0.05, 0.01, 0.2, 0.01, continuous_update=False),
        "seed": int_text("seed", 0),
    }
    presets = {
        "one look (no peeking)": {"days": 1, "simulations": 2000},
        "two weeks of daily looks": {"days": 14, "simulations": 2000},
        "a month of daily looks": {"days": 30, "simulations": 2000},
        "a month, 20,000 simulations": {"days": 30, "simulations": 20_000},
    }
    return App(
        title,
        controls,
        compute_peeking,
        render_peeking,
        presets,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )
