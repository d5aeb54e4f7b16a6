"""Comparing two distributions: when does a difference in means stand out from the noise?

Two groups A and B are drawn from normal distributions (seeded). The app shows both histograms on one axis,
each group's mean with its 95% confidence interval, and Welch's t-test of ``mean(B) − mean(A)``. The lesson:
whether a difference is *recognisable* depends on three things at once — the effect size, the spread of each group
and the number of units — and the same 11-second difference in time on site is noise with 10 users per group but
clear with 2,158.

Everything after the draw uses the sufficient statistics ``Moments.from_values`` and :func:`abnb.stats.welch`;
the charts are built from a histogram frame (at most :data:`MAX_BINS` bins per group) and a two-row frame of means.

The groups are independent: each has its own random stream and its own histogram bins, and in the app moving
"mean A" keeps group B where it is (the effect, ``mean(B) − mean(A)``, follows; see :func:`keep_group_b`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from abnb.errors import ParameterError
from abnb.stats import Moments, welch
from abnb.widgets._app import App, View, effect_numbers, float_slider, int_slider, number_in, pvalue_text, whole_in
from abnb.widgets._charts import palette

if TYPE_CHECKING:
    import altair as alt
    from numpy.typing import NDArray

__all__ = [
    "ALPHA",
    "MAX_BINS",
    "PRESETS",
    "TIME_ON_SITE_SD",
    "DistributionsState",
    "compute",
    "distributions_app",
    "draw",
    "keep_group_b",
    "render",
]

ALPHA = 0.05
"""Significance level of the verdict."""
MAX_BINS = 200
"""Upper bound on the histogram bins per group (the chart frame has at most ``2 · MAX_BINS`` rows)."""
MAX_N = 5000
"""Largest group size the sliders offer."""
MAX_MEAN = 600.0
"""Largest mean of A the slider offers (seconds); the effect slider spans ``±MAX_MEAN``, so that B can keep its
mean while A's slider moves."""
TIME_ON_SITE_SD = 90.0
"""Assumed standard deviation of time on site per user in the lecture example: 90 s (1.5 minutes)."""
SIGNIFICANT = "significant at α=0.05: B differs from A"
NOT_SIGNIFICANT = "not significant: the data cannot tell A and B apart"
_COLORS = {"A": "#4c78a8", "B": "#f58518"}

# Time on site in seconds: 3:13 min = 193 s for A, 3:24 min = 204 s for B (the lecture's example).
PRESETS: dict[str, dict[str, Any]] = {
    "different effect size, same deviations": {
        "mean_a": 180.0,
        "effect": 30.0,
        "sd_a": 45.0,
        "sd_b": 45.0,
        "n_a": 50,
        "n_b": 50,
        "seed": 1,
    },
    "same effect size, different deviations": {
        "mean_a": 180.0,
        "effect": 30.0,
        "sd_a": 120.0,
        "sd_b": 120.0,
        "n_a": 50,
        "n_b": 50,
        "seed": 1,
    },
    "time on site, 10 users": {
        "mean_a": 193.0,
        "effect": 11.0,
        "sd_a": TIME_ON_SITE_SD,
        "sd_b": TIME_ON_SITE_SD,
        "n_a": 10,
        "n_b": 10,
        "seed": 1,
    },
    "time on site, 2,158 users": {
        "mean_a": 193.0,
        "effect": 11.0,
        "sd_a": TIME_ON_SITE_SD,
        "sd_b": TIME_ON_SITE_SD,
        "n_a": 2158,
        "n_b": 2158,
        "seed": 1,
    },
}
"""Named slider settings; values are seconds on site (``mean_a``, ``effect``, ``sd_a``, ``sd_b``)."""


