from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import abnb.widgets.distributions as dist
from abnb.errors import ParameterError


@pytest.mark.parametrize(
    "params",
    [
        {"mean_a": 193.0, "effect": 11.0, "sd_a": 90.0, "sd_b": 90.0, "n_a": 10, "n_b": 10, "seed": 1},
        {"mean_a": 193.0, "effect": 11.0, "sd_a": 90.0, "sd_b": 90.0, "n_a": 2158, "n_b": 2158, "seed": 1},
        {"mean_a": 50.0, "effect": -4.0, "sd_a": 3.0, "sd_b": 40.0, "n_a": 7, "n_b": 5000, "seed": 42},
        {"mean_a": 0.0, "effect": 0.5, "sd_a": 1.0, "sd_b": 2.0, "n_a": 2, "n_b": 3, "seed": 0},
    ],
)
def test_welch_matches_scipy_on_the_drawn_samples(params: dict[str, float]) -> None:
    state = dist.compute(**params)
    a, b = dist.draw(**params)
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert state.pvalue == pytest.approx(float(expected.pvalue), abs=1e-9)
    assert state.statistic == pytest.approx(float(expected.statistic), rel=1e-9)
    assert state.df == pytest.approx(float(expected.df), rel=1e-9)
    low, high = expected.confidence_interval(0.95)
    assert (state.diff_ci_low, state.diff_ci_high) == pytest.approx((low, high), rel=1e-9)
    # per-group means and t-intervals
    for values, mean, ci_low, ci_high in (
        (a, state.sample_mean_a, state.ci_low_a, state.ci_high_a),
        (b, state.sample_mean_b, state.ci_low_b, state.ci_high_b),
    ):
        interval = stats.t.interval(0.95, values.size - 1, loc=values.mean(), scale=stats.sem(values))
        assert mean == pytest.approx(values.mean(), rel=1e-12)
        assert (ci_low, ci_high) == pytest.approx(interval, rel=1e-9)
    assert state.significant == (state.pvalue < 0.05)


def test_draw_is_seeded_and_moves_the_same_points() -> None:
    params = {"mean_a": 10.0, "effect": 1.0, "sd_a": 2.0, "sd_b": 3.0, "n_a": 50, "n_b": 40, "seed": 3}
    a1, b1 = dist.draw(**params)
    a2, b2 = dist.draw(**params)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    a3, b3 = dist.draw(**{**params, "effect": 5.0, "n_b": 60})
    np.testing.assert_array_equal(a1, a3)  # group A untouched by B's sliders
    np.testing.assert_allclose(b3[:40], b1 + 4.0)  # same points, shifted
    a4, _ = dist.draw(**{**params, "seed": 4})
    assert not np.array_equal(a1, a4)


def test_lecture_time_on_site_presets() -> None:
    small = dist.compute(**dist.PRESETS["time on site, 10 users"])
    large = dist.compute(**dist.PRESETS["time on site, 2,158 users"])
    assert (small.mean_a, small.mean_b) == (193.0, 204.0)  # 3:13 and 3:24 minutes
    assert small.sd_a == small.sd_b == dist.TIME_ON_SITE_SD == 90.0
    assert (small.n_a, large.n_a, large.n_b) == (10, 2158, 2158)
    assert not small.significant
    assert small.verdict == "not significant: the data cannot tell A and B apart"
    assert large.significant
    assert large.verdict == "significant at α=0.05: B differs from A"
    assert large.pvalue < 0.001 < 0.05 < small.pvalue


def test_effect_and_deviation_presets() -> None:
    clear = dist.compute(**dist.PRESETS["different effect size, same deviations"])
    noisy = dist.compute(**dist.PRESETS["same effect size, different deviations"])
    assert clear.mean_b - clear.mean_a == noisy.mean_b - noisy.mean_a
    assert noisy.sd_a > clear.sd_a
    assert clear.significant
    assert not noisy.significant


@pytest.mark.parametrize(("n_a", "n_b"), [(1, 1), (10, 10), (2158, 2158), (5000, 5000), (1, 5000)])
def test_histogram_frame_is_bounded(n_a: int, n_b: int) -> None:
    state = dist.compute(n_a=n_a, n_b=n_b)
    hist = state.histogram
    assert set(hist["group"]) == {"A", "B"}
    for group, n in (("A", n_a), ("B", n_b)):
        rows = hist[hist["group"] == group]
        assert 1 <= len(rows) <= dist.MAX_BINS
        assert rows["count"].sum() == n
        widths = rows["bin_end"] - rows["bin_start"]
        assert float((rows["density"] * widths).sum()) == pytest.approx(1.0)
    assert len(hist) <= 2 * dist.MAX_BINS
    assert len(state.means) == 2


def test_single_unit_groups_give_no_test() -> None:
    state = dist.compute(n_a=1, n_b=20)
    assert math.isnan(state.pvalue)
    assert math.isnan(state.ci_low_a)
    assert not state.significant
    assert "at least 2 units" in state.verdict
    assert "at least 2 units" in dist.render(state).verdict


@pytest.mark.parametrize(
    ("param", "value"),
    [("sd_a", 0.0), ("sd_b", -1.0), ("n_a", 0), ("n_b", 5001), ("seed", -1), ("n_a", 2.5), ("effect", math.nan)],
)
def test_parameter_errors(param: str, value: float) -> None:
    with pytest.raises(ParameterError, match=param):
        dist.compute(**{param: value})


