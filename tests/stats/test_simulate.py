import time

import numpy as np
import pytest
from scipy import stats as sps

from abnb.errors import ParameterError
from abnb.stats import IntervalEstimate, Moments, welch
from abnb.stats.simulate import _welch_pvalues, aa_test, calibrate, peeking


def test_welch_aa_false_positive_rate_and_coverage() -> None:
    start = time.perf_counter()
    result = calibrate("welch", n_per_arm=500, mean=10.0, sd=3.0, simulations=20_000, seed=1)
    elapsed = time.perf_counter() - start
    assert result.simulations == 20_000
    assert 0.04 <= result.fpr <= 0.06
    assert result.rejection.ci_low <= result.fpr <= result.rejection.ci_high
    assert result.rejection.ci_low < 0.05 < result.rejection.ci_high  # nominal alpha inside the exact 95% CI
    assert 0.94 <= result.coverage.estimate <= 0.96
    assert result.coverage.ci_low < 0.95 < result.coverage.ci_high
    assert result.coverage.estimate + result.fpr == pytest.approx(1.0)  # CI excludes 0 exactly when p < alpha
    assert elapsed < 10.0  # 20,000 simulations take about a second


def test_ztest_aa_on_proportions() -> None:
    result = aa_test("ztest", n_per_arm=2000, mean=0.1, simulations=20_000, seed=2, distribution="bernoulli")
    assert 0.04 <= result.fpr <= 0.06
    assert 0.94 <= result.coverage.estimate <= 0.96
    assert result.degenerate == 0


def test_power_matches_normal_approximation() -> None:
    n, sd, effect = 400, 2.0, 0.3
    result = calibrate("welch", n_per_arm=n, mean=5.0, sd=sd, effect=effect, simulations=20_000, seed=3)
    z = effect / (sd * np.sqrt(2.0 / n))
    expected = sps.norm.sf(1.959964 - z) + sps.norm.cdf(-1.959964 - z)  # ≈ 0.683
    assert result.power == pytest.approx(expected, abs=0.015)
    assert result.rejection.ci_low - 0.005 < expected < result.rejection.ci_high + 0.005
    assert 0.94 <= result.coverage.estimate <= 0.96
    with pytest.raises(ParameterError, match="fpr"):
        _ = result.fpr


def test_peeking_inflates_naive_but_not_confidence_sequence() -> None:
    start = time.perf_counter()
    naive = peeking(n_per_arm=1000, looks=10, simulations=20_000, method="naive", seed=4)
    sequential = peeking(n_per_arm=1000, looks=10, simulations=20_000, method="confidence_sequence", seed=4)
    elapsed = time.perf_counter() - start
    # Armitage, McPherson & Rowe (1969): 10 looks at nominal 0.05 give a false-positive rate near 0.19
    assert naive.rejection.estimate > 0.12
    assert naive.rejection.ci_low > 0.05
    assert sum(naive.first_rejection_look) == naive.rejections
    assert sequential.rejection.estimate <= 0.05
    assert sequential.rejection.ci_high < 0.05
    assert elapsed < 10.0


def test_results_hold_interval_estimates_and_flatten() -> None:
    result = calibrate("welch", n_per_arm=200, mean=10.0, sd=3.0, simulations=2_000, seed=9)
    assert isinstance(result.rejection, IntervalEstimate)
    assert result.rejection.estimate == result.rejections / result.simulations
    assert result.rejection.method == result.coverage.method == "Clopper–Pearson 95%"
    assert result.to_dict()["coverage"] == result.coverage.to_dict()
    frame = result.to_frame()
    assert frame.shape[0] == 1
    assert frame.loc[0, "rejection_ci_low"] == result.rejection.ci_low
    assert frame.loc[0, "coverage_estimate"] == result.coverage.estimate
    assert "coverage" not in frame.columns
    assert str(result.rejection) in result._repr_html_()
    looked = peeking(n_per_arm=200, looks=4, simulations=1_000, seed=9)
    assert looked.to_frame().loc[0, "rejection_ci_high"] == looked.rejection.ci_high
    assert "rejection_ci_high" in looked.to_frame().columns


def test_peeking_confidence_sequence_still_has_power() -> None:
    result = peeking(n_per_arm=2000, looks=10, simulations=5_000, method="confidence_sequence", effect=0.2, seed=5)
    assert result.rejection.estimate > 0.8


def test_peeking_bernoulli() -> None:
    naive = peeking(n_per_arm=1000, looks=10, simulations=5_000, mean=0.2, distribution="bernoulli", seed=6)
    assert naive.rejection.estimate > 0.12


def test_vectorised_welch_agrees_with_welch() -> None:
    rng = np.random.default_rng(8)
    c, t = rng.normal(1, 2, 50), rng.normal(1.5, 1, 50)
    n = np.array([50.0])
    diff, se, p = _welch_pvalues(
        n, np.array([c.sum()]), np.array([(c**2).sum()]), np.array([t.sum()]), np.array([(t**2).sum()]), False
    )
    reference = welch(Moments.from_values(c), Moments.from_values(t))
    assert diff[0] == pytest.approx(reference.estimate, rel=1e-12)
    assert se[0] == pytest.approx(reference.se, rel=1e-12)
    assert p[0] == pytest.approx(reference.pvalue, rel=1e-10)


def test_simulate_errors() -> None:
    with pytest.raises(ParameterError, match="test must be"):
        calibrate("mannwhitney")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="n_per_arm"):
        calibrate(n_per_arm=1)
    with pytest.raises(ParameterError, match="success probability"):
        aa_test(mean=1.5, distribution="bernoulli")
    with pytest.raises(ParameterError, match="sd"):
        calibrate(sd=0.0)
    with pytest.raises(ParameterError, match="method"):
        peeking(method="bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="too many"):
        peeking(n_per_arm=10, looks=6)
