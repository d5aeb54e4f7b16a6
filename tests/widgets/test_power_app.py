"""Tests of the notebook-05 apps (α, β and power; sample size; significance vs importance)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

import abnb.widgets.power as power
from abnb.errors import ParameterError
from abnb.stats import duration, sample_size
from abnb.widgets import App


@pytest.mark.parametrize(
    ("effect", "sd", "n", "alpha"),
    [(0.2, 1.0, 400, 0.05), (0.2, 1.0, 50, 0.05), (0.5, 2.0, 100, 0.01), (0.0, 1.0, 400, 0.05), (-0.3, 1.5, 80, 0.1)],
)
def test_power_matches_statsmodels(effect: float, sd: float, n: int, alpha: float) -> None:
    state = power.compute_power(effect, sd, n, alpha)
    expected = NormalIndPower().power(effect_size=effect / sd, nobs1=n, alpha=alpha, ratio=1)
    assert state.power == pytest.approx(expected, abs=1e-9)
    assert state.beta == pytest.approx(1 - expected, abs=1e-9)
    assert state.alpha_area == pytest.approx(alpha, abs=1e-12)
    assert state.se == pytest.approx(sd * math.sqrt(2 / n), rel=1e-12)
    assert state.critical == pytest.approx(stats.norm.ppf(1 - alpha / 2) * state.se, rel=1e-12)


def _verdict(app: App) -> str:
    assert app.view is not None
    return app.view.verdict


def test_shaded_areas_integrate_to_alpha_beta_and_power() -> None:
    state = power.compute_power(0.2, 1.0, 400, 0.05)
    assert len(state.curves) <= 400
    assert len(state.areas) <= 1000
    total = {}
    for region, part in state.areas.groupby("region"):
        total[region] = sum(np.trapezoid(seg["density"], seg["x"]) for _, seg in part.groupby("segment"))
    by_start = {str(name).split(":")[0]: value for name, value in total.items()}
    assert by_start["α"] == pytest.approx(0.05, abs=2e-3)
    assert by_start["β"] == pytest.approx(state.beta, abs=2e-3)
    assert by_start["power"] == pytest.approx(state.power, abs=2e-3)


def test_power_app_presets_and_verdict() -> None:
    app = power.power_app(initial_preset="textbook: 80% power")
    assert app.state.power == pytest.approx(0.8074304194, abs=1e-9)
    app.apply_preset("underpowered: n = 50")
    assert app.state.n == 50
    assert app.state.power == pytest.approx(NormalIndPower().power(0.2, 50, 0.05), abs=1e-9)
    assert f"{app.state.power:.4f}" in _verdict(app)
    assert "Underpowered" in _verdict(app)
    app.apply_preset("no effect: power = α")
    assert app.state.power == pytest.approx(0.05, abs=1e-12)
    app.controls["alpha"].value = 0.01
    assert app.state.alpha == pytest.approx(0.01)
    assert app.state.power == pytest.approx(0.01, abs=1e-12)
    assert power.power_app(n=1000).state.n == 1000


@pytest.mark.parametrize("kwargs", [{"sd": 0.0}, {"n": 1}, {"alpha": 0.0}, {"alpha": 0.7}, {"effect": float("nan")}])
def test_power_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        power.compute_power(**kwargs)  # type: ignore[arg-type]


def test_unknown_initial_control() -> None:
    with pytest.raises(ParameterError, match="no control"):
        power.power_app(users=3)


def test_sample_size_uses_abnb_formulas_and_duration() -> None:
    state = power.compute_sample_size(baseline=0.10, mde=0.10, alpha=0.05, power=0.8, daily_traffic=5000)
    for row in state.formulas.to_dict("records"):
        expected = sample_size(0.10, 0.10, relative=True, alpha=0.05, power=0.8, formula=row["formula"])
        assert row["n_per_arm"] == expected
        assert row["total"] == 2 * expected
        assert row["days"] == duration(expected, 5000)
    assert state.n_per_arm == sample_size(0.10, 0.10, relative=True)
    assert state.days == duration(state.n_per_arm, 5000) == 6
    assert len(state.curve) <= 200
    assert np.all(np.diff(state.curve["power"]) > 0)


def test_evan_miller_published_example() -> None:
    # evanmiller.org/ab-testing/sample-size.html: 20% → 25% (+5 points absolute), α = 0.05, power 0.8: 1,030
    # (1030.2 unrounded; abnb rounds up).
    state = power.compute_sample_size(baseline=0.20, mde=0.25, formula="evan-miller")
    assert state.treatment_rate == pytest.approx(0.25)
    assert state.n_per_arm == 1031


@pytest.mark.parametrize("formula", list(power.FORMULAS))
def test_power_curve_inverts_sample_size(formula: str) -> None:
    for baseline, mde, alpha, target in [(0.10, 0.10, 0.05, 0.8), (0.03, 0.2, 0.01, 0.9), (0.4, 0.05, 0.1, 0.7)]:
        n = sample_size(baseline, mde, relative=True, alpha=alpha, power=target, formula=formula)  # type: ignore[arg-type]
        p2 = baseline * (1 + mde)
        assert power.power_at(n, baseline, p2, alpha=alpha, formula=formula) >= target  # type: ignore[arg-type]
        assert power.power_at(n - 1, baseline, p2, alpha=alpha, formula=formula) < target  # type: ignore[arg-type]


def test_arcsine_power_matches_statsmodels() -> None:
    # The sample-size formulas neglect the far tail: that is statsmodels' one-sided power at α/2 exactly, and its
    # two-sided power up to the far tail Φ(−|h|·sqrt(n/2) − z).
    h = proportion_effectsize(0.11, 0.10)
    for n in (1000, 5000, 14745, 40000):
        ours = power.power_at(n, 0.10, 0.11, alpha=0.05, formula="arcsine")
        one_sided = NormalIndPower().power(effect_size=h, nobs1=n, alpha=0.025, ratio=1, alternative="larger")
        assert ours == pytest.approx(one_sided, abs=1e-9)
        two_sided = NormalIndPower().power(effect_size=h, nobs1=n, alpha=0.05, ratio=1)
        far_tail = stats.norm.cdf(-h * math.sqrt(n / 2) - stats.norm.ppf(0.975))
        assert ours + far_tail == pytest.approx(two_sided, abs=1e-9)


def test_too_few_too_many() -> None:
    app = power.sample_size_app(initial_preset="10% baseline, +10%")
    state = app.state
    assert 0.45 < state.power_half < 0.6
    assert state.power_double > 0.95
    # The relative MDE with half the users needs exactly that many users (abnb.stats.mde inverts sample_size).
    half = state.n_per_arm // 2
    assert sample_size(0.10, state.mde_half, relative=True) in (half, half + 1)
    assert "Too few" in _verdict(app)
    assert "Too many" in _verdict(app)
    app.set(daily_traffic=1000, formula="pooled")
    assert app.state.n_per_arm == sample_size(0.10, 0.10, relative=True, formula="pooled")
    assert app.state.days == duration(app.state.n_per_arm, 1000)
    with pytest.raises(ParameterError, match="formula"):
        power.compute_sample_size(formula="exact")


def _scipy_welch(effect: float, sd: float, n: int, alpha: float) -> tuple[float, float, float]:
    result = stats.ttest_ind_from_stats(effect, sd, n, 0.0, sd, n, equal_var=False)
    df = 2 * (n - 1)
    half = stats.t.ppf(1 - alpha / 2, df) * sd * math.sqrt(2 / n)
    return float(result.pvalue), effect - half, effect + half


def test_significant_but_negligible_and_important_but_not_significant() -> None:
    app = power.significance_app()
    app.apply_preset("huge n, tiny effect (significant, negligible)")
    state = app.state
    pvalue, low, high = _scipy_welch(0.01, 1.0, 500_000, 0.05)
    assert state.pvalue == pytest.approx(pvalue, rel=1e-6)
    assert (state.ci_low, state.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert state.significant
    assert not state.important
    assert state.kind == "significant but negligible"
    app.apply_preset("small n, large effect (important, not significant)")
    state = app.state
    pvalue, low, high = _scipy_welch(0.5, 1.0, 15, 0.05)
    assert state.pvalue == pytest.approx(pvalue, rel=1e-6)
    assert (state.ci_low, state.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert not state.significant
    assert state.important
    assert state.kind == "not significant, important effect not ruled out"
    app.apply_preset("clear win (significant and important)")
    assert app.state.kind == "significant and important"
    app.set(effect=0.005, n=100_000, threshold=0.1)
    assert app.state.kind == "not significant and negligible"


def test_durations_under_a_week_get_a_warning() -> None:
    short = power.compute_sample_size(baseline=0.10, mde=0.10, daily_traffic=5000)
    assert short.days == 6
    assert short.warning == (
        "Under a week: enough users arrive in 6 days, but such a short test sees only part of the weekly cycle, "
        "and users on some weekdays behave differently from the rest. Run it for at least 7 full days (whole "
        "weeks) even though the sample size is reached sooner."
    )
    one_day = power.compute_sample_size(baseline=0.20, mde=0.25, daily_traffic=5000)
    assert one_day.days == 1
    assert "enough users arrive in 1 day," in one_day.warning
    n = sample_size(0.10, 0.10, relative=True)
    week = power.compute_sample_size(baseline=0.10, mde=0.10, daily_traffic=math.ceil(2 * n / 7))
    assert (week.days, week.warning) == (7, "")  # a full week is enough
    assert power.short_duration_warning(power.FULL_WEEK_DAYS - 1) != ""
    assert power.short_duration_warning(65) == ""


def test_the_app_shows_the_warning_only_for_short_tests() -> None:
    app = power.sample_size_app()
    assert app.state.days > 7
    assert app.state.warning == ""
    assert "Under a week" not in _verdict(app)
    app.apply_preset("10% baseline, +10%")
    assert app.state.days == 6
    assert "<p class='abnb-warning' style='color:#b35806'><b>Under a week: enough users arrive in 6 days" in _verdict(
        app
    )
