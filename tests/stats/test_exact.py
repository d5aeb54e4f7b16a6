import math

import numpy as np
import pytest
from scipy import stats as sps

from abnb.errors import DataError, ParameterError
from abnb.stats import Moments
from abnb.stats.exact import ExactTestResult, barnard, fisher, paired

counts = Moments.from_counts

# ---------------------------------------------------------------------------------------------------
# Fisher


def test_fisher_tea_tasting_published() -> None:
    # R's documentation of fisher.test (example "TeaTasting", the table [[3, 1], [1, 3]]):
    # alternative "greater": p-value 0.2429, odds ratio 6.408309, 95% CI [0.3135693, Inf];
    # two-sided: p-value 0.4857, 95% CI [0.2117329, 621.9337].
    greater = fisher(counts(1, 4), counts(3, 4), alternative="greater")
    assert isinstance(greater, ExactTestResult)
    assert greater.pvalue == pytest.approx(17 / 70, abs=1e-12)  # (16 + 1) / C(8, 4)
    # R solves for the MLE and the interval ends with uniroot's loose default tolerance, scipy more tightly, so
    # they agree to ~2e-6 (MLE) and ~2e-5 (interval) relative; test_fisher_matches_hypergeometric_by_hand checks
    # the defining equations themselves.
    assert greater.odds_ratio == pytest.approx(6.408309, rel=5e-6)
    assert greater.ci_low == pytest.approx(0.3135693, rel=5e-5)
    assert math.isinf(greater.ci_high)
    two_sided = fisher(counts(1, 4), counts(3, 4))
    assert two_sided.pvalue == pytest.approx(34 / 70, abs=1e-12)
    assert two_sided.ci_low == pytest.approx(0.2117329, rel=5e-5)
    # R's upper end sits on a very flat tail (P(S ≤ 3; 621.93) = 0.02517, not 0.025); scipy's solves it exactly.
    assert two_sided.ci_high == pytest.approx(621.9337, rel=1e-2)
    assert sps.nchypergeom_fisher(8, 4, 4, two_sided.ci_high).cdf(3) == pytest.approx(0.025, rel=1e-9)
    assert two_sided.treatment_rate == 0.75
    assert two_sided.control_rate == 0.25
    assert two_sided.statistic == pytest.approx(9.0)  # sample odds ratio 3·3 / (1·1)


def test_fisher_matches_hypergeometric_by_hand() -> None:
    s_c, n_c, s_t, n_t = 4, 25, 12, 27
    result = fisher(counts(s_c, n_c), counts(s_t, n_t))
    # Independent: s_t is hypergeometric given the margins; two-sided p sums the tables no more likely.
    total, successes = n_c + n_t, s_c + s_t
    dist = sps.hypergeom(total, successes, n_t)
    support = np.arange(max(0, successes - n_c), min(successes, n_t) + 1)
    probs = dist.pmf(support)
    observed = dist.pmf(s_t)
    assert result.pvalue == pytest.approx(probs[probs <= observed * (1 + 1e-7)].sum(), rel=1e-9)
    assert fisher(counts(s_c, n_c), counts(s_t, n_t), alternative="greater").pvalue == pytest.approx(
        dist.sf(s_t - 1), rel=1e-9
    )
    assert fisher(counts(s_c, n_c), counts(s_t, n_t), alternative="less").pvalue == pytest.approx(
        dist.cdf(s_t), rel=1e-9
    )
    # The conditional MLE solves E[S_t; ψ] = s_t under Fisher's noncentral hypergeometric distribution.
    assert sps.nchypergeom_fisher(total, successes, n_t, result.odds_ratio).mean() == pytest.approx(s_t, rel=1e-6)
    # The interval ends solve the one-sided tail equations at alpha/2.
    low = sps.nchypergeom_fisher(total, successes, n_t, result.ci_low)
    high = sps.nchypergeom_fisher(total, successes, n_t, result.ci_high)
    assert low.sf(s_t - 1) == pytest.approx(0.025, rel=1e-5)
    assert high.cdf(s_t) == pytest.approx(0.025, rel=1e-5)
    ci90 = result.confidence_interval(0.9)
    assert result.ci_low < ci90.low < result.odds_ratio < ci90.high < result.ci_high
    assert tuple(result.confidence_interval(0.95)) == pytest.approx((result.ci_low, result.ci_high))
    assert result.to_frame().shape == (1, 10)
    assert "odds ratio" in result._repr_html_()


# ---------------------------------------------------------------------------------------------------
# Barnard


def test_barnard_scipy_documented_example() -> None:
    # scipy.stats.barnard_exact documentation: vaccine example, table [[7, 12], [8, 3]] (columns are the two
    # groups), alternative "less": Wald statistic −1.894, p-value 0.03407.
    result = barnard(counts(12, 15), counts(7, 15), alternative="less")
    assert result.statistic == pytest.approx(-1.894, abs=5e-4)
    assert result.pvalue == pytest.approx(0.03407, abs=1e-5)  # printed to 4 significant digits
    assert "Barnard" in result.method


