"""JointMoments: sums and cross products of several per-unit variables, checked against numpy on the values."""

from __future__ import annotations

import numpy as np
import pytest

from abnb.errors import DataError, ParameterError
from abnb.stats import Moments, RatioMoments
from abnb.stats.joint import JointMoments


def _values(n: int = 400, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(20.0, 4.0, n)
    d = rng.poisson(3.0, n) + 1.0
    return {"y": 2.0 * x + rng.normal(0, 3, n), "d": d, "x": x, "p": rng.lognormal(1.0, 1.0, n)}


def test_sums_and_cross_products_equal_numpy() -> None:
    values = _values()
    joint = JointMoments.from_values(values)
    matrix = np.vstack(list(values.values()))
    assert joint.names == ("y", "d", "x", "p")
    assert joint.n == 400
    assert joint.means == pytest.approx(matrix.mean(axis=1).tolist(), rel=1e-12)
    assert joint.covariance() == pytest.approx(np.cov(matrix, ddof=1), rel=1e-10)
    assert joint.centred() == pytest.approx(np.cov(matrix, ddof=0) * 400, rel=1e-10)
    raw = joint.shifted((0.0,) * 4)  # raw sums: Σz and Σz zᵀ
    assert raw.sums == pytest.approx(matrix.sum(axis=1).tolist(), rel=1e-12)
    assert np.asarray(raw.cross) == pytest.approx(matrix @ matrix.T, rel=1e-12)
    assert joint.variance("p") == pytest.approx(float(np.var(values["p"], ddof=1)), rel=1e-10)


def test_shifts_do_not_change_the_statistics() -> None:
    joint = JointMoments.from_values(_values())
    moved = joint.shifted({"y": 35.0, "p": -3.0})
    assert moved.shifts[0] == 35.0
    assert moved.shifts[1] == joint.shifts[1]
    assert moved.means == pytest.approx(joint.means, rel=1e-12)
    assert moved.covariance() == pytest.approx(joint.covariance(), rel=1e-10)
    assert np.asarray(moved.shifted(joint.shifts).cross) == pytest.approx(np.asarray(joint.cross), rel=1e-9)


def test_a_mean_of_1e9_with_sd_1_keeps_its_covariances() -> None:
    rng = np.random.default_rng(4)
    y = 1e9 + rng.normal(0, 1, 5000)
    x = 1e9 + 0.5 * (y - 1e9) + rng.normal(0, 1, 5000)
    joint = JointMoments.from_values({"y": y, "x": x})
    centred = np.vstack([y - 1e9, x - 1e9])  # exact: values near 1e9 minus 1e9
    assert joint.covariance() == pytest.approx(np.cov(centred, ddof=1), rel=1e-9)
    assert abs(joint.shifted((0.0, 0.0)).covariance()[0, 1] - np.cov(centred)[0, 1]) > 1e-3  # raw sums lose it


def test_cells_add_up_to_the_total() -> None:
    values = _values(600)
    cells = [JointMoments.from_values({k: v[i::3] for k, v in values.items()}) for i in range(3)]
    total = sum(cells)
    assert isinstance(total, JointMoments)
    reference = JointMoments.from_values(values)
    assert total.n == 600
    assert total.shifts == cells[0].shifts
    assert total.means == pytest.approx(reference.means, rel=1e-12)
    assert total.covariance() == pytest.approx(reference.covariance(), rel=1e-10)
    with pytest.raises(ParameterError, match="same variables"):
        _ = cells[0] + cells[1].select(("y", "x"))


def test_conversions_give_the_two_variable_forms() -> None:
    values = _values()
    joint = JointMoments.from_values(values)
    moments, reference_moments = joint.to_moments("y", "x"), Moments.from_values(values["y"], covariate=values["x"])
    for name in ("n", "sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum", "shift", "x_shift", "proportion"):
        assert getattr(moments, name) == pytest.approx(getattr(reference_moments, name), rel=1e-12), name
    assert joint.to_moments("p").variance == pytest.approx(Moments.from_values(values["p"]).variance, rel=1e-12)
    ratio = joint.to_ratio("y", "d")
    reference = RatioMoments.from_values(values["y"], values["d"])
    assert ratio.ratio == pytest.approx(reference.ratio, rel=1e-12)
    assert ratio.ratio_variance == pytest.approx(reference.ratio_variance, rel=1e-9)
    picked = joint.select(("x", "y"))
    assert picked.names == ("x", "y")
    assert picked.cross[0][1] == joint.cross[0][2]


def test_a_proportion_has_bernoulli_variance_and_no_shift() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.3).astype(float)
    x = rng.normal(5, 1, 300)
    joint = JointMoments.from_values({"y": y, "x": x}, proportion=True)
    assert joint.shifts[0] == 0.0
    p = y.mean()
    assert joint.variance("y") == pytest.approx(p * (1 - p), rel=1e-12)
    assert joint.covariance()[0, 1] == pytest.approx(float(np.cov(y, x)[0, 1]), rel=1e-10)
    moments = joint.to_moments("y", "x")
    assert moments.proportion
    assert moments.variance == pytest.approx(p * (1 - p), rel=1e-12)
    assert not joint.to_moments("x").proportion
    with pytest.raises(ParameterError, match="takes no shift"):
        joint.shifted({"y": 1.0})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": ("y", "y")}, "unique"),
        ({"sums": (1.0,)}, "1 entries for 2"),
        ({"cross": ((5.0, 1.0), (2.0, 5.0))}, "not symmetric"),
        ({"cross": ((5.0, 9.0), (9.0, 5.0))}, "Cauchy–Schwarz"),
        ({"cross": ((0.1, 0.0), (0.0, 5.0))}, "smaller than its"),
        ({"sums": (1.0, float("nan"))}, "finite"),
        ({"shifts": (1.0,)}, "1 entries for 2"),
        ({"n": -1}, ">= 0"),
    ],
)
def test_inconsistent_sums_are_refused(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"n": 10, "names": ("y", "x"), "sums": (3.0, 2.0), "cross": ((5.0, 1.0), (1.0, 5.0))}
    with pytest.raises(ParameterError, match=match):
        JointMoments(**(base | kwargs))  # type: ignore[arg-type]


def test_values_are_checked() -> None:
    with pytest.raises(DataError, match="different lengths"):
        JointMoments.from_values({"y": [1.0, 2.0], "x": [1.0]})
    with pytest.raises(DataError, match="NaN"):
        JointMoments.from_values({"y": [1.0, float("nan")]})
    with pytest.raises(ParameterError, match="no variable 'z'"):
        JointMoments.from_values({"y": [1.0, 2.0]}).mean("z")
    empty = JointMoments.from_values({"y": [], "x": []})
    assert empty.n == 0
    with pytest.raises(DataError, match="at least 1"):
        _ = empty.means
