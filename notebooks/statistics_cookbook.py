# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Statistics cookbook
#
# Every method of `abnb.stats` on a small, known example. All of them take sufficient statistics (counts, sums,
# sums of squares) or bounded samples, and every result names its method, so two tools' different numbers can be
# traced to a convention rather than an error.

# %%
import numpy as np
import pandas as pd

import abnb
from abnb.stats import Moments

# %% [markdown]
# ## 1. The conversion table: why tools print 90.2%, 90.3% or 89.3%
#
# Four page variants, conversions / visitors. The "±" is the half-width of a 95% normal interval of each rate.

# %%
variants = {
    "Original Page": (378, 3662),
    "Test it out": (462, 3568),
    "Give it a try": (440, 3479),
    "Try it out": (395, 3504),
}
table = abnb.counts.conversion_table(variants, baseline="Original Page")
abnb.report.styled_table(
    table,
    {
        "rate": "{:.1%}",
        "plus_minus": "±{:.1%}",
        "improvement": "{:+.1%}",
        "pvalue": "{:.3g}",
        "chance_beta": "{:.1%}",
        "chance_normal": "{:.1%}",
        "chance_lift": "{:.1%}",
    },
    na_rep="",
)

# %% [markdown]
# For "Try it out" the three chances differ in the first decimal:
#
# - **90.2%** (`chance_normal`): the difference of rates as a normal variable with the unpooled variance
#   p(1−p)/n of each arm — what the testing tool printed.
# - **90.3%** (`chance_beta`): exact Beta(1, 1) posteriors of both rates, P(p_B > p_A) by quadrature. With 3,500
#   visitors per arm the Beta posteriors are almost normal, so the two agree to 0.1 point.
# - **89.3%** (`chance_lift`): a normal on the *relative* lift with delta-method variance. Dividing by the
#   uncertain control rate adds the control's variance scaled by (p_B/p_A)², so the posterior is wider and the
#   chance closer to 50%.
#
# None of them is a p-value: the two-sided z-test gives p = 0.195 for the same counts.

# %% [markdown]
# ## 2. Means from sums: Welch's t-test and three relative intervals
#
# The relative lift is `(m_t − m_c)/|m_c|`: the difference over the *absolute* control mean, so a better treatment
# of a negative metric (profit, latency delta, NPS) has a positive lift. Its default interval is Fieller's: the
# set of ratios the data cannot reject, which excludes 0 exactly when the test of the difference does, so the
# interval never contradicts the p-value printed beside it. The delta-method interval is symmetric and the log
# interval needs both means of one sign; both are available by name.

# %%
control = Moments(n=3407, sum=1396.87, sum_sq=52377.9767)
treatment = Moments(n=3461, sum=2422.7, sum_sq=134698.29)
abnb.stats.welch(control, treatment)

# %%
pd.concat(
    [
        abnb.stats.welch(control, treatment, relative=True, relative_ci=kind).to_frame()
        for kind in ("delta", "log", "fieller")
    ],
    keys=["delta", "log", "fieller"],
)[["estimate", "ci_low", "ci_high", "pvalue", "method"]]

# %% [markdown]
# Rare events show why the default matters: 10 vs 25 crashes in 10 million sessions per arm. The z-test of the
# difference gives p = 0.011. The delta-method lift interval printed beside it, −33% to +333%, includes 0;
# Fieller's, +25% to +587%, agrees with the test.

# %%
rare_c, rare_t = Moments.from_counts(10, 10_000_000), Moments.from_counts(25, 10_000_000)
pd.concat(
    [abnb.stats.ztest(rare_c, rare_t).to_frame()]
    + [abnb.stats.ztest(rare_c, rare_t, relative=True, relative_ci=kind).to_frame() for kind in ("fieller", "delta")],
    keys=["difference", "lift, Fieller (default)", "lift, delta method"],
)[["estimate", "ci_low", "ci_high", "pvalue"]]

# %% [markdown]
# When the control mean itself is not distinguishable from 0, Fieller's set is not an interval; `ci_low` and
# `ci_high` are infinite and `ci_note` says what the set is (here two half-lines: a lift of at most −79% or at
# least +272%).

# %%
noisy = Moments.from_values([-1.0, 1.2, -0.9, 0.8, 0.1, -0.3])
better = Moments.from_values([1.0, 2.0, 1.5, 1.7, 2.2, 0.9])
print(abnb.stats.welch(noisy, better, relative=True).ci_note)

# %% [markdown]
# ## 3. Proportions: z-tests and exact tests for small counts

# %%
a, b = Moments.from_counts(14, 28), Moments.from_counts(16, 30)
pd.concat(
    [
        abnb.stats.ztest(a, b).to_frame(),
        abnb.stats.ztest(a, b, pooled=True).to_frame(),
        abnb.stats.ztest(a, b, pooled=True, continuity=True).to_frame(),
    ],
    keys=["unpooled", "pooled", "pooled + continuity"],
)[["estimate", "ci_low", "ci_high", "pvalue", "method"]]

# %%
pd.concat([abnb.stats.fisher(a, b).to_frame(), abnb.stats.barnard(a, b).to_frame()])

# %% [markdown]
# ## 4. Ratio metrics and variance reduction
#
# Revenue per session with users as the randomisation unit: the delta method from Σy, Σd, Σy², Σd², Σyd.

