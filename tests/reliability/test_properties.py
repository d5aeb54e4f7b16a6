"""Statistical invariants checked with hypothesis (catalogue section ``properties``, ids ``prop01`` ...).

Each test states one property that must hold for *every* input, not just for the hand-picked ones of the unit tests:
swapping the arms negates an effect and keeps its p-value, a change of units (scaling) or of origin (shifting)
changes nothing that should not change, moments merge like the sums they are (and the engine's segment roll-up
agrees), every interval contains its estimate and every probability lies in [0, 1], assignment is deterministic
and uniform, and ramping a flag up never moves a unit out of its treatment. The ``ci`` profile in
``tests/reliability/conftest.py`` keeps the search deterministic and short.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import duckdb
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import abnb
from abnb import assign
from abnb.aggregate import ExposureSource
from abnb.errors import DataError
from abnb.experiment import Experiment
from abnb.flags import Flag
from abnb.metrics import Column, Metric
from abnb.stats import Moments, RatioMoments, chance_to_beat, cuped, ratio, srm, welch, ztest

EPS = np.finfo(np.float64).eps

# ----------------------------------------------------------------------------------------------- strategies
# Magnitudes below 1e-6 are mapped to 0: squares of ~1e-155 underflow, which prop25/prop26 track separately.
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(
    lambda v: 0.0 if abs(v) < 1e-6 else v
)
positive = st.floats(min_value=0.5, max_value=50.0, allow_nan=False, allow_infinity=False)
scales = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


def samples(min_size: int = 2, max_size: int = 40) -> st.SearchStrategy[list[float]]:
    return st.lists(finite, min_size=min_size, max_size=max_size)


@st.composite
def paired(draw: st.DrawFn, min_size: int = 2, max_size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit (value, covariate) pairs with a correlated covariate, as a pre-period measurement is."""
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    x = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    slope = draw(st.floats(min_value=-3.0, max_value=3.0, allow_nan=False))
    noise = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    return slope * x + noise, x


@st.composite
def counts(draw: st.DrawFn) -> Moments:
    n = draw(st.integers(min_value=2, max_value=10**7))
    return Moments.from_counts(draw(st.integers(min_value=0, max_value=n)), n)


def _cond(*arrays: np.ndarray) -> float:
    """Condition number ``1 + mean²/var`` of the raw-sum variance formula (its relative rounding is ~ε·n·κ)."""
    worst = 1.0
    for a in arrays:
        var = float(np.var(a))
        worst = max(worst, math.inf if var == 0.0 else 1.0 + float(np.mean(a)) ** 2 / var)
    return worst


def _well_conditioned(*arrays: np.ndarray, limit: float = 1e6) -> bool:
    """Both arms have a variance well above the rounding noise of ``Σy² − (Σy)²/n``."""
    return _cond(*arrays) < limit


def _close(a: float, b: float, rel: float, scale: float = 0.0) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel * scale)


# ------------------------------------------------------------------------------------- (1) swapping the arms
@given(c=samples(), t=samples())
def test_prop01_swapping_arms_negates_the_welch_effect_and_keeps_p(c: list[float], t: list[float]) -> None:
    mc, mt = Moments.from_values(c), Moments.from_values(t)
    assume(mc.variance + mt.variance > 0.0 and _well_conditioned(np.array(c), np.array(t)))
    ab, ba = welch(mc, mt), welch(mt, mc)
    scale = float(np.abs(c).max() + np.abs(t).max())
    assert ba.estimate == pytest.approx(-ab.estimate, rel=1e-12, abs=1e-12 * scale)
    assert ba.se == pytest.approx(ab.se, rel=1e-12)
    assert ba.ci_low == pytest.approx(-ab.ci_high, rel=1e-12, abs=1e-12 * ab.se)
    assert ba.ci_high == pytest.approx(-ab.ci_low, rel=1e-12, abs=1e-12 * ab.se)
    assert ba.pvalue == pytest.approx(ab.pvalue, rel=1e-12)
    assert ba.df == pytest.approx(ab.df, rel=1e-12)