@dataclass(frozen=True)
class DistributionsState:
    """Everything the app shows for one setting of the sliders.

    Attributes:
        mean_a: True mean of group A.
        mean_b: True mean of group B (``mean_a + effect``).
        sd_a: True standard deviation of group A.
        sd_b: True standard deviation of group B.
        n_a: Units in group A.
        n_b: Units in group B.
        seed: Seed of the draw.
        sample_mean_a: Observed mean of A.
        sample_mean_b: Observed mean of B.
        sample_sd_a: Observed standard deviation of A (ddof=1; NaN when ``n_a`` < 2).
        sample_sd_b: Observed standard deviation of B (ddof=1; NaN when ``n_b`` < 2).
        ci_low_a: Lower end of the 95% t-interval of A's mean (NaN when ``n_a`` < 2).
        ci_high_a: Upper end of the 95% t-interval of A's mean.
        ci_low_b: Lower end of the 95% t-interval of B's mean (NaN when ``n_b`` < 2).
        ci_high_b: Upper end of the 95% t-interval of B's mean.
        difference: Observed ``mean(B) − mean(A)``.
        diff_ci_low: Lower end of Welch's 95% interval of the difference (NaN without a test).
        diff_ci_high: Upper end of Welch's 95% interval of the difference.
        statistic: Welch's t (NaN without a test).
        df: Welch–Satterthwaite degrees of freedom (NaN without a test).
        pvalue: Two-sided p-value of Welch's t-test (NaN when a group has fewer than 2 units).
        significant: Whether ``pvalue < ALPHA``.
        verdict: The one-line verdict.
        histogram: One row per group × bin: ``group``, ``bin_start``, ``bin_end``, ``count``, ``density``
            (``count / (n · width)``, so groups of different sizes compare).
        means: One row per group: ``group``, ``mean``, ``ci_low``, ``ci_high``, ``n``, ``true_mean``.
    """

    mean_a: float
    mean_b: float
    sd_a: float
    sd_b: float
    n_a: int
    n_b: int
    seed: int
    sample_mean_a: float
    sample_mean_b: float
    sample_sd_a: float
    sample_sd_b: float
    ci_low_a: float
    ci_high_a: float
    ci_low_b: float
    ci_high_b: float
    difference: float
    diff_ci_low: float
    diff_ci_high: float
    statistic: float
    df: float
    pvalue: float
    significant: bool
    verdict: str
    histogram: pd.DataFrame
    means: pd.DataFrame


