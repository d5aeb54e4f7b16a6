"""Parity with peers: tea-tasting (its last release for Python 3.11) and statsmodels on the same per-unit data.

abnb's experiment analysis runs on the per-unit data as events (one aggregate query, as always); tea-tasting and
statsmodels run on the per-unit frame. Where the conventions match the numbers agree to 1e-8; where they differ
the test pins the difference and docs/statistics.md ("Conventions that differ from peers") says why abnb chose
its side:

* relative interval: abnb's default is Fieller's (excludes 0 exactly when the test of the difference rejects),
  tea-tasting's the log-ratio one; abnb's ``relative_ci="log"`` reproduces tea-tasting's;
* proportions: abnb tests 0/1 metrics with the z-test and the Bernoulli variance p(1 − p); tea-tasting's ``Mean``
  uses the sample variance (ddof 1) and Student's t by default;
* log-ratio interval: tea-tasting refers it to Student's t with the Welch–Satterthwaite df of the *log-scale*
  variances (v/m²), abnb to the df of the difference, so the ends differ in the 5th–6th digit;
* CUPED lift: abnb's default divides the adjusted difference by the adjusted control mean (Fieller), as
  tea-tasting does; GrowthBook's convention (``relative_ci="delta"``) divides by the unadjusted one.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from abnb.experiment import Experiment, ExperimentResult
from abnb.stats import Moments, welch, ztest

try:
    import tea_tasting as tt
except ImportError:  # `make test` installs it (the bench extra); in CI its absence is a failure, not a skip
    if os.environ.get("CI"):
        raise
    pytest.skip("tea-tasting is installed by `make test` (the bench extra)", allow_module_level=True)

N = 3000
START = datetime(2026, 10, 1)
TOL = 1e-8
LOG_DF = 1e-4  # the log-ratio interval's ends: tea-tasting's df is that of the log scale (see the module docstring)


@pytest.fixture(scope="module")
def users() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frames = []
    for variant in (0, 1):
        pre = rng.lognormal(1.0, 1.0, N)
        frames.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "revenue": 0.5 * pre + rng.lognormal(1.0 + 0.05 * variant, 1.0, N),
                    "pre": pre,
                    "sessions": rng.integers(1, 6, N).astype(float),
                    "converted": (rng.random(N) < 0.10 + 0.01 * variant).astype(float),
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    data["unit"] = [f"u{i}" for i in range(len(data))]
    return data


@pytest.fixture(scope="module")
def ours(users: pd.DataFrame) -> ExperimentResult:
    """abnb's experiment analysis of the same users, from events in frames."""
    exposed = [START + timedelta(seconds=i) for i in range(len(users))]
    exposures = pd.DataFrame(
        {"unit": users["unit"], "arm": users["variant"].map({0: "A", 1: "B"}), "ts": exposed, "experiment": "exp"}
    )
    later = [t + timedelta(hours=1) for t in exposed]
    earlier = [t - timedelta(days=1) for t in exposed]
    events = pd.concat(
        [
            pd.DataFrame({"unit": users["unit"], "ts": later, "event": "revenue", "value": users["revenue"]}),
            pd.DataFrame({"unit": users["unit"], "ts": earlier, "event": "revenue", "value": users["pre"]}),
            pd.DataFrame({"unit": users["unit"], "ts": later, "event": "session", "value": users["sessions"]}),
            pd.DataFrame({"unit": users["unit"], "ts": later, "event": "buy", "value": users["converted"]}),
        ]
    )
    spec = Experiment.from_dict(
        {
            "name": "exp",
            "arms": ["A", "B"],
            "control": "A",
            "correction": "none",
            "metrics": [
                {
                    "name": "revenue",
                    "sql": "SELECT unit, ts, value FROM events WHERE event = 'revenue'",
                    "covariate_days": 2,
                },
                {
                    "name": "revenue_per_session",
                    "kind": "ratio",
                    "sql": "SELECT unit, ts, value FROM events WHERE event = 'revenue'",
                    "denominator_sql": "SELECT unit, ts, value FROM events WHERE event = 'session'",
                },
                {
                    "name": "converted",
                    "kind": "proportion",
                    "sql": "SELECT unit, ts, value FROM events WHERE event = 'buy'",
                },
            ],
        }
    )
    return spec.analyze({"exposures": exposures, "events": events}, as_of=START + timedelta(days=3))


@pytest.fixture(scope="module")
def theirs(users: pd.DataFrame) -> dict[str, object]:
    experiment = tt.Experiment(
        revenue=tt.Mean("revenue"),
        cuped=tt.Mean("revenue", "pre"),
        ratio=tt.RatioOfMeans("revenue", "sessions"),
        converted_z=tt.Mean("converted", use_t=False),
        converted_t=tt.Mean("converted"),
    )
    return dict(experiment.analyze(users))


def _absolute(result: object) -> tuple[float, float, float, float]:
    return (
        result.effect_size,  # type: ignore[attr-defined]
        result.effect_size_ci_lower,  # type: ignore[attr-defined]
        result.effect_size_ci_upper,  # type: ignore[attr-defined]
        result.pvalue,  # type: ignore[attr-defined]
    )


def _relative(result: object) -> tuple[float, float, float]:
    return (
        result.rel_effect_size,  # type: ignore[attr-defined]
        result.rel_effect_size_ci_lower,  # type: ignore[attr-defined]
        result.rel_effect_size_ci_upper,  # type: ignore[attr-defined]
    )


