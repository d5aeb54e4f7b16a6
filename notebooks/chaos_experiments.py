# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chaos experiments: does the monitoring catch a broken model?
#
# We state a steady-state hypothesis, inject a fault into a hashed fraction of units (the blast radius, hashed as
# assignment is), replay the alert rules of `abnb.monitor` on the faulted stream, and roll the fault back. Repeating
# that over salts and fault sizes gives the detection table: alert recall per size, time to detect, and false alarms
# on the clean stream. The clean stream is the sample telemetry before the v2 release (complete labels from `truth`).

# %%
from datetime import datetime, timedelta

from IPython.display import display

import abnb
from abnb import chaos
from abnb.monitor import ThresholdRule

with abnb.connect() as con:
    clean = chaos.load_clean_requests(con)
windows = chaos.window_metrics(clean, window="1h")
baseline_end = datetime(2026, 10, 5)
starts = [baseline_end + timedelta(hours=7 * i) for i in range(16)]
display(windows.head())

# %% [markdown]
# ## 1. Hypothesis, fault, rules — one run
#
# "p95 latency stays below 200 ms." Fault: +100% latency on 50% of units. Rules: an EWMA chart on the hourly p95
# fitted on the four clean days before `baseline_end`, and a plain threshold at 200 ms.

# %%
p95_rules = (
    chaos.baseline_rule(windows, "latency_p95", before=baseline_end),
    ThresholdRule("latency_p95", ">", 200.0),
)
experiment = chaos.ChaosExperiment(
    chaos.SteadyStateHypothesis("latency_p95", upper=200.0),
    chaos.Fault("latency", 1.0, fraction=0.5, start=starts[0]),
    p95_rules,
    horizon=12,
)
result = experiment.run(clean)
display(result.to_frame().T)

# %% [markdown]
# ## 2. Detection table: added latency

# %%
latency_table = chaos.detection_table(
    clean,
    chaos.Fault("latency", 0.0, fraction=0.5),
    [0.0, 0.1, 0.2, 0.5, 1.0],
    p95_rules,
    repeats=16,
    starts=starts,
    horizon=12,
)
display(latency_table.to_frame())

# %% [markdown]
# ## 3. Detection table: flipped predictions (model quality)
#
# "Precision stays within ±0.05 of baseline", watched by a CUSUM on hourly precision (complete labels).

# %%
precision_rule = chaos.baseline_rule(windows, "precision", kind="cusum", before=baseline_end)
flip_table = chaos.detection_table(
    clean,
    chaos.Fault("flip", 0.0, fraction=0.5),
    [0.0, 0.01, 0.02, 0.05, 0.1],
    (precision_rule,),
    repeats=16,
    starts=starts,
    horizon=12,
)
display(flip_table.to_frame())

# %% [markdown]
# ## 4. Rollback
#
# The experiment rolled the fault back at the end of the first alarm window; the stream after it is clean again.

# %%
injection = chaos.Fault("latency", 1.0, fraction=0.5, start=starts[0]).inject(clean)
restored = injection.rollback()
display({"rolled_back_at": result.rolled_back_at, "held_after_rollback": result.hypothesis_held_after_rollback})
display({"restored_equals_clean": bool(restored.equals(clean)), "rows_affected": int(injection.affected.sum())})
