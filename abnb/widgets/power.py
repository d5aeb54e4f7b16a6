"""Teaching apps for notebook 05: significance, α and β errors, power, and how many samples a test needs.

Three apps, each a pure ``compute`` function, a pure ``render`` function and an ``*_app()`` factory:

* :func:`power_app`: α, β and power as areas under two normal curves, the sampling distribution of the
  difference of means under H0 (no effect) and under H1 (effect ``δ``):
  ``se = sd·sqrt(2/n)``, reject when ``|D| > z_{1−α/2}·se``,
  ``power = Φ(δ/se − z_{1−α/2}) + Φ(−δ/se − z_{1−α/2})``, ``β = 1 − power``.
* :func:`sample_size_app`: units per arm for a baseline rate and a relative minimum detectable effect with the
  four formulas of :func:`abnb.stats.sample_size`, the duration (:func:`abnb.stats.duration`) and the power
  curve against ``n``.
* :func:`significance_app`: "statistically significant" is not "important": a Welch test
  (:func:`abnb.stats.welch`) of an observed difference next to the smallest difference that matters.

References:
    J. Cohen (1988), *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed., ch. 1–2;
    R. Kohavi, D. Tang, Y. Xu (2020), *Trustworthy Online Controlled Experiments*, ch. 17;
    E. Miller, "Sample Size Calculator", evanmiller.org/ab-testing/sample-size.html.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb.errors import ParameterError
from abnb.stats import Moments, duration, sample_size, welch
from abnb.stats import mde as detectable_effect
from abnb.stats.power import Formula
from abnb.widgets._app import App, View, dropdown, float_slider, int_slider, int_text, number_in, whole_in
from abnb.widgets._charts import palette, reference_lines

if TYPE_CHECKING:
    import altair as alt
    import ipywidgets
    import pandas as pd

__all__ = [
    "FORMULAS",
    "FULL_WEEK_DAYS",
    "PowerState",
    "SampleSizeState",
    "SignificanceState",
    "compute_power",
    "compute_sample_size",
    "compute_significance",
    "power_app",
    "power_at",
    "render_power",
    "render_sample_size",
    "render_significance",
    "sample_size_app",
    "short_duration_warning",
    "significance_app",
]

#: The formulas of :func:`abnb.stats.sample_size` for proportions, with their equation as shown to students.
FORMULAS: dict[str, str] = {
    "evan-miller": "n = (z₁₋α/₂·√(2·p₁q₁) + z₁₋β·√(p₁q₁ + p₂q₂))² / δ²",
    "pooled": "n = (z₁₋α/₂·√(2·p̄q̄) + z₁₋β·√(p₁q₁ + p₂q₂))² / δ²,  p̄ = (p₁ + p₂)/2",
    "unpooled": "n = (z₁₋α/₂ + z₁₋β)²·(p₁q₁ + p₂q₂) / δ²",
    "arcsine": "n = 2·(z₁₋α/₂ + z₁₋β)² / h²,  h = 2·asin√p₂ − 2·asin√p₁",
}

_REGION_COLORS = {
    "α: false positive (H0 tails)": "#b2182b",
    "β: missed effect (H1 inside)": "#f4a582",
    "power: effect detected (H1 tails)": "#1b7837",
}
_CURVE_COLORS = {"H0: no effect": "#4d4d4d", "H1: true effect δ": "#2166ac"}
_GRID_POINTS = 301


def _alpha_slider() -> ipywidgets.FloatSlider:
    """The α slider the three apps share."""
    return float_slider("α", 0.05, 0.001, 0.2, 0.001, readout_format=".3f")


def _sd_slider() -> ipywidgets.FloatSlider:
    """The slider of a unit's standard deviation (power and significance apps)."""
    return float_slider("sd", 1.0, 0.1, 3.0, 0.1)


# ------------------------------------------------------------------------------------------------------
# 1. α, β and power as areas


