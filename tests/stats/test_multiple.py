import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from abnb.errors import DataError, ParameterError
from abnb.stats.moments import Moments
from abnb.stats.multiple import NonInferiorityResult, adjust, noninferiority

STATSMODELS_NAMES = {
    "bonferroni": "bonferroni",
    "holm": "holm",
    "hochberg": "simes-hochberg",
    "bh": "fdr_bh",
    "by": "fdr_by",
}


@pytest.mark.parametrize("method", list(STATSMODELS_NAMES))
@pytest.mark.parametrize("seed", range(20))
def test_adjust_matches_statsmodels_including_ties(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 40))
    p = rng.uniform(0, 1, size=m) ** 3
    if m > 3:  # plant ties, exact zeros and ones
        p[1] = p[0]
        p[-1] = p[0]
        p[2] = 0.0
        p[3] = 1.0
    p = np.round(p, 3) if seed % 2 else p  # more ties from rounding
    expected = multipletests(p, method=STATSMODELS_NAMES[method])[1]
    np.testing.assert_allclose(adjust(p, method=method), expected, rtol=0, atol=1e-12)  # type: ignore[arg-type]


def test_adjust_small_example_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust(p, method="bonferroni"), [0.04, 0.16, 0.12, 0.02])
    np.testing.assert_allclose(adjust(p, method="holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(adjust(p, method="hochberg"), [0.03, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust(p, method="bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust(p, method="by"), np.array([0.02, 0.04, 0.04, 0.02]) * (1 + 1 / 2 + 1 / 3 + 1 / 4))


@pytest.mark.parametrize(
    ("pvalues", "match"),
    [
        ([], "empty"),
        ([0.1, 1.2], r"\[0, 1\]"),
        ([0.1, -0.01], r"\[0, 1\]"),
        ([0.1, math.nan], "finite"),
        ([[0.1]], "one-dimensional"),
        (["a"], "numbers"),
    ],
)
def test_adjust_validation(pvalues: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        adjust(pvalues, method="holm")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="method"):
        adjust([0.1], method="sidak")  # type: ignore[arg-type]


def _welch_parts(control: Moments, treatment: Moments) -> tuple[float, float, float]:
    a, b = treatment.variance / treatment.n, control.variance / control.n
    df = (a + b) ** 2 / (a**2 / (treatment.n - 1) + b**2 / (control.n - 1))
    return a, b, df


@pytest.fixture
def arms() -> tuple[Moments, Moments, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    c, t = rng.normal(10.0, 2.0, 300), rng.normal(9.9, 2.5, 280)
    return Moments.from_values(c), Moments.from_values(t), c, t


def test_noninferiority_absolute_increase_matches_shifted_welch(arms: tuple) -> None:
    control, treatment, c, t = arms
    margin = 0.5
    result = noninferiority(control, treatment, margin=margin, direction="increase")
    # hand computation: Welch t of (t + margin) against c, one-sided "greater"
    reference = sps.ttest_ind(t + margin, c, equal_var=False, alternative="greater")
    assert result.statistic == pytest.approx(reference.statistic, abs=1e-9)
    assert result.pvalue == pytest.approx(reference.pvalue, abs=1e-9)
    a, b, df = _welch_parts(control, treatment)
    assert result.df == pytest.approx(df, rel=1e-12)
    bound = (t.mean() - c.mean()) - sps.t.ppf(0.95, df) * math.sqrt(a + b)
    assert result.bound == pytest.approx(bound, abs=1e-9)
    assert result.passed == (result.pvalue < 0.05) == (result.bound > -margin)
    assert result.threshold == -margin


def test_noninferiority_absolute_decrease_matches_shifted_welch(arms: tuple) -> None:
    control, treatment, c, t = arms
    margin = 0.3
    result = noninferiority(control, treatment, margin=margin, direction="decrease", alpha=0.025)
    # lower is better: H0 Δ ≥ margin; Welch t of (t − margin) against c, one-sided "less"
    reference = sps.ttest_ind(t - margin, c, equal_var=False, alternative="less")
    assert -result.statistic == pytest.approx(reference.statistic, abs=1e-9)
    assert result.pvalue == pytest.approx(reference.pvalue, abs=1e-9)
    a, b, df = _welch_parts(control, treatment)
    assert result.bound == pytest.approx((t.mean() - c.mean()) + sps.t.ppf(0.975, df) * math.sqrt(a + b), abs=1e-9)
    assert result.passed == (result.bound < margin)


@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_noninferiority_relative_is_the_fieller_contrast(arms: tuple, direction: str) -> None:
    control, treatment, c, t = arms
    margin = 0.04
    result = noninferiority(control, treatment, margin=margin, direction=direction, relative=True)  # type: ignore[arg-type]
    r = 1 - margin if direction == "increase" else 1 + margin
    # the contrast t − r·c is a Welch test of the scaled samples
    alternative = "greater" if direction == "increase" else "less"
    reference = sps.ttest_ind(t, r * c, equal_var=False, alternative=alternative)
    assert result.pvalue == pytest.approx(reference.pvalue, abs=1e-9)
    assert result.estimate == pytest.approx(t.mean() / c.mean() - 1, abs=1e-12)
    # at the bound the contrast statistic equals the critical value (with the df at the margin)
    a, b, _ = _welch_parts(control, treatment)
    ratio = 1 + result.bound
    crit = sps.t.ppf(0.95, result.df)
    assert abs(t.mean() - ratio * c.mean()) / math.sqrt(a + ratio**2 * b) == pytest.approx(crit, abs=1e-9)
    assert result.passed == (result.pvalue < 0.05)
    assert result.passed == ((result.bound > -margin) if direction == "increase" else (result.bound < margin))


def test_noninferiority_proportions_and_rendering() -> None:
    control, treatment = Moments.from_counts(2000, 20000), Moments.from_counts(1980, 20000)
    result = noninferiority(control, treatment, margin=0.01)
    assert isinstance(result, NonInferiorityResult)
    assert result.passed
    assert "abnb-noninferiority" in result._repr_html_()
    assert repr(result).startswith("NonInferiorityResult(")
    assert result.to_frame().shape == (1, 14)


def test_noninferiority_errors() -> None:
    m = Moments.from_values([1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match="margin"):
        noninferiority(m, m, margin=-0.1)
    with pytest.raises(ParameterError, match="direction"):
        noninferiority(m, m, margin=0.1, direction="up")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="alpha"):
        noninferiority(m, m, margin=0.1, alpha=0)
    with pytest.raises(ParameterError, match="below 1"):
        noninferiority(m, m, margin=1.0, relative=True)
    with pytest.raises(DataError, match="non-zero control mean"):
        noninferiority(Moments.from_values([-1.0, 1.0]), m, margin=0.1, relative=True)
    constant = Moments.from_values([2.0, 2.0])
    with pytest.raises(DataError, match="zero variance"):
        noninferiority(constant, constant, margin=0.1)


def test_adjusted_interval_agrees_with_the_adjusted_test() -> None:
    from abnb.stats import Moments, welch
    from abnb.stats.multiple import adjusted_interval

    effect = welch(Moments(3407, 1396.87, 52377.9767), Moments(3461, 2422.7, 134698.29))
    # with the raw p-value the interval is the effect's own interval
    raw = adjusted_interval(effect, effect.pvalue)
    assert raw.low == pytest.approx(effect.ci_low, rel=1e-9)
    assert raw.high == pytest.approx(effect.ci_high, rel=1e-9)
    for p_adj in (0.01, 0.049, 0.051, 0.3):
        if p_adj < effect.pvalue:
            continue
        ci = adjusted_interval(effect, p_adj)
        assert (ci.low > 0 or ci.high < 0) == (p_adj < effect.alpha)
        assert ci.high - ci.low >= effect.ci_high - effect.ci_low
    assert adjusted_interval(effect, 1.0).low == -math.inf
