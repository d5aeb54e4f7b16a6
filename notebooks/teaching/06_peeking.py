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
# # 06 · Peeking: why "stop when it's significant" breaks the test
#
# A significance level of 5% is a promise about **one** look at the data, decided in advance. Dashboards make it
# tempting to check every day and stop as soon as the p-value dips below 0.05. Each check is another chance for
# noise to cross the line, and the chances add up.
#
# Here we simulate many **A/A tests** (both arms identical, so every "winner" is a false positive) and look once a
# day. The simulation is `abnb.stats.simulate.peeking`, which draws each day's sufficient statistics and runs
# the same Welch test as the analysis code. Two stopping rules are compared:
#
# * **naive**: stop at the first day with `p < α`;
# * **anytime-valid confidence sequence**: stop at the first day the confidence sequence excludes 0. It is wider
#   than a fixed-horizon interval, and in exchange it may be checked as often as you like.
#
# The chart shows the false-positive rate after 1, 2, … daily looks, each with a 95% Clopper–Pearson band for the
# simulation noise; the dashed line is α.

# %%
from IPython.display import display

import abnb.teach
import abnb.widgets.peeking

# %%
app = abnb.widgets.peeking.peeking_app()
display(app)

# %% [markdown]
# With a single look there is nothing to peek at: about 5% of the A/A tests come out significant, as promised.

# %%
shown = app.preview("one look (no peeking)")  # the case the app above starts on
print(f"naive: {shown.state.naive_fpr:.1%}, confidence sequence: {shown.state.cs_fpr:.1%}")

# %% [markdown]
# Looking every day for a month multiplies the false-positive rate by more than five, although each single test
# is correct. The confidence sequence stays below α at every look. More simulations narrow the bands.

# %%
shown = app.preview("a month, 20,000 simulations")
display(shown)
print(f"naive: {shown.state.naive_fpr:.1%}, confidence sequence: {shown.state.cs_fpr:.1%}")

# %% [markdown]
# What to do in practice: fix the sample size in advance (notebook 05) and analyse once, or use a method built
# for repeated looks (a confidence sequence, or a group-sequential design with planned looks).

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 06.peeking_mistake
#
# A team runs an A/A test for 30 days, looks every day and stops at the first p < 0.05. About how often does it
# declare a winner? (a) 5% of the time, as α promises; (b) about a quarter of the time; (c) never, since both arms
# are identical. Set `answer` to a letter.

# %% tags=["solution"]
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("06.peeking_mistake", answer)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("06.peeking_mistake", answer)
### END HIDDEN TESTS
