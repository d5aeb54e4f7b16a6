"""The confidence-interval app: per-sample t-intervals and their coverage with a Clopper–Pearson interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from abnb.errors import ParameterError
from abnb.experiment import mean_interval
from abnb.stats import Moments
from abnb.widgets.confidence import confidence_app, coverage_simulation, draw_samples, t_intervals


@pytest.mark.parametrize(("n", "level"), [(2, 0.5), (5, 0.95), (30, 0.9), (500, 0.99)])
def test_t_interval_matches_scipy_and_abnb(n: int, level: float) -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=(4, n))
    mean, low, high = t_intervals(values, level)
    for row, m, lo, hi in zip(values, mean, low, high, strict=True):
        expected = stats.t.interval(level, n - 1, loc=row.mean(), scale=stats.sem(row))
        assert (lo, hi) == pytest.approx(expected, abs=1e-9)
        center, a, b = mean_interval(Moments.from_values(row), level)
        assert (m, lo, hi) == pytest.approx((center, a, b), abs=1e-9)


def test_state_interval_of_one_sample() -> None:
    state = coverage_simulation(samples=20, sample_size=8, confidence_level=0.9, distribution="normal", seed=11)
    values, mu, sd = draw_samples("normal", 20, 8, true_mean=190.0, sd=120.0, seed=11)
    assert (mu, sd) == (190.0, 120.0)
    row = state.intervals.iloc[4]
    expected = stats.t.interval(0.9, 7, loc=values[4].mean(), scale=stats.sem(values[4]))
    assert (row["low"], row["high"]) == pytest.approx(expected, abs=1e-9)
    assert row["covers"] == (expected[0] <= 190.0 <= expected[1])
    assert state.t_quantile == pytest.approx(stats.t.ppf(0.95, 7), abs=1e-12)


def test_normal_data_keep_the_promise() -> None:
    state = coverage_simulation(samples=500, sample_size=30, confidence_level=0.95, distribution="normal", seed=2024)
    assert len(state.intervals) == 500
    assert state.covered == int(state.intervals["covers"].sum())
    assert state.coverage == state.covered / 500
    ci = stats.binomtest(state.covered, 500).proportion_ci(confidence_level=0.95, method="exact")
    assert (state.coverage_ci_low, state.coverage_ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert state.coverage_ci_low <= 0.95 <= state.coverage_ci_high
    # the 99.9% binomial range of the covered count around 0.95
    low, high = stats.binom.ppf([0.0005, 0.9995], 500, 0.95)
    assert low <= state.covered <= high


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_skewed_small_samples_under_cover(seed: int) -> None:
    # lognormal σ = 1.5 with n = 5: true coverage of the 95% t-interval ≈ 0.68 (100,000 simulations),
    # about 13 binomial standard deviations below 0.93 at 500 samples.
    state = coverage_simulation(
        samples=500, sample_size=5, confidence_level=0.95, distribution="lognormal", lognormal_sigma=1.5, seed=seed
    )
    assert state.coverage < 0.93
    assert state.coverage_ci_high < 0.95
    assert "Under-coverage" in confidence_app(**_skewed(seed)).view.verdict


def _skewed(seed: int) -> dict[str, object]:
    return {"samples": 500, "sample_size": 5, "distribution": "lognormal", "lognormal_sigma": 1.5, "seed": seed}


def test_skewed_coverage_vectorised_many_samples() -> None:
    values, mu, _ = draw_samples("lognormal", 40_000, 5, true_mean=1.0, sd=2.0, lognormal_sigma=1.5, seed=9)
    _, low, high = t_intervals(values, 0.95)
    coverage = float(((low <= mu) & (mu <= high)).mean())
    assert 0.64 < coverage < 0.72
    # larger samples help: the coverage climbs towards the promise
    values, mu, _ = draw_samples("lognormal", 4_000, 500, true_mean=1.0, sd=2.0, lognormal_sigma=1.5, seed=9)
    _, low, high = t_intervals(values, 0.95)
    assert float(((low <= mu) & (mu <= high)).mean()) > 0.85


def test_lognormal_has_the_requested_mean_and_sd() -> None:
    values, mu, sd = draw_samples("lognormal", 1000, 1000, true_mean=5.0, sd=2.0, lognormal_sigma=0.5, seed=1)
    assert (mu, sd) == (5.0, 2.0)
    assert values.mean() == pytest.approx(5.0, abs=0.01)
    assert values.std() == pytest.approx(2.0, rel=0.01)
    skew = (math.exp(0.25) + 2) * math.sqrt(math.expm1(0.25))  # lognormal skewness, σ = 0.5
    assert stats.skew(values.ravel()) == pytest.approx(skew, rel=0.05)
    # shape only: location and scale do not change which intervals cover
    a = coverage_simulation(distribution="lognormal", true_mean=1.0, sd=1.0, seed=5)
    b = coverage_simulation(distribution="lognormal", true_mean=300.0, sd=40.0, seed=5)
    assert a.intervals["covers"].tolist() == b.intervals["covers"].tolist()


def test_bernoulli_rare_events_and_degenerate_samples() -> None:
    state = coverage_simulation(samples=500, sample_size=20, distribution="bernoulli", bernoulli_p=0.05, seed=7)
    values, p, sd = draw_samples("bernoulli", 500, 20, bernoulli_p=0.05, seed=7)
    assert (p, sd) == (0.05, pytest.approx(math.sqrt(0.05 * 0.95)))
    assert state.true_mean == 0.05
    all_equal = values.min(axis=1) == values.max(axis=1)
    assert state.degenerate == int(all_equal.sum()) > 0
    assert not state.intervals["covers"][all_equal].any()  # width 0 at 0 misses p = 0.05
    # P(all 20 are 0) = 0.95^20 ≈ 0.358 of the samples miss for that reason alone
    assert state.coverage < 0.75
    assert (
        "no spread"
        in confidence_app(samples=500, sample_size=20, distribution="bernoulli", bernoulli_p=0.05, seed=7).view.verdict
    )


def test_more_samples_keep_the_first_ones() -> None:
    small = coverage_simulation(samples=50, seed=3)
    large = coverage_simulation(samples=400, seed=3)
    assert large.intervals.head(50).equals(small.intervals)


def test_app_updates_live() -> None:
    app = confidence_app()
    assert app.preset == "normal, n=30, 500 samples"  # the case notebook 03 shows first
    assert (app.state.samples, app.state.sample_size, app.state.distribution) == (500, 30, "normal")
    app.set(samples=500, sample_size=30, confidence_level=0.95, seed=2024)
    assert app.state.coverage_ci_low <= 0.95 <= app.state.coverage_ci_high
    assert "Consistent with the promised 95%" in app.view.verdict
    assert f"{app.state.covered} of 500 intervals" in app.view.verdict

    app.controls["confidence_level"].value = 0.5
    assert app.state.confidence_level == 0.5
    assert app.state.t_quantile == pytest.approx(stats.t.ppf(0.75, 29), abs=1e-12)
    assert app.state.coverage == pytest.approx(0.5, abs=0.08)

    app.apply_preset("skewed, n=5")  # presets are complete: the 50% level above does not leak into it
    assert app.state.confidence_level == 0.95
    assert app.state.distribution == "lognormal"
    assert app.state.sample_size == 5
    assert "Under-coverage" in app.view.verdict
    assert len(app.view.chart.layer[0].data) == 500


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"samples": 5}, "samples"),
        ({"samples": 501}, "samples"),
        ({"sample_size": 1}, "sample_size"),
        ({"confidence_level": 0.995}, "confidence_level"),
        ({"distribution": "cauchy"}, "distribution"),
        ({"sd": 0.0}, "sd"),
        ({"distribution": "lognormal", "lognormal_sigma": 0.0}, "lognormal_sigma"),
        ({"distribution": "bernoulli", "bernoulli_p": 1.0}, "bernoulli_p"),
        ({"seed": -1}, "seed"),
    ],
)
def test_parameter_errors(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        coverage_simulation(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=name):
        confidence_app(**kwargs)


def test_unknown_control() -> None:
    with pytest.raises(ParameterError, match="no control"):
        confidence_app(alpha=0.05)
