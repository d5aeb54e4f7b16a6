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
# # Comparing two distributions
#
# Group B's users stayed a little longer on the site than group A's. Is B really better, or did we just happen to
# draw a few long visits? A difference between two averages means something only next to the spread of the
# values and the number of users behind each average. Move the sliders (values are seconds on site):
#
# - **effect**: how much longer B's users stay on average than A's (the true difference);
# - **sd A**, **sd B**: how much single users differ from each other within a group;
# - **n A**, **n B**: how many users each group has; **seed** draws a different sample.
#
# The lower panel shows each group's mean with its 95% confidence interval; the verdict below the chart is Welch's
# t-test of the difference (significance level α = 0.05).

# %%
from IPython.display import display

import abnb.teach
import abnb.widgets.distributions

app = abnb.widgets.distributions.distributions_app()
display(app)

# %% [markdown]
# ## Same time on site, different numbers of users
#
# The lecture's example: the classic recommender keeps users 3:13 minutes (193 s) on average, the updated one
# 3:24 minutes (204 s), 11 seconds more. The lecture does not say how much users differ; we assume a standard
# deviation of 1.5 minutes (90 s) per user in both groups. With 10 users per group the two histograms overlap
# almost completely and the confidence intervals of the means are wider than a minute: the 11 seconds are noise.

# %%
shown = app.preview("time on site, 10 users")  # the case the app above starts on
print(shown.state.verdict, f"(p = {shown.state.pvalue:.3f})")

# %% [markdown]
# With 2,158 users per group the histograms look just as overlapping, because single users still differ by about
# 90 s. But each *mean* is now known to within about ±4 s, and the same 11-second difference is significant.

# %%
shown = app.preview("time on site, 2,158 users")
display(shown)
print(shown.state.verdict, f"(p = {shown.state.pvalue:.2g})")

# %% [markdown]
# ## Effect size and noise
#
# With equal deviations a larger effect separates the distributions more. Keep the effect at 30 s and the group
# sizes at 50, and increase both deviations from 45 s to 120 s: the effect is the same, but it drowns in the noise.
# Less noise makes a difference easier to recognise.

# %%
shown = app.preview("different effect size, same deviations")
display(shown)
print("sd 45 s: ", shown.state.verdict, f"(p = {shown.state.pvalue:.2g})")
shown = app.preview("same effect size, different deviations")
display(shown)
print("sd 120 s:", shown.state.verdict, f"(p = {shown.state.pvalue:.2g})")

# %% [markdown]
# Try it yourself: with the deviations at 120 s, how many users per group does it take before the verdict turns
# significant for most seeds? And what happens with no effect at all (effect = 0) when you change the seed a few
# times? About one seed in twenty still calls the groups different — that is what α = 0.05 means.
#
# A simplification: the samples are drawn from normal distributions, so a few users get a negative time on site.
# Real times are skewed; the t-test on means still works for groups of this size, but look at the data first.

# %%
shown = app.preview(effect=0.0, sd_a=120.0, sd_b=120.0, n_a=50, n_b=50, seed=7)
display(shown)
print(shown.state.verdict, f"(p = {shown.state.pvalue:.2g})")

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 02.effect_size
#
# The updated recommender keeps users 3:24 minutes on site, the classic one 3:13, and users differ by 90 s (SD) in
# both groups. Compute the effect size (Cohen's d) of the difference as `d`.

# %% tags=["solution"]
### BEGIN SOLUTION
d = (204 - 193) / 90
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("02.effect_size", d)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("02.effect_size", d)
### END HIDDEN TESTS
