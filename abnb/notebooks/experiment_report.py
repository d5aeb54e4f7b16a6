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

# %% tags=["parameters"]
experiment: str = "checkout_redesign"  # experiment name (the project's experiments/<name>.toml) or a TOML path
spec_json: str = ""  # the spec as JSON, filled by abnb.report.render; empty: load `experiment`
database: str = ""  # DuckDB file; empty: the project's database (abnb.toml [engine], or $ABNB_DATABASE)
as_of: str = ""  # data cutoff, an ISO date (through that day) or datetime; empty: end or last data day
summary_path: str = ""  # where to write summary.json; empty: nowhere
engine: str = ""  # empty: the project's; "duckdb", or Spark: "spark", "local[2]", "spark://host:7077", "sc://..."
parquet: str = ""  # a directory of Parquet files to expose as views (abnb data export --parquet)
store: str = ""  # DuckDB only: an incremental store file; a daily run then reads only the new data
project: str = ""  # the project folder (abnb.toml); empty: the one holding the working directory

# %%
import abnb

params = abnb.report.validate_parameters(
    experiment=experiment,
    spec_json=spec_json,
    database=database,
    as_of=as_of,
    summary_path=summary_path,
    engine=engine,
    parquet=parquet,
    store=store,
    project=project,
    namespace=globals(),
)
spec = params.spec()
abnb.charts.use_static()
result = params.analyze(spec)
abnb.report.headline(result, engine=params.engine_label)

# %% [markdown]
# Every number below comes from per-arm sufficient statistics that the engine computed in one aggregate query; no
# telemetry row was loaded into Python.

# %% [markdown]
# ## Results
#
# One row per metric and treatment arm. Relative change = (treatment − control) / |control|, so a better value of a
# metric where lower is better still reads as "better"; its interval is Fieller's, which excludes 0 exactly when
# the test of the difference rejects, so the bar, the interval and the p-value never disagree. Bars share one
# scale; the dashed line is no change. An unbounded interval (a control mean not distinguishable from 0) runs off
# the scale with an arrow. The numbered notes under the table name each method.

# %%
abnb.report.results_table(result)

# %% [markdown]
# ## Effect over time
#
# For each goal and guardrail metric, the relative change as it would have been read at the end of each day: the
# line is the estimate, the darker band its confidence interval, the lighter band the anytime-valid confidence
# sequence, the only one that may be watched every day without inflating the error rate. Each day's numbers are
# those of a full analysis at that cutoff, from one more aggregate query (units × cutoff days, summed in the
# engine).

# %%
from IPython.display import display

with params.connect() as connection:
    timeline = abnb.timeline.cumulative(spec, connection, as_of=params.as_of)
for part in abnb.report.timeline_section(timeline):
    display(part)

# %% [markdown]
# ## Variance reduction (CUPED)
#
# Metrics with a pre-period covariate: the same lift, adjusted by θ·(pre-period mean difference) with θ pooled over
# arms. The relative effect is that of the adjusted means, with Fieller's interval; "variance removed" (of the
# difference in means) ≈ ρ², the squared correlation of the metric with its covariate.

# %%
abnb.report.detail_table(result, "cuped")

# %%
(
    abnb.report.note(
        "**Post-stratified by {column}**: the lift weighted over the column's levels (their share of all "
        "units), with the post-stratification variance (Miratrix, Sekhon & Yu 2013); levels too small in an arm are "
        "left out and said in the data notes.",
        column=spec.poststratify,
    )
    if spec.poststratify
    else None
)

# %%
abnb.report.detail_table(result, "stratified")

# %% [markdown]
# ## Bayesian view
#
# Chance that the treatment beats control and the expected loss of shipping it: exact Beta posteriors with a
# Beta(1, 1) prior for proportions, a normal posterior on the relative lift (flat prior) for means.

# %%
abnb.report.detail_table(result, "bayes")

# %% [markdown]
# ## Distributions: ranks and quantiles
#
# For metrics with `quantiles` in the spec: Mann–Whitney with the Hodges–Lehmann location shift, and quantile
# differences with order-statistic standard errors. These need per-unit values, fetched as a bounded,
# reproducible sample (at most 100,000 units per arm).

# %%
with params.connect() as connection:
    comparisons = [
        comparison
        for metric in spec.metrics
        if metric.quantiles
        for comparison in spec.distributions(connection, metric.name, as_of=params.as_of)
    ]
abnb.report.distributions_table(comparisons)

# %% [markdown]
# ## Sequential status: may we stop now?
#
# Anytime-valid confidence sequences (asymptotic, normal mixture) stay valid however often this report is read.
# Stopping is justified when the interval excludes 0.

# %%
abnb.report.detail_table(result, "sequential")

# %% [markdown]
# ## Multiple testing and power
#
# "MDE (relative)" is the smallest relative lift the test would detect with 80% power at the current number of units
# per arm (two-sided, at the experiment's α); an observed lift well below it is no evidence of "no effect".
# Guardrails with a `margin` are tested for non-inferiority: worse by less than the margin, one-sided at α.

# %%
abnb.report.note(result.correction_note)

# %%
abnb.report.detail_table(result, "power")

# %% [markdown]
# ## Means per arm and allocation

# %%
abnb.charts.arm_means_chart(result.arms_frame())

# %%
abnb.report.styled_table(
    result.srm.to_frame(), {"count": "{:,}", "expected": "{:,.1f}", "weight": "{:.1%}", "share": "{:.2%}"}
)

# %% [markdown]
# ## Segments

# %%
for part in abnb.report.segments_section(result):
    display(part)

# %%
summary = abnb.report.write_summary(result, params.summary_path, timeline=timeline)
