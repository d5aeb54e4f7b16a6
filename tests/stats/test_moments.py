import dataclasses
import math

import numpy as np
import pytest

from abnb.errors import DataError, ParameterError
from abnb.stats import Moments


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def test_from_values_matches_numpy(rng: np.random.Generator) -> None:
    y = rng.lognormal(1.0, 0.8, size=501)
    m = Moments.from_values(y)
    assert m.n == 501
    assert m.proportion is False
    assert m.x_sum is None
    assert m.mean == pytest.approx(np.mean(y), rel=1e-12)
    assert m.variance == pytest.approx(np.var(y, ddof=1), rel=1e-10)
    assert m.std == pytest.approx(np.std(y, ddof=1), rel=1e-10)


def test_from_values_with_covariate_matches_numpy(rng: np.random.Generator) -> None:
    x = rng.normal(5.0, 2.0, size=300)
    y = 0.7 * x + rng.normal(0.0, 1.0, size=300)
    m = Moments.from_values(y, covariate=x)
    cov = np.cov(y, x, ddof=1)
    assert m.x_mean == pytest.approx(np.mean(x), rel=1e-12)
    assert m.x_variance == pytest.approx(cov[1, 1], rel=1e-10)
    assert m.covariance == pytest.approx(cov[0, 1], rel=1e-10)
    assert m.variance == pytest.approx(cov[0, 0], rel=1e-10)


def test_from_counts_is_a_bernoulli_proportion() -> None:
    m = Moments.from_counts(30, 120)
    assert m == Moments(n=120, sum=30.0, sum_sq=30.0, proportion=True)
    assert m.mean == 0.25
    assert m.variance == pytest.approx(0.25 * 0.75, rel=1e-15)
    assert m.std == pytest.approx(math.sqrt(0.1875), rel=1e-15)
    # numpy integers are accepted and normalised to Python ints
    assert Moments.from_counts(np.int64(3), np.int64(10)).n == 10
    assert type(Moments.from_counts(np.int64(3), np.int64(10)).n) is int


def test_add_rolls_segments_up(rng: np.random.Generator) -> None:
    a, b, c = rng.normal(size=40), rng.normal(size=70), rng.normal(size=13)
    xa, xb, xc = rng.normal(size=40), rng.normal(size=70), rng.normal(size=13)
    total = Moments.from_values(np.concatenate([a, b, c]), covariate=np.concatenate([xa, xb, xc]))
    parts = [Moments.from_values(a, xa), Moments.from_values(b, xb), Moments.from_values(c, xc)]
    merged = parts[0] + parts[1] + parts[2]
    for name in ("sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum"):
        assert getattr(merged, name) == pytest.approx(getattr(total, name), rel=1e-12, abs=1e-12)
    assert merged.n == total.n == 123
    assert sum(parts) == merged  # sum() starts from 0
    assert Moments.from_counts(3, 10) + Moments.from_counts(4, 20) == Moments.from_counts(7, 30)


def test_add_rejects_incompatible_moments() -> None:
    with pytest.raises(ParameterError, match="proportion"):
        Moments.from_counts(3, 10) + Moments.from_values([1.0, 2.0])
    with pytest.raises(ParameterError, match="covariate"):
        Moments.from_values([1.0, 2.0], covariate=[0.0, 1.0]) + Moments.from_values([1.0, 2.0])
    with pytest.raises(TypeError):
        Moments.from_values([1.0, 2.0]) + 1.0


def test_variance_is_clipped_at_zero_for_constant_values() -> None:
    m = Moments.from_values([0.1] * 7)
    assert m.variance == pytest.approx(0.0, abs=1e-15)
    assert m.variance >= 0.0
    assert Moments(n=3, sum=3.0, sum_sq=3.0 - 1e-13).variance == 0.0


def test_is_frozen() -> None:
    m = Moments(n=2, sum=1.0, sum_sq=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.n = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1, "sum": 0.0, "sum_sq": 0.0}, r"Moments\.n must be >= 0"),
        ({"n": 2.5, "sum": 0.0, "sum_sq": 0.0}, r"Moments\.n must be a whole number"),
        ({"n": True, "sum": 0.0, "sum_sq": 0.0}, r"Moments\.n must be a whole number"),
        ({"n": 3, "sum": math.nan, "sum_sq": 1.0}, r"Moments\.sum must be finite"),
        ({"n": 3, "sum": 1.0, "sum_sq": math.inf}, r"Moments\.sum_sq must be finite"),
        ({"n": 3, "sum": 1.0, "sum_sq": -0.5}, r"sum_sq .* must be >= 0"),
        ({"n": 3, "sum": 1.0, "sum_sq": 1.0, "x_sum": 2.0}, "pass all of x_sum, x_sum_sq and xy_sum"),
        (
            {"n": 3, "sum": 1.0, "sum_sq": 1.0, "x_sum": 1.0, "x_sum_sq": -1.0, "xy_sum": 0.0},
            r"x_sum_sq must be >= 0",
        ),
        ({"n": 3, "sum": 4.0, "sum_sq": 4.0, "proportion": True}, r"must lie in \[0, n=3\]"),
    ],
)
def test_post_init_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        Moments(**kwargs)  # type: ignore[arg-type]


def test_from_values_rejects_non_finite() -> None:
    with pytest.raises(DataError, match=r"1 NaN and 0 infinite value\(s\) \(first at position 2\)"):
        Moments.from_values([1.0, 2.0, math.nan])
    with pytest.raises(DataError, match=r"0 NaN and 2 infinite"):
        Moments.from_values([math.inf, 2.0, -math.inf])
    with pytest.raises(DataError, match="covariate values contain 1 NaN"):
        Moments.from_values([1.0, 2.0], covariate=[1.0, math.nan])
    with pytest.raises(DataError, match="covariate has 3 values but values has 2"):
        Moments.from_values([1.0, 2.0], covariate=[1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="must be numbers"):
        Moments.from_values(["a", "b"])
    with pytest.raises(DataError, match="one-dimensional"):
        Moments.from_values([[1.0, 2.0], [3.0, 4.0]])


def test_from_counts_validation_names_the_argument() -> None:
    with pytest.raises(ParameterError, match=r"successes must lie in \[0, n=10\], got 11"):
        Moments.from_counts(11, 10)
    with pytest.raises(ParameterError, match=r"successes must lie in \[0, n=10\], got -1"):
        Moments.from_counts(-1, 10)
    with pytest.raises(ParameterError, match="n must be >= 1"):
        Moments.from_counts(0, 0)
    with pytest.raises(ParameterError, match="successes must be a whole number"):
        Moments.from_counts(2.5, 10)  # type: ignore[arg-type]


def test_statistics_that_need_more_data_raise_data_error() -> None:
    empty = Moments.from_values([])
    assert empty.n == 0
    with pytest.raises(DataError, match="mean needs at least 1"):
        _ = empty.mean
    with pytest.raises(DataError, match="sample variance needs at least 2"):
        _ = Moments.from_values([1.0]).variance
    with pytest.raises(DataError, match="needs covariate sums"):
        _ = Moments.from_values([1.0, 2.0]).covariance
