"""Tests of the notebook-06 app: daily peeking at A/A tests."""

from __future__ import annotations

import numpy as np
import pytest

import abnb.widgets.peeking as pk
from abnb.errors import ParameterError
from abnb.stats.simulate import _clopper_pearson, peeking
from abnb.widgets import App


def _verdict(app: App) -> str:
    assert app.view is not None
    return app.view.verdict


def test_one_look_keeps_alpha() -> None:
    state = pk.compute_peeking(days=1, users_per_day=100, simulations=20_000, alpha=0.05, seed=1)
    assert state.naive_ci_low <= 0.05 <= state.naive_ci_high
    assert state.naive_fpr == state.naive_fpr_one_look
    assert state.cs_fpr <= 0.05
    assert len(state.frame) == 2


@pytest.mark.parametrize("days", [10, 14, 30])
def test_many_looks_inflate_naive_but_not_confidence_sequence(days: int) -> None:
    state = pk.compute_peeking(days=days, users_per_day=100, simulations=20_000, alpha=0.05, seed=3)
    assert state.naive_fpr > 0.12
    assert state.naive_ci_low > 0.12
    assert state.cs_fpr <= 0.05
    assert state.cs_ci_high <= 0.05
    cs = state.frame[state.frame["method"] == pk.METHODS["confidence_sequence"]]
    assert (cs["fpr"] <= 0.05).all()


def test_frame_is_the_cumulative_first_rejections_of_abnb_peeking() -> None:
    state = pk.compute_peeking(days=12, users_per_day=50, simulations=3000, alpha=0.05, seed=7)
    assert len(state.frame) == 24
    assert state.frame.groupby("method").size().max() <= 30
    for method, label in pk.METHODS.items():
        direct = peeking(600, looks=12, simulations=3000, method=method, alpha=0.05, tuning=1200.0, seed=7)  # type: ignore[arg-type]
        rows = state.frame[state.frame["method"] == label]
        assert list(rows["looks"]) == list(range(1, 13))
        assert list(rows["first_rejections"]) == list(direct.first_rejection_look)
        assert rows["fpr"].iloc[-1] == direct.rejection.estimate
        assert np.all(np.diff(rows["fpr"]) >= 0)
        assert rows["ci_low"].iloc[-1] == pytest.approx(direct.rejection.ci_low, abs=1e-9)
        assert rows["ci_high"].iloc[-1] == pytest.approx(direct.rejection.ci_high, abs=1e-9)
    assert (
        state.naive_fpr
        == peeking(600, looks=12, simulations=3000, alpha=0.05, tuning=1200.0, seed=7).rejection.estimate
    )


def test_clopper_pearson_matches_binomtest() -> None:
    successes = np.array([0, 1, 7, 150, 999, 1000])
    low, high = pk.clopper_pearson(successes, 1000)
    for x, lo, hi in zip(successes, low, high, strict=True):
        expected = _clopper_pearson(int(x), 1000)
        assert (lo, hi) == pytest.approx((expected.ci_low, expected.ci_high), abs=1e-9)


def test_seeded_and_reproducible() -> None:
    a = pk.compute_peeking(days=5, simulations=1000, seed=11)
    b = pk.compute_peeking(days=5, simulations=1000, seed=11)
    c = pk.compute_peeking(days=5, simulations=1000, seed=12)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(c.frame)


@pytest.mark.parametrize(
    "kwargs", [{"days": 0}, {"days": 31}, {"users_per_day": 1}, {"simulations": 0}, {"alpha": 0.0}, {"alpha": 0.6}]
)
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        pk.compute_peeking(**kwargs)  # type: ignore[arg-type]


def test_app_controls_and_presets() -> None:
    app = pk.peeking_app(simulations=1000)
    for name in ("days", "users_per_day", "simulations", "alpha"):
        assert app.controls[name].continuous_update is False
    assert (app.controls["days"].min, app.controls["days"].max) == (1, 30)
    assert (app.controls["simulations"].min, app.controls["simulations"].max) == (200, 20_000)
    app.apply_preset("one look (no peeking)")
    assert app.state.days == 1
    assert "single look" in _verdict(app)
    app.apply_preset("a month of daily looks")
    assert app.state.days == 30
    assert app.state.naive_fpr > 0.2
    assert f"{app.state.naive_fpr:.1%}" in _verdict(app)
    app.controls["seed"].value = 5
    assert app.state.seed == 5
