"""The error-model app: exact binomial probabilities of N ±s errors and their normal approximation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from abnb.errors import ParameterError
from abnb.widgets.error_model import error_distribution, error_model_app, render_error_model


def test_three_unit_errors_around_ten() -> None:
    # The lecture's example: 3 random errors of ±1 around the true value 10.
    state = error_distribution(errors=3, error_size=1.0, true_value=10.0)
    frame = state.distribution
    assert frame["value"].tolist() == [7.0, 9.0, 11.0, 13.0]
    assert frame["total_error"].tolist() == [-3.0, -1.0, 1.0, 3.0]
    np.testing.assert_allclose(frame["probability"], [0.125, 0.375, 0.375, 0.125], rtol=0, atol=1e-12)
    assert state.mean == 10.0
    assert state.sd == pytest.approx(math.sqrt(3))


@pytest.mark.parametrize("errors", [1, 2, 3, 7, 10, 57, 128, 200])
def test_probabilities_match_scipy_binomial(errors: int) -> None:
    state = error_distribution(errors=errors, error_size=0.5, true_value=-2.0)
    frame = state.distribution
    k = np.arange(errors + 1)
    np.testing.assert_allclose(frame["probability"], stats.binom.pmf(k, errors, 0.5), rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["cdf"], stats.binom.cdf(k, errors, 0.5), rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["value"], -2.0 + 0.5 * (2 * k - errors), rtol=0, atol=1e-12)
    assert frame["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    # mean μ and variance N·s² of the exact distribution
    mean = float((frame["value"] * frame["probability"]).sum())
    variance = float(((frame["value"] - mean) ** 2 * frame["probability"]).sum())
    assert mean == pytest.approx(-2.0, abs=1e-9)
    assert variance == pytest.approx(errors * 0.25, rel=1e-9)
    assert state.sd == pytest.approx(0.5 * math.sqrt(errors), rel=1e-12)


def _brute_force_gap(errors: int, size: float, mu: float) -> float:
    """sup_x |F(x) − Φ(x)| on every support point and just left of it, with scipy's binomial and normal CDFs."""
    support = mu + size * (2 * np.arange(errors + 1) - errors)
    x = np.concatenate([support, support - 1e-9 * size])
    k = np.floor((x - mu + errors * size) / (2 * size) + 1e-12)
    exact = stats.binom.cdf(k, errors, 0.5)
    normal = stats.norm.cdf(x, loc=mu, scale=size * math.sqrt(errors))
    return float(np.abs(exact - normal).max())


@pytest.mark.parametrize("errors", [1, 2, 3, 10, 50, 200])
def test_max_cdf_gap_matches_brute_force(errors: int) -> None:
    state = error_distribution(errors=errors, error_size=2.0, true_value=10.0)
    assert state.max_cdf_gap == pytest.approx(_brute_force_gap(errors, 2.0, 10.0), abs=1e-8)


def test_gap_shrinks_like_one_over_root_n() -> None:
    gaps = [error_distribution(errors=n).max_cdf_gap for n in (1, 4, 16, 64, 200)]
    assert gaps == sorted(gaps, reverse=True)
    for n, gap in zip((1, 4, 16, 64, 200), gaps, strict=True):
        # Berry–Esseen with Shevtsova's (2011) constant 0.4748; for ±1 errors E|X|³/σ³ = 1.
        assert gap <= 0.4748 / math.sqrt(n)
    # the largest jump of F is the central probability ≈ √(2/(πN)); the gap is about half of it
    assert gaps[-1] == pytest.approx(0.5 * math.sqrt(2 / (math.pi * 200)), rel=0.05)
    # with the continuity correction the normal curve is far closer
    assert error_distribution(errors=200).max_cdf_gap_corrected < 1e-3


def test_continuity_corrected_gap() -> None:
    state = error_distribution(errors=10, error_size=1.0, true_value=0.0)
    k = np.arange(11)
    expected = np.abs(stats.binom.cdf(k, 10, 0.5) - stats.norm.cdf(2 * k - 10 + 1, scale=math.sqrt(10))).max()
    assert state.max_cdf_gap_corrected == pytest.approx(expected, abs=1e-12)


def test_normal_overlay_is_density_times_spacing() -> None:
    state = error_distribution(errors=30, error_size=0.5, true_value=3.0)
    curve = state.curve
    sd = 0.5 * math.sqrt(30)
    np.testing.assert_allclose(curve["normal_mass"], stats.norm.pdf(curve["value"], 3.0, sd) * 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        state.distribution["normal_mass"], stats.norm.pdf(state.distribution["value"], 3.0, sd), rtol=1e-12
    )


def test_app_verdict_small_and_large() -> None:
    app = error_model_app()
    app.set(errors=3, error_size=1.0, true_value=10.0)
    assert "7 (12.5%), 9 (37.5%), 11 (37.5%), 13 (12.5%)" in app.view.verdict
    assert f"{app.state.max_cdf_gap:.4f}" in app.view.verdict

    app.set(errors=200, error_size=0.1)
    assert app.state.errors == 200
    assert len(app.state.distribution) == 201
    assert "Exact distribution" not in app.view.verdict
    assert f"{app.state.max_cdf_gap:.4f}" in app.view.verdict

    app.controls["true_value"].value = 50.0
    assert app.state.distribution["value"].iloc[100] == pytest.approx(50.0)


def test_presets_follow_the_lecture() -> None:
    app = error_model_app()
    app.apply_preset("1 error around 10")
    assert "9 (50%), 11 (50%)" in app.view.verdict
    app.apply_preset("2 errors around 10")
    assert "8 (25%), 10 (50%), 12 (25%)" in app.view.verdict


def test_chart_shows_only_the_visible_bars() -> None:
    view = render_error_model(error_distribution(errors=200))
    bars = view.chart.layer[0].data
    assert 0 < len(bars) < 201
    assert (bars["value"] - 10).abs().max() <= 5 * math.sqrt(200) + 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"errors": 0}, "errors"),
        ({"errors": 201}, "errors"),
        ({"errors": 2.5}, "errors"),
        ({"error_size": 0.0}, "error_size"),
        ({"true_value": math.nan}, "true_value"),
    ],
)
def test_parameter_errors(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        error_distribution(**kwargs)  # type: ignore[arg-type]


def test_unknown_control() -> None:
    with pytest.raises(ParameterError, match="no control"):
        error_model_app(noise=1)