# %%
rng = np.random.default_rng(1)
sessions_c, sessions_t = rng.poisson(3, 5000) + 1, rng.poisson(3, 5000) + 1
revenue_c, revenue_t = rng.gamma(2, 5, 5000) * sessions_c, rng.gamma(2, 5.3, 5000) * sessions_t
abnb.stats.ratio(
    abnb.stats.RatioMoments.from_values(revenue_c, sessions_c),
    abnb.stats.RatioMoments.from_values(revenue_t, sessions_t),
    relative=True,
)

# %% [markdown]
# CUPED with a pre-period covariate; θ is pooled over both arms and the relative effect divides by the unadjusted
# control mean.

# %%
abnb.stats.cuped(
    Moments(n=3001, sum=300, sum_sq=600, x_sum=210, x_sum_sq=415, xy_sum=-20),
    Moments(n=3000, sum=222, sum_sq=555, x_sum=120, x_sum_sq=405, xy_sum=-10),
    relative=True,
)

# %% [markdown]
# ## 5. Ranks, resampling and quantiles
#
# Mann–Whitney with the Hodges–Lehmann shift and its distribution-free interval (the canary judge's statistic).

# %%
abnb.stats.mann_whitney([1, 2, 3, 4], [10, 20, 30, 40])

# %%
latency_c = rng.lognormal(4.0, 0.5, 20_000)
latency_t = rng.lognormal(4.05, 0.5, 20_000)
pd.concat(
    [
        abnb.stats.quantile_difference(latency_c, latency_t, 0.5).to_frame(),
        abnb.stats.quantile_difference(latency_c, latency_t, 0.99).to_frame(),
        abnb.stats.bootstrap(latency_c, latency_t, "p90", n_resamples=1000).to_frame(),
    ]
)

# %% [markdown]
# ## 6. Many metrics and arms

# %%
pvalues = [0.01, 0.04, 0.03, 0.20]
pd.DataFrame(
    {
        "raw": pvalues,
        **{m: abnb.stats.adjust(pvalues, method=m) for m in ("bonferroni", "holm", "hochberg", "bh", "by")},
    }
)

# %% [markdown]
# ## 7. Power: how many users?
#
# Baseline 20%, detect 25% (absolute +5 points), α = 0.05, power 0.8, by four formulas. `unpooled` is the default:
# it sizes the test the report runs (the unpooled z-test), whose simulated power at that n is 0.80; Evan Miller's
# calculator formula (`evan-miller`, baseline variance in the null term) gives 1,031 here but only 0.69–0.79
# power for that test when the effect is large. CUPED with ρ = 0.5 needs (1 − ρ²) of the users.

# %%
pd.DataFrame(
    {
        formula: [abnb.stats.sample_size(0.20, 0.05, formula=formula)]
        for formula in ("evan-miller", "pooled", "unpooled", "arcsine")
    }
    | {"unpooled, CUPED ρ=0.5": [abnb.stats.sample_size(0.20, 0.05, cuped_rho=0.5)]}
)

# %%
n = abnb.stats.sample_size(0.10, 0.05, relative=True)
print(
    f"{n:,} users per arm for +5% relative on a 10% rate; at 4,000 exposed users a day: "
    f"{abnb.stats.duration(n, 4000)} days. MDE with 20,000 per arm: {abnb.stats.mde(20_000, 0.10, relative=True):.1%}"
)

# %% [markdown]
# ## 8. Looking more than once: sequential methods

# %%
c, t = Moments.from_counts(1000, 10_000), Moments.from_counts(1100, 10_000)
pd.concat(
    [
        abnb.stats.ztest(c, t, relative=True).to_frame(),
        abnb.stats.confidence_sequence(c, t, relative=True).to_frame(),
        abnb.stats.msprt(c, t, tau=0.01).to_frame(),
    ]
)[["estimate", "ci_low", "ci_high", "pvalue", "method"]]

# %%
abnb.stats.group_sequential_bounds([0.2, 0.4, 0.6, 0.8, 1.0], spending="obrien-fleming")

# %% [markdown]
# ## 9. Calibration by simulation
#
# 20,000 A/A tests: the fixed-horizon test rejects 5% of the time; peeking after every 10% of the data and
# stopping at the first p < 0.05 rejects far more often, while the confidence sequence stays below 5%.

# %%
pd.DataFrame(
    {
        "fixed horizon Welch": [abnb.stats.aa_test(n_per_arm=1000).fpr],
        "naive peeking, 10 looks": [abnb.stats.peeking(n_per_arm=1000, looks=10, method="naive").rejection.estimate],
        "confidence sequence, 10 looks": [
            abnb.stats.peeking(n_per_arm=1000, looks=10, method="confidence_sequence").rejection.estimate
        ],
    },
    index=["false-positive rate"],
)

# %% [markdown]
# ## 10. Large means keep their digits: shifted sums
#
# A latency in nanoseconds since midnight, a price in micro-units: when a metric's mean dwarfs its spread, the
# textbook `Σy² − (Σy)²/n` cancels away every digit of the variance. The engine sums `y − c` around a pilot value `c`
# instead (`Moments.shift`); the statistics do not change, the digits survive.

# %%
values = 1e9 + np.random.default_rng(1).normal(0.0, 1.0, 10_000)
shifted = Moments.from_values(values)  # sums around the first value, as the engine's query does
raw = shifted.shifted(0.0)  # the same data as raw power sums
pd.DataFrame(
    {
        "variance": [float(np.var(values, ddof=1)), shifted.variance, raw.variance],
    },
    index=["two-pass (numpy)", "shifted sums", "raw sums"],
)