def draw(
    *,
    mean_a: float,
    effect: float,
    sd_a: float,
    sd_b: float,
    n_a: int,
    n_b: int,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw the two samples ``A ~ N(mean_a, sd_a²)`` and ``B ~ N(mean_a + effect, sd_b²)``.

    Each group has its own random stream (``SeedSequence(seed).spawn(2)``) of standard normals ``z``, scaled as
    ``mean + sd · z``: moving the effect or a deviation slider moves the same points, and changing one group's
    size leaves the other group's draw as it was.

    Args:
        mean_a: True mean of A.
        effect: True difference ``mean(B) − mean(A)``.
        sd_a: True standard deviation of A (> 0).
        sd_b: True standard deviation of B (> 0).
        n_a: Units in A (1 to 5000).
        n_b: Units in B (1 to 5000).
        seed: Non-negative seed.

    Returns:
        The values of A and of B.

    Raises:
        ParameterError: If a deviation is not positive, a size is outside 1..5000, or the seed is negative.
    """
    mean_a = number_in("mean_a", mean_a, -1e9, 1e9)
    effect = number_in("effect", effect, -1e9, 1e9)
    sd_a = number_in("sd_a", sd_a, 0.0, 1e9, open_low=True)
    sd_b = number_in("sd_b", sd_b, 0.0, 1e9, open_low=True)
    n_a = whole_in("n_a", n_a, 1, MAX_N)
    n_b = whole_in("n_b", n_b, 1, MAX_N)
    seed = whole_in("seed", seed, 0, 2**32 - 1)
    stream_a, stream_b = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    a = mean_a + sd_a * stream_a.standard_normal(n_a)
    b = mean_a + effect + sd_b * stream_b.standard_normal(n_b)
    return a, b


def _mean_interval(moments: Moments, alpha: float) -> tuple[float, float, float]:
    """Sample sd and the t-interval ``ȳ ± t_{1−α/2, n−1} · s/√n`` of one group's mean (NaN when n < 2)."""
    if moments.n < 2:
        return math.nan, math.nan, math.nan
    from scipy import stats

    sd = moments.std
    half = float(stats.t.ppf(1.0 - alpha / 2.0, moments.n - 1)) * sd / math.sqrt(moments.n)
    return sd, moments.mean - half, moments.mean + half


def _histogram(a: NDArray[np.float64], b: NDArray[np.float64]) -> pd.DataFrame:
    """Histogram of each group on its own bins: ``clip(⌈√n⌉, 8, MAX_BINS)`` equal bins over the group's range.

    Each group's bins depend on its own values only, so moving one group leaves the other's bars as they were; the
    density scale keeps groups with different bin widths comparable.
    """
    frames = []
    for group, values in (("A", a), ("B", b)):
        bins = int(min(MAX_BINS, max(8, math.ceil(math.sqrt(values.size)))))
        low, high = float(values.min()), float(values.max())
        if high <= low:
            high = low + 1.0
        edges = np.linspace(low, high, bins + 1)
        width = edges[1] - edges[0]
        counts, _ = np.histogram(values, bins=edges)
        frames.append(
            pd.DataFrame(
                {
                    "group": group,
                    "bin_start": edges[:-1],
                    "bin_end": edges[1:],
                    "count": counts.astype(np.int64),
                    "density": counts / (values.size * width),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def compute(
    mean_a: float = 193.0,
    effect: float = 11.0,
    sd_a: float = TIME_ON_SITE_SD,
    sd_b: float = TIME_ON_SITE_SD,
    n_a: int = 10,
    n_b: int = 10,
    seed: int = 1,
) -> DistributionsState:
    """Draw both groups and compare their means with Welch's t-test.

    Per group: ``ȳ``, ``s`` (ddof=1) and the t-interval ``ȳ ± t_{0.975, n−1} · s/√n``. Between groups:
    :func:`abnb.stats.welch` on ``Moments.from_values`` of each sample, i.e. ``t = (ȳ_B − ȳ_A) / √(s_A²/n_A +
    s_B²/n_B)`` on Welch–Satterthwaite degrees of freedom; significant when ``p < 0.05``.

    Args:
        mean_a: True mean of A (seconds on site in the presets).
        effect: True difference ``mean(B) − mean(A)``.
        sd_a: True standard deviation of A (> 0).
        sd_b: True standard deviation of B (> 0).
        n_a: Units in A (1 to 5000).
        n_b: Units in B (1 to 5000).
        seed: Seed of the draw.

    Returns:
        The state: numbers, verdict, histogram frame and means frame.

    Raises:
        ParameterError: If a parameter is out of range (see :func:`draw`).

    References:
        Welch (1947), "The generalization of 'Student's' problem when several different population variances are
        involved", Biometrika 34, 28–35.
    """
    a, b = draw(mean_a=mean_a, effect=effect, sd_a=sd_a, sd_b=sd_b, n_a=n_a, n_b=n_b, seed=seed)
    moments_a, moments_b = Moments.from_values(a), Moments.from_values(b)
    sd_hat_a, low_a, high_a = _mean_interval(moments_a, ALPHA)
    sd_hat_b, low_b, high_b = _mean_interval(moments_b, ALPHA)
    difference = moments_b.mean - moments_a.mean
    tested = moments_a.n >= 2 and moments_b.n >= 2
    test = effect_numbers(welch(moments_a, moments_b, alpha=ALPHA) if tested else None)
    significant = test["pvalue"] < ALPHA  # False without a test (NaN)
    if tested:
        verdict = SIGNIFICANT if significant else NOT_SIGNIFICANT
    else:
        verdict = "no test: each group needs at least 2 units to estimate its spread"
    means = pd.DataFrame(
        {
            "group": ["A", "B"],
            "mean": [moments_a.mean, moments_b.mean],
            "ci_low": [low_a, low_b],
            "ci_high": [high_a, high_b],
            "n": [moments_a.n, moments_b.n],
            "true_mean": [float(mean_a), float(mean_a) + float(effect)],
        }
    )
    return DistributionsState(
        mean_a=float(mean_a),
        mean_b=float(mean_a) + float(effect),
        sd_a=float(sd_a),
        sd_b=float(sd_b),
        n_a=int(n_a),
        n_b=int(n_b),
        seed=int(seed),
        sample_mean_a=moments_a.mean,
        sample_mean_b=moments_b.mean,
        sample_sd_a=sd_hat_a,
        sample_sd_b=sd_hat_b,
        ci_low_a=low_a,
        ci_high_a=high_a,
        ci_low_b=low_b,
        ci_high_b=high_b,
        difference=difference,
        diff_ci_low=test["ci_low"],
        diff_ci_high=test["ci_high"],
        statistic=test["statistic"],
        df=test["df"],
        pvalue=test["pvalue"],
        significant=significant,
        verdict=verdict,
        histogram=_histogram(a, b),
        means=means,
    )


def _num(value: float, digits: int = 4) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def chart(state: DistributionsState) -> alt.VConcatChart:
    """Overlapping histograms (density scale) above each group's mean with its 95% interval, on one x axis."""
    import altair as alt

    color = palette("group:N", _COLORS, title="group", orient="top")
    low = float(state.histogram["bin_start"].min())
    high = float(state.histogram["bin_end"].max())
    ci_values = state.means[["ci_low", "ci_high"]].to_numpy(dtype=float)
    if np.isfinite(ci_values).any():
        low = min(low, float(np.nanmin(ci_values)))
        high = max(high, float(np.nanmax(ci_values)))
    x_scale = alt.Scale(domain=[low, high], nice=False, zero=False)
    bars = (
        alt.Chart(state.histogram)
        .mark_rect(opacity=0.45)
        .encode(
            x=alt.X("bin_start:Q", title=None, scale=x_scale),
            x2="bin_end:Q",
            y=alt.Y("density:Q", title="density"),
            y2=alt.datum(0),
            color=color,
        )
        .properties(width=520, height=200, title="Distributions of A and B (overlapping)")
    )
    means = state.means.assign(
        label=[f"{g} (n={n:,})" for g, n in zip(state.means["group"], state.means["n"], strict=True)]
    )
    base = alt.Chart(means).encode(y=alt.Y("label:N", title=None, sort=None), color=color)
    rules = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("ci_low:Q", scale=x_scale, title="value (mean with 95% confidence interval)"), x2="ci_high:Q"
    )
    points = base.mark_point(filled=True, size=80).encode(x=alt.X("mean:Q", scale=x_scale))
    truth = base.mark_tick(color="black", thickness=1, size=18).encode(x=alt.X("true_mean:Q", scale=x_scale))
    lower = (rules + points + truth).properties(width=520, height=70, title="Means (tick: true mean)")
    combined: alt.VConcatChart = alt.vconcat(bars, lower).resolve_scale(x="shared").configure_view(stroke=None)
    return combined


def verdict_html(state: DistributionsState) -> str:
    """The verdict line followed by the numbers behind it, as HTML."""
    css = "color:#1b7837" if state.significant else "color:#6b6b6b"
    details = (
        f"mean A = {_num(state.sample_mean_a)} [{_num(state.ci_low_a)}, {_num(state.ci_high_a)}] (n={state.n_a:,}), "
        f"mean B = {_num(state.sample_mean_b)} [{_num(state.ci_low_b)}, {_num(state.ci_high_b)}] (n={state.n_b:,}); "
        f"difference B − A = {_num(state.difference)} [{_num(state.diff_ci_low)}, {_num(state.diff_ci_high)}], "
        f"Welch t = {_num(state.statistic)}, df = {_num(state.df)}, p-value = {pvalue_text(state.pvalue)}."
    )
    return (
        f"<div class='abnb-verdict'><b class='abnb-verdict-headline' style='{css}'>{html.escape(state.verdict)}"
        f"</b><br><span class='abnb-verdict-numbers'>{html.escape(details)}</span></div>"
    )


def render(state: DistributionsState) -> View:
    """The chart and the verdict of a state."""
    return View(chart=chart(state), verdict=verdict_html(state))


def keep_group_b(values: Mapping[str, Any], accepted: Mapping[str, Any]) -> dict[str, float]:
    """The app's ``follow``: when ``mean_a`` changes without the effect, move the effect so B's mean stays put.

    B's true mean is ``mean_a + effect``; moving "mean A" alone sets ``effect = mean_b − new mean_a``, so only
    group A moves (B's draw, summary and histogram stay as they were). Setting both (a preset, ``app.set``) is
    taken as it is.

    Args:
        values: The control values about to be set, by name.
        accepted: The control values the app showed before.

    Returns:
        ``{"effect": ...}`` when B has to be held, else ``{}``.

    Raises:
        ParameterError: If holding B would need an effect beyond the slider's ``±MAX_MEAN``.
    """
    if "mean_a" not in values or "effect" in values:
        return {}
    mean_b = float(accepted["mean_a"]) + float(accepted["effect"])
    effect = mean_b - float(values["mean_a"])
    if abs(effect) > MAX_MEAN:
        raise ParameterError(
            f"mean_a = {float(values['mean_a']):g} would need an effect of {effect:g} to keep B's mean at "
            f"{mean_b:g}, beyond the effect slider's ±{MAX_MEAN:g}; move the effect first."
        )
    return {"effect": effect}


def distributions_app(
    *, initial_preset: str = "time on site, 10 users", presenter: bool = False, **initial: Any
) -> App:
    """The teaching app: sliders for the mean of A, the effect, both deviations, both sizes and the seed.

    Moving "mean A" moves group A only: the effect follows so that B keeps its mean (:func:`keep_group_b`).

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the lecture's time on
            site with 10 users per group, the first case notebook 02 discusses.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values by control name (``mean_a``, ``effect``, ``sd_a``, ``sd_b``, ``n_a``, ``n_b``,
            ``seed``), on top of the preset.

    Returns:
        The app; its slider descriptions are "mean A", "effect", "sd A", "sd B", "n A", "n B" and "seed".

    Raises:
        ParameterError: If an initial value names no control.
    """
    title = "Comparing two distributions: effect size, deviations and group size (values: seconds on site)"
    defaults = PRESETS["time on site, 10 users"]
    opts: dict[str, Any] = {"continuous_update": False, "style": {"description_width": "52px"}}
    seconds = {**opts, "readout_format": ".0f"}
    controls = {
        "mean_a": float_slider("mean A", defaults["mean_a"], 0, MAX_MEAN, 1, **seconds),
        "effect": float_slider("effect", defaults["effect"], -MAX_MEAN, MAX_MEAN, 1, **seconds),
        "sd_a": float_slider("sd A", defaults["sd_a"], 1, 300, 1, **seconds),
        "sd_b": float_slider("sd B", defaults["sd_b"], 1, 300, 1, **seconds),
        "n_a": int_slider("n A", defaults["n_a"], 1, MAX_N, **opts),
        "n_b": int_slider("n B", defaults["n_b"], 1, MAX_N, **opts),
        "seed": int_slider("seed", defaults["seed"], 0, 999, **opts),
    }
    return App(
        title,
        controls,
        compute,
        render,
        PRESETS,
        initial=initial,
        initial_preset=initial_preset,
        follow=keep_group_b,
        presenter=presenter,
    )