@dataclass(frozen=True)
class PowerState:
    """α, β and power of a two-sided z-test of a difference of means, and the curves that show them.

    Attributes:
        effect: True difference of means ``δ`` under H1.
        sd: Standard deviation of a unit's value (both arms).
        n: Units per arm.
        alpha: Two-sided significance level.
        se: Standard error of the difference, ``sd·sqrt(2/n)``.
        z_crit: ``z_{1−α/2}``.
        critical: Critical difference ``z_{1−α/2}·se``: the test rejects when ``|D| > critical``.
        alpha_area: Area of H0 beyond ``±critical`` (equals ``alpha``).
        beta: Area of H1 inside ``[−critical, critical]``: the chance of missing an effect of ``δ``.
        power: ``1 − β = Φ(δ/se − z) + Φ(−δ/se − z)``.
        standardized: Effect in standard errors, ``δ/se``.
        curves: Densities on a grid (columns ``x``, ``h0``, ``h1``; about 300 rows).
        areas: The shaded areas in long form (columns ``x``, ``density``, ``region``, ``segment``).
    """

    effect: float
    sd: float
    n: int
    alpha: float
    se: float
    z_crit: float
    critical: float
    alpha_area: float
    beta: float
    power: float
    standardized: float
    curves: pd.DataFrame
    areas: pd.DataFrame


def compute_power(effect: float = 0.2, sd: float = 1.0, n: int = 400, alpha: float = 0.05) -> PowerState:
    """α, β and power of a two-sided z-test for a difference of means, with the curves to draw them.

    Under H0 the observed difference ``D`` is ``N(0, se²)``, under H1 it is ``N(δ, se²)``, with
    ``se = sd·sqrt(2/n)``. The test rejects when ``|D| > c = z_{1−α/2}·se``. Then

    * ``α = P_H0(|D| > c) = 2·Φ(−z_{1−α/2})`` (both tails of H0),
    * ``power = P_H1(|D| > c) = Φ(δ/se − z_{1−α/2}) + Φ(−δ/se − z_{1−α/2})`` (both tails of H1),
    * ``β = 1 − power`` (H1 inside ``[−c, c]``).

    This is statsmodels' ``NormalIndPower().power(effect_size=δ/sd, nobs1=n, alpha=α, ratio=1)``.

    Args:
        effect: True difference of means ``δ`` (may be 0 or negative).
        sd: Standard deviation of a unit's value, > 0.
        n: Units per arm, >= 2.
        alpha: Two-sided significance level in (0, 1).

    Returns:
        The numbers and two small frames (about 300 and 600 rows) for the chart.

    Raises:
        ParameterError: If a parameter is out of range.

    References:
        J. Cohen (1988), *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed., §2.
    """
    import pandas as pd
    from scipy import special

    effect = number_in("effect", effect, -1e9, 1e9)
    sd = number_in("sd", sd, 0.0, 1e9, open_low=True)
    n = whole_in("n", n, 2)
    alpha = number_in("alpha", alpha, 0.0, 0.5, open_low=True)
    se = sd * math.sqrt(2.0 / n)
    z = float(special.ndtri(1.0 - alpha / 2.0))
    c = z * se
    lam = effect / se
    power = float(special.ndtr(lam - z) + special.ndtr(-lam - z))
    low, high = min(-4.5 * se, effect - 4.5 * se), max(4.5 * se, effect + 4.5 * se)
    x = np.unique(np.concatenate([np.linspace(low, high, _GRID_POINTS), [-c, c]]))
    h0 = np.exp(-0.5 * (x / se) ** 2) / (se * math.sqrt(2.0 * math.pi))
    h1 = np.exp(-0.5 * ((x - effect) / se) ** 2) / (se * math.sqrt(2.0 * math.pi))
    curves = pd.DataFrame({"x": x, "h0": h0, "h1": h1})
    left, middle, right = x <= -c, (x >= -c) & (x <= c), x >= c
    regions = list(_REGION_COLORS)
    parts = [
        (regions[0], "left", left, h0),
        (regions[0], "right", right, h0),
        (regions[1], "middle", middle, h1),
        (regions[2], "left", left, h1),
        (regions[2], "right", right, h1),
    ]
    areas = pd.concat(
        [
            pd.DataFrame({"x": x[mask], "density": dens[mask], "region": region, "segment": f"{region} {side}"})
            for region, side, mask, dens in parts
        ],
        ignore_index=True,
    )
    return PowerState(
        effect=effect,
        sd=sd,
        n=n,
        alpha=alpha,
        se=se,
        z_crit=z,
        critical=c,
        alpha_area=float(2.0 * special.ndtr(-z)),
        beta=1.0 - power,
        power=power,
        standardized=lam,
        curves=curves,
        areas=areas,
    )


