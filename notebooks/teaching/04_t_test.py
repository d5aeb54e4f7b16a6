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
# # Paired or independent? Three t-tests on one benchmark
#
# A change should make a benchmark faster. We run it on the same N machines before and after the change. The
# machines differ a lot (**machine sd**), and each run on one machine wobbles a little (**noise sd**); the change
# saves **improvement** milliseconds on every machine.
#
# - **Independent measurements** (Welch's and Student's two-sample tests) treat the two columns as two unrelated
#   samples, as if every run used regenerated inputs on different machines.
# - **Dependent measurements** (the paired test) compare each machine with itself: the machine's own speed cancels
#   out of `after − before`.
#
# The table and the chart show all three tests on the same data; R's `t.test` printout of each test is below the
# verdict (open "The same tests as R prints them").

# %%
import numpy as np
from IPython.display import display

import abnb.teach
import abnb.widgets.ttests
from abnb.widgets.ttests import compare, r_style

app = abnb.widgets.ttests.ttests_app()
display(app)

# %% [markdown]
# ## Machines that vary a lot
#
# Ten machines whose runtimes spread by 30 ms, run-to-run noise of 2 ms and a true saving of 3 ms. The two-sample
# tests compare the saving with the 30 ms spread between machines and find nothing; the paired test compares it with
# the noise of the differences and finds it.

# %%
shown = app.preview("machines vary a lot")  # the case the app above starts on
display(shown.state.table)

# %% [markdown]
# ## Identical machines
#
# Without machine spread there is nothing to cancel: all three tests see about the same standard error, and the
# paired test even has fewer degrees of freedom (9 instead of 18). Pairing pays when units vary more than the runs.

# %%
shown = app.preview("identical machines")
display(shown)
display(shown.state.table)

# %% [markdown]
# ## The same numbers as R
#
# `r_style` prints an abnb result in the layout of R's `t.test`. R's `sleep` data (extra hours of sleep of ten
# patients under two drugs) is the classic example: R prints t = -1.8608, df = 17.776, p-value = 0.07939 for
# Welch's test and t = -4.0621, df = 9, p-value = 0.002833 for the paired one. The paired test fits here, because
# the same ten patients took both drugs.

# %%
drug1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
drug2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])
results = compare(drug1, drug2)
for name in ("welch", "student", "paired"):
    print(r_style(results[name]))

# %% [markdown]
# Back to the benchmark: with 30 machines that vary a lot and a saving of only 2 ms, which tests notice it?

# %%
app.preview(n=30, improvement=2.0, between_sd=30.0, noise_sd=2.0)

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell after each question, then run the self-check below it: it says right or not yet,
# and why. The answers are computed by `abnb.teach` when you check; the notebook does not hold them.


# %% [markdown]
# ### Exercise 04.which_test
#
# A benchmark runs on the same 10 machines before and after a change; the machines differ by 30 ms, one run wobbles
# by 2 ms. Which test should compare before and after? (a) Welch's two-sample t-test, (b) Student's two-sample
# t-test, (c) the paired t-test. Set `answer` to a letter.

# %% tags=["solution"]
### BEGIN SOLUTION
answer = "c"
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("04.which_test", answer)

# %% tags=["tests", "points-1"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("04.which_test", answer)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 04.paired_t
#
# With R's sleep data above (`drug1`, `drug2`: the same ten patients), compute the paired t statistic of `drug1 −
# drug2` as `t_paired`, from the differences (mean over standard error).

# %% tags=["solution"]
### BEGIN SOLUTION
differences = drug1 - drug2
t_paired = differences.mean() / (differences.std(ddof=1) / len(differences) ** 0.5)
### END SOLUTION

# %% tags=["self-check"]
abnb.teach.check("04.paired_t", t_paired)

# %% tags=["tests", "points-2"]
### BEGIN HIDDEN TESTS
abnb.teach.grade("04.paired_t", t_paired)
### END HIDDEN TESTS