@given(c=counts(), t=counts(), pooled=st.booleans(), continuity=st.booleans())
def test_prop02_swapping_arms_negates_the_ztest_effect_and_keeps_p(
    c: Moments, t: Moments, pooled: bool, continuity: bool
) -> None:
    assume(c.variance + t.variance > 0.0)
    ab = ztest(c, t, pooled=pooled, continuity=continuity)
    ba = ztest(t, c, pooled=pooled, continuity=continuity)
    assert ba.estimate == pytest.approx(-ab.estimate, rel=1e-12, abs=1e-15)
    assert ba.ci_low == pytest.approx(-ab.ci_high, rel=1e-12, abs=1e-12 * ab.se)
    assert ba.ci_high == pytest.approx(-ab.ci_low, rel=1e-12, abs=1e-12 * ab.se)
    assert ba.pvalue == pytest.approx(ab.pvalue, rel=1e-9)


@given(c=paired(), t=paired())
def test_prop03_swapping_arms_negates_the_cuped_effect_and_keeps_p(
    c: tuple[np.ndarray, np.ndarray], t: tuple[np.ndarray, np.ndarray]
) -> None:
    (yc, xc), (yt, xt) = c, t
    assume(_well_conditioned(yc, yt, xc, xt, np.concatenate([xc, xt])))
    mc, mt = Moments.from_values(yc, covariate=xc), Moments.from_values(yt, covariate=xt)
    try:
        ab = cuped(mc, mt)
    except DataError:  # y an exact linear function of x: documented
        assume(False)
    # near-degenerate fits (adjusted variance below 1e-6 of the raw one) are mostly rounding: prop04's rule too
    assume(ab.variance_reduction < 1.0 - 1e-6)
    ba = cuped(mt, mc)
    assert ba.theta == pytest.approx(ab.theta, rel=1e-9, abs=1e-12)
    assert ba.estimate == pytest.approx(-ab.estimate, rel=1e-9, abs=1e-9 * ab.se)
    assert ba.ci_low == pytest.approx(-ab.ci_high, rel=1e-9, abs=1e-9 * ab.se)
    assert ba.pvalue == pytest.approx(ab.pvalue, rel=1e-6, abs=1e-12)


# ------------------------------------------------------------------------------- (2) scaling and shifting
@given(c=samples(), t=samples(), k=scales)
def test_prop04_scaling_values_scales_effects_and_keeps_p(c: list[float], t: list[float], k: float) -> None:
    yc, yt = np.array(c), np.array(t)
    assume(_well_conditioned(yc, yt) and abs(float(np.mean(yc))) > 1e-3 * (1.0 + float(np.std(yc))))
    base = welch(Moments.from_values(yc), Moments.from_values(yt))
    scaled = welch(Moments.from_values(k * yc), Moments.from_values(k * yt))
    rel = 1e-12 * _cond(yc, yt) * 50
    for field in ("estimate", "se", "ci_low", "ci_high"):
        assert _close(getattr(scaled, field), k * getattr(base, field), rel, k * base.se), field
    assert _close(scaled.statistic, base.statistic, rel, 1.0)
    assert _close(scaled.pvalue, base.pvalue, rel * (1.0 + base.statistic**2), 1e-300)
    lift, lift_scaled = (
        welch(Moments.from_values(yc), Moments.from_values(yt), relative=True),
        welch(Moments.from_values(k * yc), Moments.from_values(k * yt), relative=True),
    )
    assert _close(lift_scaled.estimate, lift.estimate, 1e-9, lift.se)
    assert _close(lift_scaled.pvalue, lift.pvalue, 1e-6, 1e-300)


@given(c=paired(min_size=3), t=paired(min_size=3), k=scales)
def test_prop05_scaling_values_scales_cuped_and_keeps_p(
    c: tuple[np.ndarray, np.ndarray], t: tuple[np.ndarray, np.ndarray], k: float
) -> None:
    (yc, xc), (yt, xt) = c, t
    assume(_well_conditioned(yc, yt, xc, xt))
    try:
        base = cuped(Moments.from_values(yc, covariate=xc), Moments.from_values(yt, covariate=xt))
    except DataError:
        assume(False)
    # an adjusted variance that is 1e-6 of the raw one is mostly cancellation: outside the property's scope
    assume(base.variance_reduction < 1.0 - 1e-6)
    scaled = cuped(Moments.from_values(k * yc, covariate=xc), Moments.from_values(k * yt, covariate=xt))
    assert scaled.theta == pytest.approx(k * base.theta, rel=1e-7, abs=1e-9 * k)
    assert scaled.estimate == pytest.approx(k * base.estimate, rel=1e-7, abs=1e-7 * k * base.se)
    assert scaled.se == pytest.approx(k * base.se, rel=1e-7)
    assert scaled.pvalue == pytest.approx(base.pvalue, rel=1e-5, abs=1e-300)


