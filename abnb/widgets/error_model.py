"""Why measurement noise looks normal: many small ±1 errors add up to a bell curve.

A measurement of a true value ``μ`` is disturbed by ``N`` independent random errors, each ``+s`` or ``−s`` with
probability ½. With ``k`` of them positive the total error is ``s·(2k − N)``, so the measurement
``μ + s·(2k − N)`` takes ``N + 1`` values with the binomial probabilities ``C(N, k) / 2^N``. Its mean is ``μ`` and its
variance ``N·s²``; by the de Moivre–Laplace theorem the distribution approaches ``Normal(μ, N·s²)`` as ``N`` grows,
and the largest gap between the two cumulative distribution functions shrinks like ``1/√N`` (Berry–Esseen).

References:
    A. de Moivre (1738), "The Doctrine of Chances", 2nd ed. (the normal limit of the symmetric binomial);
    W. Feller (1968), "An Introduction to Probability Theory and Its Applications", vol. 1, ch. VII.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import numpy as np

from abnb.widgets._app import App, View, check_controls, float_slider, int_slider, number_in, whole_in
from abnb.widgets._charts import reference_lines

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ErrorModelState", "error_distribution", "error_model_app", "render_error_model"]

MAX_ERRORS = 200
LISTED_UP_TO = 8  # the verdict lists every value and its probability up to this many errors


@dataclass(frozen=True)
class ErrorModelState:
    """Exact distribution of a measurement disturbed by ``errors`` independent ±``error_size`` errors.

    Attributes:
        errors: Number of independent errors ``N``.
        error_size: Size ``s`` of each error (each is ``+s`` or ``−s`` with probability ½).
        true_value: The true value ``μ`` being measured.
        mean: Mean of the measurement, ``μ``.
        sd: Standard deviation of the measurement, ``s·√N``.
        max_cdf_gap: Kolmogorov distance ``sup_x |F(x) − Φ((x − μ)/(s√N))|`` between the exact CDF ``F`` and the
            normal approximation (over all real ``x``, so it includes the jumps of ``F``).
        max_cdf_gap_corrected: ``max_k |F(x_k) − Φ((x_k + s − μ)/(s√N))|`` over the possible values ``x_k``: the
            same comparison with the continuity correction (half the spacing ``2s`` added).
        distribution: One row per possible measurement: ``k`` (positive errors), ``total_error`` (``s·(2k − N)``),
            ``value`` (``μ + total_error``), ``probability`` (``C(N, k)/2^N``), ``cdf`` (exact), ``normal_cdf``
            (``Φ`` at the value) and ``normal_mass`` (normal density × spacing ``2s``, comparable with a bar).
        curve: The normal approximation on a grid for the chart: ``value``, ``normal_mass`` (density × ``2s``).
    """

    errors: int
    error_size: float
    true_value: float
    mean: float
    sd: float
    max_cdf_gap: float
    max_cdf_gap_corrected: float
    distribution: pd.DataFrame
    curve: pd.DataFrame


def error_distribution(errors: int = 3, error_size: float = 1.0, true_value: float = 10.0) -> ErrorModelState:
    """Exact distribution of ``μ + Σ εᵢ`` with ``N`` independent errors ``εᵢ = ±s``, and its normal approximation.

    ``P(μ + s·(2k − N)) = C(N, k) / 2^N`` for ``k = 0..N``, computed from exact integers (each probability is the
    correctly rounded float of the exact fraction). The approximation is ``Normal(μ, N·s²)``.

    Args:
        errors: Number of independent errors ``N``, in ``[1, 200]``.
        error_size: Size ``s`` of each error, > 0.
        true_value: True value ``μ``.

    Returns:
        The distribution, the normal approximation and the largest CDF gaps between them.

    Raises:
        ParameterError: A parameter lies outside its range.

    Example:
        Three unit errors around 10 give 7, 9, 11, 13 with probabilities 1/8, 3/8, 3/8, 1/8.
    """
    import pandas as pd
    from scipy.special import ndtr

    n = whole_in("errors", errors, 1, MAX_ERRORS)
    s = number_in("error_size", error_size, 0.0, math.inf, open_low=True)
    mu = number_in("true_value", true_value, -math.inf, math.inf)
    k = np.arange(n + 1)
    total = 2**n
    counts = [math.comb(n, j) for j in range(n + 1)]
    probability = np.array([c / total for c in counts])  # int / int: correctly rounded
    cdf = np.array([c / total for c in accumulate(counts)])
    total_error = s * (2 * k - n)
    value = mu + total_error
    sd = s * math.sqrt(n)
    normal_cdf = ndtr(total_error / sd)
    # F is a step function and Φ continuous: on [x_k, x_{k+1}) the gap |F(x_k) − Φ(x)| peaks at an end point.
    left_limit = np.concatenate(([0.0], cdf[:-1]))
    max_gap = float(max(np.abs(cdf - normal_cdf).max(), np.abs(left_limit - normal_cdf).max()))
    max_gap_corrected = float(np.abs(cdf - ndtr((total_error + s) / sd)).max())
    spacing = 2 * s
    density = np.exp(-0.5 * (total_error / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    distribution = pd.DataFrame(
        {
            "k": k,
            "total_error": total_error,
            "value": value,
            "probability": probability,
            "cdf": cdf,
            "normal_cdf": normal_cdf,
            "normal_mass": density * spacing,
        }
    )
    reach = min(5 * sd, n * s) + s
    grid = np.linspace(-reach, reach, 241)
    curve = pd.DataFrame(
        {
            "value": mu + grid,
            "normal_mass": np.exp(-0.5 * (grid / sd) ** 2) / (sd * math.sqrt(2 * math.pi)) * spacing,
        }
    )
    return ErrorModelState(
        errors=n,
        error_size=s,
        true_value=mu,
        mean=mu,
        sd=sd,
        max_cdf_gap=max_gap,
        max_cdf_gap_corrected=max_gap_corrected,
        distribution=distribution,
        curve=curve,
    )


def _number(x: float) -> str:
    return f"{x:.6g}"


def verdict(state: ErrorModelState) -> str:
    """The lesson of one state as HTML: exact probabilities for few errors, the CDF gap always."""
    n, s = state.errors, state.error_size
    word = "error" if n == 1 else "errors"
    head = (
        f"{n} random {word} of ±{_number(s)} around the true value {_number(state.true_value)}: "
        f"the measurement has mean {_number(state.mean)} and standard deviation {_number(state.sd)} "
        f"(= {_number(s)}·√{n})."
    )
    lines = [head]
    if n <= LISTED_UP_TO:
        listed = ", ".join(
            f"{_number(v)} ({p * 100:.4g}%)"
            for v, p in zip(state.distribution["value"], state.distribution["probability"], strict=True)
        )
        lines.append(f"Exact distribution: {listed}.")
    lines.append(
        f"Largest gap between the exact and the normal CDF: {state.max_cdf_gap:.4f} "
        f"({state.max_cdf_gap_corrected:.2g} with the continuity correction); it shrinks like 1/√N as errors add up."
    )
    return "<br>".join(lines)


def render_error_model(state: ErrorModelState) -> View:
    """Bar chart of the exact probabilities with the normal approximation as a line, and the verdict.

    Bars further than five standard deviations from the true value (probabilities below 10⁻⁶) are left out of the
    chart so that the bell stays readable for many errors; the state keeps all of them.
    """
    import altair as alt

    frame = state.distribution
    half = 0.8 * state.error_size
    shown = frame[(frame["value"] - state.true_value).abs() <= 5 * state.sd + state.error_size].assign(
        left=lambda d: d["value"] - half, right=lambda d: d["value"] + half
    )
    x_title = "measured value"
    bars = (
        alt.Chart(shown)
        .mark_bar(color="#4c78a8", opacity=0.8)
        .encode(
            x=alt.X("left:Q", title=x_title, scale=alt.Scale(zero=False)),
            x2="right:Q",
            y=alt.Y("probability:Q", title="probability"),
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("value:Q", format=".4g"),
                alt.Tooltip("probability:Q", format=".4%"),
                alt.Tooltip("normal_mass:Q", format=".4%"),
            ],
        )
    )
    line = alt.Chart(state.curve).mark_line(color="#e45756").encode(x="value:Q", y="normal_mass:Q")
    truth = reference_lines("value", [state.true_value], strokeDash=[4, 3])
    chart = (bars + line + truth).properties(
        width=560,
        height=260,
        title=f"{state.errors} errors of ±{_number(state.error_size)}: exact (bars) vs Normal(μ, N·s²) (line)",
    )
    return View(chart=chart, verdict=verdict(state))


PRESETS: dict[str, dict[str, Any]] = {
    "1 error around 10": {"errors": 1, "error_size": 1.0, "true_value": 10.0},
    "2 errors around 10": {"errors": 2, "error_size": 1.0, "true_value": 10.0},
    "3 errors around 10": {"errors": 3, "error_size": 1.0, "true_value": 10.0},
    "10 errors": {"errors": 10, "error_size": 1.0, "true_value": 10.0},
    "200 small errors": {"errors": 200, "error_size": 0.1, "true_value": 10.0},
}


def error_model_app(*, initial_preset: str = "1 error around 10", presenter: bool = False, **initial: Any) -> App:
    """The error-model app: sliders for the number of errors, their size and the true value.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the one error notebook 01 counts
            the paths of first.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Initial control values (``errors``, ``error_size``, ``true_value``), on top of the preset.

    Returns:
        The app; ``app.state`` is an :class:`ErrorModelState`.
    """
    title = "Error model: N random errors of ±s"
    defaults: dict[str, Any] = {"errors": 3, "error_size": 1.0, "true_value": 10.0}
    check_controls(title, initial, defaults)
    # validate before the sliders get the values (they would clip)
    error_distribution(**{**defaults, **PRESETS.get(initial_preset, {}), **initial})
    controls = {
        "errors": int_slider("errors N", defaults["errors"], 1, MAX_ERRORS),
        "error_size": float_slider("size s", defaults["error_size"], 0.1, 5.0, 0.1),
        "true_value": float_slider("true μ", defaults["true_value"], 0.0, 100.0, 1.0),
    }
    return App(
        title,
        controls,
        error_distribution,
        render_error_model,
        PRESETS,
        initial=initial,
        initial_preset=initial_preset,
        presenter=presenter,
    )
