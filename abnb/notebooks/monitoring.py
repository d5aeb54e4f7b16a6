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
# # Model monitoring
#
# Rendered by `abnb monitor` (papermill). Every number comes from aggregate queries in DuckDB (per window,
# segment, release or score bin); no telemetry row is loaded into Python. Rules are calibrated on the clean history
# before the first release, and their false alarms there are reported.

# %% tags=["parameters"]
window: str = ""  # window of the default rules' series, e.g. "1 day" (empty: 1 day), "6 hours"
monitor_spec: str = ""  # a monitoring spec of the project's monitors/ (name or .toml path); empty: abnb's rules
as_of: str = ""  # data cutoff, an ISO date (through that day) or datetime; empty: all data
model_version: str = ""  # release to focus the jumps and drift on; empty: every release
database: str = ""  # DuckDB file; empty: the embedded sample (or $ABNB_DATABASE)
summary_path: str = ""  # where to write summary.json; empty: nowhere

# %%
import abnb
from abnb import monitor

params = monitor.validate_monitoring_parameters(
    window=window,
    monitor_spec=monitor_spec,
    as_of=as_of,
    model_version=model_version,
    database=database,
    summary_path=summary_path,
    namespace=globals(),
)
project = abnb.find_project()
schema = project.model_telemetry()  # the project's [model] tables and columns (default: the sample's)
if params.monitor_spec:
    spec = monitor.load_monitor(params.monitor_spec, project=project)
else:
    spec = monitor.MonitorSpec.default(window=params.window or "1 day")
abnb.charts.use_static()
with abnb.connect(params.database or None) as con:
    result = monitor.monitor_summary(
        con, spec=spec, as_of=params.as_of, model_version=params.model_version, schema=schema
    )
summary = abnb.report.write_summary(result, params.summary_path)
decision = summary["decision"]
abnb.report.note(
    "**{verdict}** — {reason}  \nMonitor **{monitor}**{description}; data through {as_of}; windows of {window}; "
    "baseline before {baseline:%Y-%m-%d}.",
    verdict=decision["verdict"].upper(),
    reason=decision["reason"],
    monitor=spec.name,
    description=f" ({spec.description})" if spec.description else "",
    as_of=result.as_of,
    window=result.window,
    baseline=result.baseline_end,
)

# %% [markdown]
# ## Alerts
#
# The rules of the monitor, then one row per alert interval (`end` empty: still firing).

# %%
abnb.report.styled_table(spec.to_frame())

# %%
abnb.report.styled_table(result.alerts.drop(columns="method"), na_rep="")

# %% [markdown]
# ### False alarms on the clean baseline
#
# Each rule replayed on the history before the first release, where nothing was wrong (`ci_high`: upper end of the
# exact Poisson interval of alarms per window).

# %%
abnb.report.styled_table(result.false_alarms, {"per_window": "{:.3g}", "ci_high": "{:.3g}"})

# %% [markdown]
# ## Traffic, errors and latency
#
# Error rate = Σ errors / Σ requests of the per-minute `ops` rows; latency quantiles are exact, over the requests of
# each window. Red points: the latency EWMA chart alarmed.

# %%
monitor.ops_chart(result, "error_rate", title="Error rate")

# %%
monitor.ops_chart(result, "p95", title="Latency p95 (ms)")

# %% [markdown]
# ## Labelled precision
#
# Hájek estimate from the sampled manual labels (weights 1/π), with a delta-method 95% interval.

# %%
monitor.precision_chart(result)

# %% [markdown]
# ## Release jumps and rollback advice
#
# Welch test of the per-window values between the previous release and the next one; roll back on a significant
# degradation (precision: by more than 0.05).

# %%
abnb.report.styled_table(
    result.release_jumps.drop(columns=["n_before", "n_after"]),
    {
        "before_mean": "{:.4g}",
        "after_mean": "{:.4g}",
        "estimate": "{:.4g}",
        "ci_low": "{:.4g}",
        "ci_high": "{:.4g}",
        "pvalue": "{:.3g}",
    },
)

# %% [markdown]
# ## Segment breakdown
#
# Mistake rate among labelled flagged requests (1 − precision) per model version; `flag`: worse than the other
# segments pooled, Benjamini–Hochberg at 5%.

# %%
abnb.report.styled_table(
    result.segments,
    {
        "rate": "{:.3f}",
        "ci_low": "{:.3f}",
        "ci_high": "{:.3f}",
        "rest_rate": "{:.3f}",
        "difference": "{:.3f}",
        "statistic": "{:.2f}",
        "pvalue": "{:.3g}",
        "pvalue_adjusted": "{:.3g}",
    },
)

# %% [markdown]
# ## Drift of the predictions
#
# Score distribution before vs after each release (20 equal bins): PSI (< 0.1 stable, > 0.25 major), χ² test and
# the KS distance of the binned CDFs. A change of labels at a fixed score (v3's calibration drift) leaves the score
# distribution unchanged: only the labelled precision sees it.

# %%
abnb.report.styled_table(
    result.drift,
    {
        "psi": "{:.3f}",
        "ks_d": "{:.3f}",
        "ks_pvalue": "{:.3g}",
        "chi2": "{:.1f}",
        "pvalue": "{:.3g}",
        "pvalue_adjusted": "{:.3g}",
    },
)

# %% [markdown]
# ## From the backtest to Prometheus
#
# Every rule replayed on this history, as it would have run: how often it would have fired, how often falsely
# (on the clean windows before the first release, where nothing was wrong) and when. An alert after a release may
# be right or wrong; the team's incident log tells which.

# %%
abnb.report.bullets(result.backtest.story())

# %%
abnb.report.styled_table(result.backtest.to_frame(), na_rep="–")

# %% [markdown]
# `abnb monitor export` (or `abnb.monitor.write_export`) writes the same rules for Prometheus, a
# `promtool test rules` file that checks they fire at exactly the windows of this replay, and a Grafana dashboard
# of the series `abnb monitor serve` exposes. Threshold rules become PromQL (`for` and hysteresis included); EWMA
# and CUSUM alarms, and the label-free series, are computed by abnb and served as metrics. Each alert carries the
# backtest above in its annotations. See docs/monitoring-in-production.md in the abnb repository for deployment.

# %%
rules = monitor.prometheus_rules(spec, backtest=result.backtest)
tests = monitor.promtool_tests(spec, result.backtest, f"{spec.name}.rules.yml")
abnb.report.note(
    "`{name}.rules.yml`: {groups} rule group(s), {alerts} alert(s); `{name}.rules.test.yml`: {windows:,} evaluation "
    "windows checked by promtool.",
    name=spec.name,
    groups=len(rules["groups"]),
    alerts=sum(len(group["rules"]) for group in rules["groups"]),
    windows=sum(len(case["alert_rule_test"]) for case in tests["tests"]),
)

# %%
print(monitor.rules_yaml(rules))