@given(c=samples(), t=samples(), a=finite, b=finite)
def test_prop06_shifting_moments_changes_no_statistic(c: list[float], t: list[float], a: float, b: float) -> None:
    yc, yt = np.array(c), np.array(t)
    mc, mt = Moments.from_values(yc), Moments.from_values(yt)
    assume(_well_conditioned(yc, yt, limit=1e4))
    # shifting by any origin within the data's range keeps every statistic (the algebra is exact; only rounding)
    sc, st_ = mc.shifted(a), mt.shifted(b)
    assert sc.n == mc.n
    scale = float(max(np.abs(yc).max(), np.abs(yt).max(), abs(a), abs(b), 1.0))
    assert sc.mean == pytest.approx(mc.mean, rel=1e-12, abs=1e-12 * scale)
    tol = 1e-9 * (1.0 + scale**2 / max(min(float(np.var(yc)), float(np.var(yt))), 1e-300))
    # an origin ~1e3 spreads away costs ~6 of the 16 digits of Σ(y − c)²; past that the rounding is the story
    assume(tol <= 1e-6)
    assert sc.variance == pytest.approx(mc.variance, rel=tol, abs=1e-300)
    base, moved = welch(mc, mt), welch(sc, st_)
    assert moved.estimate == pytest.approx(base.estimate, rel=1e-9, abs=1e-9 * scale)
    assert moved.se == pytest.approx(base.se, rel=1e-6)
    assert moved.pvalue == pytest.approx(base.pvalue, rel=1e-4, abs=1e-12)
    # shifting back recovers the raw sums
    back, raw = sc.shifted(0.0), mc.shifted(0.0)
    assert back.sum == pytest.approx(raw.sum, rel=1e-9, abs=1e-9 * scale * mc.n)
    assert back.sum_sq == pytest.approx(raw.sum_sq, rel=1e-9, abs=1e-9 * scale**2 * mc.n)
    assert raw.sum == pytest.approx(float(np.sum(yc)), rel=1e-12, abs=1e-12 * scale * mc.n)


# ------------------------------------------------------------------------------------ (3) merging moments
def _assert_same_sums(
    a: Moments, b: Moments, values: np.ndarray, covariate: np.ndarray | None = None, shifts: float = 0.0
) -> None:
    """``a`` and ``b`` hold the same sums: compared around ``a``'s shifts, to 1e-9 of ``n·M`` (``n·M²`` for squares),
    ``M`` the largest magnitude of a value or a shift involved (the shift algebra rounds at that scale)."""
    b = b.shifted(a.shift, a.x_shift)
    n = values.size
    assert a.n == b.n == n
    big = max(float(np.abs(values).max(initial=0.0)), abs(a.shift), abs(b.shift), shifts, 1e-300)
    if covariate is not None:
        big = max(big, float(np.abs(covariate).max(initial=0.0)), abs(a.x_shift), abs(b.x_shift))
    assert a.sum == pytest.approx(b.sum, rel=1e-9, abs=1e-9 * n * big)
    assert a.sum_sq == pytest.approx(b.sum_sq, rel=1e-9, abs=1e-9 * n * big**2)
    assert a.sum == pytest.approx(float(np.sum(values - a.shift)), rel=1e-9, abs=1e-9 * n * big)
    if covariate is not None:
        assert a.x_sum is not None
        assert b.x_sum is not None
        assert a.x_sum == pytest.approx(b.x_sum, rel=1e-9, abs=1e-9 * n * big)
        assert a.x_sum_sq == pytest.approx(b.x_sum_sq, rel=1e-9, abs=1e-9 * n * big**2)
        assert a.xy_sum == pytest.approx(b.xy_sum, rel=1e-9, abs=1e-9 * n * big**2)
        y, x = values - a.shift, covariate - a.x_shift
        assert a.xy_sum == pytest.approx(float(np.dot(x, y)), rel=1e-9, abs=1e-9 * n * big**2)


