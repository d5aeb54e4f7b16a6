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
# # Concurrent experiments: assignment, flags and audits from the logs
#
# Three experiments run on the same users of the sample telemetry: `checkout_redesign`, and, in a layer of their
# own, `infinite_scroll` and `onboarding_email`, whose arms were assigned by PlanOut hashing. Everything below is
# re-derived or counted from the exposure logs, with one aggregate query per audit.

# %%
from IPython.display import display

import abnb
from abnb import assign, audit, flags

# %% [markdown]
# ## Deterministic assignment
#
# An arm is a function of the unit id and a salt: SHA-1 of `"{experiment salt}.{parameter}.{unit}"`, the first 15
# hex digits as a number in [0, 1). The same user gets the same arm in every process, and the logs can be checked
# against it. PlanOut's own test vector: salt `test_salt`, unit 4, parameters foo, bar, baz → b, a, a.

# %%
[assign.uniform_choice(["a", "b"], unit=4, salt=assign.salt_for("test_salt", p)) for p in ("foo", "bar", "baz")]

# %%
script = assign.parse_script(
    """
button_color = uniform_choice(["#3c539a", "#5f9647", "#b33316"], unit=cookieid)
button_text = weighted_choice(["Sign up", "Join now"], [0.8, 0.2], unit=cookieid)
if country == "US":
    p = bernoulli_trial(p=0.2, unit=userid)
else:
    p = bernoulli_trial(p=0.05, unit=userid)
"""
)
[script.assign({"cookieid": c, "userid": c, "country": k}, experiment_salt="signup") for c, k in ((1, "US"), (2, "DE"))]

# %% [markdown]
# ## Feature flags
#
# The sample flag file (`abnb.datasets.flag_file()`): QA always on, beta testers split 50/50, US mobile users
# ramped at 10%, everyone else off. Raising a ramp's share only ever moves users *into* "on".

# %%
checkout_flags = flags.Flags.from_toml(abnb.datasets.flag_file("one_click_checkout"))
[
    checkout_flags.evaluate(user, "one_click_checkout", attributes)
    for user, attributes in (("qa-alice", {}), ("u-1001", {}), ("u-9", {"country": "US", "platform": "ios"}))
]

# %% [markdown]
# ## Auditing the logs
#
# Sample ratio per day: a mismatch that appears on one day points at a logging or release incident of that day.

# %%
with abnb.connect() as connection:
    daily = audit.srm_by(connection, "onboarding_email", by="day", table="layer_exposures")
    per_platform = audit.srm_by(connection, "infinite_scroll", by="platform", table="layer_exposures")
    doubles = audit.multi_arm_units(connection, "checkout_redesign")
    mismatches = audit.assignment_mismatches(
        connection,
        "infinite_scroll",
        arms=["control", "treatment"],
        weights=[0.5, 0.5],
        salt="infinite_scroll.arm",
        table="layer_exposures",
    )
    overlap = audit.interaction(
        connection,
        "infinite_scroll",
        "onboarding_email",
        table="layer_exposures",
        metric="SELECT unit, value FROM crashes",
    )
display(daily)

# %%
display(per_platform)

# %% [markdown]
# Units logged in two arms, and arms that disagree with the arm re-derived from the unit id and the salt:

# %%
display(doubles)

# %%
display(mismatches)

# %% [markdown]
# ## Two experiments on the same users
#
# Independent salts make the two assignments independent (χ² test of the arm × arm table), and the factorial
# contrast tests whether one experiment changes the effect of the other.

# %%
display(overlap)
