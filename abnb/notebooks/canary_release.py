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
# # Canary releases and blue/green switches
#
# A canary serves the new version to a small, growing share of traffic and compares it with a baseline of the same
# size and period; a judge decides at each step whether to promote, hold or roll back. A blue/green deployment
# switches all traffic at once and keeps the old version warm for an instant rollback. This notebook runs the
# Kayenta-compatible judge, then replays both strategies on the sample telemetry, where the truth is known: **v2**
# drops precision in segment "de" (0.90 → 0.70), **v3** lets latency creep up 3 % a day.
#
# Rendered by `abnb.report.render_canary` (papermill). Mann–Whitney needs values, not only sums: the ramp replay
# fetches a bounded per-request sample of each version over the ramp's range (at most `RampPlan.max_rows` rows per
# side, it refuses more); the blue/green comparison uses aggregate queries only.

# %% tags=["parameters"]
versions: str = ""  # releases to replay, comma-separated; empty: every release in the releases table
steps: str = "1,5,25,50,100"  # canary traffic per ramp step, percent, ending at 100
step_hours: str = "24"  # hours each step is judged
as_of: str = ""  # report label (ISO date); empty: none
database: str = ""  # DuckDB file; empty: the project's database (or $ABNB_DATABASE)
summary_path: str = ""  # where to write summary.json; empty: nowhere

# %%
import pandas as pd
from IPython.display import display

import abnb
from abnb.rollout import bluegreen, canary, replays

params = canary.validate_canary_parameters(
    versions=versions,
    steps=steps,
    step_hours=step_hours,
    as_of=as_of,
    database=database,
    summary_path=summary_path,
    namespace=globals(),
)
plan = params.plan
schema = abnb.find_project().model_telemetry()  # the project's [model] tables and columns (default: the sample's)
with params.connect() as con:
    versions = params.versions or schema.release_versions(con)

# %% [markdown]
# ## 1. The judge on Kayenta's published vector
#
# Kayenta's MannWhitneySuite: canary `[10, 20, 30, 40]` vs baseline `[1, 2, 3, 4]` at confidence 0.95
# (`alpha=0.05`) gives a Hodges–Lehmann shift of 22.5 with interval [6, 39]. The classifier calls a metric
# **High** when the interval lies above `tolerance · |shift|` (0.25 · 22.5 = 5.625), **Low** when it lies below
# `−tolerance · |shift|`, and `direction` says which of the two fails the metric (latency, errors: "increase";
# precision: "decrease").

# %%
shift = canary.mann_whitney(experiment=[10, 20, 30, 40], control=[1, 2, 3, 4], alpha=0.05)
display(shift.to_frame())
cases = {
    "either": canary.judge([10, 20, 30, 40], [1, 2, 3, 4], alpha=0.05),
    "decrease only": canary.judge([10, 20, 30, 40], [1, 2, 3, 4], alpha=0.05, direction="decrease"),
    "tolerance 0.3": canary.judge([10, 20, 30, 40], [1, 2, 3, 4], alpha=0.05, tolerance=0.3),
    "swapped (canary lower)": canary.judge([1, 2, 3, 4], [10, 20, 30, 40], alpha=0.05),
    "effect size bound 20×": canary.judge([10, 20, 30, 40], [1, 2, 3, 4], alpha=0.05, effect_size=(0.05, 20)),
    "no canary data": canary.judge([float("nan")], [1, 2, 3, 4]),
}
display(
    pd.concat([j.to_frame() for j in cases.values()], keys=list(cases)).droplevel(1)[
        ["classification", "estimate", "ci_low", "ci_high", "upper_bound", "deviation", "reason"]
    ]
)

# %% [markdown]
# ## 2. From verdicts to a score
#
# Each group scores the share of its metrics that pass (Nodata excluded); the run score is the weighted mean of the
# groups; a critical metric that is not Pass, or half the metrics without data, sets it to 0. Pass at ≥ 95,
# Marginal at ≥ 75 (a common Kayenta configuration), Fail below.

# %%
verdicts = {
    "latency": [cases["either"], canary.judge([1, 2, 3], [1, 2, 3])],
    "errors": [canary.judge([0.1, 0.2, 0.3], [0.1, 0.25, 0.3])],
    "quality": [canary.judge([0.9, 0.8, 0.85], [0.88, 0.9, 0.86]), cases["no canary data"]],
}
run = canary.score(verdicts, {"latency": 40, "errors": 30, "quality": 30})
display(pd.DataFrame(run.group_scores, columns=["group", "group score", "weight"]))
display(
    abnb.report.note(
        "**Score {score:.0f} → {classification}** — {reason}.",
        score=run.score,
        classification=run.classification,
        reason=run.reason,
    )
)

