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
# # Explore an experiment
#
# The same analysis as the scheduled report (`abnb report <experiment>`), cell by cell, on this project's data
# (`abnb.toml`). Change `experiment` below and run all cells. The connection is read-only, so a scheduled run can
# read the database while this notebook is open.

# %% tags=["parameters"]
experiment: str = "checkout_redesign"  # a spec of the project's experiments/ folder, or a path to a .toml file
as_of: str = ""  # an ISO date (data through that day); empty: the earlier of the spec's end and the last data day

# %%
import abnb

project = abnb.find_project()
spec = abnb.load(experiment, project=project)
with project.connect() as con:
    checked = abnb.validate.validate(spec, con, as_of=as_of or None)
checked

# %% [markdown]
# `validate` read only schemas and a few aggregates. The analysis below is one aggregate query; everything after
# it is arithmetic on per-arm sums.

# %%
checked.raise_for_problems()
with project.connect() as con:
    result = spec.analyze(con, as_of=checked.as_of)
result

# %%
abnb.charts.use_static()
abnb.charts.effects_chart(result.to_frame())

# %%
result.table()

# %%
result.arms_frame()

# %%
segments = result.segments_frame()
segments

# %%
# Explore interactively: metric, arm, segment, day, confidence level, lift interval. Every change is answered from
# the sums already fetched (a new day runs one analysis); each fetch opens a read-only connection and closes it.
abnb.widgets.explore(result, project.connect)
