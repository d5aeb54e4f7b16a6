"""Prometheus alerting rules written from a monitoring spec: the rules that were backtested, not a copy by hand.

How each kind of rule is exported:

* **threshold** — PromQL over the window's value that abnb serves (``abnb_monitor_value``). ``for_windows``
  becomes ``for: (for_windows − 1) × interval``: Prometheus fires when the condition has held that long, which
  with one evaluation per window is the ``for_windows``-th bad window. Hysteresis (a separate clear threshold) is
  a self-reference to the alert's own ``ALERTS`` series: the expression also holds while the value has not crossed
  the clear threshold *and* the alert fired at the previous evaluation
  (``last_over_time(ALERTS{alertstate="firing"}[1.5 × interval])``, so the last evaluation is seen whatever the
  query look-back). ``clear_windows`` becomes ``keep_firing_for: (clear_windows − 1) × interval`` (Prometheus ≥
  2.42): the alert resolves at the ``clear_windows``-th clear window, and a window back in the hysteresis band
  restarts the count, as in abnb's replay.
* **ewma**, **cusum** — PromQL cannot keep a control chart's state; abnb computes it (``abnb monitor serve``) and
  serves ``abnb_monitor_rule_alarm``, and the exported rule fires when it is 1 (``for: 0s``).

One rule group per window length (``interval`` = the window). Every alert carries the labels ``monitor``,
``severity`` and ``abnb_kind``, and annotations with the rule's method and, given a backtest, its false-alarm rate
before the first release and the delay to the first alarm after each release.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb.monitor._common import WINDOW_PATTERN
from abnb.monitor.promql import promql_string

if TYPE_CHECKING:
    from abnb.monitor.backtest import Backtest
    from abnb.monitor.spec import MonitorRule, MonitorSpec

__all__ = [
    "duration",
    "prometheus_rules",
    "promtool_tests",
    "rule_expression",
    "rules_yaml",
    "seconds",
    "write_export",
]

_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def seconds(window: str) -> int:
    """The length of a window such as ``"10 minutes"`` in seconds.

    Raises:
        ParameterError: Not ``<n> minute(s)|hour(s)|day(s)|week(s)``.
    """
    from abnb.errors import ParameterError

    match = WINDOW_PATTERN.fullmatch(window)
    if match is None:
        raise ParameterError(f"window {window!r} must look like '10 minutes', '6 hours' or '1 day' to be exported.")
    return int(match.group(1)) * _UNITS[match.group(2)]


def duration(total: float) -> str:
    """A Prometheus duration: ``0s``, ``20m``, ``1h30m``, ``1500ms`` (whole milliseconds)."""
    ms = round(total * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _selector(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f"{key}={promql_string(value)}" for key, value in labels.items()) + "}"


def rule_expression(spec: MonitorSpec, rule: MonitorRule, *, interval: float | None = None) -> str:
    """The PromQL expression of an alerting rule (see the module's text for each kind).

    Args:
        spec: The monitoring spec.
        rule: One of its rules.
        interval: The evaluation interval in seconds (default: the rule's window), for the ``ALERTS`` look-back.
    """
    if rule.kind != "threshold":
        return _selector("abnb_monitor_rule_alarm", {"monitor": spec.name, "rule": rule.name}) + " > 0"
    window = spec.window_of(rule)
    value = _selector("abnb_monitor_value", {"monitor": spec.name, "series": rule.series, "window": window})
    bad = f"{value} {rule.op} {rule.threshold!r}"
    if rule.clear_threshold is None or rule.clear_threshold == rule.threshold:
        return bad
    step = float(interval if interval is not None else seconds(window))
    firing = _selector("ALERTS", {"alertname": rule.name, "alertstate": "firing", "monitor": spec.name})
    held = f"{value} {rule.op} {rule.clear_threshold!r}"
    return f"{bad} or ({held} and on(segment) last_over_time({firing}[{duration(1.5 * step)}]))"


def _text(value: str) -> str:
    """Spec text inside an annotation, where Prometheus expands Go templates: ``{{`` is written as a literal."""
    return value.replace("{{", '{{ "{{" }}')


def _annotations(spec: MonitorSpec, rule: MonitorRule, backtest: Backtest | None) -> dict[str, str]:
    notes = {
        "summary": _text(f"{rule.label}: {rule.series} of monitor {spec.name}"),
        "description": _text(f"{rule.method} on {spec.window_of(rule)} windows ({rule.series})"),
    }
    if backtest is not None:
        lines = [f"{item.segment}: {item.summary()}" for item in backtest.rules if item.rule.name == rule.name]
        notes["abnb_backtest"] = _text(" | ".join(lines) or "not backtested (no baseline windows)")
    return notes


def prometheus_rules(spec: MonitorSpec, *, backtest: Backtest | None = None, time_scale: float = 1.0) -> dict[str, Any]:
    """The Prometheus rule file (as a mapping to dump as YAML) of a monitoring spec's rules.

    Args:
        spec: The monitoring spec.
        backtest: Its backtest (:func:`abnb.monitor.backtest`), whose false alarms and detection delays become
            annotations.
        time_scale: Multiply every interval and ``for`` by this (a replay served at 1 window per second uses
            ``1 / window seconds``); 1 in production.

    Returns:
        ``{"groups": [{"name", "interval", "rules": [...]}]}``, one group per window length.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in spec.rules:
        window = spec.window_of(rule)
        step = seconds(window) * time_scale
        entry: dict[str, Any] = {"alert": rule.name, "expr": rule_expression(spec, rule, interval=step)}
        if rule.kind == "threshold":
            entry["for"] = duration((rule.for_windows - 1) * step)
            if rule.clear_windows > 1:
                entry["keep_firing_for"] = duration((rule.clear_windows - 1) * step)
        else:
            entry["for"] = "0s"
        entry["labels"] = {"severity": rule.severity, "monitor": spec.name, "abnb_kind": rule.kind}
        entry["annotations"] = _annotations(spec, rule, backtest)
        groups.setdefault(window, []).append(entry)
    return {
        "groups": [
            {
                "name": f"abnb-{spec.name}-{window.replace(' ', '-')}",
                "interval": duration(seconds(window) * time_scale),
                "rules": rules,
            }
            for window, rules in groups.items()
        ]
    }


def rules_yaml(rules: dict[str, Any]) -> str:
    """The rule file as YAML text (keys in the order written)."""
    import yaml

    return str(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True, width=1000))


def promtool_tests(
    spec: MonitorSpec, backtest: Backtest, rule_file: str, *, rules: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """A ``promtool test rules`` file checking that the exported rules fire exactly when abnb's replay does.

    Input series are what the exporter serves, one sample per window (the backtest's values for threshold rules,
    abnb's alarm state for EWMA/CUSUM); at every window the expected firing alerts are those abnb's replay has in
    alarm there. ``promtool test rules`` passes only if Prometheus' evaluation of the exported rules agrees window
    by window.

    Args:
        spec: The monitoring spec.
        backtest: Its backtest on the history to compare on.
        rule_file: The exported rule file's path, as promtool should open it.
        rules: Only these rules (default: all).

    Returns:
        The test file as a mapping (dump it with :func:`rules_yaml`), one test group per rule and segment.
    """
    exported = {r["alert"]: r for g in prometheus_rules(spec, backtest=backtest)["groups"] for r in g["rules"]}
    tests = []
    for item in backtest.rules:
        rule = item.rule
        if rules is not None and rule.name not in rules:
            continue
        step = seconds(item.window)
        state = dict(item.replay.state)
        if rule.kind == "threshold":
            name = "abnb_monitor_value"
            labels = {"monitor": spec.name, "series": rule.series, "segment": item.segment, "window": item.window}
            values = [float(v) for v in state["value"]]
        else:
            name = "abnb_monitor_rule_alarm"
            labels = {"monitor": spec.name, "rule": rule.name, "segment": item.segment}
            values = [float(bool(v)) for v in state["alarm"]]
        alert_labels = {**labels, **exported[rule.name]["labels"]}
        annotations = exported[rule.name]["annotations"]
        tests.append(
            {
                "interval": duration(step),
                "input_series": [{"series": _selector(name, labels), "values": " ".join(repr(v) for v in values)}],
                "alert_rule_test": [
                    {
                        "eval_time": duration(i * step),
                        "alertname": rule.name,
                        "exp_alerts": [{"exp_labels": alert_labels, "exp_annotations": annotations}] if on else [],
                    }
                    for i, on in enumerate(item.firing())
                ],
            }
        )
    return {"rule_files": [rule_file], "evaluation_interval": tests[0]["interval"] if tests else "1m", "tests": tests}


def write_export(spec: MonitorSpec, backtest: Backtest, folder: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """Write a spec's rules, their promtool test and its Grafana dashboard into ``folder``, each atomically.

    Files: ``<name>.rules.yml`` (:func:`prometheus_rules` with the backtest's annotations), ``<name>.rules.test.yml``
    (:func:`promtool_tests`: ``promtool test rules`` checks that the rules fire at the windows of ``backtest``) and
    ``<name>.grafana.json`` (:func:`abnb.monitor.grafana.grafana_dashboard`). A failed write leaves the previous file.

    Returns:
        The paths of the three files, in that order.

    Raises:
        ReportError: A file could not be written (the folder cannot be made, the disk is full ...).
    """
    import json

    from abnb import _io
    from abnb.monitor.grafana import grafana_dashboard

    where = Path(folder)
    rules, tests, board = (
        where / f"{spec.name}.{suffix}" for suffix in ("rules.yml", "rules.test.yml", "grafana.json")
    )
    _io.write_atomic(rules, rules_yaml(prometheus_rules(spec, backtest=backtest)))
    _io.write_atomic(tests, rules_yaml(promtool_tests(spec, backtest, rules.name)))
    _io.write_atomic(board, json.dumps(grafana_dashboard(spec), indent=2) + "\n")
    return rules, tests, board
