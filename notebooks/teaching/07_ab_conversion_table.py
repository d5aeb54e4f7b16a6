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
# # 07 · Reading an A/B testing tool's conversion table
#
# Web-testing tools report experiments as a table: conversions / visitors per variant, a conversion rate with a
# "±", the improvement over the original page and a "chance to beat baseline". The lecture's example tests three
# button labels against the original page. This notebook recomputes every number with
# `abnb.counts.conversion_table` and explains what each one means.
#
# * **rate ± x%**: the ± is the half-width of the 95% confidence interval of that rate alone,
#   `z·√(p(1−p)/n)`. It is not an interval for the difference with the baseline.
# * **improvement**: rate / baseline rate − 1.
# * **chance to beat baseline**: a Bayesian posterior probability that the variant's true rate is higher than
#   the baseline's. It is not `1 − p`.

# %%
from IPython.display import display

import abnb.teach
import abnb.widgets.conversion

# %%
app = abnb.widgets.conversion.conversion_app()
display(app)

# %% [markdown]
# ## Why 90.2%, 90.3% or 89.3%?
#
# The same counts for "Try it out" (395 / 3,504 against 378 / 3,662) give three different chances, depending on
# the model behind the number:
#
# * **normal (90.2%)**, the published number: the difference of the two rates is treated as a bell curve with
#   variance `p₁q₁/n₁ + p₂q₂/n₂`, and the chance is `Φ(difference / se)`.
# * **exact Beta (90.3%)**: each rate gets its own Beta posterior (a uniform prior plus the counts), and
#   `P(p_variant > p_original)` is computed exactly. The Beta curves are slightly skewed and the prior adds one
#   success and one failure, so the answer moves in the last digit.
# * **lift (89.3%)**: the relative lift `p_variant/p_original − 1` is treated as a bell curve. Dividing by the
#   uncertain baseline rate counts the baseline's noise with weight `(p_variant/p_original)² ≈ 1.19`, so the
#   chance is a little lower.
#
# None of them is wrong; they are conventions. Always check which one a tool uses before comparing tools.

# %%
shown = app.preview(method="beta")
display(shown)
print(f"exact Beta: {shown.state.chance:.1%}")
shown = app.preview(method="lift")
display(shown)
print(f"lift: {shown.state.chance:.1%}")

# %% [markdown]
# ## Change the counts
#
# Edit the conversions and visitors of "Try it out" and watch the chance move. Twenty-five more conversions on
# the same traffic make it almost certain to beat the original; the same rate on ten times the visitors makes it
# more convincing, but the original page's own noise still limits how sure we can be.

# %%
shown = app.preview(method="normal", conversions=420)
display(shown)
print(f"420 / 3,504: {shown.state.chance:.1%}")

# %%
shown = app.preview("Try it out with 10× the visitors")
display(shown)
print(f"3,950 / 35,040: {shown.state.chance:.1%}")

# %% [markdown]
# Finally, a wider or narrower ± only changes the error bars, not the chance to beat the baseline: the ± is about
# each rate on its own.

# %%
app.preview("published table (normal)", confidence_level=0.90)

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 07.plus_minus
#
# 'Try it out' converted 395 of 3,504 visitors. Compute the ± of its rate as the table shows it (half-width of the
# 95% normal interval), in percentage points, as `plus_minus`.

# %% tags=["solution"]
### BEGIN SOLUTION
from scipy.stats import norm

rate = 395 / 3504
plus_minus = 100 * norm.ppf(0.975) * (rate * (1 - rate) / 3504) ** 0.5
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("07.plus_minus", plus_minus)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("07.plus_minus", plus_minus)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 07.chance_to_beat
#
# The table says 'chance to beat baseline: 90%' for 'Try it out'. What is the p-value of its difference with the
# baseline? (a) 0.10; (b) it cannot be read off the chance, a two-sided test gives about 0.2; (c) 0.90. Set `answer`
# to a letter.

# %% tags=["solution"]
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("07.chance_to_beat", answer)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("07.chance_to_beat", answer)
### END HIDDEN TESTS
