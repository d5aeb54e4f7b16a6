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
# # 05 · Significance, errors and power
#
# An A/B test can go wrong in two ways. It can call a difference that is only noise (an **α error**, a false
# positive), or it can miss a difference that is really there (a **β error**, a false negative). **Power** is
# `1 − β`: the chance of detecting an effect of a given size. This notebook draws both errors as areas, shows how
# many users a test needs, and separates "statistically significant" from "important".

# %%
from IPython.display import display

import abnb.teach
import abnb.widgets.power

# %% [markdown]
# ## 1. α and β are areas under two curves
#
# Repeat the same experiment many times and the observed difference of means `D` scatters around the truth with
# standard error `se = sd·√(2/n)`. Under H0 (no effect) it scatters around 0; under H1 around the true effect `δ`.
# The test rejects H0 when `|D|` is beyond the cut-offs `±z₁₋α/₂·se` (dashed lines):
#
# * **α** = the part of the H0 curve beyond the cut-offs (red): how often pure noise looks significant;
# * **β** = the part of the H1 curve between them (orange): how often a real effect is missed;
# * **power** = the part of the H1 curve beyond them (green): `Φ(δ/se − z₁₋α/₂) + Φ(−δ/se − z₁₋α/₂)`.
#
# Move the sliders: more users or less noise make both curves narrower and pull them apart; a stricter α moves
# the cut-offs out, which lowers α but raises β.

# %%
power_app = abnb.widgets.power.power_app()
display(power_app)

# %% [markdown]
# With only 50 users per arm the two curves overlap heavily: an effect of 0.2 standard deviations is missed most
# of the time.

# %%
shown = power_app.preview("underpowered: n = 50")  # the case the app above starts on
print(f"power = {shown.state.power:.1%}, beta = {shown.state.beta:.1%}")

# %% [markdown]
# Demanding α = 0.01 instead of 0.05 buys fewer false positives at the price of power: with the same 400 users
# per arm, power drops from about 81% to about 60%.

# %%
shown = power_app.preview("stricter α = 0.01 costs power")
display(shown)
print(f"power = {shown.state.power:.1%}")

# %% [markdown]
# ## 2. How many samples do I need?
#
# Before the experiment, pick the baseline conversion rate, the smallest relative change worth detecting (the
# **minimum detectable effect**), α and the power you want. `abnb.stats.sample_size` turns them into users per
# arm; four textbook formulas are shown side by side (they differ by a few percent in how they estimate the
# variance under H0), and `abnb.stats.duration` turns users into days for your traffic.
#
# The curve shows power against users per arm. **Too few** users and a real effect is a coin flip; **too many**
# adds little power but costs days, delays the decision and exposes users to a possibly worse variant for longer.

# %%
size_app = abnb.widgets.power.sample_size_app()
display(size_app)

# %% [markdown]
# Small baseline rates are expensive: a +10% change on a 1% conversion rate needs about ten times as many users
# as the same relative change on a 10% rate.

# %%
shown = size_app.preview("rare conversions: 1%, +10%")  # the case the app above starts on
print(f"{shown.state.n_per_arm:,} users per arm, {shown.state.days} days at 5,000 users/day")

# %%
shown = size_app.preview(daily_traffic=20_000)
display(shown)
print(f"{shown.state.days} days at 20,000 users/day")

# %% [markdown]
# ## 3. Statistically significant ≠ important
#
# A p-value answers "could this difference be zero?", not "does it matter?". Set the smallest difference that
# matters for your product (the grey band) and read the confidence interval against it.
#
# * With half a million users per arm, a difference of 0.01 standard deviations is highly significant and still
#   negligible.
# * With 15 users per arm, a difference of 0.5 standard deviations is not significant, yet the interval reaches
#   far into important territory: the experiment was too small to tell, which is not the same as "no effect".

# %%
significance = abnb.widgets.power.significance_app()
display(significance)

# %%
shown = significance.preview("huge n, tiny effect (significant, negligible)")  # as the app above starts
print(shown.state.kind, f"(p = {shown.state.pvalue:.2g})")

# %%
shown = significance.preview("small n, large effect (important, not significant)")
display(shown)
print(shown.state.kind, f"(p = {shown.state.pvalue:.2g})")

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 05.sample_size
#
# Baseline conversion 5%; the smallest change worth detecting is +10% relative (5% → 5.5%). How many users per arm
# does a two-sided test with α = 0.05 and 80% power need (unpooled variance)? Set `users_per_arm`.

# %% tags=["solution"]
### BEGIN SOLUTION
from math import ceil

from scipy.stats import norm

p1, p2 = 0.05, 0.055
z = norm.ppf(1 - 0.05 / 2) + norm.ppf(0.8)
users_per_arm = ceil(z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2)
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("05.sample_size", users_per_arm)

# %% tags=["tests", "points-2"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("05.sample_size", users_per_arm)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 05.pvalue_meaning
#
# A test of the call-quality ratings of a new codec gives p = 0.03. What does 0.03 mean? (a) a 3% probability that
# the codec makes no difference; (b) a 97% probability that the new codec is better; (c) if the codec made no
# difference, ratings at least this far apart would turn up 3% of the time; (d) the difference in ratings is large
# enough to matter. Set `answer` to a letter, or try the quiz below.

# %% tags=["solution"]
### BEGIN SOLUTION
answer = "c"
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("05.pvalue_meaning", answer)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("05.pvalue_meaning", answer)
### END HIDDEN TESTS

# %% tags=["self-check"]
abnb.teach.answer_box("05.pvalue_meaning")