# %% [markdown]
# ## 3. Replaying the ramp on each release
#
# History served each release to all traffic, so the replay builds both arms from it: at a step of `p` % the
# canary is a hashed `p` % slice of units of the new version's requests in the step's window, the baseline an
# equally large slice of the old version's requests in the same hours of day before the release. Judged per step:
# per-request latency, hourly error rate and (from 25 % on, where labels suffice) 6-hour labelled precision,
# overall and per segment. A clean release is simulated by ramping the old version against itself before the
# first release.

# %%
with params.connect() as con:
    ramps = replays.replay_releases(con, versions, plan=plan, step_hours=(6.0, 12.0, 24.0), schema=schema)
display(ramps.outcomes())

# %%
for replay in ramps.ramps:
    display(
        abnb.report.note(
            "**{version} from {start:%Y-%m-%d %H:%M}**: {outcome}",
            version=replay.canary_version,
            start=replay.start,
            outcome=replay.outcome,
        )
    )
    display(replay.to_frame())

# %% [markdown]
# Which metrics failed, and on how much data (metrics that passed are left out; "skipped": fewer than
# `min_values` values in an arm):

# %%
display(ramps.failing())

# %% [markdown]
# ### How long a rollout takes vs how fast a bad release is caught
#
# The same ramp with shorter steps: a clean rollout takes `5 × step` hours, but a slow degradation (v3's latency
# creep) needs time to become visible, so short steps can promote a bad release before it shows; a sharp but
# narrow one (v2's "de" precision) needs labels, which a small canary slice collects slowly. `exposure` is the
# canary's traffic-hours before the decision (percent of traffic × hours / 100): the blast radius.
#
# A limit of the rank test shows in v2's ramp: the 30-minute outage of 2026-10-14 falls in its 100 % step, yet
# hourly error rates pass — one extreme hour among 24 barely moves a median shift (a Kayenta critique, spinnaker
# #6278). Error bursts belong to a threshold alert (see the monitoring notebook), not only to the judge.

# %%
display(ramps.speed_table())

# %% [markdown]
# ## 4. Blue/green: switch everything, switch back if needed
#
# Before/after comparison of per-window values around each release marker (Welch, `abnb.monitor.release_jump`,
# α = 0.01): error rate and latency p95 per hour, labelled precision per 6 hours overall and per segment.
# `decided_at` replays that test after every window after the switch: the first window at which it would have
# called the rollback; `rule_fired_at` is when a 3σ threshold rule calibrated on the windows before the switch
# fired (if it did).

# %%
with params.connect() as con:
    switches = [bluegreen.compare_switch(con, v, schema=schema) for v in versions]
for switch in switches:
    display(
        abnb.report.note(
            "**{previous} → {version} at {switch:%Y-%m-%d %H:%M}**: {action} — {reason} Decision after "
            "{hours:.0f} h; switching back takes about {minutes:g} min.",
            previous=switch.previous_version,
            version=switch.version,
            switch=switch.switch,
            action="ROLL BACK" if switch.rollback else "keep",
            reason=switch.reason,
            hours=switch.detection_hours,
            minutes=switch.rollback_minutes,
        )
    )
    display(switch.to_frame())

# %% [markdown]
# **Advantages**, read against the numbers above: the rollback is one traffic switch (minutes, not a redeploy),
# and both versions are compared on full traffic, so a before/after test has all the data at once — the v3
# latency creep is called after well under two days. There is no mixed-version period to reason about.
#
# **Risks**: every user meets the new version at once, so the blast radius until the decision is 100 % of traffic
# for `detection_hours` (compare the canary's `exposure` above); the comparison is before/after, not concurrent,
# so anything else that changes at the switch time (traffic mix, time of day, an incident such as the outage of
# 2026-10-14) is confounded with the release; slow degradations and narrow segments still need days of labels
# (v2's "de" drop); two full environments cost twice the capacity, and stateful changes (schemas, caches) make
# the "instant" rollback less instant.

# %%
canary.write_canary_summary(
    ramps.replays,
    switches,
    params.summary_path,
    as_of=params.as_of,
    clean_release=ramps.clean.summary(),
    published_vector={"estimate": shift.estimate, "ci_low": shift.ci_low, "ci_high": shift.ci_high},
    score={"score": run.score, "classification": run.classification},
)
display(abnb.report.note("Summary: {ramps}", ramps=ramps.headline()))
