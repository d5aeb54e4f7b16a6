"""Grafana dashboard of a monitoring spec: the Prometheus series abnb serves for it, built with grafana-foundation-sdk.

:func:`grafana_dashboard` returns the dashboard's JSON model (import it in Grafana, or provision it from a file).
Its panels, in five rows:

* **Health**: ``abnb_monitor_up`` and ``abnb_monitor_staleness_seconds`` as stats.
* **Series**: one time series per (series, window) the rules watch, ``abnb_monitor_value`` by segment; the limits
  of the threshold rules on it are drawn as lines (red: fire, orange: clear); precision adds its CI bounds.
* **Alarms**: one state timeline of ``abnb_monitor_rule_alarm`` per rule, by segment.
* **Rule statistics**: one time series per EWMA or CUSUM rule: its statistic and limits by segment.
* **Latest release**: state timelines of ``abnb_monitor_release_rollback`` (by model version, metric and segment)
  and ``abnb_monitor_release_score_drift`` (by segment).

Every label value in a query comes from the spec and is quoted by :func:`abnb.monitor.promql.promql_string`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, cast

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

from abnb.errors import ParameterError
from abnb.monitor.export import seconds
from abnb.monitor.promql import promql_string
from abnb.monitor.spec import SERIES, MonitorRule, MonitorSpec

__all__ = ["dashboard_uid", "grafana_dashboard"]

_UNITS = {  # Grafana's unit names
    "error_rate": "percentunit",
    "latency_p95": "ms",
    "precision": "percentunit",
    "expected_precision": "percentunit",
    "score_psi": "none",
}
_WIDTH = 12  # every panel is half the 24-column grid wide, so the SDK's left-to-right layout never overflows a line
_DASHED = models.DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})
_PanelBuilder = Builder[models.Panel]


def dashboard_uid(name: str) -> str:
    """The dashboard's uid for monitor ``name``: ``abnb-<name>``, at most 40 characters (Grafana's limit).

    A name too long for that keeps its first 26 characters and gains 8 hex digits of its SHA-256, so two long names
    with the same beginning still get different uids.
    """
    uid = f"abnb-{name}"
    if len(uid) > 40:
        uid = f"abnb-{name[:26]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", uid)


def _selector(metric: str, **labels: str) -> str:
    """``abnb_monitor_<metric>{key="value",...}`` with every value quoted for PromQL.

    Raises:
        ParameterError: A value holds ``$`` or ``[[``, which Grafana would take for a template variable and replace.
    """
    for key, value in labels.items():
        if "$" in value or "[[" in value:
            raise ParameterError(
                f"the {key} {value!r} holds '$' or '[[', which Grafana replaces in queries (template variables); "
                "rename it, e.g. window = '1 day'."
            )
    return f"abnb_monitor_{metric}{{{','.join(f'{key}={promql_string(value)}' for key, value in labels.items())}}}"


def _mapping(zero: tuple[str, str], one: tuple[str, str]) -> models.ValueMap:
    """Text and colour (``(text, color)``) of the values 0 and 1."""
    return models.ValueMap(
        {key: models.ValueMappingResult(text=t, color=c) for key, (t, c) in (("0", zero), ("1", one))}
    )


def _thresholds(steps: list[models.Threshold]) -> dashboard_builders.ThresholdsConfig:
    return dashboard_builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)


class _Panels:
    """Panel builders of one spec, all reading one Prometheus datasource."""

    def __init__(self, spec: MonitorSpec, source: models.DataSourceRef) -> None:
        self.spec = spec
        self.source = source

    def target(self, ref: str, expr: str, legend: str, *, instant: bool = False) -> prometheus.Dataquery:
        query = prometheus.Dataquery().ref_id(ref).expr(expr).legend_format(legend).datasource(self.source)
        return query.instant() if instant else query.range()

    def graph(self, title: str, description: str, targets: Sequence[prometheus.Dataquery]) -> timeseries.Panel:
        legend = common_builders.VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST)
        panel = timeseries.Panel().title(title).description(description).targets(list(targets))
        panel = panel.datasource(self.source).span(_WIDTH).height(8).show_points(common.VisibilityMode.AUTO)
        return panel.legend(legend.placement(common.LegendPlacement.BOTTOM)).span_nulls(False)

    def health(self) -> list[_PanelBuilder]:
        """Whether the last refresh succeeded, and how old its values are."""
        status = (
            stat.Panel()
            .title("refresh status")
            .description("abnb_monitor_up: 1 when the last refresh succeeded.")
            .targets([self.target("A", _selector("up", monitor=self.spec.name), "up", instant=True)])
            .mappings([_mapping(("down", "red"), ("up", "green"))])
            .color_mode(common.BigValueColorMode.BACKGROUND)
        )
        staleness = (
            stat.Panel()
            .title("staleness")
            .unit("s")
            .thresholds(self._staleness_steps())
            .description(
                "Seconds since the last successful refresh; orange after one window of the shortest rule, "
                "red after two."
            )
            .targets(
                [self.target("A", _selector("staleness_seconds", monitor=self.spec.name), "staleness", instant=True)]
            )
            .color_mode(common.BigValueColorMode.VALUE)
        )
        return [
            panel.datasource(self.source)
            .span(_WIDTH)
            .height(4)
            .graph_mode(common.BigValueGraphMode.NONE)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
            for panel in (status, staleness)
        ]

    def _staleness_steps(self) -> dashboard_builders.ThresholdsConfig:
        steps = [models.Threshold(None, "green")]
        try:  # orange after one window of the shortest rule, red after two
            shortest = float(min(seconds(self.spec.window_of(rule)) for rule in self.spec.rules))
        except ParameterError:  # a window abnb cannot convert to seconds: always green
            return _thresholds(steps)
        return _thresholds([*steps, models.Threshold(shortest, "orange"), models.Threshold(2 * shortest, "red")])

    def series(self) -> list[_PanelBuilder]:
        """One panel per (series, window) the rules watch."""
        watched: dict[tuple[str, str], list[MonitorRule]] = {}
        for rule in self.spec.rules:
            watched.setdefault((rule.series, self.spec.window_of(rule)), []).append(rule)
        return [self._series_panel(series, window, rules) for (series, window), rules in watched.items()]

    def _series_panel(self, series: str, window: str, rules: list[MonitorRule]) -> _PanelBuilder:
        name = self.spec.name
        targets = [self.target("A", _selector("value", monitor=name, series=series, window=window), "{{segment}}")]
        if series == "precision":
            targets += [
                self.target("B", _selector("precision_ci_low", monitor=name, window=window), "{{segment}} CI low"),
                self.target("C", _selector("precision_ci_high", monitor=name, window=window), "{{segment}} CI high"),
            ]
        watching = "; ".join(f"{rule.label} ({rule.name}, {rule.kind})" for rule in rules)
        panel = self.graph(f"{series} per {window}", f"{SERIES[series]}. Rules: {watching}.", targets)
        panel = panel.unit(_UNITS[series])
        if series == "precision":
            panel = panel.override_by_query("B", [_DASHED]).override_by_query("C", [_DASHED])
        limits: dict[float, str] = {}  # red: the threshold that fires; orange: the one that clears
        for rule in (rule for rule in rules if rule.kind == "threshold"):
            if rule.clear_threshold is not None:
                limits.setdefault(float(rule.clear_threshold), "orange")
            limits[float(rule.threshold)] = "red"
        if not limits:
            return panel
        steps = [models.Threshold(None, "transparent"), *(models.Threshold(v, c) for v, c in sorted(limits.items()))]
        style = common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        return panel.thresholds(_thresholds(steps)).thresholds_style(style)

    def state_timeline(
        self, title: str, description: str, target: prometheus.Dataquery, states: tuple[str, str]
    ) -> _PanelBuilder:
        """A 0/1 state timeline: green ``states[0]`` at 0, red ``states[1]`` at 1."""
        return (
            statetimeline.Panel()
            .title(title)
            .datasource(self.source)
            .span(_WIDTH)
            .height(6)
            .description(description)
            .targets([target])
            .mappings([_mapping((states[0], "green"), (states[1], "red"))])
            .min(0)
            .max(1)
            .show_value(common.VisibilityMode.NEVER)
            .merge_values(True)
            .fill_opacity(70)  # Grafana's defaults, written so that the SDK reads the panel back unchanged
            .line_width(0)
        )

    def alarms(self) -> list[_PanelBuilder]:
        """One state timeline per rule: 1 (alarm) or 0 by segment."""
        return [
            self.state_timeline(
                f"{rule.label}: alarm",
                f"{rule.name}: {rule.kind} rule on {rule.series} per {self.spec.window_of(rule)}, "
                f"severity {rule.severity}; abnb's replay of it at the last window.",
                self.target("A", _selector("rule_alarm", monitor=self.spec.name, rule=rule.name), "{{segment}}"),
                ("ok", "alarm"),
            )
            for rule in self.spec.rules
        ]

    def release(self) -> list[_PanelBuilder]:
        """The verdicts on the latest release: roll back per metric and segment, score drift per segment."""
        name = self.spec.name
        verdicts = (
            (
                "latest release: rollback verdicts",
                "abnb's release-jump verdict per metric and segment: Welch on the windows before and after the latest "
                "release; roll back on a significant degradation.",
                "release_rollback",
                "{{model_version}} {{metric}} {{segment}}",
                ("keep", "roll back"),
            ),
            (
                "latest release: score drift",
                "Score histograms after vs before the latest release: drift when the BH-adjusted chi2 p <= alpha "
                "and PSI >= 0.1.",
                "release_score_drift",
                "{{model_version}} {{segment}}",
                ("stable", "drift"),
            ),
        )
        return [
            self.state_timeline(title, text, self.target("A", _selector(family, monitor=name), legend), states)
            for title, text, family, legend, states in verdicts
        ]

    def statistics(self) -> list[_PanelBuilder]:
        """One panel per EWMA/CUSUM rule: its statistic between its limits."""
        panels: list[_PanelBuilder] = []
        for rule in self.spec.rules:
            if rule.kind == "threshold":
                continue
            labels = {"monitor": self.spec.name, "rule": rule.name}
            what = "z_t between its control limits" if rule.kind == "ewma" else "max(C+, C-) below h·σ"
            panel = self.graph(
                f"{rule.label}: statistic and limits",
                f"{rule.name} on {rule.series} per {self.spec.window_of(rule)}: {what}.",
                [
                    self.target("A", _selector("rule_statistic", **labels), "{{segment}} statistic"),
                    self.target("B", _selector("rule_lower", **labels), "{{segment}} lower"),
                    self.target("C", _selector("rule_upper", **labels), "{{segment}} upper"),
                ],
            )
            panels.append(panel.override_by_query("B", [_DASHED]).override_by_query("C", [_DASHED]))
        return panels


def grafana_dashboard(spec: MonitorSpec, *, datasource_uid: str = "prometheus") -> dict[str, Any]:
    """The Grafana dashboard (JSON model, ready for :func:`json.dumps`) of the series abnb serves for ``spec``.

    Args:
        spec: The monitoring spec; its name becomes the ``monitor`` label of every query.
        datasource_uid: The uid of the Prometheus datasource in Grafana that scrapes abnb.

    Returns:
        The dashboard: title ``abnb monitor: <name>``, uid :func:`dashboard_uid`, tag ``abnb``, the last 7 days
        refreshed every minute, and the panels listed in the module's text (ids 1, 2, ... in reading order).

    Raises:
        ParameterError: ``datasource_uid`` is not a non-empty string, or a rule's window holds ``$`` or ``[[`` (Grafana
            would replace it as a template variable).
    """
    if not isinstance(datasource_uid, str) or not datasource_uid.strip():
        raise ParameterError(f"datasource_uid must name the Prometheus datasource in Grafana, got {datasource_uid!r}.")
    panels = _Panels(spec, models.DataSourceRef(type_val="prometheus", uid=datasource_uid))
    board = (
        dashboard_builders.Dashboard(f"abnb monitor: {spec.name}")
        .uid(dashboard_uid(spec.name))
        .tags(["abnb"])
        .refresh("1m")
        .time("now-7d", "now")
    )
    if spec.description:
        board = board.description(spec.description)
    sections = (
        ("Health", panels.health()),
        ("Series", panels.series()),
        ("Alarms", panels.alarms()),
        ("Rule statistics", panels.statistics()),
        ("Latest release", panels.release()),
    )
    for title, section in sections:
        if section:
            board = board.with_row(dashboard_builders.Row(title))
            for panel in section:
                board = board.with_panel(panel)
    built = board.build()
    for number, item in enumerate(built.panels or [], start=1):
        item.id_val = number
    return cast(dict[str, Any], json.loads(json.dumps(built, cls=JSONEncoder, allow_nan=False)))
