"""The numbers each method gives, for the results check: ``{metric: {quantity: value}}``.

abnb's means and p-values are checked against the naive scipy numbers (user level) or against numbers computed
with scipy from the floor's sums (event level), to a relative 1e-6; the peer's are compared too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from abnb.experiment import ExperimentResult

REL_TOL = 1e-6

Numbers = dict[str, dict[str, float]]


def abnb_numbers(result: ExperimentResult) -> Numbers:
    """Means, difference and p-value per metric from abnb's result (CUPED: the absolute adjusted difference)."""
    from abnb.stats import Moments, cuped

    numbers: Numbers = {}
    for effect in result.effects:
        a = effect.absolute
        row = {
            "control_mean": a.control_mean,
            "treatment_mean": a.treatment_mean,
            "estimate": a.estimate,
            "pvalue": a.pvalue,
        }
        if isinstance(effect.control, Moments) and effect.control.x_sum is not None:
            assert isinstance(effect.treatment, Moments)
            adjusted = cuped(effect.control, effect.treatment, alpha=a.alpha)
            row |= {"cuped_estimate": adjusted.estimate, "cuped_pvalue": adjusted.pvalue}
        numbers[effect.metric.name] = row
    return numbers


def _ztest(success_c: float, n_c: float, success_t: float, n_t: float) -> tuple[float, float, float, float]:
    """Unpooled two-proportion z-test: (p_c, p_t, p_t − p_c, two-sided p-value)."""
    from scipy import stats

    p_c, p_t = success_c / n_c, success_t / n_t
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    z = (p_t - p_c) / se
    return p_c, p_t, p_t - p_c, float(2 * stats.norm.sf(abs(z)))


def naive_numbers(frame: pd.DataFrame, *, control: str = "control", treatment: str = "treatment") -> Numbers:
    """The naive analysis of the ``users`` table in pandas: ``scipy.stats.ttest_ind`` (Welch) per metric.

    Conversion is tested with the unpooled two-proportion z-test (``value > 0`` is a success). CUPED: pooled
    ``θ = Cov(x, y) / Var(x)`` over both arms, then Welch's t-test of ``y − θ(x − x̄)`` (Deng et al. 2013).
    """
    import numpy as np
    from scipy import stats

    is_c = (frame["arm"] == control).to_numpy()
    is_t = (frame["arm"] == treatment).to_numpy()
    y = frame["revenue"].to_numpy(dtype=np.float64)
    x = frame["revenue_pre"].to_numpy(dtype=np.float64)
    converted = frame["converted"].to_numpy() > 0
    y_c, y_t = y[is_c], y[is_t]
    welch = stats.ttest_ind(y_t, y_c, equal_var=False)
    revenue = {
        "control_mean": float(y_c.mean()),
        "treatment_mean": float(y_t.mean()),
        "estimate": float(y_t.mean() - y_c.mean()),
        "pvalue": float(welch.pvalue),
    }
    p_c, p_t, diff, pvalue = _ztest(float(converted[is_c].sum()), is_c.sum(), float(converted[is_t].sum()), is_t.sum())
    both = is_c | is_t
    xb, yb = x[both], y[both]
    theta = float(np.cov(xb, yb)[0, 1] / np.var(xb, ddof=1))
    adjusted = y - theta * (x - xb.mean())
    cuped = stats.ttest_ind(adjusted[is_t], adjusted[is_c], equal_var=False)
    return {
        "revenue": revenue,
        "conversion": {"control_mean": p_c, "treatment_mean": p_t, "estimate": diff, "pvalue": pvalue},
        "revenue_cuped": revenue
        | {
            "cuped_estimate": float(adjusted[is_t].mean() - adjusted[is_c].mean()),
            "cuped_pvalue": float(cuped.pvalue),
        },
    }


