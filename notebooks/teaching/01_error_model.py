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
# # 1. Where the bell curve comes from: an error model
#
# A response time, a model's accuracy on a test set, the time a user spends on a page: every measurement we take
# in production is pushed a little up or down by things we do not control (a cache miss, a garbage-collection pause,
# a noisy neighbour on the host, the mood of the user). Here is the simplest model of that noise: the measurement
# is the true value plus **N independent errors, each +s or −s with equal probability**.
#
# With k of the N errors positive the measurement is μ + s·(2k − N), and there are C(N, k) ways to choose which
# errors those are, so
#
# $$P\bigl(\mu + s(2k - N)\bigr) = \binom{N}{k} \Big/ 2^N, \qquad k = 0, \dots, N.$$
#
# The mean is μ and the standard deviation s·√N. The app computes this distribution exactly (from whole numbers)
# and draws the normal curve with the same mean and standard deviation over it.

# %%
from IPython.display import display

import abnb.teach
import abnb.widgets.error_model

app = abnb.widgets.error_model.error_model_app()
display(app)

# %% [markdown]
# ## Few errors: count the paths
#
# One error around a true value of 10 lands on 9 or 11, half the time each. Two errors give 8, 10 or 12; the
# middle value is twice as likely, because "up then down" and "down then up" both end there.

# %%
shown = app.preview("2 errors around 10")
display(shown)

# %% [markdown]
# Three errors give 7, 9, 11 and 13 with probabilities 1/8, 3/8, 3/8 and 1/8: the middle values already collect most
# of the probability, and the extremes need every error to point the same way.

# %%
shown = app.preview(errors=3, error_size=1.0, true_value=10.0)
display(shown)
display(shown.state.distribution[["value", "probability", "normal_mass"]])

# %% [markdown]
# ## Many errors: the binomial turns normal
#
# Move the slider to the right. The bars fill in the red curve more and more closely. The verdict reports the
# largest vertical gap between the exact cumulative distribution and the normal one: it falls roughly like 1/√N.
# Most of what is left is the staircase shape of a discrete distribution; shifting the normal curve by half a step
# (the continuity correction) removes nearly all of it.

# %%
gaps = {n: abnb.widgets.error_model.error_distribution(errors=n).max_cdf_gap for n in (1, 3, 10, 30, 100, 200)}
display(gaps)

# %%
app.preview("200 small errors")

# %% [markdown]
# Two hundred errors of ±0.1 give a spread of 0.1·√200 ≈ 1.4 around the true value: exactly the bell shape, even
# though no single error is normal. That is the central limit theorem at work, and it is why averages of many
# measurements (the numbers we compare in A/B tests) are treated as normal. The error size only stretches the
# axis; the number of independent errors decides how normal the result looks.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 01.paths
#
# Four independent errors each push a measurement by +1 or −1 with equal chance. What is the probability that they
# cancel out exactly (a total of 0)? Set `probability`.

# %% tags=["solution"]
### BEGIN SOLUTION
from math import comb

probability = comb(4, 2) / 2**4
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("01.paths", probability)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("01.paths", probability)
### END HIDDEN TESTS
