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
)
spec = params.spec()
abnb.charts.use_static()
result = params.analyze(spec)
abnb.report.headline(result, engine=params.engine_label)

# %% [markdown]
# Every number below comes from per-arm sufficient statistics that the engine computed in one aggregate query; no
# telemetry row was loaded into Python.

# %% [markdown]
# ## Effects
#
# Relative effect = (treatment mean − control mean) / |control mean|, so a better treatment of a negative metric has a
# positive lift. Its interval is Fieller's: it excludes 0 exactly when the test of the difference (Welch's t-test
# for means, an unpooled z-test for proportions, the delta method for ratios) rejects, so interval and p-value
# never disagree. Where the control mean is not distinguishable from 0 the interval is unbounded, and the data
# notes above say what it is. Green: significantly better; red: significantly worse.

# %%
abnb.charts.effects_chart(result.to_frame())

# %%
result.table()

# %% [markdown]
# ## Variance reduction (CUPED)
#
# Metrics with a pre-period covariate: the same lift, adjusted by θ·(pre-period mean difference) with θ pooled over
# arms. The relative effect is that of the adjusted means, with Fieller's interval; `cuped_variance_reduction`
# (of the difference in means) ≈ ρ².

# %%
result.table("cuped")

# %%
(
    abnb.report.note(
        "**Post-stratified by {column}**: the lift weighted over the column's levels (their share of all "
        "units), with the post-stratification variance (Miratrix, Sekhon & Yu 2013); levels too small in an arm are "
        "left out and said in the data notes.",
        column=spec.poststratify,
    )
    if spec.poststratify
    else abnb.report.note("No post-stratification (`poststratify` in the spec names a segment column to use).")
)

# %%
result.table("stratified") if spec.poststratify else None

# %% [markdown]
# ## Bayesian view
#
# Chance that the treatment beats control and the expected loss of shipping it: exact Beta posteriors with a
# Beta(1, 1) prior for proportions, a normal posterior on the relative lift (flat prior) for means.

# %%
result.table("bayes")

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
result.table("sequential")

# %% [markdown]
# ## Multiple testing and power

# %%
abnb.report.note(result.correction_note)

# %%
result.table("power")

# %% [markdown]
# ## Means per arm and allocation

# %%
abnb.charts.arm_means_chart(result.arms_frame())

# %%
abnb.report.styled_table(result.srm.to_frame())

# %% [markdown]
# ## Segments
#
# Per level of each segment column of the spec, without multiple-testing correction: read these as exploration,
# not as findings.

# %%
segments = result.segments_frame()
(
    abnb.charts.segments_chart(segments, spec.metrics[0].name)
    if len(segments)
    else abnb.report.note("The spec names no segment columns.")
)

# %%
summary = abnb.report.write_summary(result, params.summary_path)
