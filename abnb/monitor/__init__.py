"""Monitoring quality over time: windowed metrics, alert rules, release jumps, segment breakdowns and drift.

Everything here works on *aggregated* time series — one row per window (and group) with a timestamp column
and value or sum columns — never on raw events. :func:`windowed` produces such a series with one GROUP BY query
in the engine; the rest is small, pure computation on the few rows it returns. The functions that read model
telemetry (:func:`labelled_precision_by_window`, :func:`monitor_summary`) take the names of its tables and columns
as ``schema`` (:class:`abnb.telemetry.ModelTelemetry`; the sample's names by default).

| concept | names | module |
| --- | --- | --- |
| windowed aggregates | ``windowed`` | ``windows`` |
| alert rules | ``ThresholdRule``, ``EwmaRule``, ``CusumRule`` | ``rules`` |
| replaying them over history | ``replay``, ``Replay``, ``false_alarm_rate``, ``FalseAlarmRate`` | ``rules`` |
| before/after a release | ``release_jump``, ``ReleaseJump`` | ``release`` |
| is the metric uniform across populations? | ``segment_breakdown`` | ``segments`` |
| input and score drift | ``psi``, ``psi_from_values``, ``ks_drift``, ``chi2_drift``, ``drift_report`` | ``drift`` |
| labelled precision per window | ``labelled_precision_by_window`` | ``precision`` |
| the monitoring dashboard | ``monitor_summary``, ``MonitorSummary`` | ``dashboard`` |
| monitoring specs (``monitors/*.toml``) | ``MonitorSpec``, ``MonitorRule``, ``load_monitor`` | ``spec`` |
| rules replayed on history | ``backtest``, ``Backtest``, ``RuleBacktest`` | ``dashboard``, ``backtest`` |
| ... and the verdicts on the latest release | ``monitor_state``, ``MonitorState`` | ``dashboard`` |
| label-free series per window (PSI, CBPE) | ``score_psi_by_window``, ``expected_precision_by_window`` | ``scores`` |
| Prometheus rules and their promtool test | ``prometheus_rules``, ``promtool_tests``, ``write_export`` | ``export`` |
| the Grafana dashboard of a spec | ``grafana_dashboard`` | ``grafana`` |
| series served to Prometheus (not re-exported) | ``Exporter``, ``ReplayExporter``, ``MetricsServer`` | ``exporter`` |
| its charts | ``ops_chart``, ``precision_chart`` | ``charts`` |
| its notebook's parameters | ``validate_monitoring_parameters``, ``MonitoringParameters`` | ``parameters`` |
"""

from __future__ import annotations

from abnb.monitor.backtest import Backtest as Backtest
from abnb.monitor.backtest import RuleBacktest as RuleBacktest
from abnb.monitor.charts import ops_chart as ops_chart
from abnb.monitor.charts import precision_chart as precision_chart
from abnb.monitor.dashboard import MAX_MONITOR_WINDOW as MAX_MONITOR_WINDOW
from abnb.monitor.dashboard import MIN_MONITOR_WINDOW as MIN_MONITOR_WINDOW
from abnb.monitor.dashboard import MonitorState as MonitorState
from abnb.monitor.dashboard import MonitorSummary as MonitorSummary
from abnb.monitor.dashboard import backtest as backtest
from abnb.monitor.dashboard import monitor_state as monitor_state
from abnb.monitor.dashboard import monitor_summary as monitor_summary
from abnb.monitor.drift import DriftResult, chi2_drift, drift_report, ks_drift, psi, psi_from_values
from abnb.monitor.export import prometheus_rules as prometheus_rules
from abnb.monitor.export import promtool_tests as promtool_tests
from abnb.monitor.export import rules_yaml as rules_yaml
from abnb.monitor.export import write_export as write_export
from abnb.monitor.grafana import grafana_dashboard as grafana_dashboard
from abnb.monitor.parameters import MonitoringParameters as MonitoringParameters
from abnb.monitor.parameters import validate_monitoring_parameters as validate_monitoring_parameters
from abnb.monitor.precision import labelled_precision_by_window as labelled_precision_by_window
from abnb.monitor.release import ReleaseJump, release_jump
from abnb.monitor.rules import (
    CusumRule,
    EwmaRule,
    FalseAlarmRate,
    Replay,
    Rule,
    ThresholdRule,
    false_alarm_rate,
    replay,
)
from abnb.monitor.rules import Op as Op
from abnb.monitor.segments import segment_breakdown
from abnb.monitor.spec import MonitorRule as MonitorRule
from abnb.monitor.spec import MonitorSpec as MonitorSpec
from abnb.monitor.spec import load_monitor as load_monitor
from abnb.monitor.windows import windowed

__all__ = [
    "CusumRule",
    "DriftResult",
    "EwmaRule",
    "FalseAlarmRate",
    "ReleaseJump",
    "Replay",
    "Rule",
    "ThresholdRule",
    "chi2_drift",
    "drift_report",
    "false_alarm_rate",
    "ks_drift",
    "psi",
    "psi_from_values",
    "release_jump",
    "replay",
    "segment_breakdown",
    "windowed",
]
