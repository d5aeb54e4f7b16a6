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
# # 3. What a 95% confidence interval promises
#
# One group in an experiment had an average time on site of 3:13 minutes. How far from the true average can that
# be? A confidence interval for the mean answers with a range,
#
# $$\bar y \pm t_{n-1,\,(1+c)/2} \cdot \frac{s}{\sqrt n},$$
#
# and "95% confidence" is a promise about the **procedure**, not about one interval: if we drew many samples and
# built an interval from each, about 95% of them would contain the true mean. We cannot check that on real traffic,
# because the true mean is unknown, but we can in a simulation.
#
# The app draws many samples from a population whose mean we know, computes each sample's t-interval (the same
# interval `abnb` reports for a mean metric) and counts how many contain the true mean. The count is itself a
# random quantity, so it comes with its own exact (Clopper–Pearson) interval.

# %%
from IPython.display import display

import abnb.teach
import abnb.widgets.confidence

app = abnb.widgets.confidence.confidence_app()
display(app)

# %% [markdown]
# ## Normal data: the promise holds
#
# 500 samples of 30 users each, time on site normal with mean 190 s and standard deviation 120 s. Each red line is
# an interval that missed. Roughly one in twenty should.

# %%
shown = app.preview("normal, n=30, 500 samples")  # the case the app above starts on
print(f"{shown.state.coverage:.1%} of the intervals contain the true mean")

# %% [markdown]
# The t quantile (instead of 1.96) is what keeps the promise at small sample sizes: with n = 3 the intervals are
# very wide, but they still cover 95% of the time for normal data.

# %%
shown = app.preview("normal, n=3: t still works")
display(shown)
state = shown.state
print(f"coverage {state.coverage:.1%}, 95% CI [{state.coverage_ci_low:.1%}, {state.coverage_ci_high:.1%}]")

# %% [markdown]
# Lowering the confidence level makes the intervals shorter and the misses more frequent, in exactly the proportion
# promised: at 90%, one in ten.

# %%
shown = app.preview("90% intervals")
display(shown)

# %% [markdown]
# ## Skewed data: the promise breaks at small n
#
# Production metrics are rarely normal. Time on site, latency and revenue have long right tails: most values are
# small, a few are huge. Take a lognormal population with the same mean and standard deviation. A small sample
# usually misses the rare huge values, so its mean is too low **and** its standard deviation too small: the
# interval is short and sits below the truth. The misses (red) cluster on the left.

# %%
shown = app.preview("skewed, n=5")
display(shown)

# %% [markdown]
# More data repairs it, but slowly: with 500 values per sample the sample mean is much closer to normal, yet for a
# tail this heavy the coverage still falls short of 95%. Heavily skewed metrics need very large samples (or capping
# of extreme values, or a transformation) before the t-interval can be taken at its word.

# %%
shown = app.preview("skewed, n=500")
display(shown)

# %% [markdown]
# ## Rare 0/1 events
#
# Conversions are 0/1 values. With a 5% rate and 20 users per sample, about a third of the samples contain no
# conversion at all: the sample standard deviation is 0, the interval has width 0, and it misses. For rare events
# the sample must be large enough to see several of them (or use an interval designed for proportions).

# %%
shown = app.preview("rare 0/1 event, n=20")
display(shown)

# %% [markdown]
# ## Try it
#
# - Change the seed: the individual lines change, the coverage stays near the same value.
# - With skewed data, find the sample size at which the Clopper–Pearson interval first contains 95%.
# - Lower the skew σ of the lognormal: the smaller the skew, the sooner the t-interval is trustworthy.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 03.ci_by_hand
#
# 100 users spent 3:13 minutes (193 s) on site on average, with an SD of 90 s. Compute the 95% confidence interval
# of the mean time on site by hand, with the t quantile for n − 1 degrees of freedom: set `ci_low` and `ci_high`
# (seconds).

# %% tags=["solution"]
### BEGIN SOLUTION
from scipy import stats

half_width = stats.t.ppf(0.975, 100 - 1) * 90 / 100**0.5
ci_low, ci_high = 193 - half_width, 193 + half_width
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("03.ci_by_hand", ci_low, ci_high)

# %% tags=["tests", "points-2"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("03.ci_by_hand", ci_low, ci_high)
### END HIDDEN TESTS
