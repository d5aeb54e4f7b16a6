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
# # Shadow release: does the candidate agree with the live model, and is it better?
#
# In a shadow release (traffic teeing) the candidate scores a copy of every live request, but only the live model's
# answer is served: users never see the candidate, so the blast radius is zero. What we get is two prediction logs
# for the same requests, joined here by `request_id`. The sample database holds five days of them, 2026-10-05 to
# 2026-10-10, from the candidate `v2-shadow` before v2 replaced v1 (`abnb.datasets.models.SHADOW_TRUTH` documents the
# planted differences: better in `en`, worse in `de`, about even elsewhere, scores shifted up by 0.03).
#
# All statistics come from one aggregate query in DuckDB (2×2 agreement counts, sums of score differences and their
# squares, label sums per segment and bin); only the labelling sample fetches rows, and at most `n` of them.

# %%
from IPython.display import display

import abnb
from abnb.datasets.models import SHADOW_TRUTH
from abnb.rollout import shadow

with abnb.connect() as con:
    result = shadow.compare_shadow(con, labels="truth")
    to_label = shadow.disagreements_to_label(con, 10, strategy="uncertainty", seed=1)
display(result)

# %% [markdown]
# ## Agreement and flips
#
# Agreement is the share of requests where both models predict the same class; flips split the disagreements by
# direction. A candidate that flips mostly 0 → 1 flags more: here the shadow's positive rate is higher than the
# live one's. Agreement alone says nothing about who is right.

# %%
display(
    result.to_frame()[
        [
            "n",
            "agreement",
            "agreement_low",
            "agreement_high",
            "flips_up",
            "flips_down",
            "live_positive_rate",
            "shadow_positive_rate",
        ]
    ]
)

# %% [markdown]
# ## Score differences and calibration shift
#
# The distribution of `shadow score − live score` in bins of width 0.05: a narrow peak just above 0 (the planted
# +0.03 shift) and two small humps far away (the flips). The calibration curves put each model's mean score next
# to the observed label rate in the same score bin: the live model sits on the diagonal, the shadow's low-score bin
# claims about 4 % where 1 % are positive.

# %%
histogram = result.histogram()
display(histogram[histogram["count"] > 0])
display(result.calibration())

# %% [markdown]
# ## Paired accuracy per segment
#
# Where true labels exist (the hidden `truth` table here; in production a labelled sample), both models are judged
# on the *same* requests, so the comparison is paired: McNemar's test uses only the requests where exactly one model
# is right, and the accuracy difference gets a paired interval. The Brier loss difference is negative where the
# shadow's scores are closer to the labels. P-values are Benjamini–Hochberg adjusted over the four segments.

# %%
columns = [
    "segment",
    "n",
    "flip_rate",
    "mean_score_difference",
    "live_accuracy",
    "shadow_accuracy",
    "accuracy_difference",
    "accuracy_low",
    "accuracy_high",
    "mcnemar_pvalue_bh",
    "loss_difference",
    "loss_pvalue_bh",
]
segments = result.segments()[columns].copy()
segments["planted_accuracy_gain"] = [SHADOW_TRUTH.accuracy_gain(name) for name in segments["segment"]]
display(segments)

# %% [markdown]
# The overall accuracy difference is small and its sign depends on the traffic mix; per segment the candidate is
# clearly better in `en` and clearly worse in `de`: shipping it as is would repeat the `de` regression that v2 did
# cause in the monitoring notebook. The shadow found it without a single user seeing a wrong answer.
#
# ## What to label next
#
# Labels are expensive. The disagreements are where the two models' accuracies differ, and among them the requests
# whose scores average closest to 0.5 are the most uncertain (`strategy="margin"` takes the most confident
# disagreements instead, `"random"` an unbiased sample). The same `seed` gives the same requests.

# %%
display(to_label)