def test_app_sliders_and_verdict_follow_the_controls() -> None:
    app = dist.distributions_app()
    descriptions = {name: control.description for name, control in app.controls.items()}
    assert descriptions == {
        "mean_a": "mean A",
        "effect": "effect",
        "sd_a": "sd A",
        "sd_b": "sd B",
        "n_a": "n A",
        "n_b": "n B",
        "seed": "seed",
    }
    assert type(app.controls["effect"]).__name__ == "FloatSlider"
    assert type(app.controls["n_a"]).__name__ == "IntSlider"
    assert app.controls["n_a"].min == 1
    assert app.controls["n_a"].max == 5000
    assert app.view is not None
    first = app.view.verdict
    assert "not significant: the data cannot tell A and B apart" in first
    app.apply_preset("time on site, 2,158 users")
    assert app.state.significant
    assert "significant at α=0.05: B differs from A" in app.view.verdict
    assert app.view.verdict != first
    previous = app.view.verdict
    app.controls["effect"].value = 12.0  # a user moving one slider
    assert app.view.verdict != previous
    assert app.state.mean_b == 205.0
    expected = dist.compute(**app.values())
    assert app.state.pvalue == expected.pvalue
    assert "<svg" in app.snapshot()


def _group(state: dist.DistributionsState, group: str) -> tuple[object, ...]:
    """Everything the app shows of one group: its summary numbers, its row of means and its histogram bars."""
    suffix = group.lower()
    summary = tuple(
        getattr(state, f"{name}_{suffix}")
        for name in ("mean", "sd", "n", "sample_mean", "sample_sd", "ci_low", "ci_high")
    )
    means = state.means[state.means["group"] == group].reset_index(drop=True)
    bars = state.histogram[state.histogram["group"] == group].reset_index(drop=True)
    return summary, means, bars


def test_moving_mean_a_moves_only_group_a() -> None:
    app = dist.distributions_app()
    before = app.state
    app.controls["mean_a"].value = 250.0  # a user moving the "mean A" slider from 193 s
    after = app.state
    assert app.controls["effect"].value == -46.0  # B stays at 204 s, so the effect follows
    assert (after.mean_a, after.mean_b) == (250.0, 204.0)
    (summary_b, means_b, bars_b), (summary_b2, means_b2, bars_b2) = _group(before, "B"), _group(after, "B")
    assert summary_b2 == summary_b
    pd.testing.assert_frame_equal(means_b2, means_b)
    pd.testing.assert_frame_equal(bars_b2, bars_b)
    assert after.sample_mean_a == pytest.approx(before.sample_mean_a + 57.0, rel=1e-12)  # A's points shifted
    pd.testing.assert_frame_equal(
        _group(after, "A")[2],
        _group(before, "A")[2].assign(bin_start=lambda f: f["bin_start"] + 57.0, bin_end=lambda f: f["bin_end"] + 57.0),
        rtol=1e-12,
    )
    assert after.difference == pytest.approx(before.difference - 57.0, rel=1e-12)
    _, b = dist.draw(**app.values())
    _, b0 = dist.draw(**dist.PRESETS["time on site, 10 users"])
    np.testing.assert_array_equal(b, b0)  # group B's data itself is unchanged


def test_moving_mean_a_keeps_b_unless_the_effect_is_set_too() -> None:
    assert dist.keep_group_b({"mean_a": 100.0}, {"mean_a": 193.0, "effect": 11.0}) == {"effect": 104.0}
    assert dist.keep_group_b({"mean_a": 100.0, "effect": 5.0}, {"mean_a": 193.0, "effect": 11.0}) == {}
    assert dist.keep_group_b({"sd_a": 3.0}, {"mean_a": 193.0, "effect": 11.0}) == {}
    app = dist.distributions_app()
    app.apply_preset("different effect size, same deviations")  # mean 180, effect 30 as the preset says
    assert (app.state.mean_a, app.state.mean_b) == (180.0, 210.0)
    app.set(mean_a=200.0)
    assert (app.state.mean_b, app.controls["effect"].value) == (210.0, 10.0)
    app.set(effect=500.0)  # B at 700 s; A cannot go to 0 s without an effect of 700 s
    with pytest.raises(ParameterError, match=r"effect of 700 to keep B's mean at 700, beyond the effect slider's ±600"):
        app.set(mean_a=0.0)
    assert (app.state.mean_a, app.state.mean_b) == (200.0, 700.0)
    assert (app.controls["mean_a"].value, app.controls["effect"].value) == (200.0, 500.0)


def test_histogram_bins_of_each_group_are_its_own() -> None:
    state = dist.compute(mean_a=0.0, effect=400.0, sd_a=1.0, sd_b=100.0, n_a=100, n_b=400, seed=2)
    a, b = dist.draw(mean_a=0.0, effect=400.0, sd_a=1.0, sd_b=100.0, n_a=100, n_b=400, seed=2)
    for group, values, bins in (("A", a, 10), ("B", b, 20)):
        rows = state.histogram[state.histogram["group"] == group]
        assert len(rows) == bins  # ⌈√n⌉
        assert rows["bin_start"].iloc[0] == values.min()
        assert rows["bin_end"].iloc[-1] == pytest.approx(values.max(), rel=1e-12)