def _same_log_interval(ours: object, theirs: object) -> None:
    """The same lift; the log-ratio interval's ends equal up to the df convention, and not to 1e-8."""
    estimate, low, high = _relative(theirs)
    assert ours.estimate == pytest.approx(estimate, rel=TOL)  # type: ignore[attr-defined]
    assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high), rel=LOG_DF)  # type: ignore[attr-defined]
    assert (ours.ci_low, ours.ci_high) != pytest.approx((low, high), rel=1e-10)  # type: ignore[attr-defined]


def test_welch_means_agree(ours: ExperimentResult, theirs: dict[str, object], users: pd.DataFrame) -> None:
    from statsmodels.stats.weightstats import ttest_ind

    effect = ours.effect("revenue", "B")
    a = effect.absolute
    assert (a.estimate, a.ci_low, a.ci_high, a.pvalue) == pytest.approx(_absolute(theirs["revenue"]), rel=TOL)
    control, treatment = (users.loc[users["variant"] == v, "revenue"] for v in (0, 1))
    _, pvalue, _ = ttest_ind(treatment, control, usevar="unequal")
    assert a.pvalue == pytest.approx(pvalue, rel=TOL)
    # tea-tasting's relative interval is the log-ratio one; abnb's relative_ci="log" is the same formula
    log = welch(effect.control, effect.treatment, relative=True, relative_ci="log")
    _same_log_interval(log, theirs["revenue"])
    # abnb's default (Fieller) has the same estimate and the p-value of the difference
    assert effect.relative.estimate == pytest.approx(log.estimate, rel=TOL)
    assert effect.relative.pvalue == a.pvalue


def test_cuped_agrees_with_tea_tastings_convention(ours: ExperimentResult, theirs: dict[str, object]) -> None:
    adjusted = ours.effect("revenue", "B").adjusted
    assert adjusted is not None
    from abnb.stats import cuped

    effect = ours.effect("revenue", "B")
    absolute = cuped(effect.control, effect.treatment)
    assert (absolute.estimate, absolute.ci_low, absolute.ci_high, absolute.pvalue) == pytest.approx(
        _absolute(theirs["cuped"]), rel=TOL
    )
    # relative: tea-tasting divides by the adjusted control mean (log interval); so does abnb's default estimate
    log = cuped(effect.control, effect.treatment, relative=True, relative_ci="log")
    _same_log_interval(log, theirs["cuped"])
    assert adjusted.estimate == pytest.approx(log.estimate, rel=TOL)
    # GrowthBook's convention (over the unadjusted control mean) is a close but different number
    growthbook = cuped(effect.control, effect.treatment, relative=True, relative_ci="delta")
    assert growthbook.estimate != pytest.approx(log.estimate, rel=1e-6)
    assert growthbook.estimate == pytest.approx(log.estimate, rel=0.05)


def test_ratio_metrics_agree(ours: ExperimentResult, theirs: dict[str, object]) -> None:
    from abnb.stats import ratio

    effect = ours.effect("revenue_per_session", "B")
    a = effect.absolute
    assert (a.estimate, a.ci_low, a.ci_high, a.pvalue) == pytest.approx(_absolute(theirs["ratio"]), rel=TOL)
    log = ratio(effect.control, effect.treatment, relative=True, relative_ci="log")  # type: ignore[arg-type]
    _same_log_interval(log, theirs["ratio"])


def test_proportions_differ_by_the_variance_convention(
    ours: ExperimentResult, theirs: dict[str, object], users: pd.DataFrame
) -> None:
    from statsmodels.stats.proportion import test_proportions_2indep

    effect = ours.effect("converted", "B")
    a = effect.absolute
    counts = [int(users.loc[users["variant"] == v, "converted"].sum()) for v in (0, 1)]
    wald = test_proportions_2indep(counts[1], N, counts[0], N, method="wald", compare="diff")
    assert a.pvalue == pytest.approx(wald.pvalue, rel=TOL)  # abnb = statsmodels' Wald z-test, variance p(1 − p)
    assert a.estimate == pytest.approx(theirs["converted_z"].effect_size, rel=TOL)  # type: ignore[attr-defined]
    # tea-tasting's Mean uses the sample variance (ddof 1): its SE is sqrt(n/(n − 1)) times abnb's
    z_theirs = theirs["converted_z"]
    half_ours = (a.ci_high - a.ci_low) / 2
    half_theirs = (z_theirs.effect_size_ci_upper - z_theirs.effect_size_ci_lower) / 2  # type: ignore[attr-defined]
    assert half_theirs / half_ours == pytest.approx(np.sqrt(N / (N - 1)), rel=1e-6)
    sample_variance = ztest(
        Moments.from_values(users.loc[users["variant"] == 0, "converted"]),
        Moments.from_values(users.loc[users["variant"] == 1, "converted"]),
    )
    assert (sample_variance.ci_low, sample_variance.ci_high) == pytest.approx(
        (z_theirs.effect_size_ci_lower, z_theirs.effect_size_ci_upper),
        rel=TOL,  # type: ignore[attr-defined]
    )
    # with Student's t (tea-tasting's default) the p-value is a little larger again
    assert theirs["converted_t"].pvalue > z_theirs.pvalue  # type: ignore[attr-defined]