@given(
    parts=st.lists(paired(min_size=1, max_size=15), min_size=3, max_size=3),
    shifts=st.lists(st.tuples(finite, finite), min_size=3, max_size=3),
)
def test_prop07_moments_merge_is_associative_and_commutative(
    parts: list[tuple[np.ndarray, np.ndarray]], shifts: list[tuple[float, float]]
) -> None:
    a, b, c = (
        Moments.from_values(y, covariate=x).shifted(s, sx) for (y, x), (s, sx) in zip(parts, shifts, strict=True)
    )
    values = np.concatenate([y for y, _ in parts])
    covariate = np.concatenate([x for _, x in parts])
    direct = Moments.from_values(values, covariate=covariate)
    left, right = (a + b) + c, a + (b + c)
    assert left.shift == a.shift  # the merge keeps the left operand's origin
    # a merge re-centres each part on the left operand's shift: it rounds at the scale of every part's shift
    moved = max(abs(v) for pair in shifts for v in pair)
    _assert_same_sums(left, right, values, covariate, shifts=moved)
    _assert_same_sums(left, direct, values, covariate, shifts=moved)
    _assert_same_sums(c + b + a, direct, values, covariate, shifts=moved)
    _assert_same_sums(sum([b, c, a]), direct, values, covariate, shifts=moved)  # type: ignore[arg-type]
    for name in ("mean", "x_mean"):
        expected = float(np.mean(values if name == "mean" else covariate))
        scale = float(np.abs(values).max() + np.abs(covariate).max() + 1.0)
        assert getattr(left, name) == pytest.approx(expected, rel=1e-9, abs=1e-9 * scale)


@given(parts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 10**6)), min_size=1, max_size=6))
def test_prop08_proportion_moments_merge_to_the_pooled_counts(parts: list[tuple[int, int]]) -> None:
    moments = [Moments.from_counts(min(s, n), n) for s, n in parts]
    total = sum(moments[1:], moments[0])
    assert total.proportion
    assert total.n == sum(n for _, n in parts)
    assert total.sum == sum(min(s, n) for s, n in parts)  # whole numbers below 2**53 add exactly
    assert total == Moments.from_counts(int(total.sum), total.n)


@st.composite
def unit_tables(draw: st.DrawFn) -> list[tuple[int, str, str | None, float, float, int]]:
    n = draw(st.integers(min_value=4, max_value=60))
    rows = []
    for i in range(n):
        arm = "control" if i % 2 == 0 else "treatment"  # both arms always present
        segment = draw(st.sampled_from(["US", "DE", "FR", "ünï", None]))
        y = draw(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_subnormal=False)) + i  # not constant
        x = draw(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_subnormal=False))
        converted = i // 2 % 2 if i < 4 else draw(st.integers(0, 1))  # both outcomes in both arms
        rows.append((i, arm, segment, y, x, converted))
    return rows


@settings(max_examples=25)
@given(rows=unit_tables())
def test_prop09_engine_segment_moments_roll_up_to_the_overall(
    rows: list[tuple[int, str, str | None, float, float, int]],
) -> None:
    raw = duckdb.connect()
    raw.execute("CREATE TABLE t (unit INTEGER, arm VARCHAR, seg VARCHAR, y DOUBLE, x DOUBLE, c INTEGER)")
    raw.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", rows)
    metrics = (
        Metric("y", Column("y", covariate="x")),
        Metric("c", Column("c"), kind="proportion"),
    )
    source = ExposureSource(table="t", ts=None, experiment_column=None, level="unit")
    spec = Experiment(name="rollup", metrics=metrics, exposures=source, segments=("seg",))
    with abnb.engine.as_connection(raw) as con:
        result = spec.analyze(con, as_of="2026-10-05")
    levels = {key: cell for key, cell in result.segments.items() if key[0] == "seg"}
    assert levels, "the analysis returned no segment breakdown"
    for metric in ("y", "c"):
        for arm in ("control", "treatment"):
            overall = result.overall[metric][arm]
            parts = [cell[metric][arm] for cell in levels.values() if arm in cell.get(metric, {})]
            assert all(isinstance(p, Moments) for p in parts)
            rolled = sum(parts[1:], parts[0])  # type: ignore[arg-type]
            assert isinstance(overall, Moments)
            assert isinstance(rolled, Moments)
            arm_rows = [r for r in rows if r[1] == arm]
            values = np.array([r[3] if metric == "y" else r[5] for r in arm_rows], dtype=float)
            covariate = np.array([r[4] for r in arm_rows], dtype=float) if metric == "y" else None
            _assert_same_sums(overall, rolled, values, covariate)
            direct = Moments.from_values(values, covariate=covariate)
            _assert_same_sums(overall, direct, values, covariate)
            assert overall.n == sum(p.n for p in parts)  # every unit sits in exactly one level (NULL included)