def power_chart(state: PowerState) -> alt.LayerChart:
    """Two normal curves with the α, β and power areas shaded and the critical values marked."""
    import altair as alt

    lines = state.curves.melt(id_vars="x", value_vars=["h0", "h1"], var_name="curve", value_name="density")
    lines["curve"] = lines["curve"].map({"h0": "H0: no effect", "h1": "H1: true effect δ"})
    x_axis = alt.X("x:Q", title="observed difference of means D (treatment − control)")
    area = (
        alt.Chart(state.areas)
        .mark_area(opacity=0.45)
        .encode(
            x=x_axis,
            y=alt.Y("density:Q", title="density", stack=None),
            color=palette("region:N", _REGION_COLORS, title=None, orient="bottom", columns=3),
            detail="segment:N",
        )
    )
    curve = (
        alt.Chart(lines)
        .mark_line()
        .encode(
            x=x_axis,
            y="density:Q",
            strokeDash=alt.StrokeDash("curve:N", legend=alt.Legend(title=None, orient="top"), sort=list(_CURVE_COLORS)),
            detail="curve:N",
        )
    )
    cutoffs = reference_lines("x", [-state.critical, state.critical], strokeDash=[4, 3], color="#333")
    title = f"n = {state.n:,} per arm, δ = {state.effect:g}, sd = {state.sd:g}: power {state.power:.1%}"
    chart: alt.LayerChart = (area + curve + cutoffs).properties(width=560, height=260, title=title)
    return chart


def render_power(state: PowerState) -> View:
    """The curves and the numbers: se, critical difference, α, β and power with the formula."""
    if state.effect == 0.0:
        comment = "With no true effect, H1 coincides with H0: the 'power' is just α, the chance of a false positive."
    elif state.power >= 0.8:
        comment = (
            f"Well powered: a true effect of {state.effect:g} is detected {state.power:.0%} of the time "
            "(the usual target is 80%)."
        )
    else:
        comment = (
            f"Underpowered: a true effect of {state.effect:g} is missed {state.beta:.0%} of the time. "
            "More units per arm, a less noisy metric or a larger α move the curves apart or the cut-offs in."
        )
    verdict = (
        f"<p>se = sd·√(2/n) = {state.sd:g}·√(2/{state.n:,}) = {state.se:.4g}; reject H0 when |D| &gt; "
        f"z<sub>1−α/2</sub>·se = {state.z_crit:.3f}·{state.se:.4g} = <b>{state.critical:.4g}</b>.</p>"
        f"<p>α (red, both tails of H0) = <b>{state.alpha_area:.4f}</b>; "
        f"β (orange, H1 between the cut-offs) = <b>{state.beta:.4f}</b>; "
        f"power = Φ(δ/se − z) + Φ(−δ/se − z) = Φ({state.standardized:.3f} − {state.z_crit:.3f}) + "
        f"Φ({-state.standardized:.3f} − {state.z_crit:.3f}) = <b>{state.power:.4f}</b>.</p>"
        f"<p>{html.escape(comment)}</p>"
    )
    return View(power_chart(state), verdict)


def power_app(*, initial_preset: str = "underpowered: n = 50", presenter: bool = False, **initial: Any) -> App:
    """α, β and power as areas: sliders for the effect, the standard deviation, ``n`` per arm and α.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the 50 users per arm notebook
            05 discusses first.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values of the controls ``effect``, ``sd``, ``n``, ``alpha``, on top of the preset.

    Returns:
        The app (display it in a notebook cell).
    """
    title = "α, β and power: two sampling distributions of the difference"
    controls = {
        "effect": float_slider("effect δ", 0.2, 0.0, 1.0, 0.01),
        "sd": _sd_slider(),
        "n": int_slider("n per arm", 400, 5, 5000, 5),
        "alpha": _alpha_slider(),
    }
    presets = {
        "textbook: 80% power": {"effect": 0.2, "sd": 1.0, "n": 400, "alpha": 0.05},
        "underpowered: n = 50": {"effect": 0.2, "sd": 1.0, "n": 50, "alpha": 0.05},
        "stricter α = 0.01 costs power": {"effect": 0.2, "sd": 1.0, "n": 400, "alpha": 0.01},
        "noisier metric: sd = 2": {"effect": 0.2, "sd": 2.0, "n": 400, "alpha": 0.05},
        "no effect: power = α": {"effect": 0.0, "sd": 1.0, "n": 400, "alpha": 0.05},
    }
    return App(
        title,
        controls,
        compute_power,
        render_power,
        presets,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )


# ------------------------------------------------------------------------------------------------------
# 2. How many samples do I need?


@dataclass(frozen=True)
class SampleSizeState:
    """Units per arm and days for a conversion-rate experiment, with the power curve against ``n``.

    Attributes:
        baseline: Control conversion rate ``p₁``.
        mde: Minimum detectable effect relative to the baseline (0.1 = +10 %).
        treatment_rate: ``p₂ = p₁·(1 + mde)``.
        alpha: Two-sided significance level.
        power: Target power.
        daily_traffic: Units entering the experiment per day, both arms together.
        formula: The formula behind ``n_per_arm``, ``days`` and the curve.
        n_per_arm: Units per arm by ``formula``.
        days: Days to enrol ``2·n_per_arm`` units.
        power_half: Power with half of ``n_per_arm``.
        power_double: Power with twice ``n_per_arm``.
        mde_half: Relative effect detectable (at the target power) with half of ``n_per_arm``.
        formulas: One row per formula: ``formula``, ``equation``, ``n_per_arm``, ``total``, ``days``.
        curve: Power against units per arm (columns ``n``, ``power``, ``days``; 200 rows).
        warning: Why to run longer when ``days`` is under :data:`FULL_WEEK_DAYS` (see :func:`short_duration_warning`);
            ``""`` for a week or more.
    """

    baseline: float
    mde: float
    treatment_rate: float
    alpha: float
    power: float
    daily_traffic: int
    formula: str
    n_per_arm: int
    days: int
    power_half: float
    power_double: float
    mde_half: float
    formulas: pd.DataFrame
    curve: pd.DataFrame
    warning: str


FULL_WEEK_DAYS = 7
"""Shortest duration (days) that covers every weekday once; shorter tests get a warning."""


def short_duration_warning(days: int) -> str:
    """A warning when ``days`` is under a full week, else ``""``.

    Users behave differently on different weekdays (weekend shopping, weekday commutes), and who arrives on a
    Monday is not who arrives on a Saturday. A test shorter than a week measures only part of that cycle, so its
    effect may not hold for the weeks that follow; Kohavi, Tang and Xu (2020) advise running at least a week.
    """
    if days >= FULL_WEEK_DAYS:
        return ""
    return (
        f"Under a week: enough users arrive in {_days(days)}, but such a short test sees only part of the weekly "
        f"cycle, and users on some weekdays behave differently from the rest. Run it for at least "
        f"{FULL_WEEK_DAYS} full days (whole weeks) even though the sample size is reached sooner."
    )


def power_at(
    n: Any, baseline: float, treatment_rate: float, *, alpha: float = 0.05, formula: Formula = "unpooled"
) -> Any:
    """Power of a two-sided test of two proportions with ``n`` units per arm: the inverse of the sample-size formulas.

    Solving each formula of :func:`abnb.stats.sample_size` (equal arms) for ``z_{1−β}`` gives
    ``power = Φ((|δ|·√n − z_{1−α/2}·s₀) / s₁)`` with ``s₁ = sqrt(p₁q₁ + p₂q₂)`` and ``s₀ = sqrt(2 p₁q₁)``
    (``"evan-miller"``), ``sqrt(2 p̄q̄)`` (``"pooled"``) or ``s₁`` (``"unpooled"``); for ``"arcsine"``,
    ``power = Φ(|h|·sqrt(n/2) − z_{1−α/2})``. Like the formulas, it neglects the far tail (rejections in the wrong
    direction), so ``power_at(sample_size(...)) >= power`` and one unit less falls short.

    Args:
        n: Units per arm (a number or an array).
        baseline: Control rate ``p₁``.
        treatment_rate: Treatment rate ``p₂``.
        alpha: Two-sided significance level.
        formula: One of :data:`FORMULAS`.

    Returns:
        The power, shaped like ``n``.

    References:
        See :func:`abnb.stats.sample_size`.
    """
    from scipy import special

    p1, p2 = baseline, treatment_rate
    q1, q2 = 1.0 - p1, 1.0 - p2
    z_a = float(special.ndtri(1.0 - alpha / 2.0))
    units = np.asarray(n, dtype=np.float64)
    if formula == "arcsine":
        h = abs(2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1)))
        return special.ndtr(h * np.sqrt(units / 2.0) - z_a)
    s1 = math.sqrt(p1 * q1 + p2 * q2)
    if formula == "evan-miller":
        s0 = math.sqrt(2.0 * p1 * q1)
    elif formula == "pooled":
        p_bar = (p1 + p2) / 2.0
        s0 = math.sqrt(2.0 * p_bar * (1.0 - p_bar))
    elif formula == "unpooled":
        s0 = s1
    else:
        raise ParameterError(f"formula must be one of {', '.join(map(repr, FORMULAS))}, got {formula!r}.")
    return special.ndtr((abs(p2 - p1) * np.sqrt(units) - z_a * s0) / s1)


