"""Score-type intervals for rates, checked against statsmodels, published values and the score tests they invert."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from statsmodels.stats import proportion as smp
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from abnb.errors import DataError, ParameterError
from abnb.stats import Moments, ztest
from abnb.stats.proportions import proportion_difference, proportion_ratio, wilson

TOL = 1e-9  # every comparison with statsmodels below holds to this (the brief asks for 1e-6)

# small n, 0 successes, n successes, the hostile 1 of 2 vs 2 of 2, and a few moderate counts: (x_c, n_c, x_t, n_t)
SIZES = (1, 2, 3, 5, 10, 37)
PAIRS = [
    (x_c, n_c, x_t, n_t)
    for n_c in SIZES
    for n_t in SIZES
    for x_c in sorted({0, 1, n_c // 2, n_c - 1, n_c})
    for x_t in sorted({0, 1, n_t // 2, n_t - 1, n_t})
    if x_c >= 0 and x_t >= 0
] + [(48, 80, 56, 70), (120, 10_000, 151, 10_000), (3, 1000, 0, 1200), (999, 1000, 1000, 1000)]
LEVELS = (0.05, 0.1, 0.01)


def _sm(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(float(v) for v in func(*args, **kwargs))


def _close(ours: tuple[float, ...], theirs: tuple[float, ...], tol: float = TOL) -> bool:
    return all(
        (math.isinf(a) and a == b) or math.isclose(a, b, rel_tol=tol, abs_tol=tol)
        for a, b in zip(ours, theirs, strict=True)
    )


def _arms(x_c: int, n_c: int, x_t: int, n_t: int) -> tuple[Moments, Moments]:
    return Moments.from_counts(x_c, n_c), Moments.from_counts(x_t, n_t)


# ------------------------------------------------------------------------------------------------------
# one rate


@pytest.mark.parametrize("alpha", LEVELS)
def test_wilson_matches_statsmodels(alpha: float) -> None:
    for n in (*SIZES, 1000):
        for x in range(n + 1) if n < 100 else (0, 1, 17, 500, 999, 1000):
            res = wilson(x, n, alpha=alpha)
            expected = _sm(proportion_confint, x, n, alpha=alpha, method="wilson")
            assert _close((res.ci_low, res.ci_high), expected), (x, n)
            assert 0.0 <= res.ci_low <= res.estimate <= res.ci_high <= 1.0


def test_wilson_published_values() -> None:
    # R. G. Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat. Med. 17, 857-872,
    # Table I, method 3 (score interval without continuity correction), to the 4 decimals printed there.
    for (x, n), (low, high) in {
        (81, 263): (0.2553, 0.3662),
        (15, 148): (0.0624, 0.1605),
        (0, 20): (0.0, 0.1611),
        (1, 29): (0.0061, 0.1718),
    }.items():
        res = wilson(x, n)
        assert (round(res.ci_low, 4), round(res.ci_high, 4)) == (low, high)


def test_wilson_result_object() -> None:
    res = wilson(3, 10, alpha=0.1)
    assert tuple(res.confidence_interval()) == (res.ci_low, res.ci_high)
    other = wilson(3, 10, alpha=0.05)
    assert tuple(res.confidence_interval(0.95)) == pytest.approx((other.ci_low, other.ci_high), abs=1e-15)
    frame = res.to_frame()
    assert list(frame.columns) == ["estimate", "ci_low", "ci_high", "alpha", "method", "successes", "n"]
    assert "Wilson" in res._repr_html_()
    assert res._repr_html_().startswith("<table")
    assert repr(res).startswith("ProportionInterval(estimate=0.3")
    with pytest.raises(ParameterError, match="confidence_level"):
        res.confidence_interval(1.5)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((3, 0), {}, "n must be >= 1"),
        ((11, 10), {}, "successes must lie"),
        ((-1, 10), {}, "successes must lie"),
        ((2.5, 10), {}, "successes must be a whole number"),
        ((True, 10), {}, "successes"),
        ((3, 10), {"alpha": 0.0}, "alpha"),
    ],
)
def test_wilson_validation(args: tuple[object, object], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        wilson(*args, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------
# difference


@pytest.mark.parametrize("alpha", LEVELS)
@pytest.mark.parametrize(("method", "sm_method"), [("newcombe", "newcomb"), ("agresti-caffo", "agresti-caffo"),
                                                   ("wald", "wald")])  # fmt: skip
def test_difference_matches_statsmodels(method: str, sm_method: str, alpha: float) -> None:
    for x_c, n_c, x_t, n_t in PAIRS:
        res = proportion_difference(*_arms(x_c, n_c, x_t, n_t), alpha=alpha, method=method)  # type: ignore[arg-type]
        # statsmodels' first sample is the treatment: its interval is for p1 − p2 = p_t − p_c
        expected = _sm(confint_proportions_2indep, x_t, n_t, x_c, n_c, method=sm_method, compare="diff", alpha=alpha)
        assert _close((res.ci_low, res.ci_high), expected), (x_c, n_c, x_t, n_t)
        assert res.estimate == pytest.approx(x_t / n_t - x_c / n_c, abs=1e-15)
        if method == "newcombe":
            assert -1.0 <= res.ci_low <= res.estimate <= res.ci_high <= 1.0


def test_newcombe_published_values() -> None:
    # R. G. Newcombe (1998), "Interval estimation for the difference between independent proportions: comparison of
    # eleven methods", Stat. Med. 17, 873-890, Table II, method 10, examples (a)-(h) as printed (4 decimals).
    for (x_t, n_t, x_c, n_c), (low, high) in {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
        (6, 7, 2, 7): (0.0582, 0.8062),
        (5, 56, 0, 29): (-0.0381, 0.1926),
        (0, 10, 0, 20): (-0.1611, 0.2775),
        (10, 10, 0, 20): (0.6791, 1.0),
    }.items():
        res = proportion_difference(*_arms(x_c, n_c, x_t, n_t))
        assert (round(res.ci_low, 4), round(res.ci_high, 4)) == (low, high)


def test_hostile_case_one_of_two_vs_two_of_two() -> None:
    control, treatment = _arms(1, 2, 2, 2)
    wald = proportion_difference(control, treatment, method="wald")
    assert wald.ci_high == pytest.approx(1.192951912174839, abs=1e-12)  # a difference of rates above 1
    newcombe = proportion_difference(control, treatment)
    assert (newcombe.ci_low, newcombe.ci_high) == pytest.approx((-0.2725727851131816, 0.9054687942657693), abs=1e-12)
    assert newcombe.ci_low >= -1.0
    assert newcombe.ci_high <= 1.0
    agresti = proportion_difference(control, treatment, method="agresti-caffo")
    assert (agresti.ci_low, agresti.ci_high) == pytest.approx((-0.39819716021702856, 0.8981971602170286), abs=1e-12)


def test_difference_pvalue_is_the_unpooled_wald_test_of_ztest() -> None:
    for x_c, n_c, x_t, n_t in PAIRS:
        control, treatment = _arms(x_c, n_c, x_t, n_t)
        for method in ("newcombe", "agresti-caffo", "wald"):
            res = proportion_difference(control, treatment, method=method)
            if n_c < 2 or n_t < 2:
                continue  # ztest needs 2 units per arm; compare with statsmodels only
            if res.se == 0.0:
                assert math.isnan(res.pvalue)
                assert math.isnan(res.statistic)
                assert "undefined" in res.method
                assert "fisher" in res.method
                with pytest.raises(DataError):
                    ztest(control, treatment)
                continue
            z = ztest(control, treatment)
            assert res.statistic == pytest.approx(z.statistic, rel=1e-12)
            assert res.pvalue == pytest.approx(z.pvalue, rel=1e-12, abs=1e-300)
            if method == "wald":  # the Wald interval is ztest's interval
                assert (res.ci_low, res.ci_high) == pytest.approx((z.ci_low, z.ci_high), rel=1e-12, abs=1e-15)
        if res.se > 0.0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # statsmodels also forms the ratio and odds ratio, dividing by 0
                sm = smp.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
            assert res.pvalue == pytest.approx(float(sm.pvalue), rel=1e-9, abs=1e-300)


def test_difference_result_object() -> None:
    res = proportion_difference(*_arms(48, 80, 56, 70), alpha=0.1)
    assert tuple(res.confidence_interval()) == (res.ci_low, res.ci_high)
    at_95 = proportion_difference(*_arms(48, 80, 56, 70))
    assert tuple(res.confidence_interval(0.95)) == pytest.approx((at_95.ci_low, at_95.ci_high), abs=1e-15)
    frame = res.to_frame()
    assert {"estimate", "se", "ci_low", "ci_high", "pvalue", "statistic", "alpha", "method"} <= set(frame.columns)
    assert "_interval" not in frame.columns
    assert "Newcombe" in res.method
    assert "Newcombe" in res._repr_html_()
    assert repr(res).startswith("ProportionDifference(estimate=0.2")


# ------------------------------------------------------------------------------------------------------
# ratio


def _statsmodels_ratio_is_right(x_c: int, n_c: int, x_t: int, n_t: int) -> bool:
    """Where statsmodels' closed form (Nam's cubic) picks the right roots: no arm all successes, not both none."""
    return x_c < n_c and x_t < n_t and x_c + x_t > 0


@pytest.mark.parametrize("alpha", LEVELS)
def test_score_ratio_matches_statsmodels_and_inverts_the_score_test(alpha: float) -> None:
    compared = 0
    for x_c, n_c, x_t, n_t in PAIRS:
        res = proportion_ratio(*_arms(x_c, n_c, x_t, n_t), alpha=alpha)
        if _statsmodels_ratio_is_right(x_c, n_c, x_t, n_t):
            expected = _sm(confint_proportions_2indep, x_t, n_t, x_c, n_c, method="score", compare="ratio", alpha=alpha)
            assert _close((res.ci_low, res.ci_high), expected), (x_c, n_c, x_t, n_t)
            compared += 1
        # everywhere, edges included: each finite end is where statsmodels' own score test has p-value alpha
        for end in (res.ci_low, res.ci_high):
            if 0.0 < end < math.inf:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p = smp.test_proportions_2indep(x_t, n_t, x_c, n_c, value=end, method="score", compare="ratio")
                assert float(p.pvalue) == pytest.approx(alpha, abs=1e-9), (x_c, n_c, x_t, n_t, end)
        assert (res.ci_low == 0.0) == (x_t == 0)
        assert (res.ci_high == math.inf) == (x_c == 0)
    assert compared >= 250


def test_score_ratio_is_the_whole_acceptance_set() -> None:
    # on a dense grid of ratios, |score statistic| <= z exactly inside [ci_low, ci_high] (edges included)
    grid = np.exp(np.linspace(math.log(1e-3), math.log(1e3), 1201))
    cases = [(1, 2, 2, 2), (2, 2, 1, 1), (0, 5, 3, 5), (4, 4, 0, 3), (10, 10, 10, 10), (3, 37, 9, 10)]
    for x_c, n_c, x_t, n_t in cases:
        res = proportion_ratio(*_arms(x_c, n_c, x_t, n_t))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tests = [
                smp.test_proportions_2indep(x_t, n_t, x_c, n_c, value=v, method="score", compare="ratio") for v in grid
            ]
            p = np.array([float(test.pvalue) for test in tests])
        accepted = np.nan_to_num(p, nan=1.0) >= 0.05
        inside = (grid >= res.ci_low) & (grid <= res.ci_high)
        near_end = np.isclose(grid, res.ci_low, rtol=1e-6) | np.isclose(grid, res.ci_high, rtol=1e-6)
        assert np.all((accepted == inside) | near_end), (x_c, n_c, x_t, n_t)


def test_statsmodels_score_ratio_misses_at_the_edges() -> None:
    # Documented disagreement: for 1 of 2 vs 2 of 2 statsmodels (Nam's cubic) reports [1.333, 13.16], but its own
    # score test accepts a ratio of 1.2 (p = 0.41) and 1 (p = 0.32); the inversion gives [0.413, 13.16].
    expected = _sm(confint_proportions_2indep, 2, 2, 1, 2, method="score", compare="ratio")
    assert expected[0] == pytest.approx(4 / 3, rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_at_1_2 = float(smp.test_proportions_2indep(2, 2, 1, 2, value=1.2, method="score", compare="ratio").pvalue)
    assert p_at_1_2 == pytest.approx(0.414216, abs=1e-6)
    res = proportion_ratio(*_arms(1, 2, 2, 2))
    assert res.ci_low == pytest.approx(0.4130986287544748, rel=1e-9)
    assert res.ci_high == pytest.approx(expected[1], rel=1e-9)
    assert res.ci_low < 1.0 < res.ci_high
    assert res.pvalue > 0.05


@pytest.mark.parametrize("alpha", LEVELS)
def test_log_ratio_matches_statsmodels(alpha: float) -> None:
    for x_c, n_c, x_t, n_t in PAIRS:
        control, treatment = _arms(x_c, n_c, x_t, n_t)
        if x_c == 0 or x_t == 0:
            with pytest.raises(DataError, match="method='score'"):
                proportion_ratio(control, treatment, method="log")
            continue
        res = proportion_ratio(control, treatment, alpha=alpha, method="log")
        expected = _sm(confint_proportions_2indep, x_t, n_t, x_c, n_c, method="log", compare="ratio", alpha=alpha)
        assert _close((res.ci_low, res.ci_high), expected), (x_c, n_c, x_t, n_t)
        assert res.estimate == pytest.approx((x_t / n_t) / (x_c / n_c), rel=1e-15)


@pytest.mark.parametrize(("method", "sm_method"), [("score", "score"), ("log", "log")])
def test_ratio_pvalue_is_the_inverted_test(method: str, sm_method: str) -> None:
    for x_c, n_c, x_t, n_t in PAIRS:
        if method == "log" and (x_c == 0 or x_t == 0):
            continue
        res = proportion_ratio(*_arms(x_c, n_c, x_t, n_t), method=method)  # type: ignore[arg-type]
        if math.isnan(res.pvalue):
            assert x_c + x_t in (0, n_c + n_t)
            assert "undefined" in res.method
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm = smp.test_proportions_2indep(x_t, n_t, x_c, n_c, method=sm_method, compare="ratio")
        assert res.pvalue == pytest.approx(float(sm.pvalue), rel=1e-9, abs=1e-12), (x_c, n_c, x_t, n_t)
        # the interval excludes 1 exactly when the test rejects at alpha
        assert (res.ci_low > 1.0 or res.ci_high < 1.0) == (res.pvalue < res.alpha), (x_c, n_c, x_t, n_t)


def test_ratio_result_object_and_zero_counts() -> None:
    res = proportion_ratio(*_arms(0, 20, 4, 20))
    assert res.estimate == math.inf
    assert res.ci_high == math.inf
    assert res.ci_low > 0.0
    none = proportion_ratio(*_arms(0, 20, 0, 30))
    assert math.isnan(none.estimate)
    assert (none.ci_low, none.ci_high) == (0.0, math.inf)
    res = proportion_ratio(*_arms(48, 80, 56, 70), alpha=0.1)
    assert tuple(res.confidence_interval()) == (res.ci_low, res.ci_high)
    at_95 = proportion_ratio(*_arms(48, 80, 56, 70))
    assert tuple(res.confidence_interval(0.95)) == pytest.approx((at_95.ci_low, at_95.ci_high), rel=1e-12)
    assert "Koopman" in res.to_frame()["method"][0]
    assert res._repr_html_().startswith("<table")
    assert repr(res).startswith("ProportionRatio(estimate=1.33")


# ------------------------------------------------------------------------------------------------------
# arguments


@pytest.mark.parametrize("func", [proportion_difference, proportion_ratio])
def test_arms_must_be_proportions(func) -> None:  # type: ignore[no-untyped-def]
    rate = Moments.from_counts(3, 10)
    mean = Moments.from_values([1.0, 2.0, 3.5])
    with pytest.raises(ParameterError, match=r"^control holds the moments of a mean"):
        func(mean, rate)
    with pytest.raises(ParameterError, match=r"^treatment holds the moments of a mean"):
        func(rate, mean)
    with pytest.raises(ParameterError, match=r"^treatment must be abnb\.stats\.Moments"):
        func(rate, (3, 10))
    with pytest.raises(ParameterError, match=r"^control has n=0"):
        func(Moments(n=0, sum=0.0, sum_sq=0.0, proportion=True), rate)
    with pytest.raises(ParameterError, match="method"):
        func(rate, rate, method="exact")
    with pytest.raises(ParameterError, match="alpha"):
        func(rate, rate, alpha=1.0)