def sums_numbers(rows: Sequence[Sequence[Any]], *, control: str = "control", treatment: str = "treatment") -> Numbers:
    """Means and p-values from the floor's per-arm sums ``(arm, n, Σy, Σy², successes, Σx, Σx², Σxy)``, via scipy.

    Revenue: ``scipy.stats.ttest_ind_from_stats`` (Welch) on ``ȳ`` and ``s = sqrt((Σy² − (Σy)²/n)/(n − 1))``;
    conversion: the unpooled z-test; CUPED: Welch on the adjusted means and the standard deviations of
    ``y − θx`` with the pooled ``θ = Sxy / Sxx`` (Deng et al. 2013).
    """
    from scipy import stats

    by_arm = {row[0]: [float(v) for v in row[1:]] for row in rows}
    (n_c, y_c, yy_c, s_c, *_), (n_t, y_t, yy_t, s_t, *_) = by_arm[control], by_arm[treatment]

    def sd(n: float, s: float, ss: float) -> float:
        return math.sqrt(max(ss - s * s / n, 0.0) / (n - 1))

    welch = stats.ttest_ind_from_stats(
        y_t / n_t, sd(n_t, y_t, yy_t), n_t, y_c / n_c, sd(n_c, y_c, yy_c), n_c, equal_var=False
    )
    revenue = {
        "control_mean": y_c / n_c,
        "treatment_mean": y_t / n_t,
        "estimate": y_t / n_t - y_c / n_c,
        "pvalue": float(welch.pvalue),
    }
    p_c, p_t, diff, pvalue = _ztest(s_c, n_c, s_t, n_t)
    # CUPED: pooled θ = Sxy / Sxx; per arm the adjusted mean ȳ − θ(x̄ − x̄_pooled) and the variance of y − θx,
    # V_y + θ²V_x − 2θC (ddof=1), then Welch from these stats.
    (*_, x_c, xx_c, xy_c), (*_, x_t, xx_t, xy_t) = by_arm[control], by_arm[treatment]
    n, x, y = n_c + n_t, x_c + x_t, y_c + y_t
    theta = ((xy_c + xy_t) - x * y / n) / ((xx_c + xx_t) - x * x / n)

    def adjusted(n: float, y: float, yy: float, x: float, xx: float, xy: float) -> tuple[float, float]:
        v = (yy - y * y / n + theta * theta * (xx - x * x / n) - 2 * theta * (xy - x * y / n)) / (n - 1)
        return y / n - theta * (x / n - (x_c + x_t) / (n_c + n_t)), math.sqrt(max(v, 0.0))

    a_c, sd_c = adjusted(n_c, y_c, yy_c, x_c, xx_c, xy_c)
    a_t, sd_t = adjusted(n_t, y_t, yy_t, x_t, xx_t, xy_t)
    cuped = stats.ttest_ind_from_stats(a_t, sd_t, n_t, a_c, sd_c, n_c, equal_var=False)
    return {
        "revenue": revenue,
        "conversion": {"control_mean": p_c, "treatment_mean": p_t, "estimate": diff, "pvalue": pvalue},
        "revenue_cuped": revenue | {"cuped_estimate": a_t - a_c, "cuped_pvalue": float(cuped.pvalue)},
    }


def peer_numbers(result: Mapping[str, Any]) -> Numbers:
    """Means, difference and p-value per metric from a tea-tasting result (CUPED: its adjusted difference)."""
    numbers: Numbers = {}
    for name, r in result.items():
        row = {"estimate": float(r.effect_size), "pvalue": float(r.pvalue)}
        if name != "revenue_cuped":
            row |= {"control_mean": float(r.control), "treatment_mean": float(r.treatment)}
        else:
            row = {"cuped_estimate": row["estimate"], "cuped_pvalue": row["pvalue"]}
        numbers[name] = row
    return numbers


def compare_numbers(
    actual: Numbers, expected: Numbers, *, rel_tol: float = REL_TOL, abs_tol: float = 1e-12, label: str = "abnb"
) -> list[str]:
    """Compare every quantity that both sides have; returns one line per mismatch (empty: they agree).

    Two numbers agree when ``|a − b| ≤ max(rel_tol·max(|a|, |b|), abs_tol)`` (``math.isclose``); the absolute
    tolerance lets p-values that underflow towards 0 agree.
    """
    mismatches: list[str] = []
    for metric, quantities in expected.items():
        for name, value in quantities.items():
            got = actual.get(metric, {}).get(name)
            if got is None:
                continue
            if not math.isclose(got, value, rel_tol=rel_tol, abs_tol=abs_tol):
                mismatches.append(f"{label} {metric}.{name} = {got!r}, reference {value!r}")
    return mismatches
