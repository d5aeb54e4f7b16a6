"""Real-world metrics: negative control means, zero-event arms, rare events. Properties over generated inputs.

Each property is a class of inputs the side-by-side run with peers found wrong, not one example: a lift must keep
the sign of the difference whatever the sign of the control mean, its default interval must never contradict the
test of the difference, non-inferiority and chance to beat must read a negative metric like a positive one, and
``confidence_interval()`` without a level is the interval of the call's ``alpha``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from abnb.stats import Moments, chance_to_beat, confidence_sequence, noninferiority, ratio, welch, ztest
from abnb.stats.ratio import RatioMoments

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
spread = st.floats(min_value=0.05, max_value=50.0, allow_nan=False)
sizes = st.integers(min_value=5, max_value=5_000)
alphas = st.sampled_from([0.01, 0.05, 0.1, 0.2])


def _arm(n: int, mean: float, sd: float) -> Moments:
    """Moments with exactly this mean and sample SD (ddof 1)."""
    total = n * mean
    return Moments(n, total, sd * sd * (n - 1) + total * total / n)


def _mirror(arm: Moments) -> Moments:
    """The arm of the negated values: Σ(−y) = −Σy, Σ(−y)² = Σy²."""
    return Moments(arm.n, -arm.sum, arm.sum_sq)


@settings(max_examples=200, deadline=None)
@given(n_c=sizes, n_t=sizes, m_c=finite, m_t=finite, s_c=spread, s_t=spread, alpha=alphas)
def test_the_lift_keeps_the_sign_of_the_difference_and_mirrors(
    n_c: int, n_t: int, m_c: float, m_t: float, s_c: float, s_t: float, alpha: float
) -> None:
    assume(abs(m_c) > 1e-3)
    control, treatment = _arm(n_c, m_c, s_c), _arm(n_t, m_t, s_t)
    absolute = welch(control, treatment, alpha=alpha)
    for relative_ci in ("fieller", "delta"):
        lift = welch(control, treatment, alpha=alpha, relative=True, relative_ci=relative_ci)
        assert math.copysign(1.0, lift.estimate) == math.copysign(1.0, absolute.estimate) or lift.estimate == 0.0
        assert lift.estimate == pytest.approx(absolute.estimate / abs(m_c), rel=1e-9, abs=1e-12)
        mirrored = welch(_mirror(control), _mirror(treatment), alpha=alpha, relative=True, relative_ci=relative_ci)
        assert mirrored.estimate == pytest.approx(-lift.estimate, rel=1e-9, abs=1e-12)
        assert mirrored.pvalue == pytest.approx(lift.pvalue, rel=1e-9)
        if math.isfinite(lift.ci_low):
            assert (mirrored.ci_low, mirrored.ci_high) == pytest.approx((-lift.ci_high, -lift.ci_low), rel=1e-7)


@settings(max_examples=300, deadline=None)
@given(n_c=sizes, n_t=sizes, m_c=finite, m_t=finite, s_c=spread, s_t=spread, alpha=alphas)
def test_the_default_lift_interval_agrees_with_the_test_of_the_difference(
    n_c: int, n_t: int, m_c: float, m_t: float, s_c: float, s_t: float, alpha: float
) -> None:
    assume(m_c != 0.0)
    control, treatment = _arm(n_c, m_c, s_c), _arm(n_t, m_t, s_t)
    absolute = welch(control, treatment, alpha=alpha)
    lift = welch(control, treatment, alpha=alpha, relative=True)
    assert lift.pvalue == absolute.pvalue  # one test: Fieller's set excludes 0 exactly when this one rejects
    assume(abs(absolute.pvalue - alpha) > 1e-9)
    if math.isinf(lift.ci_low) or math.isinf(lift.ci_high):
        assert lift.ci_note  # not an interval: said in words, never a silent (−inf, inf)
        return
    excludes_zero = lift.ci_low > 0 or lift.ci_high < 0
    assert excludes_zero == (absolute.pvalue < alpha)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=10_000, max_value=10_000_000),
    x_c=st.integers(min_value=1, max_value=60),
    x_t=st.integers(min_value=0, max_value=60),
    alpha=alphas,
)
def test_rare_events_never_contradict(n: int, x_c: int, x_t: int, alpha: float) -> None:
    control, treatment = Moments.from_counts(x_c, n), Moments.from_counts(x_t, n)
    assume(x_c + x_t > 0)
    absolute = ztest(control, treatment, alpha=alpha)
    lift = ztest(control, treatment, alpha=alpha, relative=True)
    assert lift.pvalue == absolute.pvalue
    if math.isfinite(lift.ci_low) and math.isfinite(lift.ci_high) and abs(absolute.pvalue - alpha) > 1e-9:
        assert (lift.ci_low > 0 or lift.ci_high < 0) == (absolute.pvalue < alpha)


def test_ten_versus_twenty_five_events_in_ten_million() -> None:
    """The side-by-side example: the delta interval [−33%, +333%] contradicted p = 0.011; Fieller's does not."""
    from statsmodels.stats.proportion import test_proportions_2indep

    control, treatment = Moments.from_counts(10, 10_000_000), Moments.from_counts(25, 10_000_000)
    absolute = ztest(control, treatment)
    wald = test_proportions_2indep(25, 10_000_000, 10, 10_000_000, method="wald", compare="diff")
    assert absolute.pvalue == pytest.approx(wald.pvalue, rel=1e-9)  # 0.01123
    fieller = ztest(control, treatment, relative=True)
    assert fieller.pvalue == absolute.pvalue
    assert fieller.ci_low > 0  # at least ... : the lift is positive, as the test says
    delta = ztest(control, treatment, relative=True, relative_ci="delta")
    assert delta.ci_low < 0 < delta.ci_high  # the contradiction the default no longer shows
    assert delta.pvalue > 0.1
    log = ztest(control, treatment, relative=True, relative_ci="log")
    assert log.pvalue == pytest.approx(0.014, abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(n_c=sizes, n_t=sizes, m_c=finite, m_t=finite, s_c=spread, s_t=spread)
def test_chance_to_beat_reads_negative_metrics_like_positive_ones(
    n_c: int, n_t: int, m_c: float, m_t: float, s_c: float, s_t: float
) -> None:
    assume(abs(m_c) > 1e-3)
    assume(abs(m_t - m_c) > 1e-6)
    control, treatment = _arm(n_c, m_c, s_c), _arm(n_t, m_t, s_t)
    lift = chance_to_beat(control, treatment, method="lift")
    normal = chance_to_beat(control, treatment, method="normal")
    assert (lift.chance > 0.5) == (m_t > m_c) == (normal.chance > 0.5)
    mirrored = chance_to_beat(_mirror(control), _mirror(treatment), method="lift")
    assert mirrored.chance == pytest.approx(1.0 - lift.chance, abs=1e-9)


def test_a_clearly_better_treatment_of_a_negative_metric_is_likely_better() -> None:
    """The side-by-side example: profit −10 vs −9 per user, Welch p ≈ 1e-5; 'lift' used to say ~0."""
    control, treatment = _arm(4000, -10.0, 10.0), _arm(4000, -9.0, 10.0)
    assert welch(control, treatment).pvalue < 1e-4
    assert chance_to_beat(control, treatment, method="lift").chance > 0.9999


@settings(max_examples=200, deadline=None)
@given(
    n_c=sizes,
    n_t=sizes,
    m_c=finite,
    m_t=finite,
    s_c=spread,
    s_t=spread,
    margin=st.floats(min_value=0.001, max_value=0.5),
    direction=st.sampled_from(["increase", "decrease"]),
)
def test_noninferiority_of_a_negative_metric_is_the_mirror_of_a_positive_one(
    n_c: int, n_t: int, m_c: float, m_t: float, s_c: float, s_t: float, margin: float, direction: str
) -> None:
    assume(abs(m_c) > 1e-2)
    control, treatment = _arm(n_c, m_c, s_c), _arm(n_t, m_t, s_t)
    flipped = "decrease" if direction == "increase" else "increase"
    ours = noninferiority(control, treatment, margin=margin, direction=direction, relative=True)  # type: ignore[arg-type]
    mirror = noninferiority(
        _mirror(control),
        _mirror(treatment),
        margin=margin,
        direction=flipped,
        relative=True,  # type: ignore[arg-type]
    )
    assert mirror.statistic == pytest.approx(ours.statistic, rel=1e-9, abs=1e-12)
    assert mirror.passed == ours.passed
    assert mirror.estimate == pytest.approx(-ours.estimate, rel=1e-9, abs=1e-12)
    if math.isfinite(ours.bound):
        assert mirror.bound == pytest.approx(-ours.bound, rel=1e-7, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(n_c=sizes, n_t=sizes, m_c=finite, m_t=finite, s_c=spread, s_t=spread, alpha=alphas)
def test_confidence_sequence_and_fixed_lift_share_the_sign(
    n_c: int, n_t: int, m_c: float, m_t: float, s_c: float, s_t: float, alpha: float
) -> None:
    assume(abs(m_c) > 1e-3)
    control, treatment = _arm(n_c, m_c, s_c), _arm(n_t, m_t, s_t)
    sequence = confidence_sequence(control, treatment, relative=True, alpha=alpha)
    assert sequence.estimate == pytest.approx(welch(control, treatment, relative=True).estimate, rel=1e-12, abs=1e-15)
    if sequence.may_stop:  # the sequence excludes 0 on the side of the difference
        assert (sequence.ci_low > 0) == (m_t > m_c)


@settings(max_examples=100, deadline=None)
@given(n_c=sizes, n_t=sizes, m_c=finite, m_t=finite, s_c=spread, s_t=spread, alpha=alphas)
def test_confidence_interval_without_a_level_is_the_calls(
    n_c: int, n_t: int, m_c: float, m_t: float, s_c: float, s_t: float, alpha: float
) -> None:
    assume(m_c != 0.0)
    control, treatment = _arm(n_c, m_c, s_c), _arm(n_t, m_t, s_t)
    for effect in (welch(control, treatment, alpha=alpha), welch(control, treatment, alpha=alpha, relative=True)):
        low, high = effect.confidence_interval()
        assert (low, high) == (effect.ci_low, effect.ci_high)
    assert tuple(welch(control, treatment, alpha=alpha).confidence_interval(0.95)) == pytest.approx(
        (welch(control, treatment).ci_low, welch(control, treatment).ci_high), rel=1e-12
    )


def test_ratio_lift_of_a_negative_ratio_keeps_the_sign() -> None:
    rng = np.random.default_rng(3)
    d = rng.integers(1, 5, size=(2, 500)).astype(float)
    y = -2.0 * d + rng.normal(0.0, 1.0, size=d.shape)
    y[1] += 0.4 * d[1]  # the treatment's ratio is less negative: better when higher is better
    control, treatment = RatioMoments.from_values(y[0], d[0]), RatioMoments.from_values(y[1], d[1])
    absolute = ratio(control, treatment)
    lift = ratio(control, treatment, relative=True)
    assert absolute.estimate > 0
    assert lift.estimate > 0
    assert lift.pvalue == absolute.pvalue
    assert lift.ci_low > 0


counts = st.integers(min_value=0, max_value=400)


@settings(max_examples=200, deadline=None)
@given(n_c=st.integers(min_value=2, max_value=400), n_t=st.integers(min_value=2, max_value=400), data=st.data())
def test_a_comparison_never_stops_the_analysis(n_c: int, n_t: int, data: st.DataObject) -> None:
    """Zero-event arms, constant arms, a control at 0: the absolute test stands or a note says why not."""
    from abnb.experiment import compare
    from abnb.metrics import Metric, Sql

    proportion = data.draw(st.booleans())
    if proportion:
        control = Moments.from_counts(data.draw(st.integers(0, n_c)), n_c)
        treatment = Moments.from_counts(data.draw(st.integers(0, n_t)), n_t)
        metric = Metric(
            "m", Sql("SELECT unit, ts, 1 AS value FROM e"), kind="proportion", margin=0.05, role="guardrail"
        )
    else:
        value = st.sampled_from([0.0, 1.0, -2.0, 3.5])
        control = _arm(n_c, data.draw(value), data.draw(st.sampled_from([0.0, 1.0])) or 1e-300)
        treatment = _arm(n_t, data.draw(value), data.draw(st.sampled_from([0.0, 1.0])) or 1e-300)
        metric = Metric("m", Sql("SELECT unit, ts, value FROM e"), margin=0.05, role="guardrail")
    effect = compare(metric, control, treatment, "c", "t", 0.05, panels=True)
    if math.isnan(effect.absolute.pvalue):
        assert any("No test of the difference" in note for note in effect.notes)
    if math.isnan(effect.relative.estimate) and not math.isnan(effect.absolute.pvalue):
        assert any("no relative lift" in note for note in effect.notes)
    if effect.noninferiority is None:
        assert any("non-inferiority" in note for note in effect.notes)


@settings(max_examples=300, deadline=None)
@given(x_c=counts, x_t=counts, extra_c=counts, extra_t=counts)
def test_score_intervals_stay_in_range(x_c: int, x_t: int, extra_c: int, extra_t: int) -> None:
    from abnb.stats import proportion_difference, wilson

    n_c, n_t = x_c + extra_c, x_t + extra_t
    assume(n_c > 0 and n_t > 0)
    for successes, n in ((x_c, n_c), (x_t, n_t)):
        rate = wilson(successes, n)
        assert 0.0 <= rate.ci_low <= successes / n <= rate.ci_high <= 1.0
    control, treatment = Moments.from_counts(x_c, n_c), Moments.from_counts(x_t, n_t)
    difference = proportion_difference(control, treatment, method="newcombe")  # a score interval: within range
    assert -1.0 <= difference.ci_low <= difference.ci_high <= 1.0
    # Agresti–Caffo is an adjusted Wald interval and, like statsmodels' (0/1 vs 1/1: upper end 1.09), can leave it


def _fieller_edges(m_c: float, var_c: float, m_t: float, var_t: float, q: float) -> list[float]:
    """Lifts at the edges of Fieller's set: real roots of (m_t − R m_c)² − q²(var_t + R² var_c), by numpy."""
    coefficients = [m_c * m_c - q * q * var_c, -2.0 * m_t * m_c, m_t * m_t - q * q * var_t]
    sign = 1.0 if m_c > 0 else -1.0
    return sorted(sign * (float(r.real) - 1.0) for r in np.roots(coefficients) if abs(r.imag) < 1e-12)


@settings(max_examples=300, deadline=None)
@given(
    m_c=finite.filter(lambda v: abs(v) > 1e-6),
    t_c=st.floats(min_value=0.01, max_value=1.95),
    m_t=finite,
    se_t=spread,
    df=st.one_of(st.none(), st.floats(min_value=3.0, max_value=1e4)),
)
def test_a_fieller_set_that_is_not_an_interval_is_described_by_its_true_edges(
    m_c: float, t_c: float, m_t: float, se_t: float, df: float | None
) -> None:
    """Drawn where the control mean is within q standard errors of 0 (|t_c| ≤ 1.95 < q), so the set is never an
    interval; every edge the note prints is a real root found by numpy, and no roots means "undefined"."""
    import re

    from scipy import stats

    from abnb.stats.frequentist import fieller_note

    var_c, var_t = (abs(m_c) / t_c) ** 2, se_t * se_t
    note = fieller_note(m_c, var_c, m_t, var_t, df, 0.95)
    q = float(stats.norm.ppf(0.975) if df is None else stats.t.ppf(0.975, df))
    edges = _fieller_edges(m_c, var_c, m_t, var_t, q)
    printed = [float(v) / 100.0 for v in re.findall(r"([+-]\d+(?:\.\d+)?)%", note.split("(")[0])]
    if not edges:
        assert note.startswith("undefined")
    for value in printed:  # each printed end is an edge of the set, to the note's 0.1-point rounding
        assert min(abs(value - edge) for edge in edges) <= 5e-4 + 1e-9 * abs(value)


def test_the_note_of_an_unbounded_fieller_set_names_its_finite_edge() -> None:
    """0.03 vs 0.01 with SE 0.01 each: the set is R ≥ 0.656 (lift ≥ −34.4%) or R ≤ −2.77 (checked
    by numpy: the roots of (0.03 − 0.01R)² = 1.96²·1e-4(1 + R²))."""
    from abnb.stats.frequentist import fieller_note

    note = fieller_note(0.01, 1e-4, 0.03, 1e-4, None, 0.95)
    edges = _fieller_edges(0.01, 1e-4, 0.03, 1e-4, 1.959963984540054)
    assert note.startswith("not an interval") or note.startswith("at least")
    assert f"{edges[-1]:+.1%}" in note


def test_the_cookbook_and_the_statistics_notes_cite_the_numbers_the_code_gives() -> None:
    """The prose quoted Fieller edges computed by an older, wrong note; it must quote what abnb returns."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cookbook = (root / "notebooks" / "statistics_cookbook.py").read_text(encoding="utf-8")
    notes = (root / "docs" / "statistics.md").read_text(encoding="utf-8")
    rare = ztest(Moments.from_counts(10, 10_000_000), Moments.from_counts(25, 10_000_000), relative=True)
    high = f"+{rare.ci_high:.0%}"  # +587%
    assert f"+{rare.ci_low:.0%} to {high}" in cookbook
    assert f"[+{rare.ci_low:.0%}, {high}]" in notes
    noisy = Moments.from_values([-1.0, 1.2, -0.9, 0.8, 0.1, -0.3])
    better = Moments.from_values([1.0, 2.0, 1.5, 1.7, 2.2, 0.9])
    note = welch(noisy, better, relative=True).ci_note
    assert "-78.8%" in note
    assert "+271.5%" in note
    assert "at most −79% or at\n# least +272%" in cookbook