# ------------------------------------------------------------------------ (4) CIs contain, p lies in [0, 1]
def _check_effect(effect: abnb.stats.Effect) -> None:
    assert 0.0 <= effect.pvalue <= 1.0
    assert effect.ci_low <= effect.estimate <= effect.ci_high
    assert effect.se >= 0.0
    assert all(math.isfinite(v) for v in (effect.estimate, effect.pvalue))
    # an interval may be unbounded (a log-ratio CI at alpha 1e-6 with 2 units per arm reaches beyond e^709)
    assert not math.isnan(effect.ci_low)
    assert not math.isnan(effect.ci_high)


@given(c=samples(), t=samples(), alpha=st.floats(1e-6, 0.5), relative_ci=st.sampled_from(["delta", "log", "fieller"]))
def test_prop10_welch_ci_contains_the_estimate_and_p_in_0_1(
    c: list[float], t: list[float], alpha: float, relative_ci: str
) -> None:
    mc, mt = Moments.from_values(c), Moments.from_values(t)
    assume(mc.variance + mt.variance > 0.0)
    _check_effect(welch(mc, mt, alpha=alpha))
    try:
        lift = welch(mc, mt, alpha=alpha, relative=True, relative_ci=relative_ci)  # type: ignore[arg-type]
    except DataError:
        return  # a documented, clear refusal (control mean 0, opposite signs for log, unbounded Fieller)
    _check_effect(lift)


@given(c=counts(), t=counts(), pooled=st.booleans(), continuity=st.booleans(), relative=st.booleans())
def test_prop11_ztest_ci_contains_the_estimate_and_p_in_0_1(
    c: Moments, t: Moments, pooled: bool, continuity: bool, relative: bool
) -> None:
    assume(c.variance + t.variance > 0.0)
    try:
        effect = ztest(c, t, pooled=pooled, continuity=continuity, relative=relative)
    except DataError:
        assume(not relative)  # a control rate of 0 has no lift: documented
        return
    _check_effect(effect)


@given(c=paired(min_size=3), t=paired(min_size=3), relative=st.booleans())
def test_prop12_cuped_ci_contains_the_estimate_and_p_in_0_1(
    c: tuple[np.ndarray, np.ndarray], t: tuple[np.ndarray, np.ndarray], relative: bool
) -> None:
    (yc, xc), (yt, xt) = c, t
    try:
        effect = cuped(Moments.from_values(yc, covariate=xc), Moments.from_values(yt, covariate=xt), relative=relative)
    except DataError:
        return
    _check_effect(effect)
    assert effect.variance_reduction <= 1.0


@given(
    c=st.tuples(samples(min_size=3), samples(min_size=3)),
    t=st.tuples(samples(min_size=3), samples(min_size=3)),
    relative=st.booleans(),
)
def test_prop13_ratio_ci_contains_the_estimate_and_p_in_0_1(
    c: tuple[list[float], list[float]], t: tuple[list[float], list[float]], relative: bool
) -> None:
    def arm(pair: tuple[list[float], list[float]]) -> RatioMoments:
        y, d = pair
        size = min(len(y), len(d))
        return RatioMoments.from_values(y[:size], np.abs(d[:size]) + 1.0)  # denominators are counts >= 1

    try:
        effect = ratio(arm(c), arm(t), relative=relative)
    except DataError:
        return
    _check_effect(effect)


@given(c=counts(), t=counts(), alpha=st.floats(0.001, 0.5))
def test_prop14_beta_posterior_is_a_probability_and_its_interval_contains_the_mean(
    c: Moments, t: Moments, alpha: float
) -> None:
    assume(c.n <= 10**5 and t.n <= 10**5)  # quadrature cost; the closed forms are tested elsewhere
    result = chance_to_beat(c, t, method="beta", alpha=alpha)
    assert 0.0 <= result.chance <= 1.0  # clipped (prop27)
    assert result.expected_loss >= 0.0
    assert result.expected_loss_control >= 0.0
    assert result.ci_low <= result.estimate <= result.ci_high
    assert result.ci_low >= -1.0
    assert result.ci_high <= 1.0


@given(c=samples(min_size=3), t=samples(min_size=3), method=st.sampled_from(["normal", "lift"]))
def test_prop15_normal_posterior_is_a_probability_and_its_interval_contains_the_mean(
    c: list[float], t: list[float], method: str
) -> None:
    try:
        result = chance_to_beat(Moments.from_values(c), Moments.from_values(t), method=method)  # type: ignore[arg-type]
    except DataError:
        return
    assert 0.0 <= result.chance <= 1.0
    assert result.ci_low <= result.estimate <= result.ci_high
    assert min(result.expected_loss, result.expected_loss_control) >= 0.0


@given(counts_=st.lists(st.integers(0, 10**9), min_size=2, max_size=8), data=st.data())
def test_prop16_srm_pvalue_lies_in_0_1(counts_: list[int], data: st.DataObject) -> None:
    assume(sum(counts_) > 0)
    weights = data.draw(st.lists(st.floats(1e-3, 1e3), min_size=len(counts_), max_size=len(counts_)))
    result = srm(counts_, weights)
    assert 0.0 <= result.pvalue <= 1.0
    reference = sps.chisquare(counts_, np.array(result.expected))
    assert result.pvalue == pytest.approx(float(reference.pvalue), rel=1e-9, abs=1e-300)


# ------------------------------------------------------------------------------------- (5) assignment
units = st.one_of(st.integers(), st.text(max_size=30), st.tuples(st.integers(), st.text(max_size=10)))
salts = st.text(min_size=1, max_size=30)


@given(unit=units, salt=salts, k=st.integers(1, 10))
def test_prop17_assignment_is_deterministic(unit: object, salt: str, k: int) -> None:
    choices = [f"arm{i}" for i in range(k)]
    weights = [float(i + 1) for i in range(k)]
    first = (
        assign.uniform_choice(choices, unit=unit, salt=salt),
        assign.weighted_choice(choices, weights, unit=unit, salt=salt),
        assign.bernoulli_trial(0.3, unit=unit, salt=salt),
        assign.uniform(unit, salt),
    )
    again = (
        assign.uniform_choice(list(choices), unit=unit, salt=str(salt)),
        assign.weighted_choice(tuple(choices), weights, unit=unit, salt=salt),
        assign.bernoulli_trial(0.3, unit=unit, salt=salt),
        assign.uniform(unit, salt),
    )
    assert first == again
    assert 0.0 <= first[3] <= 1.0
    assert assign.uniform_many([unit], salt)[0] == first[3]
    # PlanOut's definition, computed independently
    import hashlib

    text = ".".join(map(str, unit)) if isinstance(unit, tuple) else str(unit)
    expected = int(hashlib.sha1(f"{salt}.{text}".encode()).hexdigest()[:15], 16)
    assert assign.hash_unit(unit, salt) == expected
    assert first[0] == choices[expected % k]


N_UNITS = 100_000


def _chi2_pvalue(observed: Sequence[int], shares: Sequence[float]) -> float:
    expected = np.asarray(shares, dtype=float) / float(np.sum(shares)) * float(np.sum(observed))
    return float(sps.chisquare(np.asarray(observed, dtype=float), expected).pvalue)


@pytest.mark.parametrize(("salt", "k"), [("exp.arm", 2), ("checkout_redesign.arm", 3), ("layer7.button", 5)])
def test_prop18_uniform_choice_is_uniform_over_100k_units(salt: str, k: int) -> None:
    choices = list(range(k))
    picks = [assign.uniform_choice(choices, unit=f"u-{i}", salt=salt) for i in range(N_UNITS)]
    observed = np.bincount(picks, minlength=k)
    p = _chi2_pvalue(observed.tolist(), [1.0] * k)
    assert p > 1e-4, (observed, p)
    assert srm(observed.tolist()).pvalue == pytest.approx(p, rel=1e-9)
    assert np.abs(observed / N_UNITS - 1.0 / k).max() < 0.01


@pytest.mark.parametrize(
    ("salt", "weights"), [("exp.weighted", (0.1, 0.3, 0.6)), ("exp.ramp", (1.0, 1.0, 2.0)), ("e.w", (0.05, 0.95))]
)
def test_prop19_weighted_choice_matches_its_weights_over_100k_units(salt: str, weights: tuple[float, ...]) -> None:
    choices = list(range(len(weights)))
    picks = [assign.weighted_choice(choices, list(weights), unit=i, salt=salt) for i in range(N_UNITS)]
    observed = np.bincount(picks, minlength=len(weights))
    p = _chi2_pvalue(observed.tolist(), weights)
    assert p > 1e-4, (observed, p)
    shares = np.asarray(weights) / sum(weights)
    assert np.abs(observed / N_UNITS - shares).max() < 0.01


def test_prop20_uniform_draws_are_uniform_over_100k_units() -> None:
    draws = assign.uniform_many([f"user{i}" for i in range(N_UNITS)], "exp.u")
    ks = sps.kstest(draws, "uniform")
    assert ks.pvalue > 1e-4
    observed = np.histogram(draws, bins=20, range=(0.0, 1.0))[0]
    assert _chi2_pvalue(observed.tolist(), [1.0] * 20) > 1e-4


# ------------------------------------------------------------------------------------- (6) flag ramps
def _ramp_flag(on: float, allocation: float = 100.0, treatments: tuple[str, ...] = ("on", "off")) -> Flag:
    split = {"on": on, treatments[1]: 100.0 - on}
    return Flag.from_dict(
        {
            "key": "ramp",
            "treatments": list(treatments),
            "default": treatments[-1],
            "default_rule": {"split": split, "allocation": allocation},
        }
    )


percent = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@given(user=st.one_of(st.integers(), st.text(max_size=20)), p=percent, q=percent)
def test_prop21_a_unit_on_at_p_stays_on_at_every_higher_p(user: object, p: float, q: float) -> None:
    low, high = min(p, q), max(p, q)
    if _ramp_flag(low).evaluate(user).treatment == "on":
        assert _ramp_flag(high).evaluate(user).treatment == "on"
    if _ramp_flag(high).evaluate(user).treatment != "on":
        assert _ramp_flag(low).evaluate(user).treatment != "on"
    # the traffic allocation ramps the same way, independently of the split
    if _ramp_flag(50.0, allocation=low).evaluate(user).reason != "not_allocated":
        assert _ramp_flag(50.0, allocation=high).evaluate(user).reason != "not_allocated"
    if assign.bernoulli_trial(low / 100.0, unit=user, salt="ramp") == 1:
        assert assign.bernoulli_trial(high / 100.0, unit=user, salt="ramp") == 1


@given(p=percent, q=percent)
def test_prop22_three_treatment_ramp_only_adds_to_on(p: float, q: float) -> None:
    low, high = min(p, q), max(p, q)

    def flag(on: float) -> Flag:
        rest = 100.0 - on
        return Flag.from_dict(
            {
                "key": "ramp3",
                "treatments": ["off", "on", "beta"],  # "on" is moved first whatever the order
                "default": "off",
                "default_rule": {"split": {"off": rest / 2.0, "on": on, "beta": rest / 2.0}},
            }
        )

    lo, hi = flag(low), flag(high)
    for i in range(200):
        if lo.evaluate(i).treatment == "on":
            assert hi.evaluate(i).treatment == "on", (i, low, high)


RAMP = (0.0, 1.0, 5.0, 10.0, 25.0, 33.3, 50.0, 75.0, 99.0, 100.0)


def test_prop23_exposure_share_is_non_decreasing_along_the_ramp() -> None:
    users = [f"u-{i}" for i in range(20_000)]
    on_sets = []
    for p in RAMP:
        flag = _ramp_flag(p)
        on_sets.append({u for u in users if flag.evaluate(u).treatment == "on"})
    shares = [len(s) / len(users) for s in on_sets]
    assert shares == sorted(shares)
    assert shares[0] == 0.0
    assert shares[-1] == 1.0
    for before, after in itertools.pairwise(on_sets):
        assert before <= after  # nobody leaves "on" when the ramp goes up
    for p, share in zip(RAMP, shares, strict=True):
        # binomial 5-sigma band around the planned share
        sd = math.sqrt(max(p / 100.0 * (1.0 - p / 100.0), 1e-12) / len(users))
        assert abs(share - p / 100.0) <= 5.0 * sd + 1e-12, (p, share)


# ------------------------------------------------------------------------------ minimised findings (regressions)
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, on [0.1] * 7
@given(value=finite, n=st.integers(2, 200), other=finite)
def test_prop24_constant_arms_have_exactly_zero_variance(value: float, n: int, other: float) -> None:
    """Found by hypothesis: ``[0.1] * 7`` had variance 2.3e-18 (rounding of ``Σy² − (Σy)²/n``), so welch on two
    constant arms returned p = 3.8e-50 instead of the zero-variance DataError. Fixed: from_values sums around the
    first value (as the engine does), so constant values give exactly 0."""
    a, b = Moments.from_values([value] * n), Moments.from_values([other] * n)
    assert a.variance == 0.0
    assert a.mean == value
    with pytest.raises(DataError, match="zero variance"):
        welch(a, b)
    with pytest.raises(DataError, match="zero variance"):
        ztest(a, b)
    assert welch(Moments.from_values([0.1] * 7), Moments.from_values([0.1] * 6 + [0.2])).pvalue == pytest.approx(
        float(sps.ttest_ind([0.1] * 6 + [0.2], [0.1] * 7, equal_var=False).pvalue), rel=1e-9
    )


def test_prop25_welch_with_tiny_values_gives_a_number() -> None:
    c, t = Moments.from_values([0.0, 1.954243290975553e-155]), Moments.from_values([0.0, 1.954243290975553e-155])
    effect = welch(c, t)
    reference = sps.ttest_ind([0.0, 1.954243290975553e-155], [0.0, 1.954243290975553e-155], equal_var=False)
    assert effect.pvalue == pytest.approx(float(reference.pvalue))


def test_prop26_relative_lift_with_a_tiny_control_mean_is_a_clear_error() -> None:
    c = RatioMoments.from_values([0.0, 0.0, 1.3355739754869053e-215], [1.0, 1.0, 1.0])
    t = RatioMoments.from_values([0.0, 0.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(DataError, match="not representable"):  # the delta SE overflows: a clear error, not NaN
        ratio(c, t, relative=True, relative_ci="delta")
    fieller = ratio(c, t, relative=True)  # the default: Fieller's set, which is not an interval here, said so
    assert (fieller.ci_low, fieller.ci_high) == (-math.inf, math.inf)
    assert "not distinguishable from 0" in fieller.ci_note
    assert fieller.pvalue == ratio(c, t).pvalue
    # a control mean of 7.9e-129 still gives a representable (huge) lift: the numbers, not a ZeroDivisionError
    control, treatment = Moments.from_values([0.0, 1.572412362341202e-128]), Moments.from_values([0.0, 1.0])
    effect = welch(control, treatment, relative=True)
    assert effect.estimate == pytest.approx(0.5 / 7.86206181170601e-129 - 1.0, rel=1e-12)
    assert effect.ci_low < effect.estimate < effect.ci_high
    assert 0.0 <= effect.pvalue <= 1.0


def test_prop27_beta_chance_to_beat_is_at_most_1() -> None:
    result = chance_to_beat(Moments.from_counts(0, 414), Moments.from_counts(6, 6), method="beta")
    assert 0.0 <= result.chance <= 1.0


@given(values=samples(min_size=1, max_size=5), covariate_shift=finite, shift=finite)
def test_prop28_shifting_far_away_keeps_moments_consistent(
    values: list[float], covariate_shift: float, shift: float
) -> None:
    """Found by hypothesis (prop07): ``shifted()`` by ~1e3 around a spread of ~0.06 rounded ``x_sum_sq`` to just
    below ``x_sum²/n``, and the new consistency check raised ParameterError on valid data. Fixed: ``shifted()``
    keeps the new sum of squares at or above ``(new sum)²/n``, which the exact algebra guarantees."""
    m = Moments.from_values(values, covariate=[v / 16.0 for v in values])
    moved = m.shifted(shift, covariate_shift)
    assert moved.sum_sq >= moved.sum**2 / moved.n
    assert moved.x_sum_sq is not None
    assert moved.x_sum is not None
    assert moved.x_sum_sq >= moved.x_sum**2 / moved.n
    assert moved.mean == pytest.approx(float(np.mean(values)), rel=1e-9, abs=1e-9 * (abs(shift) + 1e3))


def test_prop29_log_ratio_interval_beyond_the_double_range_is_unbounded_not_an_overflow() -> None:
    """Found by prop10 under the longer `dev` profile: 2 units per arm at alpha 1e-6 put exp(upper) past e^709."""
    control, treatment = Moments.from_values([0.0, 1.0]), Moments.from_values([0.0, 1.0])
    lift = welch(control, treatment, alpha=1e-6, relative=True, relative_ci="log")
    assert lift.estimate == 0.0
    assert lift.ci_low == pytest.approx(-1.0)
    assert lift.ci_high == math.inf
    assert lift.pvalue == pytest.approx(1.0)