def compute_sample_size(
    baseline: float = 0.10,
    mde: float = 0.10,
    alpha: float = 0.05,
    power: float = 0.8,
    daily_traffic: int = 5000,
    formula: str = "unpooled",
) -> SampleSizeState:
    """Units per arm by the four formulas of :func:`abnb.stats.sample_size`, the duration and the power curve.

    ``n`` comes from :func:`abnb.stats.sample_size` (relative ``mde``), the days from
    :func:`abnb.stats.duration` (``ceil(2·n / daily_traffic)``), the curve from :func:`power_at` and the
    effect detectable with half the units from :func:`abnb.stats.mde`.

    Args:
        baseline: Control conversion rate in (0, 1).
        mde: Relative minimum detectable effect (> 0, with ``baseline·(1 + mde) < 1``).
        alpha: Two-sided significance level in (0, 1).
        power: Target power in (0, 1).
        daily_traffic: Units entering the experiment per day, both arms together (> 0).
        formula: ``"evan-miller"``, ``"pooled"``, ``"unpooled"`` or ``"arcsine"``.

    Returns:
        The state with the table of formulas and the power curve.

    Raises:
        ParameterError: If a parameter is out of range.
    """
    import pandas as pd

    if formula not in FORMULAS:
        raise ParameterError(f"formula must be one of {', '.join(map(repr, FORMULAS))}, got {formula!r}.")
    chosen: Formula = formula  # type: ignore[assignment]
    baseline = number_in("baseline", baseline, 0.0, 1.0, open_low=True)
    effect = number_in("mde", mde, 0.0, 10.0, open_low=True)
    daily = whole_in("daily_traffic", daily_traffic, 1)
    treatment_rate = baseline * (1.0 + effect)
    sizes = {
        name: sample_size(baseline, effect, relative=True, alpha=alpha, power=power, formula=name)  # type: ignore[arg-type]
        for name in FORMULAS
    }
    formulas = pd.DataFrame(
        {
            "formula": list(FORMULAS),
            "equation": list(FORMULAS.values()),
            "n_per_arm": [sizes[name] for name in FORMULAS],
            "total": [2 * sizes[name] for name in FORMULAS],
            "days": [duration(sizes[name], daily) for name in FORMULAS],
        }
    )
    n = sizes[formula]
    grid = np.unique(np.round(np.geomspace(max(2.0, n / 20.0), n * 5.0, 200)))
    curve_power = power_at(grid, baseline, treatment_rate, alpha=alpha, formula=chosen)
    curve = pd.DataFrame({"n": grid, "power": curve_power, "days": np.ceil(2.0 * grid / daily)})
    half = max(1, n // 2)
    return SampleSizeState(
        baseline=baseline,
        mde=effect,
        treatment_rate=treatment_rate,
        alpha=float(alpha),
        power=float(power),
        daily_traffic=daily,
        formula=formula,
        n_per_arm=n,
        days=duration(n, daily),
        power_half=float(power_at(half, baseline, treatment_rate, alpha=alpha, formula=chosen)),
        power_double=float(power_at(2 * n, baseline, treatment_rate, alpha=alpha, formula=chosen)),
        mde_half=detectable_effect(half, baseline, relative=True, alpha=alpha, power=power, formula=chosen),
        formulas=formulas,
        curve=curve,
        warning=short_duration_warning(duration(n, daily)),
    )


def sample_size_chart(state: SampleSizeState) -> alt.LayerChart:
    """Power against units per arm (log scale), with the target power and the required ``n`` marked."""
    import altair as alt
    import pandas as pd

    line = (
        alt.Chart(state.curve)
        .mark_line(color="#2166ac")
        .encode(
            x=alt.X("n:Q", scale=alt.Scale(type="log"), title="units per arm (log scale)"),
            y=alt.Y("power:Q", scale=alt.Scale(domain=[0, 1]), title="power", axis=alt.Axis(format="%")),
            tooltip=["n:Q", alt.Tooltip("power:Q", format=".1%"), "days:Q"],
        )
    )
    target = reference_lines("power", [state.power], "y", strokeDash=[4, 3])
    needed = reference_lines("n", [state.n_per_arm], color="#1b7837", strokeDash=[4, 3])
    points = pd.DataFrame(
        {
            "n": [max(1, state.n_per_arm // 2), state.n_per_arm, 2 * state.n_per_arm],
            "power": [state.power_half, float(state.power), state.power_double],
            "label": ["half: too few", "required", "double: too many?"],
        }
    )
    dots = alt.Chart(points).mark_point(filled=True, size=60, color="#b2182b").encode(x="n:Q", y="power:Q")
    labels = alt.Chart(points).mark_text(align="left", dx=6, dy=-8).encode(x="n:Q", y="power:Q", text="label:N")
    title = (
        f"{state.baseline:.1%} → {state.treatment_rate:.2%} (+{state.mde:.0%}): "
        f"{state.n_per_arm:,} per arm, {_days(state.days)} ({state.formula})"
    )
    chart: alt.LayerChart = (line + target + needed + dots + labels).properties(width=560, height=260, title=title)
    return chart


def _bold(text: str, bold: bool) -> str:
    escaped = html.escape(text)
    return f"<b>{escaped}</b>" if bold else escaped


def _days(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


def render_sample_size(state: SampleSizeState) -> View:
    """The power curve, the table of the four formulas, and the too-few/too-many commentary."""
    rows = "".join(
        f"<tr><td>{_bold(str(r['formula']), r['formula'] == state.formula)}</td>"
        f"<td><code>{html.escape(str(r['equation']))}</code></td><td>{int(r['n_per_arm']):,}</td>"
        f"<td>{int(r['total']):,}</td><td>{int(r['days'])}</td></tr>"
        for r in state.formulas.to_dict("records")
    )
    warning = (
        f"<p class='abnb-warning' style='color:#b35806'><b>{html.escape(state.warning)}</b></p>"
        if state.warning
        else ""
    )
    table = (
        f"<table><tr><th>formula</th><th>equation</th><th>per arm</th><th>total</th><th>days</th></tr>{rows}</table>"
    )
    verdict = (
        f"<p>Detecting {state.baseline:.1%} → {state.treatment_rate:.2%} (a relative change of "
        f"{state.mde:.0%}) at α = {state.alpha:g} with {state.power:.0%} power needs "
        f"<b>{state.n_per_arm:,} users per arm</b>; at {state.daily_traffic:,} users a day that is "
        f"<b>{_days(state.days)}</b>.</p>{warning}{table}"
        f"<p><b>Too few:</b> stopping at half ({max(1, state.n_per_arm // 2):,} per arm) leaves "
        f"{state.power_half:.0%} power: the effect is missed {1 - state.power_half:.0%} of the time, and only "
        f"effects of +{state.mde_half:.1%} or more are reliably detected. "
        f"<b>Too many:</b> doubling to {2 * state.n_per_arm:,} per arm raises power only to "
        f"{state.power_double:.0%}, but doubles the days, delays the decision and keeps half the users on the "
        "worse variant for longer.</p>"
    )
    return View(sample_size_chart(state), verdict)


def sample_size_app(
    *, initial_preset: str = "rare conversions: 1%, +10%", presenter: bool = False, **initial: Any
) -> App:
    """How many samples do I need? Baseline rate, relative MDE, α, power, daily traffic and the formula.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the 1% baseline notebook 05
            discusses first.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values of ``baseline``, ``mde``, ``alpha``, ``power``, ``daily_traffic``, ``formula``,
            on top of the preset.

    Returns:
        The app.
    """
    title = "How many samples do I need?"
    controls = {
        "baseline": float_slider("baseline", 0.10, 0.01, 0.5, 0.005, readout_format=".1%"),
        "mde": float_slider("MDE", 0.10, 0.01, 0.5, 0.01, readout_format=".0%"),
        "alpha": _alpha_slider(),
        "power": float_slider("power", 0.8, 0.5, 0.99, 0.01, readout_format=".0%"),
        "daily_traffic": int_slider("users/day", 5000, 100, 100_000, 100),
        "formula": dropdown("formula", FORMULAS, "unpooled"),
    }
    presets: dict[str, dict[str, Any]] = {
        "10% baseline, +10%": {"baseline": 0.10, "mde": 0.10},
        "rare conversions: 1%, +10%": {"baseline": 0.01, "mde": 0.10},
        "big change: 10%, +30%": {"baseline": 0.10, "mde": 0.30},
        "Evan Miller: 20% → 25%": {
            "baseline": 0.20,
            "mde": 0.25,
            "alpha": 0.05,
            "power": 0.8,
            "formula": "evan-miller",
        },
    }
    return App(
        title,
        controls,
        compute_sample_size,
        render_sample_size,
        presets,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )


# ------------------------------------------------------------------------------------------------------
# 3. Statistically significant is not important


@dataclass(frozen=True)
class SignificanceState:
    """A Welch test of an observed difference read against the smallest difference that matters.

    Attributes:
        effect: Observed difference of means (treatment − control).
        sd: Standard deviation of a unit's value in each arm.
        n: Units per arm.
        alpha: Significance level.
        threshold: Smallest absolute difference that matters for the product.
        se: Standard error of the difference.
        pvalue: Welch p-value.
        ci_low: Lower end of the ``1 − alpha`` confidence interval.
        ci_high: Upper end of that interval.
        significant: ``pvalue < alpha``.
        important: ``|effect| >= threshold``.
        kind: One of ``"significant and important"``, ``"significant but negligible"``,
            ``"not significant, important effect not ruled out"``, ``"not significant and negligible"``.
        frame: One row (``estimate``, ``ci_low``, ``ci_high``, ``threshold``) for the chart.
    """

    effect: float
    sd: float
    n: int
    alpha: float
    threshold: float
    se: float
    pvalue: float
    ci_low: float
    ci_high: float
    significant: bool
    important: bool
    kind: str
    frame: pd.DataFrame


def compute_significance(
    effect: float = 0.3, sd: float = 1.0, n: int = 1000, alpha: float = 0.05, threshold: float = 0.1
) -> SignificanceState:
    """Welch test of an observed difference (from summary statistics) against a practical threshold.

    Both arms have ``n`` units with standard deviation ``sd``; the control mean is 0 and the treatment mean
    ``effect``, so ``Σy = n·m`` and ``Σy² = (n − 1)·sd² + n·m²``. :func:`abnb.stats.welch` gives the p-value and
    the interval ``effect ± t_{1−α/2, df}·sd·sqrt(2/n)``. Significance says the difference is unlikely to be 0;
    importance compares it with ``threshold``. A non-significant result whose interval reaches beyond
    ``±threshold`` has not ruled out an important effect.

    Args:
        effect: Observed difference of means.
        sd: Standard deviation per unit (> 0).
        n: Units per arm (>= 2).
        alpha: Significance level in (0, 0.5].
        threshold: Smallest absolute difference that matters (>= 0).

    Returns:
        The test, its interval and the reading.

    Raises:
        ParameterError: If a parameter is out of range.

    References:
        R. L. Wasserstein, N. A. Lazar (2016), "The ASA statement on p-values", The American Statistician 70.
    """
    import pandas as pd

    effect = number_in("effect", effect, -1e9, 1e9)
    sd = number_in("sd", sd, 0.0, 1e9, open_low=True)
    n = whole_in("n", n, 2)
    alpha = number_in("alpha", alpha, 0.0, 0.5, open_low=True)
    threshold = number_in("threshold", threshold, 0.0, 1e9)
    spread = (n - 1) * sd * sd
    control = Moments(n, 0.0, spread)
    treatment = Moments(n, n * effect, spread + n * effect * effect)
    result = welch(control, treatment, alpha=alpha)
    significant = bool(result.pvalue < alpha)
    important = abs(result.estimate) >= threshold
    if significant:
        kind = "significant and important" if important else "significant but negligible"
    elif result.ci_high >= threshold or result.ci_low <= -threshold:
        kind = "not significant, important effect not ruled out"
    else:
        kind = "not significant and negligible"
    frame = pd.DataFrame(
        {"estimate": [result.estimate], "ci_low": [result.ci_low], "ci_high": [result.ci_high], "threshold": threshold}
    )
    return SignificanceState(
        effect=effect,
        sd=sd,
        n=n,
        alpha=alpha,
        threshold=threshold,
        se=result.se,
        pvalue=result.pvalue,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        significant=significant,
        important=important,
        kind=kind,
        frame=frame,
    )


def significance_chart(state: SignificanceState) -> alt.LayerChart:
    """The confidence interval of the difference over the band of negligible differences ``±threshold``."""
    import altair as alt
    import pandas as pd

    reach = max(abs(state.ci_low), abs(state.ci_high), state.threshold) * 1.3 or 1.0
    scale = alt.Scale(domain=[-reach, reach])
    band = (
        alt.Chart(pd.DataFrame({"low": [-state.threshold], "high": [state.threshold]}))
        .mark_rect(color="#d9d9d9", opacity=0.6)
        .encode(x=alt.X("low:Q", scale=scale, title="difference of means (treatment − control)"), x2="high:Q")
    )
    zero = reference_lines("x", [0.0], color="#333")
    color = "#1b7837" if state.significant else "#6b6b6b"
    interval = alt.Chart(state.frame).mark_rule(strokeWidth=3, color=color).encode(x="ci_low:Q", x2="ci_high:Q")
    point = alt.Chart(state.frame).mark_point(filled=True, size=90, color=color).encode(x="estimate:Q")
    title = f"{state.kind}: p = {state.pvalue:.2g}, grey band = negligible (|difference| < {state.threshold:g})"
    chart: alt.LayerChart = (band + zero + interval + point).properties(width=560, height=70, title=title)
    return chart


def render_significance(state: SignificanceState) -> View:
    """The interval against the negligible band and a plain-language reading of the four cases."""
    explain = {
        "significant and important": "the difference is unlikely to be chance and large enough to matter.",
        "significant but negligible": (
            "with this many users even a tiny difference is detectable; significance says it is not zero, "
            "not that it matters. Decide on the size of the effect, not on the p-value."
        ),
        "not significant, important effect not ruled out": (
            "the data cannot tell a large effect from none: the interval reaches into important territory. "
            "This is absence of evidence, not evidence of absence; collect more data (see the power app)."
        ),
        "not significant and negligible": "the interval is tight around differences too small to matter.",
    }
    verdict = (
        f"<p>Observed difference {state.effect:g} (sd {state.sd:g}, n = {state.n:,} per arm): "
        f"se = {state.se:.3g}, p = {state.pvalue:.3g}, {1 - state.alpha:.0%} CI "
        f"[{state.ci_low:.3g}, {state.ci_high:.3g}].</p>"
        f"<p><b>{html.escape(state.kind)}</b>: {html.escape(explain[state.kind])}</p>"
    )
    return View(significance_chart(state), verdict)


def significance_app(
    *,
    initial_preset: str = "huge n, tiny effect (significant, negligible)",
    presenter: bool = False,
    **initial: Any,
) -> App:
    """Statistically significant ≠ important: an observed difference, its noise, ``n``, α and a practical threshold.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the huge sample notebook 05
            discusses first.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values of ``effect``, ``sd``, ``n``, ``alpha``, ``threshold``, on top of the preset.

    Returns:
        The app.
    """
    title = "Statistically significant ≠ important"
    controls = {
        "effect": float_slider("observed δ", 0.3, -1.0, 1.0, 0.005, readout_format=".3f"),
        "sd": _sd_slider(),
        "n": int_text("n per arm", 1000, (2, 10_000_000)),
        "alpha": _alpha_slider(),
        "threshold": float_slider("matters ≥", 0.1, 0.0, 1.0, 0.01),
    }
    presets = {
        "huge n, tiny effect (significant, negligible)": {"effect": 0.01, "sd": 1.0, "n": 500_000, "threshold": 0.1},
        "small n, large effect (important, not significant)": {
            "effect": 0.5,
            "sd": 1.0,
            "n": 15,
            "threshold": 0.1,
        },
        "clear win (significant and important)": {"effect": 0.3, "sd": 1.0, "n": 1000, "threshold": 0.1},
    }
    return App(
        title,
        controls,
        compute_significance,
        render_significance,
        presets,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )
