"""Tests of the notebook-07 app: the four-variant conversion table."""

from __future__ import annotations

import math

import pytest
from scipy import integrate, stats

import abnb.widgets.conversion as cv
from abnb.errors import ParameterError


def test_published_table() -> None:
    # Published by conversionsciences.com/ab-testing-statistics (the lecture's screenshot): rates with ±,
    # improvement and chance to beat baseline (normal approximation).
    table = cv.compute_conversion().table.set_index("variant")
    published = {
        "Original Page": (10.3, 1.0, None, None),
        "Test it out": (12.9, 1.1, 25.4, 100.0),
        "Give it a try": (12.6, 1.1, 22.5, 99.9),
        "Try it out": (11.3, 1.0, 9.2, 90.2),
    }
    for variant, (rate, plus_minus, improvement, chance) in published.items():
        row = table.loc[variant]
        assert round(100 * row["rate"], 1) == rate
        assert round(100 * row["plus_minus"], 1) == plus_minus
        if improvement is None:
            assert bool(row.isna()["improvement"])
            assert bool(row.isna()["chance_normal"])
        else:
            assert round(100 * row["improvement"], 1) == improvement
            assert round(100 * row["chance_normal"], 1) == chance


def test_three_chances_of_try_it_out() -> None:
    state = cv.compute_conversion()
    assert (
        round(100 * state.chance_normal, 1),
        round(100 * state.chance_beta, 1),
        round(100 * state.chance_lift, 1),
    ) == (
        90.2,
        90.3,
        89.3,
    )
    # Independent computations.
    pc, nc, pt, nt = 378 / 3662, 3662, 395 / 3504, 3504
    se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    assert state.chance_normal == pytest.approx(stats.norm.cdf((pt - pc) / se), abs=1e-9)
    control, treatment = stats.beta(1 + 378, 1 + 3662 - 378), stats.beta(1 + 395, 1 + 3504 - 395)
    exact, _ = integrate.quad(lambda x: control.pdf(x) * treatment.sf(x), 0.05, 0.2, epsabs=1e-12, limit=200)
    assert state.chance_beta == pytest.approx(exact, abs=1e-6)
    lift = pt / pc - 1
    se_lift = math.sqrt(pt * (1 - pt) / (nt * pc**2) + pt**2 * pc * (1 - pc) / (nc * pc**4))
    assert state.chance_lift == pytest.approx(stats.norm.cdf(lift / se_lift), abs=1e-9)
    assert state.pvalue == pytest.approx(2 * stats.norm.sf((pt - pc) / se), abs=1e-9)
    assert "90.2%" in cv.render_conversion(state).verdict
    assert "89.3%" in cv.render_conversion(state).verdict


def test_plus_minus_follows_the_confidence_level() -> None:
    state = cv.compute_conversion(confidence_level=0.90)
    row = state.table.set_index("variant").loc["Original Page"]
    p = 378 / 3662
    assert row["plus_minus"] == pytest.approx(stats.norm.ppf(0.95) * math.sqrt(p * (1 - p) / 3662), rel=1e-12)
    assert row["ci_high"] - row["ci_low"] == pytest.approx(2 * row["plus_minus"], rel=1e-12)


def test_method_dropdown_and_editable_counts_move_the_chance() -> None:
    app = cv.conversion_app()
    assert app.state.chance == pytest.approx(0.902467, abs=1e-6)
    app.set(method="beta")
    assert app.state.chance == app.state.chance_beta
    app.set(method="normal")
    before = app.state.chance
    app.set(conversions=420)
    assert app.state.chance > before
    assert app.state.chance > 0.98
    app.controls["visitors"].value = 4200  # same conversions, more visitors: lower rate
    assert app.state.rate == pytest.approx(420 / 4200)
    assert app.state.chance < 0.5
    app.apply_preset("Try it out with 10× the visitors")
    # Same rate, 10× the data in this arm: more convincing, yet limited by the baseline's own noise.
    assert 0.95 < app.state.chance < 0.99
    app.apply_preset("published table (normal)")
    assert app.state.chance == pytest.approx(0.902467, abs=1e-6)
    assert (app.state.conversions, app.state.visitors) == (395, 3504)


@pytest.mark.parametrize(
    "kwargs",
    [{"conversions": 4000}, {"conversions": -1}, {"visitors": 1}, {"method": "t"}, {"confidence_level": 1.0}],
)
def test_rejects_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        cv.compute_conversion(**kwargs)  # type: ignore[arg-type]
