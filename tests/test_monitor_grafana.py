"""The Grafana dashboard of a monitoring spec, checked structurally (Debian has no Grafana server to load it into).

The SDK's own model reads the JSON back unchanged; panels tile the 24-column grid; every query selects a series of
the metrics contract (issue 18) for this monitor, with label values that a PromQL lexer reads back exactly.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel

from abnb.errors import ParameterError
from abnb.monitor.grafana import dashboard_uid, grafana_dashboard
from abnb.monitor.promql import promql_string
from abnb.monitor.spec import MonitorRule, MonitorSpec

# the series abnb serves (issue 18's metrics contract)
CONTRACT = {
    "abnb_monitor_value",
    "abnb_monitor_precision_ci_low",
    "abnb_monitor_precision_ci_high",
    "abnb_monitor_rule_statistic",
    "abnb_monitor_rule_lower",
    "abnb_monitor_rule_upper",
    "abnb_monitor_rule_alarm",
    "abnb_monitor_release_rollback",
    "abnb_monitor_release_jump_estimate",
    "abnb_monitor_release_jump_pvalue",
    "abnb_monitor_release_score_psi",
    "abnb_monitor_release_score_drift",
    "abnb_monitor_up",
    "abnb_monitor_last_success_timestamp_seconds",
    "abnb_monitor_staleness_seconds",
    "abnb_monitor_refresh_duration_seconds",
    "abnb_monitor_refresh_failures_total",
}
HOSTILE = 'say "hi" \\ back\\\\slash\n<script>alert(1)</script> $__interval {{segment}}'
_LABEL = re.compile(r'([a-zA-Z_]\w*)=("(?:[^"\\\n]|\\.)*")(,|$)')


def _selector(expr: str) -> tuple[str, dict[str, str]]:
    """Metric name and labels of ``name{k="v",...}``, each value decoded as PromQL does (Go escapes)."""
    match = re.fullmatch(r"([a-zA-Z_:][\w:]*)\{(.*)\}", expr, flags=re.DOTALL)
    assert match is not None, expr
    labels, rest = {}, match.group(2)
    while rest:
        label = _LABEL.match(rest)
        assert label is not None, f"unparsable labels {rest!r} in {expr!r}"
        labels[label.group(1)] = json.loads(label.group(2))
        rest = rest[label.end() :]
    return match.group(1), labels


def _panels(board: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [(p["type"], p["title"], [t["expr"] for t in p.get("targets", [])]) for p in board["panels"]]


def _rule_spec(window: str = "1 day", title: str = "") -> MonitorSpec:
    rules = (
        MonitorRule("Errors", "error_rate", "threshold", window="10 minutes", threshold=0.1, title=title),
        MonitorRule("ErrorsLow", "error_rate", "threshold", window="10 minutes", op="<", threshold=0.001),
        MonitorRule("ErrorsDaily", "error_rate", "threshold", threshold=0.03, clear_threshold=0.01, title=title),
        MonitorRule("Latency", "latency_p95", "cusum", window="1 hour", title=title),
        MonitorRule("LatencyEwma", "latency_p95", "ewma", window="1 hour"),
        MonitorRule("Precision", "precision", "ewma", window=window, title=title),
        MonitorRule("PrecisionFloor", "precision", "threshold", window=window, op="<", threshold=0.8),
    )
    return MonitorSpec("payments", rules, description=HOSTILE, window="1 day")


def test_promql_string_escapes_what_a_literal_cannot_hold() -> None:
    assert promql_string("model") == '"model"'
    assert promql_string('a"b') == r'"a\"b"'
    assert promql_string("C:\\dir\\") == r'"C:\\dir\\"'
    assert promql_string("one\ntwo\tthree\r") == r'"one\ntwo\tthree\r"'
    assert promql_string('"} or vector(1) # ') == r'"\"} or vector(1) # "'
    assert promql_string("\x00\x1f") == r'"\u0000\u001f"'
    assert promql_string("<script>précision σ</script>") == '"<script>précision σ</script>"'


@pytest.mark.parametrize(
    "value",
    [HOSTILE, "\\", '"', '\\"', '\\\\"', "", "\n\n", "🙂 ünïcode", "a\\nb"],
    ids=[
        "hostile",
        "backslash",
        "quote",
        "escaped-quote",
        "two-backslashes-quote",
        "empty",
        "newlines",
        "unicode",
        "literal-backslash-n",
    ],
)
def test_promql_string_reads_back_as_the_same_value(value: str) -> None:
    literal = promql_string(value)
    assert "\n" not in literal
    assert literal[0] == literal[-1] == '"'
    assert re.fullmatch(r'"(?:[^"\\\n]|\\.)*"', literal, flags=re.DOTALL)  # no bare quote ends it early
    assert json.loads(literal) == value


def test_promql_string_refuses_what_prometheus_cannot_read() -> None:
    with pytest.raises(ParameterError, match="lone surrogate at position 1"):
        promql_string("a\ud800")
    with pytest.raises(ParameterError, match="must be a string, got int 3"):
        promql_string(3)  # type: ignore[arg-type]


def test_default_spec_has_exactly_the_expected_panels() -> None:
    board = grafana_dashboard(MonitorSpec.default())
    value = 'abnb_monitor_value{{monitor="model",series="{}",window="{}"}}'
    rule = 'abnb_monitor_rule_{}{{monitor="model",rule="{}"}}'
    assert _panels(board) == [
        ("row", "Health", []),
        ("stat", "refresh status", ['abnb_monitor_up{monitor="model"}']),
        ("stat", "staleness", ['abnb_monitor_staleness_seconds{monitor="model"}']),
        ("row", "Series", []),
        ("timeseries", "error_rate per 10 minutes", [value.format("error_rate", "10 minutes")]),
        ("timeseries", "latency_p95 per 1 day", [value.format("latency_p95", "1 day")]),
        (
            "timeseries",
            "precision per 1 day",
            [
                value.format("precision", "1 day"),
                'abnb_monitor_precision_ci_low{monitor="model",window="1 day"}',
                'abnb_monitor_precision_ci_high{monitor="model",window="1 day"}',
            ],
        ),
        ("row", "Alarms", []),
        ("state-timeline", "error rate threshold: alarm", [rule.format("alarm", "ErrorRateHigh")]),
        ("state-timeline", "latency p95 EWMA: alarm", [rule.format("alarm", "LatencyP95Shift")]),
        ("state-timeline", "precision CUSUM: alarm", [rule.format("alarm", "PrecisionShift")]),
        ("row", "Rule statistics", []),
        (
            "timeseries",
            "latency p95 EWMA: statistic and limits",
            [rule.format(kind, "LatencyP95Shift") for kind in ("statistic", "lower", "upper")],
        ),
        (
            "timeseries",
            "precision CUSUM: statistic and limits",
            [rule.format(kind, "PrecisionShift") for kind in ("statistic", "lower", "upper")],
        ),
        ("row", "Latest release", []),
        ("state-timeline", "latest release: rollback verdicts", ['abnb_monitor_release_rollback{monitor="model"}']),
        ("state-timeline", "latest release: score drift", ['abnb_monitor_release_score_drift{monitor="model"}']),
    ]
    panels = {p["title"]: p for p in board["panels"]}
    error_rate = panels["error_rate per 10 minutes"]["fieldConfig"]
    assert error_rate["defaults"]["unit"] == "percentunit"
    assert error_rate["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}
    steps = error_rate["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [(None, "transparent"), (0.02, "orange"), (0.05, "red")]
    for title in ("latency_p95 per 1 day", "precision per 1 day"):
        assert "thresholdsStyle" not in panels[title]["fieldConfig"]["defaults"]["custom"]
    assert panels["latency_p95 per 1 day"]["fieldConfig"]["defaults"]["unit"] == "ms"
    precision = panels["precision per 1 day"]
    assert [t["legendFormat"] for t in precision["targets"]] == [
        "{{segment}}",
        "{{segment}} CI low",
        "{{segment}} CI high",
    ]
    assert [o["matcher"] for o in precision["fieldConfig"]["overrides"]] == [
        {"id": "byFrameRefID", "options": "B"},
        {"id": "byFrameRefID", "options": "C"},
    ]
    staleness = panels["staleness"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in staleness] == [(None, "green"), (600, "orange"), (1200, "red")]
    alarm = panels["precision CUSUM: alarm"]["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert alarm == {"0": {"text": "ok", "color": "green"}, "1": {"text": "alarm", "color": "red"}}


def test_the_contract_is_what_the_exporter_serves() -> None:
    from abnb.monitor.exporter import _FAMILIES, PREFIX

    health = {"up", "last_success_timestamp_seconds", "staleness_seconds", "refresh_duration_seconds"}
    assert {PREFIX + name for name in [*_FAMILIES, *health]} <= CONTRACT


def test_dashboard_identity_and_datasource() -> None:
    board = grafana_dashboard(MonitorSpec.default(), datasource_uid="prom-main")
    assert board["uid"] == "abnb-model"
    assert board["title"] == "abnb monitor: model"
    assert board["description"] == "abnb's default monitoring of the model telemetry"
    assert board["tags"] == ["abnb"]
    assert (board["refresh"], board["time"]) == ("1m", {"from": "now-7d", "to": "now"})
    source = {"type": "prometheus", "uid": "prom-main"}
    queried = [p for p in board["panels"] if p["type"] != "row"]
    assert len(queried) == 12
    assert all(p["datasource"] == source for p in queried)
    assert all(t["datasource"] == source for p in queried for t in p["targets"])
    with pytest.raises(ParameterError, match="datasource_uid must name the Prometheus datasource"):
        grafana_dashboard(MonitorSpec.default(), datasource_uid=" ")


def test_uid_is_stable_short_and_distinct() -> None:
    assert dashboard_uid("fraud_model") == "abnb-fraud_model"
    assert dashboard_uid("a" * 35) == "abnb-" + "a" * 35
    first, second = dashboard_uid("a" * 60 + "x"), dashboard_uid("a" * 60 + "y")
    assert first != second
    for uid in (first, second):
        assert len(uid) == 40
        assert re.fullmatch(r"abnb-a{26}-[0-9a-f]{8}", uid)
    assert dashboard_uid("a" * 60 + "x") == first


@pytest.mark.parametrize("spec", [MonitorSpec.default(), _rule_spec()], ids=["default", "seven-rules"])
def test_json_reads_back_through_the_sdk_model_unchanged(spec: MonitorSpec) -> None:
    board = grafana_dashboard(spec)
    register_default_plugins()
    model = Dashboard.from_json(json.loads(json.dumps(board)))
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == board
    assert model.panels is not None
    assert len(model.panels) == len(board["panels"])
    targets = [t for p in model.panels if not isinstance(p, RowPanel) for t in p.targets or []]
    assert targets
    assert all(isinstance(t, prometheus.Dataquery) for t in targets)


@pytest.mark.parametrize("spec", [MonitorSpec.default(), _rule_spec()], ids=["default", "seven-rules"])
def test_panels_tile_the_grid(spec: MonitorSpec) -> None:
    panels = grafana_dashboard(spec)["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    boxes = [(p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"]) for p in panels]
    for x, y, w, h in boxes:
        assert min(x, y) >= 0
        assert min(w, h) > 0
        assert x + w <= 24
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, f"{(x, y, w, h)} overlaps {(x2, y2)}"


@pytest.mark.parametrize("spec", [MonitorSpec.default(), _rule_spec()], ids=["default", "seven-rules"])
def test_every_query_reads_a_contract_series_of_this_monitor(spec: MonitorSpec) -> None:
    exprs = [t["expr"] for p in grafana_dashboard(spec)["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        name, labels = _selector(expr)
        assert name in CONTRACT
        assert labels["monitor"] == spec.name


def test_seven_rules_group_series_and_merge_limits() -> None:
    board = grafana_dashboard(_rule_spec())
    series = [p for p in board["panels"] if p["type"] == "timeseries" and " per " in p["title"]]
    assert [p["title"] for p in series] == [
        "error_rate per 10 minutes",
        "error_rate per 1 day",
        "latency_p95 per 1 hour",
        "precision per 1 day",
    ]
    limits = [
        [(s["value"], s["color"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]] for p in series[:2]
    ]
    assert limits == [
        [(None, "transparent"), (0.001, "red"), (0.1, "red")],
        [(None, "transparent"), (0.01, "orange"), (0.03, "red")],
    ]
    assert "thresholds" not in series[2]["fieldConfig"]["defaults"]
    assert [(s["value"], s["color"]) for s in series[3]["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        (None, "transparent"),
        (0.8, "red"),
    ]
    assert [p["title"] for p in board["panels"] if p["type"] == "state-timeline"] == [
        "Errors: alarm",
        "ErrorsLow: alarm",
        "ErrorsDaily: alarm",
        "Latency: alarm",
        "LatencyEwma: alarm",
        "Precision: alarm",
        "PrecisionFloor: alarm",
        "latest release: rollback verdicts",
        "latest release: score drift",
    ]
    statistics = [p["title"] for p in board["panels"] if p["title"].endswith("statistic and limits")]
    assert statistics == [
        "Latency: statistic and limits",
        "LatencyEwma: statistic and limits",
        "Precision: statistic and limits",
    ]
    staleness = next(p for p in board["panels"] if p["title"] == "staleness")
    assert [s["value"] for s in staleness["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 600, 1200]


def test_hostile_spec_strings_stay_text_and_queries_stay_exact() -> None:
    window = '1 day"} or vector(1) # \\'
    spec = _rule_spec(window=window, title=HOSTILE)
    board = grafana_dashboard(spec)
    assert json.loads(json.dumps(board, allow_nan=False)) == board
    assert board["description"] == HOSTILE
    titles = [p["title"] for p in board["panels"]]
    assert f"{HOSTILE}: alarm" in titles
    assert f"{HOSTILE}: statistic and limits" in titles
    assert f"precision per {window}" in titles
    precision = next(p for p in board["panels"] if p["title"] == f"precision per {window}")
    parsed = [_selector(t["expr"]) for t in precision["targets"]]
    assert parsed == [
        ("abnb_monitor_value", {"monitor": "payments", "series": "precision", "window": window}),
        ("abnb_monitor_precision_ci_low", {"monitor": "payments", "window": window}),
        ("abnb_monitor_precision_ci_high", {"monitor": "payments", "window": window}),
    ]
    assert precision["targets"][1]["expr"] == (
        r'abnb_monitor_precision_ci_low{monitor="payments",window="1 day\"} or vector(1) # \\"}'
    )
    # a window abnb cannot convert to seconds leaves the staleness stat uncoloured rather than failing
    staleness = next(p for p in board["panels"] if p["title"] == "staleness")
    assert staleness["fieldConfig"]["defaults"]["thresholds"]["steps"] == [{"value": None, "color": "green"}]


def test_a_window_grafana_would_interpolate_is_refused() -> None:
    spec = _rule_spec(window="1 day ${__user.login}")
    with pytest.raises(ParameterError, match=r"the window '1 day \$\{__user.login\}' holds '\$' or '\[\['"):
        grafana_dashboard(spec)


def _go_quoted(value: str) -> str:
    """A Go string literal written independently of promql_string (enough for HOSTILE and the window below)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_prometheus_selects_exactly_the_hostile_series(promtool: str, tmp_path: Path) -> None:
    window = '1 day"} or vector(1) # \\'
    board = grafana_dashboard(_rule_spec(window=window, title=HOSTILE))
    exprs = sorted({t["expr"] for p in board["panels"] for t in p.get("targets", [])})
    assert len(exprs) == 26  # 2 health + 6 series + 7 alarms + 3 × 3 statistics + 2 release verdicts
    inputs, checks = [], []
    for expr in exprs:
        name, labels = _selector(expr)
        series = name + "{" + ",".join(f"{k}={_go_quoted(v)}" for k, v in {**labels, "segment": "all"}.items()) + "}"
        inputs.append({"series": series, "values": "1"})
        checks.append({"expr": expr, "eval_time": "0m", "exp_samples": [{"labels": series, "value": 1}]})
    test = {"rule_files": [], "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": checks}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, allow_unicode=True, width=1000))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