def test_barnard_matches_brute_force_supremum() -> None:
    # Independent: enumerate all tables, pooled Wald statistic, maximise the tail probability over a π grid.
    s_c, n_c, s_t, n_t = 3, 12, 8, 11

    def wald(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        p_t, p_c = a / n_t, b / n_c
        pooled = (a + b) / (n_t + n_c)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (p_t - p_c) / np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        return np.nan_to_num(z, nan=0.0)

    a, b = np.meshgrid(np.arange(n_t + 1), np.arange(n_c + 1), indexing="ij")
    z = wald(a, b)
    z_obs = wald(np.array(s_t), np.array(s_c))
    extreme = np.abs(z) >= abs(z_obs) - 1e-12
    grid = np.linspace(0.0, 1.0, 20001)[:, None, None]
    probs = sps.binom.pmf(a, n_t, grid) * sps.binom.pmf(b, n_c, grid)
    brute = (probs * extreme).sum(axis=(1, 2)).max()
    result = barnard(counts(s_c, n_c), counts(s_t, n_t))
    assert result.statistic == pytest.approx(float(z_obs), rel=1e-9)
    assert result.pvalue == pytest.approx(brute, rel=1e-4)
    assert result.odds_ratio == pytest.approx(fisher(counts(s_c, n_c), counts(s_t, n_t)).odds_ratio)


def test_exact_validation() -> None:
    with pytest.raises(ParameterError, match="successes must lie"):
        fisher(counts(1, 10), counts(11, 10))
    with pytest.raises(ParameterError, match=r"control has n=0 unit\(s\); an exact test needs at least 1"):
        fisher(Moments(n=0, sum=0.0, sum_sq=0.0, proportion=True), counts(1, 10))
    with pytest.raises(ParameterError, match="not a whole number"):
        barnard(Moments(n=10, sum=1.5, sum_sq=1.5, proportion=True), counts(1, 10))
    with pytest.raises(ParameterError, match="treatment does not hold 0/1 outcomes"):
        fisher(counts(1, 10), Moments.from_values([0.0, 1.0, 2.0]))
    with pytest.raises(ParameterError, match=r"control must be abnb\.stats\.Moments"):
        fisher((1, 10), counts(1, 10))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="alternative"):
        fisher(counts(1, 10), counts(2, 10), alternative="bigger")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="alpha"):
        barnard(counts(1, 10), counts(2, 10), alpha=2.0)
    with pytest.raises(ParameterError, match="pooled"):
        barnard(counts(1, 10), counts(2, 10), pooled="yes")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="confidence_level"):
        fisher(counts(1, 10), counts(2, 10)).confidence_interval(1.5)


def test_exact_accepts_moments_of_zero_one_values() -> None:
    # Moments.from_values of 0/1 outcomes (shifted sums around the first value) are the same table as the counts.
    control = Moments.from_values([1.0, 0.0, 0.0, 1.0, 0.0])
    treatment = Moments.from_values([0.0, 1.0, 1.0, 1.0])
    assert fisher(control, treatment) == fisher(counts(2, 5), counts(3, 4))
    assert barnard(control, treatment) == barnard(counts(2, 5), counts(3, 4))


# ---------------------------------------------------------------------------------------------------
# paired t-test


def test_paired_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(1908)
    for n in (5, 40, 1000):
        before = rng.normal(10.0, 2.0, size=n)
        after = before + rng.normal(0.3, 1.0, size=n)
        effect = paired(Moments.from_values(after - before))
        reference = sps.ttest_rel(after, before)
        assert effect.estimate == pytest.approx(np.mean(after - before), rel=1e-9)
        assert effect.statistic == pytest.approx(reference.statistic, rel=1e-9)
        assert effect.pvalue == pytest.approx(reference.pvalue, rel=1e-9)
        assert effect.df == pytest.approx(reference.df, rel=1e-12)
        for level in (0.95, 0.8):
            ci = reference.confidence_interval(confidence_level=level)
            mine = effect.confidence_interval(level)
            assert mine.low == pytest.approx(ci.low, rel=1e-9)
            assert mine.high == pytest.approx(ci.high, rel=1e-9)
        assert effect.se == pytest.approx(np.std(after - before, ddof=1) / math.sqrt(n), rel=1e-9)
        assert math.isnan(effect.control_mean)


def test_paired_errors() -> None:
    with pytest.raises(ParameterError, match="Moments"):
        paired([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="at least 2"):
        paired(Moments.from_values([1.0]))
    with pytest.raises(ParameterError, match="proportion"):
        paired(Moments.from_counts(3, 10))
    with pytest.raises(DataError, match="zero variance"):
        paired(Moments.from_values([2.0, 2.0, 2.0]))
    with pytest.raises(ParameterError, match="alpha"):
        paired(Moments.from_values([1.0, 2.0]), alpha=-0.1)
