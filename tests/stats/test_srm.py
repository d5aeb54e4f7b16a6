import math

import pytest
from scipy import stats as sps

from abnb.errors import ParameterError
from abnb.stats import SrmResult, srm


def test_published_fifty_fifty_example() -> None:
    # 1000 vs 1200 units under a planned 50/50 split: chi2 = 2 * 100**2 / 1100 = 18.1818..., df = 1,
    # p = 2.00787e-05 (the worked SRM example quoted in the design brief).
    result = srm([1000, 1200])
    assert result.statistic == pytest.approx(200.0 / 11.0, rel=1e-12)
    assert result.df == 1
    assert result.pvalue == pytest.approx(2.00787e-05, rel=1e-5, abs=1e-10)
    assert result.expected == (1100.0, 1100.0)
    assert result.weights == (0.5, 0.5)
    assert result.mismatch()
    assert not result.mismatch(threshold=1e-6)


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ([5210, 2440, 2350], [0.5, 0.25, 0.25]),
        ([5210, 2440, 2350], [2, 1, 1]),  # unnormalised weights give the same test
        ([903, 97], [0.9, 0.1]),
        ([120, 340, 95, 445], [0.1, 0.35, 0.1, 0.45]),
    ],
)
def test_matches_scipy_chisquare(counts: list[int], weights: list[float]) -> None:
    total = sum(counts)
    expected = [total * w / sum(weights) for w in weights]
    reference = sps.chisquare(counts, f_exp=expected)
    result = srm(counts, weights)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15)
    assert result.df == len(counts) - 1
    assert math.fsum(result.weights) == pytest.approx(1.0, rel=1e-15)


def test_mapping_input_keeps_arm_labels() -> None:
    result = srm({"control": 1000, "treatment": 1200}, {"treatment": 1, "control": 1})
    assert result.labels == ("control", "treatment")
    assert result.pvalue == pytest.approx(srm([1000, 1200]).pvalue, rel=1e-15)
    frame = result.to_frame()
    assert list(frame["arm"]) == ["control", "treatment"]
    assert list(frame.columns) == ["arm", "count", "expected", "weight", "share"]
    assert frame["share"].sum() == pytest.approx(1.0)


def test_result_presentation() -> None:
    result = srm([1000, 1200])
    assert isinstance(result, SrmResult)
    assert repr(result) == "SrmResult(statistic=18.18, pvalue=2.008e-05, df=1, counts=(1000, 1200))"
    html = result._repr_html_()
    assert "<table" in html
    assert "mismatch at 0.001" in html
    assert "1100" in html


@pytest.mark.parametrize(
    ("counts", "weights", "match"),
    [
        ([1000], None, "at least 2 arms"),
        ([10, -1], None, r"counts\[1\] must be a non-negative whole number"),
        ([10, 2.5], None, r"counts\[1\] must be a non-negative whole number"),
        ([0, 0], None, "counts sum to 0"),
        ([10, 10], [0.5, 0.0], r"weights\[1\] must be positive"),
        ([10, 10], [0.5, math.nan], r"weights\[1\] must be positive and finite"),
        ([10, 10], [0.5, -0.5], r"weights\[1\] must be positive"),
        ([10, 10], [1, 1, 1], "weights has 3 entries but counts has 2 arms"),
        ({"a": 10, "b": 10}, {"a": 1, "c": 1}, "give one weight per arm"),
        ([10, 10], {"a": 1, "b": 1}, "weights is a mapping but counts is not"),
        ("10", None, "counts must be a sequence"),
    ],
)
def test_invalid_input_raises_parameter_error(counts: object, weights: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        srm(counts, weights)  # type: ignore[arg-type]


def test_mismatch_threshold_is_validated() -> None:
    with pytest.raises(ParameterError, match="threshold"):
        srm([10, 12]).mismatch(threshold=1.5)
